//! One audio channel of the plugin: a denoiser engine and the matching dry delay for bypass.

use crate::denoiser::DenoiserParams;
use crate::NB_BANDS;

use super::bypass::{crossfade_and_sanitize, DelayLine};
use super::meters::Meters;
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
}

impl Default for ChunkScratch {
    fn default() -> Self {
        Self {
            input: [0.0; MAX_CHUNK],
            dry: [0.0; MAX_CHUNK],
        }
    }
}

/// The processing state of one channel.
pub struct ChannelProcessor {
    engine: Engine,
    dry_delay: DelayLine,
}

impl ChannelProcessor {
    /// Allocates an engine and a dry delay of `latency` samples (the plugin's total latency).
    pub fn new(latency: usize) -> Self {
        Self {
            engine: new_engine(),
            dry_delay: DelayLine::new(latency),
        }
    }

    /// Clears all history; allocates nothing.
    pub fn reset(&mut self) {
        self.engine.reset();
        self.dry_delay.reset();
    }

    /// Sets the engine parameters for the following chunks.
    pub fn set_params(&mut self, params: DenoiserParams) {
        self.engine.set_params(params);
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
        self.engine.process(input, io);
        crossfade_and_sanitize(io, dry, mix);
        meters.record_output(io);
    }
}

/// Copies `src` into `dst`, replacing non-finite samples by 0 so they cannot poison the engine,
/// and subnormal ones too (inaudible, but they slow the arithmetic down on most CPUs).
fn copy_sanitized(src: &[f32], dst: &mut [f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = flush_to_zero(s);
    }
}
