//! The streaming PercepNet engine for one channel at 48 kHz (no plugin types).
//!
//! Timeline. Every hop of N = 480 samples completes a new frame j whose window is the last
//! 2N samples. The engine analyses frame j (spectrum, pitch, comb filter, features) and then
//! synthesises the frame t = j - `LOOKAHEAD_FRAMES` with gains that the [`GainEstimator`]
//! chose after seeing the features of frames up to j. Overlap-add finishes the N samples
//! that start frame t. So at hop granularity the output is `HOP * (1 + LOOKAHEAD_FRAMES)` =
//! 960 samples behind; [`Denoiser::process`] re-blocks any buffer size into hops, which adds
//! one hop, for a total of exactly [`LATENCY`] = 1440 samples (30 ms): 20 ms of window +
//! 10 ms of lookahead.
//!
//! The comb filter of frame t reads up to `LOOKAHEAD_FRAMES` hops of future samples (taps
//! beyond them are dropped, see [`comb`]); the features of frame j use a comb filter that
//! reads nothing past frame j's window, so features never need samples the engine lacks.
//!
//! Speech presence. With the gains of frame t the engine records its speech presence p_t in
//! [0, 1]: the estimator's own ([`GainEstimator::presence`]) weighed by how much speech-band
//! energy its gains keep ([`presence::with_support`]) or, when it has none, one derived from the
//! gains and band energies of frame t ([`presence::from_gains`]). The hop that
//! `process_hop` returns together with p_t is the first half of frame t's window, so frame t is
//! centred [`PRESENCE_LEAD`] samples after that hop's first sample: the lookahead a gate on the
//! output has (see [`crate::dsp::gate`]), on top of the estimator's own (it saw frame j).

use crate::dsp::bands::{self, BandArray};
use crate::dsp::comb::{self, COMB_M};
use crate::dsp::pitch::{PitchEstimate, PitchTracker, PITCH_BUF, PITCH_MAX, PITCH_MIN};
use crate::dsp::postfilter;
use crate::dsp::presence;
use crate::dsp::stft::{OverlapAdd, Spectrum, Stft, ZERO_SPECTRUM};
use crate::{HOP, LATENCY, LOOKAHEAD_FRAMES, NB_BANDS, NB_BINS, WINDOW};

mod batched;
pub use batched::MAX_BATCH_FRAMES;

/// Network input features per frame: 34 log band energies, 34 pitch coherences, the pitch
/// period and the pitch correlation.
pub const NB_FEATURES: usize = 2 * NB_BANDS + 2;

/// Floor added to band energies before the logarithm of the features.
pub const LOG_ENERGY_FLOOR: f32 = 1e-5;

/// Samples from the first sample of the hop `process_hop` returns to the centre of the frame
/// whose presence comes with it (frame t, whose window starts with that hop).
pub const PRESENCE_LEAD: usize = HOP;

/// Largest magnitude accepted from the input; anything beyond (or not finite) is clamped
/// (or zeroed) so one bad sample cannot poison the history.
pub const INPUT_LIMIT: f32 = 1.0e4;

/// Samples of input history kept: enough for the pitch search and for the comb filter of
/// frame t (M periods before its window, its window, and the lookahead after it).
pub const HISTORY: usize = max(
    PITCH_BUF,
    COMB_M * PITCH_MAX + WINDOW + LOOKAHEAD_FRAMES * HOP,
);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// User-facing settings of the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenoiserParams {
    /// Attenuation limit L in dB (0..=100): gains are floored at 10^(-L/20); 100 = no limit.
    pub attenuation_limit_db: f32,
    /// Envelope post-filter strength s in [0, 1].
    pub post_filter: f32,
}

impl Default for DenoiserParams {
    fn default() -> Self {
        Self {
            attenuation_limit_db: 100.0,
            post_filter: 1.0,
        }
    }
}

/// Per-band outputs of a gain estimator for one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandGains {
    /// g_b in [0, 1].
    pub gain: BandArray,
    /// r_b in [0, 1].
    pub strength: BandArray,
}

impl Default for BandGains {
    fn default() -> Self {
        Self {
            gain: [1.0; NB_BANDS],
            strength: [0.0; NB_BANDS],
        }
    }
}

