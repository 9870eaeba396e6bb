//! Oracle (ideal) gains and comb strengths computed from the clean reference, as training
//! targets and to show what the representation can reach.
//!
//! ## Strength target r_b (derivation)
//! Model one band of a frame, normalised to unit energy, as a periodic part of energy t and
//! an aperiodic part of energy n = 1 - t. The comb filter keeps the periodic part and turns
//! the aperiodic part into one of energy gamma n (gamma = sum_k c_k^2), of which c_0 n is
//! correlated with the input's. The pitch coherence of a signal with its comb output is then
//!
//!   q^2 = (t + c_0 n)^2 / ((t + n)(t + gamma n)),
//!
//! which with t = 1 - n, a = 1 - c_0, c = 1 - gamma is a quadratic in n:
//! a^2 n^2 - (2a - q^2 c) n + (1 - q^2) = 0. Its smaller root gives the aperiodic fraction,
//! hence the tone-to-noise ratio rho = (1 - n) / n, of the clean speech (rho_x, from q_x) and
//! of the noisy input (rho_y, from q_y). Mixing Z = (1 - r) Y + r P keeps the periodic part
//! and scales the aperiodic energy by h(r) = (1 - r)^2 + 2 c_0 r (1 - r) + gamma r^2, so the
//! output's ratio is rho_y / h(r). Asking for rho_y / h(r) = rho_x gives
//! A r^2 - 2 a r + (1 - tau) = 0 with A = 1 - 2 c_0 + gamma and tau = rho_y / rho_x:
//! r = (a - sqrt(a^2 - A (1 - tau))) / A. r = 0 when the input is already as periodic as
//! the clean speech (tau >= 1). When even r = 1 is not enough (tau < h(1) = gamma), r = 1 and
//! the gain is lowered so that the aperiodic energy left, a fraction 1 / (1 + rho_y / gamma) of
//! the band, is no more than the clean speech's own aperiodic fraction 1 / (1 + rho_x) plus a
//! masked allowance `MASKING_ALLOWANCE` (-15 dB) of the band's clean energy. Finally r is
//! scaled by [`STRENGTH_SCALE`] (measured, see there).

use crate::denoiser::{BandAnalysis, BandGains, FrameView, GainEstimator, Timeline, NB_FEATURES};
use crate::dsp::bands::BandArray;
use crate::dsp::comb::{self, COMB_M};
use crate::dsp::stft::{Spectrum, Stft, ZERO_SPECTRUM};
use crate::{LOOKAHEAD_FRAMES, NB_BANDS, WINDOW};

/// Noise allowed under a tone, relative to the band's clean energy: -15 dB.
pub const MASKING_ALLOWANCE: f32 = 0.031_622_78;
/// Share of the tone-to-noise-matching strength that the target keeps. Matching the clean
/// tone-to-noise ratio exactly over-filters: the comb also removes the clean speech's own
/// aperiodic part and smears frames where the pitch is off. On the dev oracle set
/// (`training/oracle_eval.py`, 72 pairs), band + comb gave SI-SDR / PESQ-WB of 12.33 / 2.66 at
/// scale 1, 14.48 / 2.69 at 0.5 and 14.54 / 2.61 at 0.3, against 13.86 / 2.30 for bands alone.
pub const STRENGTH_SCALE: f32 = 0.5;
/// Band energy under which a band is "don't care" in the loss (when both signals are below).
pub const SILENT_BAND_ENERGY: f32 = 1e-6;

/// Comb constants c_0 and gamma = sum_k c_k^2.
fn comb_constants() -> (f32, f32) {
    (comb::TAPS[COMB_M], comb::noise_power_gain())
}

/// Aperiodic energy fraction n in [0, 1] of a band with pitch coherence q (see module docs).
pub fn aperiodic_fraction(q: f32) -> f32 {
    let (c0, gamma) = comb_constants();
    let q2 = q.clamp(0.0, 1.0).powi(2);
    let a = 1.0 - c0;
    let c = 1.0 - gamma;
    let bq = 2.0 * a - q2 * c;
    let disc = (bq * bq - 4.0 * a * a * (1.0 - q2)).max(0.0);
    ((bq - disc.sqrt()) / (2.0 * a * a)).clamp(0.0, 1.0)
}

/// Tone-to-noise ratio rho = (1 - n) / n, bounded to keep divisions finite.
pub fn tone_to_noise(q: f32) -> f32 {
    let n = aperiodic_fraction(q).max(1e-4);
    (1.0 - n) / n
}

