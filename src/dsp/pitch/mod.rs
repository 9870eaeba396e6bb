//! Pitch search with Viterbi tracking (`docs/ALGORITHM.md`, "Pitch").
//!
//! Symbols: x(n) the input at 48 kHz, T a period in samples at 48 kHz, L a lag in samples of
//! the decimated (12 kHz) signal, so T ~ D L with D = [`DECIMATION`]. The normalised
//! correlation of a window of length N ending at sample e is
//!
//!   rho(T) = sum_{n=e-N}^{e-1} x(n) x(n-T) / sqrt( sum x(n)^2 * sum x(n-T)^2 ).
//!
//! Per hop (one call of [`PitchTracker::push_frame`]):
//! 1. Sanitise the history (non-finite -> 0, clamp, flush tiny values), high-pass it
//!    (4th-order Butterworth at [`HIGHPASS_HZ`]: removes DC and attenuates hum and rumble,
//!    which correlate at every short lag) and low-pass it (windowed-sinc FIR at
//!    [`LOWPASS_CUTOFF_HZ`]). In streaming use (each history is the previous one advanced by
//!    `HOP`) only the newest `HOP` samples are filtered.
//! 2. Keep every D-th sample: the 12 kHz signal y(k).
//! 3. Coarse search: rho_y(L) for every L in PITCH_MIN/D ..= PITCH_MAX/D.
//! 4. Scores: only local maxima of rho_y count, and a lag whose sub-multiples L/k (k >= 2)
//!    correlate nearly as well is most likely a multiple of the true period and loses score
//!    (the octave guard, see [`octave_scores`]).
//! 5. Viterbi over the coarse lag grid (one state per L): observation cost 1 - score(L), jump
//!    cost lambda |ln L - ln L'| capped at a restart cost (see [`ViterbiParams`]).
//! 6. Trace the best path back 0..=[`MAX_LOOKAHEAD`] frames and refine each decided lag at 48
//!    kHz: T = argmax rho(T) over |T - D L| <= [`REFINE_RADIUS`] on the filtered signal,
//!    reporting that T and rho(T) clamped to [0, 1]. The newest frame uses its own window;
//!    a frame with lookahead uses a window centred on it and [`REFINE_EXTENSION`] samples
//!    longer on each side (the average period over that span, with less noise).
//!
//! Everything is sized in [`PitchTracker::new`]; `push_frame` and `delayed` neither allocate,
//! lock nor panic, whatever the input.
//!
//! Cost: about 0.1 % of a core (per hop: 180 coarse lags over 240 samples, 17 full-rate lags
//! over 960 samples for the newest frame and over 1920 for each delayed frame asked for, the
//! filters over 480 samples). The shipped network was trained on features made by this
//! tracker, so its speed-ups keep every result bit for bit (`tests/pitch.rs` hashes the track
//! of the bundled examples): the inner products run in AVX registers when the CPU has them,
//! lane i holding partial sum i of the portable [`dot`] with the same separate multiplies and
//! adds in the same order (no FMA), eight lags per pass sharing the window's loads, sixteen
//! with AVX-512 (two lags per register); the low-pass runs across outputs with each output's
//! sums in [`dot`]'s order; the octave guard's peak values are tabled and its sub-multiple
//! runs unrolled; a delayed frame is refined only when [`PitchTracker::delayed`] asks for it;
//! the whole per-hop step is compiled for AVX2 where the CPU has it (Rust never fuses a
//! multiply and an add, so the same results). What is left is inherent to the arithmetic
//! kept: the high-pass is a chain of dependent f64 operations (about a fifth of the time),
//! and so is the recursion of the lagged energies.

mod correlation;
mod filters;
mod tracking;

pub use correlation::{correlation_curve, normalized_correlation};
pub use filters::{lowpass_taps, Highpass};
pub use tracking::{l1_distance_transform, octave_scores, peak_value};

use crate::{HOP, SAMPLE_RATE, WINDOW};
use correlation::same_bits;
use filters::lowpass;
use tracking::{argmin, octave_scores_inline};

