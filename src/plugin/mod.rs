//! The PercepNet CLAP/VST3 plugin: a thin real-time shell around [`Denoiser`].
//!
//! - One engine per channel (mono or stereo), allocated in `activate`, never in `process`.
//! - At any other host rate from 8 to 768 kHz (8, 11.025, 16, 22.05, 24, 32, 44.1, 88.2, 96,
//!   176.4, 192, 352.8, 384, 705.6, 768 kHz, ...) each channel resamples to the engine's 48 kHz
//!   and back in fixed chunks of 10-40 ms (see `rate.rs`); at 48 kHz samples go straight to
//!   the engine.
//! - The host is told the latency of that chain, to the nearest sample ([`crate::LATENCY`] at
//!   48 kHz, where it is exact).
//! - Bypass crossfades to the dry signal delayed by that same latency, while the engine keeps
//!   running, so switching it never clicks nor moves the output in time.
//! - A voice gate after each engine ([`crate::dsp::gate`]) attenuates what the engine calls
//!   non-speech; the Mix and the Removed output ([`crate::dsp::mix`]) use the same delayed dry
//!   signal as bypass, so a 50 % mix never comb-filters and Denoised + Removed is the input.
//! - Float parameters are smoothed and handed to the engine in chunks of at most
//!   [`channel::MAX_CHUNK`] samples, whatever the host's buffer size; the mix per sample, the
//!   output mode by a crossfade as bypass.

mod bypass;
mod channel;
pub mod editor;
mod link;
mod meters;
pub mod params;
mod rate;

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;
use nice_plug_egui::{EguiEditor, EguiEditorState};

use crate::denoiser::{Denoiser, DenoiserParams};
use crate::dsp::ftz::FlushToZero;
use crate::model::{self, NetworkEstimator, Precision};

use bypass::SwitchFader;
use channel::{ChannelProcessor, ChunkScratch, ChunkShares, MAX_CHUNK};
use editor::EditorApp;
use link::Role;
use meters::Meters;
use params::{OutputModeParam, PercepNetParams};
use rate::RateConversion;

/// The gain estimator the plugin runs: the trained network embedded in the binary (unity gains
/// only if those weights failed to load), with the stereo-link queue (see `link.rs`).
pub type Estimator = link::PluginEstimator;

/// The engine the plugin runs, one per channel.
pub type Engine = Denoiser<Estimator>;

/// Builds one channel's engine (allocates; called from `activate` only).
fn new_engine() -> Engine {
    let network = match model::embedded_network() {
        // Int8 weights and SIMD kernels: 3.5x faster than f32, same PESQ-WB and DNSMOS on the
        // development set (issue 5's quality guard).
        Ok(net) => Some(NetworkEstimator::new(net).with_precision(Precision::Int8)),
        Err(e) => {
            nice_error!("percepnet: embedded weights unusable ({e}); passing audio through");
            None
        }
    };
    Denoiser::new(link::PluginEstimator::new(network))
}

/// Duration of the crossfade when bypass or the output mode is switched, in seconds.
const BYPASS_FADE_SECONDS: f32 = 0.010;

/// The PercepNet speech denoiser plugin.
pub struct PercepNet {
    params: Arc<PercepNetParams>,
    meters: Arc<Meters>,
    editor_state: Arc<EguiEditorState>,
    /// One processor per main channel; empty until `activate`.
    channels: Vec<ChannelProcessor>,
    /// Stereo only: the engine that analyses the mid signal when the channels are linked.
    mid: Option<ChannelProcessor>,
    /// The wet/dry crossfade shared by all channels, so they switch in lockstep.
    fader: SwitchFader,
    /// The Denoised/Removed crossfade, shared likewise.
    mode_fader: SwitchFader,
    /// Per-sample shares of the current chunk, filled once for all channels.
    shares: ChunkShares,
    scratch: ChunkScratch,
    /// The latency reported to the host in `activate`, in samples.
    latency: u32,
}