/// What the engine knows of the frame t it is about to synthesise.
pub struct FrameView<'a> {
    /// X(k): the input spectrum of frame t.
    pub x: &'a Spectrum,
    /// P(k): the spectrum of the comb-filtered input of frame t.
    pub p: &'a Spectrum,
    /// E_b(X).
    pub ex: &'a BandArray,
    /// q_b: pitch coherence of X with P.
    pub coherence: &'a BandArray,
    /// The pitch the comb filter of frame t used.
    pub pitch: PitchEstimate,
}

/// Supplies g_b and r_b for each frame.
pub trait GainEstimator {
    /// `features` describe the newest frame j; `frame` is frame t = j - LOOKAHEAD_FRAMES;
    /// write the gains of frame t into `out`. Runs on the audio thread: no allocation.
    fn estimate(&mut self, features: &[f32; NB_FEATURES], frame: &FrameView, out: &mut BandGains);
    /// The speech presence in [0, 1] of the frame whose gains were just estimated (frame t),
    /// if this estimator knows it (a trained voice-activity head, say); `None` lets the engine
    /// derive it from the gains and band energies ([`presence::from_gains`]).
    fn presence(&self) -> Option<f32> {
        None
    }
    /// Forget all history.
    fn reset(&mut self) {}
    /// Frames this estimator would like per [`GainEstimator::estimate_batch`] call (1: it
    /// gains nothing from batches). Offline runs ask; real-time ones never batch.
    fn batch_size(&self) -> usize {
        1
    }
    /// The gains (and presence, as [`GainEstimator::presence`] would give it) of `n`
    /// consecutive frames at once: `features[k]` and `frames[k]` are what
    /// [`GainEstimator::estimate`] would get for the k-th, and the results must be exactly
    /// what `n` calls would give. The default makes those `n` calls.
    fn estimate_batch(
        &mut self,
        features: &[[f32; NB_FEATURES]],
        frames: &[FrameView],
        out: &mut [BandGains],
        presence: &mut [Option<f32>],
    ) {
        estimate_each(self, features, frames, out, presence);
    }
}

/// [`GainEstimator::estimate_batch`] one frame at a time (its default), for estimators that
/// batch only some calls.
pub fn estimate_each<E: GainEstimator + ?Sized>(
    estimator: &mut E,
    features: &[[f32; NB_FEATURES]],
    frames: &[FrameView],
    out: &mut [BandGains],
    presence: &mut [Option<f32>],
) {
    for (((f, v), o), p) in features.iter().zip(frames).zip(out).zip(presence) {
        estimator.estimate(f, v, o);
        *p = estimator.presence();
    }
}

/// g_b = 1, r_b = 0 everywhere: the engine is then an exact delay.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnityEstimator;

impl GainEstimator for UnityEstimator {
    fn estimate(&mut self, _: &[f32; NB_FEATURES], _: &FrameView, out: &mut BandGains) {
        *out = BandGains::default();
    }
}

/// An optional estimator: `None` passes everything through (unity gains).
impl<E: GainEstimator> GainEstimator for Option<E> {
    fn estimate(&mut self, features: &[f32; NB_FEATURES], frame: &FrameView, out: &mut BandGains) {
        match self {
            Some(e) => e.estimate(features, frame, out),
            None => UnityEstimator.estimate(features, frame, out),
        }
    }

    fn presence(&self) -> Option<f32> {
        self.as_ref().and_then(GainEstimator::presence)
    }

    fn reset(&mut self) {
        if let Some(e) = self {
            e.reset();
        }
    }
}

