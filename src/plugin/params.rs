//! The plugin's host-visible parameters.
//!
//! The string ids (`#[id = ...]`) are persisted in sessions and presets: never change them.
//! The gate, mix and output settings share their ranges and defaults with the command line
//! (`crate::dsp::gate`, `crate::dsp::mix`).

use std::sync::Arc;

use atomic_float::AtomicF32;
use nice_plug::prelude::*;

use crate::dsp::gate::{
    GateSettings, DEPTH_DB_DEFAULT, DEPTH_DB_MIN, GRACE_MS_DEFAULT, GRACE_MS_MAX,
    RETRO_GRACE_MS_DEFAULT, RETRO_GRACE_MS_MAX, THRESHOLD_DEFAULT,
};
use crate::dsp::mix::{OutputMode, MIX_DEFAULT};

/// Lowest attenuation limit in dB (0 dB: the denoiser cannot attenuate at all).
pub const ATTENUATION_LIMIT_MIN_DB: f32 = 0.0;
/// Highest attenuation limit in dB; this value means "no limit".
pub const ATTENUATION_LIMIT_MAX_DB: f32 = 100.0;
/// Default attenuation limit: no limit, the network's gains are applied as they are.
pub const ATTENUATION_LIMIT_DEFAULT_DB: f32 = ATTENUATION_LIMIT_MAX_DB;
/// Default envelope post-filter strength.
///
/// 1.0 is the configuration the PercepNet paper evaluates (g' = g sin(pi/2 g), then the energy
/// is restored to within a factor 1 + beta), and it is the engine's own default, so the plugin
/// sounds like the published system out of the box. Lower values trade residual noise for a more
/// natural, less "gated" voice.
pub const POST_FILTER_DEFAULT: f32 = 1.0;
/// Smoothing time of the float parameters in milliseconds. The engine reads its parameters once
/// per 10 ms hop, so a few hops of linear ramp avoid audible steps without feeling sluggish.
const SMOOTHING_MS: f32 = 50.0;
/// Editor scale factors offered, and the default.
pub const EDITOR_SCALES: [f32; 5] = [0.75, 1.0, 1.25, 1.5, 2.0];
pub const EDITOR_SCALE_DEFAULT: f32 = 1.0;

/// What the plugin outputs (the host-visible form of [`OutputMode`]).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputModeParam {
    /// The denoised, gated and mixed signal.
    #[id = "denoised"]
    Denoised,
    /// The delayed input minus the denoised output: what the plugin takes away.
    #[id = "removed"]
    Removed,
}

impl From<OutputModeParam> for OutputMode {
    fn from(mode: OutputModeParam) -> Self {
        match mode {
            OutputModeParam::Denoised => Self::Denoised,
            OutputModeParam::Removed => Self::Removed,
        }
    }
}

/// All parameters of the PercepNet plugin.
#[derive(Params)]
pub struct PercepNetParams {
    /// Attenuation limit L in dB: gains never go below 10^(-L/20); 100 dB means no limit.
    #[id = "attenuation_limit"]
    pub attenuation_limit: FloatParam,
    /// Strength s of the envelope post-filter, 0 (off) to 1 (as in the paper).
    #[id = "post_filter"]
    pub post_filter: FloatParam,
    /// Bypass: the plugin outputs its dry input, delayed by the same latency as the wet path.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// Stereo link: both channels get the gains computed from their mid signal, so the stereo
    /// image cannot wander (stereo layouts only; off: each channel is denoised on its own).
    #[id = "stereo_link"]
    pub stereo_link: BoolParam,
    /// Voice gate threshold θ in [0, 1] (shown in %): frames whose speech presence reaches it
    /// open the gate; 0 turns the gate off.
    #[id = "gate_threshold"]
    pub gate_threshold: FloatParam,
    /// Hold after the last speech frame, in ms.
    #[id = "gate_grace"]
    pub gate_grace: FloatParam,
    /// How long before speech the gate starts opening, in ms (within the existing lookahead).
    #[id = "gate_retro_grace"]
    pub gate_retro_grace: FloatParam,
    /// Gain of the closed gate, in dB (0 to -100).
    #[id = "gate_depth"]
    pub gate_depth: FloatParam,
    /// Wet share in [0, 1] (shown in %) against the input delayed by the same latency.
    #[id = "mix"]
    pub mix: FloatParam,
    /// Denoised, or what the processing removes.
    #[id = "output_mode"]
    pub output_mode: EnumParam<OutputModeParam>,
    /// The editor's scale factor (not a host parameter; saved with the session).
    #[persist = "editor_scale"]
    pub editor_scale: Arc<AtomicF32>,
}

