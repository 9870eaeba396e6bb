//! Block-sparse int8 products: the same quantised weights as the dense [`QuantMatrix`] layout,
//! with the all-zero blocks of [`BLOCK_ROWS`] x [`BLOCK_COLS`] weights left out.
//!
//! A strip is [`BLOCK_ROWS`] consecutive rows. For each strip the matrix keeps the column
//! offsets `c_k` (multiples of [`BLOCK_COLS`]) of its blocks that hold a nonzero weight, and
//! their weights, 32 bytes per block, row-major inside the block (`w[r * 4 + j] = q_{8s+r,
//! c_k+j}`). The product of strip `s` is
//!
//! `acc_r = sum_k sum_{j<4} w_k[r * 4 + j] p_{c_k + j}`,
//!
//! which equals the dense row sum exactly (the left-out blocks contribute exactly 0 and the sum
//! is exact in i32), so a block-sparse matrix gives bit-for-bit the dense kernels' outputs. One
//! block is one 256-bit multiply-add against the 4 input bytes broadcast to every row:
//! `maddubs` and `madd` with the sign trick on AVX2 and SSE4.1 (two halves), one `vpdpbusd` on
//! AVX-VNNI (with the same offset and row sums as the dense kernel), `vmull` and `vpadal` on
//! NEON.
//!
//! This is the layout of the trainer's block-sparse GRUs (`training/train.py --gru-density`,
//! blocks pruned by magnitude): memory traffic, which sets the speed of large matrices, falls
//! with the density.

use super::Imp;

/// Rows per block (one 256-bit register of i32 sums).
pub const BLOCK_ROWS: usize = 8;
/// Columns per block (four input bytes, one i32 lane of products per row).
pub const BLOCK_COLS: usize = 4;
/// Bytes per block.
const BLOCK: usize = BLOCK_ROWS * BLOCK_COLS;
/// A matrix is stored block-sparse when at most this fraction of its blocks holds a nonzero
/// weight (above it the index and the per-block broadcast cost more than the zeros).
pub const MAX_DENSITY: f32 = 0.6;

/// The nonzero blocks of a quantised matrix.
#[derive(Clone, Debug)]
pub struct BlockSparse {
    rows: usize,
    /// Columns of the quantised input the product reads (every block ends within it).
    stride: usize,
    /// Blocks of strip `s` are `starts[s]..starts[s + 1]`.
    starts: Vec<u32>,
    /// First column of each block (u16: the matrix has at most `MAX_BLOCK` = 4096 columns;
    /// the index is 2 bytes per 32 bytes of weights).
    cols: Vec<u16>,
    /// [`BLOCK`] weights per block.
    w: Vec<i8>,
    /// Nonzero blocks / all blocks.
    density: f32,
}

impl BlockSparse {
    /// The block-sparse form of `q` (`rows` x `cols` in a row-major layout of `stride`
    /// columns, `stride` a multiple of [`BLOCK_COLS`], zeros past `cols`) if at most
    /// [`MAX_DENSITY`] of its blocks (of the `cols`, not the padding) are nonzero.
    pub fn from_dense(q: &[i8], rows: usize, cols: usize, stride: usize) -> Option<Self> {
        assert_eq!(stride % BLOCK_COLS, 0);
        assert!(cols <= stride);
        assert_eq!(q.len(), rows * stride);
        let strips = rows.div_ceil(BLOCK_ROWS);
        let col_blocks = cols.div_ceil(BLOCK_COLS);
        let total = strips * col_blocks;
        if total == 0 {
            return None;
        }
        let weight = |i: usize, j: usize| if i < rows { q[i * stride + j] } else { 0 };
        let nonzero = |s: usize, c: usize| {
            (0..BLOCK_ROWS).any(|r| (0..BLOCK_COLS).any(|j| weight(s * BLOCK_ROWS + r, c + j) != 0))
        };
        let block_cols = || (0..col_blocks).map(|b| b * BLOCK_COLS);
        let count = (0..strips)
            .map(|s| block_cols().filter(|&c| nonzero(s, c)).count())
            .sum::<usize>();
        let density = count as f32 / total as f32;
        if density > MAX_DENSITY {
            return None;
        }
        let mut starts = Vec::with_capacity(strips + 1);
        let mut cols = Vec::with_capacity(count);
        let mut w = Vec::with_capacity(count * BLOCK);
        starts.push(0);
        for s in 0..strips {
            for c in block_cols().filter(|&c| nonzero(s, c)) {
                cols.push(u16::try_from(c).expect("at most 65536 columns"));
                for r in 0..BLOCK_ROWS {
                    w.extend((0..BLOCK_COLS).map(|j| weight(s * BLOCK_ROWS + r, c + j)));
                }
            }
            starts.push(cols.len() as u32);
        }
        Some(Self {
            rows,
            stride,
            starts,
            cols,
            w,
            density,
        })
    }

