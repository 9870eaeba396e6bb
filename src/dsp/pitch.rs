//! Pitch search with Viterbi tracking (PERCEPNET.md, "Pitch").
//!
//! Symbols: x(n) the input at 48 kHz, T a period in samples at 48 kHz, L a lag in samples of
//! the decimated (12 kHz) signal, so T ~ D L with D = [`DECIMATION`]. The normalised
//! correlation of a window of length N ending at sample e is
//!
//!   rho(T) = sum_{n=e-N}^{e-1} x(n) x(n-T) / sqrt( sum x(n)^2 * sum x(n-T)^2 ).
//!
//! Per hop (one call of [`PitchTracker::push_frame`]):
//! 1. Sanitise the history (non-finite -> 0, clamp, flush tiny values) and remove its mean.
//! 2. Low-pass it at 48 kHz (windowed-sinc FIR, cutoff [`LOWPASS_CUTOFF_HZ`]) and keep every
//!    D-th sample: the 12 kHz signal y(k).
//! 3. Whiten y with a short LPC predictor (order [`LPC_ORDER`]), so formants do not dominate:
//!    e(k) = y(k) - sum_i alpha_i y(k-i).
//! 4. Coarse search: rho_e(L) on e(k) for every L in PITCH_MIN/D ..= PITCH_MAX/D.
//! 5. Octave guard: a lag whose sub-multiples L/k (k >= 2) correlate nearly as well is most
//!    likely a multiple of the true period and loses score (see [`octave_scores`]).
//! 6. Viterbi over the coarse lag grid (one state per L): observation cost 1 - score(L), jump
//!    cost lambda |ln L - ln L'| capped at a restart cost (see [`ViterbiParams`]).
//! 7. Trace the best path back 0..=[`MAX_LOOKAHEAD`] frames and refine each decided lag at 48
//!    kHz: T = argmax rho(T) over |T - D L| <= [`REFINE_RADIUS`] on the low-passed signal,
//!    reporting that T and rho(T) clamped to [0, 1].
//!
//! Everything is sized in [`PitchTracker::new`]; `push_frame` and `delayed` neither allocate,
//! lock nor panic, whatever the input.

use crate::{HOP, SAMPLE_RATE, WINDOW};

/// Shortest period searched, samples at 48 kHz (800 Hz).
pub const PITCH_MIN: usize = 60;
/// Longest period searched, samples at 48 kHz (62.5 Hz).
pub const PITCH_MAX: usize = 768;
/// Frames before the newest that [`PitchTracker::delayed`] can decide (using the frames after
/// them as lookahead).
pub const MAX_LOOKAHEAD: usize = 2;
/// Length of the symmetric low-pass FIR applied before decimation (and for refinement).
pub const LOWPASS_TAPS: usize = 32;
/// Samples of history the analyser needs per call, ending at the newest sample: the oldest
/// frame that can still be refined ends `MAX_LOOKAHEAD * HOP` samples before the newest one,
/// its lagged window reaches `WINDOW + PITCH_MAX` further back, and the low-pass needs
/// `LOWPASS_TAPS` more.
pub const PITCH_BUF: usize = MAX_LOOKAHEAD * HOP + WINDOW + PITCH_MAX + LOWPASS_TAPS;

/// Decimation factor D of the coarse search (48 kHz -> 12 kHz).
pub const DECIMATION: usize = 4;
/// Cut-off of the anti-aliasing low-pass, Hz. Pitch harmonics below it carry the periodicity.
pub const LOWPASS_CUTOFF_HZ: f32 = 4000.0;
/// Order P of the whitening predictor on the decimated signal.
pub const LPC_ORDER: usize = 4;
/// Half-width, in 48 kHz samples, of the full-rate refinement around D L.
pub const REFINE_RADIUS: usize = 2 * DECIMATION;

