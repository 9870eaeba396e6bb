//! Lock-free meter values passed from the audio thread to the editor.
//!
//! The audio thread folds each block into the atomics (peak levels rise, band gains fall, so
//! nothing between two editor frames is missed); the editor takes the values once per frame,
//! which resets them. Relaxed ordering is enough: every value stands on its own.

use atomic_float::AtomicF32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::NB_BANDS;

/// Peak level reported while nothing has been measured (silence).
const NO_LEVEL: f32 = 0.0;
/// Band gain reported while nothing has been measured (no reduction).
const NO_REDUCTION: f32 = 1.0;
/// Presence and gate gain reported while nothing has been measured.
const NOTHING: f32 = 0.0;

/// Meter values shared between the audio thread and the editor.
pub struct Meters {
    /// Highest absolute input sample since the editor last looked.
    input_peak: AtomicF32,
    /// Highest absolute output sample since the editor last looked.
    output_peak: AtomicF32,
    /// Lowest gain g_b per band (over channels and frames) since the editor last looked.
    band_gains: [AtomicF32; NB_BANDS],
    /// Highest speech presence (over channels and chunks) since the editor last looked.
    presence: AtomicF32,
    /// Highest voice-gate gain (over channels and chunks) since the editor last looked.
    gate_gain: AtomicF32,
    /// The host sample rate of the last activation in Hz (0: not activated yet).
    host_rate: AtomicF32,
    /// The latency reported at the last activation, in samples.
    latency: AtomicU32,
    /// False when the last activation was at a rate the engine cannot run at (the plugin then
    /// passes audio through untouched).
    supported: AtomicBool,
}

impl Default for Meters {
    fn default() -> Self {
        Self {
            input_peak: AtomicF32::new(NO_LEVEL),
            output_peak: AtomicF32::new(NO_LEVEL),
            band_gains: std::array::from_fn(|_| AtomicF32::new(NO_REDUCTION)),
            presence: AtomicF32::new(NOTHING),
            gate_gain: AtomicF32::new(NOTHING),
            host_rate: AtomicF32::new(0.0),
            latency: AtomicU32::new(0),
            supported: AtomicBool::new(true),
        }
    }
}

impl Meters {
    /// Main thread (`activate`): what the editor tells the user about the current activation.
    pub fn set_activation(&self, host_rate: f32, latency: u32, supported: bool) {
        self.host_rate.store(host_rate, Ordering::Relaxed);
        self.latency.store(latency, Ordering::Relaxed);
        self.supported.store(supported, Ordering::Relaxed);
    }

    /// Editor: (host rate in Hz, latency in samples, whether the engine runs at that rate).
    pub fn activation(&self) -> (f32, u32, bool) {
        (
            self.host_rate.load(Ordering::Relaxed),
            self.latency.load(Ordering::Relaxed),
            self.supported.load(Ordering::Relaxed),
        )
    }

    /// Audio thread: accounts for input samples (any channel).
    pub fn record_input(&self, samples: &[f32]) {
        self.input_peak.fetch_max(peak(samples), Ordering::Relaxed);
    }

    /// Audio thread: accounts for output samples (any channel).
    pub fn record_output(&self, samples: &[f32]) {
        self.output_peak.fetch_max(peak(samples), Ordering::Relaxed);
    }

    /// Audio thread: accounts for one channel's latest per-band gains.
    pub fn record_band_gains(&self, gains: &[f32; NB_BANDS]) {
        for (meter, &gain) in self.band_gains.iter().zip(gains) {
            // A NaN gain would stick in the minimum: show it as "no reduction" instead.
            let gain = if gain.is_finite() { gain } else { NO_REDUCTION };
            meter.fetch_min(gain.clamp(0.0, 1.0), Ordering::Relaxed);
        }
    }

    /// Audio thread: accounts for one channel's latest speech presence and gate gain.
    pub fn record_gate(&self, presence: f32, gate_gain: f32) {
        let sane = |v: f32| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                NOTHING
            }
        };
        self.presence.fetch_max(sane(presence), Ordering::Relaxed);
        self.gate_gain.fetch_max(sane(gate_gain), Ordering::Relaxed);
    }

    /// Editor: (highest presence, highest gate gain) since the last call, resetting them; both
    /// 0 while nothing was processed.
    pub fn take_gate(&self) -> (f32, f32) {
        (
            self.presence.swap(NOTHING, Ordering::Relaxed),
            self.gate_gain.swap(NOTHING, Ordering::Relaxed),
        )
    }

    /// Editor: the input peak since the last call (linear), resetting it.
    pub fn take_input_peak(&self) -> f32 {
        self.input_peak.swap(NO_LEVEL, Ordering::Relaxed)
    }

    /// Editor: the output peak since the last call (linear), resetting it.
    pub fn take_output_peak(&self) -> f32 {
        self.output_peak.swap(NO_LEVEL, Ordering::Relaxed)
    }

    /// Editor: the lowest gain per band since the last call (linear, 0..=1), resetting them.
    pub fn take_band_gains(&self) -> [f32; NB_BANDS] {
        std::array::from_fn(|b| self.band_gains[b].swap(NO_REDUCTION, Ordering::Relaxed))
    }
}

/// Largest absolute finite sample of `samples` (0 for an empty slice).
fn peak(samples: &[f32]) -> f32 {
    samples
        .iter()
        .map(|x| x.abs())
        .filter(|x| x.is_finite())
        .fold(NO_LEVEL, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_accumulate_until_taken() {
        let meters = Meters::default();
        meters.record_input(&[0.1, -0.5]);
        meters.record_input(&[0.2, f32::NAN]);
        assert_eq!(meters.take_input_peak(), 0.5);
        assert_eq!(meters.take_input_peak(), 0.0);
    }

    #[test]
    fn band_gains_keep_the_minimum_until_taken() {
        let meters = Meters::default();
        let mut gains = [1.0; NB_BANDS];
        gains[3] = 0.25;
        meters.record_band_gains(&gains);
        gains[3] = 0.5;
        gains[0] = f32::NAN;
        meters.record_band_gains(&gains);
        let taken = meters.take_band_gains();
        assert_eq!(taken[3], 0.25);
        assert_eq!(taken[0], 1.0);
        assert_eq!(meters.take_band_gains()[3], 1.0);
    }

    #[test]
    fn gate_values_keep_the_maximum_until_taken() {
        let meters = Meters::default();
        meters.record_gate(0.2, 1e-5);
        meters.record_gate(0.7, f32::NAN);
        meters.record_gate(f32::INFINITY, 0.5);
        assert_eq!(meters.take_gate(), (0.7, 0.5));
        assert_eq!(meters.take_gate(), (0.0, 0.0));
    }
}
