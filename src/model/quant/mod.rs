//! Int8 weight matrices with one f32 scale per row, and their matrix-vector kernels.
//!
//! A [`QuantMatrix`] stores `q_ij = round(w_ij / s_i)` with `s_i = max_j |w_ij| / 127`, so
//! every weight lies in -127..=127 (never -128). Columns are padded with zeros to a multiple of
//! [`COL_PAD`] so the kernels read whole 32-byte chunks and need no tail handling.
//!
//! [`QuantMatrix::matvec`] quantises the input once per call with one scale for the whole
//! vector, `t = max_j |x_j| / 127`, `p_j = round(x_j / t)` (ties to even, also in -127..=127),
//! and computes `y_i = (s_i t) * sum_j q_ij p_j`, the sum exact in i32. Because the integer sum
//! is exact in any order and the f32 operations after it are the same in every kernel, all
//! kernels give bit-identical results. Each output's error against the exact product is at
//! most `sum_j (|w_ij| t / 2 + s_i / 2 (|x_j| + t / 2))` (weight and input rounding): about
//! 0.5 % RMS for tanh-like inputs, more when a few inputs are much larger than the rest (the
//! input step grows with max |x|: about 3 % with one input 8 times the others).
//!
//! Kernels, one file per instruction set, each with its dense and its block-sparse
//! ([`sparse`]) product: [`portable`] (always compiled, the reference), `sse41`, `avx2`,
//! `avxvnni` and `avx512` on x86-64, `neon` and `dotprod` on aarch64. The best one this CPU
//! has is picked at run time, once, when the matrix is built ([`Kernel::best`]).
//!
//! - SSE4.1 and AVX2 make the input unsigned for `maddubs` with the sign trick:
//!   `|p_j| * (q_ij * sign(p_j))`, both factors at most 127 in magnitude, so a pair of products
//!   never saturates the i16 lane (2 * 127 * 127 = 32258 < 32767).
//! - AVX-VNNI and AVX-512 VNNI (`vpdpbusd`: four u8 x i8 products summed straight into i32, no
//!   saturation) offset the input instead, `u_j = p_j + 128` in 1..=255, and subtract the
//!   precomputed row sum: `sum_j q_ij p_j = sum_j q_ij u_j - 128 sum_j q_ij`, exact in i32.
//! - NEON widens to i16 products (`smull`, `smlal2`) and pairwise-adds them into i32; the Arm
//!   dot-product extension (`sdot`, Armv8.2+, run-time detected) sums four i8 x i8 products into
//!   each i32 lane directly.
//!
//! Speed is set by how fast the weights stream in, one byte per multiply-add: on the 2-core
//! Sapphire Rapids development machine about 85 GB/s from L2 (AVX-VNNI and AVX-512 VNNI alike:
//! the L2, not the arithmetic, is the limit, so the 512-bit kernel is not faster there), and
//! beyond L2 (the shipped network's 2.09 MB of int8 weights just exceed its 2 MB L2) 55-65
//! GB/s. The dense kernels prefetch [`PREFETCH_DISTANCE`] bytes ahead of the rows they read,
//! which hides part of the L3 latency. Tried and dropped: non-temporal prefetches (to keep
//! the engine's other data in L2) and `cldemote` were slower, also non-temporal prefetches for
//! only some matrices (so that the rest and the DSP's data fit in L2): any sizeable matrix
//! streamed that way took far longer than the warmer DSP gave back (conv1 and conv2: network
//! 0.0050 -> 0.0067 RTF, whole real-time engine 0.0081 -> 0.0100; the two output layers: no
//! change), and prefetching the first matrices into L2 (`prefetcht1`) in six slices between
//! the DSP stages of a hop, so that they would stream in while the DSP computes (conv1 and
//! conv2: whole engine 0.0118-0.0122 -> 0.0121-0.0122 RTF; with the first GRU too 0.0126,
//! with two 0.0137: no gain, then a loss), and the reverse, prefetching the DSP's own state
//! (timeline, spectra, STFT and pitch-tracker buffers; `prefetcht1` of every line at the start
//! of each hop, session 15: whole engine 0.0074 / 0.0079 RTF without, 0.0077 / 0.0077 with, in
//! alternating runs: no gain). What the DSP costs the network is measured: timed
//! alone, the network took 57-64 us per hop, 67-71 us right after a hop of the unity-gain
//! engine, and 58-65 / 61-67 / 62-68 us after touching 32 / 64 / 128 KiB of other data (the
//! engine's DSP state is 86 KB): the weights keep part of their L2 residency between frames
//! only while nothing else runs.
//!
//! The module uses nothing else of the crate, so its unit tests (`tests.rs`: every kernel
//! against the portable one, dense and block-sparse) also build on their own, e.g. for
//! aarch64 under qemu-user:
//!
//! ```text
//! rustc --edition 2021 --test -O --target aarch64-unknown-linux-gnu \
//!     -C linker=aarch64-linux-gnu-gcc src/model/quant/mod.rs -o target/quant-arm64
//! qemu-aarch64 -L /usr/aarch64-linux-gnu target/quant-arm64            # NEON and dot product
//! qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu target/quant-arm64  # NEON only
//! ```

