//! Through the CLAP host (`common/host.rs`): hostile input (NaN, infinities, subnormals, huge
//! values, DC, full-scale squares, clipping) with random buffer sizes and automation, recovery
//! after abuse and minutes of silence, and a one-hour soak (ignored by default:
//! `cargo test --release --test clap_host -- --ignored soak --nocapture`).

mod common;

use common::host::*;

#[test]
fn non_finite_input_is_silenced_not_propagated() {
    let mut input = test_signal(2);
    let mut expected = input.clone();
    for (channel, n, bad) in [
        (0, 100, f32::NAN),
        (0, 5_000, f32::INFINITY),
        (1, 77_777, f32::NEG_INFINITY),
    ] {
        input[channel][n] = bad;
        expected[channel][n] = 0.0;
    }
    let mut plugin = TestPlugin::new();
    let limit = plugin.param_id(ParamQuery::Named(ATTENUATION_LIMIT));
    plugin.flush_params(&[(limit, 0.0)]);
    let stream = run_stream(
        &mut plugin,
        SAMPLE_RATE,
        &input,
        block_sizes(5),
        &no_automation,
    );
    assert_delayed_copy(&expected, &stream.output, percepnet::LATENCY);
}

// ---------------------------------------------------------------------------------------------
// Hostile input, random automation, recovery and a long soak.
// ---------------------------------------------------------------------------------------------

/// What one block of a hostile stream is filled with.
#[derive(Clone, Copy, Debug)]
enum Content {
    Noise,
    Silence,
    Nan,
    Infinite,
    Subnormal,
    Huge,
    Dc,
    FullScaleSquare,
    Clipped,
}

/// `len` samples of `content` (`seed` varies the noise and the square's period).
fn hostile_block(content: Content, len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg(seed);
    let period = 2 + (seed % 400) as usize;
    (0..len)
        .map(|n| match content {
            Content::Noise => 0.3 * rng.next_f32(),
            Content::Silence => 0.0,
            Content::Nan => {
                if n % 3 == 0 {
                    f32::NAN
                } else {
                    0.1 * rng.next_f32()
                }
            }
            Content::Infinite => {
                if n % 2 == 0 {
                    f32::INFINITY
                } else {
                    f32::NEG_INFINITY
                }
            }
            Content::Subnormal => f32::from_bits(1 + rng.next_u32() % 0x7F_FFFF),
            Content::Huge => 3.0e38 * rng.next_f32(),
            Content::Dc => 1.0,
            Content::FullScaleSquare => {
                if (n / period).is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                }
            }
            Content::Clipped => (4.0 * rng.next_f32()).clamp(-1.0, 1.0),
        })
        .collect()
}

