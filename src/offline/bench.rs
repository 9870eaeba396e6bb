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
//! times the same parts inside the engine, where they run. What remains of the gap (10-15 %
//! with the shipped network on the development machine) is the caches: in place, the DSP
//! parts and the network each cost about 10 % more than alone, as every hop the network's
//! 2.09 MB of int8 weights (more than the 2 MB L2) evict the DSP's data and the DSP's data
//! evict part of the weights; the parts in place add up to the whole (no copies, allocations
//! or other work outside them), and without a network the engine costs the sum of its
//! stages.

use std::time::Instant;

use crate::denoiser::{
    apply_band_gains, compute_features, mix_pitch_filter, BandAnalysis, BandGains, Denoiser,
    DenoiserParams, Timeline, UnityEstimator, NB_FEATURES,
};
use crate::dsp::ftz::FlushToZero;
use crate::dsp::pitch::{PitchEstimate, PitchTracker};
use crate::dsp::postfilter;
use crate::dsp::stft::{OverlapAdd, Spectrum, Stft, ZERO_SPECTRUM};
use crate::model::quant::{sparse, Kernel, QuantMatrix};
use crate::model::{layers, Network, NetworkEstimator, Precision, Shape, Weights};
use crate::{HOP, LOOKAHEAD_FRAMES, NB_BANDS, SAMPLE_RATE, WINDOW};

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
    /// The rest of the engine's work: its inputs and outputs.
    comb_spectrum: Spectrum,
    mixed: Spectrum,
    features: [f32; NB_FEATURES],
    gains: BandGains,
    ola: OverlapAdd,
    hop_in: [f32; HOP],
    hop_out: [f32; HOP],
}

