//! Kernels for the Arm dot-product extension (aarch64, Armv8.2-A `dotprod`, detected at run
//! time): `sdot` sums four i8 x i8 products into each i32 lane, 16 columns per step. Both
//! factors are signed, so unlike the x86 VNNI kernels no offset is needed.
//!
//! `sdot` is written as inline assembly: its intrinsic (`vdotq_s32`) is not stable Rust.
//! The `.arch_extension` directive lets the assembler accept it whatever the crate's
//! compile-time target features; the run-time detection guards its execution.

use std::arch::aarch64::*;
use std::arch::asm;

use super::neon::store4;
use super::sparse::{Product, BLOCK, BLOCK_ROWS};
use super::Block;

/// Proof that the CPU has NEON and the dot-product instructions: only [`Dotprod::detect`]
/// makes one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dotprod(());

impl Dotprod {
    pub(super) fn detect() -> Option<Self> {
        (std::arch::is_aarch64_feature_detected!("neon")
            && std::arch::is_aarch64_feature_detected!("dotprod"))
        .then_some(Dotprod(()))
    }

    pub(super) fn dense(self, b: &Block, y: &mut [f32]) {
        b.check(y);
        // SAFETY: `self` exists only if NEON and the dot product were detected at run time,
        // and `check` verified the bounds `dense` relies on.
        unsafe { dense(b, y) }
    }

    pub(super) fn sparse(self, p: &Product, y: &mut [f32]) {
        p.check(y);
        // SAFETY: as above, with `Product::check`.
        unsafe { sparse(p, y) }
    }
}

/// `acc_j + sum_{i<4} a_{4j+i} b_{4j+i}` for each of the four i32 lanes (`sdot`).
///
/// Safety: the CPU has the dot-product extension.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    asm!(
        ".arch_extension dotprod",
        "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags),
    );
    acc
}

/// Four rows at a time (then one), 16 columns per step, one `sdot` per row and step.
///
/// Safety: NEON and the dot product available; `b.check(y)` holds.
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
                *acc = sdot(*acc, vld1q_s8(w.add(i * s + k)), x);
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
            a = sdot(a, vld1q_s8(w.add(k)), vld1q_s8(xp.add(k)));
            k += 16;
        }
        b.finish(vaddvq_s32(a), b.scale[r], &mut *yp.add(r));
        r += 1;
    }
}

/// One 8 x 4 block per pair of `sdot`: rows 0-3 and rows 4-7 (four bytes per lane) against
/// the four input bytes in every lane; two independent pairs of sums per strip.
///
/// Safety: NEON and the dot product available; `p.check(y)` holds.
#[target_feature(enable = "neon")]
unsafe fn sparse(p: &Product, y: &mut [f32]) {
    let m = p.m;
    let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
    let mut acc = [0i32; BLOCK_ROWS];
    let x = |k: usize| vreinterpretq_s8_s32(vdupq_n_s32(p.input4(*cols.add(k))));
    for s in 0..m.starts.len() - 1 {
        let (start, end) = (
            *m.starts.get_unchecked(s) as usize,
            *m.starts.get_unchecked(s + 1) as usize,
        );
        let zero = vdupq_n_s32(0);
        let (mut lo, mut hi) = ([zero; 2], [zero; 2]);
        let mut k = start;
        while k < end {
            let i = (k - start) & 1;
            let q = w.add(k * BLOCK);
            let xk = x(k);
            lo[i] = sdot(lo[i], vld1q_s8(q), xk);
            hi[i] = sdot(hi[i], vld1q_s8(q.add(16)), xk);
            k += 1;
        }
        vst1q_s32(acc.as_mut_ptr(), vaddq_s32(lo[0], lo[1]));
        vst1q_s32(acc.as_mut_ptr().add(4), vaddq_s32(hi[0], hi[1]));
        p.finish(s, &acc, y);
    }
}
