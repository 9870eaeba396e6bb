//! AVX-512 VNNI kernels (`vpdpbusd` on 512-bit registers): 64 columns per step, the input
//! offset by 128 and the row sums subtracted (module documentation).
//!
//! The intrinsics are stable since Rust 1.89 (the crate's minimum). On the development machine
//! (Sapphire Rapids, which also has AVX-VNNI) these kernels stream weights as fast as the
//! 256-bit ones, no faster: the caches, not the multiply-adds, set the pace of these
//! matrix-vector products, so [`super::Kernel::ALL`] puts AVX-VNNI first.

use std::arch::x86_64::*;

use super::avx2::{hsum, hsum4, prefetch256, store4, unoffset4};
use super::sparse::{Product, BLOCK, BLOCK_ROWS};
use super::{Block, PREFETCH_DISTANCE};

/// Proof that the CPU has AVX2, AVX-512 F, BW and VNNI: only [`Avx512Vnni::detect`] makes
/// one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx512Vnni(());

impl Avx512Vnni {
    pub(super) fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni"))
        .then_some(Avx512Vnni(()))
    }

    pub(super) fn dense(self, b: &Block, y: &mut [f32]) {
        b.check(y);
        // SAFETY: `self` exists only if AVX2 and AVX-512 F/BW/VNNI were detected at run time,
        // and `check` verified the bounds `dense` relies on.
        unsafe { dense(b, y) }
    }

    pub(super) fn sparse(self, p: &Product, y: &mut [f32]) {
        p.check(y);
        // SAFETY: as above, with `Product::check`.
        unsafe { sparse(p, y) }
    }
}

/// The sign bit of every byte: xor with it offsets an i8 to the u8 `p + 128`.
const SIGNS: i32 = 0x8080_8080u32 as i32;

/// The 16 lanes folded to 8: lane i + lane i + 8.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
unsafe fn fold(a: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a))
}

/// Eight rows at a time (then one), 64 columns per step (and a last 32 when the block's
/// width is an odd multiple of 32, as zero-extended 256-bit loads), one `vpdpbusd` per row
/// and step.
///
/// Safety: AVX2, AVX-512 F/BW/VNNI available; `b.check(y)` holds.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn dense(b: &Block, y: &mut [f32]) {
    let rows = y.len();
    let n = b.xq.len();
    let n64 = n - n % 64;
    let xp = b.xq.as_ptr();
    let yp = y.as_mut_ptr();
    let s = b.stride;
    let end = b.weights_end();
    let signs = _mm512_set1_epi32(SIGNS);
    // Input chunk at k, offset to unsigned: 64 bytes, or 32 zero-extended (the weights past
    // them are read as zeros too, so the upper products are 0).
    let chunk64 = |k: usize| _mm512_xor_si512(_mm512_loadu_si512(xp.add(k).cast()), signs);
    let chunk32 = |k: usize| {
        let u = _mm256_xor_si256(
            _mm256_loadu_si256(xp.add(k).cast()),
            _mm512_castsi512_si256(signs),
        );
        _mm512_zextsi256_si512(u)
    };
    let w32 = |w: *const i8| _mm512_zextsi256_si512(_mm256_loadu_si256(w.cast()));
    let mut r = 0;
    while r + 8 <= rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut pf = w.wrapping_add(PREFETCH_DISTANCE);
        let mut a = [_mm512_setzero_si512(); 8];
        let mut k = 0;
        while k < n64 {
            // 8 rows x 64 bytes read per step: keep the prefetch that far ahead.
            prefetch256(pf, end);
            prefetch256(pf.wrapping_add(256), end);
            pf = pf.wrapping_add(512);
            let u = chunk64(k);
            for (i, acc) in a.iter_mut().enumerate() {
                let q = _mm512_loadu_si512(w.add(i * s + k).cast());
                *acc = _mm512_dpbusd_epi32(*acc, u, q);
            }
            k += 64;
        }
        if k < n {
            let u = chunk32(k);
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = _mm512_dpbusd_epi32(*acc, u, w32(w.add(i * s + k)));
            }
        }
        let lo = hsum4(fold(a[0]), fold(a[1]), fold(a[2]), fold(a[3]));
        let hi = hsum4(fold(a[4]), fold(a[5]), fold(a[6]), fold(a[7]));
        store4(b, unoffset4(b, lo, r), yp.add(r), r);
        store4(b, unoffset4(b, hi, r + 4), yp.add(r + 4), r + 4);
        r += 8;
    }
    while r < rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut a = _mm512_setzero_si512();
        let mut k = 0;
        while k < n64 {
            a = _mm512_dpbusd_epi32(a, chunk64(k), _mm512_loadu_si512(w.add(k).cast()));
            k += 64;
        }
        if k < n {
            a = _mm512_dpbusd_epi32(a, chunk32(k), w32(w.add(k)));
        }
        let acc = hsum(fold(a)).wrapping_sub(b.rowsum[r].wrapping_mul(128));
        b.finish(acc, b.scale[r], &mut *yp.add(r));
        r += 1;
    }
}

/// Two 8 x 4 blocks of a strip per `vpdpbusd`: the lower 256 bits hold block k against its
/// four (offset) input bytes broadcast, the upper block k + 1 against its own; four
/// independent sums, folded to the strip's eight rows at the end.
///
/// Safety: AVX2, AVX-512 F/BW/VNNI available; `p.check(y)` holds.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
unsafe fn sparse(p: &Product, y: &mut [f32]) {
    let m = p.m;
    let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
    let mut acc = [0i32; BLOCK_ROWS];
    // Offset input bytes of blocks k (lanes 0-7) and k + 1 (lanes 8-15).
    let u2 = |k: usize| {
        let lo = _mm512_set1_epi32(p.input4(*cols.add(k)) ^ SIGNS);
        _mm512_mask_set1_epi32(lo, 0xff00, p.input4(*cols.add(k + 1)) ^ SIGNS)
    };
    let q2 = |k: usize| _mm512_loadu_si512(w.add(k * BLOCK).cast());
    for s in 0..m.starts.len() - 1 {
        let (start, end) = (
            *m.starts.get_unchecked(s) as usize,
            *m.starts.get_unchecked(s + 1) as usize,
        );
        let mut a = [_mm512_setzero_si512(); 4];
        let mut k = start;
        while k + 8 <= end {
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = _mm512_dpbusd_epi32(*acc, u2(k + 2 * i), q2(k + 2 * i));
            }
            k += 8;
        }
        while k + 2 <= end {
            a[0] = _mm512_dpbusd_epi32(a[0], u2(k), q2(k));
            k += 2;
        }
        if k < end {
            let u = _mm512_set1_epi32(p.input4(*cols.add(k)) ^ SIGNS);
            let q = _mm512_zextsi256_si512(_mm256_loadu_si256(w.add(k * BLOCK).cast()));
            a[1] = _mm512_dpbusd_epi32(a[1], u, q);
        }
        let a = _mm512_add_epi32(_mm512_add_epi32(a[0], a[1]), _mm512_add_epi32(a[2], a[3]));
        _mm256_storeu_si256(acc.as_mut_ptr().cast(), fold(a));
        p.unoffset(s, &mut acc);
        p.finish(s, &acc, y);
    }
}
