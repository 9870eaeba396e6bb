//! Training targets: what the network is taught. [`oracle`] computes the ideal gains and comb
//! strengths from the clean speech (also a CLI mode that shows what the DSP can reach);
//! [`dataset`] mixes speech and noise and writes the `.pnf` features and targets the trainer
//! reads, made by the same engine the plugin runs; [`hum`] is the mains hum some mixes get.

pub mod dataset;
pub mod floor;
pub mod hum;
pub mod oracle;
