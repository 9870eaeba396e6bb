//! Real-time-factor measurements: CPU seconds per second of audio, per stage and in total.
//! Run through `percepnet bench`; never in tests (timings on shared machines are noisy).
//! Every network is timed in f32 and in int8 ([`Precision`]), alone and inside the engine,
//! with flush-to-zero on as on the audio thread. The same stages, timed by criterion, are in
//! `benches/engine.rs` (`cargo bench`); [`kernel_report`] times one matrix product per kernel.
//!
//! Timing method. The clock is the thread's CPU time (Linux; wall time elsewhere): on a
//! shared machine the wall clock also counts the time the benchmark waits for the CPU while
//! others run (all the more under `nice`), which inflated whichever row was running when the
//! load rose. Every row is timed in [`ROUNDS`] rounds, the rounds of all rows interleaved
//! (row 1, row 2, ..., row 1, row 2, ...), and the fastest round counts, so slow drifts of the
//! machine's speed (caches and memory bandwidth shared with other work) reach every row alike.
//! One long wall-clock run per row, one row after the other (as before), measured the whole
//! engine and the stages it is made of minutes apart, under different loads: the engine came
//! out 1.5-2x the sum of its stages on the 2-core development machine. Measured together, the
//! two agree within a few per cent. The stages cover everything the engine does per hop
//! ([`DspStages::ALL`], the last one being the engine's remaining per-hop work: features,
//! pitch-filter mix, post-filter, band gains, overlap-add), and for each network a row gives
//! the sum of the stages and the network alone, next to the whole engine; [`ProfiledEngine`]
//! times the same parts inside the engine, where they run. What remains of the gap (15-39 %
//! with the shipped network on the development machine) is the caches: in place, the network
//! costs about 15 % more than alone and the DSP parts 20-100 % more, as every hop the network's
//! 2.09 MB of int8 weights (more than the 2 MB L2) evict the DSP's data and the DSP's data
//! evict part of the weights; the parts in place add up to the whole (no copies, allocations
//! or other work outside them), and without a network the engine costs the sum of its
//! stages. One more row per network runs the engine offline as the CLI does
//! ([`Denoiser::process_batched_with`], 16 frames per network call): the weights then stream in
//! once per 16 frames, which removes most of that cache cost and some of the network's own.
use std::time::Instant;

mod kernels;
mod stages;

pub use kernels::{
    full_size_sparse_timing_network, full_size_timing_network, kernel_report, time_ns,
    FULL_SIZE_GRU_DENSITY,
};
pub use stages::{DspStages, ProfiledEngine, Stage};

use crate::denoiser::{Denoiser, UnityEstimator, NB_FEATURES};
use crate::dsp::ftz::FlushToZero;
use crate::model::quant::Kernel;
use crate::model::{Network, NetworkEstimator, Precision, Shape};
use crate::{HOP, NB_BANDS, SAMPLE_RATE};

/// Rounds each row of [`run`] is timed in (interleaved with the other rows; the fastest
/// counts).
pub const ROUNDS: usize = 8;

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

/// An engine's `process`, boxed so that engines of different estimators share a row type.
type EngineFn = dyn FnMut(&[f32], &mut [f32]);

/// One row being timed: its name and one round's work (`hops` hops of audio).
struct Row<'a> {
    name: String,
    round: Box<dyn FnMut() + 'a>,
    best: f64,
}

/// Times every row in [`ROUNDS`] interleaved rounds of `secs` seconds of audio each; the
/// fastest round of each row is its real-time factor (in CPU time, see [`Clock`]).
fn time_rows(rows: &mut [Row], secs: f64) {
    for _ in 0..ROUNDS {
        for row in rows.iter_mut() {
            let t = Clock::now();
            (row.round)();
            row.best = row.best.min(t.cpu_elapsed() / secs);
        }
    }
}

/// The thread's CPU time and the wall time at one instant.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall: Instant,
    cpu: Option<f64>,
}

