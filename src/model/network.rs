//! The PercepNet network, run one frame at a time, and its [`GainEstimator`] adapter.
//!
//! dense (tanh) -> conv1 (tanh, causal) -> conv2 (tanh, causal) -> GRU x L -> two heads:
//! GRU -> dense sigmoid (g_b) and GRU -> dense sigmoid (r_b); weights of version 2 add a
//! third, dense sigmoid on the trunk: the frame's speech presence. The engine gives the features
//! of frame j and wants the gains of frame j - 1, so the one frame of lookahead lives in the
//! timeline and the network itself is causal.
//!
//! [`Network::with_precision`] picks f32 (the default, bit-for-bit the trainer-checked
//! reference) or int8 (conv1, conv2, every GRU matrix and the heads quantised, SIMD kernels
//! picked for this CPU at run time). Either way a frame allocates nothing, and clones share
//! the weights.

use crate::denoiser::{BandGains, FrameView, GainEstimator, NB_FEATURES};
use crate::model::layers::{Activation, Conv1d, Dense, Gru, Matrix, Precision};
use crate::model::quant::Kernel;
use crate::model::weights::{Shape, Weights, WeightsError};
use crate::NB_BANDS;

/// Streaming network state and weights.
#[derive(Clone, Debug)]
pub struct Network {
    shape: Shape,
    mean: Vec<f32>,
    inv_scale: Vec<f32>,
    dense: Dense,
    conv1: Conv1d,
    conv2: Conv1d,
    grus: Vec<Gru>,
    gru_g: Gru,
    dense_g: Dense,
    gru_r: Gru,
    dense_r: Dense,
    /// The presence head (f32 always: one row, no work to save) and its last output.
    dense_p: Option<Dense>,
    presence: f32,
    input: Vec<f32>,
    a: Vec<f32>,
    b1: Vec<f32>,
    b2: Vec<f32>,
}

impl Network {
    /// Builds the network from parsed weights; the shape must match this engine's features
    /// and bands.
    pub fn new(w: Weights) -> Result<Self, WeightsError> {
        let s = w.shape;
        if s.features != NB_FEATURES || s.bands != NB_BANDS {
            return Err(WeightsError::BadShape(format!(
                "network expects {} features and {} bands, the engine has {NB_FEATURES} and {NB_BANDS}",
                s.features, s.bands
            )));
        }
        let expected = s.tensors();
        if w.tensors.len() != expected.len()
            || w.tensors
                .iter()
                .zip(&expected)
                .any(|(t, (_, d))| t.len() != d.iter().product::<usize>())
            || w.mean.len() != s.features
            || w.scale.len() != s.features
        {
            return Err(WeightsError::BadShape(
                "tensor sizes do not match the shape".into(),
            ));
        }
        let mut t = w.tensors.into_iter();
        let mut next = || t.next().expect("tensor count checked by Weights::parse");
        let dense = Dense::new(next(), next(), s.features, Activation::Tanh);
        let conv1 = Conv1d::new(&next(), next(), s.dense, s.conv1_kernel);
        let conv2 = Conv1d::new(&next(), next(), s.conv1, s.conv2_kernel);
        let gru = |next: &mut dyn FnMut() -> Vec<f32>| Gru::new(next(), next(), next(), next());
        let grus = (0..s.gru_layers).map(|_| gru(&mut next)).collect();
        let gru_g = gru(&mut next);
        let dense_g = Dense::new(next(), next(), s.head_g, Activation::Sigmoid);
        let gru_r = gru(&mut next);
        let dense_r = Dense::new(next(), next(), s.head_r, Activation::Sigmoid);
        let dense_p = w
            .presence
            .map(|(wp, bp)| Dense::new(wp, vec![bp], s.gru, Activation::Sigmoid));
        let widest = s.dense.max(s.conv1).max(s.conv2).max(s.gru);
        Ok(Self {
            shape: s,
            inv_scale: w.scale.iter().map(|v| 1.0 / v).collect(),
            mean: w.mean,
            dense,
            conv1,
            conv2,
            grus,
            gru_g,
            dense_g,
            gru_r,
            dense_r,
            dense_p,
            presence: 0.0,
            input: vec![0.0; s.features],
            a: vec![0.0; widest],
            b1: vec![0.0; widest],
            b2: vec![0.0; widest],
        })
    }

    /// Parses a `.pnw` file and builds the network.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::new(Weights::parse(bytes)?)
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The same network computing in precision `p` (see [`Network::set_precision`]).
    pub fn with_precision(mut self, p: Precision) -> Self {
        self.set_precision(p);
        self
    }

    /// Switches every matrix after the first dense layer (conv1, conv2, the GRUs' W_ih and
    /// W_hh, the heads) to precision `p`; the first dense layer (70 inputs of unequal scale,
    /// under 1 % of the work) stays f32. Int8 quantises the weights the first time any clone
    /// of this network asks, and shares them after that (allocates: call it when loading,
    /// never on the audio thread); f32 is exactly [`Network::new`]'s arithmetic again. The
    /// recurrent state is kept.
    pub fn set_precision(&mut self, p: Precision) {
        self.matrices_mut().for_each(|m| m.set_precision(p));
    }

    /// The precision of the switchable matrices ([`Precision::F32`] after [`Network::new`]).
    pub fn precision(&self) -> Precision {
        self.conv1.matrix().precision()
    }

    /// The int8 kernel in use (the fastest this CPU has), `None` in f32.
    pub fn kernel(&self) -> Option<Kernel> {
        self.conv1.matrix().kernel()
    }

