//! Real-time-factor measurements: CPU seconds per second of audio, per stage and in total.
//! Run through `percepnet bench`; never in tests (timings on shared machines are noisy).

use std::time::Instant;

use crate::denoiser::{BandAnalysis, Denoiser, Timeline, UnityEstimator, NB_FEATURES};
use crate::dsp::pitch::PitchTracker;
use crate::dsp::stft::{Stft, ZERO_SPECTRUM};
use crate::model::{Network, NetworkEstimator, Shape, Weights};
use crate::{HOP, NB_BANDS, SAMPLE_RATE, WINDOW};

/// The paper's full-size network.
pub fn full_shape() -> Shape {
    Shape {
        features: NB_FEATURES,
        bands: NB_BANDS,
        dense: 128,
        conv1: 512,
        conv1_kernel: 5,
        conv2: 512,
        conv2_kernel: 3,
        gru: 512,
        gru_layers: 3,
        head_g: 512,
        head_r: 128,
    }
}

/// A deterministic speech-like test signal: a gliding harmonic tone with noise bursts.
pub fn test_signal(seconds: f32) -> Vec<f32> {
    let n = (seconds * SAMPLE_RATE as f32) as usize;
    let mut s = 1u32;
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let t = i as f32 / SAMPLE_RATE as f32;
            let f0 = 140.0 + 60.0 * (0.5 * t).sin();
            phase += 2.0 * std::f32::consts::PI * f0 / SAMPLE_RATE as f32;
            let voiced: f32 = (1..12).map(|h| (h as f32 * phase).sin() / h as f32).sum();
            0.1 * voiced * (1.0 + (3.0 * t).sin()) + 0.02 * (s as f32 / u32::MAX as f32 - 0.5)
        })
        .collect()
}

/// One line of the report.
pub struct StageTime {
    pub name: String,
    /// CPU seconds per second of audio.
    pub rtf: f64,
}

fn rtf(seconds_audio: f64, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64() / seconds_audio
}

/// Times each stage over `seconds` of audio, and the whole engine with each estimator.
pub fn run(seconds: f32, networks: &[(String, Network)]) -> Vec<StageTime> {
    let signal = test_signal(seconds);
    let hops = signal.len() / HOP;
    let secs = (hops * HOP) as f64 / SAMPLE_RATE as f64;
    let mut out = Vec::new();
    let mut push = |name: &str, rtf: f64| {
        out.push(StageTime {
            name: name.into(),
            rtf,
        })
    };

    let mut stft = Stft::new();
    let mut spec = ZERO_SPECTRUM;
    let frame = [0.1f32; WINDOW];
    let mut synth = [0.0; WINDOW];
    push(
        "STFT (analysis x3 + synthesis)",
        rtf(secs, || {
            for _ in 0..hops {
                for _ in 0..3 {
                    stft.analyze(std::hint::black_box(&frame), &mut spec);
                }
                stft.synthesize(&spec, &mut synth);
            }
        }),
    );
    let mut timeline = Timeline::new();
    let mut pitch = PitchTracker::new();
    push(
        "pitch search + Viterbi",
        rtf(secs, || {
            for hop in signal.chunks_exact(HOP) {
                timeline.push(hop);
                std::hint::black_box(pitch.push_frame(timeline.pitch_history()));
                std::hint::black_box(pitch.delayed(1));
            }
        }),
    );
    let mut comb = [0.0; WINDOW];
    push(
        "comb filter (x2)",
        rtf(secs, || {
            for j in 0..hops {
                for la in 0..2 {
                    timeline.comb_window(la, 100 + j % 600, &mut comb);
                    std::hint::black_box(&comb);
                }
            }
        }),
    );
    let mut bands = BandAnalysis::default();
    push(
        "band energies + coherence (x2)",
        rtf(secs, || {
            for _ in 0..hops {
                for _ in 0..2 {
                    bands.compute(std::hint::black_box(&spec), &spec);
                }
            }
        }),
    );
    let features = [0.1f32; NB_FEATURES];
    for (name, net) in networks {
        let mut net = net.clone();
        let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
        push(
            &format!(
                "network {name} ({:.2} M weights)",
                net.shape().parameter_count() as f64 / 1e6
            ),
            rtf(secs, || {
                for _ in 0..hops {
                    net.forward(std::hint::black_box(&features), &mut g, &mut r);
                }
            }),
        );
    }
    let mut output = vec![0.0; signal.len()];
    let mut unity = Denoiser::new(UnityEstimator);
    push(
        "whole engine, unity gains",
        rtf(secs, || unity.process(&signal, &mut output)),
    );
    for (name, net) in networks {
        let mut engine = Denoiser::new(NetworkEstimator::new(net.clone()));
        push(
            &format!("whole engine, network {name}"),
            rtf(secs, || engine.process(&signal, &mut output)),
        );
    }
    out
}

/// Pseudo-random weights of the full paper size (for timing only).
pub fn full_size_timing_network() -> Network {
    Network::new(Weights::pseudo_random(full_shape(), 1)).expect("valid shape")
}
