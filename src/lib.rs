//! percepnet: a real-time implementation of PercepNet (Valin et al., Interspeech 2020).
//!
//! Classic DSP does most of the work ([`dsp`]): a Vorbis-window STFT, 34 ERB-spaced
//! triangular bands, a pitch tracker, a pitch-tuned comb filter and an envelope post-filter.
//! A small network ([`model`]) predicts per-band gains `g_b` and comb-filter strengths `r_b`.
//! [`denoiser::Denoiser`] is the streaming engine (no plugin types); [`plugin`] wraps it as a
//! CLAP/VST3 plugin.

pub mod denoiser;
pub mod dsp;
pub mod model;
pub mod offline;
pub mod plugin;
pub mod targets;

/// Internal sample rate in Hz: every other host rate is resampled to this one.
pub const SAMPLE_RATE: u32 = 48_000;
/// Hop size N: 10 ms at 48 kHz.
pub const HOP: usize = 480;
/// Analysis/synthesis window length 2N: 20 ms at 48 kHz.
pub const WINDOW: usize = 2 * HOP;
/// Number of real-FFT bins of a `WINDOW`-point transform (N + 1), 50 Hz apart.
pub const NB_BINS: usize = HOP + 1;
/// Number of ERB-spaced triangular bands.
pub const NB_BANDS: usize = 34;
/// Frames of lookahead the gain estimator sees (10 ms; see `denoiser` for the latency budget).
pub const LOOKAHEAD_FRAMES: usize = 1;
/// Total latency at 48 kHz in samples, for any block size: window 2N (20 ms) + lookahead N
/// (10 ms) = 1440 (30 ms).
pub const LATENCY: usize = WINDOW + LOOKAHEAD_FRAMES * HOP;
