//! WAV and FLAC input/output and the signal measures the CLI reports.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

/// The lowest and highest sample rates a file may declare (Hz); outside this range the file is
/// refused as corrupt rather than handed to the resampler.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// An audio file container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// RIFF WAVE: integer PCM of 8/16/24/32 bits or 32-bit float.
    Wav,
    /// FLAC: integer PCM of up to 24 bits.
    Flac,
}

impl Container {
    /// The container a file name asks for (`.wav` or `.flac`, any case), if any.
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "wav" => Some(Self::Wav),
            "flac" => Some(Self::Flac),
            _ => None,
        }
    }
}

/// A decoded audio file: one `Vec` per channel, samples in [-1, 1].
#[derive(Clone, Debug)]
pub struct Audio {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
    /// The file's sample format, to write results back in the same one.
    pub spec: hound::WavSpec,
    /// The container the file was read from.
    pub container: Container,
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

/// Reads a WAV or FLAC file into per-channel samples. A file is FLAC when it starts with the
/// FLAC signature or is named `.flac`; anything else is read as WAV.
pub fn read_audio(path: &Path) -> Result<Audio> {
    let is_flac = starts_with_flac_signature(path)
        || Container::from_extension(path) == Some(Container::Flac);
    let audio = if is_flac {
        read_flac(path)
    } else {
        read_wav(path)
    }?;
    if !SAMPLE_RATES.contains(&audio.sample_rate) {
        bail!(
            "{}: sample rate {} Hz is outside the supported {}-{} Hz",
            path.display(),
            audio.sample_rate,
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        );
    }
    Ok(audio)
}

/// Whether the file at `path` begins with the four bytes `fLaC` (false if it cannot be read:
/// the reader then reports the real error).
fn starts_with_flac_signature(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"fLaC")
}

