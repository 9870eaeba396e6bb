//! Through the CLAP host (`common/host.rs`): the trained network removes the noise of the
//! bundled example and keeps its speech, alike at every rate.

mod common;

use common::host::*;

#[test]
fn the_trained_network_removes_noise_through_the_host() {
    // Default parameters: no attenuation limit, full post-filter. The example is speech with
    // pink noise and hum at 5 dB SNR; its first 0.5 s holds noise only.
    let (noise_db, total_db) = denoising_at(percepnet::SAMPLE_RATE, 6);
    assert!(
        noise_db < -15.0,
        "noise-only stretch attenuated by only {noise_db:.1} dB"
    );
    // Speech is kept: over the whole file the output keeps most of the energy.
    assert!(total_db > -6.0, "whole file lost {total_db:.1} dB");
}

/// The trained network's effect on the bundled example streamed at `rate` Hz (the example
/// resampled from 48 kHz): the level change in dB of its noise-only stretch 0.2-0.5 s and of the
/// whole file.
fn denoising_at(rate: u32, seed: u64) -> (f64, f64) {
    let input =
        percepnet::offline::resample::resample(&[noisy_example()], percepnet::SAMPLE_RATE, rate)
            .expect("resample the example");
    let mut plugin = TestPlugin::new();
    plugin.select_channels(1);
    let fs = f64::from(rate);
    let stream = run_stream(&mut plugin, fs, &input, block_sizes(seed), &no_automation);
    let output = &stream.output[0];
    assert!(output.iter().all(|v| v.is_finite()));
    let energy = |x: &[f32]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    let (a, b) = ((0.2 * fs) as usize, (0.5 * fs) as usize);
    let lat = stream.latency;
    let noise_db = 10.0 * (energy(&output[a + lat..b + lat]) / energy(&input[0][a..b])).log10();
    let total_db = 10.0 * (energy(&output[lat..]) / energy(&input[0])).log10();
    eprintln!("{rate} Hz: noise-only stretch {noise_db:+.2} dB, whole file {total_db:+.2} dB");
    (noise_db, total_db)
}

#[test]
fn the_trained_network_denoises_alike_at_every_rate() {
    // The resamplers hand the network the same signal below 20 kHz whatever the host rate, so it
    // must remove the noise and keep the speech at every rate as at 48 kHz. (Above 20 kHz the
    // resampled paths carry nothing, which is why the noise-only stretch is compared with a
    // bound and not with the 48 kHz figure: at 48 kHz part of its residue lies up there.)
    let (_, total_48k) = denoising_at(percepnet::SAMPLE_RATE, 7);
    for (i, rate) in [44_100, 96_000].into_iter().enumerate() {
        let (noise, total) = denoising_at(rate, 8 + i as u64);
        assert!(noise < -15.0, "{rate} Hz: noise stretch only {noise:.2} dB");
        assert!(
            (total - total_48k).abs() < 0.3,
            "{rate} Hz: whole file {total:.2} dB, {total_48k:.2} dB at 48 kHz"
        );
    }
}

/// The CLI, which runs the engine offline with 16 frames per network call, and the plugin in
/// a host, one hop at a time in host blocks of random sizes, give the same samples bit for bit
/// (the bundled example as 32-bit float at 48 kHz, default parameters on both sides).
#[test]
fn the_cli_and_the_plugin_give_the_same_samples() {
    let input = noisy_example();
    let mut plugin = TestPlugin::new();
    plugin.select_channels(1);
    let stream = run_stream(
        &mut plugin,
        f64::from(percepnet::SAMPLE_RATE),
        std::slice::from_ref(&input),
        block_sizes(11),
        &no_automation,
    );
    let (lat, host) = (stream.latency, &stream.output[0]);
    let dir = common::cli::tmp_dir("cli-vs-plugin");
    let (src, dst) = (dir.join("in.wav"), dir.join("out.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: percepnet::SAMPLE_RATE,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&src, spec).unwrap();
    input.iter().for_each(|&v| w.write_sample(v).unwrap());
    w.finalize().unwrap();
    let out = common::cli::bin()
        .arg("denoise")
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Vec<f32> = hound::WavReader::open(&dst)
        .unwrap()
        .into_samples::<f32>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(cli.len(), input.len());
    let n = input.len() - lat;
    let same = host[lat..]
        .iter()
        .zip(&cli[..n])
        .filter(|(a, b)| a.to_bits() == b.to_bits())
        .count();
    assert!(
        cli.iter().any(|v| v.abs() > 1e-3),
        "the CLI output is not silent"
    );
    assert_eq!(same, n, "{} of {n} samples differ", n - same);
}
