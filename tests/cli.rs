//! The command-line tool: real runs on the bundled example, clear errors on bad input, and
//! batch runs over folders of WAV and FLAC files.

mod common;

use std::path::{Path, PathBuf};

use common::cli::*;

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

/// Inputs of every format, rate and channel count, in `dir` and a sub-folder; returns the
/// relative paths.
fn mixed_inputs(dir: &Path) -> Vec<&'static str> {
    use hound::SampleFormat::{Float, Int};
    let files: [(&str, hound::SampleFormat, u16, u32, usize); 7] = [
        ("int16.wav", Int, 16, 48_000, 1),
        ("int24-stereo.wav", Int, 24, 44_100, 2),
        ("float32.wav", Float, 32, 16_000, 1),
        ("int8.wav", Int, 8, 22_050, 1),
        ("int32.wav", Int, 32, 48_000, 2),
        ("sub/flac16-stereo.flac", Int, 16, 48_000, 2),
        ("sub/deeper/flac24.FLAC", Int, 24, 96_000, 1),
    ];
    for (name, format, bits, rate, ch) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // The writer picks FLAC by a lowercase extension; the name keeps its case.
        let tmp = path.with_extension(path.extension().unwrap().to_ascii_lowercase());
        write_input(&tmp, format, bits, rate, ch);
        std::fs::rename(&tmp, &path).unwrap();
    }
    files.iter().map(|f| f.0).collect()
}