/// Reads a FLAC file (any bit depth) into per-channel f32 samples.
pub fn read_flac(path: &Path) -> Result<Audio> {
    let mut reader = claxon::FlacReader::open(path)
        .with_context(|| format!("cannot read FLAC file {}", path.display()))?;
    let info = reader.streaminfo();
    let nch = info.channels as usize;
    if nch == 0 || !(4..=32).contains(&info.bits_per_sample) {
        bail!(
            "{}: unsupported FLAC stream ({} channels, {} bits)",
            path.display(),
            info.channels,
            info.bits_per_sample
        );
    }
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
        container: Container::Flac,
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
    if !(1..=32).contains(&spec.bits_per_sample) {
        bail!(
            "{}: unsupported WAV sample size ({} bits)",
            path.display(),
            spec.bits_per_sample
        );
    }
    // The common formats, packed (checked in the fmt chunk), in bulk; the rest through
    // hound's sample iterator (the same values, ten times slower).
    let bulk = matches!(
        (spec.sample_format, spec.bits_per_sample),
        (hound::SampleFormat::Int, 16) | (hound::SampleFormat::Float, 32)
    ) && (spec.bits_per_sample / 8)
        .checked_mul(spec.channels)
        .is_some_and(|align| wav_block_align(path) == Some(align));
    let interleaved: Vec<f32> = match spec.sample_format {
        _ if bulk => read_packed(reader, spec.sample_format),
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
    let channels = if nch == 1 {
        vec![interleaved]
    } else {
        let mut channels = vec![Vec::with_capacity(interleaved.len() / nch); nch];
        for frame in interleaved.chunks_exact(nch) {
            for (c, s) in channels.iter_mut().zip(frame) {
                c.push(*s);
            }
        }
        channels
    };
    Ok(Audio {
        sample_rate: spec.sample_rate,
        channels,
        spec,
        container: Container::Wav,
    })
}

/// The data of a WAV file of 16-bit integer or 32-bit float samples, packed, read straight
/// from the file as one block of bytes.
fn read_packed(
    reader: hound::WavReader<std::io::BufReader<std::fs::File>>,
    format: hound::SampleFormat,
) -> hound::Result<Vec<f32>> {
    let width = match format {
        hound::SampleFormat::Float => 4,
        hound::SampleFormat::Int => 2,
    };
    let mut bytes = vec![0u8; reader.len() as usize * width];
    reader.into_inner().read_exact(&mut bytes)?;
    Ok(match format {
        hound::SampleFormat::Float => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        hound::SampleFormat::Int => bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect(),
    })
}

/// The block align (bytes per frame of all channels) in a RIFF WAVE file's fmt chunk, if the
/// file has one where the chunk list says.
fn wav_block_align(path: &Path) -> Option<u16> {
    let mut f = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut header = [0u8; 12];
    f.read_exact(&mut header).ok()?;
    if &header[..4] != b"RIFF" || &header[8..] != b"WAVE" {
        return None;
    }
    loop {
        let mut chunk = [0u8; 8];
        f.read_exact(&mut chunk).ok()?;
        let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        if &chunk[..4] == b"fmt " {
            let mut fmt = [0u8; 14];
            f.read_exact(&mut fmt).ok()?;
            return Some(u16::from_le_bytes([fmt[12], fmt[13]]));
        }
        // Chunks are padded to an even length.
        let skip = u64::from(len) + u64::from(len % 2);
        std::io::copy(&mut (&mut f).take(skip), &mut std::io::sink()).ok()?;
    }
}

/// Writes per-channel samples to `path` in `container`, in the sample format of `spec` as
/// closely as the container allows (see [`write_wav`] and [`write_flac`]).
pub fn write_audio(
    path: &Path,
    channels: &[Vec<f32>],
    spec: hound::WavSpec,
    container: Container,
) -> Result<()> {
    match container {
        Container::Wav => write_wav(path, channels, spec),
        Container::Flac => write_flac(path, channels, spec),
    }
}

/// Converts a sample in [-1, 1] to a `bits`-bit signed integer: rounded to nearest, saturated
/// at the format's limits; NaN becomes 0.
pub fn quantize(x: f32, bits: u16) -> i32 {
    let full_scale = (1u64 << (bits.clamp(1, 32) - 1)) as f64;
    let v = (f64::from(x) * full_scale)
        .round()
        .clamp(-full_scale, full_scale - 1.0);
    // `as` maps NaN to 0; the value is already in range.
    v as i32
}

/// The WAV format that can hold samples of `spec`: integer depths hound cannot write (12, 20
/// bits, from FLAC) are widened to the next whole byte; float is written as 32-bit float.
pub fn wav_spec_for(spec: hound::WavSpec) -> hound::WavSpec {
    let bits_per_sample = match spec.sample_format {
        hound::SampleFormat::Float => 32,
        hound::SampleFormat::Int => spec.bits_per_sample.clamp(8, 32).div_ceil(8) * 8,
    };
    hound::WavSpec {
        bits_per_sample,
        ..spec
    }
}

/// Writes per-channel samples as WAV with the given spec (see [`wav_spec_for`]); integer
/// formats are rounded and saturated ([`quantize`]), non-finite float samples become 0.
pub fn write_wav(path: &Path, channels: &[Vec<f32>], spec: hound::WavSpec) -> Result<()> {
    let mut spec = wav_spec_for(spec);
    spec.channels = u16::try_from(channels.len())
        .map_err(|_| anyhow!("{}: too many channels", path.display()))?;
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let frames = channels.first().map_or(0, Vec::len);
    if spec.sample_format == hound::SampleFormat::Int && spec.bits_per_sample == 16 {
        // hound's buffered 16-bit writer: one bounds check per sample, not an io::Write call.
        // In blocks of 16384 frames, so its buffer stays small.
        u32::try_from(frames * channels.len())
            .map_err(|_| anyhow!("{}: too long for a WAV file", path.display()))?;
        for first in (0..frames).step_by(16_384) {
            let block = first..(first + 16_384).min(frames);
            let mut w16 = w.get_i16_writer((block.len() * channels.len()) as u32);
            for i in block {
                for c in channels {
                    // `quantize` saturates to the 16-bit range, so the cast is exact.
                    w16.write_sample(quantize(c[i], 16) as i16);
                }
            }
            w16.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    } else {
        write_samples(&mut w, channels, frames, spec)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    w.finalize()
        .with_context(|| format!("cannot finish {}", path.display()))?;
    Ok(())
}

/// Writes the samples one at a time in any format hound writes (see [`write_wav`]).
fn write_samples<W: std::io::Write + std::io::Seek>(
    w: &mut hound::WavWriter<W>,
    channels: &[Vec<f32>],
    frames: usize,
    spec: hound::WavSpec,
) -> hound::Result<()> {
    for i in 0..frames {
        for c in channels {
            match spec.sample_format {
                hound::SampleFormat::Float => {
                    w.write_sample(if c[i].is_finite() { c[i] } else { 0.0 })
                }
                hound::SampleFormat::Int => w.write_sample(quantize(c[i], spec.bits_per_sample)),
            }?;
        }
    }
    Ok(())
}

/// The FLAC bit depth that holds integer samples of `spec` losslessly: the next multiple of 4
/// from 8 to 24 (what the encoder supports). Float and wider-than-24-bit input is refused.
pub fn flac_bits_for(spec: hound::WavSpec) -> Result<u16> {
    if spec.sample_format == hound::SampleFormat::Float {
        bail!("FLAC cannot hold floating-point samples; write a .wav instead");
    }
    let bits = spec.bits_per_sample.max(8).div_ceil(4) * 4;
    if bits > 24 {
        bail!(
            "the FLAC encoder supports at most 24 bits, not {}; write a .wav instead",
            spec.bits_per_sample
        );
    }
    Ok(bits)
}

/// Writes per-channel samples as FLAC (crates.io `flacenc`, default compression) at the
/// bit depth [`flac_bits_for`] picks for `spec`; samples are rounded and saturated.
pub fn write_flac(path: &Path, channels: &[Vec<f32>], spec: hound::WavSpec) -> Result<()> {
    let bytes =
        encode_flac(channels, spec).with_context(|| format!("cannot encode {}", path.display()))?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Encodes per-channel samples as a FLAC stream in memory.
fn encode_flac(channels: &[Vec<f32>], spec: hound::WavSpec) -> Result<Vec<u8>> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;

    let bits = flac_bits_for(spec)?;
    let nch = channels.len();
    if !(1..=8).contains(&nch) {
        bail!("FLAC holds 1 to 8 channels, not {nch}");
    }
    let frames = channels[0].len();
    let mut interleaved = Vec::with_capacity(frames * nch);
    for i in 0..frames {
        interleaved.extend(channels.iter().map(|c| quantize(c[i], bits)));
    }
    let mut config = flacenc::config::Encoder::default();
    // Files are already encoded in parallel; one thread per file keeps `--jobs` honest.
    config.multithread = false;
    let config = config
        .into_verified()
        .map_err(|(_, e)| anyhow!("FLAC encoder configuration: {e}"))?;
    let source = flacenc::source::MemSource::from_samples(
        &interleaved,
        nch,
        usize::from(bits),
        spec.sample_rate as usize,
    );
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| anyhow!("{e}"))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| anyhow!("{e}"))?;
    Ok(sink.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn int_spec(bits: u16, channels: u16) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: 44_100,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn quantize_rounds_and_saturates() {
        assert_eq!(quantize(1.0, 16), 32_767);
        assert_eq!(quantize(-1.0, 16), -32_768);
        assert_eq!(quantize(-3.0, 8), -128);
        assert_eq!(quantize(2.0, 24), 8_388_607);
        assert_eq!(quantize(f32::INFINITY, 32), i32::MAX);
        assert_eq!(quantize(f32::NEG_INFINITY, 32), i32::MIN);
        assert_eq!(quantize(f32::NAN, 16), 0);
        assert_eq!(quantize(1.5 / 32_768.0, 16), 2);
        assert_eq!(quantize(-1.4 / 32_768.0, 16), -1);
    }

    #[test]
    fn formats_that_cannot_be_written_map_to_ones_that_can() {
        assert_eq!(wav_spec_for(int_spec(20, 1)).bits_per_sample, 24);
        assert_eq!(wav_spec_for(int_spec(12, 1)).bits_per_sample, 16);
        assert_eq!(flac_bits_for(int_spec(16, 1)).unwrap(), 16);
        assert_eq!(flac_bits_for(int_spec(10, 1)).unwrap(), 12);
        assert!(flac_bits_for(int_spec(32, 1)).is_err());
        assert!(flac_bits_for(float_spec(48_000)).is_err());
    }

    #[test]
    fn flac_and_wav_round_trip_exactly_with_clipping() {
        let dir = std::env::temp_dir().join(format!("percepnet-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ramp: Vec<f32> = (0..5_000)
            .map(|n| (n as f32 / 1_000.0 - 2.5).sin() * 1.3)
            .collect();
        let channels = vec![ramp.clone(), ramp.iter().map(|v| -v).collect()];
        for (bits, container) in [
            (8, Container::Flac),
            (12, Container::Flac),
            (16, Container::Flac),
            (20, Container::Flac),
            (24, Container::Flac),
            (8, Container::Wav),
            (16, Container::Wav),
            (24, Container::Wav),
            (32, Container::Wav),
        ] {
            let path = dir.join(format!("r{bits}.{container:?}"));
            write_audio(&path, &channels, int_spec(bits, 2), container).unwrap();
            let back = read_audio(&path).unwrap();
            assert_eq!(back.container, container);
            assert_eq!(back.spec, int_spec(bits, 2));
            for (a, b) in channels.iter().zip(&back.channels) {
                let expected: Vec<i32> = a.iter().map(|&v| quantize(v, bits)).collect();
                let got: Vec<i32> = b.iter().map(|&v| quantize(v, bits)).collect();
                assert_eq!(expected, got, "{bits} bits {container:?}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
