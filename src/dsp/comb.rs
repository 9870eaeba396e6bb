//! Pitch-tuned comb filter and pitch coherence.
//!
//! p(n) = sum_{k=-M..M} c_k x(n - kT), with c_k a Hann window normalised to sum 1. Taps at
//! negative k read future samples; where a tap would read past the samples the engine has
//! (its lookahead) or before its history, it is dropped and the remaining taps are
//! renormalised to sum 1, so a periodic signal still passes unchanged.

use crate::dsp::bands::BandArray;

/// Half-length M of the comb filter: 2M + 1 = 5 taps.
pub const COMB_M: usize = 2;
/// Number of taps 2M + 1.
pub const COMB_TAPS: usize = 2 * COMB_M + 1;

/// Hann taps c_k = (1 + cos(pi k / (M + 1))) / 2, normalised so sum_k c_k = 1; index k + M.
pub const fn comb_taps() -> [f32; COMB_TAPS] {
    // const fn cannot call cos: M = 2 gives 1/4, 3/4, 1, 3/4, 1/4 before normalisation.
    const RAW: [f32; COMB_TAPS] = [0.25, 0.75, 1.0, 0.75, 0.25];
    let sum = RAW[0] + RAW[1] + RAW[2] + RAW[3] + RAW[4];
    let mut c = [0.0; COMB_TAPS];
    let mut i = 0;
    while i < COMB_TAPS {
        c[i] = RAW[i] / sum;
        i += 1;
    }
    c
}

/// The comb taps c_{-M..M}.
pub const TAPS: [f32; COMB_TAPS] = comb_taps();

/// Power gain of the comb on white noise, sum_k c_k^2 (the factor by which it reduces noise).
pub fn noise_power_gain() -> f32 {
    TAPS.iter().map(|c| c * c).sum()
}

/// Filters `out.len()` samples of `x` starting at index `start`:
/// out(i) = sum_k c_k x(start + i - kT) / sum_{k valid} c_k, where a tap is valid when its
/// index lies inside `x`.
///
/// The outputs are cut into runs with the same valid taps (at most 2 (2M + 1) + 1 runs; the
/// interior, where all are valid, is most of a window); within a run, each valid tap's shifted
/// slice is added to the run's outputs in tap order, then divided by the run's tap sum: the
/// same operations per output as one output at a time (taps added in order from 0), so the
/// same bits, but over whole slices, which vectorise.
pub fn comb_filter(x: &[f32], start: usize, period: usize, out: &mut [f32]) {
    // Tap j (k = j - M) reads x(n + (M - j) T), valid for n in [(j - M) T, len - (M - j) T);
    // its bounds, as output indices, are where runs start or end.
    let len = x.len() as isize;
    let (start, t, m) = (start as isize, period as isize, COMB_M as isize);
    let outputs = out.len() as isize;
    let valid_from = |j: isize| ((j - m) * t - start).clamp(0, outputs);
    let valid_to = |j: isize| (len - (m - j) * t - start).clamp(0, outputs);
    let mut cuts = [0isize; 2 * COMB_TAPS + 2];
    for j in 0..COMB_TAPS as isize {
        cuts[2 * j as usize] = valid_from(j);
        cuts[2 * j as usize + 1] = valid_to(j);
    }
    cuts[2 * COMB_TAPS + 1] = outputs;
    cuts.sort_unstable();
    for run in cuts.windows(2) {
        let (lo, hi) = (run[0], run[1]);
        if lo == hi {
            continue;
        }
        let acc = &mut out[lo as usize..hi as usize];
        acc.fill(0.0);
        let mut norm = 0.0f32;
        for (j, &c) in TAPS.iter().enumerate() {
            let j = j as isize;
            if valid_from(j) <= lo && hi <= valid_to(j) {
                let first = (start + lo + (m - j) * t) as usize;
                let n = acc.len();
                for (a, v) in acc.iter_mut().zip(&x[first..first + n]) {
                    *a += c * v;
                }
                norm += c;
            }
        }
        if norm > 0.0 {
            acc.iter_mut().for_each(|a| *a /= norm);
        }
    }
}

/// Pitch coherence q_b = C_b(X, P) / sqrt(E_b(X) E_b(P)), in [-1, 1]; 0 where a band is empty.
pub fn pitch_coherence(corr: &BandArray, ex: &BandArray, ep: &BandArray, out: &mut BandArray) {
    for (((q, c), a), b) in out.iter_mut().zip(corr).zip(ex).zip(ep) {
        let d = (a * b).sqrt();
        *q = if d > 1e-12 {
            (c / d).clamp(-1.0, 1.0)
        } else {
            0.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// out(i) of [`comb_filter`] one output at a time, as first written.
    fn one_at_a_time(x: &[f32], start: usize, period: usize, out: &mut [f32]) {
        let len = x.len() as isize;
        for (i, o) in out.iter_mut().enumerate() {
            let n = (start + i) as isize;
            let mut acc = 0.0;
            let mut norm = 0.0;
            for (j, c) in TAPS.iter().enumerate() {
                let k = j as isize - COMB_M as isize;
                let idx = n - k * period as isize;
                if (0..len).contains(&idx) {
                    acc += c * x[idx as usize];
                    norm += c;
                }
            }
            *o = if norm > 0.0 { acc / norm } else { 0.0 };
        }
    }

    /// The runs give, bit for bit, the outputs computed one at a time, for windows that reach
    /// past either end of the history, both or neither, and periods longer than the history.
    #[test]
    fn comb_filter_equals_one_output_at_a_time() {
        let mut s = 7u32;
        let x: Vec<f32> = (0..3000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * if s.is_multiple_of(7) { 1e-3 } else { 1.0 }
            })
            .collect();
        for period in [1, 60, 100, 333, 768, 1600] {
            for (start, len) in [
                (0, 960),
                (100, 960),
                (1500, 960),
                (2040, 960),
                (2900, 100),
                (0, 3000),
            ] {
                let (mut fast, mut one) = (vec![0.0; len], vec![0.0; len]);
                comb_filter(&x, start, period, &mut fast);
                one_at_a_time(&x, start, period, &mut one);
                for (i, (a, b)) in fast.iter().zip(&one).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "T {period} start {start} i {i}");
                }
            }
        }
    }

    #[test]
    fn taps_sum_to_one_and_are_symmetric() {
        let s: f32 = TAPS.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert_eq!(TAPS[0], TAPS[4]);
        assert!((noise_power_gain() - 0.25).abs() < 1e-6);
    }

    #[test]
    fn periodic_signal_passes_unchanged_even_at_the_edges() {
        let period = 100;
        let x: Vec<f32> = (0..1000)
            .map(|n| ((n % period) as f32 / 50.0 - 1.0).powi(3))
            .collect();
        let mut out = vec![0.0; 1000];
        comb_filter(&x, 0, period, &mut out);
        for (a, b) in x.iter().zip(&out) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn white_noise_power_drops_by_the_power_gain() {
        let mut s = 1u32;
        let x: Vec<f32> = (0..40_000)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect();
        let mut out = vec![0.0; 20_000];
        comb_filter(&x, 10_000, 317, &mut out);
        let px: f32 = x[10_000..30_000].iter().map(|v| v * v).sum();
        let pp: f32 = out.iter().map(|v| v * v).sum();
        let ratio = pp / px;
        assert!((ratio - noise_power_gain()).abs() < 0.02, "{ratio}");
    }
}
