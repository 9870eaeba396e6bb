//! Training data: mixes speech and noise with the augmentations of `docs/ALGORITHM.md`, runs the
//! engine with the oracle on them, and writes features and targets (`.pnf`, see
//! `docs/FORMATS.md`). The features come from exactly the code the plugin runs.

use std::f32::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use crate::denoiser::{Denoiser, DenoiserParams, NB_FEATURES};
use crate::targets::oracle::{Oracle, OracleOptions};
use crate::targets::{floor, hum};
use crate::{HOP, LATENCY, LOOKAHEAD_FRAMES, NB_BANDS, SAMPLE_RATE, WINDOW};

/// `.pnf` magic and version.
pub const FEATURES_MAGIC: &[u8; 8] = b"PNFEAT01";
pub const FEATURES_VERSION: u32 = 2;
/// f32 values per record: features, gains, strengths, care mask, speech presence.
pub const RECORD_LEN: usize = NB_FEATURES + 3 * NB_BANDS + 1;
/// A frame holds speech when the target's power in its window is within this many dB of the
/// speech's active level (the mean power of its 20 ms frames within 40 dB of the loudest).
const PRESENCE_BELOW_ACTIVE_DB: f32 = 30.0;
/// Frames more than this far under the loudest do not count in the active level.
const ACTIVE_RANGE_DB: f32 = 40.0;
/// Reverberant speech: the target keeps the direct sound and early reflections (50 ms).
const EARLY_REFLECTIONS_S: f32 = 0.05;

/// One speech or noise source: a 48 kHz WAV or FLAC file and its measured bandwidth.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub bandwidth_hz: f32,
}

/// Reads a list file: one `path[,bandwidth_hz]` per line (`#` comments); relative paths are
/// relative to the list's folder.
pub fn read_list(list: &Path) -> Result<Vec<Source>> {
    let text =
        std::fs::read_to_string(list).with_context(|| format!("cannot read {}", list.display()))?;
    let base = list.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(',');
        let path = base.join(parts.next().unwrap_or_default().trim());
        let bandwidth_hz = match parts.next() {
            Some(b) => b
                .trim()
                .parse()
                .with_context(|| format!("{}:{}: bad bandwidth", list.display(), i + 1))?,
            None => SAMPLE_RATE as f32 / 2.0,
        };
        out.push(Source { path, bandwidth_hz });
    }
    if out.is_empty() {
        bail!("{}: no sources listed", list.display());
    }
    Ok(out)
}

/// Augmentation settings.
#[derive(Clone, Debug)]
pub struct MixConfig {
    /// Length of one mixed sequence in seconds.
    pub segment_s: f32,
    pub snr_min_db: f32,
    pub snr_max_db: f32,
    /// Probability that a sequence has no speech / no noise.
    pub p_noise_only: f64,
    pub p_speech_only: f64,
    /// Probability of reverberation on the speech (when impulse responses are given).
    pub p_reverb: f64,
    /// Probability of a random low-pass on the mix.
    pub p_lowpass: f64,
    /// Remove each speech file's stationary noise floor from the target ([`floor`]); the
    /// input keeps the recording as it is.
    pub clean_floor: bool,
    /// Probability that the input also gets mains hum ([`hum::mains_hum`]), at
    /// [`HUM_BELOW_SPEECH_DB`] under the speech's level, also in mixes without speech or
    /// without other noise. Drawn after everything else, so 0 gives the mixes of the same seed
    /// as before this option existed.
    pub p_hum: f64,
}

/// Level of the mains hum under the speech's RMS level, dB (drawn uniformly).
pub const HUM_BELOW_SPEECH_DB: std::ops::Range<f32> = 10.0..40.0;

impl Default for MixConfig {
    fn default() -> Self {
        Self {
            segment_s: 20.0,
            snr_min_db: -5.0,
            snr_max_db: 30.0,
            p_noise_only: 0.05,
            // Noise-free speech is where the network learns to leave the highs alone (the
            // issue's fullband criterion); 5 % left 16-20 kHz 4.6 dB down on clean speech.
            p_speech_only: 0.10,
            p_reverb: 0.2,
            p_lowpass: 0.15,
            clean_floor: true,
            p_hum: 0.0,
        }
    }
}

