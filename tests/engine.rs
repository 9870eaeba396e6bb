//! The streaming engine: exact latency, perfect reconstruction, band layout, robustness.

use percepnet::denoiser::{
    BandGains, Denoiser, DenoiserParams, FrameView, GainEstimator, UnityEstimator, NB_FEATURES,
};
use percepnet::dsp::bands::{band_weight, BAND_CENTERS};
use percepnet::{HOP, LATENCY, NB_BANDS, NB_BINS};

/// Deterministic pseudo-random numbers (xorshift32).
struct Rng(u32);
impl Rng {
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        self.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0
    }
}

fn test_signal(len: usize) -> Vec<f32> {
    let mut rng = Rng(12345);
    (0..len)
        .map(|n| {
            let t = n as f32 / 48_000.0;
            0.3 * (2.0 * std::f32::consts::PI * 187.0 * t).sin() + 0.2 * rng.uniform()
        })
        .collect()
}

#[test]
fn unity_gains_reconstruct_input_delayed_by_latency_for_any_block_size() {
    let input = test_signal(48_000 * 2);
    for seed in [1u32, 2, 3] {
        let mut rng = Rng(seed);
        let mut engine = Denoiser::new(UnityEstimator);
        let mut output = vec![0.0; input.len()];
        let mut pos = 0;
        while pos < input.len() {
            let block = match rng.next_u32() % 4 {
                0 => 1,
                1 => (rng.next_u32() % 16 + 1) as usize,
                2 => (rng.next_u32() % 1024 + 1) as usize,
                _ => (rng.next_u32() % 8192 + 1) as usize,
            }
            .min(input.len() - pos);
            engine.process(&input[pos..pos + block], &mut output[pos..pos + block]);
            pos += block;
        }
        assert!(
            output[..LATENCY].iter().all(|&v| v.abs() < 1e-6),
            "output before the latency must be silent"
        );
        let max_err = (LATENCY..input.len())
            .map(|n| (output[n] - input[n - LATENCY]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 1e-5, "seed {seed}: max error {max_err}");
    }
}

#[test]
fn latency_is_30_ms() {
    assert_eq!(LATENCY, 1440);
}

#[test]
fn band_weights_sum_to_one_below_20_khz_and_peak_at_centres() {
    for k in 0..=BAND_CENTERS[NB_BANDS - 1] {
        let sum: f32 = (0..NB_BANDS).map(|b| band_weight(b, k)).sum();
        assert!((sum - 1.0).abs() < 1e-6, "bin {k}: {sum}");
        let members = (0..NB_BANDS).filter(|&b| band_weight(b, k) > 0.0).count();
        assert!((1..=2).contains(&members), "bin {k} in {members} bands");
    }
    for (b, &c) in BAND_CENTERS.iter().enumerate() {
        assert_eq!(band_weight(b, c), 1.0);
    }
    // Above 20 kHz everything follows the last band.
    for k in BAND_CENTERS[NB_BANDS - 1]..NB_BINS {
        assert_eq!(band_weight(NB_BANDS - 1, k), 1.0);
    }
}

/// An estimator that mutes everything, to check gains are applied (and that the test of
/// reconstruction above could fail).
struct Mute;
impl GainEstimator for Mute {
    fn estimate(&mut self, _: &[f32; NB_FEATURES], _: &FrameView, out: &mut BandGains) {
        out.gain = [0.0; NB_BANDS];
        out.strength = [0.0; NB_BANDS];
    }
}

#[test]
fn attenuation_limit_floors_the_gains() {
    let input = test_signal(48_000);
    for (limit, expect_db) in [(100.0f32, None), (12.0, Some(-12.0f64))] {
        let mut engine = Denoiser::new(Mute);
        engine.set_params(DenoiserParams {
            attenuation_limit_db: limit,
            post_filter: 0.0,
        });
        let mut out = vec![0.0; input.len()];
        engine.process(&input, &mut out);
        let e_in: f64 = input[..input.len() - LATENCY]
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum();
        let e_out: f64 = out[LATENCY..].iter().map(|&v| f64::from(v).powi(2)).sum();
        let db = 10.0 * (e_out / e_in).log10();
        match expect_db {
            None => assert!(db < -100.0, "no limit: {db} dB"),
            Some(want) => assert!((db - want).abs() < 0.1, "limit {limit}: {db} dB"),
        }
    }
}

/// An estimator that returns garbage: NaN, negative, huge.
struct Garbage(u32);
impl GainEstimator for Garbage {
    fn estimate(&mut self, _: &[f32; NB_FEATURES], _: &FrameView, out: &mut BandGains) {
        self.0 += 1;
        let v = [f32::NAN, -3.0, 1e30, f32::INFINITY][self.0 as usize % 4];
        out.gain = [v; NB_BANDS];
        out.strength = [v; NB_BANDS];
    }
}

#[test]
fn hostile_input_and_estimates_never_produce_non_finite_output() {
    let mut engine = Denoiser::new(Garbage(0));
    let mut input = test_signal(48_000);
    input[1000] = f32::NAN;
    input[2000] = f32::INFINITY;
    input[3000] = f32::NEG_INFINITY;
    input[4000..5000].fill(1e30);
    input[6000..7000].fill(1e-40); // denormals
    let mut out = vec![0.0; input.len()];
    for (i, o) in input.chunks(333).zip(out.chunks_mut(333)) {
        engine.process(i, o);
    }
    assert!(out.iter().all(|v| v.is_finite()));
    // Recovers: after the bad stretch, a unity engine fed the same clean tail is an exact delay.
    let mut clean = Denoiser::new(UnityEstimator);
    let tail = test_signal(48_000);
    let mut out2 = vec![0.0; tail.len()];
    clean.process(&input, &mut vec![0.0; input.len()]);
    clean.process(&tail, &mut out2);
    let start = LATENCY + 8 * HOP;
    let err = (start..tail.len())
        .map(|n| (out2[n] - tail[n - LATENCY]).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-4, "{err}");
}
