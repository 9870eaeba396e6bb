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
//! Kernels: a portable one (always compiled, the reference), SSE4.1, AVX2 and AVX-VNNI on
//! x86-64 (picked at run time once, when the matrix is built), NEON on aarch64. The SSE4.1 and
//! AVX2 kernels make the input unsigned for `maddubs` with the sign trick:
//! `|p_j| * (q_ij * sign(p_j))`, both factors at most 127 in magnitude, so a pair of products
//! never saturates the i16 lane (2 * 127 * 127 = 32258 < 32767). The AVX-VNNI kernel
//! (`vpdpbusd`: four u8 x i8 products summed straight into i32, no saturation) offsets the
//! input instead, `u_j = p_j + 128` in 1..=255, and subtracts the precomputed row sum:
//! `sum_j q_ij p_j = sum_j q_ij u_j - 128 sum_j q_ij`, exact in i32.
//!
//! Speed is set by how fast the weights stream in, one byte per multiply-add: the AVX2 kernel
//! runs near 60 GB/s from L2, AVX-VNNI near 95 GB/s, and beyond L2 both are held to the memory
//! bandwidth of one core (about 30 GB/s on the 2-core development machine).

use std::time::Instant;

pub mod sparse;

use sparse::BlockSparse;

/// Column padding (elements): the AVX2 kernel reads 32 weights at a time.
pub const COL_PAD: usize = 32;

/// Largest column block quantised at once into a stack buffer. Wider matrices are done in
/// blocks whose f32 partial results are summed; within a block the i32 sum cannot overflow,
/// also with the AVX-VNNI offset (4096 * 255 * 127 < 2^31).
const MAX_BLOCK: usize = 4096;
/// Stack buffers for matrices of at most this many (padded) columns, so narrower matrices do
/// not clear the large buffer on every call.
const SMALL_BLOCK: usize = 512;
const MEDIUM_BLOCK: usize = 2048;

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
    /// aarch64 NEON, 16 columns per step.
    Neon,
}

impl Kernel {
    /// Every kernel, best first.
    pub const ALL: [Kernel; 5] = [
        Kernel::AvxVnni,
        Kernel::Avx2,
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
            Kernel::Neon => "neon",
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
    Sse41(x86::Sse41),
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2),
    #[cfg(target_arch = "x86_64")]
    AvxVnni(x86::AvxVnni),
    #[cfg(target_arch = "aarch64")]
    Neon(neon::Neon),
}

impl Imp {
    fn detect(k: Kernel) -> Option<Imp> {
        match k {
            Kernel::Portable => Some(Imp::Portable),
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse41 => x86::Sse41::detect().map(Imp::Sse41),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => x86::Avx2::detect().map(Imp::Avx2),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => x86::AvxVnni::detect().map(Imp::AvxVnni),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => neon::Neon::detect().map(Imp::Neon),
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
            #[cfg(target_arch = "aarch64")]
            Imp::Neon(_) => Kernel::Neon,
        }
    }
}

