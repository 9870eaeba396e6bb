//! Through the CLAP host (`common/host.rs`): the reported latency is the engine's, and the
//! output is the input delayed by exactly that much through every code path at 48 kHz (odd and
//! changing block sizes, mono and stereo, bypass toggles, parameter changes); bypassed, at every
//! supported rate.

mod common;

use common::host::*;

#[test]
fn reports_the_engine_latency_at_48k() {
    let mut plugin = TestPlugin::new();
    let stopped = plugin.activate(SAMPLE_RATE).expect("activate at 48 kHz");
    assert_eq!(plugin.latency(), 1440);
    assert_eq!(plugin.latency(), percepnet::LATENCY);
    plugin.instance.deactivate(stopped);
}

#[test]
fn mono_output_is_the_input_delayed_by_the_latency() {
    check_exact_delay(1, &no_automation, 1);
}

#[test]
fn stereo_output_is_the_input_delayed_by_the_latency() {
    check_exact_delay(2, &no_automation, 2);
}

#[test]
fn toggling_bypass_and_moving_parameters_keeps_the_exact_delay() {
    let mut probe = TestPlugin::new();
    let bypass = probe.param_id(ParamQuery::Bypass);
    let limit = probe.param_id(ParamQuery::Named(ATTENUATION_LIMIT));
    let post_filter = probe.param_id(ParamQuery::Named(POST_FILTER));
    drop(probe);

    // Every few blocks: switch bypass (sometimes twice within one crossfade, as single-sample
    // blocks come first) and move both float parameters across their ranges.
    let automation = move |block: usize| {
        let mut changes = Vec::new();
        if block % 3 == 1 {
            changes.push((bypass, ((block / 3) % 2) as f64));
        }
        if block % 4 == 2 {
            // The limit stays at 0 dB (exact delay); the post-filter then has nothing to warp.
            let sweep = (block % 9) as f64 / 8.0;
            changes.push((limit, 0.0));
            changes.push((post_filter, 1.0 - sweep));
        }
        changes
    };
    check_exact_delay(2, &automation, 3);
    check_exact_delay(1, &automation, 4);
}

#[test]
fn bypass_is_delayed_by_the_reported_latency_at_every_rate() {
    // Bypassed from the start: the output is the dry signal, delayed by exactly the reported
    // latency (whole samples, so bit-exact even where the wet path's delay is fractional).
    for (i, &(rate, latency)) in SUPPORTED.iter().enumerate() {
        let mut plugin = TestPlugin::new();
        plugin.select_channels(2);
        let bypass = plugin.param_id(ParamQuery::Bypass);
        plugin.flush_params(&[(bypass, 1.0)]);
        let input = test_signal_at(2, rate);
        let stream = run_stream(
            &mut plugin,
            rate,
            &input,
            block_sizes(30 + i as u64),
            &no_automation,
        );
        assert_eq!(stream.latency, latency, "at {rate} Hz");
        assert_delayed_copy(&input, &stream.output, latency);
    }
}

#[test]
fn toggling_bypass_while_resampling_keeps_the_delay() {
    let mut plugin = unity_plugin(2);
    let bypass = plugin.param_id(ParamQuery::Bypass);
    let automation = move |block: usize| {
        if block % 3 == 1 {
            vec![(bypass, ((block / 3) % 2) as f64)]
        } else {
            Vec::new()
        }
    };
    // Where the latency is a whole number of samples, the wet and dry paths line up, so the
    // crossfades between them leave the delayed input (at 44.1 kHz they are half a sample
    // apart: see `bypass_is_delayed_by_the_reported_latency_at_every_rate`).
    for (i, rate) in [88_200.0, 96_000.0, 192_000.0].into_iter().enumerate() {
        check_measured_delay(&mut plugin, rate, 2, &automation, 40 + i as u64);
    }
}