impl Default for PercepNet {
    fn default() -> Self {
        Self {
            params: Arc::new(PercepNetParams::default()),
            meters: Arc::new(Meters::default()),
            editor_state: editor::default_state(),
            channels: Vec::new(),
            mid: None,
            fader: SwitchFader::new(1, false),
            mode_fader: SwitchFader::new(1, false),
            shares: ChunkShares::default(),
            scratch: ChunkScratch::default(),
            latency: 0,
        }
    }
}

impl PercepNet {
    /// Advances the parameter smoothers by `len` samples and returns the engine settings.
    fn next_engine_params(&self, len: usize) -> DenoiserParams {
        let steps = len.max(1) as u32;
        DenoiserParams {
            attenuation_limit_db: self.params.attenuation_limit.smoothed.next_step(steps),
            post_filter: self.params.post_filter.smoothed.next_step(steps),
        }
    }

    /// Whether the output mode parameter asks for the Removed signal.
    fn removed_mode(&self) -> bool {
        self.params.output_mode.value() == OutputModeParam::Removed
    }

    /// Processes one chunk (at most [`MAX_CHUNK`] samples) of every channel in place.
    fn process_chunk(&mut self, channels: &mut [&mut [f32]], start: usize, len: usize) {
        let engine_params = self.next_engine_params(len);
        let gate = self.params.next_gate_settings(len.max(1) as u32);
        let linked = self.run_mid(channels, start, len, engine_params);
        let shares = &mut self.shares;
        self.fader.fill(&mut shares.bypass[..len]);
        self.mode_fader.fill(&mut shares.removed[..len]);
        self.params
            .mix
            .smoothed
            .next_block(&mut shares.wet[..len], len);
        let role = if linked { Role::Follow } else { Role::Own };
        for (samples, processor) in channels.iter_mut().zip(&mut self.channels) {
            let Some(chunk) = samples.get_mut(start..start + len) else {
                continue;
            };
            processor.set_role(role);
            processor.set_params(engine_params);
            processor.set_gate(gate);
            processor.process_chunk(chunk, &self.shares, &mut self.scratch, &self.meters);
        }
    }

    /// Stereo: runs the mid engine over this chunk of (l + r) / 2 (always, so it stays in step
    /// with the channels), leading with the network when the link is on and handing its
    /// estimates to both channels. Returns whether the channels follow it this chunk.
    fn run_mid(
        &mut self,
        channels: &mut [&mut [f32]],
        start: usize,
        len: usize,
        engine_params: DenoiserParams,
    ) -> bool {
        let Some(mid) = &mut self.mid else {
            return false;
        };
        let (Some(left), Some(right)) = (
            channels.first().and_then(|c| c.get(start..start + len)),
            channels.get(1).and_then(|c| c.get(start..start + len)),
        ) else {
            return false;
        };
        let linked = self.params.stereo_link.value() && self.channels.len() == 2;
        mid.set_role(if linked { Role::Lead } else { Role::Idle });
        mid.set_params(engine_params);
        mid.analyse_mid(left, right, &mut self.scratch);
        if linked {
            for processor in &mut self.channels {
                processor.set_role(Role::Follow);
            }
            while let Some(g) = mid.queue_mut().pop() {
                for processor in &mut self.channels {
                    processor.queue_mut().push(g);
                }
            }
        }
        linked
    }

    /// Publishes the engines' latest band gains to the editor.
    fn publish_band_gains(&self) {
        for processor in &self.channels {
            self.meters.record_band_gains(processor.band_gains());
        }
    }
}

/// `x` if it is a normal number, else 0: sanitizes NaN, infinities and subnormals (the latter
/// are inaudible but slow the arithmetic down on most CPUs).
fn flush_to_zero(x: f32) -> f32 {
    if x.is_normal() {
        x
    } else {
        0.0
    }
}

