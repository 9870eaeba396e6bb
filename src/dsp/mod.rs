//! The signal-processing blocks of PercepNet, as small pure functions and the minimal state
//! they need. Symbols follow `docs/ALGORITHM.md`. After the engine: [`presence`] (speech presence
//! of a frame), [`gate`] (the voice gate) and [`mix`] (wet/dry mix and output mode), shared by
//! the plugin and the command line.

pub mod bands;
pub mod comb;
pub mod ftz;
pub mod gate;
pub mod mix;
pub mod pitch;
pub mod postfilter;
pub mod presence;
pub mod stft;
