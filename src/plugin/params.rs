//! The plugin's host-visible parameters.
//!
//! The string ids (`#[id = ...]`) are persisted in sessions and presets: never change them.

use nice_plug::prelude::*;

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
}

impl Default for PercepNetParams {
    fn default() -> Self {
        Self {
            attenuation_limit: attenuation_limit_param(),
            post_filter: post_filter_param(),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            stereo_link: BoolParam::new("Stereo Link", false),
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
    FloatParam::new(
        "Post-Filter",
        POST_FILTER_DEFAULT,
        FloatRange::Linear { min: 0.0, max: 1.0 },
    )
    .with_smoother(SmoothingStyle::Linear(SMOOTHING_MS))
    .with_unit("%")
    .with_value_to_string(formatters::v2s_f32_percentage(0))
    .with_string_to_value(formatters::s2v_f32_percentage())
}
