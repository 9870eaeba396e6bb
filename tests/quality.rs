//! What the trained network does to real speech (the bundled examples), through the engine.

use percepnet::denoiser::{Denoiser, DenoiserParams};
use percepnet::dsp::bands::{band_energy, BAND_CENTERS};
use percepnet::dsp::stft::{Stft, ZERO_SPECTRUM};
use percepnet::model::{embedded_network, NetworkEstimator};
use percepnet::{HOP, NB_BANDS, SAMPLE_RATE, WINDOW};

fn read_example(name: &str) -> Vec<f32> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let mut r = hound::WavReader::open(path).expect("example file");
    assert_eq!(r.spec().sample_rate, SAMPLE_RATE);
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

fn denoise(x: &[f32]) -> Vec<f32> {
    let mut engine = Denoiser::new(NetworkEstimator::new(
        embedded_network().expect("embedded weights"),
    ));
    engine.set_params(DenoiserParams::default());
    engine.process_offline(x)
}

/// Long-term band energies sum_t E_b(X_t).
fn long_term_bands(x: &[f32]) -> [f64; NB_BANDS] {
    let mut stft = Stft::new();
    let mut spec = ZERO_SPECTRUM;
    let mut e = [0.0f32; NB_BANDS];
    let mut total = [0.0f64; NB_BANDS];
    for frame in x.windows(WINDOW).step_by(HOP) {
        stft.analyze(frame, &mut spec);
        band_energy(&spec, &mut e);
        total
            .iter_mut()
            .zip(&e)
            .for_each(|(t, v)| *t += f64::from(*v));
    }
    total
}

#[test]
fn clean_fullband_speech_keeps_its_highs() {
    // Three sentences recorded at 44.1 kHz with content up to 19-20 kHz, no added noise.
    let clean = read_example("clean.wav");
    let out = denoise(&clean);
    let (a, b) = (long_term_bands(&clean), long_term_bands(&out));
    let first_high = BAND_CENTERS.iter().position(|&c| c * 50 > 8_000).unwrap();
    for band in first_high..NB_BANDS {
        let db = 10.0 * (b[band] / a[band]).log10();
        eprintln!("band {band} ({} Hz): {db:+.2} dB", BAND_CENTERS[band] * 50);
        assert!(
            db.abs() <= 3.0,
            "band {band} at {} Hz changed by {db:.2} dB",
            BAND_CENTERS[band] * 50
        );
    }
}

#[test]
fn noisy_example_gets_cleaner() {
    let clean = read_example("clean.wav");
    let noisy = read_example("noisy.wav");
    let out = denoise(&noisy);
    let snr = |x: &[f32]| {
        let (mut s, mut n) = (0.0f64, 0.0f64);
        for (c, y) in clean.iter().zip(x) {
            s += f64::from(*c).powi(2);
            n += f64::from(c - y).powi(2);
        }
        10.0 * (s / n).log10()
    };
    let (before, after) = (snr(&noisy), snr(&out));
    eprintln!("SNR {before:.2} dB -> {after:.2} dB");
    assert!(after > before + 5.0, "SNR {before:.2} dB -> {after:.2} dB");
}