    /// Nonzero blocks / all blocks.
    pub fn density(&self) -> f32 {
        self.density
    }

    /// `y_i = acc_i * (scale_i * xs)` over the quantised input `xq` (padded to the matrix's
    /// stride), with the kernel of `imp`. `rowsum_i = sum_j q_ij` (for the AVX-VNNI offset).
    pub(super) fn product(
        &self,
        imp: Imp,
        xq: &[i8],
        scale: &[f32],
        rowsum: &[i32],
        xs: f32,
        y: &mut [f32],
    ) {
        let p = Product {
            m: self,
            xq,
            scale,
            rowsum,
            xs,
        };
        p.check(y);
        match imp {
            Imp::Portable => p.portable(y),
            #[cfg(target_arch = "x86_64")]
            Imp::Sse41(_) => {
                // SAFETY: an `Sse41` token exists only if SSE4.1 was detected; `check` holds.
                unsafe { x86::sse41(&p, y) }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2(_) => {
                // SAFETY: an `Avx2` token exists only if AVX2 was detected; `check` holds.
                unsafe { x86::avx2(&p, y) }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::AvxVnni(_) => {
                // SAFETY: an `AvxVnni` token exists only if AVX2 and AVX-VNNI were detected;
                // `check` holds.
                unsafe { x86::vnni(&p, y) }
            }
            #[cfg(target_arch = "aarch64")]
            Imp::Neon(_) => {
                // SAFETY: a `Neon` token exists only if NEON was detected; `check` holds.
                unsafe { neon::neon(&p, y) }
            }
        }
    }
}

/// One product's operands.
struct Product<'a> {
    m: &'a BlockSparse,
    xq: &'a [i8],
    scale: &'a [f32],
    rowsum: &'a [i32],
    xs: f32,
}

impl Product<'_> {
    /// Everything the SIMD kernels rely on to stay in bounds.
    fn check(&self, y: &[f32]) {
        let m = self.m;
        assert_eq!(y.len(), m.rows);
        assert_eq!(self.scale.len(), m.rows);
        assert_eq!(self.rowsum.len(), m.rows);
        assert_eq!(m.starts.len(), m.rows.div_ceil(BLOCK_ROWS) + 1);
        assert_eq!(*m.starts.last().unwrap() as usize, m.cols.len());
        assert_eq!(m.w.len(), m.cols.len() * BLOCK);
        // Every block's columns end within the stride (`from_dense`), so within `xq`.
        assert_eq!(self.xq.len(), m.stride);
    }

    /// Writes strip `s`'s sums to its rows of `y`: the same f32 operations as the dense
    /// kernels' `finish` (`acc * (scale * xs)`).
    #[inline]
    fn finish(&self, s: usize, acc: &[i32; BLOCK_ROWS], y: &mut [f32]) {
        let r0 = s * BLOCK_ROWS;
        let n = (self.m.rows - r0).min(BLOCK_ROWS);
        for r in 0..n {
            y[r0 + r] = acc[r] as f32 * (self.scale[r0 + r] * self.xs);
        }
    }

    fn portable(&self, y: &mut [f32]) {
        let m = self.m;
        for s in 0..m.starts.len() - 1 {
            let mut acc = [0i32; BLOCK_ROWS];
            for k in m.starts[s] as usize..m.starts[s + 1] as usize {
                let x = &self.xq[m.cols[k] as usize..][..BLOCK_COLS];
                let w = &m.w[k * BLOCK..][..BLOCK];
                for (a, row) in acc.iter_mut().zip(w.chunks_exact(BLOCK_COLS)) {
                    *a += row
                        .iter()
                        .zip(x)
                        .map(|(&q, &p)| i32::from(q) * i32::from(p))
                        .sum::<i32>();
                }
            }
            self.finish(s, &acc, y);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::x86::dpbusd;
    use super::{Product, BLOCK, BLOCK_ROWS};
    use std::arch::x86_64::*;

    /// The four input bytes at column `c`, as one i32 (for a broadcast).
    ///
    /// Safety: `c + 4 <= p.xq.len()`.
    #[inline]
    unsafe fn input4(p: &Product, c: u16) -> i32 {
        p.xq.as_ptr().add(c as usize).cast::<i32>().read_unaligned()
    }

    /// Safety: AVX2 available; `p.check(y)` holds.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(p: &Product, y: &mut [f32]) {
        let m = p.m;
        let ones = _mm256_set1_epi16(1);
        let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
        let mut acc = [0i32; BLOCK_ROWS];
        for s in 0..m.starts.len() - 1 {
            let mut a = _mm256_setzero_si256();
            for k in *m.starts.get_unchecked(s) as usize..*m.starts.get_unchecked(s + 1) as usize {
                let x = _mm256_set1_epi32(input4(p, *cols.add(k)));
                let q = _mm256_loadu_si256(w.add(k * BLOCK).cast());
                // |p| * (q sign(p)) = p q, pairs at most 2 * 127 * 127: no saturation.
                let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(q, x));
                a = _mm256_add_epi32(a, _mm256_madd_epi16(pairs, ones));
            }
            _mm256_storeu_si256(acc.as_mut_ptr().cast(), a);
            p.finish(s, &acc, y);
        }
    }

