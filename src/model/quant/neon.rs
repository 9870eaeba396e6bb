//! NEON kernels (aarch64): i8 x i8 products widened to i16 (`smull`, `smlal2`) and added
//! pairwise into i32 (`sadalp`), 16 columns per step.

use std::arch::aarch64::*;

use super::sparse::{Product, BLOCK, BLOCK_ROWS};
use super::Block;

/// Proof that the CPU has NEON: only [`Neon::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Neon(());

impl Neon {
    pub(super) fn detect() -> Option<Self> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Neon(()))
    }

    pub(super) fn dense(self, b: &Block, y: &mut [f32]) {
        b.check(y);
        // SAFETY: `self` exists only if NEON was detected at run time, and `check` verified
        // the bounds `dense` relies on.
        unsafe { dense(b, y) }
    }

    pub(super) fn sparse(self, p: &Product, y: &mut [f32]) {
        p.check(y);
        // SAFETY: as above, with `Product::check`.
        unsafe { sparse(p, y) }
    }
}

/// Adds row `w`'s 16 products with the input chunk `x` to `acc` (4 x i32).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn step(acc: int32x4_t, w: *const i8, x: int8x16_t) -> int32x4_t {
    let w = vld1q_s8(w);
    // Each product is at most 127 * 127 in magnitude, so the sum of two fits in i16.
    let p = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    let p = vmlal_high_s8(p, w, x);
    vpadalq_s16(acc, p)
}

/// Outputs `r..r + 4` (at `yp`) from their sums `acc`: the same f32 operations as
/// [`Block::finish`], four lanes at a time.
///
/// Safety: NEON available; `r + 4 <= b.scale.len()` and `yp` valid for 4 f32.
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn store4(b: &Block, acc: int32x4_t, yp: *mut f32, r: usize) {
    let s = vmulq_f32(vld1q_f32(b.scale.as_ptr().add(r)), vdupq_n_f32(b.xs));
    let v = vmulq_f32(vcvtq_f32_s32(acc), s);
    let v = if b.accumulate {
        vaddq_f32(vld1q_f32(yp), v)
    } else {
        v
    };
    vst1q_f32(yp, v);
}

/// Four rows at a time, 16 columns per step.
///
/// Safety: NEON available; `b.check(y)` holds.
#[target_feature(enable = "neon")]
unsafe fn dense(b: &Block, y: &mut [f32]) {
    let rows = y.len();
    let n = b.xq.len();
    let xp = b.xq.as_ptr();
    let yp = y.as_mut_ptr();
    let s = b.stride;
    let mut r = 0;
    while r + 4 <= rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut a = [vdupq_n_s32(0); 4];
        let mut k = 0;
        while k < n {
            let x = vld1q_s8(xp.add(k));
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = step(*acc, w.add(i * s + k), x);
            }
            k += 16;
        }
        // [sum a0, sum a1, sum a2, sum a3].
        let acc = vpaddq_s32(vpaddq_s32(a[0], a[1]), vpaddq_s32(a[2], a[3]));
        store4(b, acc, yp.add(r), r);
        r += 4;
    }
    while r < rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut a = vdupq_n_s32(0);
        let mut k = 0;
        while k < n {
            a = step(a, w.add(k), vld1q_s8(xp.add(k)));
            k += 16;
        }
        b.finish(vaddvq_s32(a), b.scale[r], &mut *yp.add(r));
        r += 1;
    }
}

/// One 8 x 4 block per step: each pair of rows (8 bytes) times the four input bytes twice.
///
/// Safety: NEON available; `p.check(y)` holds.
#[target_feature(enable = "neon")]
unsafe fn sparse(p: &Product, y: &mut [f32]) {
    let m = p.m;
    let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
    let mut acc = [0i32; BLOCK_ROWS];
    for s in 0..m.starts.len() - 1 {
        // Lanes: [r(c0+c1), r(c2+c3), r'(c0+c1), r'(c2+c3)] for row pairs (0,1) .. (6,7).
        let mut a = [vdupq_n_s32(0); 4];
        for k in *m.starts.get_unchecked(s) as usize..*m.starts.get_unchecked(s + 1) as usize {
            let x = vreinterpret_s8_s32(vdup_n_s32(p.input4(*cols.add(k))));
            let q = w.add(k * BLOCK);
            for (i, acc) in a.iter_mut().enumerate() {
                // Products at most 127 * 127, pairs fit in i16.
                *acc = vpadalq_s16(*acc, vmull_s8(vld1_s8(q.add(8 * i)), x));
            }
        }
        vst1q_s32(acc.as_mut_ptr(), vpaddq_s32(a[0], a[1]));
        vst1q_s32(acc.as_mut_ptr().add(4), vpaddq_s32(a[2], a[3]));
        p.finish(s, &acc, y);
    }
}