/// Oracle gain g_b = sqrt(E_b(S) / E_b(Y)) in [0, 1] and strength r_b (see module docs);
/// `care[b]` is false for bands where both energies are negligible.
pub fn oracle_targets(
    es: &BandArray,
    ey: &BandArray,
    qx: &BandArray,
    qy: &BandArray,
    out: &mut BandGains,
    care: &mut [bool; NB_BANDS],
) {
    let (c0, gamma) = comb_constants();
    let a = 1.0 - c0;
    let big_a = 1.0 - 2.0 * c0 + gamma;
    for b in 0..NB_BANDS {
        care[b] = es[b] > SILENT_BAND_ENERGY || ey[b] > SILENT_BAND_ENERGY;
        let mut g = if ey[b] > 0.0 {
            (es[b] / ey[b]).sqrt().min(1.0)
        } else {
            0.0
        };
        let rho_x = tone_to_noise(qx[b]);
        let rho_y = tone_to_noise(qy[b]);
        let tau = rho_y / rho_x;
        let r = if tau >= 1.0 {
            0.0
        } else if tau > gamma {
            (a - (a * a - big_a * (1.0 - tau)).max(0.0).sqrt()) / big_a
        } else {
            let left = 1.0 / (1.0 + rho_y / gamma);
            let allowed = 1.0 / (1.0 + rho_x) + MASKING_ALLOWANCE;
            if left > allowed {
                g *= (allowed / left).sqrt();
            }
            1.0
        };
        out.gain[b] = g;
        out.strength[b] = (STRENGTH_SCALE * r).clamp(0.0, 1.0);
    }
}

/// Which stages the oracle feeds.
#[derive(Clone, Copy, Debug)]
pub struct OracleOptions {
    /// Use the comb filter (r_b targets); false sets r_b = 0.
    pub comb: bool,
}

/// A [`GainEstimator`] that knows the clean speech: push each clean hop with
/// [`Oracle::push_clean`] before the engine processes the matching noisy hop.
pub struct Oracle {
    options: OracleOptions,
    clean: Timeline,
    stft: Stft,
    spectra: Vec<Spectrum>,
    frame: usize,
    comb_buf: [f32; WINDOW],
    p: Spectrum,
    analysis: BandAnalysis,
    /// Targets of the last frame, and which bands count in the loss.
    pub targets: BandGains,
    pub care: [bool; NB_BANDS],
    /// Features the engine gave with the last frame (of the newest frame j).
    pub features: [f32; NB_FEATURES],
}

impl Oracle {
    pub fn new(options: OracleOptions) -> Self {
        Self {
            options,
            clean: Timeline::new(),
            stft: Stft::new(),
            spectra: vec![ZERO_SPECTRUM; LOOKAHEAD_FRAMES + 1],
            frame: 0,
            comb_buf: [0.0; WINDOW],
            p: ZERO_SPECTRUM,
            analysis: BandAnalysis::default(),
            targets: BandGains::default(),
            care: [false; NB_BANDS],
            features: [0.0; NB_FEATURES],
        }
    }

    /// Adds the clean hop aligned with the noisy hop the engine processes next.
    pub fn push_clean(&mut self, hop: &[f32]) {
        self.clean.push(hop);
        let slot = self.frame % self.spectra.len();
        self.stft
            .analyze(self.clean.window(0), &mut self.spectra[slot]);
        self.frame = self.frame.wrapping_add(1);
    }
}

impl GainEstimator for Oracle {
    fn estimate(&mut self, features: &[f32; NB_FEATURES], frame: &FrameView, out: &mut BandGains) {
        self.features = *features;
        // Clean frame t, comb-filtered with the pitch the engine uses for the noisy frame t.
        let slot = self.frame % self.spectra.len(); // == (frame - 1 - LOOKAHEAD) mod len
        self.clean
            .comb_window(LOOKAHEAD_FRAMES, frame.pitch.period, &mut self.comb_buf);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        self.analysis.compute(&self.spectra[slot], &self.p);
        oracle_targets(
            &self.analysis.ex,
            frame.ex,
            &self.analysis.coherence,
            frame.coherence,
            &mut self.targets,
            &mut self.care,
        );
        if !self.options.comb {
            self.targets.strength = [0.0; NB_BANDS];
            // Without the comb filter the gain is the plain energy ratio.
            for b in 0..NB_BANDS {
                let ey = frame.ex[b];
                self.targets.gain[b] = if ey > 0.0 {
                    (self.analysis.ex[b] / ey).sqrt().min(1.0)
                } else {
                    0.0
                };
            }
        }
        *out = self.targets;
    }

    fn reset(&mut self) {
        self.clean.reset();
        self.spectra.iter_mut().for_each(|s| *s = ZERO_SPECTRUM);
        self.frame = 0;
    }
}

