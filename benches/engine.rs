//! Criterion benchmarks of the engine (`cargo bench --bench engine`): the whole engine per hop
//! with each estimator, each DSP stage per hop, the networks alone per frame, and one
//! full-size GRU product per kernel. One hop is 10 ms of audio, so the real-time factor is
//! the time per hop divided by 10 ms (100 µs per hop = RTF 0.01). `percepnet bench` prints
//! the same numbers as a table of real-time factors.
//!
//! Short settings (a few seconds per benchmark) so the whole run takes a few minutes on a
//! shared 2-core machine; flush-to-zero is on, as on the audio thread.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use percepnet::denoiser::{Denoiser, GainEstimator, UnityEstimator, NB_FEATURES};
use percepnet::dsp::ftz::FlushToZero;
use percepnet::model::quant::sparse::prune_blocks;
use percepnet::model::quant::{Kernel, QuantMatrix};
use percepnet::model::{embedded_network, Network, NetworkEstimator};
use percepnet::offline::bench::{
    full_size_sparse_timing_network, full_size_timing_network, in_precision, test_signal,
    DspStages, FULL_SIZE_GRU_DENSITY, PRECISIONS,
};
use percepnet::{HOP, NB_BANDS};

/// Seconds of test signal the engine and the stages cycle through.
const SIGNAL_SECONDS: f32 = 10.0;

/// The networks timed: the shipped one and the full paper size (timing weights).
fn networks() -> Vec<(&'static str, Network)> {
    vec![
        ("shipped", embedded_network().expect("embedded weights")),
        ("full-size", full_size_timing_network()),
        ("full-size block-sparse", full_size_sparse_timing_network()),
    ]
}

/// Times one hop of `engine`, cycling through the test signal.
fn engine_hop<E: GainEstimator>(c: &mut Criterion, name: &str, mut engine: Denoiser<E>) {
    let signal = test_signal(SIGNAL_SECONDS);
    let mut hops = signal.chunks_exact(HOP).cycle();
    let mut out = [0.0; HOP];
    c.bench_function(&format!("engine per hop/{name}"), |b| {
        b.iter(|| engine.process_hop(black_box(hops.next().expect("cycle")), &mut out))
    });
}

fn whole_engine(c: &mut Criterion) {
    let _ftz = FlushToZero::new();
    engine_hop(c, "unity gains", Denoiser::new(UnityEstimator));
    for (name, net) in networks() {
        for p in PRECISIONS {
            let (net, label) = in_precision(&net, p);
            let engine = Denoiser::new(NetworkEstimator::new(net));
            engine_hop(c, &format!("{name} {label}"), engine);
        }
    }
}

fn dsp_stages(c: &mut Criterion) {
    let _ftz = FlushToZero::new();
    let mut st = DspStages::new(&test_signal(SIGNAL_SECONDS));
    for (name, stage) in DspStages::ALL {
        c.bench_function(&format!("stage per hop/{name}"), |b| {
            b.iter(|| stage(&mut st))
        });
    }
}

fn network_alone(c: &mut Criterion) {
    let _ftz = FlushToZero::new();
    let features = [0.1f32; NB_FEATURES];
    let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
    for (name, net) in networks() {
        for p in PRECISIONS {
            let (mut net, label) = in_precision(&net, p);
            c.bench_function(&format!("network per frame/{name} {label}"), |b| {
                b.iter(|| net.forward(black_box(&features), &mut g, &mut r))
            });
        }
    }
}

/// y = W x for the full-size GRU's W_ih (1536 x 512), f32 and every kernel this CPU has,
/// dense and block-sparse at the full-size network's GRU density.
fn gru_product(c: &mut Criterion) {
    let _ftz = FlushToZero::new();
    let (rows, cols) = (1536, 512);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let x: Vec<f32> = (0..cols)
        .map(|i| ((i * 31) % 17) as f32 / 8.5 - 1.0)
        .collect();
    let (bias, mut y) = (vec![0.0; rows], vec![0.0; rows]);
    c.bench_function("matvec 1536x512/f32", |b| {
        b.iter(|| percepnet::model::layers::matvec(&w, &bias, black_box(&x), &mut y))
    });
    let m = QuantMatrix::new(&w, rows, cols);
    for k in Kernel::available() {
        let m = m.clone().with_kernel(k).expect("available");
        c.bench_function(&format!("matvec 1536x512/int8 {}", k.name()), |b| {
            b.iter(|| m.matvec(black_box(&x), &mut y))
        });
    }
    let mut pruned = w.clone();
    prune_blocks(&mut pruned, rows, cols, FULL_SIZE_GRU_DENSITY);
    let m = QuantMatrix::new(&pruned, rows, cols);
    assert!(
        m.block_density().is_some(),
        "pruned matrix runs block-sparse"
    );
    for k in Kernel::available() {
        let m = m.clone().with_kernel(k).expect("available");
        let name = format!("matvec 1536x512/int8 {} block-sparse", k.name());
        c.bench_function(&name, |b| b.iter(|| m.matvec(black_box(&x), &mut y)));
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = engine;
    config = config();
    targets = whole_engine, dsp_stages, network_alone, gru_product
}
criterion_main!(engine);
