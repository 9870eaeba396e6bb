//! Envelope post-filter and attenuation limit.

use std::f32::consts::FRAC_PI_2;

use crate::dsp::bands::BandArray;

/// beta of the paper: how far the frame gain may compensate the energy the warp removed.
pub const POSTFILTER_BETA: f32 = 0.02;

/// Warps each gain, g_b' = g_b ((1 - s) + s sin(pi/2 g_b)), which attenuates noisy bands
/// (small g_b) more and leaves clean bands (g_b near 1) alone; then scales all bands by
/// G = sqrt((1 + beta) E_0 / (beta E_0 + E_1)), with E_0 = sum_b g_b^2 E_b and
/// E_1 = sum_b g_b'^2 E_b the frame energies before and after warping. G is 1 without
/// warping and never exceeds sqrt((1 + beta) / beta): it gives back the loudness lost on
/// speech frames but not the attenuation of frames that are mostly noise.
pub fn envelope_postfilter(gains: &mut BandArray, energy: &BandArray, strength: f32) {
    let s = strength.clamp(0.0, 1.0);
    if s == 0.0 {
        return;
    }
    let mut e0 = 0.0;
    let mut e1 = 0.0;
    for (g, e) in gains.iter_mut().zip(energy) {
        e0 += *g * *g * e;
        *g *= (1.0 - s) + s * (FRAC_PI_2 * *g).sin();
        e1 += *g * *g * e;
    }
    let denom = POSTFILTER_BETA * e0 + e1;
    if denom > 0.0 && e0 > 0.0 {
        let scale = ((1.0 + POSTFILTER_BETA) * e0 / denom).sqrt();
        for g in gains.iter_mut() {
            *g = (*g * scale).min(1.0);
        }
    }
}

/// Gain floor 10^(-L/20) of an attenuation limit L in dB; L >= 100 means no limit (0).
pub fn attenuation_floor(limit_db: f32) -> f32 {
    if limit_db >= 100.0 {
        0.0
    } else {
        10f32.powf(-limit_db.max(0.0) / 20.0)
    }
}

/// g_b = max(g_b, floor).
pub fn apply_floor(gains: &mut BandArray, floor: f32) {
    for g in gains.iter_mut() {
        *g = g.max(floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NB_BANDS;

    #[test]
    fn unity_gains_are_untouched() {
        let mut g = [1.0; NB_BANDS];
        envelope_postfilter(&mut g, &[1.0; NB_BANDS], 1.0);
        assert!(g.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn noisy_bands_are_attenuated_more_than_clean_ones() {
        let mut g = [1.0; NB_BANDS];
        g[..10].fill(0.2);
        let before = g;
        envelope_postfilter(&mut g, &[1.0; NB_BANDS], 1.0);
        assert!(g[0] / g[20] < before[0] / before[20]);
    }

    #[test]
    fn floor_of_limits() {
        assert_eq!(attenuation_floor(100.0), 0.0);
        assert!((attenuation_floor(20.0) - 0.1).abs() < 1e-6);
        assert_eq!(attenuation_floor(0.0), 1.0);
    }
}