/// Number of samples of the bypass crossfade at `sample_rate`.
fn fade_len(sample_rate: f32) -> usize {
    (BYPASS_FADE_SECONDS * sample_rate).round() as usize
}

/// A symmetric layout with `channels` main inputs and outputs.
const fn layout(channels: u32) -> AudioIOLayout {
    AudioIOLayout {
        main_input_channels: NonZeroU32::new(channels),
        main_output_channels: NonZeroU32::new(channels),
        ..AudioIOLayout::const_default()
    }
}

impl Plugin for PercepNet {
    const NAME: &'static str = "PercepNet";
    const VENDOR: &'static str = "percepnet";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    /// Stereo first: hosts fall back to the first layout.
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[layout(2), layout(1)];

    type Editor = EguiEditor<EditorApp>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.meters.clone(),
            self.editor_state.clone(),
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let conversion = match RateConversion::for_host_rate(buffer_config.sample_rate) {
            Ok(conversion) => conversion,
            Err(err) => {
                // Refusing to activate would leave the track silent (or the host confused):
                // pass the audio through untouched, with no latency, and say why in the editor.
                nice_warn!("{err}; passing audio through unprocessed");
                self.channels.clear();
                self.mid = None;
                self.latency = 0;
                self.meters
                    .set_activation(buffer_config.sample_rate, 0, false);
                if context.plugin_api() != PluginApi::Standalone {
                    context.set_latency_samples(0);
                }
                return true;
            }
        };
        let channel_count = audio_io_layout
            .main_output_channels
            .map_or(0, NonZeroU32::get);
        let channels: Result<Vec<_>, _> = (0..channel_count)
            .map(|_| ChannelProcessor::new(conversion))
            .collect();
        self.channels = match channels {
            Ok(channels) => channels,
            Err(err) => {
                nice_error!("{err}");
                return false;
            }
        };
        self.mid = if channel_count == 2 {
            match ChannelProcessor::new(conversion) {
                Ok(mid) => Some(mid),
                Err(err) => {
                    nice_error!("{err}");
                    return false;
                }
            }
        } else {
            None
        };
        self.latency = conversion.latency_samples() as u32;
        self.meters
            .set_activation(buffer_config.sample_rate, self.latency, true);
        let fade = fade_len(buffer_config.sample_rate);
        self.fader = SwitchFader::new(fade, self.params.bypass.value());
        self.mode_fader = SwitchFader::new(fade, self.removed_mode());
        // Standalone apps have no host to compensate latency (and nice-plug warns if told).
        if context.plugin_api() != PluginApi::Standalone {
            context.set_latency_samples(self.latency);
        }
        true
    }

    fn reset(&mut self) {
        for processor in self.channels.iter_mut().chain(&mut self.mid) {
            processor.reset();
        }
        self.fader.snap_to(self.params.bypass.value());
        self.mode_fader.snap_to(self.removed_mode());
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Subnormals flushed to zero in hardware for this call (restored on return): a fading
        // tail or a silent input must not slow the arithmetic down.
        let _ftz = FlushToZero::new();
        self.fader.set_on(self.params.bypass.value());
        self.mode_fader.set_on(self.removed_mode());
        let samples = buffer.samples();
        let channels = buffer.as_slice();
        let mut start = 0;
        while start < samples {
            let len = (samples - start).min(MAX_CHUNK);
            self.process_chunk(channels, start, len);
            start += len;
        }
        self.publish_band_gains();

        // Everything comes out `latency` samples late: let the host play that tail out.
        ProcessStatus::Tail(self.latency)
    }
}

impl ClapPlugin for PercepNet {
    const CLAP_ID: &'static str = "org.percepnet.denoiser";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time PercepNet speech denoiser (pitch-aware, low complexity)");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Restoration,
        ClapFeature::Mono,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for PercepNet {
    const VST3_CLASS_ID: [u8; 16] = *b"PercepNetDenoisr";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Restoration];
}

nice_export_clap!(PercepNet);
nice_export_vst3!(PercepNet);