/// One column block of the product: rows of `q` (row stride `stride`) from column `col0`, times
/// the quantised input block `xq` (a multiple of [`COL_PAD`] long); `y_i` is set to (or, with
/// `accumulate`, increased by) `(acc_i as f32) * (scale_i * xs)`. `rowsum_i` is
/// `sum_j q_ij` over the block's columns (for the AVX-VNNI offset).
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
    /// Checks everything the SIMD kernels rely on to stay in bounds.
    fn check(&self, y: &[f32]) {
        let rows = y.len();
        assert_eq!(self.scale.len(), rows);
        assert_eq!(self.rowsum.len(), rows);
        assert_eq!(self.xq.len() % COL_PAD, 0);
        assert_eq!(self.stride % COL_PAD, 0);
        assert!(self.col0 + self.xq.len() <= self.stride);
        assert!(self.q.len() >= rows * self.stride);
    }

    #[inline]
    fn finish(&self, acc: i32, scale: f32, y: &mut f32) {
        let v = acc as f32 * (scale * self.xs);
        *y = if self.accumulate { *y + v } else { v };
    }

    fn portable(&self, y: &mut [f32]) {
        let n = self.xq.len();
        for (i, yi) in y.iter_mut().enumerate() {
            let row = &self.q[i * self.stride + self.col0..][..n];
            // Cannot overflow (see MAX_BLOCK); wrapping ops let the dev profile, which checks
            // overflow, vectorise this too.
            let acc = row.iter().zip(self.xq).fold(0i32, |acc, (&a, &b)| {
                acc.wrapping_add(i32::from(a).wrapping_mul(i32::from(b)))
            });
            self.finish(acc, self.scale[i], yi);
        }
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
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if !amax.is_finite() || x.iter().any(|v| v.is_nan()) {
            y.fill(f32::NAN);
            return;
        }
        let inv = 127.0 / amax;
        if !inv.is_finite() {
            y.fill(0.0);
            return;
        }
        let xs = amax / 127.0;
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
        sp.product(self.imp, xq, &self.scale, &self.rowsum[..self.rows], xs, y);
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
            match self.imp {
                Imp::Portable => block.portable(y),
                #[cfg(target_arch = "x86_64")]
                Imp::Sse41(t) => t.run(&block, y),
                #[cfg(target_arch = "x86_64")]
                Imp::Avx2(t) => t.run(&block, y),
                #[cfg(target_arch = "x86_64")]
                Imp::AvxVnni(t) => t.run(&block, y),
                #[cfg(target_arch = "aarch64")]
                Imp::Neon(t) => t.run(&block, y),
            }
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

/// `out_j = round_ties_even(x_j * inv)` for the first `x.len()` entries, 0 after. Adding and
/// subtracting 1.5 * 2^23 rounds to the nearest integer, ties to even, for |v| < 2^22, and
/// vectorises on baseline x86-64 (unlike `f32::round_ties_even`, a library call without
/// SSE4.1). |x_j * inv| <= 127 (up to rounding), so the cast never saturates to -128.
#[inline]
fn quantise(x: &[f32], inv: f32, out: &mut [i8]) {
    const MAGIC: f32 = 12_582_912.0;
    let (head, tail) = out.split_at_mut(x.len());
    for (o, &v) in head.iter_mut().zip(x) {
        *o = ((v * inv + MAGIC) - MAGIC) as i8;
    }
    tail.fill(0);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Block;
    use std::arch::asm;
    use std::arch::x86_64::*;

    /// Proof that the CPU has AVX2: only [`Avx2::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Avx2(());

    impl Avx2 {
        pub(super) fn detect() -> Option<Self> {
            is_x86_feature_detected!("avx2").then_some(Avx2(()))
        }

        pub(super) fn run(self, b: &Block, y: &mut [f32]) {
            b.check(y);
            // SAFETY: `self` exists only if AVX2 was detected at run time, and `check` verified
            // the bounds `block_avx2` relies on.
            unsafe { block_avx2(b, y) }
        }
    }

    /// Proof that the CPU has SSE4.1 (and so SSSE3): only [`Sse41::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Sse41(());

    impl Sse41 {
        pub(super) fn detect() -> Option<Self> {
            is_x86_feature_detected!("sse4.1").then_some(Sse41(()))
        }

        pub(super) fn run(self, b: &Block, y: &mut [f32]) {
            b.check(y);
            // SAFETY: `self` exists only if SSE4.1 was detected at run time, and `check`
            // verified the bounds `block_sse41` relies on.
            unsafe { block_sse41(b, y) }
        }
    }

    /// Proof that the CPU has AVX2 and AVX-VNNI: only [`AvxVnni::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct AvxVnni(());

    impl AvxVnni {
        /// AVX2 (which also proves the OS saves the 256-bit registers) and AVX-VNNI, CPUID
        /// leaf 7 sub-leaf 1, EAX bit 4 (read directly: the run-time detection macro names
        /// this feature only in newer Rust than this crate's minimum).
        pub(super) fn detect() -> Option<Self> {
            if !is_x86_feature_detected!("avx2") {
                return None;
            }
            // SAFETY: CPUID exists on every x86-64 CPU; leaf 7 is read only if the maximum
            // basic leaf reaches it, and sub-leaf 1 only if leaf 7 reports it.
            #[allow(unused_unsafe)]
            let vnni = unsafe {
                __get_cpuid_max(0).0 >= 7
                    && __cpuid_count(7, 0).eax >= 1
                    && __cpuid_count(7, 1).eax & (1 << 4) != 0
            };
            vnni.then_some(AvxVnni(()))
        }

        pub(super) fn run(self, b: &Block, y: &mut [f32]) {
            b.check(y);
            // SAFETY: `self` exists only if AVX2 and AVX-VNNI were detected at run time, and
            // `check` verified the bounds `block_vnni` relies on.
            unsafe { block_vnni(b, y) }
        }
    }

    /// `acc + sum of the four u * w products` in each i32 lane (`vpdpbusd`, VEX form): `u`
    /// unsigned, the 32 bytes at `w` signed. Written as assembly so the crate builds with Rust
    /// older than the AVX-VNNI intrinsics.
    ///
    /// Safety: AVX2 and AVX-VNNI available; `w` valid for reading 32 bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dpbusd(acc: __m256i, u: __m256i, w: *const i8) -> __m256i {
        let mut acc = acc;
        asm!(
            "{{vex}} vpdpbusd {acc}, {u}, ymmword ptr [{w}]",
            acc = inout(ymm_reg) acc,
            u = in(ymm_reg) u,
            w = in(reg) w,
            options(pure, readonly, nostack, preserves_flags),
        );
        acc
    }

    /// Input chunk `k` offset to unsigned: `u = p + 128`, i.e. the sign bit flipped.
    ///
    /// Safety: AVX2 available; `xp` valid for reading 32 bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn offset_chunk(xp: *const i8) -> __m256i {
        _mm256_xor_si256(_mm256_lddqu_si256(xp.cast()), _mm256_set1_epi8(i8::MIN))
    }

    /// Subtracts `128 * rowsum` from four rows' sums (rows `r..r + 4`), undoing the offset.
    ///
    /// Safety: AVX2 available; `r + 4 <= b.rowsum.len()`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn unoffset4(b: &Block, acc: __m128i, r: usize) -> __m128i {
        let sums = _mm_loadu_si128(b.rowsum.as_ptr().add(r).cast());
        _mm_sub_epi32(acc, _mm_slli_epi32::<7>(sums))
    }

    /// Eight rows at a time (then four, then one), 32 columns per step; the structure of
    /// `block_avx2` with one `vpdpbusd` per row and step.
    ///
    /// Safety: AVX2 and AVX-VNNI available; `b.check(y)` holds (see `block_avx2`).
    #[target_feature(enable = "avx2")]
    unsafe fn block_vnni(b: &Block, y: &mut [f32]) {
        let rows = y.len();
        let n = b.xq.len();
        let xp = b.xq.as_ptr();
        let yp = y.as_mut_ptr();
        let s = b.stride;
        let mut r = 0;
        while r + 8 <= rows {
            let w = b.q.as_ptr().add(r * s + b.col0);
            let mut a = [_mm256_setzero_si256(); 8];
            let mut k = 0;
            while k < n {
                let u = offset_chunk(xp.add(k));
                for (i, acc) in a.iter_mut().enumerate() {
                    *acc = dpbusd(*acc, u, w.add(i * s + k));
                }
                k += 32;
            }
            let lo = unoffset4(b, hsum4_avx2(a[0], a[1], a[2], a[3]), r);
            let hi = unoffset4(b, hsum4_avx2(a[4], a[5], a[6], a[7]), r + 4);
            store4_avx2(b, lo, yp.add(r), r);
            store4_avx2(b, hi, yp.add(r + 4), r + 4);
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
            let acc = hsum_avx2(a).wrapping_sub(b.rowsum[r].wrapping_mul(128));
            b.finish(acc, b.scale[r], &mut *yp.add(r));
            r += 1;
        }
    }

    /// Adds row `w`'s 32 products with the input chunk `x` (|x| in `ax`) to `acc` (8 x i32).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn step_avx2(acc: __m256i, w: *const i8, x: __m256i, ax: __m256i) -> __m256i {
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
    unsafe fn hsum_avx2(a: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    /// Eight rows at a time (then four, then one), 32 columns per step.
    ///
    /// Safety: AVX2 available; `b.check(y)` holds, so every row `i < y.len()` has
    /// `b.xq.len()` readable weights from `i * stride + col0`.
    #[target_feature(enable = "avx2")]
    unsafe fn block_avx2(b: &Block, y: &mut [f32]) {
        let rows = y.len();
        let n = b.xq.len();
        let xp = b.xq.as_ptr();
        let yp = y.as_mut_ptr();
        let mut r = 0;
        while r + 8 <= rows {
            let w = b.q.as_ptr().add(r * b.stride + b.col0);
            let s = b.stride;
            let mut a = [_mm256_setzero_si256(); 8];
            let mut k = 0;
            while k < n {
                let x = _mm256_lddqu_si256(xp.add(k).cast());
                let ax = _mm256_abs_epi8(x);
                a[0] = step_avx2(a[0], w.add(k), x, ax);
                a[1] = step_avx2(a[1], w.add(s + k), x, ax);
                a[2] = step_avx2(a[2], w.add(2 * s + k), x, ax);
                a[3] = step_avx2(a[3], w.add(3 * s + k), x, ax);
                a[4] = step_avx2(a[4], w.add(4 * s + k), x, ax);
                a[5] = step_avx2(a[5], w.add(5 * s + k), x, ax);
                a[6] = step_avx2(a[6], w.add(6 * s + k), x, ax);
                a[7] = step_avx2(a[7], w.add(7 * s + k), x, ax);
                k += 32;
            }
            store4_avx2(b, hsum4_avx2(a[0], a[1], a[2], a[3]), yp.add(r), r);
            store4_avx2(b, hsum4_avx2(a[4], a[5], a[6], a[7]), yp.add(r + 4), r + 4);
            r += 8;
        }
        while r + 4 <= rows {
            let w0 = b.q.as_ptr().add(r * b.stride + b.col0);
            let w1 = w0.add(b.stride);
            let w2 = w1.add(b.stride);
            let w3 = w2.add(b.stride);
            let (mut a0, mut a1, mut a2, mut a3) = (
                _mm256_setzero_si256(),
                _mm256_setzero_si256(),
                _mm256_setzero_si256(),
                _mm256_setzero_si256(),
            );
            let mut k = 0;
            while k < n {
                let x = _mm256_lddqu_si256(xp.add(k).cast());
                let ax = _mm256_abs_epi8(x);
                a0 = step_avx2(a0, w0.add(k), x, ax);
                a1 = step_avx2(a1, w1.add(k), x, ax);
                a2 = step_avx2(a2, w2.add(k), x, ax);
                a3 = step_avx2(a3, w3.add(k), x, ax);
                k += 32;
            }
            store4_avx2(b, hsum4_avx2(a0, a1, a2, a3), yp.add(r), r);
            r += 4;
        }
        while r < rows {
            let w = b.q.as_ptr().add(r * b.stride + b.col0);
            let mut a = _mm256_setzero_si256();
            let mut k = 0;
            while k < n {
                let x = _mm256_lddqu_si256(xp.add(k).cast());
                a = step_avx2(a, w.add(k), x, _mm256_abs_epi8(x));
                k += 32;
            }
            b.finish(hsum_avx2(a), b.scale[r], &mut *yp.add(r));
            r += 1;
        }
    }

    /// The lane sums of four rows' accumulators, in row order.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn hsum4_avx2(a0: __m256i, a1: __m256i, a2: __m256i, a3: __m256i) -> __m128i {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    }

    /// Outputs `r..r + 4` (at `y`) from their sums `acc`: the same f32 operations as
    /// [`Block::finish`], four lanes at a time.
    ///
    /// Safety: AVX2 available; `r + 4 <= b.scale.len()` and `y` valid for writing 4 f32.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store4_avx2(b: &Block, acc: __m128i, y: *mut f32, r: usize) {
        let s = _mm_mul_ps(_mm_loadu_ps(b.scale.as_ptr().add(r)), _mm_set1_ps(b.xs));
        let v = _mm_mul_ps(_mm_cvtepi32_ps(acc), s);
        let v = if b.accumulate {
            _mm_add_ps(_mm_loadu_ps(y), v)
        } else {
            v
        };
        _mm_storeu_ps(y, v);
    }

    /// Adds row `w`'s 16 products with the input chunk `x` (|x| in `ax`) to `acc` (4 x i32).
    #[inline]
    #[target_feature(enable = "sse4.1")]
    unsafe fn step_sse41(acc: __m128i, w: *const i8, x: __m128i, ax: __m128i) -> __m128i {
        let ones = _mm_set1_epi16(1);
        // As in `step_avx2`: no overflow in the negation or the pair sums.
        let sw = _mm_sign_epi8(_mm_lddqu_si128(w.cast()), x);
        _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(ax, sw), ones))
    }

    /// Four rows at a time, 16 columns per step.
    ///
    /// Safety: SSE4.1 available; `b.check(y)` holds (see `block_avx2`).
    #[target_feature(enable = "sse4.1")]
    unsafe fn block_sse41(b: &Block, y: &mut [f32]) {
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
                a0 = step_sse41(a0, w0.add(k), x, ax);
                a1 = step_sse41(a1, w1.add(k), x, ax);
                a2 = step_sse41(a2, w2.add(k), x, ax);
                a3 = step_sse41(a3, w3.add(k), x, ax);
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
                a = step_sse41(a, w.add(k), x, _mm_abs_epi8(x));
                k += 16;
            }
            let a = _mm_hadd_epi32(a, a);
            let a = _mm_hadd_epi32(a, a);
            b.finish(_mm_cvtsi128_si32(a), *sp.add(r), &mut *yp.add(r));
            r += 1;
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::Block;
    use std::arch::aarch64::*;

    /// Proof that the CPU has NEON: only [`Neon::detect`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Neon(());

    impl Neon {
        pub(super) fn detect() -> Option<Self> {
            std::arch::is_aarch64_feature_detected!("neon").then_some(Neon(()))
        }

        pub(super) fn run(self, b: &Block, y: &mut [f32]) {
            b.check(y);
            // SAFETY: `self` exists only if NEON was detected at run time, and `check` verified
            // the bounds `block_neon` relies on.
            unsafe { block_neon(b, y) }
        }
    }

    /// Adds row `w`'s 16 products with the input chunk `x` to `acc` (4 x i32).
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn step_neon(acc: int32x4_t, w: *const i8, x: int8x16_t) -> int32x4_t {
        let w = vld1q_s8(w);
        // Each product is at most 127 * 127 in magnitude, so the sum of two fits in i16.
        let p = vmull_s8(vget_low_s8(w), vget_low_s8(x));
        let p = vmlal_high_s8(p, w, x);
        vpadalq_s16(acc, p)
    }

    /// Four rows at a time, 16 columns per step.
    ///
    /// Safety: NEON available; `b.check(y)` holds, so every row `i < y.len()` has
    /// `b.xq.len()` readable weights from `i * stride + col0`.
    #[target_feature(enable = "neon")]
    unsafe fn block_neon(b: &Block, y: &mut [f32]) {
        let rows = y.len();
        let n = b.xq.len();
        let xp = b.xq.as_ptr();
        let yp = y.as_mut_ptr();
        let sp = b.scale.as_ptr();
        let xs = vdupq_n_f32(b.xs);
        let mut r = 0;
        while r + 4 <= rows {
            let w0 = b.q.as_ptr().add(r * b.stride + b.col0);
            let w1 = w0.add(b.stride);
            let w2 = w1.add(b.stride);
            let w3 = w2.add(b.stride);
            let (mut a0, mut a1, mut a2, mut a3) = (
                vdupq_n_s32(0),
                vdupq_n_s32(0),
                vdupq_n_s32(0),
                vdupq_n_s32(0),
            );
            let mut k = 0;
            while k < n {
                let x = vld1q_s8(xp.add(k));
                a0 = step_neon(a0, w0.add(k), x);
                a1 = step_neon(a1, w1.add(k), x);
                a2 = step_neon(a2, w2.add(k), x);
                a3 = step_neon(a3, w3.add(k), x);
                k += 16;
            }
            // [sum a0, sum a1, sum a2, sum a3].
            let acc = vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
            let v = vmulq_f32(vcvtq_f32_s32(acc), vmulq_f32(vld1q_f32(sp.add(r)), xs));
            let v = if b.accumulate {
                vaddq_f32(vld1q_f32(yp.add(r)), v)
            } else {
                v
            };
            vst1q_f32(yp.add(r), v);
            r += 4;
        }
        while r < rows {
            let w = b.q.as_ptr().add(r * b.stride + b.col0);
            let mut a = vdupq_n_s32(0);
            let mut k = 0;
            while k < n {
                a = step_neon(a, w.add(k), vld1q_s8(xp.add(k)));
                k += 16;
            }
            b.finish(vaddvq_s32(a), *sp.add(r), &mut *yp.add(r));
            r += 1;
        }
    }
}

