//! Weights format and network inference.

mod common;
use common::parse_reference;

use percepnet::denoiser::NB_FEATURES;
use percepnet::model::{Network, Shape, Weights, WeightsError};
use percepnet::NB_BANDS;

fn tiny() -> Shape {
    Shape {
        features: NB_FEATURES,
        bands: NB_BANDS,
        dense: 8,
        conv1: 12,
        conv1_kernel: 5,
        conv2: 10,
        conv2_kernel: 3,
        gru: 16,
        gru_layers: 3,
        head_g: 9,
        head_r: 7,
    }
}

#[test]
fn weights_round_trip() {
    let w = Weights::pseudo_random(tiny(), 7);
    let bytes = w.to_bytes();
    let back = Weights::parse(&bytes).expect("parse");
    assert_eq!(back.shape, w.shape);
    assert_eq!(back.tensors, w.tensors);
    assert_eq!(bytes[8], 1, "no presence head: version 1");
    assert!(back.presence.is_none());
    assert!(Network::from_bytes(&bytes).unwrap().presence().is_none());
}

#[test]
fn presence_head_round_trips_and_gives_a_probability() {
    let mut w = Weights::pseudo_random(tiny(), 7);
    let gru = w.shape.gru;
    w.presence = Some(((0..gru).map(|i| (i as f32 * 0.37).sin()).collect(), 0.25));
    let bytes = w.to_bytes();
    assert_eq!(bytes[8], 2, "a presence head makes version 2");
    let back = Weights::parse(&bytes).expect("parse");
    assert_eq!(back.presence, w.presence);
    assert_eq!(back.tensors, w.tensors);
    let mut net = Network::from_bytes(&bytes).unwrap();
    let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
    let mut seen = Vec::new();
    for j in 0..20 {
        let f: Vec<f32> = (0..NB_FEATURES)
            .map(|i| ((i * 7 + j * 13) % 17) as f32 / 8.0 - 1.0)
            .collect();
        net.forward(&f, &mut g, &mut r);
        let p = net.presence().expect("presence head");
        assert!((0.0..=1.0).contains(&p));
        seen.push(p);
    }
    assert!(
        seen.iter().any(|&p| p != seen[0]),
        "presence follows the input"
    );
    // A truncated presence head is refused.
    assert!(matches!(
        Weights::parse(&bytes[..bytes.len() - 4]).unwrap_err(),
        WeightsError::Truncated { .. }
    ));
}

#[test]
fn malformed_weights_are_rejected_with_a_clear_error() {
    let good = Weights::pseudo_random(tiny(), 7).to_bytes();
    assert_eq!(
        Weights::parse(b"hello").unwrap_err(),
        WeightsError::BadMagic
    );
    let mut v = good.clone();
    v[8] = 9;
    assert_eq!(
        Weights::parse(&v).unwrap_err(),
        WeightsError::UnsupportedVersion(9)
    );
    assert!(matches!(
        Weights::parse(&good[..good.len() - 3]).unwrap_err(),
        WeightsError::Truncated { .. }
    ));
    let mut v = good.clone();
    v.push(0);
    assert_eq!(
        Weights::parse(&v).unwrap_err(),
        WeightsError::TrailingBytes(1)
    );
    // A NaN in the first tensor.
    let mut v = good.clone();
    let first_tensor_data = 12 + 4 * 11 + 8 * NB_FEATURES + 4 * 3;
    v[first_tensor_data..first_tensor_data + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(matches!(
        Weights::parse(&v).unwrap_err(),
        WeightsError::NonFinite(_)
    ));
    // A header whose widths do not match the engine's features.
    let mut shape = tiny();
    shape.features = 42;
    let err = Network::from_bytes(&Weights::pseudo_random(shape, 1).to_bytes()).unwrap_err();
    assert!(err.to_string().contains("features"), "{err}");
    // Every prefix of a valid file fails cleanly (no panic).
    for n in (0..good.len()).step_by(97) {
        assert!(Weights::parse(&good[..n]).is_err());
    }
    // Every single corrupted byte either parses or fails cleanly.
    for i in (0..good.len()).step_by(13) {
        let mut v = good.clone();
        v[i] ^= 0xA5;
        let _ = Weights::parse(&v);
    }
}

#[test]
fn network_outputs_are_in_range_and_deterministic() {
    let bytes = Weights::pseudo_random(tiny(), 3).to_bytes();
    let mut a = Network::from_bytes(&bytes).unwrap();
    let mut b = Network::from_bytes(&bytes).unwrap();
    let (mut ga, mut ra, mut gb, mut rb) = (
        [0.0; NB_BANDS],
        [0.0; NB_BANDS],
        [0.0; NB_BANDS],
        [0.0; NB_BANDS],
    );
    for j in 0..50 {
        let f: Vec<f32> = (0..NB_FEATURES)
            .map(|i| ((i * 31 + j * 7) % 23) as f32 / 11.0 - 1.0)
            .collect();
        a.forward(&f, &mut ga, &mut ra);
        b.forward(&f, &mut gb, &mut rb);
        assert_eq!(ga, gb);
        assert!(ga.iter().chain(&ra).all(|v| (0.0..=1.0).contains(v)));
    }
    // State matters: after a reset the same input gives the first frame's output again.
    let f0: Vec<f32> = (0..NB_FEATURES)
        .map(|i| ((i * 31) % 23) as f32 / 11.0 - 1.0)
        .collect();
    let mut fresh = Network::from_bytes(&bytes).unwrap();
    let (mut g1, mut r1) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
    fresh.forward(&f0, &mut g1, &mut r1);
    a.reset();
    a.forward(&f0, &mut ga, &mut ra);
    assert_eq!(g1, ga);
    assert_ne!(g1, gb, "the recurrent state should change the output");
}

#[test]
fn rust_network_matches_the_trainer_reference_outputs() {
    let weights =
        percepnet::model::embedded_weights().expect("this build embeds weights/percepnet.pnw");
    let mut net = Network::from_bytes(weights).expect("embedded weights parse");
    let (inputs, outputs) = parse_reference(include_bytes!("../weights/percepnet.pnr"));
    assert!(
        inputs.len() >= 50,
        "reference too short to exercise the recurrent state"
    );
    let (mut g, mut r) = ([0.0; NB_BANDS], [0.0; NB_BANDS]);
    let mut max_err = 0.0f32;
    for (x, want) in inputs.iter().zip(&outputs) {
        net.forward(x, &mut g, &mut r);
        // Version 2 references end with the presence, which the network then must have.
        let presence = (want.len() > 2 * NB_BANDS).then(|| net.presence().expect("presence head"));
        for (a, b) in g.iter().chain(&r).chain(presence.as_ref()).zip(want) {
            max_err = max_err.max((a - b).abs());
        }
    }
    eprintln!(
        "max abs error against PyTorch over {} frames: {max_err:e}",
        inputs.len()
    );
    assert!(max_err <= 1e-4, "max abs error {max_err}");
}
