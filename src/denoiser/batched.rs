//! The engine offline: the same hops as [`Denoiser::process_with`], the estimator asked for
//! several frames at once.
//!
//! A hop is an analysis half (frame j's features, frame t's spectra and band analysis), the
//! estimator, and a synthesis half. Neither half of hop h + 1 needs the gains of hop h (the
//! analysis reads only the input; the synthesis state is the overlap-add, advanced in order),
//! so an offline run can analyse B hops, keep each frame t's X, P, band analysis and pitch, ask
//! the estimator for the B frames' gains in one [`GainEstimator::estimate_batch`] call, then
//! synthesise the B hops in order. The output is bit for bit that of the real-time path (the
//! estimator promises the same of its batches; the tests below and `tests/clap_denoising.rs`,
//! the CLI against the plugin in a host, hold both to
//! it); the gain is the estimator's: a network reads its weights once per batch instead of
//! once per frame. A real-time host cannot do this: it has one hop at a time.

use super::{
    BandAnalysis, BandGains, Denoiser, FrameView, GainEstimator, NB_FEATURES, ZERO_SPECTRUM,
};
use crate::dsp::pitch::PitchEstimate;
use crate::dsp::stft::Spectrum;
use crate::HOP;

/// Most frames per estimator call on the batched path.
pub const MAX_BATCH_FRAMES: usize = 16;

/// What the synthesis half of each frame of a batch needs from its analysis half.
pub(super) struct Frames {
    x: Vec<Spectrum>,
    p: Vec<Spectrum>,
    band: Vec<BandAnalysis>,
    pitch: Vec<PitchEstimate>,
    features: Vec<[f32; NB_FEATURES]>,
}

impl Frames {
    fn new() -> Self {
        Self {
            x: vec![ZERO_SPECTRUM; MAX_BATCH_FRAMES],
            p: vec![ZERO_SPECTRUM; MAX_BATCH_FRAMES],
            band: vec![BandAnalysis::default(); MAX_BATCH_FRAMES],
            pitch: vec![PitchEstimate::default(); MAX_BATCH_FRAMES],
            features: vec![[0.0; NB_FEATURES]; MAX_BATCH_FRAMES],
        }
    }
}