/// Largest magnitude a sane plugin may output for any input (the engine clamps its input to
/// ±1e4; gains are at most 1, the comb filter and overlap-add at most double that).
const OUTPUT_BOUND: f32 = 1.0e5;

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn content() -> impl Strategy<Value = Content> {
        prop_oneof![
            Just(Content::Noise),
            Just(Content::Silence),
            Just(Content::Nan),
            Just(Content::Infinite),
            Just(Content::Subnormal),
            Just(Content::Huge),
            Just(Content::Dc),
            Just(Content::FullScaleSquare),
            Just(Content::Clipped),
        ]
    }

    /// One host call: its size, what it carries, and the parameter values sent with it
    /// (attenuation limit dB, post-filter, bypass), each present or not.
    fn block() -> impl Strategy<Value = (usize, Content, Option<f64>, Option<f64>, Option<bool>)> {
        (
            prop_oneof![1..=16usize, 17..=1024usize, 1025..=MAX_BLOCK],
            content(),
            proptest::option::of(0.0..=100.0f64),
            proptest::option::of(0.0..=1.0f64),
            proptest::option::weighted(0.2, any::<bool>()),
        )
    }

    proptest! {
        // Each case instantiates the real plugin and streams up to ~10 s of audio: a few dozen
        // cases keep the test under a minute.
        #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 20, ..ProptestConfig::default() })]

        /// Random buffers (sizes 1..8192, any content: NaN, ±Inf, subnormals, ±3e38, DC,
        /// full-scale squares, clipping, silence, noise) with random parameter automation, at a
        /// random common rate, mono or stereo: the output is always finite and bounded, and
        /// after the hostile part, one second of noise at default settings comes out finite,
        /// not silent and no louder than the input.
        #[test]
        fn random_buffers_and_automation_keep_the_output_sane(
            rate in proptest::sample::select(vec![44_100.0, 48_000.0, 96_000.0, 22_050.0, 8_000.0]),
            channels in 1..=2u32,
            blocks in proptest::collection::vec(block(), 1..40),
            seed in any::<u64>(),
        ) {
            let mut plugin = TestPlugin::new();
            plugin.select_channels(channels);
            let limit = plugin.param_id(ParamQuery::Named(ATTENUATION_LIMIT));
            let post = plugin.param_id(ParamQuery::Named(POST_FILTER));
            let bypass = plugin.param_id(ParamQuery::Bypass);
            let stopped = plugin.activate(rate).expect("activate");
            let mut processor = stopped.start_processing().expect("start processing");
            let mut ports = BlockPorts::new(channels as usize);
            for (i, &(len, content, l, p, b)) in blocks.iter().enumerate() {
                let input: Vec<Vec<f32>> = (0..channels as u64)
                    .map(|c| hostile_block(content, len, seed ^ (i as u64 * 2 + c)))
                    .collect();
                let mut changes = Vec::new();
                changes.extend(l.map(|v| (limit, v)));
                changes.extend(p.map(|v| (post, v)));
                changes.extend(b.map(|v| (bypass, f64::from(u8::from(v)))));
                let output = ports.process(&mut processor, &input, &changes, 0);
                for channel in &output {
                    prop_assert!(
                        channel.iter().all(|v| v.is_finite() && v.abs() <= OUTPUT_BOUND),
                        "block {} ({:?}, {} samples): output not finite or beyond {}",
                        i, content, len, OUTPUT_BOUND
                    );
                }
            }
            // Back to normal settings and a normal signal.
            let settle = [(limit, 100.0), (post, 1.0), (bypass, 0.0)];
            let noise: Vec<Vec<f32>> = (0..channels as u64)
                .map(|c| hostile_block(Content::Noise, rate as usize, seed ^ c))
                .collect();
            let output = ports.process(&mut processor, &noise, &settle, 0);
            let late = (0.5 * rate) as usize;
            for (x, y) in noise.iter().zip(&output) {
                prop_assert!(y.iter().all(|v| v.is_finite()));
                let energy = |s: &[f32]| s.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
                let (ex, ey) = (energy(&x[late..]), energy(&y[late..]));
                prop_assert!(ey > 0.0, "silent after the hostile stream");
                prop_assert!(ey <= 1.5 * ex, "louder than the input: {ey} > {ex}");
            }
            plugin.instance.deactivate(processor.stop_processing());
        }
    }
}

/// Seconds of digital silence in [`speech_after_minutes_of_silence_and_abuse_recovers`].
const SILENCE_SECONDS: usize = 180;

/// Time after the speech starts by which the output must have recovered, in seconds.
const RECOVERY_SECONDS: f64 = 0.1;

/// Largest level difference (dB) of a speech window after minutes of silence against a fresh
/// instance: the network, shut by the silence, opens on the first word a little late (the
/// window at 0.50 s: -1.87 dB with the session-4 weights, -3.23 dB with the session-11 ones,
/// after silence alone as after abuse and silence).
const AFTER_SILENCE_DB: f64 = 4.0;

/// Streams `abuse` (if any), then `SILENCE_SECONDS` of digital silence, then `example` through
/// a new mono instance and returns the output of the example.
fn example_after_silence(example: &[f32], abuse: &[Content]) -> Vec<f32> {
    let mut plugin = TestPlugin::new();
    plugin.select_channels(1);
    let stopped = plugin.activate(SAMPLE_RATE).expect("activate");
    let mut processor = stopped.start_processing().expect("start processing");
    let mut ports = BlockPorts::new(1);
    for (i, &content) in abuse.iter().enumerate() {
        let block = hostile_block(content, SAMPLE_RATE as usize / 7, i as u64);
        let out = stream_mono(&mut processor, &mut ports, &block, i as u64);
        assert!(
            out.iter().all(|v| v.is_finite() && v.abs() <= OUTPUT_BOUND),
            "{content:?}"
        );
    }
    let silence = vec![0.0f32; SAMPLE_RATE as usize];
    for second in 0..SILENCE_SECONDS {
        let out = stream_mono(&mut processor, &mut ports, &silence, second as u64);
        assert!(out.iter().all(|v| v.is_finite()));
        if second >= 1 {
            // Digital silence in, digital silence out (nothing left ringing or hissing).
            assert!(
                out.iter().all(|&v| v.abs() < 1e-6),
                "second {second} not silent"
            );
        }
    }
    let output = stream_mono(&mut processor, &mut ports, example, 2);
    plugin.instance.deactivate(processor.stop_processing());
    output
}

