//! AVX-VNNI kernels (`vpdpbusd` on 256-bit registers, VEX encoding): 32 columns per step, the
//! input offset by 128 and the row sums subtracted (module documentation).

use std::arch::x86_64::*;

use super::avx2::{hsum, hsum4, prefetch256, store4, unoffset4};
use super::sparse::{Product, BLOCK, BLOCK_ROWS};
use super::{Block, PREFETCH_DISTANCE};

/// Proof that the CPU has AVX2 and AVX-VNNI: only [`AvxVnni::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub(super) struct AvxVnni(());

impl AvxVnni {
    pub(super) fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni"))
            .then_some(AvxVnni(()))
    }

    pub(super) fn dense(self, b: &Block, y: &mut [f32]) {
        b.check(y);
        // SAFETY: `self` exists only if AVX2 and AVX-VNNI were detected at run time, and
        // `check` verified the bounds `dense` relies on.
        unsafe { dense(b, y) }
    }

    pub(super) fn sparse(self, p: &Product, y: &mut [f32]) {
        p.check(y);
        // SAFETY: as above, with `Product::check`.
        unsafe { sparse(p, y) }
    }
}

/// `acc + sum of the four u * w products` in each i32 lane: `u` unsigned, the 32 bytes at
/// `w` signed.
///
/// Safety: AVX2 and AVX-VNNI available; `w` valid for reading 32 bytes.
#[inline]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn dpbusd(acc: __m256i, u: __m256i, w: *const i8) -> __m256i {
    _mm256_dpbusd_avx_epi32(acc, u, _mm256_loadu_si256(w.cast()))
}

/// Input chunk `k` offset to unsigned: `u = p + 128`, i.e. the sign bit flipped.
///
/// Safety: AVX2 available; `xp` valid for reading 32 bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn offset_chunk(xp: *const i8) -> __m256i {
    _mm256_xor_si256(_mm256_lddqu_si256(xp.cast()), _mm256_set1_epi8(i8::MIN))
}

/// Eight rows at a time (then one), 32 columns per step, one `vpdpbusd` per row and step.
///
/// Safety: AVX2 and AVX-VNNI available; `b.check(y)` holds.
#[target_feature(enable = "avx2,avxvnni")]
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
            let u = offset_chunk(xp.add(k));
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = dpbusd(*acc, u, w.add(i * s + k));
            }
            k += 32;
        }
        let lo = unoffset4(b, hsum4(a[0], a[1], a[2], a[3]), r);
        let hi = unoffset4(b, hsum4(a[4], a[5], a[6], a[7]), r + 4);
        store4(b, lo, yp.add(r), r);
        store4(b, hi, yp.add(r + 4), r + 4);
        r += 8;
    }
    while r < rows {
        let w = b.q.as_ptr().add(r * s + b.col0);
        let mut a = _mm256_setzero_si256();
        let mut k = 0;
        while k < n {
            a = dpbusd(a, offset_chunk(xp.add(k)), w.add(k));
            k += 32;
        }
        let acc = hsum(a).wrapping_sub(b.rowsum[r].wrapping_mul(128));
        b.finish(acc, b.scale[r], &mut *yp.add(r));
        r += 1;
    }
}

/// One 8 x 4 block per `vpdpbusd` against the four (offset) input bytes broadcast, four
/// independent sums per strip.
///
/// Safety: AVX2 and AVX-VNNI available; `p.check(y)` holds.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn sparse(p: &Product, y: &mut [f32]) {
    let m = p.m;
    let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
    let mut acc = [0i32; BLOCK_ROWS];
    // u = p + 128 (sign bit flipped) in every byte.
    let u = |k: usize| _mm256_set1_epi32(p.input4(*cols.add(k)) ^ 0x8080_8080u32 as i32);
    for s in 0..m.starts.len() - 1 {
        let (start, end) = (
            *m.starts.get_unchecked(s) as usize,
            *m.starts.get_unchecked(s + 1) as usize,
        );
        // Four independent sums: `vpdpbusd`'s latency, not its throughput, would set the
        // pace with one.
        let mut a = [_mm256_setzero_si256(); 4];
        let mut k = start;
        while k + 4 <= end {
            for (i, acc) in a.iter_mut().enumerate() {
                *acc = dpbusd(*acc, u(k + i), w.add((k + i) * BLOCK));
            }
            k += 4;
        }
        while k < end {
            a[0] = dpbusd(a[0], u(k), w.add(k * BLOCK));
            k += 1;
        }
        let a = _mm256_add_epi32(_mm256_add_epi32(a[0], a[1]), _mm256_add_epi32(a[2], a[3]));
        _mm256_storeu_si256(acc.as_mut_ptr().cast(), a);
        p.unoffset(s, &mut acc);
        p.finish(s, &acc, y);
    }
}