pub mod portable;
pub mod sparse;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avxvnni;
#[cfg(target_arch = "x86_64")]
mod sse41;

#[cfg(target_arch = "aarch64")]
mod dotprod;
#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(test)]
mod tests;

use sparse::{BlockSparse, Product};

/// Column padding (elements): the AVX2 kernel reads 32 weights at a time.
pub const COL_PAD: usize = 32;

/// Largest column block quantised at once into a stack buffer. Wider matrices are done in
/// blocks whose f32 partial results are summed; within a block the i32 sum cannot overflow,
/// also with the VNNI offset (4096 * 255 * 127 < 2^31).
pub const MAX_BLOCK: usize = 4096;
/// Stack buffers for matrices of at most this many (padded) columns, so narrower matrices do
/// not clear the large buffer on every call.
const SMALL_BLOCK: usize = 512;
const MEDIUM_BLOCK: usize = 2048;

/// How far ahead (bytes) of the weights being read the dense x86 kernels prefetch (and how
/// much of a matrix [`QuantMatrix::matvec`] asks for before quantising the input). The
/// weights of a frame stream once through the caches (the shipped network's do not fit in a
/// 2 MB L2), and the hardware prefetcher alone left the kernels waiting on L3. On the
/// development machine (`percepnet bench`, same run) the shipped network alone took 7 % less
/// time with AVX-VNNI and 23 % less with AVX2, and about 10 % less inside the engine; 4 KiB
/// beat 2 and 8 KiB in a standalone test.
pub const PREFETCH_DISTANCE: usize = 4096;

/// Most inputs [`QuantMatrix::matvec_batch`] multiplies in one pass over the weights.
pub const MAX_BATCH: usize = 16;

/// Block density below which [`QuantMatrix::matvec_batch`] runs a block-sparse matrix one
/// input at a time with the block-sparse kernels; at or above it, batched with the dense
/// kernels (which multiply the zero blocks too, but read the weights once per batch). On the
/// development machine (`percepnet bench --weights`, offline engine, two runs each): GRUs at
/// 50 % density 0.0056-0.0061 RTF batched dense against 0.0061-0.0064 one at a time; the
/// full-size timing network at 30 % 0.0115-0.0124 against 0.0115-0.0117 (a tie at best).
pub const BATCH_SPARSE_BELOW: f32 = 0.4;

/// Weights (bytes, whole rows, rounded up to 8 rows) that [`QuantMatrix::matvec_batch`]
/// multiplies by every input of the batch before it moves on: small enough to stay in a
/// 32 KiB L1 data cache next to the quantised inputs.
pub const BATCH_CHUNK_BYTES: usize = 8192;

