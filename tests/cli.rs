//! The command-line tool: real runs on the bundled example, clear errors on bad input.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_percepnet"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("percepnet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

#[test]
fn denoise_keeps_length_format_and_alignment() {
    let out = tmp("denoised.wav");
    let st = bin()
        .arg("denoise")
        .arg(example("noisy.wav"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let a = hound::WavReader::open(example("noisy.wav")).unwrap();
    let b = hound::WavReader::open(&out).unwrap();
    assert_eq!(a.spec(), b.spec());
    assert_eq!(a.duration(), b.duration());
}

#[test]
fn denoise_handles_other_rates_and_stereo() {
    // 44.1 kHz stereo, 24-bit: the output keeps rate, channels, depth and length.
    let input = tmp("stereo44.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&input, spec).unwrap();
    for n in 0..44_100 {
        let t = n as f32 / 44_100.0;
        w.write_sample(((2.0 * std::f32::consts::PI * 200.0 * t).sin() * 1e6) as i32)
            .unwrap();
        w.write_sample(((2.0 * std::f32::consts::PI * 300.0 * t).sin() * 1e6) as i32)
            .unwrap();
    }
    w.finalize().unwrap();
    let out = tmp("stereo44-out.wav");
    let o = bin().arg("denoise").arg(&input).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = hound::WavReader::open(&out).unwrap();
    assert_eq!(r.spec(), spec);
    assert_eq!(r.duration(), 44_100);
    // Refuses to overwrite its input.
    let o = bin()
        .arg("denoise")
        .arg(&input)
        .arg(&input)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("overwrite"));
}

#[test]
fn corrupt_and_unsupported_files_give_clear_errors() {
    let bad = tmp("corrupt.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEfmt garbage").unwrap();
    let out = bin()
        .arg("denoise")
        .arg(&bad)
        .arg(tmp("x.wav"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt.wav"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let missing = bin()
        .arg("denoise")
        .arg(tmp("nope.wav"))
        .arg(tmp("y.wav"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.wav"));

    let bad_weights = tmp("bad.pnw");
    std::fs::write(&bad_weights, b"PNWEIGHT\x07\x00\x00\x00").unwrap();
    let out = bin()
        .arg("denoise")
        .arg(example("noisy.wav"))
        .arg(tmp("z.wav"))
        .arg("--weights")
        .arg(&bad_weights)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("version 7"), "{err}");
}

#[test]
fn oracle_with_comb_filter_improves_on_noisy() {
    let out = tmp("oracle.wav");
    let noise = tmp("noise.wav");
    // White noise as the noise file.
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&noise, spec).unwrap();
    let mut s = 7u32;
    for _ in 0..48_000 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        w.write_sample((s >> 20) as i16 - 2048).unwrap();
    }
    w.finalize().unwrap();
    let o = bin()
        .args(["oracle", "--snr", "0", "--clean"])
        .arg(example("clean.wav"))
        .arg("--noise")
        .arg(&noise)
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let si_sdr = |prefix: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
        line.split("SI-SDR")
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches("dB")
            .trim()
            .parse()
            .unwrap()
    };
    let (noisy, output) = (si_sdr("noisy"), si_sdr("output"));
    assert!(
        output > noisy + 8.0,
        "noisy {noisy} dB, oracle output {output} dB"
    );
}
