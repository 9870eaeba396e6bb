//! Through the CLAP host (`common/host.rs`): every parameter round-trips through the plugin
//! state (the denoiser's, bypass, the stereo link, and the voice gate's, mix and output mode).

mod common;

use clack_host::prelude::*;
use common::host::*;

#[test]
fn parameter_state_round_trips() {
    let mut source = TestPlugin::new();
    let ids = [
        source.param_id(ParamQuery::Named(ATTENUATION_LIMIT)),
        source.param_id(ParamQuery::Named(POST_FILTER)),
        source.param_id(ParamQuery::Bypass),
        source.param_id(ParamQuery::Named(STEREO_LINK)),
        source.param_id(ParamQuery::Named(GATE_THRESHOLD)),
        source.param_id(ParamQuery::Named(GRACE)),
        source.param_id(ParamQuery::Named(RETRO_GRACE)),
        source.param_id(ParamQuery::Named(GATE_DEPTH)),
        source.param_id(ParamQuery::Named(MIX)),
        source.param_id(ParamQuery::Named(OUTPUT)),
    ];
    // Continuous parameters are normalised (all ranges are linear: 50 %, 350 ms, 3 ms, -40 dB,
    // 40 %), the output mode is its index (Removed).
    let values = [0.25, 0.4, 1.0, 1.0, 0.5, 0.35, 0.3, 0.6, 0.4, 1.0];
    let changes: Vec<(ClapId, f64)> = ids.into_iter().zip(values).collect();
    source.flush_params(&changes);
    let state = source.save_state();

    let mut restored = TestPlugin::new();
    for (&id, &value) in ids.iter().zip(&values) {
        assert_ne!(restored.param_value(id), value, "defaults must differ");
    }
    restored.load_state(&state);
    for (&id, &value) in ids.iter().zip(&values) {
        let got = restored.param_value(id);
        assert!((got - value).abs() < 1e-6, "param {id:?}: {got} != {value}");
    }
}