/// Worst level difference (dB) of `output` against `reference` over the 50 ms windows from
/// `start` on where the reference is within 10 dB of its loudest window (speech), and the
/// time of that window after the example starts.
fn worst_speech_window(output: &[f32], reference: &[f32], start: usize) -> (f64, f64) {
    let window = SAMPLE_RATE as usize / 20;
    let windows: Vec<usize> = (start..output.len() - window).step_by(window).collect();
    let loudest = windows
        .iter()
        .map(|&w| level_db(&reference[w..w + window]))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut worst = (0.0f64, 0.0f64);
    for &w in &windows {
        let reference_db = level_db(&reference[w..w + window]);
        if reference_db > loudest - 10.0 {
            let diff = level_db(&output[w..w + window]) - reference_db;
            if diff.abs() > worst.0.abs() {
                worst = (diff, (w - percepnet::LATENCY) as f64 / SAMPLE_RATE);
            }
        }
    }
    worst
}

#[test]
fn speech_after_minutes_of_silence_and_abuse_recovers() {
    // References: a fresh instance denoising the bundled example, and one that first had the
    // same three minutes of silence (no abuse).
    let example = noisy_example();
    let mut fresh = TestPlugin::new();
    fresh.select_channels(1);
    let stopped = fresh.activate(SAMPLE_RATE).expect("activate");
    let mut processor = stopped.start_processing().expect("start processing");
    let mut ports = BlockPorts::new(1);
    let reference = stream_mono(&mut processor, &mut ports, &example, 1);
    fresh.instance.deactivate(processor.stop_processing());
    let quiet = example_after_silence(&example, &[]);

    // The same example after a second of every kind of abuse and three minutes of silence.
    let abuse = [
        Content::Huge,
        Content::Nan,
        Content::Infinite,
        Content::Subnormal,
        Content::Dc,
        Content::FullScaleSquare,
        Content::Clipped,
    ];
    let output = example_after_silence(&example, &abuse);

    // From RECOVERY_SECONDS after the example starts (plus the latency):
    // - the abuse has left no trace: every 50 ms window of speech (within 10 dB of the loudest)
    //   at the level of the instance that only had the silence, within 1 dB;
    // - the output behaves as a fresh instance's: every speech window within AFTER_SILENCE_DB,
    //   the whole file within 1 dB, the noise-only lead-in removed (at least 15 dB below the
    //   input, as the fresh instance does). Not sample-equal, and not compared in the faint windows
    //   between words: the recurrent network and the pitch tracker keep some memory of their
    //   different pasts for seconds, which moves the residue of the removed noise (-40 dBFS
    //   windows) by 2-5 dB between two instances even with no abuse. Minutes of silence leave
    //   the network shut (the lead-in -60 dB instead of -27), and it opens on the first word
    //   2-3 dB later than a fresh instance (the window at 0.50 s: with the session-4 weights
    //   -1.87 dB after silence alone, -2.03 dB after abuse and silence; with the session-11
    //   weights -3.23 and -3.19 dB).
    let start = percepnet::LATENCY + (RECOVERY_SECONDS * SAMPLE_RATE) as usize;
    let (abuse_worst, abuse_at) = worst_speech_window(&output, &quiet, start);
    let (worst, worst_at) = worst_speech_window(&output, &reference, start);
    let (quiet_worst, quiet_at) = worst_speech_window(&quiet, &reference, start);
    let whole = level_db(&output[start..]) - level_db(&reference[start..]);
    let lead_in = start..percepnet::LATENCY + SAMPLE_RATE as usize / 2;
    let input_lead_in =
        level_db(&example[lead_in.start - percepnet::LATENCY..lead_in.end - percepnet::LATENCY]);
    let removed = level_db(&output[lead_in.clone()]) - input_lead_in;
    let removed_fresh = level_db(&reference[lead_in]) - input_lead_in;
    eprintln!(
        "after {RECOVERY_SECONDS} s: worst speech window {abuse_worst:+.2} dB from the silence-only \
         instance (at {abuse_at:.2} s), {worst:+.2} dB from a fresh instance (at {worst_at:.2} s; \
         silence only: {quiet_worst:+.2} dB at {quiet_at:.2} s), whole file {whole:+.2} dB, noise \
         lead-in {removed:+.1} dB (fresh {removed_fresh:+.1} dB)"
    );
    assert!(
        abuse_worst.abs() < 1.0,
        "abuse left a trace: a speech window {abuse_worst:+.2} dB off at {abuse_at:.2} s"
    );
    assert!(
        worst.abs() < AFTER_SILENCE_DB,
        "not recovered: a speech window {worst:+.2} dB off at {worst_at:.2} s"
    );
    assert!(
        whole.abs() < 1.0,
        "not recovered: the whole file {whole:+.2} dB off"
    );
    assert!(removed < -15.0, "noise lead-in only {removed:+.1} dB");
}

