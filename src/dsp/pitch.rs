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
//! Cost: about 0.1 % of a core (per hop: 182 coarse lags over 240 samples, 17 full-rate lags
//! over 960 and 1920 samples, the filters over 480 samples). The network now in training was
//! fed features made by this tracker, so its speed-ups keep every result bit for bit
//! (`tests/pitch.rs` hashes the track of the bundled examples): the inner products run in AVX
//! registers when the CPU has them, lane i holding partial sum i of the portable [`dot`] with
//! the same separate multiplies and adds in the same order (no FMA), eight lags per pass
//! sharing the window's loads; the low-pass runs across outputs with each output's sums in
//! [`dot`]'s order; the octave guard's parabolic peaks are computed once per lag; the high-pass
//! keeps its state in registers. What is left is inherent to the arithmetic kept: the
//! high-pass is a chain of dependent f64 operations (about a quarter of the time), and the
//! correlations' square roots and divisions are in f64.

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

/// Inner product sum_i a(i) b(i) over the common length, with eight partial sums so the
/// compiler can vectorise it (always inlined, so that the AVX copies of its callers use
/// 256-bit registers for the same eight sums, with the same results).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    for (x, y) in ca.zip(cb) {
        // Fixed-size copies let the compiler drop bounds checks and use SIMD registers.
        let x: [f32; LANES] = x.try_into().unwrap_or([0.0; LANES]);
        let y: [f32; LANES] = y.try_into().unwrap_or([0.0; LANES]);
        for ((a, x), y) in acc.iter_mut().zip(x).zip(y) {
            *a += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Energy sum_i a(i)^2, returned as f64 for the recursive updates.
#[inline(always)]
fn energy(a: &[f32]) -> f64 {
    f64::from(dot(a, a))
}

/// Whether two slices hold the same bits (an OR of XORs, vectorisable, no early exit).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .fold(0u32, |d, (x, y)| d | (x.to_bits() ^ y.to_bits()))
            == 0
}

/// rho = c / sqrt(E_a E_b), 0 when either energy is below `SILENCE_POWER * len`, clamped to
/// [-1, 1] (rounding can overshoot by an ulp), 0 if not finite.
#[inline(always)]
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
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (just detected).
        unsafe { correlation_curve_avx(x, end, len, lag_min, lag_max, out) };
        return;
    }
    correlation_curve_impl(x, end, len, lag_min, lag_max, out);
}

/// [`correlation_curve`] with AVX: the inner products of eight lags at a time in 256-bit
/// registers, lane i of a register being partial sum i of [`dot`], with the same separate
/// multiplies and adds in the same order (no FMA), so the same results as the portable path.
/// Written with intrinsics: left to the auto-vectoriser, the four-lag loop compiled to
/// scalar shuffles and spills in the crate's build (slower than the portable path).
///
/// Safety: the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn correlation_curve_avx(
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
    let count = (lag_max - lag_min + 1).min(out.len());
    let out = &mut out[..count];
    let lagged = |lag: usize| &x[start - lag..end - lag];
    // Eight lags at a time, then four, then one.
    let mut i = 0;
    while i + 8 <= count {
        let b: [&[f32]; 8] = std::array::from_fn(|k| lagged(lag_min + i + k));
        out[i..i + 8].copy_from_slice(&avx::dots(win, b));
        i += 8;
    }
    if i + 4 <= count {
        let b: [&[f32]; 4] = std::array::from_fn(|k| lagged(lag_min + i + k));
        out[i..i + 4].copy_from_slice(&avx::dots(win, b));
        i += 4;
    }
    for (j, o) in out.iter_mut().enumerate().skip(i) {
        *o = avx::dot(win, lagged(lag_min + j));
    }
    let e0 = f64::from(avx::dot(win, win));
    let e_first = f64::from(avx::dot(lagged(lag_min), lagged(lag_min)));
    normalise_curve(x, start, end, lag_min, e0, e_first, out);
}