/// A matrix-vector kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, any target (the reference the others must match bit for bit).
    Portable,
    /// x86-64 with SSE4.1 (uses SSSE3 instructions), 16 columns per step.
    Sse41,
    /// x86-64 with AVX2, 32 columns per step.
    Avx2,
    /// x86-64 with AVX-VNNI (`vpdpbusd` on 256-bit registers; Alder Lake, Sapphire Rapids,
    /// Zen 5 and later), 32 columns per step.
    AvxVnni,
    /// x86-64 with AVX-512 F, BW and VNNI (`vpdpbusd` on 512-bit registers; Cascade Lake, Ice
    /// Lake, Sapphire Rapids, Zen 4 and later), 64 columns per step.
    Avx512Vnni,
    /// aarch64 NEON, 16 columns per step.
    Neon,
    /// aarch64 with the dot-product extension (`sdot`; Armv8.2-A and later: Cortex-A55/A76,
    /// Neoverse, Apple M1), 16 columns per step.
    NeonDotprod,
}

impl Kernel {
    /// Every kernel, best first (the order [`Kernel::best`] tries them in). On x86-64 the
    /// 256-bit AVX-VNNI kernel comes before the 512-bit one: on the development machine, which
    /// has both, they stream weights equally fast (the L2 and L3 set the pace, not the
    /// arithmetic; `percepnet bench` and `tests/quant.rs`'s ignored `kernel_timings` show
    /// both), and 256-bit code never lowers the clock of older AVX-512 CPUs. CPUs with
    /// AVX-512 VNNI but no AVX-VNNI (Cascade Lake, Ice Lake, Zen 4) get the 512-bit kernel,
    /// faster there than AVX2.
    pub const ALL: [Kernel; 7] = [
        Kernel::AvxVnni,
        Kernel::Avx512Vnni,
        Kernel::Avx2,
        Kernel::NeonDotprod,
        Kernel::Neon,
        Kernel::Sse41,
        Kernel::Portable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Sse41 => "sse4.1",
            Kernel::Avx2 => "avx2",
            Kernel::AvxVnni => "avx-vnni",
            Kernel::Avx512Vnni => "avx512-vnni",
            Kernel::Neon => "neon",
            Kernel::NeonDotprod => "neon-dotprod",
        }
    }

    /// Whether this CPU can run the kernel (runtime feature detection).
    pub fn is_available(self) -> bool {
        Imp::detect(self).is_some()
    }

    /// The fastest kernel this CPU can run.
    pub fn best() -> Kernel {
        Kernel::ALL
            .into_iter()
            .find(|k| k.is_available())
            .unwrap_or(Kernel::Portable)
    }

    /// The kernels this CPU can run, best first.
    pub fn available() -> Vec<Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|k| k.is_available())
            .collect()
    }
}

/// A kernel together with the proof that the CPU supports it: the SIMD variants hold tokens
/// that only their module's detection can create.
#[derive(Clone, Copy, Debug)]
enum Imp {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse41(sse41::Sse41),
    #[cfg(target_arch = "x86_64")]
    Avx2(avx2::Avx2),
    #[cfg(target_arch = "x86_64")]
    AvxVnni(avxvnni::AvxVnni),
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni(avx512::Avx512Vnni),
    #[cfg(target_arch = "aarch64")]
    Neon(neon::Neon),
    #[cfg(target_arch = "aarch64")]
    NeonDotprod(dotprod::Dotprod),
}