impl Default for PercepNetParams {
    fn default() -> Self {
        Self {
            attenuation_limit: attenuation_limit_param(),
            post_filter: post_filter_param(),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            stereo_link: BoolParam::new("Stereo Link", false),
            gate_threshold: gate_threshold_param(),
            gate_grace: milliseconds_param("Grace", GRACE_MS_DEFAULT, GRACE_MS_MAX, 1.0),
            gate_retro_grace: milliseconds_param(
                "Retroactive Grace",
                RETRO_GRACE_MS_DEFAULT,
                RETRO_GRACE_MS_MAX,
                0.1,
            ),
            gate_depth: gate_depth_param(),
            mix: percentage_param("Mix", MIX_DEFAULT),
            output_mode: EnumParam::new("Output", OutputModeParam::Denoised),
            editor_scale: Arc::new(AtomicF32::new(EDITOR_SCALE_DEFAULT)),
        }
    }
}

impl PercepNetParams {
    /// Advances the gate parameters' smoothers by `steps` samples and returns the settings.
    pub fn next_gate_settings(&self, steps: u32) -> GateSettings {
        GateSettings {
            threshold: self.gate_threshold.smoothed.next_step(steps),
            grace_ms: self.gate_grace.smoothed.next_step(steps),
            retro_grace_ms: self.gate_retro_grace.smoothed.next_step(steps),
            depth_db: self.gate_depth.smoothed.next_step(steps),
        }
    }
}

/// The attenuation limit parameter, in dB with one decimal.
fn attenuation_limit_param() -> FloatParam {
    FloatParam::new(
        "Attenuation Limit",
        ATTENUATION_LIMIT_DEFAULT_DB,
        FloatRange::Linear {
            min: ATTENUATION_LIMIT_MIN_DB,
            max: ATTENUATION_LIMIT_MAX_DB,
        },
    )
    .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
    .with_unit(" dB")
    .with_step_size(0.1)
}

/// The post-filter strength parameter, shown as a percentage.
fn post_filter_param() -> FloatParam {
    percentage_param("Post-Filter", POST_FILTER_DEFAULT)
}

/// A smoothed share in [0, 1] shown as a whole percentage.
fn percentage_param(name: &str, default: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
        .with_unit("%")
        .with_value_to_string(formatters::v2s_f32_percentage(0))
        .with_string_to_value(formatters::s2v_f32_percentage())
}

/// The gate threshold: a percentage where 0 reads "off" (and "off" can be typed).
fn gate_threshold_param() -> FloatParam {
    FloatParam::new(
        "Gate Threshold",
        THRESHOLD_DEFAULT,
        FloatRange::Linear { min: 0.0, max: 1.0 },
    )
    .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
    .with_step_size(0.01)
    .with_value_to_string(Arc::new(|v| {
        if v <= 0.0 {
            "off".to_owned()
        } else {
            format!("{:.0} %", v * 100.0)
        }
    }))
    .with_string_to_value(Arc::new(|s| {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Some(0.0);
        }
        s.trim_end_matches([' ', '%'])
            .parse::<f32>()
            .ok()
            .map(|v| v / 100.0)
    }))
}

/// A smoothed time in ms from 0 to `max`.
fn milliseconds_param(name: &str, default: f32, max: f32, step: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min: 0.0, max })
        .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
        .with_unit(" ms")
        .with_step_size(step)
}

/// The gate depth, in dB from [`DEPTH_DB_MIN`] to 0.
fn gate_depth_param() -> FloatParam {
    FloatParam::new(
        "Gate Depth",
        DEPTH_DB_DEFAULT,
        FloatRange::Linear {
            min: DEPTH_DB_MIN,
            max: 0.0,
        },
    )
    .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
    .with_unit(" dB")
    .with_step_size(0.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_reads_and_parses_off_and_percentages() {
        let p = gate_threshold_param();
        assert_eq!(p.normalized_value_to_string(0.0, true), "off");
        assert_eq!(p.normalized_value_to_string(0.5, true), "50 %");
        assert_eq!(p.string_to_normalized_value("Off"), Some(0.0));
        assert_eq!(p.string_to_normalized_value("42 %"), Some(0.42));
        assert_eq!(p.string_to_normalized_value("7"), Some(0.07));
    }

    #[test]
    fn defaults_match_the_shared_ones() {
        let p = PercepNetParams::default();
        let gate = GateSettings {
            threshold: p.gate_threshold.value(),
            grace_ms: p.gate_grace.value(),
            retro_grace_ms: p.gate_retro_grace.value(),
            depth_db: p.gate_depth.value(),
        };
        assert_eq!(gate, GateSettings::default());
        assert_eq!(p.mix.value(), MIX_DEFAULT);
        assert_eq!(
            OutputMode::from(p.output_mode.value()),
            OutputMode::default()
        );
    }
}
