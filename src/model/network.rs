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

use crate::denoiser::{estimate_each, BandGains, FrameView, GainEstimator, NB_FEATURES};
use crate::model::layers::{Activation, Conv1d, Dense, Gru, Matrix, Precision};
use crate::model::quant::{Kernel, MAX_BATCH};
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
    /// Activations of a batch of frames ([`Network::forward_batch`]); made on first use.
    batch: Option<Box<Batch>>,
}

/// Every layer's activations for [`MAX_BATCH`] frames, frame after frame.
#[derive(Clone, Debug)]
struct Batch {
    input: Vec<f32>,
    a: Vec<f32>,
    win1: Vec<f32>,
    b1: Vec<f32>,
    win2: Vec<f32>,
    b2: Vec<f32>,
    /// Trunk GRU outputs, ping-pong between layers.
    t1: Vec<f32>,
    t2: Vec<f32>,
    gi: Vec<f32>,
    hg: Vec<f32>,
    hr: Vec<f32>,
}

impl Batch {
    fn new(net: &Network) -> Self {
        let s = net.shape;
        let n = MAX_BATCH;
        let widest_gru = s.gru.max(s.head_g).max(s.head_r);
        Self {
            input: vec![0.0; n * s.features],
            a: vec![0.0; n * s.dense],
            win1: vec![0.0; n * net.conv1.window_len()],
            b1: vec![0.0; n * s.conv1],
            win2: vec![0.0; n * net.conv2.window_len()],
            b2: vec![0.0; n * s.conv2],
            t1: vec![0.0; n * s.gru],
            t2: vec![0.0; n * s.gru],
            gi: vec![0.0; n * 3 * widest_gru],
            hg: vec![0.0; n * s.head_g],
            hr: vec![0.0; n * s.head_r],
        }
    }
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
            batch: None,
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
        Self::normalise(&self.mean, &self.inv_scale, features, &mut self.input);
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

impl Network {
    /// The network's input: raw features minus their training mean, over their scale.
    fn normalise(mean: &[f32], inv_scale: &[f32], features: &[f32], out: &mut [f32]) {
        for (((x, f), m), k) in out.iter_mut().zip(features).zip(mean).zip(inv_scale) {
            *x = (f - m) * k;
        }
    }

