//! Real-time-factor measurements: CPU seconds per second of audio, per stage and in total.
//! Run through `percepnet bench`; never in tests (timings on shared machines are noisy).
//! Every network is timed in f32 and in int8 ([`Precision`]), alone and inside the engine,
//! with flush-to-zero on as on the audio thread. The same stages, timed by criterion, are in
//! `benches/engine.rs` (`cargo bench`).

use std::time::Instant;

use crate::denoiser::{BandAnalysis, Denoiser, Timeline, UnityEstimator, NB_FEATURES};
use crate::dsp::ftz::FlushToZero;
use crate::dsp::pitch::PitchTracker;
use crate::dsp::stft::{Spectrum, Stft, ZERO_SPECTRUM};
use crate::model::quant::Kernel;
use crate::model::{Network, NetworkEstimator, Precision, Shape, Weights};
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
#[derive(Clone, Debug)]
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

/// Both precisions, the reference first.
pub const PRECISIONS: [Precision; 2] = [Precision::F32, Precision::Int8];

/// `net` in precision `p`, and its label: "f32", or "int8" with the SIMD kernel it uses.
pub fn in_precision(net: &Network, p: Precision) -> (Network, String) {
    let net = net.clone().with_precision(p);
    let label = match net.kernel() {
        Some(k) => format!("int8 {}", k.name()),
        None => "f32".to_string(),
    };
    (net, label)
}

/// `net` in f32, in int8 with the fastest kernel, then in int8 with each slower SIMD kernel
/// this CPU has (for machines that lack the fastest), with their labels.
fn variants(net: &Network) -> Vec<(Network, String)> {
    let mut out: Vec<_> = PRECISIONS.iter().map(|&p| in_precision(net, p)).collect();
    let best = Kernel::best();
    for k in Kernel::available() {
        if k == best || k == Kernel::Portable {
            continue;
        }
        let mut int8 = net.clone().with_precision(Precision::Int8);
        if int8.set_kernel(k) {
            out.push((int8, format!("int8 {}", k.name())));
        }
    }
    out
}

/// Times each stage over `seconds` of audio, and the whole engine with each estimator; every
/// network of `networks` (named) is timed in f32 and in int8, whatever precision it comes in
/// (alone also with the slower SIMD kernels, in the engine with the fastest).
pub fn run(seconds: f32, networks: &[(String, Network)]) -> Vec<StageTime> {
    let _ftz = FlushToZero::new();
    let signal = test_signal(seconds);
    let hops = signal.len() / HOP;
    let secs = (hops * HOP) as f64 / SAMPLE_RATE as f64;
    let mut out = dsp_stages(&signal, secs);
    let mut push = |name: String, rtf: f64| out.push(StageTime { name, rtf });
    let features = [0.1f32; NB_FEATURES];
    for (name, net) in networks {
        for (mut net, label) in variants(net) {
            let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
            let weights = net.shape().parameter_count() as f64 / 1e6;
            let nonzero = net.nonzero_weights() as f64 / 1e6;
            let weights = if nonzero < 0.9 * weights {
                format!("{weights:.2} M weights, {nonzero:.2} M nonzero")
            } else {
                format!("{weights:.2} M weights")
            };
            let t = rtf(secs, || {
                for _ in 0..hops {
                    net.forward(std::hint::black_box(&features), &mut g, &mut r);
                }
            });
            push(format!("network {name} ({weights}), {label}"), t);
        }
    }
    let mut output = vec![0.0; signal.len()];
    let mut unity = Denoiser::new(UnityEstimator);
    push(
        "whole engine, unity gains".into(),
        rtf(secs, || unity.process(&signal, &mut output)),
    );
    for (name, net) in networks {
        for p in PRECISIONS {
            let (net, label) = in_precision(net, p);
            let mut engine = Denoiser::new(NetworkEstimator::new(net));
            let t = rtf(secs, || engine.process(&signal, &mut output));
            push(format!("whole engine, network {name}, {label}"), t);
        }
    }
    out
}

/// The DSP stages alone over `signal` (`secs` seconds of whole hops).
fn dsp_stages(signal: &[f32], secs: f64) -> Vec<StageTime> {
    let hops = signal.len() / HOP;
    let mut st = DspStages::new(signal);
    DspStages::ALL
        .iter()
        .map(|&(name, stage)| StageTime {
            name: name.into(),
            rtf: rtf(secs, || (0..hops).for_each(|_| stage(&mut st))),
        })
        .collect()
}

