//! The engine cut into its per-hop stages for timing: [`DspStages`] runs each stage alone,
//! [`ProfiledEngine`] runs the whole engine and times each part in place (bit-identical to
//! the engine, tested below).

use std::time::Instant;

use crate::denoiser::{
    apply_band_gains, compute_features, mix_pitch_filter, BandAnalysis, BandGains, DenoiserParams,
    Timeline, NB_FEATURES,
};
use crate::dsp::pitch::{PitchEstimate, PitchTracker};
use crate::dsp::postfilter;
use crate::dsp::stft::{OverlapAdd, Spectrum, Stft, ZERO_SPECTRUM};
use crate::model::Network;
use crate::{HOP, LOOKAHEAD_FRAMES, WINDOW};

/// One hop's work of one stage.
pub type Stage = fn(&mut DspStages);

/// The engine's DSP stages with their state, one hop's worth of work per call, as the engine
/// does it per hop (shared by [`run`] and `benches/engine.rs`). The work is real but its
/// results are discarded, so each stage can be timed alone.
pub struct DspStages {
    signal: Vec<f32>,
    next_hop: usize,
    stft: Stft,
    spectrum: Spectrum,
    frame: [f32; WINDOW],
    synth: [f32; WINDOW],
    timeline: Timeline,
    pitch: PitchTracker,
    comb: [f32; WINDOW],
    bands: BandAnalysis,
    /// The rest of the engine's work: its inputs and outputs.
    comb_spectrum: Spectrum,
    mixed: Spectrum,
    features: [f32; NB_FEATURES],
    gains: BandGains,
    ola: OverlapAdd,
    hop_in: [f32; HOP],
    hop_out: [f32; HOP],
}

