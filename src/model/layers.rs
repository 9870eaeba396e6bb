//! Network layers for streaming inference, one frame at a time, f32.

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

/// Fully connected layer y = act(W x + b).
#[derive(Clone, Debug)]
pub struct Dense {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub inputs: usize,
    pub activation: Activation,
}

impl Dense {
    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        matvec(&self.weight, &self.bias, x, y);
        self.activation.apply(y);
    }
}

/// Causal 1-D convolution over frames: y_j = act(b + sum_{m=0}^{k-1} W[:, :, m] x_{j-k+1+m}).
/// Streaming: keeps the last k inputs, oldest first, in one contiguous buffer, and stores the
/// weights re-ordered as [out][m][in] so each output is one dot product with that buffer.
#[derive(Clone, Debug)]
pub struct Conv1d {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    kernel: usize,
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
            weight: w,
            bias,
            inputs,
            kernel,
            history: vec![0.0; inputs * kernel],
        }
    }

    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }

    /// Pushes input frame `x` and computes the output frame `y` (tanh).
    pub fn forward(&mut self, x: &[f32], y: &mut [f32]) {
        self.history.copy_within(self.inputs.., 0);
        let n = self.history.len();
        self.history[n - self.inputs..].copy_from_slice(x);
        debug_assert_eq!(self.weight.len(), y.len() * self.inputs * self.kernel);
        matvec(&self.weight, &self.bias, &self.history, y);
        Activation::Tanh.apply(y);
    }
}

/// Gated recurrent unit with PyTorch's gate layout (rows r, z, n):
/// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 - z) ⊙ n + z ⊙ h.
#[derive(Clone, Debug)]
pub struct Gru {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_ih: Vec<f32>,
    b_hh: Vec<f32>,
    hidden: usize,
    state: Vec<f32>,
    gi: Vec<f32>,
    gh: Vec<f32>,
}

impl Gru {
    pub fn new(w_ih: Vec<f32>, w_hh: Vec<f32>, b_ih: Vec<f32>, b_hh: Vec<f32>) -> Self {
        let hidden = b_ih.len() / 3;
        Self {
            w_ih,
            w_hh,
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

    pub fn reset(&mut self) {
        self.state.fill(0.0);
    }

    /// The current hidden state h.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Advances one frame with input `x`; the new state is [`Gru::state`].
    pub fn forward(&mut self, x: &[f32]) {
        let h = self.hidden;
        matvec(&self.w_ih, &self.b_ih, x, &mut self.gi);
        matvec(&self.w_hh, &self.b_hh, &self.state, &mut self.gh);
        for i in 0..h {
            let r = sigmoid(self.gi[i] + self.gh[i]);
            let z = sigmoid(self.gi[h + i] + self.gh[h + i]);
            let n = (self.gi[2 * h + i] + r * self.gh[2 * h + i]).tanh();
            self.state[i] = (1.0 - z) * n + z * self.state[i];
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

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }
}