/// The last `HISTORY` input samples, newest last.
pub struct Timeline {
    buf: Vec<f32>,
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            buf: vec![0.0; HISTORY],
        }
    }

    pub fn reset(&mut self) {
        self.buf.fill(0.0);
    }

    /// Appends one hop, replacing non-finite samples by 0 and clamping to ±`INPUT_LIMIT`.
    pub fn push(&mut self, hop: &[f32]) {
        debug_assert_eq!(hop.len(), HOP);
        self.buf.copy_within(HOP.., 0);
        for (d, s) in self.buf[HISTORY - HOP..].iter_mut().zip(hop) {
            *d = if s.is_finite() {
                s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
            } else {
                0.0
            };
        }
    }

    /// Index in the history where the window of frame `newest - lookahead` starts.
    fn window_start(lookahead: usize) -> usize {
        HISTORY - WINDOW - lookahead * HOP
    }

    /// The 2N samples of frame `newest - lookahead`.
    pub fn window(&self, lookahead: usize) -> &[f32] {
        let s = Self::window_start(lookahead);
        &self.buf[s..s + WINDOW]
    }

    /// The last `PITCH_BUF` samples, as the pitch tracker wants them.
    pub fn pitch_history(&self) -> &[f32] {
        &self.buf[HISTORY - PITCH_BUF..]
    }

    /// p(n) over the window of frame `newest - lookahead`, reading only the samples held.
    pub fn comb_window(&self, lookahead: usize, period: usize, out: &mut [f32; WINDOW]) {
        comb::comb_filter(&self.buf, Self::window_start(lookahead), period, out);
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

/// One frame's band analysis of a spectrum X and its comb-filtered P.
#[derive(Clone, Copy)]
pub struct BandAnalysis {
    pub ex: BandArray,
    pub ep: BandArray,
    pub coherence: BandArray,
}

impl Default for BandAnalysis {
    fn default() -> Self {
        Self {
            ex: [0.0; NB_BANDS],
            ep: [0.0; NB_BANDS],
            coherence: [0.0; NB_BANDS],
        }
    }
}

impl BandAnalysis {
    /// E_b(X), E_b(P) and q_b = C_b(X, P) / sqrt(E_b(X) E_b(P)).
    pub fn compute(&mut self, x: &Spectrum, p: &Spectrum) {
        let mut corr = [0.0; NB_BANDS];
        bands::band_energies_and_correlation(x, p, &mut self.ex, &mut self.ep, &mut corr);
        comb::pitch_coherence(&corr, &self.ex, &self.ep, &mut self.coherence);
    }
}

/// Features of a frame: [log10(E_b + floor)]_b, [q_b]_b, log2(T / 256), pitch correlation.
pub fn compute_features(
    analysis: &BandAnalysis,
    pitch: PitchEstimate,
    out: &mut [f32; NB_FEATURES],
) {
    let (energies, rest) = out.split_at_mut(NB_BANDS);
    let (coherences, pitch_out) = rest.split_at_mut(NB_BANDS);
    for (f, e) in energies.iter_mut().zip(&analysis.ex) {
        *f = (e + LOG_ENERGY_FLOOR).log10();
    }
    coherences.copy_from_slice(&analysis.coherence);
    let period = pitch.period.clamp(PITCH_MIN, PITCH_MAX) as f32;
    pitch_out[0] = (period / 256.0).log2();
    pitch_out[1] = pitch.correlation;
}

/// Y(k) = (1 - r(k)) X(k) + r(k) P(k), then each band rescaled to the energy E_b(X) it had
/// before mixing, so the mix changes the tone-to-noise ratio but not the envelope.
pub fn mix_pitch_filter(
    x: &Spectrum,
    p: &Spectrum,
    strength: &BandArray,
    ex: &BandArray,
    y: &mut Spectrum,
) {
    if strength.iter().all(|&r| r <= 0.0) {
        y.copy_from_slice(x);
        return;
    }
    let mut r = [0.0; NB_BINS];
    bands::interpolate(strength, &mut r);
    for (((yk, xk), pk), rk) in y.iter_mut().zip(x).zip(p).zip(&r) {
        let rk = rk.clamp(0.0, 1.0);
        *yk = xk * (1.0 - rk) + pk * rk;
    }
    let mut ey = [0.0; NB_BANDS];
    bands::band_energy(y, &mut ey);
    let mut norm = [1.0; NB_BANDS];
    for ((n, a), b) in norm.iter_mut().zip(ex).zip(&ey) {
        if *b > 1e-12 {
            *n = (a / b).sqrt();
        }
    }
    bands::interpolate(&norm, &mut r);
    for (yk, nk) in y.iter_mut().zip(&r) {
        *yk *= *nk;
    }
}

/// Z(k) = g(k) Y(k) with g(k) = sum_b w_b(k) g_b.
pub fn apply_band_gains(gains: &BandArray, y: &mut Spectrum) {
    let mut g = [0.0; NB_BINS];
    bands::interpolate(gains, &mut g);
    for (yk, gk) in y.iter_mut().zip(&g) {
        *yk *= *gk;
    }
}

/// The streaming PercepNet engine for one channel at 48 kHz.
pub struct Denoiser<E: GainEstimator = UnityEstimator> {
    estimator: E,
    params: DenoiserParams,
    timeline: Timeline,
    stft: Stft,
    pitch: PitchTracker,
    /// X of the last LOOKAHEAD_FRAMES + 1 frames, indexed by frame number modulo its length.
    spectra: Vec<Spectrum>,
    frame: usize,
    comb_buf: [f32; WINDOW],
    p: Spectrum,
    newest: BandAnalysis,
    delayed: BandAnalysis,
    features: [f32; NB_FEATURES],
    gains: BandGains,
    back: Synthesis,
    /// Frame buffers of the offline batched path ([`Denoiser::process_batched_with`]).
    batch: Option<Box<batched::Frames>>,
    /// Re-blocking: input samples of the hop being filled, output of the last hop.
    fifo_in: [f32; HOP],
    fifo_out: [f32; HOP],
    fifo_pos: usize,
}

impl<E: GainEstimator> Denoiser<E> {
    /// Allocates everything the engine will ever need.
    pub fn new(estimator: E) -> Self {
        Self {
            estimator,
            params: DenoiserParams::default(),
            timeline: Timeline::new(),
            stft: Stft::new(),
            pitch: PitchTracker::new(),
            spectra: vec![ZERO_SPECTRUM; LOOKAHEAD_FRAMES + 1],
            frame: 0,
            comb_buf: [0.0; WINDOW],
            p: ZERO_SPECTRUM,
            newest: BandAnalysis::default(),
            delayed: BandAnalysis::default(),
            features: [0.0; NB_FEATURES],
            gains: BandGains::default(),
            back: Synthesis::new(),
            batch: None,
            fifo_in: [0.0; HOP],
            fifo_out: [0.0; HOP],
            fifo_pos: 0,
        }
    }

    /// Clears all history (as after construction); allocates nothing.
    pub fn reset(&mut self) {
        self.timeline.reset();
        self.pitch.reset();
        self.back.reset();
        self.spectra.iter_mut().for_each(|s| *s = ZERO_SPECTRUM);
        self.frame = 0;
        self.gains = BandGains::default();
        self.fifo_in = [0.0; HOP];
        self.fifo_out = [0.0; HOP];
        self.fifo_pos = 0;
        self.estimator.reset();
    }

    pub fn set_params(&mut self, params: DenoiserParams) {
        self.params = params;
    }

    pub fn params(&self) -> DenoiserParams {
        self.params
    }

    pub fn estimator(&self) -> &E {
        &self.estimator
    }

    pub fn estimator_mut(&mut self) -> &mut E {
        &mut self.estimator
    }

    /// The gains applied to the most recent synthesised frame (for meters): g_b after the
    /// post-filter and attenuation limit, and r_b.
    pub fn last_gains(&self) -> &BandGains {
        &self.back.applied
    }

    /// p_t: the speech presence in [0, 1] of frame t, the frame synthesised by the last hop.
    /// The hop `process_hop` returned with it starts [`PRESENCE_LEAD`] samples before frame t's
    /// centre; p_t itself was estimated with the features of the newest analysed frame
    /// j = t + `LOOKAHEAD_FRAMES`, so it already looks that far ahead. 0 before the first hop.
    pub fn presence(&self) -> f32 {
        self.back.presence
    }

    /// The features of the newest frame (what the estimator saw last).
    pub fn last_features(&self) -> &[f32; NB_FEATURES] {
        &self.features
    }

    /// Processes any number of samples; the output is the denoised input delayed by exactly
    /// [`LATENCY`] samples. Allocates nothing.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        self.process_with(input, output, |_, _| {});
    }

    /// [`Self::process`], calling `after_hop(p_t, hop)` on every hop as soon as it is
    /// synthesised, before it enters the output queue: `hop` (N samples, alterable in place) is
    /// what [`Self::process_hop`] returned and p_t its [`Self::presence`]. A voice gate goes
    /// there, at the hop's own timing whatever the caller's buffer size. Allocates nothing.
    pub fn process_with(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        mut after_hop: impl FnMut(f32, &mut [f32]),
    ) {
        debug_assert_eq!(input.len(), output.len());
        let mut done = 0;
        while done < input.len() {
            let n = (HOP - self.fifo_pos).min(input.len() - done);
            let range = self.fifo_pos..self.fifo_pos + n;
            output[done..done + n].copy_from_slice(&self.fifo_out[range.clone()]);
            self.fifo_in[range].copy_from_slice(&input[done..done + n]);
            self.fifo_pos += n;
            done += n;
            if self.fifo_pos == HOP {
                let hop = self.fifo_in;
                let mut out = [0.0; HOP];
                self.process_hop(&hop, &mut out);
                after_hop(self.back.presence, &mut out);
                self.fifo_out = out;
                self.fifo_pos = 0;
            }
        }
    }

    /// Denoises a whole signal offline: feeds it and `LATENCY` samples of flush, and returns
    /// the output with the latency removed (same length, time-aligned with the input).
    pub fn process_offline(&mut self, input: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; input.len() + LATENCY];
        let mut padded = input.to_vec();
        padded.resize(input.len() + LATENCY, 0.0);
        self.process(&padded, &mut out);
        out.drain(..LATENCY);
        out
    }

    /// Processes one hop of `HOP` samples; the output is `LATENCY - HOP` samples behind.
    pub fn process_hop(&mut self, input: &[f32], output: &mut [f32]) {
        debug_assert_eq!(output.len(), HOP);
        let (pitch_t, delayed) = self.analyze_hop(input);
        let x = &self.spectra[delayed];
        let view = FrameView {
            x,
            p: &self.p,
            ex: &self.delayed.ex,
            coherence: &self.delayed.coherence,
            pitch: pitch_t,
        };
        self.estimator
            .estimate(&self.features, &view, &mut self.gains);
        let own = self.estimator.presence();
        self.back.finish(
            &mut self.stft,
            &self.params,
            x,
            &self.p,
            &self.delayed,
            self.gains,
            own,
            output,
        );
    }

    /// The analysis half of a hop: pushes `input`, analyses the newest frame j (spectrum,
    /// pitch, causal comb filter, features into `self.features`), then frame t = j -
    /// `LOOKAHEAD_FRAMES` (comb filter with lookahead into `self.p`, band analysis into
    /// `self.delayed`). Returns frame t's pitch and the slot of `self.spectra` holding X_t.
    fn analyze_hop(&mut self, input: &[f32]) -> (PitchEstimate, usize) {
        debug_assert_eq!(input.len(), HOP);
        self.timeline.push(input);
        let slots = self.spectra.len();
        let newest = self.frame % slots;
        let delayed = (self.frame + 1) % slots;
        self.frame = self.frame.wrapping_add(1);

        self.stft
            .analyze(self.timeline.window(0), &mut self.spectra[newest]);
        let pitch_j = self.pitch.push_hop(self.timeline.pitch_history());
        self.timeline
            .comb_window(0, pitch_j.period, &mut self.comb_buf);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        self.newest.compute(&self.spectra[newest], &self.p);
        compute_features(&self.newest, pitch_j, &mut self.features);

        let pitch_t = self.pitch.delayed(LOOKAHEAD_FRAMES);
        self.timeline
            .comb_window(LOOKAHEAD_FRAMES, pitch_t.period, &mut self.comb_buf);
        self.stft.analyze(&self.comb_buf, &mut self.p);
        self.delayed.compute(&self.spectra[delayed], &self.p);
        (pitch_t, delayed)
    }
}

