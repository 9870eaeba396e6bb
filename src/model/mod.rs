//! The gain-estimation network: weights format ([`weights`]), layers ([`layers`]), int8
//! matrices and SIMD kernels ([`quant`]) and streaming inference ([`network`]) in f32 or int8
//! ([`Precision`]).

pub mod layers;
pub mod network;
pub mod quant;
pub mod weights;

pub use layers::Precision;
pub use network::{Network, NetworkEstimator};
pub use weights::{Shape, Weights, WeightsError};

/// The trained weights (`weights/percepnet.pnw`) built into this binary.
static EMBEDDED: &[u8] = include_bytes!("../../weights/percepnet.pnw");

/// The trained weights built into this binary, if the build has them.
pub fn embedded_weights() -> Option<&'static [u8]> {
    Some(EMBEDDED)
}

/// A fresh copy of the network of the embedded weights (parsed once per process; allocates,
/// so never call it on the audio thread). A test checks the weights parse, so this fails only
/// for a broken build.
pub fn embedded_network() -> Result<Network, WeightsError> {
    static PARSED: std::sync::OnceLock<Result<Network, WeightsError>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| Network::from_bytes(EMBEDDED)).clone()
}