/// The inner products of the pitch search with AVX intrinsics, bit for bit [`dot`]'s.
#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// Lane sums in order plus the tail, as [`super::dot`] ends.
    #[inline]
    #[target_feature(enable = "avx")]
    fn finish(acc: __m256, a: &[f32], b: &[f32], tail_start: usize) -> f32 {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let mut tail = 0.0;
        for (x, y) in a[tail_start..].iter().zip(&b[tail_start..]) {
            tail += x * y;
        }
        lanes.iter().sum::<f32>() + tail
    }

    /// [`super::dot`].
    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let chunks = n / 8;
        let mut acc = _mm256_setzero_ps();
        for c in 0..chunks {
            // SAFETY: 8 c + 8 <= n, the length of both.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(a.as_ptr().add(8 * c)),
                    _mm256_loadu_ps(b.as_ptr().add(8 * c)),
                )
            };
            acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
        }
        finish(acc, a, b, 8 * chunks)
    }

    /// [`super::dot`] of `a` with each of `b`, sharing the loads of `a` (`N` independent
    /// sums also hide the latency of the adds).
    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) fn dots<const N: usize>(a: &[f32], b: [&[f32]; N]) -> [f32; N] {
        let n = b.iter().fold(a.len(), |n, b| n.min(b.len()));
        let a = &a[..n];
        let b = b.map(|b| &b[..n]);
        let chunks = n / 8;
        let mut acc = [_mm256_setzero_ps(); N];
        for c in 0..chunks {
            // SAFETY: 8 c + 8 <= n, the length of `a` and of every `b`.
            unsafe {
                let x = _mm256_loadu_ps(a.as_ptr().add(8 * c));
                for (acc, b) in acc.iter_mut().zip(&b) {
                    let y = _mm256_loadu_ps(b.as_ptr().add(8 * c));
                    *acc = _mm256_add_ps(*acc, _mm256_mul_ps(x, y));
                }
            }
        }
        let mut out = [0.0f32; N];
        for ((o, acc), b) in out.iter_mut().zip(acc).zip(b) {
            *o = finish(acc, a, b, 8 * chunks);
        }
        out
    }
}

/// The portable [`correlation_curve`]: one [`dot`] per lag.
#[inline(always)]
fn correlation_curve_impl(
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
    let count = (lag_max - lag_min + 1).min(out.len());
    let out = &mut out[..count];
    for (i, o) in out.iter_mut().enumerate() {
        let lag = lag_min + i;
        *o = dot(win, &x[start - lag..end - lag]);
    }
    let e_first = energy(&x[start - lag_min..end - lag_min]);
    normalise_curve(x, start, end, lag_min, energy(win), e_first, out);
}

/// Turns the inner products `c[i]` (lag `lag_min + i`) of the window `x[start..end]` (energy
/// `e0`) into normalised correlations, the lagged energy starting at `e_first` (lag
/// `lag_min`) and updated recursively, E(T+1) = E(T) + x(start-T-1)^2 - x(end-T-1)^2, a block
/// of lags at a time: the energies first (a sequential recursion), then the square roots and
/// divisions (which vectorise).
#[inline(always)]
fn normalise_curve(
    x: &[f32],
    start: usize,
    end: usize,
    lag_min: usize,
    e0: f64,
    e_first: f64,
    c: &mut [f32],
) {
    let sqrt_e0 = e0.sqrt();
    let floor = SILENCE_POWER * (end - start) as f64;
    let mut e_lag = e_first;
    let mut energies = [0.0f64; 64];
    for (b, block) in c.chunks_mut(energies.len()).enumerate() {
        for (i, e) in energies.iter_mut().enumerate().take(block.len()) {
            let lag = lag_min + b * 64 + i;
            if lag > lag_min {
                let new = f64::from(x[start - lag]);
                let old = f64::from(x[end - lag]);
                e_lag = (e_lag + new * new - old * old).max(0.0);
            }
            *e = e_lag;
        }
        for (o, &eb) in block.iter_mut().zip(&energies) {
            *o = normalise_with(*o, e0, sqrt_e0, eb, floor);
        }
    }
}

