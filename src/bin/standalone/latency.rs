//! The delay the plugin adds at a sample rate, measured rather than assumed: a private instance
//! with bypass on (its dry path is delayed by exactly the wet path's latency, at every rate) is
//! fed an impulse in blocks of the live period, and the impulse's position at the output is the
//! latency. Takes a few milliseconds at start-up.

use std::num::NonZeroU32;

use anyhow::{bail, Context, Result};
use nice_plug::context::process::SendEventError;
use nice_plug::prelude::*;
use percepnet::plugin::PercepNet;

use super::params::ParamTable;

/// Longest delay looked for, in seconds (the plugin's worst case is 73 ms at 11.025 kHz).
const SEARCH_SECONDS: f32 = 0.25;

/// A context for a plugin outside any host: no tasks, no events, no transport.
struct Offline(Transport);

impl ActivateContext<PercepNet> for Offline {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }
    fn execute(&self, _task: <PercepNet as Plugin>::BackgroundTask) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

impl ProcessContext<PercepNet> for Offline {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }
    fn execute_background(&self, _task: <PercepNet as Plugin>::BackgroundTask) {}
    fn execute_gui(&self, _task: <PercepNet as Plugin>::BackgroundTask) {}
    fn transport(&self) -> &Transport {
        &self.0
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<PercepNet>> {
        None
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<PercepNet>,
    ) -> Result<(), (PluginNoteEvent<PercepNet>, SendEventError)> {
        Err((event, SendEventError::NoOutputBuffer))
    }
    fn set_latency_samples(&self, _samples: u32) {}
    fn request_restart(&self) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// The plugin's layout with `channels` main channels.
pub fn layout(channels: u32) -> Option<AudioIOLayout> {
    PercepNet::AUDIO_IO_LAYOUTS
        .iter()
        .copied()
        .find(|l| l.main_input_channels.map(NonZeroU32::get) == Some(channels))
}

/// Measures the plugin's delay in samples at `sample_rate` with `channels` channels, processing
/// in blocks of `period` samples.
pub fn measure(sample_rate: f32, channels: u32, period: u32) -> Result<u32> {
    let layout = layout(channels).with_context(|| format!("no {channels}-channel layout"))?;
    let mut plugin = PercepNet::default();
    let table = ParamTable::new(plugin.params());
    if !table.set_bypass(true) {
        bail!("the plugin has no bypass parameter to measure its latency with");
    }
    table.settle_smoothers(sample_rate);
    let config = BufferConfig {
        sample_rate,
        min_buffer_size: None,
        max_buffer_size: period,
        process_mode: ProcessMode::Realtime,
    };
    let mut context = Offline(Transport::new(sample_rate));
    if !plugin.activate(&layout, &config, &mut context) {
        bail!("the plugin refused to start at {sample_rate} Hz");
    }
    plugin.reset();

    let total = (SEARCH_SECONDS * sample_rate) as usize;
    let mut channels_data = vec![vec![0.0f32; total]; channels as usize];
    for data in &mut channels_data {
        data[0] = 1.0;
    }
    let period = period.max(1) as usize;
    let mut start = 0;
    while start < total {
        let len = period.min(total - start);
        let mut buffer = Buffer::default();
        // SAFETY: the slices point into `channels_data`, alive and unaliased until `buffer` is
        // dropped at the end of this iteration, and all have `len` samples.
        unsafe {
            buffer.set_slices(len, |slices| {
                slices.clear();
                slices.extend(
                    channels_data
                        .iter_mut()
                        .map(|data| &mut data[start..start + len]),
                );
            });
        }
        let mut aux = AuxiliaryBuffers {
            inputs: &mut [],
            outputs: &mut [],
        };
        plugin.process(&mut buffer, &mut aux, &mut context);
        start += len;
    }
    plugin.deactivate();

    let output = &channels_data[0];
    let (position, peak) =
        output
            .iter()
            .enumerate()
            .map(|(i, x)| (i, x.abs()))
            .fold(
                (0, 0.0f32),
                |best, (i, x)| if x > best.1 { (i, x) } else { best },
            );
    if (peak - 1.0).abs() > 1e-3 {
        bail!("could not measure the latency: impulse peak {peak} at sample {position}");
    }
    Ok(position as u32)
}
