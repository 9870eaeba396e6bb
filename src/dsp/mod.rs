//! The signal-processing blocks of PercepNet, as small pure functions and the minimal state
//! they need. Symbols follow `docs/ALGORITHM.md`.

pub mod bands;
pub mod comb;
pub mod ftz;
pub mod pitch;
pub mod postfilter;
pub mod stft;
