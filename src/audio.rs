//! WAV file input/output and the signal measures the CLI reports.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// A decoded audio file: one `Vec` per channel, samples in [-1, 1].
#[derive(Clone, Debug)]
pub struct Audio {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
    /// The file's sample format, to write results back in the same one.
    pub spec: hound::WavSpec,
}

impl Audio {
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// The average of all channels.
    pub fn to_mono(&self) -> Vec<f32> {
        let n = self.channels.len().max(1) as f32;
        (0..self.frames())
            .map(|i| self.channels.iter().map(|c| c[i]).sum::<f32>() / n)
            .collect()
    }
}

/// Reads a WAV or FLAC file (chosen by the `.flac` extension) into per-channel samples.
pub fn read_audio(path: &Path) -> Result<Audio> {
    let is_flac = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("flac"));
    if is_flac {
        read_flac(path)
    } else {
        read_wav(path)
    }
}

/// Reads a FLAC file (any bit depth) into per-channel f32 samples.
pub fn read_flac(path: &Path) -> Result<Audio> {
    let mut reader = claxon::FlacReader::open(path)
        .with_context(|| format!("cannot read FLAC file {}", path.display()))?;
    let info = reader.streaminfo();
    let nch = info.channels as usize;
    let scale = 1.0 / (1u64 << (info.bits_per_sample - 1)) as f32;
    let mut channels = vec![Vec::new(); nch];
    for (i, s) in reader.samples().enumerate() {
        let s = s.with_context(|| format!("{}: corrupt FLAC data", path.display()))?;
        channels[i % nch].push(s as f32 * scale);
    }
    let spec = hound::WavSpec {
        channels: info.channels as u16,
        sample_rate: info.sample_rate,
        bits_per_sample: info.bits_per_sample as u16,
        sample_format: hound::SampleFormat::Int,
    };
    Ok(Audio {
        sample_rate: info.sample_rate,
        channels,
        spec,
    })
}

/// Reads a WAV file (PCM 8/16/24/32-bit or 32-bit float) into per-channel f32 samples.
pub fn read_wav(path: &Path) -> Result<Audio> {
    let reader = hound::WavReader::open(path)
        .with_context(|| format!("cannot read WAV file {}", path.display()))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        bail!("{}: WAV file declares no channels", path.display());
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .with_context(|| format!("{}: corrupt or truncated WAV data", path.display()))?;
    let nch = spec.channels as usize;
    let mut channels = vec![Vec::with_capacity(interleaved.len() / nch); nch];
    for frame in interleaved.chunks_exact(nch) {
        for (c, s) in channels.iter_mut().zip(frame) {
            c.push(*s);
        }
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        channels,
        spec,
    })
}

/// Writes per-channel samples with the given spec (integer formats are clipped to range).
pub fn write_wav(path: &Path, channels: &[Vec<f32>], spec: hound::WavSpec) -> Result<()> {
    let mut spec = spec;
    spec.channels = channels.len() as u16;
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let frames = channels.first().map_or(0, Vec::len);
    let full_scale = (1u64 << (spec.bits_per_sample.max(1) - 1)) as f32;
    for i in 0..frames {
        for c in channels {
            match spec.sample_format {
                hound::SampleFormat::Float => w.write_sample(c[i])?,
                hound::SampleFormat::Int => {
                    let v = (c[i] * full_scale)
                        .round()
                        .clamp(-full_scale, full_scale - 1.0);
                    w.write_sample(v as i32)?
                }
            }
        }
    }
    w.finalize()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}

/// A 32-bit float WAV spec at `sample_rate` (channel count is set when writing).
pub fn float_spec(sample_rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    }
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// SNR = 10 log10(sum s^2 / sum (s - e)^2) in dB.
pub fn snr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    let err: f64 = reference
        .iter()
        .zip(estimate)
        .map(|(&s, &e)| (f64::from(s) - f64::from(e)).powi(2))
        .sum();
    10.0 * (energy(reference) / err.max(1e-20)).log10()
}

/// Scale-invariant SDR: with zero-mean s and e, s_t = (<e, s> / <s, s>) s,
/// SI-SDR = 10 log10(|s_t|^2 / |e - s_t|^2) in dB.
pub fn si_sdr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    let n = reference.len().min(estimate.len());
    let mean = |x: &[f32]| x[..n].iter().map(|&v| f64::from(v)).sum::<f64>() / n.max(1) as f64;
    let (ms, me) = (mean(reference), mean(estimate));
    let s: Vec<f64> = reference[..n].iter().map(|&v| f64::from(v) - ms).collect();
    let e: Vec<f64> = estimate[..n].iter().map(|&v| f64::from(v) - me).collect();
    let dot: f64 = s.iter().zip(&e).map(|(a, b)| a * b).sum();
    let ss: f64 = s.iter().map(|a| a * a).sum();
    let alpha = dot / ss.max(1e-20);
    let (mut num, mut den) = (0.0, 0.0);
    for (a, b) in s.iter().zip(&e) {
        let t = alpha * a;
        num += t * t;
        den += (b - t) * (b - t);
    }
    10.0 * (num / den.max(1e-20)).log10()
}

/// Mixes `noise` (looped to length) into `clean` at `snr_db` (ratio of total energies).
pub fn mix_at_snr(clean: &[f32], noise: &[f32], snr_db: f32) -> Result<Vec<f32>> {
    if noise.is_empty() || energy(noise) == 0.0 {
        bail!("the noise file is empty or silent");
    }
    let looped: Vec<f32> = noise.iter().copied().cycle().take(clean.len()).collect();
    let gain = (energy(clean) / energy(&looped).max(1e-20) / 10f64.powf(f64::from(snr_db) / 10.0))
        .sqrt() as f32;
    Ok(clean
        .iter()
        .zip(&looped)
        .map(|(s, n)| s + gain * n)
        .collect())
}
