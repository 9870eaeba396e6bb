//! Normalised correlations for the pitch search (`docs/ALGORITHM.md`, "Pitch"):
//!
//!   rho(T) = sum x(n) x(n-T) / sqrt( sum x(n)^2 * sum x(n-T)^2 )
//!
//! for one lag or a whole range of lags, with the inner products in the same order on every
//! CPU (AVX registers when present, eight partial sums either way), so results are bit-equal.

use super::SILENCE_POWER;

/// Inner product sum_i a(i) b(i) over the common length, with eight partial sums so the
/// compiler can vectorise it (always inlined, so that the AVX copies of its callers use
/// 256-bit registers for the same eight sums, with the same results).
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
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
pub(super) fn same_bits(a: &[f32], b: &[f32]) -> bool {
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
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F (and so AVX) is available (just detected).
        unsafe { correlation_curve_avx::<true>(x, end, len, lag_min, lag_max, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (just detected).
        unsafe { correlation_curve_avx::<false>(x, end, len, lag_min, lag_max, out) };
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
/// With `WIDE` (the CPU has AVX-512F), sixteen lags at a time in 512-bit registers first, each
/// register holding the eight partial sums of two lags eight apart (see [`avx512::dots16`]):
/// half the multiplies and adds of two 256-bit passes, the same results.
///
/// Safety: the CPU has AVX, and AVX-512F if `WIDE`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn correlation_curve_avx<const WIDE: bool>(
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
    // First, in one pass as independent sums (one at a time, each would wait on its own
    // adds' latency), the two energies and the last 0-3 lags, those the passes of 16, 8 and
    // 4 lags below leave.
    let rest = count % 4;
    let tail = count - rest;
    let first = lagged(lag_min);
    let energies = [(win, win), (first, first)];
    let lag = |j: usize| (win, lagged(lag_min + tail + j));
    let (e0, e_first) = match rest {
        0 => {
            let [e0, e1] = avx::dot_pairs(energies);
            (e0, e1)
        }
        1 => {
            let [c0, e0, e1] = avx::dot_pairs([lag(0), energies[0], energies[1]]);
            out[tail] = c0;
            (e0, e1)
        }
        2 => {
            let [c0, c1, e0, e1] = avx::dot_pairs([lag(0), lag(1), energies[0], energies[1]]);
            out[tail..].copy_from_slice(&[c0, c1]);
            (e0, e1)
        }
        _ => {
            let [c0, c1, c2, e0, e1] =
                avx::dot_pairs([lag(0), lag(1), lag(2), energies[0], energies[1]]);
            out[tail..].copy_from_slice(&[c0, c1, c2]);
            (e0, e1)
        }
    };
    // Then sixteen lags at a time (with AVX-512F), eight, four, each block normalised as
    // soon as it is done: the lagged energies' recursion (a chain of dependent adds) then
    // overlaps the next block's products in the out-of-order core.
    let mut norm = Normaliser::new(x, start, end, lag_min, f64::from(e0), f64::from(e_first));
    let mut i = 0;
    if WIDE {
        while i + 16 <= tail {
            let b: [&[f32]; 8] = std::array::from_fn(|k| lagged(lag_min + i + k));
            // SAFETY: the caller checked AVX-512F; lags up to lag_min + i + 15 <= lag_max are
            // in `x` (end - len >= lag_max).
            let (near, far) = unsafe { avx512::dots16(x, start, win, b, lag_min + i) };
            out[i..i + 8].copy_from_slice(&near);
            out[i + 8..i + 16].copy_from_slice(&far);
            norm.run(&mut out[i..i + 16]);
            i += 16;
        }
    }
    while i + 8 <= tail {
        let b: [&[f32]; 8] = std::array::from_fn(|k| lagged(lag_min + i + k));
        out[i..i + 8].copy_from_slice(&avx::dots(win, b));
        norm.run(&mut out[i..i + 8]);
        i += 8;
    }
    if i + 4 <= tail {
        let b: [&[f32]; 4] = std::array::from_fn(|k| lagged(lag_min + i + k));
        out[i..i + 4].copy_from_slice(&avx::dots(win, b));
        norm.run(&mut out[i..i + 4]);
    }
    norm.run(&mut out[tail..]);
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

    /// [`super::dot`] of each pair (all of one length), as independent sums in one pass.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(super) fn dot_pairs<const N: usize>(pairs: [(&[f32], &[f32]); N]) -> [f32; N] {
        let n = pairs
            .iter()
            .fold(usize::MAX, |n, (a, b)| n.min(a.len()).min(b.len()));
        debug_assert!(pairs.iter().all(|(a, b)| a.len() == n && b.len() == n));
        let pairs = pairs.map(|(a, b)| (&a[..n], &b[..n]));
        let chunks = n / 8;
        let mut acc = [_mm256_setzero_ps(); N];
        for c in 0..chunks {
            for (acc, (a, b)) in acc.iter_mut().zip(&pairs) {
                // SAFETY: 8 c + 8 <= n, the length of both.
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(a.as_ptr().add(8 * c)),
                        _mm256_loadu_ps(b.as_ptr().add(8 * c)),
                    )
                };
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(x, y));
            }
        }
        let mut out = [0.0f32; N];
        for ((o, acc), (a, b)) in out.iter_mut().zip(acc).zip(pairs) {
            *o = finish(acc, a, b, 8 * chunks);
        }
        out
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