/// Per-bin magnitude oracle on the noisy phase: Z(k) = min(1, |S(k)| / |Y(k)|) Y(k), with the
/// same STFT as the engine. Returns the output aligned with the input (same length).
pub fn per_bin_oracle(clean: &[f32], noisy: &[f32]) -> Vec<f32> {
    use crate::dsp::stft::OverlapAdd;
    use crate::HOP;
    let len = noisy.len();
    let hops = len.div_ceil(HOP) + 1;
    let padded = |x: &[f32]| {
        let mut v = vec![0.0; hops * HOP];
        v[..x.len().min(len)].copy_from_slice(&x[..x.len().min(len)]);
        v
    };
    let (s, y) = (padded(clean), padded(noisy));
    let mut stft = Stft::new();
    let mut ola = OverlapAdd::new();
    let (mut fs, mut fy) = ([0.0f32; WINDOW], [0.0f32; WINDOW]);
    let (mut xs, mut xy) = (ZERO_SPECTRUM, ZERO_SPECTRUM);
    let mut synth = [0.0; WINDOW];
    let mut out = vec![0.0; hops * HOP];
    for j in 0..hops {
        for (f, x) in [(&mut fs, &s), (&mut fy, &y)] {
            f.copy_within(HOP.., 0);
            f[HOP..].copy_from_slice(&x[j * HOP..(j + 1) * HOP]);
        }
        stft.analyze(&fs, &mut xs);
        stft.analyze(&fy, &mut xy);
        for (z, c) in xy.iter_mut().zip(&xs) {
            let ny = z.norm();
            let g = if ny > 0.0 {
                (c.norm() / ny).min(1.0)
            } else {
                0.0
            };
            *z *= g;
        }
        stft.synthesize(&xy, &mut synth);
        ola.push(&synth, &mut out[j * HOP..(j + 1) * HOP]);
    }
    // The STFT alone delays by one hop.
    out.drain(..HOP);
    out.truncate(len);
    out
}

/// Runs the engine on `noisy` with oracle gains from `clean` (same length) and returns the
/// output aligned with the input.
pub fn run_band_oracle(
    clean: &[f32],
    noisy: &[f32],
    options: OracleOptions,
    params: crate::denoiser::DenoiserParams,
) -> Vec<f32> {
    use crate::denoiser::Denoiser;
    use crate::{HOP, LATENCY};
    let delay = LATENCY - HOP; // hop-level delay of the engine
    let hops = (noisy.len() + delay).div_ceil(HOP);
    let mut engine = Denoiser::new(Oracle::new(options));
    engine.set_params(params);
    let mut out = vec![0.0; hops * HOP];
    let mut c = [0.0; HOP];
    let mut y = [0.0; HOP];
    for j in 0..hops {
        for (i, (cv, yv)) in c.iter_mut().zip(y.iter_mut()).enumerate() {
            let n = j * HOP + i;
            *cv = clean.get(n).copied().unwrap_or(0.0);
            *yv = noisy.get(n).copied().unwrap_or(0.0);
        }
        engine.estimator_mut().push_clean(&c);
        engine.process_hop(&y, &mut out[j * HOP..(j + 1) * HOP]);
    }
    out.drain(..delay);
    out.truncate(noisy.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coherence_model_endpoints() {
        assert!(aperiodic_fraction(1.0) < 1e-6);
        let (c0, gamma) = comb_constants();
        let q_noise = c0 / gamma.sqrt();
        assert!((aperiodic_fraction(q_noise) - 1.0).abs() < 1e-3);
        assert!((aperiodic_fraction(0.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn clean_input_needs_no_filtering() {
        let e = [1.0; NB_BANDS];
        let q = [0.9; NB_BANDS];
        let mut out = BandGains::default();
        let mut care = [false; NB_BANDS];
        oracle_targets(&e, &e, &q, &q, &mut out, &mut care);
        assert!(out.gain.iter().all(|&g| (g - 1.0).abs() < 1e-6));
        assert!(out.strength.iter().all(|&r| r == 0.0));
        assert!(care.iter().all(|&c| c));
    }

    #[test]
    fn noisier_input_needs_more_filtering() {
        let e = [1.0; NB_BANDS];
        let qx = [0.98; NB_BANDS];
        let mut out = BandGains::default();
        let mut care = [false; NB_BANDS];
        let mut last = 0.0;
        for qy in [0.979, 0.975, 0.97, 0.95, 0.9, 0.8, 0.5] {
            oracle_targets(&e, &e, &qx, &[qy; NB_BANDS], &mut out, &mut care);
            assert!(out.strength[0] >= last, "qy={qy}: {}", out.strength[0]);
            assert!(out.strength[0] > 0.0);
            last = out.strength[0];
        }
        // Far too noisy for the comb alone: full (scaled) strength and a lowered gain.
        assert_eq!(out.strength[0], STRENGTH_SCALE);
        assert!(out.gain[0] < 1.0);
    }
}
