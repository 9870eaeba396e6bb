//! Scoring and tracking helpers of the pitch search (`docs/ALGORITHM.md`, "Pitch"): the
//! parabolic peak of a sampled correlation curve, the octave guard that turns correlations into
//! scores, and the L1 distance transform that makes each Viterbi step linear in the number of
//! states.

use super::{OCTAVE_PENALTY, OCTAVE_RATIO};

/// Height of the parabola through (-1, a), (0, b), (1, c) at its vertex when b is a local
/// maximum: b + (c - a)^2 / (8 (2b - a - c)), capped at 1; otherwise b. Estimates the peak of
/// a correlation curve sampled on the coarse grid, so that peaks at T and 2T compare fairly.
#[inline]
pub fn peak_value(a: f32, b: f32, c: f32) -> f32 {
    // Both values computed and one selected, without branches (peaks come at random, a
    // branch on them would be mispredicted); the vertex is discarded where it is undefined.
    let curvature = 2.0 * b - a - c;
    let vertex = (b + (c - a) * (c - a) / (8.0 * curvature)).min(1.0);
    let is_peak = (b >= a) & (b >= c) & (curvature > 0.0);
    if is_peak {
        vertex
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
    octave_scores_inline(rho, lag_min, out);
}

/// [`octave_scores`], inlined into the tracker (and so compiled for the instruction set its
/// caller is compiled for).
#[inline(always)]
pub(super) fn octave_scores_inline(rho: &[f32], lag_min: usize, out: &mut [f32]) {
    let n = rho.len().min(out.len());
    let pos = |i: usize| rho.get(i).copied().unwrap_or(0.0).max(0.0);
    let peak_at = |i: usize| peak_value(pos(i.wrapping_sub(1)), pos(i), pos(i + 1));
    // r(L) with a zero before the first lag (`padded[i + 1]` = r(lag_min + i)), p(L) and
    // m(L) = max(p(L), p(L + 1)) (the best grid point around a non-integer L/k) for every
    // lag, computed once in branch-free loops (the sub-multiple search below reads each many
    // times); curves longer than the tables compute the rest on the fly, with the same values.
    let cached = n.min(PEAK_TABLE);
    let mut padded = [0.0f32; PEAK_TABLE + 3];
    let known = rho.len().min(cached + 2);
    for (p, &r) in padded[1..].iter_mut().zip(&rho[..known]) {
        *p = r.max(0.0);
    }
    let mut peaks = [0.0f32; PEAK_TABLE + 1];
    for (t, w) in peaks[..=cached].iter_mut().zip(padded.windows(3)) {
        *t = peak_value(w[0], w[1], w[2]);
    }
    let mut pairs = [0.0f32; PEAK_TABLE];
    for (m, w) in pairs[..cached].iter_mut().zip(peaks.windows(2)) {
        *m = larger(w[0], w[1]);
    }
    let peak = |i: usize| if i < cached { peaks[i] } else { peak_at(i) };
    let pair = |i: usize| {
        if i < cached {
            pairs[i]
        } else {
            larger(peak_at(i), peak_at(i + 1))
        }
    };
    // out(L) <- s(L), visiting k in the outer loop and the lags in runs of equal
    // q = floor(L / k), without divisions; the small k, which make most of the work, with k
    // known at compile time.
    out.iter_mut().for_each(|o| *o = 0.0);
    let grid = Grid {
        lag_min,
        lag_max: lag_min + n.saturating_sub(1),
    };
    let tables = (&peaks[..cached], &pairs[..cached]);
    let mut k = 2;
    while lag_min >= 1 && k * lag_min <= grid.lag_max {
        let out = &mut out[..n];
        match k {
            2 => grid.stripes::<2>(tables, &peak, &pair, out),
            3 => grid.stripes::<3>(tables, &peak, &pair, out),
            4 => grid.stripes::<4>(tables, &peak, &pair, out),
            5 => grid.stripes::<5>(tables, &peak, &pair, out),
            6 => grid.stripes::<6>(tables, &peak, &pair, out),
            7 => grid.stripes::<7>(tables, &peak, &pair, out),
            8 => grid.stripes::<8>(tables, &peak, &pair, out),
            _ => grid.stripes_of(k, lag_min, &peak, &pair, out),
        }
        k += 1;
    }
    let score = |r: f32, is_peak: bool, s: f32, p: f32| {
        let r = if is_peak { r } else { 0.0 };
        let s = r - OCTAVE_PENALTY * (s - OCTAVE_RATIO * p).max(0.0);
        if s.is_finite() {
            s.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    for (i, o) in out.iter_mut().enumerate().take(cached) {
        let (before, r, after) = (padded[i], padded[i + 1], padded[i + 2]);
        let is_peak = (i > 0) & (i + 1 < n) & (r >= before) & (r >= after);
        *o = score(r, is_peak, *o, peaks[i]);
    }
    for (i, o) in out.iter_mut().enumerate().take(n).skip(cached) {
        let r = pos(i);
        let is_peak = (i + 1 < n) & (r >= pos(i - 1)) & (r >= pos(i + 1));
        *o = score(r, is_peak, *o, peak_at(i));
    }
}

/// The coarse lags `lag_min..=lag_max` of [`octave_scores`].
struct Grid {
    lag_min: usize,
    lag_max: usize,
}

impl Grid {
    /// For k = `K`: out(L) <- max(out(L), p(L/k)) where k divides L, max(out(L), m(floor(L/k)))
    /// elsewhere: first over the whole runs L = k q .. k q + k - 1 whose p and m are in the
    /// tables (`K` known, a run is straight-line code and the loop vectorises), then the rest.
    #[inline(always)]
    fn stripes<const K: usize>(
        &self,
        tables: (&[f32], &[f32]),
        peak: &impl Fn(usize) -> f32,
        pair: &impl Fn(usize) -> f32,
        out: &mut [f32],
    ) {
        let (peaks, pairs) = tables;
        // Whole runs: K q + K - 1 <= lag_max.
        let runs = ((self.lag_max + 1) / K)
            .saturating_sub(self.lag_min)
            .min(peaks.len())
            .min(pairs.len());
        let first = (K - 1) * self.lag_min;
        let done = match out.get_mut(first..first + K * runs) {
            Some(region) => {
                for ((run, &p), &m) in region.chunks_exact_mut(K).zip(peaks).zip(pairs) {
                    run[0] = larger(run[0], p);
                    for o in &mut run[1..] {
                        *o = larger(*o, m);
                    }
                }
                runs
            }
            None => 0,
        };
        self.stripes_of(K, self.lag_min + done, peak, pair, out);
    }

    /// [`Grid::stripes`] for any k, from q = `first` on.
    #[inline(always)]
    fn stripes_of(
        &self,
        k: usize,
        first: usize,
        peak: &impl Fn(usize) -> f32,
        pair: &impl Fn(usize) -> f32,
        out: &mut [f32],
    ) {
        let mut q = first;
        while k * q <= self.lag_max {
            let lag = k * q;
            let (pq, mq) = (peak(q - self.lag_min), pair(q - self.lag_min));
            let o = &mut out[lag - self.lag_min];
            *o = larger(*o, pq);
            let run = lag + 1 - self.lag_min..(lag + k).min(self.lag_max + 1) - self.lag_min;
            for o in &mut out[run] {
                *o = larger(*o, mq);
            }
            q += 1;
        }
    }
}

/// max(a, b) for values that are never NaN (peak values: [`peak_value`] of numbers >= 0
/// never returns NaN), as one compare instead of `f32::max`'s NaN handling.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
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
pub(super) fn argmin(v: &[f32]) -> (f32, usize) {
    let mut best = (f32::INFINITY, 0);
    for (i, &c) in v.iter().enumerate() {
        if c < best.0 {
            best = (c, i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::pitch::{COARSE_LAG_LO, NUM_LAGS};

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

    /// [`octave_scores`] straight from its definition, one lag at a time.
    fn octave_scores_by_definition(rho: &[f32], lag_min: usize) -> Vec<f32> {
        let n = rho.len();
        let r = |i: isize| {
            usize::try_from(i)
                .ok()
                .and_then(|i| rho.get(i))
                .map_or(0.0, |v| v.max(0.0))
        };
        let p = |i: usize| peak_value(r(i as isize - 1), r(i as isize), r(i as isize + 1));
        (0..n)
            .map(|i| {
                let lag = lag_min + i;
                let mut s = 0.0f32;
                for k in 2..=lag / lag_min.max(1) {
                    let q = lag / k;
                    if lag_min == 0 || q < lag_min {
                        continue;
                    }
                    let v = if lag.is_multiple_of(k) {
                        p(q - lag_min)
                    } else {
                        p(q - lag_min).max(p(q + 1 - lag_min))
                    };
                    s = s.max(v);
                }
                let ri = r(i as isize);
                let is_peak =
                    i > 0 && i + 1 < n && ri >= r(i as isize - 1) && ri >= r(i as isize + 1);
                let ri = if is_peak { ri } else { 0.0 };
                (ri - OCTAVE_PENALTY * (s - OCTAVE_RATIO * p(i)).max(0.0)).clamp(0.0, 1.0)
            })
            .collect()
    }

    /// The tables, the runs for k known at compile time and the on-the-fly path of curves
    /// longer than the tables give the definition's scores bit for bit.
    #[test]
    fn octave_scores_match_their_definition() {
        let mut state = 0x2545_f491u32;
        for (n, lag_min) in [
            (NUM_LAGS, COARSE_LAG_LO),
            (300, 14),
            (700, 9),
            (40, 1),
            (64, 3),
        ] {
            for period in [7.0f32, 19.5, 31.0] {
                let rho: Vec<f32> = (0..n)
                    .map(|i| {
                        let noise = super::super::test_noise(&mut state) * 0.4;
                        let phase = std::f32::consts::TAU * (lag_min + i) as f32 / period;
                        (0.8 * phase.cos() + noise).clamp(-1.0, 1.0)
                    })
                    .collect();
                let mut fast = vec![0.0; n];
                octave_scores(&rho, lag_min, &mut fast);
                let want = octave_scores_by_definition(&rho, lag_min);
                for (i, (f, w)) in fast.iter().zip(&want).enumerate() {
                    assert_eq!(
                        f.to_bits(),
                        w.to_bits(),
                        "n {n}, lag {}: {f} vs {w}",
                        lag_min + i
                    );
                }
                assert!(want.iter().any(|&s| s > 0.0), "n {n}: some lag scores");
            }
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
