//! Mains hum for training mixes: the 50/60 Hz buzz of ground loops, transformers and dimmers,
//! added under the other noise of a mix ([`super::dataset::MixConfig::p_hum`]) so the network
//! learns that a steady harmonic series in the speech pauses is noise, not voice.
//!
//! h(t) = (1 + m sin(2 pi f_m t + psi)) sum_{k=1..K} a_k sin(k phi(t) + theta_k), with
//! phi(t) = 2 pi integral of f(t), f(t) = f_0 (1 + d + w sin(2 pi t / T_w)): the mains
//! frequency f_0 of 50 or 60 Hz off by d (|d| <= 0.5 %) and wandering by w (<= 0.1 %) over
//! T_w = 2-20 s; a_k = k^-rho with rho in 0.3..2.5 (a soft hum to a bright buzz), the even
//! harmonics scaled by e in 0.05..1 half the time (rectifier and clipper buzz is mostly odd);
//! K up to 400 harmonics, none above [`MAX_HARMONIC_HZ`]; random phases theta_k; a slow level
//! wobble m <= 0.2 at f_m = 0.1-2 Hz. Scaled to an RMS of 1.
//!
//! The harmonics are summed as Im(sum_k c_k z^k) with z = e^{i phi(t)} and c_k = a_k
//! e^{i theta_k}, z^k by repeated multiplication: one complex multiply-add per harmonic and
//! sample, for a block of samples at a time (about 0.15 s of CPU per 20 s of hum).

use rand::rngs::StdRng;
use rand::RngExt;

use crate::SAMPLE_RATE;

/// Highest harmonic frequency generated, Hz (below the 24 kHz Nyquist frequency with margin
/// for the drift).
pub const MAX_HARMONIC_HZ: f32 = 22_000.0;
/// Most harmonics of one hum.
pub const MAX_HARMONICS: usize = 400;
/// Samples computed together, harmonic after harmonic.
const BLOCK: usize = 2048;

/// `len` samples of random mains hum at 48 kHz with an RMS of 1 (all zeros if `len` is 0).
pub fn mains_hum(rng: &mut StdRng, len: usize) -> Vec<f32> {
    let f0 = if rng.random_bool(0.5) { 50.0 } else { 60.0 };
    let offset = rng.random_range(-0.005f64..0.005);
    let wander = rng.random_range(0.0f64..0.001);
    let wander_period_s = rng.random_range(2.0f64..20.0);
    let rolloff = rng.random_range(0.3f32..2.5);
    let even = if rng.random_bool(0.5) {
        rng.random_range(0.05f32..1.0)
    } else {
        1.0
    };
    let top = (MAX_HARMONIC_HZ / (f0 as f32 * 1.01)) as usize;
    let harmonics = rng.random_range(3..=top.min(MAX_HARMONICS));
    let coeffs: Vec<(f32, f32)> = (1..=harmonics)
        .map(|k| {
            let a = (k as f32).powf(-rolloff) * if k % 2 == 0 { even } else { 1.0 };
            let theta = rng.random_range(0.0f32..std::f32::consts::TAU);
            (a * theta.cos(), a * theta.sin())
        })
        .collect();
    let wobble = rng.random_range(0.0f32..0.2);
    let wobble_hz = rng.random_range(0.1f32..2.0);
    let wobble_phase = rng.random_range(0.0f32..std::f32::consts::TAU);

    let fs = f64::from(SAMPLE_RATE);
    let mut phase = rng.random_range(0.0f64..std::f64::consts::TAU);
    let mut out = vec![0.0f32; len];
    // Blocks of samples, harmonic after harmonic within a block: every sample's z^k is
    // updated at once (a loop that vectorises) instead of one dependent chain per sample.
    let mut z = vec![(0.0f32, 0.0f32); BLOCK.min(len)];
    let mut p = z.clone();
    for (b, block) in out.chunks_mut(BLOCK).enumerate() {
        let (z, p) = (&mut z[..block.len()], &mut p[..block.len()]);
        for (i, (zn, pn)) in z.iter_mut().zip(p.iter_mut()).enumerate() {
            let t = (b * BLOCK + i) as f64 / fs;
            let f =
                f0 * (1.0 + offset + wander * (std::f64::consts::TAU * t / wander_period_s).sin());
            phase = (phase + std::f64::consts::TAU * f / fs) % std::f64::consts::TAU;
            *zn = (phase.cos() as f32, phase.sin() as f32);
            *pn = *zn;
        }
        // out += Im(c_k z^k), then z^k -> z^(k+1).
        for &(cr, ci) in &coeffs {
            for ((o, pn), zn) in block.iter_mut().zip(p.iter_mut()).zip(z.iter()) {
                *o += cr * pn.1 + ci * pn.0;
                *pn = (pn.0 * zn.0 - pn.1 * zn.1, pn.0 * zn.1 + pn.1 * zn.0);
            }
        }
        for (i, o) in block.iter_mut().enumerate() {
            let t = (b * BLOCK + i) as f32 / SAMPLE_RATE as f32;
            *o *= 1.0 + wobble * (std::f32::consts::TAU * wobble_hz * t + wobble_phase).sin();
        }
    }
    let rms = (out.iter().map(|v| v * v).sum::<f32>() / len.max(1) as f32).sqrt();
    if rms > 0.0 {
        out.iter_mut().for_each(|v| *v /= rms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Power of `x` at `hz` (one DFT bin, Hann window).
    fn power_at(x: &[f32], hz: f64) -> f64 {
        let n = x.len() as f64;
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos();
            let a = std::f64::consts::TAU * hz * i as f64 / f64::from(SAMPLE_RATE);
            re += w * f64::from(v) * a.cos();
            im -= w * f64::from(v) * a.sin();
        }
        (re * re + im * im) / n
    }

    #[test]
    fn hum_is_a_harmonic_series_of_the_mains_at_unit_rms() {
        for seed in 0..12 {
            let mut rng = StdRng::seed_from_u64(seed);
            let x = mains_hum(&mut rng, SAMPLE_RATE as usize);
            let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
            assert!((rms - 1.0).abs() < 1e-3, "seed {seed}: rms {rms}");
            assert!(x.iter().all(|v| v.is_finite()));
            // The fundamental (50 or 60 Hz, within its drift) stands far above the gaps
            // between harmonics.
            let f0 = [50.0, 60.0]
                .into_iter()
                .max_by(|a, b| power_at(&x, *a).total_cmp(&power_at(&x, *b)))
                .unwrap();
            let peak = (0..=10)
                .map(|i| power_at(&x, f0 * (0.995 + 0.001 * f64::from(i))))
                .fold(0.0, f64::max);
            let gap = power_at(&x, 1.5 * f0) + power_at(&x, 2.5 * f0);
            assert!(peak > 100.0 * gap, "seed {seed}: {peak} vs {gap}");
        }
    }

    #[test]
    fn hum_is_a_function_of_the_seed() {
        let a = mains_hum(&mut StdRng::seed_from_u64(7), 4800);
        let b = mains_hum(&mut StdRng::seed_from_u64(7), 4800);
        let c = mains_hum(&mut StdRng::seed_from_u64(8), 4800);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(mains_hum(&mut StdRng::seed_from_u64(7), 0).is_empty());
    }
}
