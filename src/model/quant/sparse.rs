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
//! AVX-VNNI (with the same offset and row sums as the dense kernel), half a 512-bit `vpdpbusd`
//! on AVX-512 VNNI (two blocks of a strip per instruction), `vmull` and `vpadal` on NEON, two
//! `sdot` with the dot-product extension. The kernels live in each instruction set's file, the
//! portable one in [`super::portable`].
//!
//! This is the layout of the trainer's block-sparse GRUs (`training/train.py --gru-density`,
//! blocks pruned by magnitude): memory traffic, which sets the speed of large matrices, falls
//! with the density.

/// Rows per block (one 256-bit register of i32 sums).
pub const BLOCK_ROWS: usize = 8;
/// Columns per block (four input bytes, one i32 lane of products per row).
pub const BLOCK_COLS: usize = 4;
/// Bytes per block.
pub(super) const BLOCK: usize = BLOCK_ROWS * BLOCK_COLS;
/// A matrix is stored block-sparse when at most this fraction of its blocks holds a nonzero
/// weight (above it the index and the per-block broadcast cost more than the zeros).
pub const MAX_DENSITY: f32 = 0.6;

/// The nonzero blocks of a quantised matrix.
#[derive(Clone, Debug)]
pub struct BlockSparse {
    pub(super) rows: usize,
    /// Columns of the quantised input the product reads (every block ends within it).
    pub(super) stride: usize,
    /// Blocks of strip `s` are `starts[s]..starts[s + 1]`.
    pub(super) starts: Vec<u32>,
    /// First column of each block (u16: the matrix has at most `MAX_BLOCK` = 4096 columns;
    /// the index is 2 bytes per 32 bytes of weights).
    pub(super) cols: Vec<u16>,
    /// [`BLOCK`] weights per block.
    pub(super) w: Vec<i8>,
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
}

/// One product's operands: `y_i = acc_i * (scale_i * xs)` over the quantised input `xq`
/// (padded to the matrix's stride); `rowsum_i = sum_j q_ij` (for the VNNI offset).
pub(super) struct Product<'a> {
    pub(super) m: &'a BlockSparse,
    pub(super) xq: &'a [i8],
    pub(super) scale: &'a [f32],
    pub(super) rowsum: &'a [i32],
    pub(super) xs: f32,
}

impl Product<'_> {
    /// Everything the SIMD kernels rely on to stay in bounds.
    pub(super) fn check(&self, y: &[f32]) {
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
    pub(super) fn finish(&self, s: usize, acc: &[i32; BLOCK_ROWS], y: &mut [f32]) {
        let r0 = s * BLOCK_ROWS;
        let n = (self.m.rows - r0).min(BLOCK_ROWS);
        for r in 0..n {
            y[r0 + r] = acc[r] as f32 * (self.scale[r0 + r] * self.xs);
        }
    }

    /// The four input bytes at column `c`, as one i32 (for a broadcast).
    ///
    /// Safety: `c + 4 <= self.xq.len()`, true of every block's column once `check` passed.
    #[inline(always)]
    pub(super) unsafe fn input4(&self, c: u16) -> i32 {
        self.xq
            .as_ptr()
            .add(c as usize)
            .cast::<i32>()
            .read_unaligned()
    }

    /// Undoes the VNNI input offset of strip `s`'s sums: `acc_r -= 128 rowsum_r`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline]
    pub(super) fn unoffset(&self, s: usize, acc: &mut [i32; BLOCK_ROWS]) {
        let r0 = s * BLOCK_ROWS;
        for (r, v) in acc.iter_mut().enumerate() {
            if let Some(sum) = self.rowsum.get(r0 + r) {
                *v = v.wrapping_sub(sum.wrapping_mul(128));
            }
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
