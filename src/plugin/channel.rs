//! One audio channel of the plugin: a denoiser engine and its voice gate (behind a rate
//! converter when the host does not run at 48 kHz), and the matching dry delay for the mix, the
//! Removed output and bypass.
//!
//! The gate works on the engine's hops at 48 kHz, as they are synthesised, so its timing against
//! the speech is the same at every host rate and for every buffer size; the mix and the output
//! mode work at the host rate against the dry delay, which is exact to the sample.

use crate::denoiser::{DenoiserParams, INPUT_LIMIT};
use crate::dsp::gate::{GateSettings, VoiceGate};
use crate::dsp::mix;
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

/// Per-sample shares of the current chunk, filled once for all channels.
pub struct ChunkShares {
    /// Dry share of the bypass crossfade (1 = bypassed).
    pub bypass: [f32; MAX_CHUNK],
    /// Wet share w of the mix (1 = fully processed).
    pub wet: [f32; MAX_CHUNK],
    /// Share r of the Removed output (1 = what the processing removes).
    pub removed: [f32; MAX_CHUNK],
}

impl Default for ChunkShares {
    fn default() -> Self {
        Self {
            bypass: [0.0; MAX_CHUNK],
            wet: [1.0; MAX_CHUNK],
            removed: [0.0; MAX_CHUNK],
        }
    }
}

/// The processing state of one channel.
pub struct ChannelProcessor {
    engine: Engine,
    /// `None` at the engine rate; else the resamplers around the engine.
    converter: Option<RateConverter>,
    dry_delay: DelayLine,
    gate: VoiceGate,
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
            gate: VoiceGate::new(),
        })
    }

    /// Clears all history; allocates nothing.
    pub fn reset(&mut self) {
        self.engine.reset();
        if let Some(converter) = &mut self.converter {
            converter.reset();
        }
        self.dry_delay.reset();
        self.gate.reset();
    }

    /// Sets the engine parameters for the following chunks.
    pub fn set_params(&mut self, params: DenoiserParams) {
        self.engine.set_params(params);
    }

    /// Sets the voice gate for the following hops.
    pub fn set_gate(&mut self, settings: GateSettings) {
        self.gate.set_settings(settings);
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
        self.run_engine(input, output, false);
    }

    /// Runs the engine (behind the converter, if any) from `input` into `output`, each hop
    /// through the voice gate when `gated`.
    fn run_engine(&mut self, input: &[f32], output: &mut [f32], gated: bool) {
        let gate = &mut self.gate;
        match &mut self.converter {
            None if gated => self.engine.process_with(input, output, |presence, hop| {
                gate.process_hop(presence, hop)
            }),
            None => self.engine.process(input, output),
            Some(converter) => {
                let engine = &mut self.engine;
                converter.process(input, output, |hop, out| {
                    engine.process_hop(hop, out);
                    if gated {
                        gate.process_hop(engine.presence(), out);
                    }
                });
            }
        }
    }

    /// The engine's latest per-band gains g_b, for the meters.
    pub fn band_gains(&self) -> &[f32; NB_BANDS] {
        &self.engine.last_gains().gain
    }

    /// Denoises and gates `io` in place, mixes it with the delayed dry signal and picks the
    /// output mode by the per-sample shares (`crate::dsp::mix`), then crossfades towards the dry
    /// signal by the bypass share. `io` is at most [`MAX_CHUNK`] samples long; anything beyond
    /// is left untouched.
    pub fn process_chunk(
        &mut self,
        io: &mut [f32],
        shares: &ChunkShares,
        scratch: &mut ChunkScratch,
        meters: &Meters,
    ) {
        let len = io.len().min(MAX_CHUNK);
        let io = &mut io[..len];
        let input = &mut scratch.input[..len];
        let dry = &mut scratch.dry[..len];

        copy_sanitized(io, input);
        meters.record_input(input);
        self.dry_delay.process(input, dry);
        self.run_engine(input, io, true);
        meters.record_gate(self.engine.presence(), self.gate.gain());
        mix::apply(io, dry, &shares.wet[..len], &shares.removed[..len]);
        crossfade_and_sanitize(io, dry, &shares.bypass[..len]);
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