impl<E: GainEstimator> Denoiser<E> {
    /// [`Denoiser::process_with`] for offline use: the same output, the same calls of
    /// `after_hop` and the same state afterwards, bit for bit, but the whole hops of `input`
    /// go to the estimator [`GainEstimator::batch_size`] frames at a time (at most
    /// [`MAX_BATCH_FRAMES`]). Falls back to [`Denoiser::process_with`] when the estimator
    /// does not batch or a partial hop is pending from an earlier call. Allocates the frame
    /// buffers on its first call: not for the audio thread.
    pub fn process_batched_with(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        mut after_hop: impl FnMut(f32, &mut [f32]),
    ) {
        assert_eq!(input.len(), output.len());
        let batch = self.estimator.batch_size().min(MAX_BATCH_FRAMES);
        if batch <= 1 || self.fifo_pos != 0 {
            return self.process_with(input, output, after_hop);
        }
        let mut fr = self.batch.take().unwrap_or_else(|| Box::new(Frames::new()));
        let hops = input.len() / HOP;
        // Each hop's output plays one hop later (the re-blocking of `process_with`).
        let mut previous = self.fifo_out;
        for first in (0..hops).step_by(batch) {
            let n = batch.min(hops - first);
            for k in 0..n {
                let (pitch_t, delayed) = self.analyze_hop(&input[(first + k) * HOP..][..HOP]);
                fr.x[k] = self.spectra[delayed];
                fr.p[k] = self.p;
                fr.band[k] = self.delayed;
                fr.pitch[k] = pitch_t;
                fr.features[k] = self.features;
            }
            let mut gains = [BandGains::default(); MAX_BATCH_FRAMES];
            let mut own = [None; MAX_BATCH_FRAMES];
            let views: [FrameView; MAX_BATCH_FRAMES] = std::array::from_fn(|k| FrameView {
                x: &fr.x[k],
                p: &fr.p[k],
                ex: &fr.band[k].ex,
                coherence: &fr.band[k].coherence,
                pitch: fr.pitch[k],
            });
            self.estimator.estimate_batch(
                &fr.features[..n],
                &views[..n],
                &mut gains[..n],
                &mut own[..n],
            );
            for k in 0..n {
                let mut out = [0.0; HOP];
                self.back.finish(
                    &mut self.stft,
                    &self.params,
                    &fr.x[k],
                    &fr.p[k],
                    &fr.band[k],
                    gains[k],
                    own[k],
                    &mut out,
                );
                after_hop(self.back.presence, &mut out);
                let h = first + k;
                output[h * HOP..(h + 1) * HOP].copy_from_slice(&previous);
                previous = out;
            }
            self.gains = gains[n - 1];
        }
        let rest = input.len() - hops * HOP;
        output[hops * HOP..].copy_from_slice(&previous[..rest]);
        self.fifo_in[..rest].copy_from_slice(&input[hops * HOP..]);
        self.fifo_out = previous;
        self.fifo_pos = rest;
        self.batch = Some(fr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denoiser::{estimate_each, UnityEstimator};
    use crate::NB_BANDS;

    /// Gains that depend on the features and on the estimator's own history (so a batch
    /// that mixed up frames or their order would show), with a presence of its own, and a
    /// batch size set by the test; batches go through the trait's default `estimate_batch`.
    struct History {
        state: f32,
        batch: usize,
        calls: usize,
    }

    impl GainEstimator for History {
        fn estimate(&mut self, f: &[f32; NB_FEATURES], v: &FrameView, out: &mut BandGains) {
            self.state = 0.9 * self.state + 0.1 * (f[3] + 8.0).clamp(0.0, 8.0) / 8.0;
            for b in 0..NB_BANDS {
                out.gain[b] = (self.state + 0.01 * b as f32).min(1.0);
                out.strength[b] = v.coherence[b].clamp(0.0, 1.0) * 0.5;
            }
        }

        fn presence(&self) -> Option<f32> {
            Some(self.state)
        }

        fn batch_size(&self) -> usize {
            self.batch
        }

        fn estimate_batch(
            &mut self,
            features: &[[f32; NB_FEATURES]],
            frames: &[FrameView],
            out: &mut [BandGains],
            presence: &mut [Option<f32>],
        ) {
            self.calls += 1;
            estimate_each(self, features, frames, out, presence);
        }
    }

    /// A voiced-like signal: a 150 Hz pulse train with harmonics and some noise.
    fn signal(len: usize) -> Vec<f32> {
        let mut s = 1u32;
        (0..len)
            .map(|n| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let t = n as f32 / 48_000.0;
                let voice: f32 = (1..8)
                    .map(|h| (std::f32::consts::TAU * 150.0 * h as f32 * t).sin() / h as f32)
                    .sum();
                0.1 * voice * (1.0 + (3.0 * t).sin()) + 0.02 * ((s >> 8) as f32 / 8.4e6 - 1.0)
            })
            .collect()
    }

    /// The batched path gives the real-time path's output, hop calls and final state bit for
    /// bit, for batch sizes 1 to 16, over calls that end mid-hop and calls that do not.
    #[test]
    fn batched_path_is_bit_identical_to_real_time() {
        let x = signal(57 * HOP + 211);
        for batch in [2, 5, MAX_BATCH_FRAMES, 40] {
            let make = || {
                Denoiser::new(History {
                    state: 0.0,
                    batch,
                    calls: 0,
                })
            };
            let (mut rt, mut off) = (make(), make());
            // Chunks: whole hops, then one ending mid-hop (the next call falls back), then
            // whole hops again after a call that completes the pending hop.
            let cuts = [0, 20 * HOP, 33 * HOP + 100, 34 * HOP, x.len()];
            let (mut want, mut got) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            let (mut want_p, mut got_p) = (Vec::new(), Vec::new());
            for w in cuts.windows(2) {
                let r = w[0]..w[1];
                rt.process_with(&x[r.clone()], &mut want[r.clone()], |p, h| {
                    want_p.push((p, h[7]))
                });
                off.process_batched_with(&x[r.clone()], &mut got[r.clone()], |p, h| {
                    got_p.push((p, h[7]))
                });
            }
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "batch {batch}");
            assert_eq!(got_p, want_p, "batch {batch}");
            assert!(
                want.iter().any(|v| v.abs() > 1e-3),
                "the test signal passes"
            );
            assert_eq!(off.last_gains(), rt.last_gains());
            assert_eq!(off.presence(), rt.presence());
            assert_eq!(off.last_features(), rt.last_features());
            assert_eq!(off.fifo_pos, rt.fifo_pos);
            assert!(off.estimator().calls > 0 && off.estimator().calls < 57);
            // And both go on identically in real time.
            let (mut a, mut b) = (vec![0.0; 3 * HOP], vec![0.0; 3 * HOP]);
            rt.process(&x[..3 * HOP], &mut a);
            off.process(&x[..3 * HOP], &mut b);
            assert_eq!(bits(&a), bits(&b), "batch {batch}, after");
        }
    }

    /// An estimator that does not batch takes the real-time path unchanged.
    #[test]
    fn estimators_that_do_not_batch_run_in_real_time() {
        let x = signal(10 * HOP);
        let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        Denoiser::new(UnityEstimator).process(&x, &mut a);
        let mut off = Denoiser::new(UnityEstimator);
        off.process_batched_with(&x, &mut b, |_, _| {});
        assert_eq!(a, b);
        assert!(off.batch.is_none());
    }
}