/// Resident memory of this process in bytes (Linux: /proc/self/statm).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// One hour of stereo audio at 48 kHz through the plugin with the trained network, in
/// pseudo-random blocks, with a parameter move every few seconds. Checks that resident memory
/// does not grow after the first minute, that the output stays finite, and that the timing has
/// not drifted by a single sample: in the last 10 s the attenuation limit is set to 0 dB, which
/// makes the plugin an exact delay of the reported latency.
///
/// Ignored by default (about 10 minutes in release on a 2-core machine):
/// `cargo xtask bundle percepnet --release && cargo test --release --test clap_host -- --ignored soak --nocapture`
#[test]
#[ignore]
fn soak_one_hour() {
    const SECONDS: usize = 3600;
    const CHECK_SECONDS: usize = 10;
    let rate = SAMPLE_RATE as usize;
    let mut plugin = TestPlugin::new();
    plugin.select_channels(2);
    let limit = plugin.param_id(ParamQuery::Named(ATTENUATION_LIMIT));
    let post = plugin.param_id(ParamQuery::Named(POST_FILTER));
    let stopped = plugin.activate(SAMPLE_RATE).expect("activate");
    let latency = plugin.latency();
    let mut processor = stopped.start_processing().expect("start processing");
    let mut ports = BlockPorts::new(2);
    let example = noisy_example();
    let mut sizes = block_sizes(99);
    let mut rng = Lcg(7);
    let total = SECONDS * rate;
    let exact_from = (SECONDS - CHECK_SECONDS) * rate;
    // The input's last `latency` samples, to check the delayed copy across block edges.
    let mut history: std::collections::VecDeque<[f32; 2]> = std::collections::VecDeque::new();
    let (mut pos, mut baseline, mut peak_growth) = (0usize, 0usize, 0isize);
    let (mut next_move, mut limit_sent) = (0usize, false);
    while pos < total {
        let len = sizes.next().unwrap_or(480).min(total - pos);
        let input: Vec<Vec<f32>> = (0..2)
            .map(|c| {
                (pos..pos + len)
                    .map(|n| example[(n + c * 12_345) % example.len()])
                    .collect()
            })
            .collect();
        let mut changes = Vec::new();
        if !limit_sent && pos >= exact_from - rate {
            changes.push((limit, 0.0));
            limit_sent = true;
        } else if pos >= next_move && !limit_sent {
            changes.push((limit, 20.0 + 80.0 * f64::from(rng.next_f32().abs())));
            changes.push((post, f64::from(rng.next_f32().abs())));
            next_move = pos + 5 * rate;
        }
        let output = ports.process(&mut processor, &input, &changes, 0);
        for n in 0..len {
            history.push_back([input[0][n], input[1][n]]);
            let delayed = if history.len() > latency {
                history.pop_front()
            } else {
                None
            };
            for c in 0..2 {
                let y = output[c][n];
                assert!(y.is_finite(), "sample {} not finite", pos + n);
                if pos + n >= exact_from {
                    let x = delayed.map_or(0.0, |d| d[c]);
                    assert!(
                        (y - x).abs() <= TOLERANCE,
                        "drift after {} s: channel {c} got {y}, expected {x}",
                        (pos + n) / rate
                    );
                }
            }
        }
        pos += len;
        if pos / rate >= 60 && baseline == 0 {
            baseline = resident_bytes();
        }
        if baseline != 0 && (pos - len) / (600 * rate) != pos / (600 * rate) {
            let growth = resident_bytes() as isize - baseline as isize;
            peak_growth = peak_growth.max(growth);
            eprintln!(
                "{} min: resident {:.1} MB ({:+.2} MB since minute 1)",
                pos / rate / 60,
                resident_bytes() as f64 / 1e6,
                growth as f64 / 1e6
            );
        }
    }
    plugin.instance.deactivate(processor.stop_processing());
    assert!(
        peak_growth < 4 << 20,
        "resident memory grew by {:.1} MB",
        peak_growth as f64 / 1e6
    );
}