/// Coarse window length N/D (decimated samples).
const COARSE_WINDOW: usize = WINDOW / DECIMATION;
/// Shortest coarse lag.
const COARSE_MIN: usize = PITCH_MIN / DECIMATION;
/// Longest coarse lag.
const COARSE_MAX: usize = PITCH_MAX / DECIMATION;
/// Decimated samples taken per call: window + longest lag + predictor memory.
const COARSE_LEN: usize = COARSE_WINDOW + COARSE_MAX + LPC_ORDER;
/// Whitened samples: window + longest lag.
const WHITE_LEN: usize = COARSE_WINDOW + COARSE_MAX;
/// Number of Viterbi states (one per coarse lag).
const NUM_STATES: usize = COARSE_MAX - COARSE_MIN + 1;
/// Frames kept in the rings of back-pointers and refinement caches.
const RING: usize = MAX_LOOKAHEAD + 1;
/// Candidates of the full-rate refinement.
const REFINE_LEN: usize = 2 * REFINE_RADIUS + 1;

/// Input samples are clamped to +-this before any arithmetic (keeps energies finite).
const SAMPLE_LIMIT: f32 = 1.0e6;
/// Input samples smaller than this in magnitude are flushed to zero (no subnormals).
const SAMPLE_FLUSH: f32 = 1.0e-20;
/// Mean-square level below which a window counts as silent and its correlation as 0
/// (-120 dB re full scale 1.0).
const SILENCE_POWER: f64 = 1.0e-12;
/// White-noise correction of the LPC autocorrelation, r(0) *= 1 + this (-40 dB floor).
const LPC_NOISE_FLOOR: f32 = 1.0e-4;
/// Gaussian lag window applied to the LPC autocorrelation: bandwidth in Hz.
const LPC_LAG_WINDOW_HZ: f32 = 100.0;
/// Bandwidth expansion of the predictor, alpha_i *= gamma^i.
const LPC_BANDWIDTH_EXPANSION: f32 = 0.9;

/// Octave guard: a lag L is suspected to be a multiple when a sub-multiple L/k correlates at
/// least `OCTAVE_RATIO` times as well.
const OCTAVE_RATIO: f32 = 0.7;
/// Octave guard: score lost per unit of sub-multiple correlation above `OCTAVE_RATIO` rho(L).
const OCTAVE_PENALTY: f32 = 2.0;

/// The estimate reported before any frame was analysed (and for frames before the first).
const IDLE: PitchEstimate = PitchEstimate { period: PITCH_MIN, correlation: 0.0 };

/// A pitch decision for one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PitchEstimate {
    /// Period T in samples at 48 kHz, in `PITCH_MIN..=PITCH_MAX`.
    pub period: usize,
    /// Normalised correlation at that period, in [0, 1].
    pub correlation: f32,
}

/// Costs of the Viterbi search over the coarse lag grid.
///
/// Path cost: sum over frames of `observation * (1 - score_t(L_t))` plus
/// `min(jump_per_log * |ln L_t - ln L_{t-1}|, restart)` per transition. The cap makes a
/// restart at any period possible, and makes the transition search exact when restricted to
/// the neighbourhood where the uncapped cost is below the cap plus the previous global best.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViterbiParams {
    /// Weight of the observation cost 1 - score.
    pub observation: f32,
    /// Jump cost lambda per unit of |ln period ratio|.
    pub jump_per_log: f32,
    /// Cap of the jump cost (cost of a restart anywhere).
    pub restart: f32,
}

/// The tuned Viterbi costs.
pub const VITERBI: ViterbiParams = ViterbiParams { observation: 1.0, jump_per_log: 4.0, restart: 0.4 };

const _: () = {
    assert!(PITCH_MIN % DECIMATION == 0 && PITCH_MAX % DECIMATION == 0);
    assert!(WINDOW % DECIMATION == 0);
    assert!(COARSE_MIN >= 2);
    // The coarse analysis of the newest frame reads the low-pass output from here on...
    assert!(PITCH_BUF >= DECIMATION * (COARSE_LEN - 1) + LOWPASS_TAPS);
    // ...and the refinement of the oldest frame from here on.
    assert!(PITCH_BUF >= MAX_LOOKAHEAD * HOP + WINDOW + PITCH_MAX + LOWPASS_TAPS - 1);
    assert!(NUM_STATES <= u16::MAX as usize);
};

