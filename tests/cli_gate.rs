//! The command line's voice gate, mix and output flags (the plugin's parameters, with the same
//! defaults) on real files: `--help` lists them, the gate silences noise and lets speech through
//! from its start, `--mix 0` gives the input back sample for sample, denoised + removed is the
//! input, and `--presence-csv` writes one presence per 10 ms of the output.

mod common;

use std::path::Path;

use common::cli::*;

/// Writes mono 32-bit float samples at `rate`.
fn write_float(path: &Path, channels: &[Vec<f32>], rate: u32) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    percepnet::offline::audio::write_wav(path, channels, spec).unwrap();
}

/// The channels of a WAV file as f32 (any format).
fn read_channels(path: &Path) -> Vec<Vec<f32>> {
    percepnet::offline::audio::read_audio(path)
        .unwrap()
        .channels
}

/// A whole bundled example as f32.
fn example_samples(name: &str) -> Vec<f32> {
    read_channels(&example(name)).remove(0)
}

/// Pink noise at RMS `rms` (white noise through a third-order 3 dB/octave filter).
fn pink_noise(len: usize, rms: f32) -> Vec<f32> {
    const B: [f64; 4] = [0.049922035, -0.095993537, 0.050612699, -0.004408786];
    const A: [f64; 4] = [1.0, -2.494956002, 2.017265875, -0.522189400];
    let (mut xs, mut ys, mut s) = ([0.0f64; 4], [0.0f64; 4], 12345u32);
    let x: Vec<f64> = (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            xs.rotate_right(1);
            ys.rotate_right(1);
            xs[0] = f64::from(s) / f64::from(u32::MAX) - 0.5;
            ys[0] = (0..4).map(|k| B[k] * xs[k]).sum::<f64>()
                - (1..4).map(|k| A[k] * ys[k]).sum::<f64>();
            ys[0]
        })
        .collect();
    let level = (x.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
    x.iter()
        .map(|v| (v * f64::from(rms) / level) as f32)
        .collect()
}

/// Level in dB of a slice.
fn level_db(x: &[f32]) -> f64 {
    10.0 * (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64)
        .max(1e-30)
        .log10()
}

#[test]
fn denoise_help_lists_the_gate_mix_and_output_flags() {
    let o = bin().args(["denoise", "--help"]).output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--gate-threshold <PERCENT>",
        "--grace-ms <MS>",
        "--retro-grace-ms <MS>",
        "--gate-depth <DB>",
        "--mix <PERCENT>",
        "--output <WHAT>",
        "--presence-csv <FILE>",
        "removed",
        "denoised",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    // The plugin's defaults: gate off, 200 ms grace, all 10 ms of retroactive grace, -100 dB
    // depth, 100 % wet, denoised.
    for default in [
        "[default: 0]",
        "[default: 200]",
        "[default: 10]",
        "[default: -100]",
        "[default: 100]",
        "[default: denoised]",
    ] {
        assert!(help.contains(default), "{default} missing from:\n{help}");
    }
}