impl Imp {
    fn detect(k: Kernel) -> Option<Imp> {
        match k {
            Kernel::Portable => Some(Imp::Portable),
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse41 => sse41::Sse41::detect().map(Imp::Sse41),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::Avx2::detect().map(Imp::Avx2),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => avxvnni::AvxVnni::detect().map(Imp::AvxVnni),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => avx512::Avx512Vnni::detect().map(Imp::Avx512Vnni),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => neon::Neon::detect().map(Imp::Neon),
            #[cfg(target_arch = "aarch64")]
            Kernel::NeonDotprod => dotprod::Dotprod::detect().map(Imp::NeonDotprod),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    fn kernel(self) -> Kernel {
        match self {
            Imp::Portable => Kernel::Portable,
            #[cfg(target_arch = "x86_64")]
            Imp::Sse41(_) => Kernel::Sse41,
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2(_) => Kernel::Avx2,
            #[cfg(target_arch = "x86_64")]
            Imp::AvxVnni(_) => Kernel::AvxVnni,
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512Vnni(_) => Kernel::Avx512Vnni,
            #[cfg(target_arch = "aarch64")]
            Imp::Neon(_) => Kernel::Neon,
            #[cfg(target_arch = "aarch64")]
            Imp::NeonDotprod(_) => Kernel::NeonDotprod,
        }
    }

    /// One column block of a dense product (see [`Block`]).
    fn dense(self, b: &Block, y: &mut [f32]) {
        match self {
            Imp::Portable => portable::dense(b, y),
            #[cfg(target_arch = "x86_64")]
            Imp::Sse41(t) => t.dense(b, y),
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2(t) => t.dense(b, y),
            #[cfg(target_arch = "x86_64")]
            Imp::AvxVnni(t) => t.dense(b, y),
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512Vnni(t) => t.dense(b, y),
            #[cfg(target_arch = "aarch64")]
            Imp::Neon(t) => t.dense(b, y),
            #[cfg(target_arch = "aarch64")]
            Imp::NeonDotprod(t) => t.dense(b, y),
        }
    }

    /// A block-sparse product (see [`sparse`]).
    fn sparse(self, p: &Product, y: &mut [f32]) {
        match self {
            Imp::Portable => portable::sparse(p, y),
            #[cfg(target_arch = "x86_64")]
            Imp::Sse41(t) => t.sparse(p, y),
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2(t) => t.sparse(p, y),
            #[cfg(target_arch = "x86_64")]
            Imp::AvxVnni(t) => t.sparse(p, y),
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512Vnni(t) => t.sparse(p, y),
            #[cfg(target_arch = "aarch64")]
            Imp::Neon(t) => t.sparse(p, y),
            #[cfg(target_arch = "aarch64")]
            Imp::NeonDotprod(t) => t.sparse(p, y),
        }
    }
}

/// One column block of the product: rows of `q` (row stride `stride`) from column `col0`, times
/// the quantised input block `xq` (a multiple of [`COL_PAD`] long); `y_i` is set to (or, with
/// `accumulate`, increased by) `(acc_i as f32) * (scale_i * xs)`. `rowsum_i` is
/// `sum_j q_ij` over the block's columns (for the VNNI offset).
struct Block<'a> {
    q: &'a [i8],
    stride: usize,
    col0: usize,
    xq: &'a [i8],
    rowsum: &'a [i32],
    scale: &'a [f32],
    xs: f32,
    accumulate: bool,
}

impl Block<'_> {
    /// Checks everything the SIMD kernels rely on to stay in bounds: every row `i < y.len()`
    /// has `xq.len()` readable weights from `i * stride + col0`.
    fn check(&self, y: &[f32]) {
        let rows = y.len();
        assert_eq!(self.scale.len(), rows);
        assert_eq!(self.rowsum.len(), rows);
        assert_eq!(self.xq.len() % COL_PAD, 0);
        assert_eq!(self.stride % COL_PAD, 0);
        assert!(self.col0 + self.xq.len() <= self.stride);
        assert!(self.q.len() >= rows * self.stride);
    }

    /// Output `y` from its row's sum: `acc * (scale * xs)`, or added to `y`.
    #[inline]
    fn finish(&self, acc: i32, scale: f32, y: &mut f32) {
        let v = acc as f32 * (scale * self.xs);
        *y = if self.accumulate { *y + v } else { v };
    }

    /// Where prefetching should stop: one past the last weight.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline]
    fn weights_end(&self) -> *const i8 {
        self.q.as_ptr_range().end
    }
}

/// An int8 matrix (`rows` x `cols`, row-major, columns zero-padded to a multiple of
/// [`COL_PAD`]) with one f32 scale per row.
#[derive(Clone, Debug)]
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    stride: usize,
    q: Vec<i8>,
    scale: Vec<f32>,
    /// `sum_j q_ij` per column block of [`MAX_BLOCK`]: block-major, `rows` per block.
    rowsum: Vec<i32>,
    /// The nonzero blocks, when few enough for the block-sparse kernels to pay off.
    sparse: Option<BlockSparse>,
    imp: Imp,
}