/// Sixteen inner products per pass in 512-bit registers, bit for bit [`dot`]'s.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// For k in 0..8, [`super::dot`] of the window `win = x[start..start + n]` with the
    /// lagged windows `near[k] = x[start - L - k..]` (L = `lag`) and with
    /// `x[start - L - k - 8..]` (lag L + k + 8), returned as (near, far). One 512-bit load
    /// at `x[start - L - k - 8 + 8 c]` holds chunk c of lag L + k + 8 in its low half and
    /// chunk c of lag L + k in its high half; the window's chunk is in both halves, so each
    /// half accumulates [`super::dot`]'s eight partial sums of its lag in the same order.
    ///
    /// Safety: the CPU has AVX-512F; `start >= lag + 15` and `x` holds `start + n` samples,
    /// n the common length of `win` and `near`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dots16(
        x: &[f32],
        start: usize,
        win: &[f32],
        near: [&[f32]; 8],
        lag: usize,
    ) -> ([f32; 8], [f32; 8]) {
        let n = near.iter().fold(win.len(), |n, b| n.min(b.len()));
        debug_assert!(start >= lag + 15 && start + n <= x.len());
        let chunks = n / 8;
        let base = x.as_ptr().add(start - lag - 8);
        let mut acc = [_mm512_setzero_ps(); 8];
        for c in 0..chunks {
            let w = _mm512_castps256_ps512(_mm256_loadu_ps(win.as_ptr().add(8 * c)));
            let w = _mm512_shuffle_f32x4::<0b01_00_01_00>(w, w);
            for (k, acc) in acc.iter_mut().enumerate() {
                let y = _mm512_loadu_ps(base.add(8 * c).sub(k));
                *acc = _mm512_add_ps(*acc, _mm512_mul_ps(w, y));
            }
        }
        let (mut near_out, mut far_out) = ([0.0f32; 8], [0.0f32; 8]);
        for (k, acc) in acc.iter().enumerate() {
            let mut lanes = [0.0f32; 16];
            _mm512_storeu_ps(lanes.as_mut_ptr(), *acc);
            let far = &x[start - lag - k - 8..];
            near_out[k] = finish(&lanes[8..], win, near[k], 8 * chunks, n);
            far_out[k] = finish(&lanes[..8], win, far, 8 * chunks, n);
        }
        (near_out, far_out)
    }

    /// Lane sums in order plus the products from `tail_start` to `n`, as [`super::dot`] ends.
    #[inline(always)]
    fn finish(lanes: &[f32], a: &[f32], b: &[f32], tail_start: usize, n: usize) -> f32 {
        let mut tail = 0.0;
        for (x, y) in a[tail_start..n].iter().zip(&b[tail_start..n]) {
            tail += x * y;
        }
        lanes.iter().sum::<f32>() + tail
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
    Normaliser::new(x, start, end, lag_min, energy(win), e_first).run(out);
}