/// Deterministic values in [-1, 1) (xorshift32), for tests and [`bench_report`].
fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

/// Nanoseconds per call of `f`: the best of several timed batches (shared machines are noisy).
fn time_ns(mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    let mut calls = 0u32;
    while t.elapsed().as_millis() < 5 {
        f();
        calls += 1;
    }
    let calls = calls.max(1);
    (0..20)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(calls)
        })
        .fold(f64::INFINITY, f64::min)
}

/// Timings of one 1536 x 512 product (a full-size GRU's three gates): nanoseconds per call for
/// the f32 [`super::layers::matvec`] and for every kernel this CPU can run. Takes about a
/// second; run it through `cargo test --lib model::quant::tests::bench -- --ignored
/// --nocapture`.
pub fn bench_report() -> Vec<(String, f64)> {
    use std::hint::black_box;
    let (rows, cols) = (1536, 512);
    let w: Vec<f32> = pseudo_random(rows * cols, 1)
        .iter()
        .map(|v| v * 0.1)
        .collect();
    let bias = vec![0.0; rows];
    let x = pseudo_random(cols, 2);
    let mut y = vec![0.0; rows];
    let mut out = vec![(
        "f32 layers::matvec".to_string(),
        time_ns(|| super::layers::matvec(black_box(&w), &bias, black_box(&x), &mut y)),
    )];
    let m = QuantMatrix::new(&w, rows, cols);
    for k in Kernel::available() {
        let m = m.clone().with_kernel(k).expect("kernel is available");
        out.push((k.name().into(), time_ns(|| m.matvec(black_box(&x), &mut y))));
    }
    for density in [0.5, 0.4, 0.25] {
        let mut pruned = w.clone();
        sparse::prune_blocks(&mut pruned, rows, cols, density);
        let m = QuantMatrix::new(&pruned, rows, cols);
        for k in Kernel::available() {
            let m = m.clone().with_kernel(k).expect("kernel is available");
            let name = format!("{} block-sparse {:.0} %", k.name(), 100.0 * density);
            out.push((name, time_ns(|| m.matvec(black_box(&x), &mut y))));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers;

    /// The matrix shapes of the small and full-size networks, and a few odd ones (tests/quant.rs
    /// also takes the shapes from the networks themselves).
    const SHAPES: &[(usize, usize)] = &[
        (128, 70),
        (512, 640),
        (512, 1536),
        (1536, 512),
        (384, 128),
        (384, 256),
        (384, 512),
        (768, 256),
        (256, 640),
        (256, 768),
        (34, 512),
        (34, 128),
        (34, 256),
        (33, 37),
        (1, 1),
        (3, 31),
        (5, 33),
        (7, 4097),
    ];

    /// Weights with row magnitudes spread over 3 decades (so per-row scales matter).
    fn weights(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
        let gain = pseudo_random(rows, seed ^ 0x5555);
        let mut w = pseudo_random(rows * cols, seed);
        for (row, g) in w.chunks_exact_mut(cols).zip(gain) {
            let g = 10f32.powf(1.5 * g - 1.5) / (cols as f32).sqrt();
            row.iter_mut().for_each(|v| *v *= g);
        }
        w
    }

    /// Inputs like tanh outputs, and ones with a single large outlier.
    fn inputs(cols: usize, seed: u32) -> Vec<Vec<f32>> {
        let x = pseudo_random(cols, seed);
        let mut outlier = x.clone();
        outlier[cols / 2] = 8.0;
        let small: Vec<f32> = x.iter().map(|v| v * 1e-3).collect();
        vec![x, outlier, small]
    }

    /// Asserts `got` and `want` are the same floats bit for bit.
    fn assert_same_bits(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter()
                .zip(want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{what}: results differ"
        );
    }

    fn run(m: &QuantMatrix, x: &[f32]) -> Vec<f32> {
        let mut y = vec![f32::NAN; m.rows()];
        m.matvec(x, &mut y);
        y
    }

    #[test]
    fn construction_quantises_per_row() {
        let w = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 1.0, -0.01];
        let m = QuantMatrix::new(&w, 3, 3);
        assert_eq!(m.padded_cols(), 32);
        assert_eq!(m.scales(), &[1.0 / 127.0, 0.0, 2.0 / 127.0]);
        assert_eq!(&m.weights()[..3], &[64, -127, 32]);
        assert!(m.weights()[3..64].iter().all(|&q| q == 0));
        assert_eq!(&m.weights()[64..67], &[127, 64, -1]);
        assert!(m.weights()[67..].iter().all(|&q| q == 0));
        assert!((m.dequantised(2, 1) - 1.0).abs() < 0.01);
    }

    #[test]
    fn detection() {
        assert!(Kernel::Portable.is_available());
        assert_eq!(Kernel::best(), Kernel::available()[0]);
        let m = QuantMatrix::new(&[1.0], 1, 1);
        assert_eq!(m.kernel(), Kernel::best());
        for k in Kernel::ALL {
            assert_eq!(m.clone().with_kernel(k).is_some(), k.is_available());
        }
        #[cfg(target_arch = "x86_64")]
        {
            assert!(!Kernel::Neon.is_available());
            assert_eq!(
                Kernel::Avx2.is_available(),
                is_x86_feature_detected!("avx2")
            );
            if Kernel::AvxVnni.is_available() {
                assert!(Kernel::Avx2.is_available());
            }
        }
        #[cfg(target_arch = "aarch64")]
        assert!(Kernel::Neon.is_available());
        println!("available kernels: {:?}", Kernel::available());
    }

    /// Every SIMD kernel gives exactly the portable kernel's result.
    #[test]
    fn kernels_match_portable_exactly() {
        let kernels = Kernel::available();
        for (seed, &(rows, cols)) in (1u32..).zip(SHAPES) {
            let m = QuantMatrix::new(&weights(rows, cols, seed), rows, cols);
            let portable = m.clone().with_kernel(Kernel::Portable).unwrap();
            for x in inputs(cols, seed + 100) {
                let want = run(&portable, &x);
                for &k in &kernels {
                    let got = run(&m.clone().with_kernel(k).unwrap(), &x);
                    let what = format!("{} against portable at {rows}x{cols}", k.name());
                    assert_same_bits(&got, &want, &what);
                }
            }
        }
    }

    /// Against the exact product: every output within the worst-case rounding bound
    /// |y_i - sum_j w_ij x_j| <= sum_j (|w_ij| t/2 + s_i/2 (|x_j| + t/2)) (plus 1e-5 of
    /// sum_j |w_ij x_j| for f32 arithmetic), and the relative RMS error against the f32
    /// `layers::matvec` (matrices of at least 32 x 32) below 1.5 % for tanh-like inputs (about 0.6 % expected), 5 % when one
    /// input is 8 times larger than the rest (the input step grows 8-fold: about 3 % expected).
    #[test]
    fn close_to_f32() {
        const LIMIT: [f64; 3] = [0.015, 0.05, 0.015];
        let mut worst = [0.0f64; 3];
        for (seed, &(rows, cols)) in (1u32..).zip(SHAPES) {
            let w = weights(rows, cols, seed);
            let m = QuantMatrix::new(&w, rows, cols);
            let zero = vec![0.0; rows];
            for (case, x) in inputs(cols, seed + 100).into_iter().enumerate() {
                let y = run(&m, &x);
                let t = x.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64 / 127.0;
                let (mut err2, mut ref2) = (0.0f64, 0.0f64);
                let mut yf = vec![0.0; rows];
                layers::matvec(&w, &zero, &x, &mut yf);
                for (i, row) in w.chunks_exact(cols).enumerate() {
                    let s = row.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64 / 127.0;
                    let exact: f64 = row.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                    let abs: f64 = row
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| (a * b).abs() as f64)
                        .sum();
                    let bound: f64 = row
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| {
                            a.abs() as f64 * t / 2.0 + s / 2.0 * (b.abs() as f64 + t / 2.0)
                        })
                        .sum();
                    let e = (y[i] as f64 - exact).abs();
                    assert!(
                        e <= bound + 1e-5 * abs,
                        "{rows}x{cols} case {case} row {i}: error {e} > bound {bound}"
                    );
                    err2 += (y[i] as f64 - yf[i] as f64).powi(2);
                    ref2 += (yf[i] as f64).powi(2);
                }
                if rows < 32 || cols < 32 {
                    continue; // too few terms for a statistical bound
                }
                let rel = (err2 / ref2).sqrt();
                worst[case] = worst[case].max(rel);
                assert!(
                    rel < LIMIT[case],
                    "{rows}x{cols} case {case}: relative RMS error {rel}"
                );
            }
        }
        println!("worst relative RMS error (tanh-like, outlier, small): {worst:?}");
    }

    /// Every kernel on block-pruned matrices of every shape (5 %, 25 % and 50 % of the blocks
    /// kept) gives bit for bit the dense portable kernel's result, and matrices that are not
    /// sparse enough stay dense.
    #[test]
    fn block_sparse_matches_dense_portable_exactly() {
        let kernels = Kernel::available();
        for (seed, &(rows, cols)) in (1u32..).zip(SHAPES) {
            let full = QuantMatrix::new(&weights(rows, cols, seed), rows, cols);
            assert_eq!(
                full.block_density(),
                None,
                "{rows}x{cols} dense stays dense"
            );
            for density in [0.05f32, 0.25, 0.5] {
                let mut w = weights(rows, cols, seed);
                sparse::prune_blocks(&mut w, rows, cols, density);
                let m = QuantMatrix::new(&w, rows, cols);
                if m.padded_cols() > MAX_BLOCK {
                    assert_eq!(m.block_density(), None, "too wide for one column block");
                    continue;
                }
                let blocks = rows.div_ceil(sparse::BLOCK_ROWS) * cols.div_ceil(sparse::BLOCK_COLS);
                let kept = (density * blocks as f32).ceil() / blocks as f32;
                let Some(d) = m.block_density() else {
                    // Tiny matrices: a single kept block can be most of them.
                    assert!(kept > sparse::MAX_DENSITY, "{rows}x{cols} should be sparse");
                    continue;
                };
                assert!(d <= kept, "{rows}x{cols}: density {d} > {kept}");
                let dense = m.clone().dense().with_kernel(Kernel::Portable).unwrap();
                assert_eq!(dense.block_density(), None);
                for x in inputs(cols, seed + 100) {
                    let want = run(&dense, &x);
                    for &k in &kernels {
                        let got = run(&m.clone().with_kernel(k).unwrap(), &x);
                        let what = format!(
                            "block-sparse {} against dense portable at {rows}x{cols}, \
                             density {density}",
                            k.name()
                        );
                        assert_same_bits(&got, &want, &what);
                    }
                }
            }
        }
    }

    /// Pruning keeps the blocks of largest norm: on a 16 x 8 matrix whose 4 blocks have norms
    /// in a known order (one of them partial: 8 x 3 cells of a 16 x 7 matrix), 50 % keeps the
    /// two largest, whole, and zeroes the rest.
    #[test]
    fn pruning_keeps_the_largest_blocks() {
        let (rows, cols) = (16, 7);
        // Block (strip, column block) -> value of its cells.
        let value = |i: usize, j: usize| match (i / 8, j / 4) {
            (0, 0) => 0.1,
            (0, 1) => 3.0,
            (1, 0) => 2.0,
            _ => -0.5,
        };
        let mut w: Vec<f32> = (0..rows * cols)
            .map(|k| value(k / cols, k % cols))
            .collect();
        sparse::prune_blocks(&mut w, rows, cols, 0.5);
        for (k, v) in w.iter().enumerate() {
            let (i, j) = (k / cols, k % cols);
            let kept = matches!((i / 8, j / 4), (0, 1) | (1, 0));
            assert_eq!(*v, if kept { value(i, j) } else { 0.0 }, "cell {i},{j}");
        }
        let mut all = vec![1.0f32; rows * cols];
        sparse::prune_blocks(&mut all, rows, cols, 1.0);
        assert!(all.iter().all(|&v| v == 1.0));
        sparse::prune_blocks(&mut all, rows, cols, 0.0);
        assert!(all.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn special_inputs() {
        let (rows, cols) = (9, 40);
        let m = QuantMatrix::new(&weights(rows, cols, 3), rows, cols);
        for k in Kernel::available() {
            let m = m.clone().with_kernel(k).unwrap();
            assert!(run(&m, &vec![0.0; cols]).iter().all(|&v| v == 0.0));
            assert!(run(&m, &vec![1e-40; cols]).iter().all(|&v| v == 0.0));
            let mut x = vec![0.5; cols];
            x[3] = f32::NAN;
            assert!(run(&m, &x).iter().all(|v| v.is_nan()));
            x[3] = f32::INFINITY;
            assert!(run(&m, &x).iter().all(|v| v.is_nan()));
        }
        // Zero rows and an empty matrix.
        let m = QuantMatrix::new(&[0.0; 6], 2, 3);
        assert_eq!(run(&m, &[1.0, 2.0, 3.0]), vec![0.0, 0.0]);
        let m = QuantMatrix::new(&[], 2, 0);
        assert_eq!(run(&m, &[]), vec![0.0, 0.0]);
    }

    #[test]
    #[ignore = "timing; run with --ignored --nocapture"]
    fn bench() {
        println!("1536 x 512 matvec, ns per call:");
        for (name, ns) in bench_report() {
            println!("  {name:<20} {ns:>10.0}");
        }
        #[cfg(target_arch = "x86_64")]
        f32_input::compare();
    }

    /// The alternative design, measured once to choose: int8 weights converted to f32 in the
    /// kernel and multiplied with the f32 input (AVX2 + FMA), no input quantisation.
    #[cfg(target_arch = "x86_64")]
    mod f32_input {
        use super::super::*;
        use crate::model::layers;
        use std::arch::x86_64::*;

        /// Safety: AVX2 and FMA available, `x.len() >= m.cols`, `y.len() == m.rows`, rows a
        /// multiple of 4, and the padded columns a multiple of 8.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn matvec(m: &QuantMatrix, x: &[f32], y: &mut [f32]) {
            let n = m.cols / 8 * 8;
            let conv =
                |p: *const i8| _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())));
            for r in (0..m.rows).step_by(4) {
                let w = m.q.as_ptr().add(r * m.stride);
                let mut a = [_mm256_setzero_ps(); 4];
                let mut k = 0;
                while k < n {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(k));
                    for (i, acc) in a.iter_mut().enumerate() {
                        *acc = _mm256_fmadd_ps(conv(w.add(i * m.stride + k)), xv, *acc);
                    }
                    k += 8;
                }
                for (i, acc) in a.iter().enumerate() {
                    let mut lanes = [0.0f32; 8];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
                    let tail: f32 = (n..m.cols)
                        .map(|j| f32::from(m.q[(r + i) * m.stride + j]) * x[j])
                        .sum();
                    y[r + i] = m.scale[r + i] * (lanes.iter().sum::<f32>() + tail);
                }
            }
        }

        pub fn compare() {
            if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
                return;
            }
            let (rows, cols) = (1536, 512);
            let w = super::weights(rows, cols, 7);
            let m = QuantMatrix::new(&w, rows, cols);
            let mut y = vec![0.0; rows];
            // SAFETY: features checked above; 1536 rows, 512 columns.
            let x = x0();
            let ns = time_ns(|| unsafe { matvec(&m, std::hint::black_box(&x), &mut y) });
            println!(
                "  {:<20} {ns:>10.0}  (int8 weights, f32 input, test only)",
                "avx2+fma f32-input"
            );
            let rel = |y: &[f32], r: &[f32]| {
                let e: f64 = y.iter().zip(r).map(|(a, b)| f64::from(a - b).powi(2)).sum();
                let n: f64 = r.iter().map(|b| f64::from(*b).powi(2)).sum();
                (e / n).sqrt()
            };
            let mut reference = vec![0.0; rows];
            for (name, x) in [
                ("tanh-like", x0()),
                ("outlier x8", {
                    let mut x = x0();
                    x[100] = 8.0;
                    x
                }),
            ] {
                layers::matvec(&w, &vec![0.0; rows], &x, &mut reference);
                m.matvec(&x, &mut y);
                let int8 = rel(&y, &reference);
                // SAFETY: as above.
                unsafe { matvec(&m, &x, &mut y) };
                println!(
                    "  relative RMS error, {name}: int8 input {:.3} %, f32 input {:.3} %",
                    100.0 * int8,
                    100.0 * rel(&y, &reference)
                );
            }
        }

        fn x0() -> Vec<f32> {
            pseudo_random(512, 11)
        }
    }
}