/// Shortest period searched, samples at 48 kHz (800 Hz).
pub const PITCH_MIN: usize = 60;
/// Longest period searched, samples at 48 kHz (62.5 Hz).
pub const PITCH_MAX: usize = 768;
/// Frames before the newest that [`PitchTracker::delayed`] can decide (using the frames after
/// them as lookahead).
pub const MAX_LOOKAHEAD: usize = 2;
/// Length of the symmetric low-pass FIR applied before decimation (and for refinement).
pub const LOWPASS_TAPS: usize = 32;
/// A frame decided with lookahead (by `delayed(d)`, d >= 1) is refined on a window extended
/// by this many samples on both sides (centred on the frame, using the frame after it).
pub const REFINE_EXTENSION: usize = HOP;
/// Samples of history the analyser needs per call, ending at the newest sample: the oldest
/// frame that can still be refined ends `MAX_LOOKAHEAD * HOP` samples before the newest one,
/// its extended window starts `WINDOW + REFINE_EXTENSION` before that, its lagged copy
/// `PITCH_MAX` earlier, and the low-pass needs `LOWPASS_TAPS` more.
pub const PITCH_BUF: usize =
    MAX_LOOKAHEAD * HOP + WINDOW + REFINE_EXTENSION + PITCH_MAX + LOWPASS_TAPS;

/// Decimation factor D of the coarse search (48 kHz -> 12 kHz).
pub const DECIMATION: usize = 4;
/// Cut-off of the anti-aliasing low-pass, Hz. Pitch harmonics below it carry the periodicity.
pub const LOWPASS_CUTOFF_HZ: f32 = 4000.0;
/// Cut-off of the 4th-order high-pass, Hz: mains hum (50/60 Hz) loses 16/10 dB; the lowest
/// pitches searched (62.5 Hz) lose their fundamental (-9 dB) but keep their harmonics.
pub const HIGHPASS_HZ: f64 = 80.0;
/// Half-width, in 48 kHz samples, of the full-rate refinement around D L.
pub const REFINE_RADIUS: usize = 2 * DECIMATION;

/// Coarse window length N/D (decimated samples).
const COARSE_WINDOW: usize = WINDOW / DECIMATION;
/// Shortest coarse lag of a Viterbi state.
const COARSE_MIN: usize = PITCH_MIN / DECIMATION;
/// Longest coarse lag of a Viterbi state.
const COARSE_MAX: usize = PITCH_MAX / DECIMATION;
/// Number of Viterbi states (one per coarse lag).
const NUM_STATES: usize = COARSE_MAX - COARSE_MIN + 1;
/// The coarse correlation is also computed one lag beyond each end (to tell peaks there).
const COARSE_LAG_LO: usize = COARSE_MIN - 1;
const COARSE_LAG_HI: usize = COARSE_MAX + 1;
/// Coarse lags computed.
const NUM_LAGS: usize = NUM_STATES + 2;
/// Decimated samples taken per call: window + longest lag.
const COARSE_LEN: usize = COARSE_WINDOW + COARSE_LAG_HI;
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

/// Octave guard: a lag L is suspected to be a multiple when a sub-multiple L/k correlates at
/// least `OCTAVE_RATIO` times as well (peak values).
pub const OCTAVE_RATIO: f32 = 0.93;
/// Octave guard: score lost per unit of sub-multiple correlation above `OCTAVE_RATIO` rho(L).
pub const OCTAVE_PENALTY: f32 = 10.0;

/// The estimate reported before any frame was analysed (and for frames before the first).
const IDLE: PitchEstimate = PitchEstimate {
    period: PITCH_MIN,
    correlation: 0.0,
};

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
/// restart at any period possible. The best predecessor of every state is found exactly in
/// O(states) (see [`l1_distance_transform`]), not O(states^2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViterbiParams {
    /// Weight of the observation cost 1 - score.
    pub observation: f32,
    /// Jump cost lambda per unit of |ln period ratio|.
    pub jump_per_log: f32,
    /// Cap of the jump cost (cost of a restart anywhere).
    pub restart: f32,
}