/// Turns inner products of the window `x[start..end]` (energy `e0`) with its lagged copies
/// into normalised correlations, lag after lag from `lag_min` (whose lagged energy is
/// `e_first`) on, the lagged energy updated recursively,
/// E(T+1) = E(T) + x(start-T-1)^2 - x(end-T-1)^2, a block of lags at a time: the energies
/// first (a sequential recursion), then the square roots and divisions (which vectorise).
struct Normaliser<'a> {
    x: &'a [f32],
    start: usize,
    end: usize,
    /// The lag of the next product [`Normaliser::run`] takes.
    next_lag: usize,
    lag_min: usize,
    /// E(next_lag - 1), or E(lag_min) before the first lag.
    e_lag: f64,
    e0: f64,
    sqrt_e0: f64,
    floor: f64,
}

impl<'a> Normaliser<'a> {
    #[inline(always)]
    fn new(x: &'a [f32], start: usize, end: usize, lag_min: usize, e0: f64, e_first: f64) -> Self {
        Self {
            x,
            start,
            end,
            next_lag: lag_min,
            lag_min,
            e_lag: e_first,
            e0,
            sqrt_e0: e0.sqrt(),
            floor: SILENCE_POWER * (end - start) as f64,
        }
    }

    /// E(T) for the lags from `next_lag` on into `out`, starting from `e_lag`, clamped at 0
    /// if `CLAMP`; returns the last E(T) and whether a value fell below 0 (never if `CLAMP`).
    #[inline(always)]
    fn recurse<const CLAMP: bool>(&self, out: &mut [f64]) -> (f64, bool) {
        let (mut e, mut negative) = (self.e_lag, false);
        for (i, slot) in out.iter_mut().enumerate() {
            let lag = self.next_lag + i;
            if lag > self.lag_min {
                let new = f64::from(self.x[self.start - lag]);
                let old = f64::from(self.x[self.end - lag]);
                e = e + new * new - old * old;
                if CLAMP {
                    e = e.max(0.0);
                }
                negative |= e < 0.0;
            }
            *slot = e;
        }
        (e, negative)
    }