    /// Safety: AVX2 and AVX-VNNI available; `p.check(y)` holds.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn vnni(p: &Product, y: &mut [f32]) {
        let m = p.m;
        let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
        let mut acc = [0i32; BLOCK_ROWS];
        let u = |k: usize| {
            // u = p + 128 (sign bit flipped) in every byte.
            _mm256_set1_epi32(input4(p, *cols.add(k)) ^ 0x8080_8080u32 as i32)
        };
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
            let r0 = s * BLOCK_ROWS;
            for (r, v) in acc.iter_mut().enumerate() {
                if let Some(sum) = p.rowsum.get(r0 + r) {
                    *v = v.wrapping_sub(sum.wrapping_mul(128));
                }
            }
            p.finish(s, &acc, y);
        }
    }

    /// Safety: SSE4.1 available; `p.check(y)` holds.
    #[target_feature(enable = "sse4.1")]
    pub(super) unsafe fn sse41(p: &Product, y: &mut [f32]) {
        let m = p.m;
        let ones = _mm_set1_epi16(1);
        let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
        let mut acc = [0i32; BLOCK_ROWS];
        for s in 0..m.starts.len() - 1 {
            let (mut lo, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128());
            for k in *m.starts.get_unchecked(s) as usize..*m.starts.get_unchecked(s + 1) as usize {
                let x = _mm_set1_epi32(input4(p, *cols.add(k)));
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
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{Product, BLOCK, BLOCK_ROWS};
    use std::arch::aarch64::*;

    /// Safety: NEON available; `p.check(y)` holds.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn neon(p: &Product, y: &mut [f32]) {
        let m = p.m;
        let (cols, w) = (m.cols.as_ptr(), m.w.as_ptr());
        let mut acc = [0i32; BLOCK_ROWS];
        for s in 0..m.starts.len() - 1 {
            // Lanes: [r(c0+c1), r(c2+c3), r'(c0+c1), r'(c2+c3)] for row pairs (0,1) .. (6,7).
            let mut a = [vdupq_n_s32(0); 4];
            for k in *m.starts.get_unchecked(s) as usize..*m.starts.get_unchecked(s + 1) as usize {
                let c = *cols.add(k) as usize;
                let x4 = p.xq.as_ptr().add(c).cast::<u32>().read_unaligned();
                let x = vreinterpret_s8_u32(vdup_n_u32(x4));
                let q = w.add(k * BLOCK);
                for (i, acc) in a.iter_mut().enumerate() {
                    // Products at most 127 * 127, pairs fit in i16.
                    *acc = vpadalq_s16(*acc, vmull_s8(vld1_s8(q.add(8 * i)), x));
                }
            }
            let lo = vpaddq_s32(a[0], a[1]);
            let hi = vpaddq_s32(a[2], a[3]);
            vst1q_s32(acc.as_mut_ptr(), lo);
            vst1q_s32(acc.as_mut_ptr().add(4), hi);
            p.finish(s, &acc, y);
        }
    }
}

/// Block pruning by magnitude: keeps the `ceil(density * n)` of the `n` blocks of
/// [`BLOCK_ROWS`] x [`BLOCK_COLS`] weights of `w` (`rows` x `cols`, row-major; blocks at the
/// edges are partial) with the largest `||W_block||_2`, the earlier block on ties, and zeroes
/// the others. The trainer's `--gru-density` applies the same rule to the GRU matrices.
pub fn prune_blocks(w: &mut [f32], rows: usize, cols: usize, density: f32) {
    assert_eq!(w.len(), rows * cols);
    assert!((0.0..=1.0).contains(&density), "density must be in 0..=1");
    let (strips, bcols) = (rows.div_ceil(BLOCK_ROWS), cols.div_ceil(BLOCK_COLS));
    let cells = |b: usize| {
        let (s, c) = (b / bcols, b % bcols);
        (s * BLOCK_ROWS..((s + 1) * BLOCK_ROWS).min(rows)).flat_map(move |i| {
            (c * BLOCK_COLS..((c + 1) * BLOCK_COLS).min(cols)).map(move |j| i * cols + j)
        })
    };
    let n = strips * bcols;
    let norm: Vec<f32> = (0..n)
        .map(|b| cells(b).map(|k| w[k] * w[k]).sum())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| norm[b].total_cmp(&norm[a]).then(a.cmp(&b)));
    let keep = (density * n as f32).ceil() as usize;
    for &b in &order[keep.min(n)..] {
        for k in cells(b) {
            w[k] = 0.0;
        }
    }
}
