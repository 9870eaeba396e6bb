//! Helpers of the command-line tests (`cli.rs`, `cli_gate.rs`): the binary, scratch folders,
//! the bundled examples, input files of any format, and decoding outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_percepnet"))
}

pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("percepnet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A fresh, empty folder for one test.
pub fn tmp_dir(name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `frames` samples of the bundled noisy speech (from 2 s in), in [-1, 1].
pub fn speech(frames: usize) -> Vec<f32> {
    let mut r = hound::WavReader::open(example("noisy.wav")).unwrap();
    r.samples::<i16>()
        .skip(96_000)
        .take(frames)
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

/// An input file of `channels` channels (the speech, the second channel reversed and louder
/// so it clips) at `rate` Hz in the given format; `.flac` paths are written as FLAC.
pub fn write_input(
    path: &Path,
    format: hound::SampleFormat,
    bits: u16,
    rate: u32,
    channels: usize,
) {
    let frames = (rate as usize * 3) / 5; // 0.6 s
    let x = speech(frames);
    let mut chans = vec![x.clone()];
    if channels > 1 {
        chans.push(x.iter().rev().map(|v| (v * 8.0).clamp(-1.0, 1.0)).collect());
    }
    chans.truncate(channels);
    let spec = hound::WavSpec {
        channels: channels as u16,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: format,
    };
    if path.extension().unwrap() == "flac" {
        percepnet::offline::audio::write_flac(path, &chans, spec).unwrap();
    } else {
        percepnet::offline::audio::write_wav(path, &chans, spec).unwrap();
    }
}

/// What a WAV or FLAC file holds: spec, frames, and every sample (integers; float WAV
/// samples as their bit patterns).
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub spec: hound::WavSpec,
    pub frames: usize,
    pub samples: Vec<i64>,
}

/// Decodes a WAV file with hound or a FLAC file with claxon, checking every sample decodes.
pub fn decode(path: &Path) -> Decoded {
    if path.extension().unwrap().eq_ignore_ascii_case("flac") {
        let mut r = claxon::FlacReader::open(path).unwrap();
        let info = r.streaminfo();
        let samples: Vec<i64> = r.samples().map(|s| i64::from(s.unwrap())).collect();
        let spec = hound::WavSpec {
            channels: info.channels as u16,
            sample_rate: info.sample_rate,
            bits_per_sample: info.bits_per_sample as u16,
            sample_format: hound::SampleFormat::Int,
        };
        assert_eq!(
            info.samples,
            Some(samples.len() as u64 / info.channels as u64)
        );
        let frames = samples.len() / info.channels as usize;
        return Decoded {
            spec,
            frames,
            samples,
        };
    }
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples: Vec<i64> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .map(|s| {
                let v = s.unwrap();
                assert!(v.is_finite());
                i64::from(v.to_bits())
            })
            .collect(),
        hound::SampleFormat::Int => r.samples::<i32>().map(|s| i64::from(s.unwrap())).collect(),
    };
    Decoded {
        spec,
        frames: samples.len() / spec.channels as usize,
        samples,
    }
}

/// Mono samples of a 48 kHz WAV file as f32 (the library's reader).
pub fn read_mono_48k(path: &Path) -> Vec<f32> {
    let audio = percepnet::offline::audio::read_wav(path).unwrap();
    assert_eq!(audio.channels.len(), 1, "{}: mono expected", path.display());
    assert_eq!(
        audio.sample_rate,
        48_000,
        "{}: 48 kHz expected",
        path.display()
    );
    audio.channels.into_iter().next().unwrap_or_default()
}

/// Runs `percepnet denoise` with `args`.
pub fn denoise(args: &[&std::ffi::OsStr]) -> Output {
    bin().arg("denoise").args(args).output().unwrap()
}

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
