//! Removes a recording's stationary noise floor from the speech the targets are made of.
//!
//! The recorded training speech is not clean: its own floor sits 20-40 dB under the voice
//! (hiss, hum, room tone). A target made from it keeps that floor in every pause, and a network
//! trained on it learns to leave a floor of noise between words. So the target speech is
//! cleaned first, while the network's input keeps the recording as it is (the floor is then
//! one more noise to remove).
//!
//! With the engine's STFT (20 ms Vorbis window, 10 ms hop), per bin k and frame j:
//!
//! - smoothed power S(j, k): |X(j, k)|^2 averaged over `SMOOTH_FRAMES` frames and
//!   `SMOOTH_BINS` bins centred on (j, k);
//! - floor N(k): the mean of |X(j, k)|^2 over the quietest `QUIET_SHARE` of the frames (by
//!   their total energy): every file holds some pause, as the corpus keeps 100 ms around each
//!   trimmed utterance;
//! - gain G(j, k) = sqrt(max(0, 1 - `OVERSUBTRACTION` N(k) / S(j, k))): power subtraction with
//!   a margin, so a bin at the floor goes to zero and a bin 20 dB above it keeps 99 % of its
//!   power.
//!
//! Y = G X, then synthesis and overlap-add; the output is aligned with the input. A digitally
//! clean signal (TTS, silence) has N = 0 and passes unchanged.

use crate::dsp::stft::{OverlapAdd, Spectrum, Stft, ZERO_SPECTRUM};
use crate::{HOP, NB_BINS, WINDOW};

/// Frames averaged into the smoothed power (odd: centred).
const SMOOTH_FRAMES: usize = 5;
/// Bins averaged into the smoothed power (odd: centred).
const SMOOTH_BINS: usize = 3;
/// Share of the frames, the quietest, whose mean power spectrum is the floor.
const QUIET_SHARE: f32 = 0.1;
/// The floor averages at least this many frames.
const MIN_QUIET_FRAMES: usize = 4;
/// Power subtracted per unit of floor: a margin against the floor's fluctuations.
const OVERSUBTRACTION: f32 = 3.0;
/// Files with fewer frames than this are returned unchanged (no floor can be told apart).
const MIN_FRAMES: usize = 8;

/// The smoothed power S(j, k) of every frame (see the module docs).
fn smoothed_power(spectra: &[Spectrum]) -> Vec<[f32; NB_BINS]> {
    let frames = spectra.len();
    let mut across_bins = vec![[0.0f32; NB_BINS]; frames];
    for (row, x) in across_bins.iter_mut().zip(spectra) {
        for (k, v) in row.iter_mut().enumerate() {
            let lo = k.saturating_sub(SMOOTH_BINS / 2);
            let hi = (k + SMOOTH_BINS / 2).min(NB_BINS - 1);
            *v = x[lo..=hi].iter().map(|c| c.norm_sqr()).sum::<f32>() / (hi - lo + 1) as f32;
        }
    }
    let mut out = vec![[0.0f32; NB_BINS]; frames];
    for (j, row) in out.iter_mut().enumerate() {
        let lo = j.saturating_sub(SMOOTH_FRAMES / 2);
        let hi = (j + SMOOTH_FRAMES / 2).min(frames - 1);
        for k in 0..NB_BINS {
            row[k] = across_bins[lo..=hi].iter().map(|r| r[k]).sum::<f32>() / (hi - lo + 1) as f32;
        }
    }
    out
}

/// N(k) scaled by `OVERSUBTRACTION`: the mean power of the quietest frames.
fn floor_spectrum(spectra: &[Spectrum]) -> [f32; NB_BINS] {
    let mut by_energy: Vec<(f32, usize)> = spectra
        .iter()
        .enumerate()
        .map(|(j, s)| (s.iter().map(|c| c.norm_sqr()).sum(), j))
        .collect();
    by_energy.sort_by(|a, b| a.0.total_cmp(&b.0));
    let quiet = ((spectra.len() as f32 * QUIET_SHARE) as usize).max(MIN_QUIET_FRAMES);
    let mut floor = [0.0f32; NB_BINS];
    for &(_, j) in &by_energy[..quiet.min(spectra.len())] {
        for (f, c) in floor.iter_mut().zip(&spectra[j]) {
            *f += c.norm_sqr();
        }
    }
    let scale = OVERSUBTRACTION / quiet as f32;
    floor.iter_mut().for_each(|f| *f *= scale);
    floor
}

