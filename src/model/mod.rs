//! The gain-estimation network: weights format ([`weights`]), layers ([`layers`]) and
//! streaming inference ([`network`]).

pub mod layers;
pub mod network;
pub mod weights;

pub use network::{Network, NetworkEstimator};
pub use weights::{Shape, Weights, WeightsError};

/// The trained weights built into this binary, if the build has them.
pub fn embedded_weights() -> Option<&'static [u8]> {
    None
}
