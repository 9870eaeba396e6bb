//! SSE4.1 kernels (with SSSE3's `pmaddubsw`, `psignb`, `pabsb`): 16 columns per step, the
//! sign trick of the module documentation.

use std::arch::x86_64::*;

use super::sparse::{Product, BLOCK, BLOCK_ROWS};
use super::Block;

/// Proof that the CPU has SSE4.1 (and so SSSE3): only [`Sse41::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sse41(());

impl Sse41 {
    pub(super) fn detect() -> Option<Self> {
        is_x86_feature_detected!("sse4.1").then_some(Sse41(()))
    }

    pub(super) fn dense(self, b: &Block, y: &mut [f32]) {
        b.check(y);
        // SAFETY: `self` exists only if SSE4.1 was detected at run time, and `check` verified
        // the bounds `dense` relies on.
        unsafe { dense(b, y) }
    }

    pub(super) fn sparse(self, p: &Product, y: &mut [f32]) {
        p.check(y);
        // SAFETY: as above, with `Product::check`.
        unsafe { sparse(p, y) }
    }
}

/// Adds row `w`'s 16 products with the input chunk `x` (|x| in `ax`) to `acc` (4 x i32).
#[inline]
#[target_feature(enable = "sse4.1")]
unsafe fn step(acc: __m128i, w: *const i8, x: __m128i, ax: __m128i) -> __m128i {
    let ones = _mm_set1_epi16(1);
    // q * sign(p): |q| <= 127 so the negation cannot overflow; |p| * (q sign(p)) = p q, summed
    // in pairs: at most 2 * 127 * 127 = 32258 in magnitude, so maddubs never saturates.
    let sw = _mm_sign_epi8(_mm_lddqu_si128(w.cast()), x);
    _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(ax, sw), ones))
}

/// Four rows at a time, 16 columns per step.
///
/// Safety: SSE4.1 available; `b.check(y)` holds.
#[target_feature(enable = "sse4.1")]
unsafe fn dense(b: &Block, y: &mut [f32]) {
    let rows = y.len();
    let n = b.xq.len();
    let xp = b.xq.as_ptr();
    let yp = y.as_mut_ptr();
    let sp = b.scale.as_ptr();
    let xs = _mm_set1_ps(b.xs);
    let mut r = 0;
    while r + 4 <= rows {
        let w0 = b.q.as_ptr().add(r * b.stride + b.col0);
        let w1 = w0.add(b.stride);
        let w2 = w1.add(b.stride);
        let w3 = w2.add(b.stride);
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm_setzero_si128(),
            _mm_setzero_si128(),
            _mm_setzero_si128(),
            _mm_setzero_si128(),
        );
        let mut k = 0;
        while k < n {
            let x = _mm_lddqu_si128(xp.add(k).cast());
            let ax = _mm_abs_epi8(x);
            a0 = step(a0, w0.add(k), x, ax);
            a1 = step(a1, w1.add(k), x, ax);
            a2 = step(a2, w2.add(k), x, ax);
            a3 = step(a3, w3.add(k), x, ax);
            k += 16;
        }
        let acc = _mm_hadd_epi32(_mm_hadd_epi32(a0, a1), _mm_hadd_epi32(a2, a3));
        let v = _mm_mul_ps(
            _mm_cvtepi32_ps(acc),
            _mm_mul_ps(_mm_loadu_ps(sp.add(r)), xs),
        );
        let v = if b.accumulate {
            _mm_add_ps(_mm_loadu_ps(yp.add(r)), v)
        } else {
            v
        };
        _mm_storeu_ps(yp.add(r), v);
        r += 4;
    }
    while r < rows {
        let w = b.q.as_ptr().add(r * b.stride + b.col0);
        let mut a = _mm_setzero_si128();
        let mut k = 0;
        while k < n {
            let x = _mm_lddqu_si128(xp.add(k).cast());
            a = step(a, w.add(k), x, _mm_abs_epi8(x));
            k += 16;
        }
        let a = _mm_hadd_epi32(a, a);
        let a = _mm_hadd_epi32(a, a);
        b.finish(_mm_cvtsi128_si32(a), *sp.add(r), &mut *yp.add(r));
        r += 1;
    }
}

/// One 8 x 4 block per step, its two 16-byte halves (rows 0-3, rows 4-7) against the four
/// input bytes broadcast.
///
/// Safety: SSE4.1 available; `p.check(y)` holds.
#[target_feature(enable = "sse4.1")]
unsafe fn sparse(p: &Product, y: &mut [f32]) {
    let m = p.m;
    let ones = _mm_set1_epi16(1);
    let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
    let mut acc = [0i32; BLOCK_ROWS];
    for s in 0..m.starts.len() - 1 {
        let (mut lo, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128());
        for k in *m.starts.get_unchecked(s) as usize..*m.starts.get_unchecked(s + 1) as usize {
            let x = _mm_set1_epi32(p.input4(*cols.add(k)));
            let ax = _mm_abs_epi8(x);
            let q = w.add(k * BLOCK);
            let q0 = _mm_sign_epi8(_mm_loadu_si128(q.cast()), x);
            let q1 = _mm_sign_epi8(_mm_loadu_si128(q.add(16).cast()), x);
            lo = _mm_add_epi32(lo, _mm_madd_epi16(_mm_maddubs_epi16(ax, q0), ones));
            hi = _mm_add_epi32(hi, _mm_madd_epi16(_mm_maddubs_epi16(ax, q1), ones));
        }
        _mm_storeu_si128(acc.as_mut_ptr().cast(), lo);
        _mm_storeu_si128(acc.as_mut_ptr().add(4).cast(), hi);
        p.finish(s, &acc, y);
    }
}
