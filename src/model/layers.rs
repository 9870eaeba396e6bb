//! Network layers for streaming inference, one frame at a time, in f32 or int8.
//!
//! Every layer holds its weight matrices as [`Matrix`], which multiplies either in f32 (the
//! reference, bit-for-bit the original arithmetic) or through an int8 [`QuantMatrix`]. In
//! int8 the activations use the vectorisable approximations [`tanh_fast`] and
//! [`sigmoid_fast`] (absolute error below 1e-6, far under the int8 rounding), in f32 the
//! standard library's `tanh` and `exp`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::model::quant::{Kernel, QuantMatrix};

/// How the weight matrices multiply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 weights and activations, exact library `tanh`/`exp` (the reference).
    #[default]
    F32,
    /// int8 weights with per-row scales and int8 inputs with one scale per product
    /// ([`QuantMatrix`]), SIMD kernels, fast activations.
    Int8,
}

/// Activation functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Sigmoid,
}

/// sigma(x) = 1 / (1 + e^-x).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Activation {
    #[inline]
    pub fn apply(self, v: &mut [f32]) {
        match self {
            Self::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
            Self::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
        }
    }
}

/// Dot product with four independent accumulators (lets the compiler vectorise).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// y = W x + b for a row-major W of `rows` x `cols`.
pub fn matvec(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    let cols = x.len();
    for ((yi, row), bi) in y.iter_mut().zip(w.chunks_exact(cols)).zip(b) {
        *yi = bi + dot(row, x);
    }
}

impl Activation {
    /// The activation as the layers of precision `p` compute it: exact in
    /// [`Precision::F32`], [`Activation::apply_fast`] in [`Precision::Int8`].
    #[inline]
    pub fn apply_with(self, p: Precision, v: &mut [f32]) {
        match p {
            Precision::F32 => self.apply(v),
            Precision::Int8 => self.apply_fast(v),
        }
    }

    /// [`tanh_fast`] or [`sigmoid_fast`] on every element (vectorises).
    #[inline]
    pub fn apply_fast(self, v: &mut [f32]) {
        match self {
            Self::Tanh => v.iter_mut().for_each(|x| *x = tanh_fast(*x)),
            Self::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid_fast(*x)),
        }
    }
}

/// 2^x for x in [-126, 126] (clamped there): x = n + f with n = round(x) and |f| <= 1/2, then
/// 2^x = 2^n e^(f ln 2). e^u is its Taylor series to u^6 (|u| <= ln(2)/2, so the relative
/// error is at most (ln(2)/2)^7 / 7! < 1.3e-7), and 2^n is written into the exponent bits.
/// Branch-free and made of plain f32/u32 arithmetic, so loops over it vectorise. NaN stays
/// NaN.
#[inline(always)]
pub fn exp2_fast(x: f32) -> f32 {
    // Adding 1.5 * 2^23 leaves round(x) (ties to even) in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const C: [f32; 7] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
    ];
    let x = x.clamp(-126.0, 126.0);
    let shifted = x + ROUND;
    let n = shifted - ROUND;
    let u = (x - n) * std::f32::consts::LN_2;
    let p = C.iter().rev().fold(0.0, |acc, &c| acc * u + c);
    // The bits of `shifted` minus those of ROUND are n (two's complement); n + 127 is the
    // biased exponent of 2^n.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// e^x = 2^(x log2 e), through [`exp2_fast`] (x clamped to about ±87).
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    exp2_fast(x * std::f32::consts::LOG2_E)
}

/// σ(x) = 1 / (1 + e^-x) with [`exp_fast`]; absolute error below 1e-7.
#[inline(always)]
pub fn sigmoid_fast(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

/// tanh(x) = 1 - 2 / (e^(2x) + 1) with [`exp_fast`]; absolute error below 1e-6 (it loses
/// relative precision near 0, where tanh(x) ≈ x, but not absolute precision).
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    1.0 - 2.0 / (exp_fast(2.0 * x) + 1.0)
}

/// A weight matrix W (`rows` x `cols`, row-major) and its affine map y = W x + b in either
/// [`Precision`]. The f32 weights are always kept, so switching back to f32 is exact; int8
/// uses a [`QuantMatrix`] made from them the first time any clone asks. Clones share both
/// (cloning a network copies its state, not its weights, and instances of the plugin keep one
/// copy of the weights in the caches).
#[derive(Clone)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    shared: Arc<Shared>,
    int8: Option<Arc<QuantMatrix>>,
}