/// One hop's work of one stage.
pub type Stage = fn(&mut DspStages);

/// The engine's DSP stages with their state, one hop's worth of work per call, as the engine
/// does it per hop (shared by [`run`] and `benches/engine.rs`). The work is real but its
/// results are discarded, so each stage can be timed alone.
pub struct DspStages {
    signal: Vec<f32>,
    next_hop: usize,
    stft: Stft,
    spectrum: Spectrum,
    frame: [f32; WINDOW],
    synth: [f32; WINDOW],
    timeline: Timeline,
    pitch: PitchTracker,
    comb: [f32; WINDOW],
    bands: BandAnalysis,
}

impl DspStages {
    /// Every stage with its name, in engine order.
    pub const ALL: [(&'static str, Stage); 4] = [
        ("STFT (analysis x3 + synthesis)", Self::stft),
        ("pitch search + Viterbi", Self::pitch),
        ("comb filter (x2)", Self::comb),
        ("band energies + coherence (x2)", Self::bands),
    ];

    /// Stages fed from `signal` (at least one hop), hop after hop, cyclically.
    pub fn new(signal: &[f32]) -> Self {
        assert!(signal.len() >= HOP, "need at least one hop of signal");
        let mut timeline = Timeline::new();
        signal.chunks_exact(HOP).for_each(|h| timeline.push(h));
        let mut frame = [0.0; WINDOW];
        frame.copy_from_slice(timeline.window(0));
        Self {
            signal: signal.to_vec(),
            next_hop: 0,
            stft: Stft::new(),
            spectrum: ZERO_SPECTRUM,
            frame,
            synth: [0.0; WINDOW],
            timeline,
            pitch: PitchTracker::new(),
            comb: [0.0; WINDOW],
            bands: BandAnalysis::default(),
        }
    }

    /// Three analyses (the frame, and the comb-filtered frame for features and for
    /// synthesis) and one synthesis.
    pub fn stft(&mut self) {
        for _ in 0..3 {
            self.stft
                .analyze(std::hint::black_box(&self.frame), &mut self.spectrum);
        }
        self.stft.synthesize(&self.spectrum, &mut self.synth);
        std::hint::black_box(&self.synth);
    }

    /// Pushes the next hop of the signal, then the pitch search of the new frame and the
    /// Viterbi decision for the delayed one.
    pub fn pitch(&mut self) {
        let hops = self.signal.len() / HOP;
        let start = (self.next_hop % hops) * HOP;
        self.next_hop += 1;
        self.timeline.push(&self.signal[start..start + HOP]);
        std::hint::black_box(self.pitch.push_frame(self.timeline.pitch_history()));
        std::hint::black_box(self.pitch.delayed(1));
    }

    /// Two comb-filter windows (without and with lookahead), at a period that sweeps the
    /// pitch range.
    pub fn comb(&mut self) {
        let period = 100 + self.next_hop % 600;
        self.next_hop += 1;
        for lookahead in 0..2 {
            self.timeline.comb_window(lookahead, period, &mut self.comb);
            std::hint::black_box(&self.comb);
        }
    }

    /// Two band analyses (energies and pitch coherence: features and synthesis).
    pub fn bands(&mut self) {
        for _ in 0..2 {
            self.bands
                .compute(std::hint::black_box(&self.spectrum), &self.spectrum);
        }
    }
}

/// Pseudo-random weights of the full paper size (for timing only).
pub fn full_size_timing_network() -> Network {
    Network::new(Weights::pseudo_random(full_shape(), 1)).expect("valid shape")
}

/// Density of the block-sparse full-size network's GRU matrices. Training at 40 % kept the
/// shipped-size network's quality (`training/TRAINING.md`); at 30 % the full-size engine
/// stays under 2 % of a core with some margin (at 40 % it measured 2.05 %).
pub const FULL_SIZE_GRU_DENSITY: f32 = 0.3;

/// [`full_size_timing_network`] with every GRU matrix block-pruned to
/// [`FULL_SIZE_GRU_DENSITY`], as `training/train.py --gru-density` trains it (timing only).
pub fn full_size_sparse_timing_network() -> Network {
    let mut w = Weights::pseudo_random(full_shape(), 1);
    w.prune_gru_blocks(FULL_SIZE_GRU_DENSITY);
    Network::new(w).expect("valid shape")
}
