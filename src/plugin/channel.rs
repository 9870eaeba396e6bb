//! One audio channel of the plugin: a denoiser engine (behind a rate converter when the host
//! does not run at 48 kHz) and the matching dry delay for bypass.

use crate::denoiser::{DenoiserParams, INPUT_LIMIT};
use crate::NB_BANDS;

use super::bypass::{crossfade_and_sanitize, DelayLine};
use super::link::{GainQueue, Role};
use super::meters::Meters;
use super::rate::{ConverterError, RateConversion, RateConverter};
use super::{flush_to_zero, new_engine, Engine};

/// Longest stretch of samples processed with one set of engine parameters. Buffers are cut
/// into chunks of at most this size so smoothed parameters advance within long buffers.
pub const MAX_CHUNK: usize = 256;

/// Per-chunk work buffers shared by all channels (fixed size: nothing to allocate).
pub struct ChunkScratch {
    /// The sanitized input of the current channel.
    input: [f32; MAX_CHUNK],
    /// The delayed dry signal of the current channel.
    dry: [f32; MAX_CHUNK],
    /// The mid signal (l + r) / 2 and the mid engine's (discarded) output.
    mid: [f32; MAX_CHUNK],
    mid_out: [f32; MAX_CHUNK],
}

impl Default for ChunkScratch {
    fn default() -> Self {
        Self {
            input: [0.0; MAX_CHUNK],
            dry: [0.0; MAX_CHUNK],
            mid: [0.0; MAX_CHUNK],
            mid_out: [0.0; MAX_CHUNK],
        }
    }
}

/// The processing state of one channel.
pub struct ChannelProcessor {
    engine: Engine,
    /// `None` at the engine rate; else the resamplers around the engine.
    converter: Option<RateConverter>,
    dry_delay: DelayLine,
}

impl ChannelProcessor {
    /// Allocates an engine, its rate converter for `conversion` and a dry delay of the
    /// conversion's total latency (the latency the plugin reports).
    pub fn new(conversion: RateConversion) -> Result<Self, ConverterError> {
        let converter = match conversion {
            RateConversion::Native => None,
            RateConversion::Resampled { .. } => Some(RateConverter::new(conversion)?),
        };
        Ok(Self {
            engine: new_engine(),
            converter,
            dry_delay: DelayLine::new(conversion.latency_samples()),
        })
    }

    /// Clears all history; allocates nothing.
    pub fn reset(&mut self) {
        self.engine.reset();
        if let Some(converter) = &mut self.converter {
            converter.reset();
        }
        self.dry_delay.reset();
    }

    /// Sets the engine parameters for the following chunks.
    pub fn set_params(&mut self, params: DenoiserParams) {
        self.engine.set_params(params);
    }

    /// Sets what the engine's estimator does for the following hops (see `link.rs`).
    pub fn set_role(&mut self, role: Role) {
        self.engine.estimator_mut().set_role(role);
    }

    /// The stereo-link queue of the engine's estimator.
    pub fn queue_mut(&mut self) -> &mut GainQueue {
        self.engine.estimator_mut().queue_mut()
    }

    /// The mid engine: runs the engine (and the rate converter) over (l + r) / 2 of this
    /// chunk, sanitized as the channels' input is; the audio it produces is not used, only the
    /// estimates its estimator queues. `left` and `right` have the same length, at most
    /// [`MAX_CHUNK`].
    pub fn analyse_mid(&mut self, left: &[f32], right: &[f32], scratch: &mut ChunkScratch) {
        let len = left.len().min(right.len()).min(MAX_CHUNK);
        let input = &mut scratch.mid[..len];
        let output = &mut scratch.mid_out[..len];
        for ((m, &l), &r) in input.iter_mut().zip(left).zip(right) {
            let mid = 0.5 * (flush_to_zero(l) + flush_to_zero(r));
            *m = flush_to_zero(mid).clamp(-INPUT_LIMIT, INPUT_LIMIT);
        }
        self.run_engine(input, output);
    }

    /// Runs the engine (behind the converter, if any) from `input` into `output`.
    fn run_engine(&mut self, input: &[f32], output: &mut [f32]) {
        match &mut self.converter {
            None => self.engine.process(input, output),
            Some(converter) => {
                let engine = &mut self.engine;
                converter.process(input, output, |hop, out| engine.process_hop(hop, out));
            }
        }
    }

    /// The engine's latest per-band gains g_b, for the meters.
    pub fn band_gains(&self) -> &[f32; NB_BANDS] {
        &self.engine.last_gains().gain
    }

    /// Denoises `io` in place, then crossfades towards the delayed dry signal by the per-sample
    /// dry share `mix`. The caller passes `io` and `mix` of equal length, at most [`MAX_CHUNK`];
    /// anything beyond the shortest of the three is left untouched.
    pub fn process_chunk(
        &mut self,
        io: &mut [f32],
        mix: &[f32],
        scratch: &mut ChunkScratch,
        meters: &Meters,
    ) {
        let len = io.len().min(mix.len()).min(MAX_CHUNK);
        let (io, mix) = (&mut io[..len], &mix[..len]);
        let input = &mut scratch.input[..len];
        let dry = &mut scratch.dry[..len];

        copy_sanitized(io, input);
        meters.record_input(input);
        self.dry_delay.process(input, dry);
        self.run_engine(input, io);
        crossfade_and_sanitize(io, dry, mix);
        meters.record_output(io);
    }
}

/// Copies `src` into `dst`, replacing non-finite samples by 0 so they cannot poison the engine,
/// and subnormal ones too (inaudible, but they slow the arithmetic down on most CPUs), and
/// clamping the rest to ±[`INPUT_LIMIT`]: finite but huge samples (±3e38) would overflow the
/// resamplers' FFTs into infinities before the engine's own clamp could act.
fn copy_sanitized(src: &[f32], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = flush_to_zero(s).clamp(-INPUT_LIMIT, INPUT_LIMIT);
    }
}