    /// Normalises `c`, the products of the next `c.len()` lags, in place.
    #[inline(always)]
    fn run(&mut self, c: &mut [f32]) {
        let mut energies = [0.0f64; 64];
        for block in c.chunks_mut(energies.len()) {
            // The recursion's chain of dependent operations is its cost: it first runs
            // without the clamp at 0, which only acts where rounding takes the energy below
            // 0 (near silence); if that happened anywhere in the block, the block is redone
            // with it. Without a negative value the two agree but for the sign of a zero
            // energy, which changes nothing (a zero energy is silent, and -0 + x = +0 + x).
            let lags = block.len();
            let (mut e, negative) = self.recurse::<false>(&mut energies[..lags]);
            if negative {
                (e, _) = self.recurse::<true>(&mut energies[..lags]);
            }
            self.e_lag = e;
            self.next_lag += block.len();
            for (o, &eb) in block.iter_mut().zip(&energies) {
                *o = normalise_with(*o, self.e0, self.sqrt_e0, eb, self.floor);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic noisy, partly periodic signal (xorshift32 noise on a 7.3-sample cycle).
    fn signal(n: usize) -> Vec<f32> {
        let mut state = 0x9e37_79b9u32;
        (0..n)
            .map(|i| {
                let noise = super::super::test_noise(&mut state);
                (i as f32 * std::f32::consts::TAU / 7.3).sin() + 0.3 * noise
            })
            .collect()
    }

    /// The lagged energies' recursion, run first without its clamp at 0, gives the clamped
    /// recursion's correlations bit for bit, also where rounding takes it below 0 (a loud
    /// burst leaving the lagged window, then silence: the test checks that this happens),
    /// and after it (a quieter burst entering the window later).
    #[test]
    fn normaliser_equals_the_clamped_recursion() {
        let mut went_negative = false;
        for scale in [3.0e3f32, 1.1, 770.0, 0.37, 41.0, 0.013] {
            let mut x = signal(3000);
            for (i, v) in x.iter_mut().enumerate() {
                *v *= match i {
                    2700..2900 => scale,
                    1200..1300 => scale * 1.0e-3,
                    _ => 0.0,
                };
            }
            let (start, end, lag_min, lags) = (2000, 2960, 10, 900);
            let products: Vec<f32> = (0..lags).map(|i| 0.25 + (i % 7) as f32).collect();
            let (win, first) = (&x[start..end], &x[start - lag_min..end - lag_min]);
            let (e0, e_first) = (f64::from(dot(win, win)), f64::from(dot(first, first)));
            let mut fast = products.clone();
            Normaliser::new(&x, start, end, lag_min, e0, e_first).run(&mut fast);
            let (mut clamped, mut unclamped) = (e_first, e_first);
            let floor = SILENCE_POWER * (end - start) as f64;
            for (i, (&c, f)) in products.iter().zip(&fast).enumerate() {
                let lag = lag_min + i;
                if i > 0 {
                    let new = f64::from(x[start - lag]);
                    let old = f64::from(x[end - lag]);
                    clamped = (clamped + new * new - old * old).max(0.0);
                    unclamped = unclamped + new * new - old * old;
                    went_negative |= unclamped < 0.0;
                }
                let want = normalise_with(c, e0, e0.sqrt(), clamped, floor);
                assert_eq!(f.to_bits(), want.to_bits(), "scale {scale}, lag {lag}");
            }
        }
        assert!(
            went_negative,
            "the test signals never take the recursion below 0"
        );
    }

    /// The dispatched curve and every variant this CPU can run (AVX, AVX-512F) equal the
    /// portable one bit for bit: on the tracker's shapes (coarse: 240 samples, lags 14..=193;
    /// refinement: 960 and 1920 samples, 17 lags) and on lengths with tails and lag counts
    /// that leave every remainder of the 16-, 8- and 4-lag passes.
    #[test]
    fn dispatched_curve_equals_the_portable_one_bit_for_bit() {
        let x = signal(4000);
        let shapes = [
            (3000, 240, 14, 193),
            (3200, 960, 292, 308),
            (3680, 1920, 60, 76),
            (2500, 243, 3, 40),
            (2501, 1001, 100, 130),
            (2000, 17, 9, 9),
            (1999, 5, 1, 31),
        ];
        type Curve = fn(&[f32], usize, usize, usize, usize, &mut [f32]);
        let mut variants: Vec<(&str, Curve)> = vec![("dispatched", correlation_curve)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx") {
                // SAFETY (both): the CPU has the features each variant needs (just detected).
                variants.push(("avx", |x, e, l, lo, hi, o| unsafe {
                    correlation_curve_avx::<false>(x, e, l, lo, hi, o)
                }));
            }
            if std::is_x86_feature_detected!("avx512f") {
                variants.push(("avx-512", |x, e, l, lo, hi, o| unsafe {
                    correlation_curve_avx::<true>(x, e, l, lo, hi, o)
                }));
            }
        }
        for (end, len, lo, hi) in shapes {
            let mut portable = vec![0.0f32; hi - lo + 1];
            correlation_curve_impl(&x, end, len, lo, hi, &mut portable);
            assert!(
                portable.iter().any(|&r| r.abs() > 0.1),
                "len {len}: a real curve"
            );
            for (name, curve) in &variants {
                let mut fast = vec![0.0f32; hi - lo + 1];
                curve(&x, end, len, lo, hi, &mut fast);
                for (lag, (f, p)) in (lo..).zip(fast.iter().zip(&portable)) {
                    assert_eq!(f.to_bits(), p.to_bits(), "{name}, len {len}, lag {lag}");
                }
            }
        }
    }
}
