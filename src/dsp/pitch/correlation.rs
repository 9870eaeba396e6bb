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
