//! Through the CLAP host (`common/host.rs`): the voice gate, the mix and the output mode.
//!
//! - With Gate Threshold at 50 % (other gate settings at their defaults), noise alone comes out
//!   at least 60 dB below the input once the grace has passed, and speech opens the gate within
//!   one hop of its start.
//! - Mix 0 % is the input delayed by exactly the reported latency, bit for bit.
//! - Denoised + Removed is the delayed input, at any mix.
//! - Automating the gate parameters never makes the gate's gain jump, and the mix and output
//!   mode move by ramps, not steps.
//!
//! At 48 kHz the plugin's output at Mix 100 %, Denoised, is the engine's output times the gate
//! gain g(n) (both runs see the same blocks, so the engine's output is the same), which lets
//! these tests read g(n) off the ratio of two runs.

mod common;

use clack_host::prelude::*;
use common::host::*;

/// Engine hop (10 ms at 48 kHz).
const HOP: usize = percepnet::HOP;
/// Largest change of the gate gain per sample: a full opening takes 2.5 ms (see
/// `src/dsp/gate.rs`), plus rounding.
const GATE_STEP: f32 = 1.0 / 120.0 + 1e-4;

/// Normalised values of the parameters (all ranges are linear).
mod normalized {
    /// Gate Threshold 50 %.
    pub const THRESHOLD_50: f64 = 0.5;
    /// Output: Removed.
    pub const REMOVED: f64 = 1.0;
}