#[test]
fn batch_keeps_each_files_format_rate_channels_and_length() {
    let root = tmp_dir("batch-formats");
    let inputs = root.join("in");
    let names = mixed_inputs(&inputs);
    // A loose file named on the command line as well as the folder.
    let loose = root.join("loose.flac");
    write_input(&loose, hound::SampleFormat::Int, 16, 32_000, 1);
    let out = root.join("out");
    let o = denoise(&[
        "-r".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        inputs.as_os_str(),
        loose.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("8 ok, 0 failed"), "{}", text(&o));
    for name in names.iter().copied().chain(["loose.flac"]) {
        let src = if name == "loose.flac" {
            loose.clone()
        } else {
            inputs.join(name)
        };
        let (a, b) = (decode(&src), decode(&out.join(name)));
        assert_eq!(a.spec, b.spec, "{name}");
        assert_eq!(a.frames, b.frames, "{name}");
        assert_ne!(a.samples, b.samples, "{name} was not denoised");
    }
    // Nothing else was written: no temporary files left behind.
    let count = walk(&out).len();
    assert_eq!(count, names.len() + 1, "{:?}", walk(&out));
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn flac_output_decodes_to_the_same_samples_as_the_wav_output() {
    // The same 16- and 24-bit signals as WAV and as FLAC: after denoising, claxon's decoding
    // of the FLAC output equals the WAV output sample for sample (the encoder is lossless
    // and both quantise alike), also in the single-file form with a .flac output.
    let root = tmp_dir("flac-vs-wav");
    let out = root.join("out");
    for bits in [16, 24] {
        let (wav, flac) = (
            root.join(format!("s{bits}.wav")),
            root.join(format!("s{bits}.flac")),
        );
        write_input(&wav, hound::SampleFormat::Int, bits, 48_000, 2);
        write_input(&flac, hound::SampleFormat::Int, bits, 48_000, 2);
        assert_eq!(decode(&wav).samples, decode(&flac).samples);
        let o = denoise(&[
            "-o".as_ref(),
            out.as_os_str(),
            wav.as_os_str(),
            flac.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let (w, f) = (
            decode(&out.join(format!("s{bits}.wav"))),
            decode(&out.join(format!("s{bits}.flac"))),
        );
        assert_eq!(w.spec, f.spec);
        assert_eq!(w.samples, f.samples);
        let single = root.join(format!("single{bits}.flac"));
        let o = denoise(&[wav.as_os_str(), single.as_os_str()]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(decode(&single), w);
    }
    // A float WAV cannot become FLAC: a clear error, no output.
    let float = root.join("f.wav");
    write_input(&float, hound::SampleFormat::Float, 32, 48_000, 1);
    let bad = root.join("f.flac");
    let o = denoise(&[float.as_os_str(), bad.as_os_str()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("floating-point"), "{}", text(&o));
    assert!(!bad.exists());
}

#[test]
fn existing_outputs_need_overwrite_and_inputs_are_never_overwritten() {
    let root = tmp_dir("overwrite");
    let inputs = root.join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let x = inputs.join("x.wav");
    write_input(&x, hound::SampleFormat::Int, 16, 48_000, 1);
    let original = std::fs::read(&x).unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("x.wav"), b"keep me").unwrap();

    // An existing output is left alone without --overwrite.
    let o = denoise(&["-o".as_ref(), out.as_os_str(), inputs.as_os_str()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    assert!(text(&o).contains("0 ok, 1 failed"), "{}", text(&o));
    assert_eq!(std::fs::read(out.join("x.wav")).unwrap(), b"keep me");
    // With it, the output is replaced.
    let o = denoise(&[
        "--overwrite".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        inputs.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(decode(&out.join("x.wav")).frames, 28_800);

    // The input itself, even with --overwrite: as the output folder, through a symbolic link
    // to its folder, through a hard link, and in the single-file form.
    let linked_dir = root.join("link-to-in");
    symlink_dir(&inputs, &linked_dir);
    let hard = root.join("hard");
    std::fs::create_dir_all(&hard).unwrap();
    std::fs::hard_link(&x, hard.join("x.wav")).unwrap();
    for dir in [&inputs, &linked_dir, &hard] {
        let o = denoise(&[
            "--overwrite".as_ref(),
            "-o".as_ref(),
            dir.as_os_str(),
            x.as_os_str(),
        ]);
        assert!(!o.status.success(), "{}", dir.display());
        assert!(
            text(&o).contains("refusing to overwrite the input"),
            "{}",
            text(&o)
        );
    }
    let o = denoise(&[
        "--overwrite".as_ref(),
        x.as_os_str(),
        linked_dir.join("x.wav").as_os_str(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("refusing to overwrite the input"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&x).unwrap(), original);
}

/// Makes `link` a symbolic link to the folder `target`.
fn symlink_dir(target: &Path, link: &Path) {
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link).unwrap();
    #[cfg(windows)]
    std::os::windows::fs::symlink_dir(target, link).unwrap();
}

#[test]
fn suffix_writes_next_to_the_inputs_and_skips_earlier_outputs() {
    let root = tmp_dir("suffix");
    let a = root.join("a.wav");
    let b = root.join("sub").join("b.flac");
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    write_input(&a, hound::SampleFormat::Int, 16, 48_000, 1);
    write_input(&b, hound::SampleFormat::Int, 16, 44_100, 1);
    let o = denoise(&[
        "-r".as_ref(),
        "--suffix".as_ref(),
        "-denoised".as_ref(),
        root.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(decode(&root.join("a-denoised.wav")).spec, decode(&a).spec);
    assert_eq!(
        decode(&root.join("sub/b-denoised.flac")).frames,
        decode(&b).frames
    );
    // Again: the outputs are not taken as inputs, and are not replaced without --overwrite.
    let o = denoise(&[
        "-r".as_ref(),
        "--suffix=-denoised".as_ref(),
        root.as_os_str(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("0 ok, 2 failed"), "{}", text(&o));
    assert!(!root.join("a-denoised-denoised.wav").exists());
    let o = denoise(&[
        "-r".as_ref(),
        "--overwrite".as_ref(),
        "-s=-denoised".as_ref(),
        root.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(walk(&root).len(), 4, "{:?}", walk(&root));
}

#[test]
fn a_corrupt_file_fails_alone_and_is_named() {
    let root = tmp_dir("corrupt-batch");
    let inputs = root.join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    write_input(
        &inputs.join("good1.wav"),
        hound::SampleFormat::Int,
        16,
        48_000,
        1,
    );
    write_input(
        &inputs.join("good2.flac"),
        hound::SampleFormat::Int,
        24,
        44_100,
        2,
    );
    std::fs::write(
        inputs.join("garbage.wav"),
        b"RIFF\x10\x00\x00\x00WAVEfmt garbage",
    )
    .unwrap();
    std::fs::write(
        inputs.join("garbage.flac"),
        b"fLaC\x00\x00\x00\x22 not really",
    )
    .unwrap();
    // A WAV file cut short in its data.
    let full = std::fs::read(inputs.join("good1.wav")).unwrap();
    std::fs::write(inputs.join("truncated.wav"), &full[..full.len() / 2]).unwrap();
    let out = root.join("out");
    let missing = root.join("missing.wav");
    let o = denoise(&[
        "-o".as_ref(),
        out.as_os_str(),
        inputs.as_os_str(),
        missing.as_os_str(),
    ]);
    let err = text(&o);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    for bad in [
        "garbage.wav",
        "garbage.flac",
        "truncated.wav",
        "missing.wav",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("error:") && l.contains(bad)),
            "{bad}: {err}"
        );
    }
    assert!(err.contains("2 ok, 4 failed"), "{err}");
    let mut written: Vec<_> = walk(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["good1.wav", "good2.flac"]);
}

#[test]
fn one_job_and_two_jobs_give_identical_outputs() {
    let root = tmp_dir("jobs");
    let inputs = root.join("in");
    let names = mixed_inputs(&inputs);
    let mut outputs = Vec::new();
    for jobs in ["1", "2"] {
        let out = root.join(format!("out{jobs}"));
        let o = denoise(&[
            "-r".as_ref(),
            "--jobs".as_ref(),
            jobs.as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            inputs.as_os_str(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        outputs.push(
            names
                .iter()
                .map(|n| std::fs::read(out.join(n)).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    assert!(outputs[0] == outputs[1]);
}

#[test]
fn usage_errors_are_clear() {
    let root = tmp_dir("usage");
    let a = root.join("a.wav");
    write_input(&a, hound::SampleFormat::Int, 16, 48_000, 1);
    // Three paths and no --out-dir or --suffix: a usage error (status 2) before any work.
    let o = denoise(&[a.as_os_str(), a.as_os_str(), a.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--out-dir"), "{}", text(&o));
    // A folder in the single-file form, an empty suffix, a non-audio output name.
    let o = denoise(&[root.as_os_str(), root.join("x.wav").as_os_str()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is a folder"), "{}", text(&o));
    let o = denoise(&["--suffix=".as_ref(), a.as_os_str()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("must not be empty"), "{}", text(&o));
    let o = denoise(&[a.as_os_str(), root.join("a.mp3").as_os_str()]);
    assert!(!o.status.success());
    assert!(text(&o).contains(".wav or .flac"), "{}", text(&o));
    let o = denoise(&[
        "--attenuation-limit".as_ref(),
        "200".as_ref(),
        a.as_os_str(),
        root.join("b.wav").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(walk(&root).len(), 1);
}

#[test]
fn clashing_names_and_empty_folders() {
    let root = tmp_dir("clash");
    for dir in ["a", "b", "empty"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let (a, b) = (root.join("a/x.wav"), root.join("b/x.wav"));
    write_input(&a, hound::SampleFormat::Int, 16, 48_000, 1);
    write_input(&b, hound::SampleFormat::Int, 16, 48_000, 1);
    // Two inputs with one output name: the first is written, the second refused by name.
    let out = root.join("out");
    let o = denoise(&["-o".as_ref(), out.as_os_str(), a.as_os_str(), b.as_os_str()]);
    assert!(!o.status.success());
    let err = text(&o);
    assert!(err.contains("b/x.wav: its output"), "{err}");
    assert!(err.contains("1 ok, 1 failed"), "{err}");
    assert_eq!(walk(&out).len(), 1);
    // A folder without audio files is a note, not a failure.
    let o = denoise(&[
        "-o".as_ref(),
        out.as_os_str(),
        root.join("empty").as_os_str(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no .wav or .flac files"), "{}", text(&o));
}