/// Inner product sum_i a(i) b(i) over the common length, with eight partial sums so the
/// compiler can vectorise it.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Energy sum_i a(i)^2 in f64.
#[inline]
fn energy(a: &[f32]) -> f64 {
    a.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// rho = c / sqrt(E_a E_b), 0 when either energy is below `SILENCE_POWER * len`, clamped to
/// [-1, 1] (rounding can overshoot by an ulp), 0 if not finite.
#[inline]
fn normalise(c: f32, ea: f64, eb: f64, len: usize) -> f32 {
    let floor = SILENCE_POWER * len as f64;
    if !(ea > floor && eb > floor) {
        return 0.0;
    }
    let r = (f64::from(c) / (ea.sqrt() * eb.sqrt())) as f32;
    if r.is_finite() {
        r.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Normalised correlation of two equally long signals (the common length is used):
/// rho = sum a(n) b(n) / sqrt(sum a(n)^2 sum b(n)^2), in [-1, 1]; 0 when either is silent.
///
/// With `a = x[e-N..e]` and `b = x[e-N-T..e-T]` this is rho(T) of the module docs.
pub fn normalized_correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    normalise(dot(a, b), energy(a), energy(b), n)
}

/// rho(T) for every T in `lag_min..=lag_max` (into `out[T - lag_min]`) of the window
/// `x[end-len..end]`, with the lagged energy updated recursively:
/// E(T+1) = E(T) + x(end-len-T-1)^2 - x(end-T-1)^2.
///
/// Requires `lag_min <= lag_max`, `end - len >= lag_max`, `end <= x.len()` and
/// `out.len() > lag_max - lag_min`; otherwise it writes zeros where it cannot compute.
pub fn correlation_curve(
    x: &[f32],
    end: usize,
    len: usize,
    lag_min: usize,
    lag_max: usize,
    out: &mut [f32],
) {
    out.iter_mut().for_each(|o| *o = 0.0);
    if lag_min > lag_max || end > x.len() || len > end || end - len < lag_max {
        return;
    }
    let start = end - len;
    let win = &x[start..end];
    let e0 = energy(win);
    let mut e_lag = energy(&x[start - lag_min..end - lag_min]);
    for (i, o) in out.iter_mut().take(lag_max - lag_min + 1).enumerate() {
        let lag = lag_min + i;
        if i > 0 {
            let new = f64::from(x[start - lag]);
            let old = f64::from(x[end - lag]);
            e_lag = (e_lag + new * new - old * old).max(0.0);
        }
        *o = normalise(dot(win, &x[start - lag..end - lag]), e0, e_lag, len);
    }
}

/// Windowed-sinc low-pass taps h(i) = 2 f_c/f_s sinc(2 f_c/f_s (i - (M-1)/2)) sin^2(pi (i +
/// 1/2) / M), i = 0..M, normalised to unit DC gain (sum h = 1). Symmetric.
pub fn lowpass_taps(cutoff_hz: f32, sample_rate: f32, out: &mut [f32]) {
    let m = out.len();
    let fc = f64::from(cutoff_hz / sample_rate);
    let centre = (m as f64 - 1.0) / 2.0;
    for (i, h) in out.iter_mut().enumerate() {
        let t = i as f64 - centre;
        let arg = 2.0 * std::f64::consts::PI * fc * t;
        let sinc = if t == 0.0 { 2.0 * fc } else { arg.sin() / (std::f64::consts::PI * t) };
        let w = (std::f64::consts::PI * (i as f64 + 0.5) / m as f64).sin().powi(2);
        *h = (sinc * w) as f32;
    }
    let sum: f32 = out.iter().sum();
    if sum != 0.0 {
        out.iter_mut().for_each(|h| *h /= sum);
    }
}

/// Sanitised sample: non-finite -> 0, |v| < `SAMPLE_FLUSH` -> 0, clamped to +-`SAMPLE_LIMIT`.
#[inline]
fn sanitize(v: f32) -> f32 {
    if !v.is_finite() || v.abs() < SAMPLE_FLUSH {
        0.0
    } else {
        v.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
    }
}

/// Prediction coefficients alpha_1..alpha_P minimising the error of
/// e(n) = y(n) - sum_i alpha_i y(n-i), from the autocorrelation r(0..=P) (Levinson-Durbin:
/// k_i = (r(i) - sum_{j<i} alpha_j r(i-j)) / err, alpha_i = k_i, alpha_j -= k_i alpha_{i-j},
/// err *= 1 - k_i^2). Stops early (leaving the higher coefficients 0) if the recursion becomes
/// ill-conditioned.
pub fn levinson(r: &[f32; LPC_ORDER + 1], alpha: &mut [f32; LPC_ORDER]) {
    *alpha = [0.0; LPC_ORDER];
    let mut err = r[0];
    for i in 0..LPC_ORDER {
        if !(err > 0.0) {
            break;
        }
        let mut acc = r[i + 1];
        for j in 0..i {
            acc -= alpha[j] * r[i - j];
        }
        let k = acc / err;
        if !k.is_finite() || k.abs() >= 1.0 {
            break;
        }
        let prev = *alpha;
        alpha[i] = k;
        for j in 0..i {
            alpha[j] = prev[j] - k * prev[i - 1 - j];
        }
        err *= 1.0 - k * k;
    }
}

/// Whitens `y` into `out`: out(k) = y(k+P) - sum_{i=1..P} alpha_i y(k+P-i), with alpha from
/// [`levinson`] on the lag-windowed, noise-floored autocorrelation of `y` and bandwidth
/// expansion alpha_i *= gamma^i. `out.len()` should be `y.len() - P`.
pub fn whiten(y: &[f32], out: &mut [f32]) {
    let mut r = [0.0f32; LPC_ORDER + 1];
    let fs = SAMPLE_RATE as f32 / DECIMATION as f32;
    for (lag, ri) in r.iter_mut().enumerate() {
        if lag < y.len() {
            let c = dot(&y[lag..], &y[..y.len() - lag]);
            let w = 2.0 * std::f32::consts::PI * LPC_LAG_WINDOW_HZ * lag as f32 / fs;
            *ri = c * (-0.5 * w * w).exp();
        }
    }
    r[0] *= 1.0 + LPC_NOISE_FLOOR;
    let mut alpha = [0.0f32; LPC_ORDER];
    levinson(&r, &mut alpha);
    let mut g = 1.0;
    for a in alpha.iter_mut() {
        g *= LPC_BANDWIDTH_EXPANSION;
        *a *= g;
    }
    for (k, o) in out.iter_mut().enumerate() {
        let n = k + LPC_ORDER;
        if n >= y.len() {
            *o = 0.0;
            continue;
        }
        let mut e = y[n];
        for (i, a) in alpha.iter().enumerate() {
            e -= a * y[n - 1 - i];
        }
        *o = e;
    }
}

/// Octave-guarded scores of coarse lags: with r(L) = max(rho(L), 0) for L = `lag_min + i`
/// (`rho[i]`) and s(L) the best r at the grid points next to a sub-multiple L/k, k = 2, 3, ...
/// (while L/k >= `lag_min`):
///
///   score(L) = clamp(r(L) - OCTAVE_PENALTY max(0, s(L) - OCTAVE_RATIO r(L)), 0, 1).
///
/// A periodic signal has rho(kT) ~ rho(T), so every multiple of the true period loses score
/// while the true period (whose sub-multiples do not correlate) keeps it: the guard prefers the
/// shortest period that correlates nearly as well as the best.
pub fn octave_scores(rho: &[f32], lag_min: usize, out: &mut [f32]) {
    let pos = |i: usize| rho.get(i).copied().unwrap_or(0.0).max(0.0);
    for (i, o) in out.iter_mut().enumerate().take(rho.len()) {
        let lag = lag_min + i;
        let r = pos(i);
        let mut sub = 0.0f32;
        let mut k = 2;
        while lag / k >= lag_min {
            // Grid points around L/k: floor and ceil.
            let lo = lag / k;
            let hi = lag.div_ceil(k);
            sub = sub.max(pos(lo - lag_min)).max(pos(hi - lag_min));
            k += 1;
        }
        let s = r - OCTAVE_PENALTY * (sub - OCTAVE_RATIO * r).max(0.0);
        *o = if s.is_finite() { s.clamp(0.0, 1.0) } else { 0.0 };
    }
}

/// Streaming pitch tracker.
pub struct PitchTracker {
    /// Low-pass taps h(0..M).
    taps: Vec<f32>,
    /// Sanitised, mean-removed history x(n).
    work: Vec<f32>,
    /// Low-passed history at 48 kHz; valid from index `lp_from`.
    lp: Vec<f32>,
    lp_from: usize,
    /// Decimated signal y(k).
    dec: Vec<f32>,
    /// Whitened decimated signal e(k).
    white: Vec<f32>,
    /// Coarse correlation rho_e(L) and octave-guarded scores, per state.
    rho: Vec<f32>,
    score: Vec<f32>,
    /// ln L per state.
    ln_lag: Vec<f32>,
    /// Per state, the range of predecessor states with an uncapped jump cost.
    neigh_lo: Vec<u16>,
    neigh_hi: Vec<u16>,
    /// Accumulated path cost of the newest frame (minimum normalised to 0) and scratch.
    cost: Vec<f32>,
    cost_next: Vec<f32>,
    /// Back-pointers: `back[slot * NUM_STATES + s]` is the best predecessor of state s in the
    /// frame stored in `slot` (frame index modulo RING).
    back: Vec<u16>,
    /// Per frame slot, refinements already computed: (state, estimate).
    refined: [[Option<(u16, PitchEstimate)>; RING]; RING],
    /// decisions[d]: the decision for the frame d before the newest.
    decisions: [PitchEstimate; RING],
    /// Scratch for the refinement curve.
    refine_buf: Vec<f32>,
    /// Frames analysed since new()/reset().
    frames: u64,
}

impl PitchTracker {
    /// Allocates every buffer.
    pub fn new() -> Self {
        let mut taps = vec![0.0; LOWPASS_TAPS];
        lowpass_taps(LOWPASS_CUTOFF_HZ, SAMPLE_RATE as f32, &mut taps);
        let ln_lag: Vec<f32> = (0..NUM_STATES).map(|s| ((COARSE_MIN + s) as f32).ln()).collect();
        let reach = VITERBI.restart / VITERBI.jump_per_log;
        let mut neigh_lo = vec![0u16; NUM_STATES];
        let mut neigh_hi = vec![0u16; NUM_STATES];
        for s in 0..NUM_STATES {
            let within = |p: usize| (ln_lag[s] - ln_lag[p]).abs() < reach;
            let lo = (0..=s).find(|&p| within(p)).unwrap_or(s);
            let hi = (s..NUM_STATES).rev().find(|&p| within(p)).unwrap_or(s);
            neigh_lo[s] = lo as u16;
            neigh_hi[s] = hi as u16;
        }
        Self {
            taps,
            work: vec![0.0; PITCH_BUF],
            lp: vec![0.0; PITCH_BUF],
            lp_from: PITCH_BUF,
            dec: vec![0.0; COARSE_LEN],
            white: vec![0.0; WHITE_LEN],
            rho: vec![0.0; NUM_STATES],
            score: vec![0.0; NUM_STATES],
            ln_lag,
            neigh_lo,
            neigh_hi,
            cost: vec![0.0; NUM_STATES],
            cost_next: vec![0.0; NUM_STATES],
            back: vec![0; RING * NUM_STATES],
            refined: [[None; RING]; RING],
            decisions: [IDLE; RING],
            refine_buf: vec![0.0; REFINE_LEN],
            frames: 0,
        }
    }

    /// Back to the state after `new()`, without allocating.
    pub fn reset(&mut self) {
        self.cost.iter_mut().for_each(|c| *c = 0.0);
        self.back.iter_mut().for_each(|b| *b = 0);
        self.refined = [[None; RING]; RING];
        self.decisions = [IDLE; RING];
        self.lp_from = PITCH_BUF;
        self.frames = 0;
    }

    /// Analyse the newest frame (whose window is the last `WINDOW` samples of `history`,
    /// which should hold `PITCH_BUF` samples; a shorter one is zero-padded at its start, a
    /// longer one is truncated to its newest samples). Returns the causal estimate for that
    /// frame (the end of the best Viterbi path, refined).
    pub fn push_frame(&mut self, history: &[f32]) -> PitchEstimate {
        self.load(history);
        self.coarse_search();
        self.viterbi_step();
        self.decide();
        self.decisions[0]
    }

    /// The Viterbi-smoothed decision for the frame `lookahead` frames before the newest
    /// (0 = newest), using the frames after it. `lookahead` above [`MAX_LOOKAHEAD`] is
    /// treated as `MAX_LOOKAHEAD`; frames before the first analysed one give a period of
    /// `PITCH_MIN` with correlation 0.
    pub fn delayed(&self, lookahead: usize) -> PitchEstimate {
        self.decisions[lookahead.min(MAX_LOOKAHEAD)]
    }

    /// Copies the history, sanitised and with its mean removed, into `work`.
    fn load(&mut self, history: &[f32]) {
        let take = history.len().min(PITCH_BUF);
        let pad = PITCH_BUF - take;
        let src = &history[history.len() - take..];
        self.work[..pad].iter_mut().for_each(|v| *v = 0.0);
        for (w, &h) in self.work[pad..].iter_mut().zip(src) {
            *w = sanitize(h);
        }
        let mean = (self.work.iter().map(|&v| f64::from(v)).sum::<f64>() / PITCH_BUF as f64) as f32;
        self.work.iter_mut().for_each(|v| *v -= mean);
        self.lp_from = PITCH_BUF;
    }

    /// Makes `lp(n) = sum_i h(i) x(n - i)` valid for n >= `from` (clamped to `LOWPASS_TAPS - 1`).
    fn ensure_lowpass(&mut self, from: usize) {
        let from = from.max(LOWPASS_TAPS - 1);
        if from >= self.lp_from {
            return;
        }
        for n in from..self.lp_from {
            // h is symmetric, so the convolution is a plain inner product.
            self.lp[n] = dot(&self.taps, &self.work[n + 1 - LOWPASS_TAPS..=n]);
        }
        self.lp_from = from;
    }

    /// Steps 2-5: decimate, whiten, coarse correlation and octave-guarded scores.
    fn coarse_search(&mut self) {
        let first = PITCH_BUF - 1 - DECIMATION * (COARSE_LEN - 1);
        self.ensure_lowpass(first);
        for (k, d) in self.dec.iter_mut().enumerate() {
            *d = self.lp[first + DECIMATION * k];
        }
        whiten(&self.dec, &mut self.white);
        correlation_curve(&self.white, WHITE_LEN, COARSE_WINDOW, COARSE_MIN, COARSE_MAX, &mut self.rho);
        octave_scores(&self.rho, COARSE_MIN, &mut self.score);
    }

    /// Step 6: one Viterbi recursion,
    /// D_t(s) = w (1 - score(s)) + min( min_{p in N(s)} D_{t-1}(p) + lambda |ln L_s - ln L_p|,
    ///                                  min_p D_{t-1}(p) + restart ),
    /// then D_t -= min D_t.
    fn viterbi_step(&mut self) {
        let slot = (self.frames % RING as u64) as usize;
        let back = &mut self.back[slot * NUM_STATES..(slot + 1) * NUM_STATES];
        let first = self.frames == 0;
        let (prev_best, prev_arg) = argmin(&self.cost);
        for s in 0..NUM_STATES {
            let obs = VITERBI.observation * (1.0 - self.score[s]);
            let (mut best, mut arg) = (prev_best + VITERBI.restart, prev_arg);
            if first {
                best = 0.0;
                arg = s;
            } else {
                let (lo, hi) = (self.neigh_lo[s] as usize, self.neigh_hi[s] as usize);
                for p in lo..=hi {
                    let c = self.cost[p] + VITERBI.jump_per_log * (self.ln_lag[s] - self.ln_lag[p]).abs();
                    if c < best {
                        best = c;
                        arg = p;
                    }
                }
            }
            let total = obs + best;
            self.cost_next[s] = if total.is_finite() { total } else { VITERBI.observation + VITERBI.restart };
            back[s] = arg as u16;
        }
        let (min, _) = argmin(&self.cost_next);
        for (c, n) in self.cost.iter_mut().zip(&self.cost_next) {
            *c = n - min;
        }
    }

    /// Step 7: trace back and refine the decisions for the newest `MAX_LOOKAHEAD + 1` frames.
    fn decide(&mut self) {
        let newest = self.frames;
        self.refined[(newest % RING as u64) as usize] = [None; RING];
        let (_, mut state) = argmin(&self.cost);
        for d in 0..RING {
            if (d as u64) > newest {
                self.decisions[d] = IDLE;
                continue;
            }
            let frame = newest - d as u64;
            let slot = (frame % RING as u64) as usize;
            self.decisions[d] = self.refined_estimate(slot, d, state);
            state = self.back[slot * NUM_STATES + state] as usize;
        }
        self.frames += 1;
    }

    /// The refined estimate of state `state` in the frame `d` hops before the newest (stored
    /// in ring `slot`), computed once per (frame, state).
    fn refined_estimate(&mut self, slot: usize, d: usize, state: usize) -> PitchEstimate {
        let key = state as u16;
        if let Some((_, e)) = self.refined[slot].iter().flatten().find(|(s, _)| *s == key) {
            return *e;
        }
        let e = self.refine(d, state);
        let entries = &mut self.refined[slot];
        match entries.iter_mut().find(|x| x.is_none()) {
            Some(free) => *free = Some((key, e)),
            None => entries[0] = Some((key, e)),
        }
        e
    }

    /// T = argmax rho(T) of the low-passed signal over |T - D L| <= REFINE_RADIUS, for the
    /// window of the frame `d` hops before the newest.
    fn refine(&mut self, d: usize, state: usize) -> PitchEstimate {
        let centre = DECIMATION * (COARSE_MIN + state);
        let lo = centre.saturating_sub(REFINE_RADIUS).max(PITCH_MIN);
        let hi = (centre + REFINE_RADIUS).min(PITCH_MAX);
        let end = PITCH_BUF - d * HOP;
        self.ensure_lowpass(end - WINDOW - hi);
        correlation_curve(&self.lp, end, WINDOW, lo, hi, &mut self.refine_buf);
        let (mut period, mut correlation) = (centre.clamp(PITCH_MIN, PITCH_MAX), f32::NEG_INFINITY);
        for (i, &r) in self.refine_buf.iter().take(hi - lo + 1).enumerate() {
            if r > correlation {
                correlation = r;
                period = lo + i;
            }
        }
        let correlation = if correlation.is_finite() { correlation.clamp(0.0, 1.0) } else { 0.0 };
        PitchEstimate { period, correlation }
    }
}

/// (min, argmin) of a slice; ties go to the first (shortest lag). (inf, 0) if empty.
fn argmin(v: &[f32]) -> (f32, usize) {
    let mut best = (f32::INFINITY, 0);
    for (i, &c) in v.iter().enumerate() {
        if c < best.0 {
            best = (c, i);
        }
    }
    best
}

impl Default for PitchTracker {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowpass_has_unit_dc_gain_and_rejects_the_alias_band() {
        let mut h = [0.0f32; LOWPASS_TAPS];
        lowpass_taps(LOWPASS_CUTOFF_HZ, SAMPLE_RATE as f32, &mut h);
        let gain = |f: f32| {
            let w = 2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32;
            let (mut re, mut im) = (0.0f32, 0.0f32);
            for (i, &v) in h.iter().enumerate() {
                re += v * (w * i as f32).cos();
                im -= v * (w * i as f32).sin();
            }
            (re * re + im * im).sqrt()
        };
        assert!((gain(0.0) - 1.0).abs() < 1e-5);
        assert!(gain(1000.0) > 0.9, "{}", gain(1000.0));
        assert!(gain(9000.0) < 0.01, "{}", gain(9000.0));
    }

    #[test]
    fn levinson_recovers_an_ar1_predictor() {
        // r(k) = a^k for an AR(1) process with coefficient a.
        let a = 0.8f32;
        let r = [1.0, a, a * a, a * a * a, a * a * a * a];
        let mut alpha = [0.0; LPC_ORDER];
        levinson(&r, &mut alpha);
        assert!((alpha[0] - a).abs() < 1e-5, "{alpha:?}");
        assert!(alpha[1..].iter().all(|c| c.abs() < 1e-5), "{alpha:?}");
    }

    #[test]
    fn octave_guard_prefers_the_fundamental() {
        // rho of a periodic signal with period 20 coarse lags: peaks at 20, 40, 60, ...
        let mut rho = vec![0.0; NUM_STATES];
        for (i, r) in rho.iter_mut().enumerate() {
            let lag = COARSE_MIN + i;
            *r = if lag % 20 == 0 { 0.8 } else { 0.1 };
        }
        rho[40 - COARSE_MIN] = 0.85; // the double even slightly better
        let mut score = vec![0.0; NUM_STATES];
        octave_scores(&rho, COARSE_MIN, &mut score);
        let best = (0..NUM_STATES).max_by(|&a, &b| score[a].total_cmp(&score[b])).unwrap();
        assert_eq!(COARSE_MIN + best, 20);
    }
}