impl QuantMatrix {
    /// Quantises a row-major f32 matrix, using the fastest kernel this CPU has.
    ///
    /// Panics if `w.len() != rows * cols` or a weight is not finite (the `.pnw` parser rejects
    /// those already). Allocates: build matrices when the network is loaded.
    pub fn new(w: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(w.len(), rows * cols, "weights are not rows x cols");
        assert!(w.iter().all(|v| v.is_finite()), "non-finite weight");
        let stride = cols.div_ceil(COL_PAD).max(1) * COL_PAD;
        let mut q = vec![0i8; rows * stride];
        let mut scale = vec![0.0f32; rows];
        if cols > 0 {
            for ((row, qrow), s) in w
                .chunks_exact(cols)
                .zip(q.chunks_exact_mut(stride))
                .zip(&mut scale)
            {
                let amax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                if amax == 0.0 {
                    continue;
                }
                *s = amax / 127.0;
                for (qv, &v) in qrow.iter_mut().zip(row) {
                    *qv = (v / *s).round().clamp(-127.0, 127.0) as i8;
                }
            }
        }
        let rowsum = row_sums(&q, rows, stride);
        let sparse = if stride <= MAX_BLOCK {
            BlockSparse::from_dense(&q, rows, cols, stride)
        } else {
            None
        };
        Self {
            rows,
            cols,
            stride,
            q,
            scale,
            rowsum,
            sparse,
            imp: Imp::detect(Kernel::best()).unwrap_or(Imp::Portable),
        }
    }

    /// The same matrix run by kernel `k`, or `None` if this CPU cannot run it.
    pub fn with_kernel(mut self, k: Kernel) -> Option<Self> {
        self.imp = Imp::detect(k)?;
        Some(self)
    }

    pub fn kernel(&self) -> Kernel {
        self.imp.kernel()
    }

    /// The fraction of [`sparse::BLOCK_ROWS`] x [`sparse::BLOCK_COLS`] blocks holding a
    /// nonzero weight, if the matrix runs the block-sparse kernels (at most
    /// [`sparse::MAX_DENSITY`], and at most [`MAX_BLOCK`] columns); `None` if it runs dense.
    pub fn block_density(&self) -> Option<f32> {
        self.sparse.as_ref().map(BlockSparse::density)
    }