/// The tuned Viterbi costs: a 10 % glide between frames costs 0.38, a restart 0.6 (about
/// the score gap between a clear new pitch and the old one for one frame).
pub const VITERBI: ViterbiParams = ViterbiParams {
    observation: 1.0,
    jump_per_log: 4.0,
    restart: 0.6,
};

const _: () = {
    assert!(PITCH_MIN.is_multiple_of(DECIMATION) && PITCH_MAX.is_multiple_of(DECIMATION));
    assert!(WINDOW.is_multiple_of(DECIMATION));
    assert!(COARSE_LAG_LO >= 2);
    // The coarse analysis of the newest frame reads the filtered signal from here on...
    assert!(PITCH_BUF >= DECIMATION * (COARSE_LEN - 1) + LOWPASS_TAPS);
    // ...and the refinement of the oldest frame from here on.
    assert!(
        PITCH_BUF >= MAX_LOOKAHEAD * HOP + WINDOW + REFINE_EXTENSION + PITCH_MAX + LOWPASS_TAPS - 1
    );
    // The extended window of a delayed frame ends at or before the newest sample.
    assert!(REFINE_EXTENSION <= HOP);
    assert!(NUM_STATES <= u16::MAX as usize);
};

/// A cached refinement: ((coarse state, extended window), estimate).
type CachedRefinement = ((u16, bool), PitchEstimate);

/// Sanitised sample: non-finite -> 0, |v| < `SAMPLE_FLUSH` -> 0, clamped to +-`SAMPLE_LIMIT`.
#[inline]
fn sanitize(v: f32) -> f32 {
    if !v.is_finite() || v.abs() < SAMPLE_FLUSH {
        0.0
    } else {
        v.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
    }
}

