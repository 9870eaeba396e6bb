//! Through the CLAP host (`common/host.rs`): every supported sample rate reports the latency it
//! measures, re-activation at another rate keeps it right, unsupported rates pass audio through
//! untouched, the trained network stays finite at every rate, and a reset clears every path.

mod common;

use common::host::*;

#[test]
fn unsupported_rates_pass_audio_through_untouched() {
    // A host at a rate the engine cannot run at (clap-validator tries 1234.57 Hz) gets a
    // plugin that activates, reports no latency and passes the audio through bit-exactly
    // (the editor says why), instead of a refusal that would silence the track.
    let mut plugin = TestPlugin::new();
    plugin.select_channels(2);
    for (i, rate) in [1_234.57f64, 4_000.0, 44_101.0, 44_100.5, 1_000_000.0]
        .into_iter()
        .enumerate()
    {
        let input = test_signal_at(2, rate.min(96_000.0));
        let stream = run_stream(
            &mut plugin,
            rate,
            &input,
            block_sizes(70 + i as u64),
            &no_automation,
        );
        assert_eq!(stream.latency, 0, "latency at {rate} Hz");
        assert_eq!(stream.output, input, "output at {rate} Hz");
    }

    // The instance stays usable: supported rates work afterwards.
    for (rate, latency) in [(44_100.0, 1_470), (SAMPLE_RATE, percepnet::LATENCY)] {
        let stopped = plugin
            .activate(rate)
            .unwrap_or_else(|e| panic!("activate at {rate} Hz: {e:?}"));
        assert_eq!(plugin.latency(), latency, "at {rate} Hz");
        plugin.instance.deactivate(stopped);
    }
}

#[test]
fn reported_latency_is_the_measured_delay_at_every_rate() {
    for (i, &(rate, _)) in SUPPORTED.iter().enumerate() {
        for channels in [1, 2] {
            let mut plugin = unity_plugin(channels as u32);
            let seed = 100 + 10 * i as u64 + channels as u64;
            check_measured_delay(&mut plugin, rate, channels, &no_automation, seed);
        }
    }
}

#[test]
fn reactivating_at_another_rate_keeps_the_delay_right() {
    let mut plugin = unity_plugin(2);
    let input = test_signal(2);
    let check_48k = |plugin: &mut TestPlugin, seed| {
        let stream = run_stream(
            plugin,
            SAMPLE_RATE,
            &input,
            block_sizes(seed),
            &no_automation,
        );
        assert_eq!(stream.latency, percepnet::LATENCY);
        assert_delayed_copy(&input, &stream.output, stream.latency);
    };
    check_48k(&mut plugin, 20);
    check_measured_delay(&mut plugin, 44_100.0, 2, &no_automation, 21);
    check_measured_delay(&mut plugin, 192_000.0, 2, &no_automation, 22);
    check_48k(&mut plugin, 23);
    check_measured_delay(&mut plugin, 88_200.0, 2, &no_automation, 24);
}

#[test]
fn output_is_finite_at_every_rate_with_the_trained_network() {
    for (i, &(rate, _)) in SUPPORTED.iter().enumerate() {
        let mut input = test_signal_at(2, rate);
        let len = input[0].len();
        input[0][100] = f32::NAN;
        input[1][len / 30] = f32::INFINITY;
        input[0][len / 2 + 77] = f32::NEG_INFINITY;
        let mut plugin = TestPlugin::new();
        plugin.select_channels(2);
        let output = run_stream(
            &mut plugin,
            rate,
            &input,
            block_sizes(50 + i as u64),
            &no_automation,
        )
        .output;
        for channel in &output {
            assert!(channel.iter().all(|v| v.is_finite()), "at {rate} Hz");
            assert!(channel.iter().any(|&v| v != 0.0), "silence at {rate} Hz");
        }
    }
}

#[test]
fn reset_clears_every_path() {
    // After noise and a reset, silence in must give exact silence out: nothing (engine,
    // resamplers, hop buffers, dry delay) may remember the noise.
    for (i, &(rate, _)) in SUPPORTED.iter().enumerate() {
        let mut plugin = TestPlugin::new();
        plugin.select_channels(2);
        let stopped = plugin
            .activate(rate)
            .unwrap_or_else(|e| panic!("activate at {rate} Hz: {e:?}"));
        let mut processor = stopped.start_processing().expect("start processing");
        let noise = test_signal_at(2, rate);
        let seed = 60 + i as u64;
        let output = process_blocks(&mut processor, &noise, block_sizes(seed), &no_automation);
        assert!(output[0].iter().any(|&v| v != 0.0), "silence at {rate} Hz");
        processor.reset();
        let silence = vec![vec![0.0f32; (0.5 * rate) as usize]; 2];
        let output = process_blocks(&mut processor, &silence, block_sizes(seed), &no_automation);
        for channel in &output {
            assert!(
                channel.iter().all(|&v| v == 0.0),
                "{rate} Hz: the noise outlived the reset"
            );
        }
        plugin.instance.deactivate(processor.stop_processing());
    }
}