    /// The same matrix run by the dense kernels even if it is block-sparse (benchmarks and
    /// tests compare the two; the results are bit-identical).
    pub fn dense(mut self) -> Self {
        self.sparse = None;
        self
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns including the zero padding.
    pub fn padded_cols(&self) -> usize {
        self.stride
    }

    /// The per-row scales s_i.
    pub fn scales(&self) -> &[f32] {
        &self.scale
    }

    /// The quantised weights, `rows` x [`QuantMatrix::padded_cols`], row-major.
    pub fn weights(&self) -> &[i8] {
        &self.q
    }

    /// The weight `w_ij` as this matrix represents it, `s_i q_ij`.
    pub fn dequantised(&self, i: usize, j: usize) -> f32 {
        assert!(i < self.rows && j < self.cols);
        self.scale[i] * f32::from(self.q[i * self.stride + j])
    }

    /// y = W x with W this matrix and x quantised to int8 with one scale (see the module
    /// documentation). `x.len()` must be `cols` and `y.len()` `rows`. Allocates nothing.
    ///
    /// An all-zero x (or one whose largest magnitude is so small that 127 / max overflows) gives
    /// y = 0; an x holding NaN or infinity gives y = NaN.
    pub fn matvec(&self, x: &[f32], y: &mut [f32]) {
        assert_eq!(x.len(), self.cols, "x has the wrong length");
        assert_eq!(y.len(), self.rows, "y has the wrong length");
        self.prefetch_start();
        let (inv, xs) = match input_scale(x) {
            Ok(scales) => scales,
            Err(fill) => return y.fill(fill),
        };
        if let Some(sp) = &self.sparse {
            if self.stride <= SMALL_BLOCK {
                self.sparse_product::<SMALL_BLOCK>(sp, x, inv, xs, y);
            } else if self.stride <= MEDIUM_BLOCK {
                self.sparse_product::<MEDIUM_BLOCK>(sp, x, inv, xs, y);
            } else {
                self.sparse_product::<MAX_BLOCK>(sp, x, inv, xs, y);
            }
        } else if self.stride <= SMALL_BLOCK {
            self.blocks::<SMALL_BLOCK>(x, inv, xs, y);
        } else if self.stride <= MEDIUM_BLOCK {
            self.blocks::<MEDIUM_BLOCK>(x, inv, xs, y);
        } else {
            self.blocks::<MAX_BLOCK>(x, inv, xs, y);
        }
    }

    /// `y_k = W x_k` for `n` inputs at once: `x` holds them one after another (`n` x `cols`),
    /// `y` gets the outputs the same way (`n` x `rows`). Bit-identical to `n` calls of
    /// [`QuantMatrix::matvec`] (each input keeps its own scale, and the integer sums are
    /// exact), but each chunk of [`BATCH_CHUNK_BYTES`] of weights is multiplied by all `n`
    /// inputs while it is in L1, so the weights stream in from memory once per batch instead
    /// of once per input: what an offline run gains over a real-time one, which has one frame
    /// at a time. A block-sparse matrix denser than [`BATCH_SPARSE_BELOW`] is batched with the
    /// dense kernels over its zero-filled weights (same integer sums, so the same bits); a
    /// sparser one, matrices wider than 2048 columns and batches larger than [`MAX_BATCH`] fall
    /// back to one call per input. Allocates nothing.
    pub fn matvec_batch(&self, x: &[f32], y: &mut [f32]) {
        if self.cols == 0 || self.rows == 0 {
            // Empty inputs give zeros, as in `matvec`.
            y.fill(0.0);
            return;
        }
        assert_eq!(x.len() % self.cols, 0, "x is not n inputs");
        let n = x.len() / self.cols;
        assert_eq!(y.len(), n * self.rows, "y has the wrong length");
        let sparser = self
            .sparse
            .as_ref()
            .is_some_and(|sp| sp.density() < BATCH_SPARSE_BELOW);
        if n <= 1 || n > MAX_BATCH || sparser || self.stride > MEDIUM_BLOCK {
            for (xk, yk) in x.chunks_exact(self.cols).zip(y.chunks_exact_mut(self.rows)) {
                self.matvec(xk, yk);
            }
            return;
        }
        self.prefetch_start();
        let s = self.stride;
        let mut buf = [0i8; MAX_BATCH * MEDIUM_BLOCK];
        let mut scales = [None::<f32>; MAX_BATCH];
        for (k, (xk, yk)) in x
            .chunks_exact(self.cols)
            .zip(y.chunks_exact_mut(self.rows))
            .enumerate()
        {
            match input_scale(xk) {
                Ok((inv, xs)) => {
                    quantise(xk, inv, &mut buf[k * s..(k + 1) * s]);
                    scales[k] = Some(xs);
                }
                Err(fill) => yk.fill(fill),
            }
        }
        let chunk = (BATCH_CHUNK_BYTES / s).max(1).next_multiple_of(8);
        for r0 in (0..self.rows).step_by(chunk) {
            let r1 = (r0 + chunk).min(self.rows);
            for (k, xs) in scales[..n].iter().enumerate() {
                let Some(xs) = *xs else { continue };
                let block = Block {
                    q: &self.q[r0 * s..],
                    stride: s,
                    col0: 0,
                    xq: &buf[k * s..(k + 1) * s],
                    rowsum: &self.rowsum[r0..r1],
                    scale: &self.scale[r0..r1],
                    xs,
                    accumulate: false,
                };
                let base = k * self.rows;
                self.imp.dense(&block, &mut y[base + r0..base + r1]);
            }
        }
    }

    /// Asks for the first [`PREFETCH_DISTANCE`] bytes of the weights the product reads first
    /// (the dense kernels prefetch that far ahead from there on), so that they arrive while
    /// the input is quantised.
    #[inline]
    fn prefetch_start(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let w: &[i8] = match &self.sparse {
                Some(sp) => &sp.w,
                None => &self.q,
            };
            for line in w[..w.len().min(PREFETCH_DISTANCE)].chunks(64) {
                // SAFETY: a prefetch reads nothing and cannot fault; the address lies in `w`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr()) };
            }
        }
    }

