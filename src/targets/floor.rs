//! Removes a recording's stationary noise floor from the speech the targets are made of.
//!
//! The recorded training speech is not clean: its own floor sits 20-40 dB under the voice
//! (hiss, hum, room tone). A target made from it keeps that floor in every pause, and a network
//! trained on it learns to leave a floor of noise between words. So the target speech is
//! cleaned first, while the network's input keeps the recording as it is (the floor is then
//! one more noise to remove).
//!
//! The cleaning is a gate on whole frames: the pauses lose the floor, the frames with speech
//! are left exactly as they are. Removing the floor under the voice too, band by band, was
//! measured and rejected: it also removes the voice's weak parts (the highs of a recording
//! with a floor 25 dB down), and a network taught that dulls real speech (PESQ-WB of the
//! cleaned speech against the recording: 3.37 band by band, 3.48 bin by bin by spectral
//! subtraction, against 4.34 for a perfect removal). With the engine's STFT (20 ms Vorbis
//! window, 10 ms hop), per frame j:
//!
//! - E(j): the frame's energy averaged over `SMOOTH_FRAMES` frames centred on j;
//! - floor F: the mean energy of the quietest `QUIET_SHARE` of the frames: every file holds
//!   some pause, as the corpus keeps 100 ms around each trimmed utterance;
//! - with the frame's level over the floor L = 10 log10(E / F) dB, the frame keeps the power
//!   share m = clamp((L - `OPEN_FROM_DB`) / (`OPEN_FULL_DB` - `OPEN_FROM_DB`), 0, 1): nothing at
//!   the floor, everything from `OPEN_FULL_DB` above it.
//!
//! Each frame's spectrum is scaled by sqrt(m), then synthesis and overlap-add smooth the
//! steps; the output is aligned with the input. A digitally clean signal (TTS, silence) has
//! F = 0 and passes unchanged.

use crate::dsp::stft::{OverlapAdd, Stft, ZERO_SPECTRUM};
use crate::{HOP, WINDOW};

/// Frames averaged into a frame's smoothed energy (odd: centred).
const SMOOTH_FRAMES: usize = 3;
/// Share of the frames, the quietest, whose mean energy is the floor.
const QUIET_SHARE: f32 = 0.1;
/// The floor averages at least this many frames.
const MIN_QUIET_FRAMES: usize = 4;
/// A frame this close to the floor (dB) is silenced...
const OPEN_FROM_DB: f32 = 3.0;
/// ...and one this far above it is kept whole.
const OPEN_FULL_DB: f32 = 9.0;
/// Files with fewer frames than this are returned unchanged (no floor can be told apart).
const MIN_FRAMES: usize = 8;

/// F: the mean energy of the quietest frames.
fn floor_energy(energies: &[f32]) -> f32 {
    let mut sorted = energies.to_vec();
    sorted.sort_by(f32::total_cmp);
    let quiet = ((energies.len() as f32 * QUIET_SHARE) as usize)
        .max(MIN_QUIET_FRAMES)
        .min(energies.len());
    sorted[..quiet].iter().sum::<f32>() / quiet as f32
}

/// The power share m kept by a frame `level_db` above the floor (see the module docs).
fn kept_share(level_db: f32) -> f32 {
    ((level_db - OPEN_FROM_DB) / (OPEN_FULL_DB - OPEN_FROM_DB)).clamp(0.0, 1.0)
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
    let mut energies = vec![0.0f32; frames];
    for (j, (s, e)) in spectra.iter_mut().zip(&mut energies).enumerate() {
        stft.analyze(&padded[j * HOP..j * HOP + WINDOW], s);
        *e = s.iter().map(|c| c.norm_sqr()).sum();
    }
    let floor = floor_energy(&energies);
    let mut ola = OverlapAdd::new();
    let mut synth = [0.0f32; WINDOW];
    let mut out = vec![0.0f32; frames * HOP];
    for (j, s) in spectra.iter_mut().enumerate() {
        let lo = j.saturating_sub(SMOOTH_FRAMES / 2);
        let hi = (j + SMOOTH_FRAMES / 2).min(frames - 1);
        let e = energies[lo..=hi].iter().sum::<f32>() / (hi - lo + 1) as f32;
        let g = if floor <= 0.0 {
            1.0
        } else if e <= 0.0 {
            0.0
        } else {
            kept_share(10.0 * (e / floor).log10()).sqrt()
        };
        s.iter_mut().for_each(|c| *c *= g);
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