impl Clock {
    pub fn now() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu_seconds(),
        }
    }

    /// Seconds of this thread's CPU time since `self` (wall time where the platform gives no
    /// thread CPU time).
    pub fn cpu_elapsed(&self) -> f64 {
        match (self.cpu, thread_cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => self.wall_elapsed(),
        }
    }

    /// Wall-clock seconds since `self`.
    pub fn wall_elapsed(&self) -> f64 {
        self.wall.elapsed().as_secs_f64()
    }
}

/// This thread's CPU time in seconds (`CLOCK_THREAD_CPUTIME_ID`; a system call, about a
/// microsecond: once per round, not per hop).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_seconds() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime (the C library's, linked by std) writes one timespec, whose
    // layout on 64-bit Linux is two 64-bit integers, to a valid pointer.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_seconds() -> Option<f64> {
    None
}

fn row<'a>(name: String, round: impl FnMut() + 'a) -> Row<'a> {
    Row {
        name,
        round: Box::new(round),
        best: f64::INFINITY,
    }
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

/// Times each stage over `seconds` of audio (in [`ROUNDS`] interleaved rounds, see the module
/// documentation), the networks alone, the whole engine with each estimator, and for each
/// network the sum of the stages and the network alone (to compare with the whole engine).
/// Every network of `networks` (named) is timed in f32 and in int8, whatever precision it
/// comes in: alone also with the slower SIMD kernels this CPU has, the label saying which
/// kernel the dispatcher picks; in the engine with the dispatcher's pick.
pub fn run(seconds: f32, networks: &[(String, Network)]) -> Vec<StageTime> {
    let _ftz = FlushToZero::new();
    let signal = test_signal(seconds);
    let hops = signal.len() / HOP;
    let per_round = (hops / ROUNDS).max(1);
    let secs = (per_round * HOP) as f64 / SAMPLE_RATE as f64;
    let features = [0.1f32; NB_FEATURES];
    let mut rows = Vec::new();
    // The DSP stages, each with its own state, hop after hop through the signal.
    for (name, stage) in DspStages::ALL {
        let mut st = DspStages::new(&signal);
        rows.push(row(name.into(), move || {
            (0..per_round).for_each(|_| stage(&mut st));
        }));
    }
    let dsp_rows = rows.len();
    // The networks alone: (network index, precision, row) of the engine's variant.
    let mut alone = Vec::new();
    for (n, (name, net)) in networks.iter().enumerate() {
        for (mut net, label, p) in variants(net) {
            let weights = net.shape().parameter_count() as f64 / 1e6;
            let nonzero = net.nonzero_weights() as f64 / 1e6;
            let weights = if nonzero < 0.9 * weights {
                format!("{weights:.2} M weights, {nonzero:.2} M nonzero")
            } else {
                format!("{weights:.2} M weights")
            };
            if net.kernel().is_none_or(|k| k == Kernel::best()) {
                alone.push((n, p, rows.len()));
            }
            let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
            rows.push(row(
                format!("network {name} ({weights}), {label}"),
                move || {
                    for _ in 0..per_round {
                        net.forward(std::hint::black_box(&features), &mut g, &mut r);
                    }
                },
            ));
        }
    }
    // The whole engine, cycling through the signal.
    let chunk = per_round * HOP;
    let engine_round = |mut engine: Box<EngineFn>| {
        let mut out = vec![0.0; chunk];
        let mut pos = 0;
        let signal = &signal;
        move || {
            if pos + chunk > signal.len() {
                pos = 0;
            }
            engine(&signal[pos..pos + chunk], &mut out);
            pos += chunk;
        }
    };
    let mut unity = Denoiser::new(UnityEstimator);
    rows.push(row(
        "whole engine, unity gains".into(),
        engine_round(Box::new(move |i, o| unity.process(i, o))),
    ));
    let mut engines = Vec::new();
    for (n, (name, net)) in networks.iter().enumerate() {
        for p in PRECISIONS {
            let (net, label) = in_precision(net, p);
            let mut engine = Denoiser::new(NetworkEstimator::new(net));
            engines.push((n, p, rows.len(), format!("{name}, {label}")));
            rows.push(row(
                format!("whole engine, network {name}, {label}"),
                engine_round(Box::new(move |i, o| engine.process(i, o))),
            ));
        }
        // Offline, as the CLI runs it: 16 frames per network call, the same output.
        let (net, label) = in_precision(net, Precision::Int8);
        let mut engine = Denoiser::new(NetworkEstimator::new(net));
        rows.push(row(
            format!("whole engine offline (batched, as the CLI), network {name}, {label}"),
            engine_round(Box::new(move |i, o| {
                engine.process_batched_with(i, o, |_, _| {})
            })),
        ));
    }
    // The engine timed part by part in place (int8, the dispatcher's kernel): one list of
    // part times per round.
    let mut profiled = Vec::new();
    for (name, net) in networks {
        let (net, label) = in_precision(net, Precision::Int8);
        let rounds = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let parts = std::rc::Rc::clone(&rounds);
        let mut engine = ProfiledEngine::new(net);
        let mut out = [0.0; HOP];
        let mut hop = 0;
        let signal_ref = &signal;
        profiled.push((format!("{name}, {label}"), rounds));
        rows.push(row(
            format!("whole engine timed in place, network {name}, {label}"),
            move || {
                for _ in 0..per_round {
                    if (hop + 1) * HOP > signal_ref.len() {
                        hop = 0;
                    }
                    engine.process_hop(&signal_ref[hop * HOP..(hop + 1) * HOP], &mut out);
                    hop += 1;
                }
                parts.borrow_mut().extend(engine.per_part());
            },
        ));
    }
    time_rows(&mut rows, secs);
    let dsp: f64 = rows[..dsp_rows].iter().map(|r| r.best).sum();
    let mut out: Vec<StageTime> = rows
        .iter()
        .map(|r| StageTime {
            name: r.name.clone(),
            rtf: r.best,
        })
        .collect();
    out.insert(
        dsp_rows,
        StageTime {
            name: "sum of the DSP stages".into(),
            rtf: dsp,
        },
    );
    for (label, rounds) in profiled {
        let rounds = rounds.borrow();
        let total = |r: &[f64; 6]| r.iter().sum::<f64>();
        let hop_secs = HOP as f64 / f64::from(SAMPLE_RATE);
        if let Some(best) = rounds.iter().min_by(|a, b| total(a).total_cmp(&total(b))) {
            for (part, t) in ProfiledEngine::PARTS.iter().zip(best) {
                out.push(StageTime {
                    name: format!("in the engine, network {label}: {part}"),
                    rtf: t / hop_secs,
                });
            }
            out.push(StageTime {
                name: format!("in the engine, network {label}: sum of the parts"),
                rtf: total(best) / hop_secs,
            });
        }
    }
    for (n, p, _, label) in engines {
        if let Some(&(_, _, i)) = alone.iter().find(|&&(m, q, _)| m == n && q == p) {
            out.push(StageTime {
                name: format!("sum of the DSP stages and the network alone, {label}"),
                rtf: dsp + rows[i].best,
            });
        }
    }
    out
}

/// `net` in f32, in int8 with the kernel the dispatcher picks (labelled so), then in int8
/// with each other SIMD kernel this CPU has, with their labels and precisions.
fn variants(net: &Network) -> Vec<(Network, String, Precision)> {
    let mut out: Vec<_> = PRECISIONS
        .iter()
        .map(|&p| {
            let (net, label) = in_precision(net, p);
            let label = match p {
                Precision::Int8 => format!("{label} (the dispatcher's pick)"),
                Precision::F32 => label,
            };
            (net, label, p)
        })
        .collect();
    let best = Kernel::best();
    for k in Kernel::available() {
        if k == best || k == Kernel::Portable {
            continue;
        }
        let mut int8 = net.clone().with_precision(Precision::Int8);
        if int8.set_kernel(k) {
            out.push((int8, format!("int8 {}", k.name()), Precision::Int8));
        }
    }
    out
}