/// Reads a 48 kHz WAV or FLAC file as mono.
fn load(path: &Path) -> Result<Vec<f32>> {
    let a = crate::offline::audio::read_audio(path)?;
    if a.sample_rate != SAMPLE_RATE {
        bail!(
            "{}: {} Hz, training sources must be {} Hz",
            path.display(),
            a.sample_rate,
            SAMPLE_RATE
        );
    }
    Ok(a.to_mono())
}

/// Direct-form biquad y(n) = x(n) + b1 x(n-1) + b2 x(n-2) - a1 y(n-1) - a2 y(n-2), in place.
pub fn biquad(x: &mut [f32], b: [f32; 2], a: [f32; 2]) {
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for v in x.iter_mut() {
        let y = *v + b[0] * x1 + b[1] * x2 - a[0] * y1 - a[1] * y2;
        x2 = x1;
        x1 = *v;
        y2 = y1;
        y1 = y;
        *v = y;
    }
}

/// A random spectral tilt/colouring as in RNNoise: a second-order filter with zeros and
/// poles drawn in [-3/8, 3/8] (always stable), applied to every signal of `xs`.
pub fn random_filter(rng: &mut StdRng, xs: &mut [&mut Vec<f32>]) {
    let mut r = || rng.random_range(-0.375f32..0.375);
    let (b, a) = ([r(), r()], [r(), r()]);
    for x in xs {
        biquad(x, b, a);
    }
}

/// Second-order Butterworth low-pass at `fc` Hz (bilinear transform), in place.
pub fn lowpass(x: &mut [f32], fc: f32) {
    let k = (PI * fc / SAMPLE_RATE as f32).tan();
    let norm = 1.0 / (1.0 + std::f32::consts::SQRT_2 * k + k * k);
    let b0 = k * k * norm;
    let a1 = 2.0 * (k * k - 1.0) * norm;
    let a2 = (1.0 - std::f32::consts::SQRT_2 * k + k * k) * norm;
    biquad(x, [2.0, 1.0], [a1, a2]);
    x.iter_mut().for_each(|v| *v *= b0);
}