    /// Runs every int8 product with kernel `k` (tests and benchmarks compare kernels); returns
    /// false if the network is f32 or this CPU cannot run `k`, and then changes nothing.
    pub fn set_kernel(&mut self, k: Kernel) -> bool {
        if self.precision() != Precision::Int8 || !k.is_available() {
            return false;
        }
        self.matrices_mut().all(|m| m.set_kernel(k))
    }

    /// Weights that are not zero (block-pruned GRUs have fewer than
    /// [`Shape::parameter_count`]); biases and normalisation not counted.
    pub fn nonzero_weights(&self) -> usize {
        std::iter::once(self.dense.matrix())
            .chain(self.matrices())
            .map(|m| m.weights().iter().filter(|&&v| v != 0.0).count())
            .sum()
    }

    /// For every matrix of [`Network::matrix_shapes`], the fraction of its nonzero 8 x 4
    /// blocks if its int8 products run block-sparse (`None` in f32, or dense).
    pub fn block_densities(&self) -> Vec<Option<f32>> {
        self.matrices().map(Matrix::block_density).collect()
    }

    /// Runs every int8 product with the dense kernels even where the weights are block-sparse
    /// (tests and benchmarks: the outputs are bit-identical). Nothing changes in f32.
    pub fn set_dense_kernels(&mut self) {
        self.matrices_mut().for_each(Matrix::set_dense_kernels);
    }

    /// (rows, cols) of every matrix [`Network::set_precision`] switches: conv1, conv2, then
    /// W_ih and W_hh of each GRU (trunk, g head, r head), then the dense g and r heads (a
    /// convolution's columns are inputs x kernel).
    pub fn matrix_shapes(&self) -> Vec<(usize, usize)> {
        self.matrices().map(|m| (m.rows(), m.cols())).collect()
    }

    /// The switchable matrices, in [`Network::matrix_shapes`]'s order.
    fn matrices(&self) -> impl Iterator<Item = &Matrix> {
        let grus = self
            .grus
            .iter()
            .chain([&self.gru_g, &self.gru_r])
            .flat_map(Gru::matrices);
        [self.conv1.matrix(), self.conv2.matrix()]
            .into_iter()
            .chain(grus)
            .chain([self.dense_g.matrix(), self.dense_r.matrix()])
    }

    fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Matrix> {
        let grus = self
            .grus
            .iter_mut()
            .chain([&mut self.gru_g, &mut self.gru_r])
            .flat_map(Gru::matrices_mut);
        [self.conv1.matrix_mut(), self.conv2.matrix_mut()]
            .into_iter()
            .chain(grus)
            .chain([self.dense_g.matrix_mut(), self.dense_r.matrix_mut()])
    }

    /// Clears all recurrent and convolution state.
    pub fn reset(&mut self) {
        self.conv1.reset();
        self.conv2.reset();
        self.grus.iter_mut().for_each(Gru::reset);
        self.gru_g.reset();
        self.gru_r.reset();
        self.presence = 0.0;
    }

    /// Speech presence in [0, 1] of the frame of the last [`Network::forward`] (the frame the
    /// gains are for), if the weights have a presence head.
    pub fn presence(&self) -> Option<f32> {
        self.dense_p.as_ref().map(|_| self.presence)
    }

    /// One frame: raw features in, g_b and r_b out. Allocates nothing, in either precision.
    pub fn forward(&mut self, features: &[f32], gains: &mut [f32], strengths: &mut [f32]) {
        let s = self.shape;
        for (((x, f), m), k) in self
            .input
            .iter_mut()
            .zip(features)
            .zip(&self.mean)
            .zip(&self.inv_scale)
        {
            *x = (f - m) * k;
        }
        self.dense.forward(&self.input, &mut self.a[..s.dense]);
        self.conv1
            .forward(&self.a[..s.dense], &mut self.b1[..s.conv1]);
        self.conv2
            .forward(&self.b1[..s.conv1], &mut self.b2[..s.conv2]);
        let mut x: &[f32] = &self.b2[..s.conv2];
        for g in self.grus.iter_mut() {
            g.forward(x);
            x = g.state();
        }
        if let Some(d) = &self.dense_p {
            let mut p = [0.0f32];
            d.forward(x, &mut p);
            self.presence = p[0];
        }
        self.gru_g.forward(x);
        self.gru_r.forward(x);
        self.dense_g.forward(self.gru_g.state(), gains);
        self.dense_r.forward(self.gru_r.state(), strengths);
    }
}

/// The trained network as the engine's [`GainEstimator`].
#[derive(Clone, Debug)]
pub struct NetworkEstimator {
    net: Network,
}

impl NetworkEstimator {
    pub fn new(net: Network) -> Self {
        Self { net }
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The same estimator computing in precision `p` (see [`Network::set_precision`]; int8
    /// allocates here, once).
    pub fn with_precision(mut self, p: Precision) -> Self {
        self.net.set_precision(p);
        self
    }

    pub fn precision(&self) -> Precision {
        self.net.precision()
    }
}

impl GainEstimator for NetworkEstimator {
    fn estimate(&mut self, features: &[f32; NB_FEATURES], _frame: &FrameView, out: &mut BandGains) {
        self.net.forward(features, &mut out.gain, &mut out.strength);
    }

    /// The presence head's output, for weights that have one (version 2).
    fn presence(&self) -> Option<f32> {
        self.net.presence()
    }

    fn reset(&mut self) {
        self.net.reset();
    }
}