impl DspStages {
    /// Every stage with its name, in engine order.
    pub const ALL: [(&'static str, Stage); 5] = [
        ("STFT (analysis x3 + synthesis)", Self::stft),
        ("pitch search + Viterbi", Self::pitch),
        ("comb filter (x2)", Self::comb),
        ("band energies + coherence (x2)", Self::bands),
        (
            "rest: features, pitch-filter mix, post-filter, gains, overlap-add",
            Self::rest,
        ),
    ];

    /// Stages fed from `signal` (at least one hop), hop after hop, cyclically.
    pub fn new(signal: &[f32]) -> Self {
        assert!(signal.len() >= HOP, "need at least one hop of signal");
        let mut timeline = Timeline::new();
        signal.chunks_exact(HOP).for_each(|h| timeline.push(h));
        let mut frame = [0.0; WINDOW];
        frame.copy_from_slice(timeline.window(0));
        let mut stft = Stft::new();
        let (mut spectrum, mut comb_spectrum) = (ZERO_SPECTRUM, ZERO_SPECTRUM);
        stft.analyze(&frame, &mut spectrum);
        stft.analyze(timeline.window(1), &mut comb_spectrum);
        let mut bands = BandAnalysis::default();
        bands.compute(&spectrum, &comb_spectrum);
        let mut gains = BandGains::default();
        for (b, (g, r)) in gains.gain.iter_mut().zip(&mut gains.strength).enumerate() {
            *g = 0.2 + 0.02 * b as f32;
            *r = 0.5 - 0.01 * b as f32;
        }
        Self {
            signal: signal.to_vec(),
            next_hop: 0,
            stft,
            spectrum,
            frame,
            synth: [0.0; WINDOW],
            timeline,
            pitch: PitchTracker::new(),
            comb: [0.0; WINDOW],
            bands,
            comb_spectrum,
            mixed: ZERO_SPECTRUM,
            features: [0.0; NB_FEATURES],
            gains,
            ola: OverlapAdd::new(),
            hop_in: [0.0; HOP],
            hop_out: [0.0; HOP],
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

    /// The engine's remaining per-hop work: the features, the re-blocking copies, the
    /// pitch-filter mix, the post-filter and attenuation floor, the band gains and the
    /// overlap-add (what `Denoiser::process_hop` does besides the other stages and the
    /// estimator).
    pub fn rest(&mut self) {
        let pitch = PitchEstimate {
            period: 100 + self.next_hop % 600,
            correlation: 0.7,
        };
        self.next_hop += 1;
        let hops = self.signal.len() / HOP;
        let start = (self.next_hop % hops) * HOP;
        self.hop_in
            .copy_from_slice(std::hint::black_box(&self.signal[start..start + HOP]));
        compute_features(&self.bands, pitch, &mut self.features);
        let mut g = self.gains;
        let floor = postfilter::attenuation_floor(100.0);
        g.strength.iter_mut().for_each(|r| *r *= 1.0 - floor);
        mix_pitch_filter(
            std::hint::black_box(&self.spectrum),
            &self.comb_spectrum,
            &g.strength,
            &self.bands.ex,
            &mut self.mixed,
        );
        postfilter::envelope_postfilter(&mut g.gain, &self.bands.ex, 1.0);
        postfilter::apply_floor(&mut g.gain, floor);
        apply_band_gains(&g.gain, &mut self.mixed);
        self.ola
            .push(std::hint::black_box(&self.synth), &mut self.hop_out);
        std::hint::black_box((&self.features, &self.mixed, &self.hop_out, &self.hop_in));
    }
}

/// The engine's per-hop work with a network, part by part as [`DspStages::ALL`] divides it
/// (then the network), each part timed where it runs: a copy of `Denoiser::process_hop` with
/// clock readings between the parts (about 14 per hop, well under 1 % of a hop's time). Its
/// output is the engine's, bit for bit (tested). [`run`] uses it to show where the whole
/// engine's time goes, next to the same parts timed alone.
pub struct ProfiledEngine {
    net: Network,
    params: DenoiserParams,
    timeline: Timeline,
    stft: Stft,
    pitch: PitchTracker,
    ola: OverlapAdd,
    spectra: [Spectrum; LOOKAHEAD_FRAMES + 1],
    frame: usize,
    comb_buf: [f32; WINDOW],
    p: Spectrum,
    y: Spectrum,
    synth: [f32; WINDOW],
    newest: BandAnalysis,
    delayed: BandAnalysis,
    features: [f32; NB_FEATURES],
    gains: BandGains,
    /// Wall-clock seconds spent in each of [`ProfiledEngine::PARTS`], per hop since the last
    /// [`ProfiledEngine::per_part`].
    hops: Vec<[f64; 6]>,
}

impl ProfiledEngine {
    /// The parts: the stages of [`DspStages::ALL`], then the network.
    pub const PARTS: [&'static str; 6] = [
        DspStages::ALL[0].0,
        DspStages::ALL[1].0,
        DspStages::ALL[2].0,
        DspStages::ALL[3].0,
        DspStages::ALL[4].0,
        "network",
    ];

    pub fn new(net: Network) -> Self {
        Self {
            net,
            params: DenoiserParams::default(),
            timeline: Timeline::new(),
            stft: Stft::new(),
            pitch: PitchTracker::new(),
            ola: OverlapAdd::new(),
            spectra: [ZERO_SPECTRUM; LOOKAHEAD_FRAMES + 1],
            frame: 0,
            comb_buf: [0.0; WINDOW],
            p: ZERO_SPECTRUM,
            y: ZERO_SPECTRUM,
            synth: [0.0; WINDOW],
            newest: BandAnalysis::default(),
            delayed: BandAnalysis::default(),
            features: [0.0; NB_FEATURES],
            gains: BandGains::default(),
            hops: Vec::new(),
        }
    }

    /// Mean seconds per hop spent in each part since the last call, over the hops that took
    /// at most 3 times the median hop: the parts are timed on the wall clock (a CPU-time
    /// reading per part would cost more than some parts), and a hop during which the thread
    /// was descheduled (milliseconds, against a tenth of one for a hop) would put that wait
    /// into whichever part was running. `None` if no hop ran.
    pub fn per_part(&mut self) -> Option<[f64; 6]> {
        let total = |h: &[f64; 6]| h.iter().sum::<f64>();
        let mut totals: Vec<f64> = self.hops.iter().map(total).collect();
        totals.sort_by(f64::total_cmp);
        let median = *totals.get(totals.len() / 2)?;
        let kept: Vec<&[f64; 6]> = self
            .hops
            .iter()
            .filter(|h| total(h) <= 3.0 * median)
            .collect();
        let mut mean = [0.0; 6];
        for h in &kept {
            for (m, t) in mean.iter_mut().zip(h.iter()) {
                *m += t / kept.len() as f64;
            }
        }
        self.hops.clear();
        Some(mean)
    }

    /// `Denoiser::process_hop`, part by part.
    pub fn process_hop(&mut self, input: &[f32], output: &mut [f32]) {
        const STFT: usize = 0;
        const PITCH: usize = 1;
        const COMB: usize = 2;
        const BANDS: usize = 3;
        const REST: usize = 4;
        const NETWORK: usize = 5;
        let mut t = Instant::now();
        let mut lap = |times: &mut [f64; 6], part: usize| {
            let now = Instant::now();
            times[part] += (now - t).as_secs_f64();
            t = now;
        };
        let mut hop_times = [0.0f64; 6];
        let times = &mut hop_times;
        self.timeline.push(input);
        let slots = self.spectra.len();
        let newest = self.frame % slots;
        let delayed = (self.frame + 1) % slots;
        self.frame = self.frame.wrapping_add(1);
        let pitch_j = self.pitch.push_frame(self.timeline.pitch_history());
        lap(times, PITCH);
        self.stft
            .analyze(self.timeline.window(0), &mut self.spectra[newest]);
        lap(times, STFT);
        self.timeline
            .comb_window(0, pitch_j.period, &mut self.comb_buf);
        lap(times, COMB);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        lap(times, STFT);
        self.newest.compute(&self.spectra[newest], &self.p);
        lap(times, BANDS);
        compute_features(&self.newest, pitch_j, &mut self.features);
        lap(times, REST);
        let pitch_t = self.pitch.delayed(LOOKAHEAD_FRAMES);
        self.timeline
            .comb_window(LOOKAHEAD_FRAMES, pitch_t.period, &mut self.comb_buf);
        lap(times, COMB);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        lap(times, STFT);
        let x = &self.spectra[delayed];
        self.delayed.compute(x, &self.p);
        lap(times, BANDS);
        self.net.forward(
            &self.features,
            &mut self.gains.gain,
            &mut self.gains.strength,
        );
        lap(times, NETWORK);
        let mut g = self.gains;
        for v in g.gain.iter_mut().chain(g.strength.iter_mut()) {
            *v = if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
        }
        let floor = postfilter::attenuation_floor(self.params.attenuation_limit_db);
        g.strength.iter_mut().for_each(|r| *r *= 1.0 - floor);
        mix_pitch_filter(x, &self.p, &g.strength, &self.delayed.ex, &mut self.y);
        postfilter::envelope_postfilter(&mut g.gain, &self.delayed.ex, self.params.post_filter);
        postfilter::apply_floor(&mut g.gain, floor);
        apply_band_gains(&g.gain, &mut self.y);
        lap(times, REST);
        self.stft.synthesize(&self.y, &mut self.synth);
        lap(times, STFT);
        self.ola.push(&self.synth, output);
        lap(times, REST);
        self.hops.push(hop_times);
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

/// Deterministic values in [-1, 1) (xorshift32).
fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// Nanoseconds per call of `f`: the best of several timed batches (shared machines are noisy).
pub fn time_ns(mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    let mut calls = 0u32;
    while t.elapsed().as_millis() < 5 {
        f();
        calls += 1;
    }
    let calls = calls.max(1);
    (0..20)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(calls)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Timings of one 1536 x 512 product (a full-size GRU's three gates) and of the shipped
/// network's 14 int8 matrices one after the other (2.09 MB of weights, more than a 2 MB L2):
/// nanoseconds per call for the f32 [`layers::matvec`] and for every kernel this CPU can run,
/// dense and block-sparse. Takes a few seconds; `cargo test --release --test quant --
/// --ignored kernel_timings --nocapture` prints it.
pub fn kernel_report() -> Vec<(String, f64)> {
    use std::hint::black_box;
    let (rows, cols) = (1536, 512);
    let w: Vec<f32> = pseudo_random(rows * cols, 1)
        .iter()
        .map(|v| v * 0.1)
        .collect();
    let bias = vec![0.0; rows];
    let x = pseudo_random(cols, 2);
    let mut y = vec![0.0; rows];
    let mut out = vec![(
        "1536 x 512, f32 layers::matvec".to_string(),
        time_ns(|| layers::matvec(black_box(&w), &bias, black_box(&x), &mut y)),
    )];
    let m = QuantMatrix::new(&w, rows, cols);
    for k in Kernel::available() {
        let m = m.clone().with_kernel(k).expect("kernel is available");
        let name = format!("1536 x 512, {}", k.name());
        out.push((name, time_ns(|| m.matvec(black_box(&x), &mut y))));
    }
    for density in [0.5, 0.4, 0.25] {
        let mut pruned = w.clone();
        sparse::prune_blocks(&mut pruned, rows, cols, density);
        let m = QuantMatrix::new(&pruned, rows, cols);
        for k in Kernel::available() {
            let m = m.clone().with_kernel(k).expect("kernel is available");
            let name = format!(
                "1536 x 512, {} block-sparse {:.0} %",
                k.name(),
                100.0 * density
            );
            out.push((name, time_ns(|| m.matvec(black_box(&x), &mut y))));
        }
    }
    let shapes = [(256, 640), (256, 768)]
        .into_iter()
        .chain([(768, 256); 8])
        .chain([(384, 256), (384, 128), (34, 256), (34, 128)]);
    let net: Vec<(QuantMatrix, Vec<f32>, Vec<f32>)> = shapes
        .enumerate()
        .map(|(i, (r, c))| {
            let w = pseudo_random(r * c, 10 + i as u32);
            (
                QuantMatrix::new(&w, r, c),
                pseudo_random(c, 50 + i as u32),
                vec![0.0; r],
            )
        })
        .collect();
    for k in Kernel::available() {
        let mut net: Vec<_> = net
            .iter()
            .map(|(m, x, y)| (m.clone().with_kernel(k).expect("available"), x, y.clone()))
            .collect();
        let name = format!("shipped network's 14 matrices, {}", k.name());
        out.push((
            name,
            time_ns(|| {
                for (m, x, y) in net.iter_mut() {
                    m.matvec(black_box(x), y);
                }
            }),
        ));
    }
    #[cfg(target_arch = "x86_64")]
    out.extend(f32_input::compare());
    out
}

/// The alternative design, measured once to choose: int8 weights converted to f32 in the
/// kernel and multiplied with the f32 input (AVX2 + FMA), no input quantisation. Its rows in
/// [`kernel_report`] give its time and its error against the int8-input product.
#[cfg(target_arch = "x86_64")]
mod f32_input {
    use super::{pseudo_random, time_ns};
    use crate::model::layers;
    use crate::model::quant::QuantMatrix;
    use std::arch::x86_64::*;

    /// Safety: AVX2 and FMA available, `x.len() >= m.cols()`, `y.len() == m.rows()`, rows a
    /// multiple of 4, and the padded columns a multiple of 8.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn matvec(m: &QuantMatrix, x: &[f32], y: &mut [f32]) {
        let (q, s, stride, cols) = (m.weights(), m.scales(), m.padded_cols(), m.cols());
        let n = cols / 8 * 8;
        let conv =
            |p: *const i8| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())));
        for r in (0..m.rows()).step_by(4) {
            let w = q.as_ptr().add(r * stride);
            let mut a = [_mm256_setzero_ps(); 4];
            let mut k = 0;
            while k < n {
                let xv = _mm256_loadu_ps(x.as_ptr().add(k));
                for (i, acc) in a.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(conv(w.add(i * stride + k)), xv, *acc);
                }
                k += 8;
            }
            for (i, acc) in a.iter().enumerate() {
                let mut lanes = [0.0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
                let tail: f32 = (n..cols)
                    .map(|j| f32::from(q[(r + i) * stride + j]) * x[j])
                    .sum();
                y[r + i] = s[r + i] * (lanes.iter().sum::<f32>() + tail);
            }
        }
    }

    /// Its time on 1536 x 512 and the relative RMS errors of both designs against f32.
    pub fn compare() -> Vec<(String, f64)> {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return Vec::new();
        }
        let (rows, cols) = (1536, 512);
        let w: Vec<f32> = pseudo_random(rows * cols, 7)
            .iter()
            .map(|v| v * 0.05)
            .collect();
        let m = QuantMatrix::new(&w, rows, cols);
        let mut y = vec![0.0; rows];
        let x0 = || pseudo_random(cols, 11);
        let x = x0();
        // SAFETY: features checked above; 1536 rows, 512 columns.
        let ns = time_ns(|| unsafe { matvec(&m, std::hint::black_box(&x), &mut y) });
        let mut out = vec![(
            "1536 x 512, avx2+fma f32 input (design not taken)".into(),
            ns,
        )];
        let rel = |y: &[f32], r: &[f32]| {
            let e: f64 = y.iter().zip(r).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            let n: f64 = r.iter().map(|b| f64::from(*b).powi(2)).sum();
            (e / n).sqrt()
        };
        let mut reference = vec![0.0; rows];
        let mut outlier = x0();
        outlier[100] = 8.0;
        for (name, x) in [("tanh-like", x0()), ("outlier x8", outlier)] {
            layers::matvec(&w, &vec![0.0; rows], &x, &mut reference);
            m.matvec(&x, &mut y);
            out.push((
                format!("relative RMS error x 1e6, {name}, int8 input"),
                1e6 * rel(&y, &reference),
            ));
            // SAFETY: as above.
            unsafe { matvec(&m, &x, &mut y) };
            out.push((
                format!("relative RMS error x 1e6, {name}, f32 input"),
                1e6 * rel(&y, &reference),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::embedded_network;

    /// The profiled copy of the engine computes what the engine computes, bit for bit.
    #[test]
    fn profiled_engine_is_the_engine() {
        let net = embedded_network()
            .expect("embedded weights")
            .with_precision(Precision::Int8);
        let mut engine = Denoiser::new(NetworkEstimator::new(net.clone()));
        let mut profiled = ProfiledEngine::new(net);
        let signal = test_signal(1.5);
        let (mut a, mut b) = ([0.0f32; HOP], [0.0f32; HOP]);
        let mut energy = 0.0;
        for hop in signal.chunks_exact(HOP) {
            engine.process_hop(hop, &mut a);
            profiled.process_hop(hop, &mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            energy += a.iter().map(|v| v * v).sum::<f32>();
        }
        assert!(energy > 1.0, "the engine produced a signal");
        let parts = profiled.per_part().expect("hops ran");
        assert!(parts.iter().all(|&t| t > 0.0));
        assert_eq!(profiled.per_part(), None);
    }
}