/// [`normalise`] with `sqrt(ea)` and the silence floor computed once, written without
/// branches (so a loop over lags vectorises); the same results.
#[inline(always)]
fn normalise_with(c: f32, ea: f64, sqrt_ea: f64, eb: f64, floor: f64) -> f32 {
    let voiced = ea > floor && eb > floor;
    let r = (f64::from(c) / (sqrt_ea * eb.sqrt())) as f32;
    let r = if r.is_finite() {
        r.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    if voiced {
        r
    } else {
        0.0
    }
}

/// `filtered[n] = dot(taps, hp[n + 1 - LOWPASS_TAPS..=n])` for `n` in `from..hp.len()`,
/// bit for bit (AVX or not: the same operations in the same order).
fn lowpass(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (just detected).
        unsafe { lowpass_avx(taps, hp, filtered, from) };
        return;
    }
    lowpass_impl(taps, hp, filtered, from);
}

/// Safety: the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn lowpass_avx(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    lowpass_impl(taps, hp, filtered, from);
}

/// Eight outputs at a time, each computed as [`dot`] computes it (eight partial sums of
/// every eighth product, added in order, plus the empty tail's 0), so the results are
/// [`dot`]'s bit for bit while the arithmetic runs across outputs, with no horizontal sums.
#[inline(always)]
fn lowpass_impl(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    const M: usize = LOWPASS_TAPS;
    const LANES: usize = 8;
    const _: () = assert!(M.is_multiple_of(LANES) && M >= LANES);
    let n_end = hp.len().min(filtered.len());
    let Ok(taps) = <&[f32; M]>::try_from(taps) else {
        return;
    };
    let mut n = from.max(M - 1);
    while n + LANES <= n_end {
        let x = &hp[n + 1 - M..n + LANES];
        // acc[i][j]: partial sum i of output n + j.
        let mut acc = [[0.0f32; LANES]; LANES];
        for c in 0..M / LANES {
            for (i, a) in acc.iter_mut().enumerate() {
                let t = taps[c * LANES + i];
                let xs: &[f32; LANES] = x[c * LANES + i..][..LANES]
                    .try_into()
                    .unwrap_or(&[0.0; LANES]);
                for (a, &v) in a.iter_mut().zip(xs) {
                    *a += t * v;
                }
            }
        }
        let mut sum = acc[0];
        for a in &acc[1..] {
            for (s, v) in sum.iter_mut().zip(a) {
                *s += v;
            }
        }
        for (f, s) in filtered[n..n + LANES].iter_mut().zip(sum) {
            *f = s + 0.0;
        }
        n += LANES;
    }
    for n in n..n_end {
        filtered[n] = dot(taps, &hp[n + 1 - M..=n]);
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
        let sinc = if t == 0.0 {
            2.0 * fc
        } else {
            arg.sin() / (std::f64::consts::PI * t)
        };
        let w = (std::f64::consts::PI * (i as f64 + 0.5) / m as f64)
            .sin()
            .powi(2);
        *h = (sinc * w) as f32;
    }
    let sum: f32 = out.iter().sum();
    if sum != 0.0 {
        out.iter_mut().for_each(|h| *h /= sum);
    }
}

