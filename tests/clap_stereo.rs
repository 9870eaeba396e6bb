//! Through the CLAP host (`common/host.rs`): the stereo link gives both channels one set of
//! gains, so the image cannot wander.

mod common;

use common::host::*;

/// Streams `input` (stereo) through a fresh plugin at `rate` with the stereo link on or off.
fn stereo_run(input: &[Vec<f32>], rate: f64, linked: bool, seed: u64) -> Vec<Vec<f32>> {
    let mut plugin = TestPlugin::new();
    plugin.select_channels(2);
    let link = plugin.param_id(ParamQuery::Named(STEREO_LINK));
    plugin.flush_params(&[(link, f64::from(u8::from(linked)))]);
    run_stream(&mut plugin, rate, input, block_sizes(seed), &no_automation).output
}

/// Energy of `y - a x` relative to that of `a x`, in dB.
fn mismatch_db(x: &[f32], y: &[f32], a: f32) -> f64 {
    let (mut err, mut sig) = (0.0f64, 0.0f64);
    for (&x, &y) in x.iter().zip(y) {
        err += f64::from(y - a * x).powi(2);
        sig += f64::from(a * x).powi(2);
    }
    10.0 * (err.max(1e-30) / sig).log10()
}

#[test]
fn stereo_link_applies_one_set_of_gains_to_both_channels() {
    // The right channel is the left one at -12 dB. Unlinked, each network sees its own level
    // and cuts differently, so the image moves; linked, both channels get the mid's gains, so
    // the right output stays the left output at -12 dB (the pitch and comb filter, run per
    // channel, are level-independent).
    let a = 0.25f32;
    let left = noisy_example();
    let right: Vec<f32> = left.iter().map(|v| a * v).collect();
    for (i, rate) in [SAMPLE_RATE, 44_100.0, 22_050.0].into_iter().enumerate() {
        let input = if rate == SAMPLE_RATE {
            vec![left.clone(), right.clone()]
        } else {
            percepnet::offline::resample::resample(
                &[left.clone(), right.clone()],
                percepnet::SAMPLE_RATE,
                rate as u32,
            )
            .expect("resample")
        };
        let linked = stereo_run(&input, rate, true, 80 + i as u64);
        let unlinked = stereo_run(&input, rate, false, 80 + i as u64);
        let linked_db = mismatch_db(&linked[0], &linked[1], a);
        let unlinked_db = mismatch_db(&unlinked[0], &unlinked[1], a);
        eprintln!(
            "{rate} Hz: right vs left/4: linked {linked_db:.1} dB, unlinked {unlinked_db:.1} dB"
        );
        assert!(
            linked_db < -60.0,
            "{rate} Hz: linked channels differ ({linked_db:.1} dB)"
        );
        assert!(
            unlinked_db > -40.0,
            "{rate} Hz: unlinked channels alike ({unlinked_db:.1} dB)"
        );
    }
}

#[test]
fn stereo_link_of_identical_channels_changes_nothing() {
    // With l = r the mid is the channel itself: linked and unlinked outputs must be equal.
    let x = noisy_example();
    let input = vec![x.clone(), x];
    let linked = stereo_run(&input, SAMPLE_RATE, true, 90);
    let unlinked = stereo_run(&input, SAMPLE_RATE, false, 91);
    for (l, u) in linked.iter().zip(&unlinked) {
        let worst = l
            .iter()
            .zip(u)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "linked and unlinked differ by {worst}");
    }
}
