//! Speech presence of one frame, derived from the band gains an estimator chose for it.
//!
//! A gain estimator that keeps a band passes its speech and removes its noise, so the energy it
//! keeps is its estimate of the speech energy. Over the speech bands S (centres from
//! [`SPEECH_LOW_HZ`] to [`SPEECH_HIGH_HZ`]: bands 2 to 27, 200 Hz to 7.7 kHz)
//!
//! ```text
//! a = sum_{b in S} g_b^2 E_b / (sum_{b in S} E_b + E_floor)      kept share of the energy
//! p = a / (a + xi_0 (1 - a))                                       presence
//! ```
//!
//! `a` in [0, 1] is the share of the frame's speech-band energy the estimator keeps, so
//! xi = a / (1 - a) is its estimate of the frame's speech-to-noise ratio, and p = xi / (xi + xi_0)
//! a soft step on it that is 1/2 where xi = xi_0 = [`HALF_PRESENCE_SNR_DB`] (-8.5 dB). That
//! point was measured: on 80 noisy/clean pairs (5 tracks of training-source speech with pauses,
//! white, pink, hum and ambience noise at 0-20 dB SNR), frames labelled from the clean speech
//! (speech: within 30 dB of the loudest; pause: 45 dB below), a threshold of 50 % calls 18.8 %
//! of the speech frames noise (mostly faint frames at word edges, which the gate's grace
//! bridges: 0.5 % of the speech energy is lost) and 0.8 % of the pause frames speech; 20 %
//! gives 9.4 % and 6.9 %, 70 % gives 27 % and 0.2 %. The energy weighting lets the loudest
//! bands decide, as they decide what a listener hears (measured: fewer misses than amplitude or
//! unweighted means of g_b). The bands below 200 Hz (mains hum and its first harmonics, rumble)
//! and above 8 kHz (hiss, where voices have little energy) are left out: with the 100 Hz band,
//! the hum-laden pauses of the bundled noisy example read as speech in 4.7 % of their frames,
//! without it in none. `E_floor` is the energy a -90 dBFS white noise puts in those bands
//! ([`FLOOR_DBFS`]), so digital silence and near-silence read as no speech
//! rather than 0 / 0. Gains are sanitised as the engine does (clamped to [0, 1], NaN = 1),
//! energies that are not finite and positive count as 0.
//!
//! A network with a trained presence output (`.pnw` v2) hears weak speech the gains miss, but
//! on steady noise alone it sometimes calls speech where its own gains remove everything. So its
//! presence p_net counts only as far as the gains keep something in the speech bands:
//!
//! ```text
//! p = p_net * a / (a + xi_s (1 - a))                   xi_s = SUPPORT_SNR_DB (-15 dB)
//! ```
//!
//! a soft step on the same kept share, 1/2 where the gains keep what a -15 dB SNR would leave
//! ([`with_support`]).

use crate::dsp::bands::{BandArray, BAND_CENTERS};
use crate::{HOP, SAMPLE_RATE, WINDOW};

/// Lowest band centre counted as speech, in Hz.
pub const SPEECH_LOW_HZ: f32 = 200.0;
/// Highest band centre counted as speech, in Hz.
pub const SPEECH_HIGH_HZ: f32 = 8_000.0;
/// Level in dBFS of the white noise whose speech-band energy is `E_floor`.
pub const FLOOR_DBFS: f32 = -90.0;
/// xi_0: the estimated frame SNR, in dB, at which the presence is 1/2.
pub const HALF_PRESENCE_SNR_DB: f32 = -8.5;
/// xi_s: the estimated frame SNR, in dB, at which a trained presence output is halved.
pub const SUPPORT_SNR_DB: f32 = -15.0;

/// Width of one FFT bin in Hz.
const BIN_HZ: f32 = SAMPLE_RATE as f32 / WINDOW as f32;

/// Whether band `b`'s centre lies in the speech range.
fn is_speech_band(b: usize) -> bool {
    let hz = BAND_CENTERS[b] as f32 * BIN_HZ;
    (SPEECH_LOW_HZ..=SPEECH_HIGH_HZ).contains(&hz)
}

/// `E_floor`: the speech-band energy of white noise of variance v = 10^(FLOOR_DBFS / 10). With
/// a power-complementary window of 2N samples, sum_n w(n)^2 = N, so each bin holds N v and the
/// bands (triangles summing to one per bin) hold N v per bin they cover.
fn energy_floor() -> f32 {
    let first = BAND_CENTERS
        .iter()
        .position(|&c| c as f32 * BIN_HZ >= SPEECH_LOW_HZ)
        .unwrap_or(0);
    let last = BAND_CENTERS
        .iter()
        .rposition(|&c| c as f32 * BIN_HZ <= SPEECH_HIGH_HZ)
        .unwrap_or(first);
    let bins = (BAND_CENTERS[last] - BAND_CENTERS[first]).max(1) as f32;
    bins * HOP as f32 * 10f32.powf(FLOOR_DBFS / 10.0)
}

/// The speech presence p of a frame from its gains g_b and band energies E_b (see the module
/// documentation for the formula).
pub fn from_gains(gains: &BandArray, energies: &BandArray) -> f32 {
    soft_step(kept_share(gains, energies), HALF_PRESENCE_SNR_DB)
}

/// An estimator's own presence `p_net` (sanitised), weighed by how much of the frame's
/// speech-band energy its gains keep: p_net * a / (a + xi_s (1 - a)).
pub fn with_support(p_net: f32, gains: &BandArray, energies: &BandArray) -> f32 {
    sanitize(p_net) * soft_step(kept_share(gains, energies), SUPPORT_SNR_DB)
}