    /// The block-sparse product; `B` at least the stride (at most [`MAX_BLOCK`], see `new`,
    /// so one column block and the row sums of block 0).
    fn sparse_product<const B: usize>(
        &self,
        sp: &BlockSparse,
        x: &[f32],
        inv: f32,
        xs: f32,
        y: &mut [f32],
    ) {
        let mut buf = [0i8; B];
        let xq = &mut buf[..self.stride];
        quantise(x, inv, xq);
        let p = Product {
            m: sp,
            xq,
            scale: &self.scale,
            rowsum: &self.rowsum[..self.rows],
            xs,
        };
        self.imp.sparse(&p, y);
    }

    /// The product in column blocks of `B` (a single block, or blocks of [`MAX_BLOCK`], so
    /// each block has its row sums).
    fn blocks<const B: usize>(&self, x: &[f32], inv: f32, xs: f32, y: &mut [f32]) {
        debug_assert!(self.stride <= B || B == MAX_BLOCK);
        let mut buf = [0i8; B];
        for col0 in (0..self.stride).step_by(B) {
            let end = (col0 + B).min(self.stride);
            let xq = &mut buf[..end - col0];
            quantise(&x[col0.min(self.cols)..end.min(self.cols)], inv, xq);
            let nth = col0 / MAX_BLOCK;
            let block = Block {
                q: &self.q,
                stride: self.stride,
                col0,
                xq,
                rowsum: &self.rowsum[nth * self.rows..(nth + 1) * self.rows],
                scale: &self.scale,
                xs,
                accumulate: col0 > 0,
            };
            self.imp.dense(&block, y);
        }
    }
}

/// `sum_j q_ij` of every row over each column block of [`MAX_BLOCK`] (block-major).
fn row_sums(q: &[i8], rows: usize, stride: usize) -> Vec<i32> {
    let mut sums = Vec::with_capacity(rows * stride.div_ceil(MAX_BLOCK));
    for col0 in (0..stride).step_by(MAX_BLOCK) {
        let end = (col0 + MAX_BLOCK).min(stride);
        sums.extend(
            q.chunks_exact(stride)
                .map(|row| row[col0..end].iter().map(|&v| i32::from(v)).sum::<i32>()),
        );
    }
    sums
}

/// The input's quantisation `(127 / max |x|, max |x| / 127)`, or the value every output takes
/// instead: NaN if x holds NaN or infinity, 0 if x is all zeros or so small that
/// 127 / max |x| overflows.
#[inline]
fn input_scale(x: &[f32]) -> Result<(f32, f32), f32> {
    let amax = max_abs(x).ok_or(f32::NAN)?;
    let inv = 127.0 / amax;
    if inv.is_finite() {
        Ok((inv, amax / 127.0))
    } else {
        Err(0.0)
    }
}

/// `max_j |x_j|`, or `None` if x holds NaN or infinity. One pass over the bits: for floats
/// of equal sign the bit patterns order like the values, and NaN and infinity are exactly the
/// patterns from `0x7f80_0000` up once the sign is cleared. An integer maximum vectorises (an
/// f32 `max` fold does not: it must honour NaN in order).
#[inline]
fn max_abs(x: &[f32]) -> Option<f32> {
    let bits = x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    (bits < 0x7f80_0000).then(|| f32::from_bits(bits))
}

/// `out_j = round_ties_even(x_j * inv)` for the first `x.len()` entries, 0 after. Adding
/// 1.5 * 2^23 rounds to the nearest integer, ties to even, for |v| < 2^22, and leaves that
/// integer in the low mantissa bits (two's complement, as 2^22 is a multiple of 256), so the
/// low byte of the sum's bits is the rounded value: no float-to-int conversion, and the loop
/// vectorises on baseline x86-64. |x_j * inv| <= 127 (up to rounding), so the byte holds it.
#[inline]
fn quantise(x: &[f32], inv: f32, out: &mut [i8]) {
    const MAGIC: f32 = 12_582_912.0;
    let (head, tail) = out.split_at_mut(x.len());
    for (o, &v) in head.iter_mut().zip(x) {
        *o = (v * inv + MAGIC).to_bits() as u8 as i8;
    }
    tail.fill(0);
}
