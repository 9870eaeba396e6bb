//! The plugin as the live standalone runs it: [`PercepNet`] unchanged, with three additions the
//! nice-plug standalone wrapper has no options for:
//!
//! - its parameters start at the values given by [`set_startup`] (the state file and `--set`),
//! - its `Params` object stays reachable ([`live_params`]) so the values can be saved on exit,
//! - its editor is left out with `--no-gui`, and with a window Ctrl-C closes it (`editor.rs`).
//!
//! Everything else is forwarded as it is, on the audio thread too (no allocation, no lock).

use std::sync::{Arc, Mutex};

use nice_plug::context::process::SendEventError;
use nice_plug::prelude::*;
use percepnet::plugin::PercepNet;

use super::editor::LiveEditor;
use super::params::{ParamTable, Value};

/// What the next [`LivePlugin`] starts with.
#[derive(Clone, Default)]
pub struct Startup {
    /// Parameter values to set before activation.
    pub values: Vec<Value>,
    /// Leave the editor out: the wrapper then runs headless until Ctrl-C.
    pub no_gui: bool,
}

/// Settings for the instance the standalone wrapper creates (it calls `Default`).
static STARTUP: Mutex<Option<Startup>> = Mutex::new(None);
/// The parameters of the running instance.
static LIVE_PARAMS: Mutex<Option<Arc<dyn Params>>> = Mutex::new(None);

/// Sets what the next [`LivePlugin`] starts with.
pub fn set_startup(startup: Startup) {
    *STARTUP.lock().unwrap_or_else(|e| e.into_inner()) = Some(startup);
}

/// The parameters of the instance the wrapper created, if it created one.
pub fn live_params() -> Option<Arc<dyn Params>> {
    LIVE_PARAMS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// [`PercepNet`] for the standalone wrapper.
pub struct LivePlugin {
    inner: PercepNet,
    gui: bool,
}

impl Default for LivePlugin {
    fn default() -> Self {
        let inner = PercepNet::default();
        let startup = STARTUP
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        let table = ParamTable::new(inner.params());
        for (id, plain) in &startup.values {
            if let Err(e) = table.set(id, *plain) {
                eprintln!("percepnet-standalone: warning: {e:#}");
            }
        }
        *LIVE_PARAMS.lock().unwrap_or_else(|e| e.into_inner()) = Some(inner.params());
        Self {
            inner,
            gui: !startup.no_gui,
        }
    }
}

/// Lets the wrapper's context stand in for the one [`PercepNet`] expects (the two plugins share
/// their task and message types).
struct Forward<'a, C>(&'a mut C);

impl<C: ActivateContext<LivePlugin>> ActivateContext<PercepNet> for Forward<'_, C> {
    fn plugin_api(&self) -> PluginApi {
        self.0.plugin_api()
    }
    fn execute(&self, task: <PercepNet as Plugin>::BackgroundTask) {
        self.0.execute(task)
    }
    fn set_latency_samples(&self, samples: u32) {
        self.0.set_latency_samples(samples)
    }
    fn set_current_voice_capacity(&self, capacity: u32) {
        self.0.set_current_voice_capacity(capacity)
    }
}

impl<C: ProcessContext<LivePlugin>> ProcessContext<PercepNet> for Forward<'_, C> {
    fn plugin_api(&self) -> PluginApi {
        self.0.plugin_api()
    }
    fn execute_background(&self, task: <PercepNet as Plugin>::BackgroundTask) {
        self.0.execute_background(task)
    }
    fn execute_gui(&self, task: <PercepNet as Plugin>::BackgroundTask) {
        self.0.execute_gui(task)
    }
    fn transport(&self) -> &Transport {
        self.0.transport()
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<PercepNet>> {
        self.0.next_event()
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<PercepNet>,
    ) -> Result<(), (PluginNoteEvent<PercepNet>, SendEventError)> {
        self.0.try_send_event(event)
    }
    fn set_latency_samples(&self, samples: u32) {
        self.0.set_latency_samples(samples)
    }
    fn request_restart(&self) {
        self.0.request_restart()
    }
    fn set_current_voice_capacity(&self, capacity: u32) {
        self.0.set_current_voice_capacity(capacity)
    }
}

impl Plugin for LivePlugin {
    const NAME: &'static str = PercepNet::NAME;
    const VENDOR: &'static str = PercepNet::VENDOR;
    const URL: &'static str = PercepNet::URL;
    const EMAIL: &'static str = PercepNet::EMAIL;
    const VERSION: &'static str = PercepNet::VERSION;
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = PercepNet::AUDIO_IO_LAYOUTS;
    const MIDI_INPUT: MidiConfig = PercepNet::MIDI_INPUT;
    const MIDI_OUTPUT: MidiConfig = PercepNet::MIDI_OUTPUT;
    const SAMPLE_ACCURATE_AUTOMATION: bool = PercepNet::SAMPLE_ACCURATE_AUTOMATION;
    const HARD_REALTIME_ONLY: bool = PercepNet::HARD_REALTIME_ONLY;

    type Editor = LiveEditor<<PercepNet as Plugin>::Editor>;
    type SysExMessage = <PercepNet as Plugin>::SysExMessage;
    type BackgroundTask = <PercepNet as Plugin>::BackgroundTask;

    fn task_executor(&mut self) -> TaskExecutor<Self> {
        self.inner.task_executor()
    }

    fn params(&self) -> Arc<dyn Params> {
        self.inner.params()
    }

    fn editor(&mut self, async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        if !self.gui {
            return None;
        }
        let background = async_executor.clone();
        let gui = async_executor;
        let executor = AsyncExecutor::<PercepNet>::new(
            Arc::new(move |task| background.execute_background(task)),
            Arc::new(move |task| gui.execute_gui(task)),
        );
        self.inner.editor(executor).map(LiveEditor::new)
    }

    fn filter_state(state: &mut PluginState) {
        PercepNet::filter_state(state)
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.inner
            .activate(audio_io_layout, buffer_config, &mut Forward(context))
    }

    fn reset(&mut self) {
        self.inner.reset()
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.inner.process(buffer, aux, &mut Forward(context))
    }

    fn stop_processing(&mut self) {
        self.inner.stop_processing()
    }

    fn deactivate(&mut self) {
        self.inner.deactivate()
    }
}
