//! Work on whole files, for the command line and the benchmarks: never on the audio thread.
//! [`audio`] reads and writes WAV/FLAC, [`resample`] converts whole signals to 48 kHz and
//! back, [`batch`] denoises many files in parallel, [`bench`] measures real-time factors.

pub mod audio;
pub mod batch;
pub mod bench;
pub mod resample;
