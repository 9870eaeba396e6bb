//! The PercepNet network, run one frame at a time, and its [`GainEstimator`] adapter.
//!
//! dense (tanh) -> conv1 (tanh, causal) -> conv2 (tanh, causal) -> GRU x L -> two heads:
//! GRU -> dense sigmoid (g_b) and GRU -> dense sigmoid (r_b). The engine gives the features
//! of frame j and wants the gains of frame j - 1, so the one frame of lookahead lives in the
//! timeline and the network itself is causal.

use crate::denoiser::{BandGains, FrameView, GainEstimator, NB_FEATURES};
use crate::model::layers::{Activation, Conv1d, Dense, Gru};
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
        let dense = Dense {
            weight: next(),
            bias: next(),
            inputs: s.features,
            activation: Activation::Tanh,
        };
        let conv1 = Conv1d::new(&next(), next(), s.dense, s.conv1_kernel);
        let conv2 = Conv1d::new(&next(), next(), s.conv1, s.conv2_kernel);
        let gru = |next: &mut dyn FnMut() -> Vec<f32>| Gru::new(next(), next(), next(), next());
        let grus = (0..s.gru_layers).map(|_| gru(&mut next)).collect();
        let gru_g = gru(&mut next);
        let dense_g = Dense {
            weight: next(),
            bias: next(),
            inputs: s.head_g,
            activation: Activation::Sigmoid,
        };
        let gru_r = gru(&mut next);
        let dense_r = Dense {
            weight: next(),
            bias: next(),
            inputs: s.head_r,
            activation: Activation::Sigmoid,
        };
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

    /// Clears all recurrent and convolution state.
    pub fn reset(&mut self) {
        self.conv1.reset();
        self.conv2.reset();
        self.grus.iter_mut().for_each(Gru::reset);
        self.gru_g.reset();
        self.gru_r.reset();
    }

    /// One frame: raw features in, g_b and r_b out. Allocates nothing.
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
}

impl GainEstimator for NetworkEstimator {
    fn estimate(&mut self, features: &[f32; NB_FEATURES], _frame: &FrameView, out: &mut BandGains) {
        self.net.forward(features, &mut out.gain, &mut out.strength);
    }

    fn reset(&mut self) {
        self.net.reset();
    }
}