/// A 2nd-order high-pass section (bilinear transform, RBJ form), run in f64 as a transposed
/// direct form II:
///   y = b0 x + s1,  s1' = b1 x - a1 y + s2,  s2' = b2 x - a2 y.
#[derive(Clone, Copy, Debug)]
struct HighpassSection {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl HighpassSection {
    /// With w0 = 2 pi f_c / f_s, alpha = sin(w0) / (2 Q):
    /// b = [(1 + cos w0)/2, -(1 + cos w0), (1 + cos w0)/2] / (1 + alpha),
    /// a = [-2 cos w0, 1 - alpha] / (1 + alpha).
    fn new(cutoff_hz: f64, sample_rate: f64, q: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * cutoff_hz / sample_rate;
        let alpha = w0.sin() / (2.0 * q);
        let (c, a0) = (w0.cos(), 1.0 + alpha);
        let b0 = (1.0 + c) / 2.0 / a0;
        Self {
            b: [b0, -2.0 * b0, b0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            s: [0.0; 2],
        }
    }

    /// Sets the state as if the input had always been `x0` (so the output is 0, the DC gain
    /// being 0): s2 = b2 x0, s1 = (b1 + b2) x0.
    fn settle(&mut self, x0: f64) {
        self.s = [(self.b[1] + self.b[2]) * x0, self.b[2] * x0];
    }

    #[inline]
    fn step(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// A 4th-order Butterworth high-pass: two 2nd-order sections with Q = 1 / (2 cos(pi/8)) and
/// 1 / (2 cos(3 pi/8)). -3 dB at the cut-off, 24 dB per octave below it.
#[derive(Clone, Copy, Debug)]
pub struct Highpass {
    sections: [HighpassSection; 2],
}

impl Highpass {
    /// The filter for a cut-off and sample rate in Hz.
    pub fn new(cutoff_hz: f64, sample_rate: f64) -> Self {
        let q = |k: f64| 1.0 / (2.0 * (k * std::f64::consts::PI / 8.0).cos());
        Self {
            sections: [
                HighpassSection::new(cutoff_hz, sample_rate, q(1.0)),
                HighpassSection::new(cutoff_hz, sample_rate, q(3.0)),
            ],
        }
    }

    /// Sets the state as if the input had always been `x0` (output 0). A history starting on
    /// a DC offset then causes no transient.
    pub fn settle(&mut self, x0: f32) {
        self.sections[0].settle(f64::from(x0));
        self.sections[1].settle(0.0);
    }

    /// `out[i] = step(sanitize(x[i]))` over the common length, with the filter in local
    /// variables (kept in registers rather than written back after every sample): the same
    /// operations, so the same results as calling [`Highpass::step`] sample by sample.
    fn run(&mut self, x: &[f32], out: &mut [f32]) {
        let mut f = *self;
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f.step(sanitize(v));
        }
        *self = f;
    }

    /// One output sample (0, and a cleared state, should it ever become non-finite).
    #[inline]
    pub fn step(&mut self, x: f32) -> f32 {
        let mid = self.sections[0].step(f64::from(x));
        let y = self.sections[1].step(mid);
        if !y.is_finite() {
            self.settle(0.0);
            return 0.0;
        }
        y as f32
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

/// Height of the parabola through (-1, a), (0, b), (1, c) at its vertex when b is a local
/// maximum: b + (c - a)^2 / (8 (2b - a - c)), capped at 1; otherwise b. Estimates the peak of
/// a correlation curve sampled on the coarse grid, so that peaks at T and 2T compare fairly.
pub fn peak_value(a: f32, b: f32, c: f32) -> f32 {
    let curvature = 2.0 * b - a - c;
    if b >= a && b >= c && curvature > 0.0 {
        (b + (c - a) * (c - a) / (8.0 * curvature)).min(1.0)
    } else {
        b
    }
}

/// Octave-guarded scores of coarse lags. With r(L) = max(rho(L), 0) for L = `lag_min + i`
/// (`rho[i]`) where L is a local maximum of rho (r(L) = 0 elsewhere, and at the first and last
/// lag, which only serve as neighbours), p(L) the parabolic peak value at L ([`peak_value`])
/// and s(L) the best p at the grid points next to a sub-multiple L/k, k = 2, 3, ... (while
/// L/k >= `lag_min`):
///
///   score(L) = clamp(r(L) - OCTAVE_PENALTY max(0, s(L) - OCTAVE_RATIO p(L)), 0, 1).
///
/// Only peaks count because a signal dominated by low frequencies (hum, rumble) correlates
/// at every short lag without a peak there.
/// A periodic signal has rho(kT) ~ rho(T), so every multiple of the true period loses score
/// while the true period keeps it: the guard prefers the shortest period that correlates
/// nearly as well as the best. The ratio is close to 1 because a strong even harmonic (a
/// formant on 2 f0) makes rho(T/2) high too, though still clearly below rho(T).
pub fn octave_scores(rho: &[f32], lag_min: usize, out: &mut [f32]) {
    let n = rho.len().min(out.len());
    let pos = |i: usize| rho.get(i).copied().unwrap_or(0.0).max(0.0);
    let peak_at = |i: usize| peak_value(pos(i.wrapping_sub(1)), pos(i), pos(i + 1));
    // p(L) for every lag, computed once (the sub-multiple search below reads each many
    // times); curves longer than the table compute the rest on the fly, with the same values.
    let mut table = [0.0f32; PEAK_TABLE];
    let cached = n.min(PEAK_TABLE);
    for (i, t) in table.iter_mut().enumerate().take(cached) {
        *t = peak_at(i);
    }
    let peak = |i: usize| {
        if i < cached {
            table[i]
        } else {
            peak_at(i)
        }
    };
    // out(L) <- s(L), visiting k in the outer loop and the lags in runs of equal q =
    // floor(L / k), without divisions.
    out.iter_mut().for_each(|o| *o = 0.0);
    let lag_max = lag_min + n.saturating_sub(1);
    let mut k = 2;
    while lag_min >= 1 && k * lag_min <= lag_max {
        // L = k q + r: the grid points around L/k are q (r = 0), else q and q + 1.
        let mut q = lag_min;
        while k * q <= lag_max {
            let lag = k * q;
            let (pq, pq1) = (peak(q - lag_min), peak(q + 1 - lag_min));
            let o = &mut out[lag - lag_min];
            *o = o.max(pq).max(pq);
            let run = lag + 1 - lag_min..(lag + k).min(lag_max + 1) - lag_min;
            for o in &mut out[run] {
                *o = o.max(pq).max(pq1);
            }
            q += 1;
        }
        k += 1;
    }
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let r = pos(i);
        let is_peak = i > 0 && i + 1 < n && r >= pos(i - 1) && r >= pos(i + 1);
        let r = if is_peak { r } else { 0.0 };
        let s = r - OCTAVE_PENALTY * (*o - OCTAVE_RATIO * peak(i)).max(0.0);
        *o = if s.is_finite() {
            s.clamp(0.0, 1.0)
        } else {
            0.0
        };
    }
}

/// Lags whose parabolic peak values [`octave_scores`] keeps in a table on the stack (the
/// tracker's coarse curve has `NUM_LAGS` = 182).
const PEAK_TABLE: usize = 256;

/// In-place L1 distance transform on a line: with `gap[s]` >= 0 the distance between points s
/// and s + 1, replaces f(s) by min_p f(p) + dist(p, s) (dist = sum of the gaps between them)
/// and sets `arg[s]` to the minimising p (ties keep the nearer, staying wins). Two passes,
/// forward then backward (Felzenszwalb & Huttenlocher), exact in O(n). `arg` must start as
/// the identity.
pub fn l1_distance_transform(f: &mut [f32], arg: &mut [u16], gap: &[f32]) {
    let n = f.len().min(arg.len()).min(gap.len() + 1);
    for s in 1..n {
        let c = f[s - 1] + gap[s - 1];
        if c < f[s] {
            f[s] = c;
            arg[s] = arg[s - 1];
        }
    }
    for s in (0..n.saturating_sub(1)).rev() {
        let c = f[s + 1] + gap[s];
        if c < f[s] {
            f[s] = c;
            arg[s] = arg[s + 1];
        }
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

/// A cached refinement: ((coarse state, extended window), estimate).
type CachedRefinement = ((u16, bool), PitchEstimate);

/// Streaming pitch tracker.
pub struct PitchTracker {
    /// Low-pass taps h(0..M).
    taps: Vec<f32>,
    /// High-pass, with its state after the newest sample of `hp`.
    highpass: Highpass,
    /// The last call's history as given (zero-padded).
    input: Vec<f32>,
    /// High-passed sanitised history (while streaming, only its newest `HOP + LOWPASS_TAPS - 1`
    /// samples are kept: nothing reads older ones).
    hp: Vec<f32>,
    /// Its low-pass sum_i h(i) hp(n - i) for n >= LOWPASS_TAPS - 1 (0 before): the signal all
    /// correlations are computed on.
    filtered: Vec<f32>,
    /// Whether `input`, `hp`, `filtered` and the high-pass state hold the previous call's
    /// history (false after reset or a history of the wrong length).
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
        let jump_gap: Vec<f32> = (COARSE_MIN..COARSE_MAX)
            .map(|lag| VITERBI.jump_per_log * ((lag + 1) as f32 / lag as f32).ln())
            .collect();
        Self {
            taps,
            highpass: Highpass::new(HIGHPASS_HZ, f64::from(SAMPLE_RATE)),
            input: vec![0.0; PITCH_BUF],
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
            decisions: [IDLE; RING],
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
        self.decisions = [IDLE; RING];
        self.stream_valid = false;
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

    /// Step 1: sanitises the history (zero-padded at the start if short, newest samples kept
    /// if long), high-passes it into `hp` and low-passes that into `filtered`. When the
    /// history is bit for bit the previous one advanced by `HOP` samples (the streaming
    /// case), the buffers are shifted and only the newest `HOP` samples are filtered, the
    /// high-pass continuing from its state; otherwise the high-pass starts settled on the
    /// oldest sample and the whole history is filtered.
    fn load(&mut self, history: &[f32]) {
        let take = history.len().min(PITCH_BUF);
        let pad = PITCH_BUF - take;
        let src = &history[history.len() - take..];
        let continuous =
            self.stream_valid && pad == 0 && same_bits(&src[..PITCH_BUF - HOP], &self.input[HOP..]);
        self.input[..pad].iter_mut().for_each(|v| *v = 0.0);
        self.input[pad..].copy_from_slice(src);
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
            self.highpass.settle(sanitize(self.input[0]));
            self.filtered[..LOWPASS_TAPS - 1]
                .iter_mut()
                .for_each(|v| *v = 0.0);
            0
        };
        self.highpass
            .run(&self.input[first_new..], &mut self.hp[first_new..]);
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
        octave_scores(&self.rho, COARSE_LAG_LO, &mut self.score);
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

    /// Step 6: trace back and refine the decisions for the newest `MAX_LOOKAHEAD + 1` frames.
    fn decide(&mut self) {
        let newest = self.frames;
        self.refined[(newest % RING as u64) as usize] = [None; RING];
        let (_, mut state) = self.cost_min;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// |H(e^{jw})| of an FIR.
    fn fir_gain(h: &[f32], f: f32) -> f32 {
        let w = 2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32;
        let (mut re, mut im) = (0.0f32, 0.0f32);
        for (i, &v) in h.iter().enumerate() {
            re += v * (w * i as f32).cos();
            im -= v * (w * i as f32).sin();
        }
        (re * re + im * im).sqrt()
    }

    #[test]
    fn lowpass_has_unit_dc_gain_and_rejects_the_alias_band() {
        let mut h = [0.0f32; LOWPASS_TAPS];
        lowpass_taps(LOWPASS_CUTOFF_HZ, SAMPLE_RATE as f32, &mut h);
        assert!((fir_gain(&h, 0.0) - 1.0).abs() < 1e-5);
        assert!(fir_gain(&h, 1000.0) > 0.9, "{}", fir_gain(&h, 1000.0));
        assert!(fir_gain(&h, 9000.0) < 0.01, "{}", fir_gain(&h, 9000.0));
    }

    #[test]
    fn highpass_removes_dc_and_hum_and_passes_voice() {
        let rms_out = |f: f64, settle_on_first: bool| {
            let mut hp = Highpass::new(HIGHPASS_HZ, f64::from(SAMPLE_RATE));
            let x = |n: usize| {
                0.3 + (2.0 * std::f64::consts::PI * f * n as f64 / 48_000.0).sin() as f32
            };
            if settle_on_first {
                hp.settle(x(0));
            }
            let n = 48_000;
            let (mut e, mut count) = (0.0f64, 0);
            for i in 0..n {
                let y = hp.step(x(i));
                if i >= n / 2 {
                    e += f64::from(y) * f64::from(y);
                    count += 1;
                }
            }
            (e / count as f64).sqrt() * std::f64::consts::SQRT_2
        };
        assert!(rms_out(20.0, true) < 0.01, "{}", rms_out(20.0, true));
        assert!(rms_out(50.0, true) < 0.2, "{}", rms_out(50.0, true));
        assert!(rms_out(300.0, true) > 0.95, "{}", rms_out(300.0, true));
        // Settled on a DC offset: no transient at all.
        let mut hp = Highpass::new(HIGHPASS_HZ, f64::from(SAMPLE_RATE));
        hp.settle(0.5);
        assert!(hp.step(0.5).abs() < 1e-6);
    }

    #[test]
    fn peak_value_interpolates_a_parabola() {
        // Samples of 1 - (t - 0.25)^2 at t = -1, 0, 1: vertex 1 at t = 0.25.
        let f = |t: f32| 1.0 - (t - 0.25) * (t - 0.25);
        assert!((peak_value(f(-1.0), f(0.0), f(1.0)) - 1.0).abs() < 1e-6);
        assert_eq!(peak_value(0.5, 0.2, 0.9), 0.2); // not a maximum
    }

    #[test]
    fn distance_transform_matches_brute_force() {
        let f0 = [3.0, 0.5, 2.0, 4.0, 0.1, 5.0, 5.0, 1.0];
        let gap = [0.3, 0.2, 1.0, 0.1, 0.4, 0.05, 0.6];
        let mut f = f0;
        let mut arg: Vec<u16> = (0..f.len() as u16).collect();
        l1_distance_transform(&mut f, &mut arg, &gap);
        let pos: Vec<f32> = std::iter::once(0.0)
            .chain(gap.iter().scan(0.0, |a, g| {
                *a += g;
                Some(*a)
            }))
            .collect();
        for s in 0..f0.len() {
            let best = (0..f0.len())
                .map(|p| f0[p] + (pos[s] - pos[p]).abs())
                .fold(f32::INFINITY, f32::min);
            assert!((f[s] - best).abs() < 1e-5, "state {s}: {} vs {best}", f[s]);
            let p = arg[s] as usize;
            let via = f0[p] + (pos[s] - pos[p]).abs();
            assert!((via - best).abs() < 1e-5, "state {s}: argmin {p}");
        }
    }

    #[test]
    fn octave_guard_prefers_the_fundamental() {
        // rho of a periodic signal with period 20 coarse lags: peaks at 20, 40, 60, ...
        let lo = COARSE_LAG_LO;
        let mut rho = vec![0.0; NUM_LAGS];
        for (i, r) in rho.iter_mut().enumerate() {
            let lag = lo + i;
            *r = if lag.is_multiple_of(20) { 0.8 } else { 0.1 };
        }
        rho[40 - lo] = 0.84; // the double even slightly better
        let mut score = vec![0.0; NUM_LAGS];
        octave_scores(&rho, lo, &mut score);
        let best = (0..NUM_LAGS)
            .max_by(|&a, &b| score[a].total_cmp(&score[b]))
            .unwrap();
        assert_eq!(lo + best, 20);
        // A clearly weaker half period (a strong second harmonic) does not win.
        rho[20 - lo] = 0.6;
        octave_scores(&rho, lo, &mut score);
        assert!(score[40 - lo] > score[20 - lo]);
        // A smooth curve decreasing from the shortest lag has no peak: no score.
        let smooth: Vec<f32> = (0..NUM_LAGS).map(|i| 0.99 - 0.005 * i as f32).collect();
        octave_scores(&smooth, lo, &mut score);
        assert!(score.iter().all(|&s| s == 0.0));
    }
}