/// `x` with its stationary noise floor removed (same length, time-aligned).
pub fn remove_floor(x: &[f32]) -> Vec<f32> {
    // Frame j covers samples (j - 1) N .. (j + 1) N of x (one hop of zeros before the start).
    let frames = x.len().div_ceil(HOP) + 1;
    if frames < MIN_FRAMES {
        return x.to_vec();
    }
    let mut padded = vec![0.0f32; (frames + 1) * HOP];
    padded[HOP..HOP + x.len()].copy_from_slice(x);
    let mut stft = Stft::new();
    let mut spectra = vec![ZERO_SPECTRUM; frames];
    for (j, s) in spectra.iter_mut().enumerate() {
        stft.analyze(&padded[j * HOP..j * HOP + WINDOW], s);
    }
    let power = smoothed_power(&spectra);
    let floor = floor_spectrum(&spectra);
    let mut ola = OverlapAdd::new();
    let mut synth = [0.0f32; WINDOW];
    let mut out = vec![0.0f32; frames * HOP];
    for (j, (s, p)) in spectra.iter_mut().zip(&power).enumerate() {
        for ((c, pk), nk) in s.iter_mut().zip(p).zip(&floor) {
            let g = if *pk > 0.0 {
                (1.0 - nk / pk).max(0.0).sqrt()
            } else {
                0.0
            };
            *c *= g;
        }
        stft.synthesize(s, &mut synth);
        ola.push(&synth, &mut out[j * HOP..(j + 1) * HOP]);
    }
    // Frame j's first half is hop j of `padded`, finished by overlap-add when frame j is
    // pushed: out = padded, and x starts one hop in.
    out.drain(..HOP);
    out.resize(x.len(), 0.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SAMPLE_RATE;

    /// A deterministic uniform noise in [-1, 1].
    fn noise(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.max(1);
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as f32 / u32::MAX as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum()
    }

    fn db(a: f32, b: f32) -> f32 {
        10.0 * (a / b).log10()
    }

    /// 0.5 s pause, 1 s of a 150 Hz harmonic "voice", 0.5 s pause; the floor is white noise
    /// 30 dB under the voice.
    fn speech_with_floor() -> (Vec<f32>, Vec<f32>, std::ops::Range<usize>) {
        let sr = SAMPLE_RATE as usize;
        let voiced = sr / 2..3 * sr / 2;
        let mut voice = vec![0.0f32; 2 * sr];
        for (n, v) in voice[voiced.clone()].iter_mut().enumerate() {
            let t = n as f32 / sr as f32;
            *v = (1..=20)
                .map(|h| (2.0 * std::f32::consts::PI * 150.0 * h as f32 * t).sin() / h as f32)
                .sum::<f32>()
                * 0.1;
        }
        let ev = energy(&voice[voiced.clone()]) / voiced.len() as f32;
        let mut floor = noise(voice.len(), 7);
        let ef = energy(&floor) / floor.len() as f32;
        let k = (ev / ef * 1e-3).sqrt();
        floor.iter_mut().for_each(|v| *v *= k);
        (voice, floor, voiced)
    }

    #[test]
    fn floor_goes_and_the_voice_stays() {
        let (voice, floor, voiced) = speech_with_floor();
        let x: Vec<f32> = voice.iter().zip(&floor).map(|(a, b)| a + b).collect();
        let y = remove_floor(&x);
        assert_eq!(y.len(), x.len());
        // The pauses (away from the voice's edges) lose at least 30 dB of floor.
        let pause = 2 * HOP..voiced.start - 8 * HOP;
        let left = db(energy(&y[pause.clone()]), energy(&x[pause]));
        assert!(left < -30.0, "floor left in the pause: {left:.1} dB");
        // The voice keeps its energy within 0.3 dB and its waveform to 25 dB SNR.
        let body = voiced.start + 2000..voiced.end - 2000;
        let kept = db(energy(&y[body.clone()]), energy(&voice[body.clone()]));
        assert!(kept.abs() < 0.3, "voice level changed by {kept:.2} dB");
        let err: f32 = y[body.clone()]
            .iter()
            .zip(&voice[body.clone()])
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        let snr = db(energy(&voice[body]), err);
        assert!(snr > 25.0, "voice waveform SNR {snr:.1} dB");
    }

    #[test]
    fn a_clean_signal_passes_unchanged() {
        let (voice, _, _) = speech_with_floor();
        let y = remove_floor(&voice);
        let err: f32 = y.iter().zip(&voice).map(|(a, b)| (a - b).powi(2)).sum();
        assert!(db(energy(&voice), err) > 80.0);
    }

    #[test]
    fn short_files_are_left_alone() {
        let x = noise(3 * HOP, 3);
        assert_eq!(remove_floor(&x), x);
    }
}