impl DspStages {
    /// Every stage with its name, in engine order.
    pub const ALL: [(&'static str, Stage); 5] = [
        ("STFT (analysis x3 + synthesis)", Self::stft),
        ("pitch search + Viterbi", Self::pitch),
        ("comb filter (x2)", Self::comb),
        ("band energies + coherence (x2)", Self::bands),
        (
            "rest: features, pitch-filter mix, post-filter, gains, overlap-add",
            Self::rest,
        ),
    ];

    /// Stages fed from `signal` (at least one hop), hop after hop, cyclically.
    pub fn new(signal: &[f32]) -> Self {
        assert!(signal.len() >= HOP, "need at least one hop of signal");
        let mut timeline = Timeline::new();
        signal.chunks_exact(HOP).for_each(|h| timeline.push(h));
        let mut frame = [0.0; WINDOW];
        frame.copy_from_slice(timeline.window(0));
        let mut stft = Stft::new();
        let (mut spectrum, mut comb_spectrum) = (ZERO_SPECTRUM, ZERO_SPECTRUM);
        stft.analyze(&frame, &mut spectrum);
        stft.analyze(timeline.window(1), &mut comb_spectrum);
        let mut bands = BandAnalysis::default();
        bands.compute(&spectrum, &comb_spectrum);
        let mut gains = BandGains::default();
        for (b, (g, r)) in gains.gain.iter_mut().zip(&mut gains.strength).enumerate() {
            *g = 0.2 + 0.02 * b as f32;
            *r = 0.5 - 0.01 * b as f32;
        }
        Self {
            signal: signal.to_vec(),
            next_hop: 0,
            stft,
            spectrum,
            frame,
            synth: [0.0; WINDOW],
            timeline,
            pitch: PitchTracker::new(),
            comb: [0.0; WINDOW],
            bands,
            comb_spectrum,
            mixed: ZERO_SPECTRUM,
            features: [0.0; NB_FEATURES],
            gains,
            ola: OverlapAdd::new(),
            hop_in: [0.0; HOP],
            hop_out: [0.0; HOP],
        }
    }

    /// Three analyses (the frame, and the comb-filtered frame for features and for
    /// synthesis) and one synthesis.
    pub fn stft(&mut self) {
        for _ in 0..3 {
            self.stft
                .analyze(std::hint::black_box(&self.frame), &mut self.spectrum);
        }
        self.stft.synthesize(&self.spectrum, &mut self.synth);
        std::hint::black_box(&self.synth);
    }

    /// Pushes the next hop of the signal, then the pitch search of the new frame and the
    /// Viterbi decision for the delayed one.
    pub fn pitch(&mut self) {
        let hops = self.signal.len() / HOP;
        let start = (self.next_hop % hops) * HOP;
        self.next_hop += 1;
        self.timeline.push(&self.signal[start..start + HOP]);
        std::hint::black_box(self.pitch.push_hop(self.timeline.pitch_history()));
        std::hint::black_box(self.pitch.delayed(1));
    }

    /// Two comb-filter windows (without and with lookahead), at a period that sweeps the
    /// pitch range.
    pub fn comb(&mut self) {
        let period = 100 + self.next_hop % 600;
        self.next_hop += 1;
        for lookahead in 0..2 {
            self.timeline.comb_window(lookahead, period, &mut self.comb);
            std::hint::black_box(&self.comb);
        }
    }

    /// Two band analyses (energies and pitch coherence: features and synthesis).
    pub fn bands(&mut self) {
        for _ in 0..2 {
            self.bands
                .compute(std::hint::black_box(&self.spectrum), &self.spectrum);
        }
    }

    /// The engine's remaining per-hop work: the features, the re-blocking copies, the
    /// pitch-filter mix, the post-filter and attenuation floor, the band gains and the
    /// overlap-add (what `Denoiser::process_hop` does besides the other stages and the
    /// estimator).
    pub fn rest(&mut self) {
        let pitch = PitchEstimate {
            period: 100 + self.next_hop % 600,
            correlation: 0.7,
        };
        self.next_hop += 1;
        let hops = self.signal.len() / HOP;
        let start = (self.next_hop % hops) * HOP;
        self.hop_in
            .copy_from_slice(std::hint::black_box(&self.signal[start..start + HOP]));
        compute_features(&self.bands, pitch, &mut self.features);
        let mut g = self.gains;
        let floor = postfilter::attenuation_floor(100.0);
        g.strength.iter_mut().for_each(|r| *r *= 1.0 - floor);
        mix_pitch_filter(
            std::hint::black_box(&self.spectrum),
            &self.comb_spectrum,
            &g.strength,
            &self.bands.ex,
            &mut self.mixed,
        );
        postfilter::envelope_postfilter(&mut g.gain, &self.bands.ex, 1.0);
        postfilter::apply_floor(&mut g.gain, floor);
        apply_band_gains(&g.gain, &mut self.mixed);
        self.ola
            .push(std::hint::black_box(&self.synth), &mut self.hop_out);
        std::hint::black_box((&self.features, &self.mixed, &self.hop_out, &self.hop_in));
    }
}

/// The engine's per-hop work with a network, part by part as [`DspStages::ALL`] divides it
/// (then the network), each part timed where it runs: a copy of `Denoiser::process_hop` with
/// clock readings between the parts (about 14 per hop, well under 1 % of a hop's time). Its
/// output is the engine's, bit for bit (tested). [`run`] uses it to show where the whole
/// engine's time goes, next to the same parts timed alone.
pub struct ProfiledEngine {
    net: Network,
    params: DenoiserParams,
    timeline: Timeline,
    stft: Stft,
    pitch: PitchTracker,
    ola: OverlapAdd,
    spectra: [Spectrum; LOOKAHEAD_FRAMES + 1],
    frame: usize,
    comb_buf: [f32; WINDOW],
    p: Spectrum,
    y: Spectrum,
    synth: [f32; WINDOW],
    newest: BandAnalysis,
    delayed: BandAnalysis,
    features: [f32; NB_FEATURES],
    gains: BandGains,
    /// Wall-clock seconds spent in each of [`ProfiledEngine::PARTS`], per hop since the last
    /// [`ProfiledEngine::per_part`].
    hops: Vec<[f64; 6]>,
}

impl ProfiledEngine {
    /// The parts: the stages of [`DspStages::ALL`], then the network.
    pub const PARTS: [&'static str; 6] = [
        DspStages::ALL[0].0,
        DspStages::ALL[1].0,
        DspStages::ALL[2].0,
        DspStages::ALL[3].0,
        DspStages::ALL[4].0,
        "network",
    ];

    pub fn new(net: Network) -> Self {
        Self {
            net,
            params: DenoiserParams::default(),
            timeline: Timeline::new(),
            stft: Stft::new(),
            pitch: PitchTracker::new(),
            ola: OverlapAdd::new(),
            spectra: [ZERO_SPECTRUM; LOOKAHEAD_FRAMES + 1],
            frame: 0,
            comb_buf: [0.0; WINDOW],
            p: ZERO_SPECTRUM,
            y: ZERO_SPECTRUM,
            synth: [0.0; WINDOW],
            newest: BandAnalysis::default(),
            delayed: BandAnalysis::default(),
            features: [0.0; NB_FEATURES],
            gains: BandGains::default(),
            hops: Vec::new(),
        }
    }