/// The synthesis half of a hop and what it keeps between hops: overlap-add, the gains last
/// applied and the last presence.
struct Synthesis {
    ola: OverlapAdd,
    y: Spectrum,
    synth: [f32; WINDOW],
    applied: BandGains,
    /// p_t: the speech presence of the last synthesised frame.
    presence: f32,
}

impl Synthesis {
    fn new() -> Self {
        Self {
            ola: OverlapAdd::new(),
            y: ZERO_SPECTRUM,
            synth: [0.0; WINDOW],
            applied: BandGains::default(),
            presence: 0.0,
        }
    }

    fn reset(&mut self) {
        self.ola.reset();
        self.applied = BandGains::default();
        self.presence = 0.0;
    }

    /// Frame t from its spectra X and P, its band analysis and the estimator's gains (and
    /// presence, if it has one): sanitised gains, presence, pitch-filter mix, post-filter,
    /// attenuation limit, synthesis and overlap-add of one output hop.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        stft: &mut Stft,
        params: &DenoiserParams,
        x: &Spectrum,
        p: &Spectrum,
        band: &BandAnalysis,
        gains: BandGains,
        own_presence: Option<f32>,
        output: &mut [f32],
    ) {
        let mut g = gains;
        sanitize(&mut g.gain);
        sanitize(&mut g.strength);
        self.presence = match own_presence {
            Some(p) => presence::with_support(p, &g.gain, &band.ex),
            None => presence::from_gains(&g.gain, &band.ex),
        };
        // The attenuation limit bounds the comb filter too: r_b' = (1 - floor) r_b, so a 0 dB
        // limit leaves the signal untouched and a light limit filters lightly.
        let floor = postfilter::attenuation_floor(params.attenuation_limit_db);
        g.strength.iter_mut().for_each(|r| *r *= 1.0 - floor);
        mix_pitch_filter(x, p, &g.strength, &band.ex, &mut self.y);
        postfilter::envelope_postfilter(&mut g.gain, &band.ex, params.post_filter);
        postfilter::apply_floor(&mut g.gain, floor);
        apply_band_gains(&g.gain, &mut self.y);
        self.applied = g;

        stft.synthesize(&self.y, &mut self.synth);
        self.ola.push(&self.synth, output);
    }
}