    /// [`Network::forward`] on `n` consecutive frames at once (`n` at most [`MAX_BATCH`]),
    /// bit-identical to `n` calls: `features` holds the raw features of the frames one after
    /// another (`n` x features), `gains` and `strengths` get their outputs (`n` x bands), and
    /// `presence` (`n` long, or empty) each frame's presence if the weights have the head
    /// ([`Network::presence`] is then the last frame's). Each layer runs all `n` frames before
    /// the next, so in int8 every weight matrix except the recurrent ones streams in once per
    /// batch ([`Matrix::affine_batch`]): an offline run's speed-up. Allocates the batch
    /// buffers on its first call (offline use only; [`Network::forward`] is the real-time path).
    pub fn forward_batch(
        &mut self,
        features: &[f32],
        gains: &mut [f32],
        strengths: &mut [f32],
        presence: &mut [f32],
    ) {
        let s = self.shape;
        let n = features.len() / s.features;
        assert!(n <= MAX_BATCH, "at most {MAX_BATCH} frames per batch");
        assert_eq!(features.len(), n * s.features);
        assert_eq!(gains.len(), n * s.bands);
        assert_eq!(strengths.len(), n * s.bands);
        assert!(presence.is_empty() || presence.len() == n);
        let mut b = match self.batch.take() {
            Some(b) => b,
            None => Box::new(Batch::new(self)),
        };
        let input = &mut b.input[..n * s.features];
        for (x, f) in input
            .chunks_exact_mut(s.features)
            .zip(features.chunks_exact(s.features))
        {
            Self::normalise(&self.mean, &self.inv_scale, f, x);
        }
        let a = &mut b.a[..n * s.dense];
        self.dense.forward_batch(input, a);
        let (w1, b1) = (
            &mut b.win1[..n * self.conv1.window_len()],
            &mut b.b1[..n * s.conv1],
        );
        self.conv1.forward_batch(a, b1, w1);
        let (w2, b2) = (
            &mut b.win2[..n * self.conv2.window_len()],
            &mut b.b2[..n * s.conv2],
        );
        self.conv2.forward_batch(b1, b2, w2);
        let (mut x, mut y): (&mut [f32], &mut [f32]) = (&mut b.t1, &mut b.t2);
        for (l, g) in self.grus.iter_mut().enumerate() {
            let input: &[f32] = if l == 0 { b2 } else { &x[..n * s.gru] };
            g.forward_batch(input, &mut y[..n * s.gru], &mut b.gi[..n * 3 * s.gru]);
            std::mem::swap(&mut x, &mut y);
        }
        let trunk = &x[..n * s.gru];
        if let Some(d) = &self.dense_p {
            for (k, xk) in trunk.chunks_exact(s.gru).enumerate() {
                let mut p = [0.0f32];
                d.forward(xk, &mut p);
                if let Some(pk) = presence.get_mut(k) {
                    *pk = p[0];
                }
                self.presence = p[0];
            }
        }
        let hg = &mut b.hg[..n * s.head_g];
        self.gru_g
            .forward_batch(trunk, hg, &mut b.gi[..n * 3 * s.head_g]);
        let hr = &mut b.hr[..n * s.head_r];
        self.gru_r
            .forward_batch(trunk, hr, &mut b.gi[..n * 3 * s.head_r]);
        self.dense_g.forward_batch(hg, gains);
        self.dense_r.forward_batch(hr, strengths);
        self.batch = Some(b);
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

    fn batch_size(&self) -> usize {
        MAX_BATCH
    }

    /// [`Network::forward_batch`]: bit-identical to one frame at a time.
    fn estimate_batch(
        &mut self,
        features: &[[f32; NB_FEATURES]],
        frames: &[FrameView],
        out: &mut [BandGains],
        presence: &mut [Option<f32>],
    ) {
        let n = features.len();
        if n > MAX_BATCH {
            return estimate_each(self, features, frames, out, presence);
        }
        let mut g = [0.0; MAX_BATCH * NB_BANDS];
        let mut r = [0.0; MAX_BATCH * NB_BANDS];
        let mut pr = [0.0; MAX_BATCH];
        self.net.forward_batch(
            features.as_flattened(),
            &mut g[..n * NB_BANDS],
            &mut r[..n * NB_BANDS],
            &mut pr[..n],
        );
        let has_presence = self.net.presence().is_some();
        for (k, (o, p)) in out.iter_mut().zip(presence).enumerate() {
            o.gain.copy_from_slice(&g[k * NB_BANDS..(k + 1) * NB_BANDS]);
            o.strength
                .copy_from_slice(&r[k * NB_BANDS..(k + 1) * NB_BANDS]);
            *p = has_presence.then_some(pr[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::embedded_network;

    /// Feature-like frames: log energies around -5, coherences in [0, 1], pitch inputs.
    fn frames(n: usize) -> Vec<f32> {
        let mut s = 0x1234_5678u32;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32
        };
        (0..n * NB_FEATURES)
            .map(|i| match i % NB_FEATURES {
                b if b < NB_BANDS => -8.0 + 6.0 * next(),
                b if b < 2 * NB_BANDS => next(),
                _ => next() - 0.5,
            })
            .collect()
    }

    /// Batches of every size up to `MAX_BATCH`, one after another on one stream, give bit for
    /// bit what one frame at a time gives, in f32 and in int8, presence included.
    #[test]
    fn batches_match_frame_by_frame_exactly() {
        let Ok(net) = embedded_network() else {
            return;
        };
        let sizes = [1, 3, MAX_BATCH, 7, 2, MAX_BATCH, 5];
        let total: usize = sizes.iter().sum();
        let x = frames(total);
        for p in [Precision::F32, Precision::Int8] {
            let mut one = net.clone().with_precision(p);
            let mut want = Vec::new();
            for f in x.chunks_exact(NB_FEATURES) {
                let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
                one.forward(f, &mut g, &mut r);
                want.push((g, r, one.presence()));
            }
            let mut batched = net.clone().with_precision(p);
            let mut start = 0;
            for n in sizes {
                let mut g = vec![0.0; n * NB_BANDS];
                let mut r = vec![0.0; n * NB_BANDS];
                let mut pr = vec![0.0; n];
                let f = &x[start * NB_FEATURES..(start + n) * NB_FEATURES];
                batched.forward_batch(f, &mut g, &mut r, &mut pr);
                for k in 0..n {
                    let (wg, wr, wp) = &want[start + k];
                    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&g[k * NB_BANDS..(k + 1) * NB_BANDS]),
                        bits(wg),
                        "{p:?}"
                    );
                    assert_eq!(
                        bits(&r[k * NB_BANDS..(k + 1) * NB_BANDS]),
                        bits(wr),
                        "{p:?}"
                    );
                    if let Some(wp) = wp {
                        assert_eq!(pr[k].to_bits(), wp.to_bits(), "{p:?}");
                    }
                }
                assert_eq!(batched.presence(), want[start + n - 1].2);
                start += n;
            }
        }
    }
}
