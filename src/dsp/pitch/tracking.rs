//! Scoring and tracking helpers of the pitch search (`docs/ALGORITHM.md`, "Pitch"): the
//! parabolic peak of a sampled correlation curve, the octave guard that turns correlations into
//! scores, and the L1 distance transform that makes each Viterbi step linear in the number of
//! states.

use super::{OCTAVE_PENALTY, OCTAVE_RATIO};

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
    // p(L) and m(L) = max(p(L), p(L + 1)) (the best grid point around a non-integer L/k)
    // for every lag, computed once (the sub-multiple search below reads each many times);
    // curves longer than the table compute the rest on the fly, with the same values.
    let mut peaks = [0.0f32; PEAK_TABLE + 1];
    let mut pairs = [0.0f32; PEAK_TABLE];
    let cached = n.min(PEAK_TABLE);
    for (i, t) in peaks.iter_mut().enumerate().take(cached + 1) {
        *t = peak_at(i);
    }
    for (i, m) in pairs.iter_mut().enumerate().take(cached) {
        *m = larger(peaks[i], peaks[i + 1]);
    }
    let peak = |i: usize| if i < cached { peaks[i] } else { peak_at(i) };
    let pair = |i: usize| {
        if i < cached {
            pairs[i]
        } else {
            larger(peak_at(i), peak_at(i + 1))
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
            let (pq, mq) = (peak(q - lag_min), pair(q - lag_min));
            let o = &mut out[lag - lag_min];
            *o = larger(*o, pq);
            let run = lag + 1 - lag_min..(lag + k).min(lag_max + 1) - lag_min;
            for o in &mut out[run] {
                *o = larger(*o, mq);
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