    /// Mean seconds per hop spent in each part since the last call, over the hops that took
    /// at most 3 times the median hop: the parts are timed on the wall clock (a CPU-time
    /// reading per part would cost more than some parts), and a hop during which the thread
    /// was descheduled (milliseconds, against a tenth of one for a hop) would put that wait
    /// into whichever part was running. `None` if no hop ran.
    pub fn per_part(&mut self) -> Option<[f64; 6]> {
        let total = |h: &[f64; 6]| h.iter().sum::<f64>();
        let mut totals: Vec<f64> = self.hops.iter().map(total).collect();
        totals.sort_by(f64::total_cmp);
        let median = *totals.get(totals.len() / 2)?;
        let kept: Vec<&[f64; 6]> = self
            .hops
            .iter()
            .filter(|h| total(h) <= 3.0 * median)
            .collect();
        let mut mean = [0.0; 6];
        for h in &kept {
            for (m, t) in mean.iter_mut().zip(h.iter()) {
                *m += t / kept.len() as f64;
            }
        }
        self.hops.clear();
        Some(mean)
    }

    /// `Denoiser::process_hop`, part by part.
    pub fn process_hop(&mut self, input: &[f32], output: &mut [f32]) {
        const STFT: usize = 0;
        const PITCH: usize = 1;
        const COMB: usize = 2;
        const BANDS: usize = 3;
        const REST: usize = 4;
        const NETWORK: usize = 5;
        let mut t = Instant::now();
        let mut lap = |times: &mut [f64; 6], part: usize| {
            let now = Instant::now();
            times[part] += (now - t).as_secs_f64();
            t = now;
        };
        let mut hop_times = [0.0f64; 6];
        let times = &mut hop_times;
        self.timeline.push(input);
        let slots = self.spectra.len();
        let newest = self.frame % slots;
        let delayed = (self.frame + 1) % slots;
        self.frame = self.frame.wrapping_add(1);
        let pitch_j = self.pitch.push_hop(self.timeline.pitch_history());
        lap(times, PITCH);
        self.stft
            .analyze(self.timeline.window(0), &mut self.spectra[newest]);
        lap(times, STFT);
        self.timeline
            .comb_window(0, pitch_j.period, &mut self.comb_buf);
        lap(times, COMB);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        lap(times, STFT);
        self.newest.compute(&self.spectra[newest], &self.p);
        lap(times, BANDS);
        compute_features(&self.newest, pitch_j, &mut self.features);
        lap(times, REST);
        let pitch_t = self.pitch.delayed(LOOKAHEAD_FRAMES);
        self.timeline
            .comb_window(LOOKAHEAD_FRAMES, pitch_t.period, &mut self.comb_buf);
        lap(times, COMB);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        lap(times, STFT);
        let x = &self.spectra[delayed];
        self.delayed.compute(x, &self.p);
        lap(times, BANDS);
        self.net.forward(
            &self.features,
            &mut self.gains.gain,
            &mut self.gains.strength,
        );
        lap(times, NETWORK);
        let mut g = self.gains;
        for v in g.gain.iter_mut().chain(g.strength.iter_mut()) {
            *v = if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
        }
        let floor = postfilter::attenuation_floor(self.params.attenuation_limit_db);
        g.strength.iter_mut().for_each(|r| *r *= 1.0 - floor);
        mix_pitch_filter(x, &self.p, &g.strength, &self.delayed.ex, &mut self.y);
        postfilter::envelope_postfilter(&mut g.gain, &self.delayed.ex, self.params.post_filter);
        postfilter::apply_floor(&mut g.gain, floor);
        apply_band_gains(&g.gain, &mut self.y);
        lap(times, REST);
        self.stft.synthesize(&self.y, &mut self.synth);
        lap(times, STFT);
        self.ola.push(&self.synth, output);
        lap(times, REST);
        self.hops.push(hop_times);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::denoiser::Denoiser;
    use crate::model::{embedded_network, NetworkEstimator, Precision};
    use crate::offline::bench::test_signal;

    /// The profiled copy of the engine computes what the engine computes, bit for bit.
    #[test]
    fn profiled_engine_is_the_engine() {
        let net = embedded_network()
            .expect("embedded weights")
            .with_precision(Precision::Int8);
        let mut engine = Denoiser::new(NetworkEstimator::new(net.clone()));
        let mut profiled = ProfiledEngine::new(net);
        let signal = test_signal(1.5);
        let (mut a, mut b) = ([0.0f32; HOP], [0.0f32; HOP]);
        let mut energy = 0.0;
        for hop in signal.chunks_exact(HOP) {
            engine.process_hop(hop, &mut a);
            profiled.process_hop(hop, &mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            energy += a.iter().map(|v| v * v).sum::<f32>();
        }
        assert!(energy > 1.0, "the engine produced a signal");
        let parts = profiled.per_part().expect("hops ran");
        assert!(parts.iter().all(|&t| t > 0.0));
        assert_eq!(profiled.per_part(), None);
    }
}