/// Streaming pitch tracker.
pub struct PitchTracker {
    /// Low-pass taps h(0..M).
    taps: Vec<f32>,
    /// High-pass, with its state after the newest sample of `hp`.
    highpass: Highpass,
    /// The last call's history as given (zero-padded), kept by [`PitchTracker::push_frame`] to
    /// tell whether the next history continues it; `input_valid` says it does hold it
    /// ([`PitchTracker::push_hop`] keeps no copy).
    input: Vec<f32>,
    input_valid: bool,
    /// High-passed sanitised history (while streaming, only its newest `HOP + LOWPASS_TAPS - 1`
    /// samples are kept: nothing reads older ones).
    hp: Vec<f32>,
    /// Its low-pass sum_i h(i) hp(n - i) for n >= LOWPASS_TAPS - 1 (0 before): the signal all
    /// correlations are computed on.
    filtered: Vec<f32>,
    /// Whether `hp`, `filtered` and the high-pass state hold the previous call's history
    /// (false after reset or a history of the wrong length).
    stream_valid: bool,
    /// Decimated signal y(k).
    dec: Vec<f32>,
    /// Coarse correlation rho_y(L) and octave-guarded scores for L in
    /// COARSE_LAG_LO..=COARSE_LAG_HI (state s is index s + 1).
    rho: Vec<f32>,
    score: Vec<f32>,
    /// Jump cost between neighbouring states, lambda (ln L_{s+1} - ln L_s).
    jump_gap: Vec<f32>,
    /// Accumulated path cost of the newest frame (minimum normalised to 0) and scratch.
    cost: Vec<f32>,
    cost_next: Vec<f32>,
    /// argmin(cost): (min, state), kept from the Viterbi step that wrote `cost`.
    cost_min: (f32, usize),
    /// Back-pointers: `back[slot * NUM_STATES + s]` is the best predecessor of state s in the
    /// frame stored in `slot` (frame index modulo RING).
    back: Vec<u16>,
    /// Per frame slot, refinements already computed: ((state, extended window), estimate).
    refined: [[Option<CachedRefinement>; RING]; RING],
    /// decisions[d]: the decision for the frame d before the newest, once refined (the
    /// newest frame's at once, the others when [`PitchTracker::delayed`] first asks).
    decisions: [Option<PitchEstimate>; RING],
    /// traced[d]: (ring slot, state) of the best path in the frame d before the newest.
    traced: [(usize, usize); RING],
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
        let jump_gap: Vec<f32> = (COARSE_MIN..COARSE_MAX)
            .map(|lag| VITERBI.jump_per_log * ((lag + 1) as f32 / lag as f32).ln())
            .collect();
        Self {
            taps,
            highpass: Highpass::new(HIGHPASS_HZ, f64::from(SAMPLE_RATE)),
            input: vec![0.0; PITCH_BUF],
            input_valid: false,
            hp: vec![0.0; PITCH_BUF],
            filtered: vec![0.0; PITCH_BUF],
            stream_valid: false,
            dec: vec![0.0; COARSE_LEN],
            rho: vec![0.0; NUM_LAGS],
            score: vec![0.0; NUM_LAGS],
            jump_gap,
            cost: vec![0.0; NUM_STATES],
            cost_next: vec![0.0; NUM_STATES],
            cost_min: (0.0, 0),
            back: vec![0; RING * NUM_STATES],
            refined: [[None; RING]; RING],
            decisions: [Some(IDLE); RING],
            traced: [(0, 0); RING],
            refine_buf: vec![0.0; REFINE_LEN],
            frames: 0,
        }
    }

    /// Back to the state after `new()`, without allocating.
    pub fn reset(&mut self) {
        self.cost.iter_mut().for_each(|c| *c = 0.0);
        self.cost_min = (0.0, 0);
        self.back.iter_mut().for_each(|b| *b = 0);
        self.refined = [[None; RING]; RING];
        self.decisions = [Some(IDLE); RING];
        self.stream_valid = false;
        self.input_valid = false;
        self.frames = 0;
    }

    /// Analyse the newest frame (whose window is the last `WINDOW` samples of `history`,
    /// which should hold `PITCH_BUF` samples; a shorter one is zero-padded at its start, a
    /// longer one is truncated to its newest samples). Returns the causal estimate for that
    /// frame (the end of the best Viterbi path, refined).
    pub fn push_frame(&mut self, history: &[f32]) -> PitchEstimate {
        self.dispatch(history, false)
    }

    /// [`PitchTracker::push_frame`] for a caller that streams: `history` holds at least
    /// `PITCH_BUF` samples and, unless this is the first call since `new()`/`reset()`, is the
    /// previous call's history advanced by `HOP` samples (as the engine's timeline gives it).
    /// The same results as `push_frame` while that holds, without the copy of the history and
    /// the comparison with the previous one that `push_frame` makes to find out (12.8 KB less
    /// read and written per hop, next to the network's weights in the cache). A history that
    /// breaks the promise gives wrong estimates, never a panic; a shorter one is handled as
    /// `push_frame` does. A `push_frame` after `push_hop` has no copy to compare with, so it
    /// filters its history afresh, as after a discontinuity.
    pub fn push_hop(&mut self, history: &[f32]) -> PitchEstimate {
        self.dispatch(history, true)
    }

    /// `push_frame` (`promised` false) or `push_hop` (true), compiled for AVX2 where present.
    fn dispatch(&mut self, history: &[f32], promised: bool) -> PitchEstimate {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (just detected).
            return unsafe { self.push_frame_avx2(history, promised) };
        }
        self.push_frame_impl(history, promised)
    }

    /// [`PitchTracker::push_frame`] compiled for AVX2, so that the loops the compiler
    /// vectorises (scores, Viterbi costs) use 256-bit registers: the same operations (Rust
    /// never fuses a multiply and an add), so the same results.
    ///
    /// Safety: the CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn push_frame_avx2(&mut self, history: &[f32], promised: bool) -> PitchEstimate {
        self.push_frame_impl(history, promised)
    }

    #[inline(always)]
    fn push_frame_impl(&mut self, history: &[f32], promised: bool) -> PitchEstimate {
        self.load(history, promised);
        self.coarse_search();
        self.viterbi_step();
        self.decide();
        self.delayed(0)
    }

    /// The Viterbi-smoothed decision for the frame `lookahead` frames before the newest
    /// (0 = newest), using the frames after it. `lookahead` above [`MAX_LOOKAHEAD`] is
    /// treated as `MAX_LOOKAHEAD`; frames before the first analysed one give a period of
    /// `PITCH_MIN` with correlation 0. The refinement is done on the first call per frame
    /// and lookahead (a caller that never asks for a lookahead does not pay for it).
    pub fn delayed(&mut self, lookahead: usize) -> PitchEstimate {
        let d = lookahead.min(MAX_LOOKAHEAD);
        if let Some(e) = self.decisions[d] {
            return e;
        }
        let (slot, state) = self.traced[d];
        let e = self.refined_estimate(slot, d, state);
        self.decisions[d] = Some(e);
        e
    }

    /// Step 1: sanitises the history (zero-padded at the start if short, newest samples kept
    /// if long), high-passes it into `hp` and low-passes that into `filtered`. When the
    /// history is bit for bit the previous one advanced by `HOP` samples (the streaming
    /// case), the buffers are shifted and only the newest `HOP` samples are filtered, the
    /// high-pass continuing from its state; otherwise the high-pass starts settled on the
    /// oldest sample and the whole history is filtered. With `promised` (see
    /// [`PitchTracker::push_hop`]) a full history is taken to be the streaming case without
    /// comparing, and is read where it lies.
    fn load(&mut self, history: &[f32], promised: bool) {
        let take = history.len().min(PITCH_BUF);
        let pad = PITCH_BUF - take;
        let src = &history[history.len() - take..];
        let promised = promised && pad == 0;
        let continuous = self.stream_valid
            && pad == 0
            && (promised
                || self.input_valid && same_bits(&src[..PITCH_BUF - HOP], &self.input[HOP..]));
        let signal: &[f32] = if promised {
            self.input_valid = false;
            src
        } else {
            self.input[..pad].iter_mut().for_each(|v| *v = 0.0);
            self.input[pad..].copy_from_slice(src);
            self.input_valid = true;
            &self.input
        };
        let first_new = if continuous {
            // The low-pass of the new samples reads the last LOWPASS_TAPS - 1 high-passed
            // samples before them; older ones are never read again.
            self.hp.copy_within(
                PITCH_BUF - (LOWPASS_TAPS - 1)..,
                PITCH_BUF - HOP - (LOWPASS_TAPS - 1),
            );
            self.filtered.copy_within(HOP.., 0);
            PITCH_BUF - HOP
        } else {
            self.highpass.settle(sanitize(signal[0]));
            self.filtered[..LOWPASS_TAPS - 1]
                .iter_mut()
                .for_each(|v| *v = 0.0);
            0
        };
        self.highpass
            .run(&signal[first_new..], &mut self.hp[first_new..]);
        // h is symmetric, so the convolution is a plain inner product.
        lowpass(
            &self.taps,
            &self.hp,
            &mut self.filtered,
            first_new.max(LOWPASS_TAPS - 1),
        );
        self.stream_valid = pad == 0;
    }

    /// Steps 2-4: decimate, coarse correlation and octave-guarded scores.
    fn coarse_search(&mut self) {
        let first = PITCH_BUF - 1 - DECIMATION * (COARSE_LEN - 1);
        for (k, d) in self.dec.iter_mut().enumerate() {
            *d = self.filtered[first + DECIMATION * k];
        }
        correlation_curve(
            &self.dec,
            COARSE_LEN,
            COARSE_WINDOW,
            COARSE_LAG_LO,
            COARSE_LAG_HI,
            &mut self.rho,
        );
        octave_scores_inline(&self.rho, COARSE_LAG_LO, &mut self.score);
    }

    /// Step 5: one Viterbi recursion,
    /// D_t(s) = w (1 - score(s)) + min( min_p D_{t-1}(p) + lambda |ln L_s - ln L_p|,
    ///                                  min_p D_{t-1}(p) + restart ),
    /// then D_t -= min D_t (so costs stay bounded). The first term is an L1 distance transform
    /// in ln L, exact in O(states).
    fn viterbi_step(&mut self) {
        let slot = (self.frames % RING as u64) as usize;
        let back = &mut self.back[slot * NUM_STATES..(slot + 1) * NUM_STATES];
        for (s, b) in back.iter_mut().enumerate() {
            *b = s as u16;
        }
        let trans = &mut self.cost_next;
        if self.frames == 0 {
            trans.iter_mut().for_each(|t| *t = 0.0);
        } else {
            // argmin(cost), computed when `cost` was last written.
            let (prev_best, prev_arg) = self.cost_min;
            trans.copy_from_slice(&self.cost);
            l1_distance_transform(trans, back, &self.jump_gap);
            let restart = prev_best + VITERBI.restart;
            for (t, b) in trans.iter_mut().zip(back.iter_mut()) {
                if restart < *t {
                    *t = restart;
                    *b = prev_arg as u16;
                }
            }
        }
        for (t, score) in trans.iter_mut().zip(&self.score[1..]) {
            let total = *t + VITERBI.observation * (1.0 - score);
            *t = if total.is_finite() {
                total
            } else {
                VITERBI.observation + VITERBI.restart
            };
        }
        let (min, _) = argmin(&self.cost_next);
        for (c, n) in self.cost.iter_mut().zip(&self.cost_next) {
            *c = n - min;
        }
        self.cost_min = argmin(&self.cost);
    }

    /// Step 6: trace back the best path through the newest `MAX_LOOKAHEAD + 1` frames and
    /// refine the newest frame's decision (the others wait for [`PitchTracker::delayed`]).
    fn decide(&mut self) {
        let newest = self.frames;
        self.refined[(newest % RING as u64) as usize] = [None; RING];
        let (_, mut state) = self.cost_min;
        for d in 0..RING {
            if (d as u64) > newest {
                self.decisions[d] = Some(IDLE);
                continue;
            }
            let frame = newest - d as u64;
            let slot = (frame % RING as u64) as usize;
            self.traced[d] = (slot, state);
            self.decisions[d] = if d == 0 {
                Some(self.refined_estimate(slot, d, state))
            } else {
                None
            };
            state = self.back[slot * NUM_STATES + state] as usize;
        }
        self.frames += 1;
    }

    /// The refined estimate of state `state` in the frame `d` hops before the newest (stored
    /// in ring `slot`), computed once per (frame, state, window).
    fn refined_estimate(&mut self, slot: usize, d: usize, state: usize) -> PitchEstimate {
        let key = (state as u16, d > 0);
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

    /// T = argmax rho(T) of the filtered signal over |T - D L| <= REFINE_RADIUS, for the
    /// frame `d` hops before the newest: its own window if d = 0, else the window extended by
    /// `REFINE_EXTENSION` on both sides.
    fn refine(&mut self, d: usize, state: usize) -> PitchEstimate {
        let centre = DECIMATION * (COARSE_MIN + state);
        let lo = centre.saturating_sub(REFINE_RADIUS).max(PITCH_MIN);
        let hi = (centre + REFINE_RADIUS).min(PITCH_MAX);
        let ext = if d > 0 { REFINE_EXTENSION } else { 0 };
        let end = PITCH_BUF - d * HOP + ext;
        let len = WINDOW + 2 * ext;
        correlation_curve(&self.filtered, end, len, lo, hi, &mut self.refine_buf);
        let (mut period, mut correlation) = (centre.clamp(PITCH_MIN, PITCH_MAX), f32::NEG_INFINITY);
        for (i, &r) in self.refine_buf.iter().take(hi - lo + 1).enumerate() {
            if r > correlation {
                correlation = r;
                period = lo + i;
            }
        }
        let correlation = if correlation.is_finite() {
            correlation.clamp(0.0, 1.0)
        } else {
            0.0
        };
        PitchEstimate {
            period,
            correlation,
        }
    }
}

impl Default for PitchTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// Test noise: the next xorshift32 step of `state`, mapped to [-0.5, 0.5].
#[cfg(test)]
fn test_noise(state: &mut u32) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state as f32 / u32::MAX as f32 - 0.5
}