/// The weights every clone of a [`Matrix`] shares.
struct Shared {
    w: Vec<f32>,
    int8: OnceLock<Arc<QuantMatrix>>,
}

impl Matrix {
    /// An f32 matrix; panics if `w.len() != rows * cols`.
    pub fn new(w: Vec<f32>, rows: usize, cols: usize) -> Self {
        assert_eq!(w.len(), rows * cols, "weights are not rows x cols");
        Self {
            rows,
            cols,
            shared: Arc::new(Shared {
                w,
                int8: OnceLock::new(),
            }),
            int8: None,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The f32 weights, row-major.
    pub fn weights(&self) -> &[f32] {
        &self.shared.w
    }

    pub fn precision(&self) -> Precision {
        match self.int8 {
            None => Precision::F32,
            Some(_) => Precision::Int8,
        }
    }

    /// The int8 kernel in use, `None` in f32.
    pub fn kernel(&self) -> Option<Kernel> {
        self.int8.as_deref().map(QuantMatrix::kernel)
    }

    /// Switches precision. Int8 uses the shared quantised weights, quantising them first if
    /// no clone has yet (allocates and may wait for another thread doing it: never on the
    /// audio thread), with the fastest kernel.
    pub fn set_precision(&mut self, p: Precision) {
        self.int8 = match p {
            Precision::F32 => None,
            Precision::Int8 => Some(Arc::clone(self.shared.int8.get_or_init(|| {
                Arc::new(QuantMatrix::new(&self.shared.w, self.rows, self.cols))
            }))),
        };
    }

    /// Runs the int8 products with kernel `k` (for tests and benchmarks; this clone gets its
    /// own copy of the int8 weights); returns false, and changes nothing, if the matrix is f32
    /// or this CPU cannot run `k`.
    pub fn set_kernel(&mut self, k: Kernel) -> bool {
        let Some(q) = &self.int8 else {
            return false;
        };
        match QuantMatrix::clone(q).with_kernel(k) {
            Some(q) => {
                self.int8 = Some(Arc::new(q));
                true
            }
            None => false,
        }
    }

    /// The fraction of nonzero blocks if the int8 products run block-sparse (see
    /// [`QuantMatrix::block_density`]); `None` in f32 or dense.
    pub fn block_density(&self) -> Option<f32> {
        self.int8.as_deref().and_then(QuantMatrix::block_density)
    }

    /// Runs the int8 products with the dense kernels even if the weights are block-sparse
    /// (for tests and benchmarks: bit-identical results; this clone gets its own copy of the
    /// int8 weights). Nothing changes in f32.
    pub fn set_dense_kernels(&mut self) {
        if let Some(q) = &self.int8 {
            self.int8 = Some(Arc::new(QuantMatrix::clone(q).dense()));
        }
    }

    /// y = W x + b. Allocates nothing.
    #[inline]
    pub fn affine(&self, b: &[f32], x: &[f32], y: &mut [f32]) {
        match &self.int8 {
            None => matvec(&self.shared.w, b, x, y),
            Some(q) => {
                q.matvec(x, y);
                y.iter_mut().zip(b).for_each(|(yi, bi)| *yi += bi);
            }
        }
    }
}

impl Matrix {
    /// `y_k = W x_k + b` for `n` inputs stored one after another in `x` (`n` x `cols`), the
    /// outputs the same way in `y` (`n` x `rows`): bit-identical to `n` calls of
    /// [`Matrix::affine`]; in int8 the weights stream in once for the whole batch
    /// ([`QuantMatrix::matvec_batch`]). Allocates nothing.
    pub fn affine_batch(&self, b: &[f32], x: &[f32], y: &mut [f32]) {
        match &self.int8 {
            None => {
                for (xk, yk) in x.chunks_exact(self.cols).zip(y.chunks_exact_mut(self.rows)) {
                    matvec(&self.shared.w, b, xk, yk);
                }
            }
            Some(q) => {
                q.matvec_batch(x, y);
                for yk in y.chunks_exact_mut(self.rows) {
                    yk.iter_mut().zip(b).for_each(|(yi, bi)| *yi += bi);
                }
            }
        }
    }
}

impl fmt::Debug for Matrix {
    /// Shape and precision only (the weights would be millions of numbers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("precision", &self.precision())
            .field("kernel", &self.kernel())
            .finish()
    }
}

/// Fully connected layer y = act(W x + b).
#[derive(Clone, Debug)]
pub struct Dense {
    weight: Matrix,
    bias: Vec<f32>,
    activation: Activation,
}

impl Dense {
    /// From PyTorch's layout `weight[out][in]`.
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, inputs: usize, activation: Activation) -> Self {
        Self {
            weight: Matrix::new(weight, bias.len(), inputs),
            bias,
            activation,
        }
    }

    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    pub fn inputs(&self) -> usize {
        self.weight.cols()
    }