/// Clamps estimator outputs to [0, 1], mapping NaN to 1 (pass-through).
fn sanitize(values: &mut BandArray) {
    for v in values.iter_mut() {
        *v = if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same gain in every band, no comb filtering, with an optional presence of its own.
    struct Fixed(f32, Option<f32>);

    impl GainEstimator for Fixed {
        fn estimate(&mut self, _: &[f32; NB_FEATURES], _: &FrameView, out: &mut BandGains) {
            out.gain = [self.0; NB_BANDS];
            out.strength = [0.0; NB_BANDS];
        }

        fn presence(&self) -> Option<f32> {
            self.1
        }
    }

    /// A 440 Hz tone at -20 dBFS.
    fn tone(len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| 0.1 * (std::f32::consts::TAU * 440.0 * n as f32 / 48_000.0).sin())
            .collect()
    }

    #[test]
    fn presence_is_derived_from_the_gains_or_the_estimators_own_weighed_by_its_gains() {
        let x = tone(20 * HOP);
        let mut out = vec![0.0; x.len()];
        let mut unity = Denoiser::new(UnityEstimator);
        assert_eq!(unity.presence(), 0.0);
        unity.process(&x, &mut out);
        assert!(unity.presence() > 0.999, "{}", unity.presence());
        let mut silenced = Denoiser::new(Fixed(0.0, None));
        silenced.process(&x, &mut out);
        assert_eq!(silenced.presence(), 0.0);
        // The estimator's own presence where its gains keep the signal (sanitised)...
        for (own, expected) in [(0.3, 0.3), (f32::NAN, 1.0), (7.0, 1.0)] {
            let mut engine = Denoiser::new(Fixed(1.0, Some(own)));
            engine.process(&x, &mut out);
            assert!((engine.presence() - expected).abs() < 1e-4, "{own}");
        }
        // ...and none where they remove everything, whatever it says.
        let mut engine = Denoiser::new(Fixed(0.0, Some(0.9)));
        engine.process(&x, &mut out);
        assert_eq!(engine.presence(), 0.0);
        unity.reset();
        assert_eq!(unity.presence(), 0.0);
        // Digital silence is no speech, even through unity gains.
        unity.process(&vec![0.0; 10 * HOP], &mut out[..10 * HOP]);
        assert_eq!(unity.presence(), 0.0);
    }

    #[test]
    fn process_with_sees_every_hop_once_and_can_change_it() {
        let x = tone(7 * HOP + 123);
        let mut plain = vec![0.0; x.len()];
        Denoiser::new(UnityEstimator).process(&x, &mut plain);
        let mut engine = Denoiser::new(UnityEstimator);
        let mut halved = vec![0.0; x.len()];
        let mut hops = 0;
        for (i, o) in x.chunks(100).zip(halved.chunks_mut(100)) {
            engine.process_with(i, o, |p, hop| {
                assert_eq!(hop.len(), HOP);
                assert!((0.0..=1.0).contains(&p));
                hop.iter_mut().for_each(|v| *v *= 0.5);
                hops += 1;
            });
        }
        assert_eq!(hops, 7);
        for (h, p) in halved.iter().zip(&plain) {
            assert_eq!(*h, 0.5 * p);
        }
    }
}