/// A fresh mono or stereo plugin with some parameters set.
fn plugin_with(channels: u32, settings: &[(&'static str, f64)]) -> TestPlugin {
    let mut plugin = TestPlugin::new();
    plugin.select_channels(channels);
    let values: Vec<(ClapId, f64)> = settings
        .iter()
        .map(|&(name, v)| (plugin.param_id(ParamQuery::Named(name)), v))
        .collect();
    plugin.flush_params(&values);
    plugin
}

/// Streams `input` through a fresh plugin at `rate` with `settings`, in the blocks of `seed`.
fn run(
    channels: u32,
    rate: f64,
    settings: &[(&'static str, f64)],
    input: &[Vec<f32>],
    seed: u64,
) -> Stream {
    let mut plugin = plugin_with(channels, settings);
    run_stream(&mut plugin, rate, input, block_sizes(seed), &no_automation)
}

/// Pink noise at RMS `rms`: white noise through a third-order filter whose response falls by
/// 3 dB per octave from 10 Hz to the top of the band within 0.5 dB.
fn pink_noise(len: usize, rms: f32, seed: u64) -> Vec<f32> {
    const B: [f64; 4] = [0.049922035, -0.095993537, 0.050612699, -0.004408786];
    const A: [f64; 4] = [1.0, -2.494956002, 2.017265875, -0.522189400];
    let mut rng = Lcg(seed);
    let (mut xs, mut ys) = ([0.0f64; 4], [0.0f64; 4]);
    let mut x: Vec<f64> = (0..len)
        .map(|_| {
            xs.rotate_right(1);
            ys.rotate_right(1);
            xs[0] = f64::from(rng.next_f32());
            ys[0] = (0..4).map(|k| B[k] * xs[k]).sum::<f64>()
                - (1..4).map(|k| A[k] * ys[k]).sum::<f64>();
            ys[0]
        })
        .collect();
    let level = (x.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
    x.iter_mut().for_each(|v| *v *= f64::from(rms) / level);
    x.into_iter().map(|v| v as f32).collect()
}

/// White noise at RMS `rms`.
fn white_noise(len: usize, rms: f32, seed: u64) -> Vec<f32> {
    let mut rng = Lcg(seed);
    (0..len)
        .map(|_| rng.next_f32() * rms * 3f32.sqrt())
        .collect()
}

#[test]
fn noise_alone_is_gated_60_db_down_after_the_grace() {
    let len = 2 * SAMPLE_RATE as usize;
    // Grace (200 ms) and the close ramp (25 ms) after the start, with a margin.
    let settled = (0.25 * SAMPLE_RATE) as usize;
    for (name, noise) in [
        ("white", white_noise(len, 0.05, 1)),
        ("pink", pink_noise(len, 0.05, 2)),
        // Room tone at -60 dBFS.
        ("quiet pink", pink_noise(len, 0.001, 3)),
    ] {
        let input = vec![noise];
        let stream = run(
            1,
            SAMPLE_RATE,
            &[(GATE_THRESHOLD, normalized::THRESHOLD_50)],
            &input,
            10,
        );
        let lat = stream.latency;
        let gated = level_db(&stream.output[0][lat + settled..]);
        let dry = level_db(&input[0][settled..len - lat]);
        eprintln!("{name} noise: {:+.1} dB after the grace", gated - dry);
        assert!(
            gated - dry <= -60.0,
            "{name} noise only {:+.1} dB down",
            gated - dry
        );
    }
}

/// Gate gain per sample: `gated / open` where the open output is large enough to tell, else
/// NaN.
fn gate_gain(gated: &[f32], open: &[f32]) -> Vec<f32> {
    gated
        .iter()
        .zip(open)
        .map(|(&g, &o)| if o.abs() > 1e-4 { g / o } else { f32::NAN })
        .collect()
}

/// The bundled clean speech (16-bit mono WAV, aligned with the noisy example) as f32.
fn clean_example() -> Vec<f32> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/clean.wav");
    let mut reader = hound::WavReader::open(path).expect("examples/clean.wav");
    reader
        .samples::<i16>()
        .map(|s| s.expect("sample") as f32 / 32768.0)
        .collect()
}

/// Where speech starts after the pauses of at least `pause` samples in `clean`, labelled per
/// 10 ms frame as in the gate accuracy measurement (`src/dsp/presence.rs`): the first sample
/// of the first frame within 30 dB of the loudest frame.
fn speech_onsets(clean: &[f32], pause: usize) -> Vec<usize> {
    let levels: Vec<f64> = clean.chunks_exact(HOP).map(level_db).collect();
    let loudest = levels.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut onsets = Vec::new();
    let mut quiet = pause / HOP;
    for (i, &l) in levels.iter().enumerate() {
        if l > loudest - 30.0 {
            if quiet * HOP >= pause {
                onsets.push(i * HOP);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    onsets
}

#[test]
fn speech_opens_the_gate_within_one_hop_of_its_start() {
    // The noisy example (pink noise and hum at 5 dB SNR) with the gate at 50 %, against the
    // same with the gate off: after each pause of 300 ms or more (the gate closes within
    // 225 ms), it must be fully open one hop after the speech starts (in the clean speech),
    // thanks to the retroactive grace.
    let input = vec![noisy_example()];
    let open = run(1, SAMPLE_RATE, &[], &input, 20);
    let gated = run(
        1,
        SAMPLE_RATE,
        &[(GATE_THRESHOLD, normalized::THRESHOLD_50)],
        &input,
        20,
    );
    let lat = gated.latency;
    let gain = gate_gain(&gated.output[0], &open.output[0]);
    let pause = (0.3 * SAMPLE_RATE) as usize;
    let onsets = speech_onsets(&clean_example(), pause);
    assert!(onsets.len() >= 4, "onsets {onsets:?}");
    let finite_min = |s: &[f32]| {
        s.iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(1.0, f32::min)
    };
    for &start in &onsets {
        let at = |offset: isize| {
            let n = ((lat + start) as isize + offset) as usize;
            gain[n..n + HOP / 10]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(f32::NAN, f32::max)
        };
        let before = finite_min(&gain[lat + start - pause..lat + start - HOP]);
        let (early, at_start, after_hop) = (at(-(HOP as isize) / 2), at(0), at(HOP as isize));
        eprintln!(
            "speech at {:.3} s: gate gain {before:.5} in the pause, {early:.3} 5 ms before the \
             start, {at_start:.3} at the start, {after_hop:.3} one hop later",
            start as f64 / SAMPLE_RATE
        );
        assert!(before < 0.01, "gate not closed before {start}: {before}");
        // Fully open from one hop after the start, for the next 100 ms.
        let from = lat + start + HOP;
        let worst = finite_min(&gain[from..from + SAMPLE_RATE as usize / 10]);
        assert!(
            worst > 0.999,
            "speech at {start}: gate gain {worst} one hop after the start"
        );
    }
}

#[test]
fn mix_zero_is_the_input_delayed_bit_exactly() {
    // The denoiser and a gate at 50 % keep running; at Mix 0 % none of it may leak in.
    for (i, rate) in [SAMPLE_RATE, 44_100.0, 96_000.0].into_iter().enumerate() {
        for channels in [1, 2] {
            let input = test_signal_at(channels as usize, rate);
            let stream = run(
                channels,
                rate,
                &[(MIX, 0.0), (GATE_THRESHOLD, normalized::THRESHOLD_50)],
                &input,
                30 + i as u64,
            );
            assert_eq!(stream.latency, expected_latency(rate));
            for (x, y) in input.iter().zip(&stream.output) {
                let lat = stream.latency;
                assert!(y[..lat].iter().all(|&v| v == 0.0));
                for (n, (&out, &expected)) in y[lat..].iter().zip(x).enumerate() {
                    assert_eq!(out, expected, "{rate} Hz, sample {}", n + lat);
                }
            }
        }
    }
}

#[test]
fn denoised_plus_removed_is_the_delayed_input() {
    let input = vec![noisy_example(), noisy_example().into_iter().rev().collect()];
    for (i, rate) in [SAMPLE_RATE, 44_100.0].into_iter().enumerate() {
        let input = if rate == SAMPLE_RATE {
            input.clone()
        } else {
            percepnet::offline::resample::resample(&input, percepnet::SAMPLE_RATE, rate as u32)
                .expect("resample")
        };
        for mix in [1.0, 0.5] {
            let common = [(MIX, mix), (GATE_THRESHOLD, normalized::THRESHOLD_50)];
            let seed = 40 + i as u64;
            let denoised = run(2, rate, &common, &input, seed);
            let with_mode = [common[0], common[1], (OUTPUT, normalized::REMOVED)];
            let removed = run(2, rate, &with_mode, &input, seed);
            let lat = denoised.latency;
            let mut worst = 0.0f32;
            for ((d, r), x) in denoised.output.iter().zip(&removed.output).zip(&input) {
                for ((d, r), x) in d[lat..].iter().zip(&r[lat..]).zip(x) {
                    worst = worst.max((d + r - x).abs());
                }
                let removed_db = level_db(&r[lat..]) - level_db(x);
                assert!(removed_db > -40.0, "nothing removed ({removed_db:.1} dB)");
            }
            eprintln!("{rate} Hz, mix {mix}: |denoised + removed - input| <= {worst:e}");
            assert!(worst <= 1e-5, "{rate} Hz, mix {mix}: off by {worst}");
        }
    }
}

/// Parameter changes for block `block` of a stream: every few blocks, each listed parameter
/// jumps to a pseudo-random value.
fn random_automation(ids: &[ClapId], block: usize) -> Vec<(ClapId, f64)> {
    let mut rng = Lcg(block as u64 * 7919);
    if block % 5 != 2 {
        return Vec::new();
    }
    ids.iter()
        .map(|&id| (id, f64::from(rng.next_f32().abs())))
        .collect()
}

#[test]
fn automating_the_gate_never_makes_its_gain_jump() {
    // Speech with the gate on, all four gate parameters jumping to random values every few
    // blocks: the gate gain read off the output never moves faster than its ramps allow.
    let input = vec![noisy_example()];
    let open = run(1, SAMPLE_RATE, &[], &input, 50);
    let mut plugin = plugin_with(1, &[(GATE_THRESHOLD, normalized::THRESHOLD_50)]);
    let ids: Vec<ClapId> = [GATE_THRESHOLD, GRACE, RETRO_GRACE, GATE_DEPTH]
        .iter()
        .map(|&name| plugin.param_id(ParamQuery::Named(name)))
        .collect();
    let automation = move |block: usize| random_automation(&ids, block);
    let gated = run_stream(
        &mut plugin,
        SAMPLE_RATE,
        &input,
        block_sizes(50),
        &automation,
    );
    let gain = gate_gain(&gated.output[0], &open.output[0]);
    let (mut last, mut gap, mut lowest, mut worst) = (1.0f32, 0usize, 1.0f32, 0.0f32);
    for &g in &gain {
        gap += 1;
        if g.is_finite() {
            worst = worst.max((g - last).abs() / gap as f32);
            assert!(
                (g - last).abs() <= gap as f32 * GATE_STEP,
                "gate gain jumped from {last} to {g} in {gap} samples"
            );
            lowest = lowest.min(g);
            (last, gap) = (g, 0);
        }
    }
    eprintln!("gate gain: lowest {lowest:e}, fastest change {worst:.5} per sample");
    assert!(lowest < 0.01, "the gate never closed");
}

/// Checks that `share(n)`, a crossfade share read off the output, moves by at most `step` per
/// sample (and reaches both ends); `None` where it cannot be read.
fn assert_ramps(name: &str, shares: impl Iterator<Item = Option<f32>>, step: f32) {
    let (mut last, mut gap) = (None::<f32>, 0usize);
    let (mut low, mut high) = (f32::INFINITY, f32::NEG_INFINITY);
    for share in shares {
        gap += 1;
        let Some(s) = share else { continue };
        if let Some(prev) = last {
            assert!(
                (s - prev).abs() <= gap as f32 * step + 1e-3,
                "{name}: jumped from {prev} to {s} in {gap} samples"
            );
        }
        (low, high) = (low.min(s), high.max(s));
        (last, gap) = (Some(s), 0);
    }
    assert!(low < 0.05 && high > 0.95, "{name}: stayed in {low}..{high}");
}

#[test]
fn mix_and_output_mode_move_by_ramps_not_steps() {
    // Wet y (Mix 100 %, Denoised) and the delayed dry x from reference runs; the automated run
    // must be x + w (y - x) (Mix) or D + r (R - D) (Output) with w and r moving smoothly: the
    // Mix parameter's 50 ms smoother (1/2400 per sample) and the 10 ms mode crossfade (1/480).
    let input = vec![noisy_example()];
    let wet = run(1, SAMPLE_RATE, &[], &input, 60);
    let lat = wet.latency;
    let y = &wet.output[0];
    let x = |n: usize| if n >= lat { input[0][n - lat] } else { 0.0 };
    let flip = |id: ClapId| {
        move |block: usize| {
            if block % 40 == 20 {
                vec![(id, ((block / 40) % 2) as f64)]
            } else {
                Vec::new()
            }
        }
    };
    for (name, step) in [(MIX, 1.0 / 2400.0), (OUTPUT, 1.0 / 480.0)] {
        let mut plugin = plugin_with(1, &[]);
        let id = plugin.param_id(ParamQuery::Named(name));
        let automation = flip(id);
        let out = run_stream(
            &mut plugin,
            SAMPLE_RATE,
            &input,
            block_sizes(60),
            &automation,
        )
        .output;
        let shares = (0..y.len()).map(|n| {
            // Mix: out = y + (1 - w)(x - y); Output: out = y + r (x - 2 y).
            let (base, span) = if name == MIX {
                (y[n], x(n) - y[n])
            } else {
                (y[n], x(n) - 2.0 * y[n])
            };
            (span.abs() > 0.02).then(|| {
                let share = (out[0][n] - base) / span;
                if name == MIX {
                    1.0 - share
                } else {
                    share
                }
            })
        });
        assert_ramps(name, shares, step * 1.01);
    }
}