    pub fn matrix(&self) -> &Matrix {
        &self.weight
    }

    pub fn matrix_mut(&mut self) -> &mut Matrix {
        &mut self.weight
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        self.weight.affine(&self.bias, x, y);
        self.activation.apply_with(self.weight.precision(), y);
    }

    /// [`Dense::forward`] on `n` inputs at once (`x`: `n` x inputs, `y`: `n` x outputs),
    /// bit-identical to `n` calls.
    pub fn forward_batch(&self, x: &[f32], y: &mut [f32]) {
        self.weight.affine_batch(&self.bias, x, y);
        self.activation.apply_with(self.weight.precision(), y);
    }
}

/// Causal 1-D convolution over frames: y_j = act(b + sum_{m=0}^{k-1} W[:, :, m] x_{j-k+1+m}).
/// Streaming: keeps the last k inputs, oldest first, in one contiguous buffer, and stores the
/// weights re-ordered as [out][m][in] so each output is one dot product with that buffer (one
/// `out` x `k in` matrix).
#[derive(Clone, Debug)]
pub struct Conv1d {
    weight: Matrix,
    bias: Vec<f32>,
    inputs: usize,
    history: Vec<f32>,
}

impl Conv1d {
    /// From PyTorch's layout `weight[out][in][k]`.
    pub fn new(weight: &[f32], bias: Vec<f32>, inputs: usize, kernel: usize) -> Self {
        let outputs = bias.len();
        let mut w = vec![0.0; weight.len()];
        for o in 0..outputs {
            for i in 0..inputs {
                for m in 0..kernel {
                    w[(o * kernel + m) * inputs + i] = weight[(o * inputs + i) * kernel + m];
                }
            }
        }
        Self {
            weight: Matrix::new(w, outputs, kernel * inputs),
            bias,
            inputs,
            history: vec![0.0; inputs * kernel],
        }
    }

    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    pub fn matrix(&self) -> &Matrix {
        &self.weight
    }

    pub fn matrix_mut(&mut self) -> &mut Matrix {
        &mut self.weight
    }

    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }

    /// Pushes input frame `x` and computes the output frame `y` (tanh).
    pub fn forward(&mut self, x: &[f32], y: &mut [f32]) {
        self.push(x);
        self.weight.affine(&self.bias, &self.history, y);
        Activation::Tanh.apply_with(self.weight.precision(), y);
    }

    /// Drops the oldest input frame of the window and appends `x`.
    fn push(&mut self, x: &[f32]) {
        self.history.copy_within(self.inputs.., 0);
        let n = self.history.len();
        self.history[n - self.inputs..].copy_from_slice(x);
    }

    /// Length of one frame's window of inputs (`inputs * kernel`): a row of the scratch of
    /// [`Conv1d::forward_batch`].
    pub fn window_len(&self) -> usize {
        self.history.len()
    }

    /// [`Conv1d::forward`] on `n` frames at once, bit-identical to `n` calls: `x` holds the
    /// input frames one after another, `y` gets the output frames, and `windows` (`n` x
    /// [`Conv1d::window_len`]) is scratch for each frame's window of inputs.
    pub fn forward_batch(&mut self, x: &[f32], y: &mut [f32], windows: &mut [f32]) {
        let n = self.history.len();
        for (xk, wk) in x.chunks_exact(self.inputs).zip(windows.chunks_exact_mut(n)) {
            self.push(xk);
            wk.copy_from_slice(&self.history);
        }
        self.weight.affine_batch(&self.bias, windows, y);
        Activation::Tanh.apply_with(self.weight.precision(), y);
    }
}

