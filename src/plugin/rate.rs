//! How the host's sample rate is brought to the engine's fixed 48 kHz.
//!
//! Only 48 kHz is supported for now. Resampling other rates will add a variant to
//! [`RateConversion`] (holding the resampler settings) and its delay to
//! [`RateConversion::latency_samples`]; everything downstream (the reported latency, the bypass
//! delay) already follows that function.

use std::fmt;

use crate::{LATENCY, SAMPLE_RATE};

/// The conversion between the host rate and the engine rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateConversion {
    /// The host runs at the engine rate: samples go straight to the engine.
    Native,
}

/// A host sample rate the plugin cannot run at (yet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnsupportedSampleRate(pub f32);

impl fmt::Display for UnsupportedSampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PercepNet runs at {SAMPLE_RATE} Hz only (resampling is not implemented yet); \
             the host asked for {} Hz, so the plugin refuses to activate",
            self.0
        )
    }
}

impl std::error::Error for UnsupportedSampleRate {}

impl RateConversion {
    /// Picks the conversion for a host sample rate in Hz.
    pub fn for_host_rate(sample_rate: f32) -> Result<Self, UnsupportedSampleRate> {
        if sample_rate == SAMPLE_RATE as f32 {
            Ok(Self::Native)
        } else {
            Err(UnsupportedSampleRate(sample_rate))
        }
    }

    /// Total delay from plugin input to plugin output in host-rate samples: the engine's
    /// algorithmic latency plus whatever the conversion adds.
    pub fn latency_samples(self) -> usize {
        match self {
            Self::Native => LATENCY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_engine_rate_is_accepted() {
        assert_eq!(
            RateConversion::for_host_rate(48_000.0),
            Ok(RateConversion::Native)
        );
        assert!(RateConversion::for_host_rate(44_100.0).is_err());
        assert_eq!(RateConversion::Native.latency_samples(), LATENCY);
    }
}