/// a / (a + xi (1 - a)) with xi = 10^(`half_db` / 10): 1/2 where a / (1 - a) = xi.
fn soft_step(a: f32, half_db: f32) -> f32 {
    let xi = 10f32.powf(half_db / 10.0);
    a / (a + xi * (1.0 - a))
}

/// a: the share of the speech-band energy the gains keep, in [0, 1] (1 when the sums overflow:
/// speech or not, do not gate it away).
fn kept_share(gains: &BandArray, energies: &BandArray) -> f32 {
    let (mut kept, mut total) = (0.0f32, 0.0f32);
    for (b, (&g, &e)) in gains.iter().zip(energies).enumerate() {
        if !(is_speech_band(b) && e.is_finite() && e > 0.0) {
            continue;
        }
        let g = if g.is_nan() { 1.0 } else { g.clamp(0.0, 1.0) };
        kept += g * g * e;
        total += e;
    }
    let a = kept / (total + energy_floor());
    if a.is_finite() {
        a.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Clamps an estimator's own presence to [0, 1]; NaN becomes 1 (a gate that cannot tell keeps
/// the signal).
pub fn sanitize(p: f32) -> f32 {
    if p.is_nan() {
        1.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NB_BANDS;

    #[test]
    fn speech_bands_span_200_hz_to_8_khz() {
        let speech: Vec<usize> = (0..NB_BANDS).filter(|&b| is_speech_band(b)).collect();
        assert_eq!(speech.first(), Some(&2));
        assert_eq!(speech.last(), Some(&27));
        assert_eq!(speech.len(), 26);
    }

    #[test]
    fn a_trained_presence_counts_only_where_the_gains_keep_speech_band_energy() {
        let energies = [1.0; NB_BANDS];
        // Everything kept: the network's own presence, unchanged (NaN reads as 1).
        assert!((with_support(0.7, &[1.0; NB_BANDS], &energies) - 0.7).abs() < 1e-6);
        assert!((with_support(f32::NAN, &[1.0; NB_BANDS], &energies) - 1.0).abs() < 1e-6);
        // Everything removed: no speech, whatever the network says.
        assert_eq!(with_support(1.0, &[0.0; NB_BANDS], &energies), 0.0);
        // Halved where the gains keep what a -15 dB SNR leaves.
        let xi_s = 10f32.powf(SUPPORT_SNR_DB / 10.0);
        let g = (xi_s / (1.0 + xi_s)).sqrt();
        assert!((with_support(0.8, &[g; NB_BANDS], &energies) - 0.4).abs() < 1e-5);
    }

    #[test]
    fn presence_is_a_soft_step_on_the_kept_share_of_speech_band_energy() {
        let energies = [1.0; NB_BANDS];
        assert!((from_gains(&[1.0; NB_BANDS], &energies) - 1.0).abs() < 1e-6);
        assert_eq!(from_gains(&[0.0; NB_BANDS], &energies), 0.0);
        // Half way where the kept share a gives a / (1 - a) = -8.5 dB.
        let xi_0 = 10f32.powf(HALF_PRESENCE_SNR_DB / 10.0);
        let g = (xi_0 / (1.0 + xi_0)).sqrt();
        assert!((from_gains(&[g; NB_BANDS], &energies) - 0.5).abs() < 1e-5);
        // Half the amplitude keeps a quarter of the energy: -4.8 dB, above the half point.
        let p = from_gains(&[0.5; NB_BANDS], &energies);
        assert!((p - 0.25 / (0.25 + 0.75 * xi_0)).abs() < 1e-6, "{p}");
        // The energy weighting: one loud band kept, quiet ones removed.
        let mut e = [1e-3; NB_BANDS];
        e[10] = 1.0;
        let mut g = [0.0; NB_BANDS];
        g[10] = 1.0;
        assert!(from_gains(&g, &e) > 0.97);
        // Bands outside 200 Hz - 8 kHz do not count (hum at bands 0 and 1, hiss at the top).
        let mut e = [0.0; NB_BANDS];
        e[0] = 1.0;
        e[1] = 1.0;
        e[NB_BANDS - 1] = 1.0;
        e[5] = 1e-3;
        let mut g = [1.0; NB_BANDS];
        g[5] = 0.0;
        assert_eq!(from_gains(&g, &e), 0.0);
    }

    #[test]
    fn silence_and_bad_values_give_sane_presence() {
        assert_eq!(from_gains(&[1.0; NB_BANDS], &[0.0; NB_BANDS]), 0.0);
        // Far below the floor (-90 dBFS) reads as no speech, far above as the gains say.
        let at_floor = energy_floor() / 26.0;
        assert!(from_gains(&[1.0; NB_BANDS], &[1e-3 * at_floor; NB_BANDS]) < 0.01);
        assert!(from_gains(&[1.0; NB_BANDS], &[1e3 * at_floor; NB_BANDS]) > 0.99);
        let p = from_gains(&[f32::NAN; NB_BANDS], &[f32::INFINITY; NB_BANDS]);
        assert_eq!(p, 0.0);
        assert!(from_gains(&[f32::NAN; NB_BANDS], &[1.0; NB_BANDS]) > 0.9999);
        assert_eq!(from_gains(&[2.0; NB_BANDS], &[3e38; NB_BANDS]), 1.0);
        assert_eq!(sanitize(f32::NAN), 1.0);
        assert_eq!(sanitize(-1.0), 0.0);
        assert_eq!(sanitize(0.3), 0.3);
    }
}