/// Gated recurrent unit with PyTorch's gate layout (rows r, z, n):
/// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.
#[derive(Clone, Debug)]
pub struct Gru {
    w_ih: Matrix,
    w_hh: Matrix,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
    hidden: usize,
    state: Vec<f32>,
    gi: Vec<f32>,
    gh: Vec<f32>,
}

impl Gru {
    /// From PyTorch's layout: `w_ih[3 hidden][in]`, `w_hh[3 hidden][hidden]`.
    pub fn new(w_ih: Vec<f32>, w_hh: Vec<f32>, b_ih: Vec<f32>, b_hh: Vec<f32>) -> Self {
        let hidden = b_ih.len() / 3;
        let inputs = if hidden == 0 {
            0
        } else {
            w_ih.len() / (3 * hidden)
        };
        Self {
            w_ih: Matrix::new(w_ih, 3 * hidden, inputs),
            w_hh: Matrix::new(w_hh, 3 * hidden, hidden),
            b_ih,
            b_hh,
            hidden,
            state: vec![0.0; hidden],
            gi: vec![0.0; 3 * hidden],
            gh: vec![0.0; 3 * hidden],
        }
    }

    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// W_ih (3 hidden x inputs) and W_hh (3 hidden x hidden).
    pub fn matrices(&self) -> [&Matrix; 2] {
        [&self.w_ih, &self.w_hh]
    }

    pub fn matrices_mut(&mut self) -> [&mut Matrix; 2] {
        [&mut self.w_ih, &mut self.w_hh]
    }

    pub fn reset(&mut self) {
        self.state.fill(0.0);
    }

    /// The current hidden state h.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Advances one frame with input `x`; the new state is [`Gru::state`].
    pub fn forward(&mut self, x: &[f32]) {
        self.w_ih.affine(&self.b_ih, x, &mut self.gi);
        self.w_hh.affine(&self.b_hh, &self.state, &mut self.gh);
        Self::gates(
            self.w_hh.precision(),
            &mut self.gi,
            &self.gh,
            &mut self.state,
        );
    }

    /// [`Gru::forward`] on `n` frames at once, bit-identical to `n` calls: `x` holds the input
    /// frames one after another (`n` x inputs), `states` gets the state after each (`n` x
    /// hidden) and `gi` (`n` x 3 hidden) is scratch. The input products of all `n` frames are
    /// one batched product; only the recurrent ones go frame by frame.
    pub fn forward_batch(&mut self, x: &[f32], states: &mut [f32], gi: &mut [f32]) {
        self.w_ih.affine_batch(&self.b_ih, x, gi);
        for (gik, sk) in gi
            .chunks_exact_mut(3 * self.hidden)
            .zip(states.chunks_exact_mut(self.hidden))
        {
            self.w_hh.affine(&self.b_hh, &self.state, &mut self.gh);
            Self::gates(self.w_hh.precision(), gik, &self.gh, &mut self.state);
            sk.copy_from_slice(&self.state);
        }
    }

    /// The gate equations in precision `p`, with `gi` = W_ih x + b_ih and `gh` = W_hh h +
    /// b_hh; updates `state` (h).
    fn gates(p: Precision, gi: &mut [f32], gh: &[f32], state: &mut [f32]) {
        match p {
            Precision::F32 => Self::gates_exact(gi, gh, state),
            Precision::Int8 => Self::gates_fast(gi, gh, state),
        }
    }

    /// The gate equations element by element with the library's `exp` and `tanh`.
    fn gates_exact(gi: &[f32], gh: &[f32], state: &mut [f32]) {
        let h = state.len();
        for i in 0..h {
            let r = sigmoid(gi[i] + gh[i]);
            let z = sigmoid(gi[h + i] + gh[h + i]);
            let n = (gi[2 * h + i] + r * gh[2 * h + i]).tanh();
            state[i] = (1.0 - z) * n + z * state[i];
        }
    }

