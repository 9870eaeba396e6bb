//! AVX2 kernels: 32 columns per step, the sign trick of the module documentation; also the
//! horizontal sums and stores the VNNI kernels share.

use std::arch::x86_64::*;

use super::sparse::{Product, BLOCK, BLOCK_ROWS};
use super::{Block, PREFETCH_DISTANCE};

/// Proof that the CPU has AVX2: only [`Avx2::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx2(());

impl Avx2 {
    pub(super) fn detect() -> Option<Self> {
        is_x86_feature_detected!("avx2").then_some(Avx2(()))
    }

    pub(super) fn dense(self, b: &Block, y: &mut [f32]) {
        b.check(y);
        // SAFETY: `self` exists only if AVX2 was detected at run time, and `check` verified
        // the bounds `dense` relies on.
        unsafe { dense(b, y) }
    }

    pub(super) fn sparse(self, p: &Product, y: &mut [f32]) {
        p.check(y);
        // SAFETY: as above, with `Product::check`.
        unsafe { sparse(p, y) }
    }
}

/// Prefetches the four cache lines at `p` (256 bytes) into L1 if they lie before `end`.
/// Prefetching never faults; the bound only saves useless requests past the matrix.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn prefetch256(p: *const i8, end: *const i8) {
    if p < end {
        _mm_prefetch::<_MM_HINT_T0>(p);
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(128));
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(192));
    }
}

/// Adds row `w`'s 32 products with the input chunk `x` (|x| in `ax`) to `acc` (8 x i32).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn step(acc: __m256i, w: *const i8, x: __m256i, ax: __m256i) -> __m256i {
    let ones = _mm256_set1_epi16(1);
    // q * sign(p): |q| <= 127 so the negation cannot overflow.
    let sw = _mm256_sign_epi8(_mm256_lddqu_si256(w.cast()), x);
    // |p| * (q sign(p)) = p q, summed in pairs: at most 2 * 127 * 127 = 32258 in magnitude,
    // so maddubs never saturates.
    let pairs = _mm256_maddubs_epi16(ax, sw);
    _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones))
}

/// The sum of the eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn hsum(a: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// The lane sums of four rows' accumulators, in row order.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn hsum4(a0: __m256i, a1: __m256i, a2: __m256i, a3: __m256i) -> __m128i {
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
}

/// Subtracts `128 * rowsum` from four rows' sums (rows `r..r + 4`), undoing the VNNI offset.
///
/// Safety: AVX2 available; `r + 4 <= b.rowsum.len()`.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn unoffset4(b: &Block, acc: __m128i, r: usize) -> __m128i {
    let sums = _mm_loadu_si128(b.rowsum.as_ptr().add(r).cast());
    _mm_sub_epi32(acc, _mm_slli_epi32::<7>(sums))
}

/// Outputs `r..r + 4` (at `y`) from their sums `acc`: the same f32 operations as
/// [`Block::finish`], four lanes at a time.
///
/// Safety: AVX2 available; `r + 4 <= b.scale.len()` and `y` valid for writing 4 f32.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn store4(b: &Block, acc: __m128i, y: *mut f32, r: usize) {
    let s = _mm_mul_ps(_mm_loadu_ps(b.scale.as_ptr().add(r)), _mm_set1_ps(b.xs));
    let v = _mm_mul_ps(_mm_cvtepi32_ps(acc), s);
    let v = if b.accumulate {
        _mm_add_ps(_mm_loadu_ps(y), v)
    } else {
        v
    };
    _mm_storeu_ps(y, v);
}

/// Eight rows at a time (then four, then one), 32 columns per step.
///
/// Safety: AVX2 available; `b.check(y)` holds.
#[target_feature(enable = "avx2")]
unsafe fn dense(b: &Block, y: &mut [f32]) {
    let rows = y.len();
    let n = b.xq.len();
    let xp = b.xq.as_ptr();
    let yp = y.as_mut_ptr();
    let s = b.stride;
    let end = b.weights_end();
    let mut r = 0;
    while r + 8 <= rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut pf = w.wrapping_add(PREFETCH_DISTANCE);
        let mut a = [_mm256_setzero_si256(); 8];
        let mut k = 0;
        while k < n {
            // 8 rows x 32 bytes read per step: keep the prefetch that far ahead.
            prefetch256(pf, end);
            pf = pf.wrapping_add(256);
            let x = _mm256_lddqu_si256(xp.add(k).cast());
            let ax = _mm256_abs_epi8(x);
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = step(*acc, w.add(i * s + k), x, ax);
            }
            k += 32;
        }
        store4(b, hsum4(a[0], a[1], a[2], a[3]), yp.add(r), r);
        store4(b, hsum4(a[4], a[5], a[6], a[7]), yp.add(r + 4), r + 4);
        r += 8;
    }
    while r + 4 <= rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut a = [_mm256_setzero_si256(); 4];
        let mut k = 0;
        while k < n {
            let x = _mm256_lddqu_si256(xp.add(k).cast());
            let ax = _mm256_abs_epi8(x);
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = step(*acc, w.add(i * s + k), x, ax);
            }
            k += 32;
        }
        store4(b, hsum4(a[0], a[1], a[2], a[3]), yp.add(r), r);
        r += 4;
    }
    while r < rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut a = _mm256_setzero_si256();
        let mut k = 0;
        while k < n {
            let x = _mm256_lddqu_si256(xp.add(k).cast());
            a = step(a, w.add(k), x, _mm256_abs_epi8(x));
            k += 32;
        }
        b.finish(hsum(a), b.scale[r], &mut *yp.add(r));
        r += 1;
    }
}

/// One 8 x 4 block per step against the four input bytes broadcast.
///
/// Safety: AVX2 available; `p.check(y)` holds.
#[target_feature(enable = "avx2")]
unsafe fn sparse(p: &Product, y: &mut [f32]) {
    let m = p.m;
    let ones = _mm256_set1_epi16(1);
    let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
    let mut acc = [0i32; BLOCK_ROWS];
    for s in 0..m.starts.len() - 1 {
        let mut a = _mm256_setzero_si256();
        for k in *m.starts.get_unchecked(s) as usize..*m.starts.get_unchecked(s + 1) as usize {
            let x = _mm256_set1_epi32(p.input4(*cols.add(k)));
            let q = _mm256_loadu_si256(w.add(k * BLOCK).cast());
            // |p| * (q sign(p)) = p q, pairs at most 2 * 127 * 127: no saturation.
            let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(q, x));
            a = _mm256_add_epi32(a, _mm256_madd_epi16(pairs, ones));
        }
        _mm256_storeu_si256(acc.as_mut_ptr().cast(), a);
        p.finish(s, &acc, y);
    }
}