#[test]
fn gate_flags_silence_noise_and_let_speech_through() {
    let root = tmp_dir("gate");
    // Two seconds of pink noise: 60 dB down or more once the grace has passed.
    let noise = root.join("noise.wav");
    let x = pink_noise(96_000, 0.05);
    write_float(&noise, std::slice::from_ref(&x), 48_000);
    let out = root.join("noise-gated.wav");
    let o = denoise(&[
        "--gate-threshold".as_ref(),
        "50".as_ref(),
        noise.as_os_str(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let y = read_channels(&out).remove(0);
    let settled = 12_000; // 250 ms: the 200 ms grace and the 25 ms close
    let down = level_db(&y[settled..]) - level_db(&x[settled..]);
    assert!(down <= -60.0, "noise only {down:.1} dB down");

    // The noisy example, gated and not: fully open one hop after each start of speech that
    // follows a pause of 300 ms or more (frames within 30 dB of the loudest, in the clean
    // speech).
    let noisy = root.join("noisy-float.wav");
    write_float(&noisy, &[example_samples("noisy.wav")], 48_000);
    let (open, gated) = (root.join("open.wav"), root.join("gated.wav"));
    assert!(denoise(&[noisy.as_os_str(), open.as_os_str()])
        .status
        .success());
    let o = denoise(&[
        "--gate-threshold=50".as_ref(),
        noisy.as_os_str(),
        gated.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (open, gated) = (
        read_channels(&open).remove(0),
        read_channels(&gated).remove(0),
    );
    let clean = example_samples("clean.wav");
    let frames: Vec<f64> = clean.chunks_exact(480).map(level_db).collect();
    let loudest = frames.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (mut quiet, mut onsets) = (30, Vec::new());
    for (i, &l) in frames.iter().enumerate() {
        if l > loudest - 30.0 {
            if quiet >= 30 {
                onsets.push(i * 480);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    assert!(onsets.len() >= 4, "{onsets:?}");
    for start in onsets {
        let span = start + 480..start + 480 + 4_800;
        let gain = (level_db(&gated[span.clone()]) - level_db(&open[span])).abs();
        assert!(gain < 0.01, "speech at {start}: gated {gain:.3} dB off");
        // 50 ms to 20 ms before: closed (it may open one hop before the labelled start).
        let pause = start - 2_400..start - 960;
        let down = level_db(&gated[pause.clone()]) - level_db(&open[pause]);
        assert!(
            down < -60.0,
            "before {start}: the pause only {down:.1} dB down"
        );
    }
}

#[test]
fn mix_zero_gives_the_input_back_sample_for_sample() {
    let root = tmp_dir("mix0");
    use hound::SampleFormat::{Float, Int};
    for (name, format, bits, rate, channels) in [
        ("int16.wav", Int, 16, 48_000, 1),
        ("float.wav", Float, 32, 48_000, 2),
        ("int24.flac", Int, 24, 44_100, 2),
    ] {
        let input = root.join(name);
        write_input(&input, format, bits, rate, channels);
        let output = root.join(format!("out-{name}"));
        let o = denoise(&[
            "--mix".as_ref(),
            "0".as_ref(),
            "--gate-threshold".as_ref(),
            "50".as_ref(),
            input.as_os_str(),
            output.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(decode(&input), decode(&output), "{name}");
    }
}

#[test]
fn denoised_plus_removed_is_the_input() {
    let root = tmp_dir("removed");
    let x = example_samples("noisy.wav");
    for (rate, xs) in [
        (48_000, vec![x.clone(), x.iter().rev().copied().collect()]),
        (
            44_100,
            percepnet::offline::resample::resample(std::slice::from_ref(&x), 48_000, 44_100)
                .unwrap(),
        ),
    ] {
        let input = root.join(format!("in{rate}.wav"));
        write_float(&input, &xs, rate);
        for mix in ["100", "50"] {
            let mut outputs = Vec::new();
            for mode in ["denoised", "removed"] {
                let out = root.join(format!("{rate}-{mix}-{mode}.wav"));
                let o = denoise(&[
                    "--gate-threshold=50".as_ref(),
                    "--mix".as_ref(),
                    mix.as_ref(),
                    "--output".as_ref(),
                    mode.as_ref(),
                    input.as_os_str(),
                    out.as_os_str(),
                ]);
                assert!(o.status.success(), "{}", text(&o));
                outputs.push(read_channels(&out));
            }
            for (c, x) in xs.iter().enumerate() {
                let (d, r) = (&outputs[0][c], &outputs[1][c]);
                let worst = (0..x.len())
                    .map(|n| (d[n] + r[n] - x[n]).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst <= 1e-5, "{rate} Hz, mix {mix}: off by {worst}");
                assert!(level_db(r) - level_db(x) > -40.0, "nothing removed");
            }
        }
    }
}

#[test]
fn presence_csv_has_one_value_per_10_ms_of_the_output() {
    let root = tmp_dir("presence");
    let (csv, out) = (root.join("p.csv"), root.join("out.wav"));
    let o = denoise(&[
        "--presence-csv".as_ref(),
        csv.as_os_str(),
        example("noisy.wav").as_os_str(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let text_csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text_csv.lines();
    assert_eq!(lines.next(), Some("time_s,presence"));
    let rows: Vec<(f64, f32)> = lines
        .map(|l| {
            let (t, p) = l.split_once(',').unwrap();
            (t.parse().unwrap(), p.parse().unwrap())
        })
        .collect();
    let frames = example_samples("noisy.wav").len();
    assert_eq!(rows.len(), frames.div_ceil(480));
    for (i, &(t, p)) in rows.iter().enumerate() {
        assert!((t - i as f64 * 0.01).abs() < 1e-9);
        assert!((0.0..=1.0).contains(&p));
    }
    // Noise only before 0.5 s, speech from 0.53 s to 0.9 s (examples/clean.wav).
    let mean = |a: usize, b: usize| rows[a..b].iter().map(|r| r.1).sum::<f32>() / (b - a) as f32;
    assert!(mean(10, 45) < 0.1, "lead-in {}", mean(10, 45));
    assert!(mean(55, 85) > 0.8, "speech {}", mean(55, 85));

    // Only with one input and one output.
    let o = denoise(&[
        "--presence-csv".as_ref(),
        csv.as_os_str(),
        "-o".as_ref(),
        root.join("dir").as_os_str(),
        example("noisy.wav").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--presence-csv"), "{}", text(&o));
}

#[test]
fn gate_mix_and_output_flags_are_checked() {
    let root = tmp_dir("flags");
    let a = root.join("a.wav");
    write_input(&a, hound::SampleFormat::Int, 16, 48_000, 1);
    let ok = denoise(&[
        "--gate-depth".as_ref(),
        "-40".as_ref(),
        "--grace-ms".as_ref(),
        "0".as_ref(),
        "--retro-grace-ms".as_ref(),
        "2.5".as_ref(),
        a.as_os_str(),
        root.join("ok.wav").as_os_str(),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    for bad in [
        ["--gate-depth", "5"],
        ["--gate-threshold", "101"],
        ["--grace-ms", "2000"],
        ["--retro-grace-ms", "11"],
        ["--mix", "-1"],
        ["--output", "noise"],
    ] {
        let o = denoise(&[
            bad[0].as_ref(),
            bad[1].as_ref(),
            a.as_os_str(),
            root.join("bad.wav").as_os_str(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
    assert!(!root.join("bad.wav").exists());
}