    /// The same equations a whole gate at a time with [`sigmoid_fast`] and [`tanh_fast`], so
    /// each loop vectorises; h' = n + z ⊙ (h - n). Overwrites `gi`.
    fn gates_fast(gi: &mut [f32], gh: &[f32], state: &mut [f32]) {
        let h = state.len();
        let (gi_rz, gi_n) = gi.split_at_mut(2 * h);
        let (gh_rz, gh_n) = gh.split_at(2 * h);
        for (a, b) in gi_rz.iter_mut().zip(gh_rz) {
            *a = sigmoid_fast(*a + b);
        }
        let (r, z) = gi_rz.split_at(h);
        for ((n, r), ghn) in gi_n.iter_mut().zip(r).zip(gh_n) {
            *n = tanh_fast(*n + r * ghn);
        }
        for ((s, z), n) in state.iter_mut().zip(z).zip(gi_n.iter()) {
            *s = n + z * (*s - n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_is_causal_and_uses_pytorch_layout() {
        // One output, one input, kernel 3 with taps [1, 2, 3] (oldest first).
        let mut c = Conv1d::new(&[1.0, 2.0, 3.0], vec![0.0], 1, 3);
        let mut y = [0.0];
        let xs = [0.1, 0.0, 0.0, 0.0];
        let mut out = vec![];
        for x in xs {
            c.forward(&[x], &mut y);
            out.push(y[0].atanh());
        }
        // An impulse at j = 0 appears with the newest tap first: 3, then 2, then 1.
        let want = [0.3, 0.2, 0.1, 0.0];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{out:?}");
        }
    }

    /// exp2_fast within 3e-7 relative of the exact 2^x over its whole range; tanh_fast and
    /// sigmoid_fast within 1e-6 absolute of the library functions, saturating cleanly far out
    /// and passing NaN on.
    #[test]
    fn fast_activations_are_accurate() {
        let grid = (-125_990..=125_990).map(|i| i as f32 * 1e-3);
        let worst = grid.fold(0.0f64, |m, x| {
            let exact = 2f64.powf(f64::from(x));
            m.max((f64::from(exp2_fast(x)) - exact).abs() / exact)
        });
        assert!(worst < 3e-7, "exp2_fast relative error {worst}");
        let (mut t, mut s) = (0.0f32, 0.0f32);
        for i in -40_000..=40_000 {
            let x = i as f32 * 5e-4;
            t = t.max((tanh_fast(x) - x.tanh()).abs());
            s = s.max((sigmoid_fast(x) - sigmoid(x)).abs());
        }
        assert!(t < 1e-6 && s < 1e-6, "tanh {t:e}, sigmoid {s:e}");
        for x in [100.0, 1e30, f32::INFINITY] {
            assert_eq!((tanh_fast(x), tanh_fast(-x)), (1.0, -1.0));
            assert_eq!(sigmoid_fast(x), 1.0);
            assert!((0.0..1e-37).contains(&sigmoid_fast(-x)));
        }
        assert!(tanh_fast(f32::NAN).is_nan() && sigmoid_fast(f32::NAN).is_nan());
        assert_eq!(tanh_fast(0.0), 0.0);
        assert_eq!(sigmoid_fast(0.0), 0.5);
    }

    /// The f32 path is the plain arithmetic; int8 differs by about the quantisation error and
    /// going back to f32 is exact.
    #[test]
    fn matrix_precision_round_trip() {
        let (rows, cols) = (48, 96);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..rows).map(|i| i as f32 * 0.01).collect();
        let x: Vec<f32> = (0..cols)
            .map(|i| ((i * 13) % 29) as f32 / 14.0 - 1.0)
            .collect();
        let mut m = Matrix::new(w.clone(), rows, cols);
        let (mut want, mut y) = (vec![0.0; rows], vec![0.0; rows]);
        matvec(&w, &b, &x, &mut want);
        m.affine(&b, &x, &mut y);
        assert_eq!(y, want);
        assert_eq!((m.precision(), m.kernel()), (Precision::F32, None));
        m.set_precision(Precision::Int8);
        assert_eq!(m.kernel(), Some(Kernel::best()));
        m.affine(&b, &x, &mut y);
        let scale = want.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        assert!(y
            .iter()
            .zip(&want)
            .all(|(a, b)| (a - b).abs() < 0.02 * scale));
        assert!(y != want, "int8 is not the f32 arithmetic");
        m.set_precision(Precision::F32);
        m.affine(&b, &x, &mut y);
        assert_eq!(y, want);
        assert!(!m.set_kernel(Kernel::Portable));
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }
}