/// Linear convolution y = x * h by FFT, truncated to `x.len()`.
pub fn fft_convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    let n = (x.len() + h.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let spectrum = |v: &[f32]| {
        let mut buf = vec![0.0; n];
        buf[..v.len()].copy_from_slice(v);
        let mut out = vec![Complex32::new(0.0, 0.0); n / 2 + 1];
        let _ = fwd.process(&mut buf, &mut out);
        out
    };
    let mut xs = spectrum(x);
    let hs = spectrum(h);
    xs.iter_mut().zip(&hs).for_each(|(a, b)| *a *= b);
    xs[0].im = 0.0;
    xs[n / 2].im = 0.0;
    let mut y = vec![0.0; n];
    let _ = inv.process(&mut xs, &mut y);
    y.truncate(x.len());
    let scale = 1.0 / n as f32;
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

fn energy(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum()
}

/// `len` samples made of random excerpts of random sources: as recorded, and (when asked)
/// with each file's noise floor removed; the lowest bandwidth among the files used.
struct Filled {
    raw: Vec<f32>,
    clean: Option<Vec<f32>>,
    bandwidth_hz: f32,
}

/// Fills `len` samples with random excerpts of random sources, with short random gaps when
/// `gaps` (speech). With `clean_floor`, also the same excerpts with their floor removed.
fn fill_from(
    rng: &mut StdRng,
    sources: &[Source],
    len: usize,
    gaps: bool,
    clean_floor: bool,
) -> Result<Filled> {
    let mut raw = Vec::with_capacity(len);
    let mut clean = clean_floor.then(|| Vec::with_capacity(len));
    let mut bandwidth_hz = f32::MAX;
    while raw.len() < len {
        let s = &sources[rng.random_range(0..sources.len())];
        let audio = load(&s.path)?;
        if audio.is_empty() {
            continue;
        }
        bandwidth_hz = bandwidth_hz.min(s.bandwidth_hz);
        let start = if audio.len() > len {
            rng.random_range(0..audio.len() - len / 2)
        } else {
            0
        };
        let take = (audio.len() - start).min(len - raw.len());
        raw.extend_from_slice(&audio[start..start + take]);
        if let Some(c) = clean.as_mut() {
            c.extend_from_slice(&floor::remove_floor(&audio)[start..start + take]);
        }
        if gaps && rng.random_bool(0.3) {
            let gap = rng
                .random_range(0..SAMPLE_RATE as usize / 2)
                .min(len - raw.len());
            raw.extend(std::iter::repeat_n(0.0, gap));
            if let Some(c) = clean.as_mut() {
                c.extend(std::iter::repeat_n(0.0, gap));
            }
        }
    }
    Ok(Filled {
        raw,
        clean,
        bandwidth_hz,
    })
}

/// One augmented training pair: the noisy input, the target speech and its bandwidth.
pub struct Mix {
    pub noisy: Vec<f32>,
    pub target: Vec<f32>,
    pub bandwidth_hz: f32,
}

/// Builds one augmented mix of `cfg.segment_s` seconds.
pub fn make_mix(
    rng: &mut StdRng,
    speech: &[Source],
    noise: &[Source],
    irs: &[Vec<f32>],
    cfg: &MixConfig,
) -> Result<Mix> {
    let len = (cfg.segment_s * SAMPLE_RATE as f32) as usize;
    let Filled {
        raw: mut s,
        clean,
        bandwidth_hz: bandwidth,
    } = fill_from(rng, speech, len, true, cfg.clean_floor)?;
    let mut n = fill_from(rng, noise, len, false, false)?.raw;
    // The target is the speech without its recording's floor, filtered like the input.
    let mut target = clean.unwrap_or_else(|| s.clone());
    random_filter(rng, &mut [&mut s, &mut target]);
    random_filter(rng, &mut [&mut n]);
    // Reverberation: the input hears the whole response, the target only its early part.
    if !irs.is_empty() && rng.random_bool(cfg.p_reverb) {
        let h = &irs[rng.random_range(0..irs.len())];
        let peak = h
            .iter()
            .enumerate()
            .fold(
                (0, 0.0f32),
                |m, (i, v)| if v.abs() > m.1 { (i, v.abs()) } else { m },
            )
            .0;
        let early = (peak + (EARLY_REFLECTIONS_S * SAMPLE_RATE as f32) as usize).min(h.len());
        s = fft_convolve(&s, h);
        target = fft_convolve(&target, &h[..early]);
    }
    // Levels: speech at a random level, noise at a random SNR.
    let es = energy(&target).max(1e-9);
    let speech_rms = 10f32.powf(rng.random_range(-40.0f32..-15.0) / 20.0);
    let speech_gain = speech_rms / (es / len as f32).sqrt();
    let snr = rng.random_range(cfg.snr_min_db..cfg.snr_max_db);
    let noise_gain = speech_gain * (es / energy(&n).max(1e-9)).sqrt() * 10f32.powf(-snr / 20.0);
    let (speech_gain, noise_gain) = if rng.random_bool(cfg.p_noise_only) {
        (0.0, noise_gain)
    } else if rng.random_bool(cfg.p_speech_only) {
        (speech_gain, 0.0)
    } else {
        (speech_gain, noise_gain)
    };
    let mut noisy: Vec<f32> = s
        .iter()
        .zip(&n)
        .map(|(a, b)| speech_gain * a + noise_gain * b)
        .collect();
    target.iter_mut().for_each(|v| *v *= speech_gain);
    let mut bandwidth_hz = bandwidth;
    let mut cutoff = None;
    if rng.random_bool(cfg.p_lowpass) {
        let fc = rng.random_range(3000.0f32..20000.0);
        lowpass(&mut noisy, fc);
        lowpass(&mut target, fc);
        bandwidth_hz = bandwidth_hz.min(fc);
        cutoff = Some(fc);
    }
    // Mains hum in the input only (so the network learns to remove it), through the same
    // low-pass as the rest of the mix.
    if cfg.p_hum > 0.0 && rng.random_bool(cfg.p_hum) {
        let below_db = rng.random_range(HUM_BELOW_SPEECH_DB);
        let mut h = hum::mains_hum(rng, noisy.len());
        if let Some(fc) = cutoff {
            lowpass(&mut h, fc);
        }
        let gain = speech_rms * 10f32.powf(-below_db / 20.0);
        noisy.iter_mut().zip(&h).for_each(|(x, v)| *x += gain * v);
    }
    Ok(Mix {
        noisy,
        target,
        bandwidth_hz,
    })
}

/// Runs the engine with the oracle on one mix and appends one record per hop to `out`.
/// Every band counts where the mix has energy, also above the speech's bandwidth: there the
/// target is the (near-zero) gain that removes the noise, which the network must learn for
/// band-limited voices in fullband noise.
pub fn mix_records(mix: &Mix, out: &mut Vec<f32>) {
    let mut engine = Denoiser::new(Oracle::new(OracleOptions { comb: true }));
    engine.set_params(DenoiserParams {
        attenuation_limit_db: 100.0,
        post_filter: 0.0,
    });
    let mut y = [0.0; HOP];
    let frames = mix.noisy.len() / HOP;
    let presence = speech_presence(&mix.target, frames);
    // The first frames see the engine's zero history: skip them.
    let warmup = LATENCY / HOP + 1;
    for j in 0..frames {
        let r = j * HOP..(j + 1) * HOP;
        engine.estimator_mut().push_clean(&mix.target[r.clone()]);
        engine.process_hop(&mix.noisy[r], &mut y);
        if j < warmup {
            continue;
        }
        let o = engine.estimator();
        out.extend_from_slice(&o.features);
        out.extend_from_slice(&o.targets.gain);
        out.extend_from_slice(&o.targets.strength);
        out.extend(o.care.iter().map(|&c| if c { 1.0 } else { 0.0 }));
        out.push(presence[j - LOOKAHEAD_FRAMES]);
    }
}

/// Speech presence label (1.0 or 0.0) of every frame t of `target`: frame t's window is
/// samples (t - 1) N .. (t + 1) N, as the engine sees it after hop t. A frame holds speech when
/// its power is at most `PRESENCE_BELOW_ACTIVE_DB` under the speech's active level; a target
/// of silence has no speech anywhere.
pub fn speech_presence(target: &[f32], frames: usize) -> Vec<f32> {
    let power: Vec<f32> = (0..frames)
        .map(|t| {
            let a = (t * HOP).saturating_sub(HOP).min(target.len());
            let b = ((t + 1) * HOP).min(target.len());
            energy(&target[a..b]) / WINDOW as f32
        })
        .collect();
    let loudest = power.iter().copied().fold(0.0f32, f32::max);
    if loudest <= 0.0 {
        return vec![0.0; frames];
    }
    let range = 10f32.powf(-ACTIVE_RANGE_DB / 10.0) * loudest;
    let (sum, n) = power
        .iter()
        .filter(|&&p| p >= range)
        .fold((0.0f64, 0usize), |(s, n), &p| (s + p as f64, n + 1));
    let threshold = (sum / n as f64) as f32 * 10f32.powf(-PRESENCE_BELOW_ACTIVE_DB / 10.0);
    power
        .iter()
        .map(|&p| if p >= threshold { 1.0 } else { 0.0 })
        .collect()
}

/// Writes records to a `.pnf` file.
pub fn write_features(path: &Path, records: &[f32]) -> Result<()> {
    let frames = records.len() / RECORD_LEN;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    f.write_all(FEATURES_MAGIC)?;
    for v in [
        FEATURES_VERSION,
        NB_FEATURES as u32,
        NB_BANDS as u32,
        frames as u32,
    ] {
        f.write_all(&v.to_le_bytes())?;
    }
    for v in &records[..frames * RECORD_LEN] {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()?;
    Ok(())
}

/// Makes `count` mixes with seeds `seed..seed + count` and writes them to `path`.
pub fn generate(
    path: &Path,
    speech: &[Source],
    noise: &[Source],
    irs: &[Vec<f32>],
    cfg: &MixConfig,
    seed: u64,
    count: usize,
) -> Result<usize> {
    use rayon::prelude::*;
    let chunks: Vec<Result<Vec<f32>>> = (0..count)
        .into_par_iter()
        .map(|i| {
            let mut rng =
                StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
            let mix = make_mix(&mut rng, speech, noise, irs, cfg)?;
            let mut rec = Vec::new();
            mix_records(&mix, &mut rec);
            Ok(rec)
        })
        .collect();
    let mut all = Vec::new();
    for c in chunks {
        all.extend(c?);
    }
    write_features(path, &all)?;
    Ok(all.len() / RECORD_LEN)
}

/// Loads impulse responses listed in a list file.
pub fn load_irs(list: &Path) -> Result<Vec<Vec<f32>>> {
    read_list(list)?.iter().map(|s| load(&s.path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_convolution_matches_direct() {
        let x: Vec<f32> = (0..300).map(|i| ((i * 37) % 17) as f32 - 8.0).collect();
        let h = [0.5, -0.25, 0.125, 1.0];
        let y = fft_convolve(&x, &h);
        for n in 0..x.len() {
            let d: f32 = (0..h.len())
                .filter(|&k| k <= n)
                .map(|k| h[k] * x[n - k])
                .sum();
            assert!((y[n] - d).abs() < 1e-3, "{n}");
        }
    }

    #[test]
    fn presence_follows_the_speech() {
        // 0.5 s of silence, 0.5 s of a loud tone, 0.5 s at -20 dB, 0.5 s at -40 dB.
        let sr = SAMPLE_RATE as usize;
        let mut x = vec![0.0f32; 2 * sr];
        for (n, v) in x.iter_mut().enumerate().skip(sr / 2) {
            let level = [1.0, 0.1, 0.01][(n - sr / 2) / (sr / 2)];
            *v = level * (n as f32 * 0.05).sin();
        }
        let frames = x.len() / HOP;
        let p = speech_presence(&x, frames);
        let per_s = |a: usize| p[a * 50 + 5..a * 50 + 45].iter().sum::<f32>() / 40.0;
        assert_eq!(per_s(0), 0.0, "silence");
        assert_eq!(per_s(1), 1.0, "speech");
        assert_eq!(per_s(2), 1.0, "speech 20 dB down");
        assert_eq!(per_s(3), 0.0, "40 dB down is a pause");
        // A frame's window reaches one hop back: frame 50 (0.5 s) already sees the onset.
        assert_eq!(p[50], 1.0);
        assert_eq!(p[49], 0.0);
        assert!(speech_presence(&vec![0.0; 4800], 10)
            .iter()
            .all(|&v| v == 0.0));
    }

    /// With `p_hum` 1 the mix of a seed is the one without hum plus hum in the input alone:
    /// the same target and bandwidth, the input changed by a 50/60 Hz series at 10-40 dB under
    /// the speech's level (also through a low-pass).
    #[test]
    fn hum_is_added_to_the_input_only_under_the_speech() {
        let dir = std::env::temp_dir().join(format!("pn-hum-mix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let tone: Vec<f32> = (0..SAMPLE_RATE as usize)
            .map(|n| 0.3 * (n as f32 * 0.031).sin() * (n as f32 * 0.0007).sin())
            .collect();
        let mut s = 1u32;
        let hiss: Vec<f32> = (0..SAMPLE_RATE as usize)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let (speech_path, noise_path) = (dir.join("speech.wav"), dir.join("noise.wav"));
        crate::offline::audio::write_wav(&speech_path, &[tone], spec).unwrap();
        crate::offline::audio::write_wav(&noise_path, &[hiss], spec).unwrap();
        let fullband = |path| Source {
            path,
            bandwidth_hz: 24_000.0,
        };
        let (speech, noise) = ([fullband(speech_path)], [fullband(noise_path)]);
        for p_lowpass in [0.0, 1.0] {
            let plain = MixConfig {
                segment_s: 2.0,
                p_noise_only: 0.0,
                p_speech_only: 0.0,
                p_lowpass,
                clean_floor: false,
                ..MixConfig::default()
            };
            let hummed = MixConfig {
                p_hum: 1.0,
                ..plain.clone()
            };
            for seed in 0..4 {
                let mix = |cfg: &MixConfig| {
                    make_mix(&mut StdRng::seed_from_u64(seed), &speech, &noise, &[], cfg).unwrap()
                };
                let (a, b) = (mix(&plain), mix(&hummed));
                assert_eq!(a.target, b.target);
                assert_eq!(a.bandwidth_hz, b.bandwidth_hz);
                let rms = |x: &[f32]| (energy(x) / x.len() as f32).sqrt();
                let diff: Vec<f32> = b.noisy.iter().zip(&a.noisy).map(|(x, y)| x - y).collect();
                let below = 20.0 * (rms(&a.target) / rms(&diff)).log10();
                // The speech's RMS is exact without a low-pass; a low-pass takes some of both.
                let margin = if p_lowpass > 0.0 { 6.0 } else { 0.1 };
                assert!(
                    (HUM_BELOW_SPEECH_DB.start - margin..HUM_BELOW_SPEECH_DB.end + margin)
                        .contains(&below),
                    "seed {seed}, low-pass {p_lowpass}: hum {below} dB under the speech"
                );
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn lowpass_passes_dc_and_stops_nyquist() {
        let mut dc = vec![1.0; 2000];
        lowpass(&mut dc, 4000.0);
        assert!((dc[1999] - 1.0).abs() < 1e-3);
        let mut ny: Vec<f32> = (0..2000)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        lowpass(&mut ny, 4000.0);
        assert!(ny[1999].abs() < 1e-3);
    }
}
