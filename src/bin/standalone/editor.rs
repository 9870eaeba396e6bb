//! The plugin's editor in the standalone window, closed by Ctrl-C.
//!
//! nice-plug's standalone wrapper catches SIGINT (Ctrl-C) but only looks at it when there is no
//! window, so with the editor open Ctrl-C did nothing. On Linux (X11) baseview runs the window's
//! event loop on a thread of its own; [`LiveHandle::run_until_closed`] therefore takes SIGINT
//! over once the window is up, and waits for either the user closing the window or Ctrl-C, on
//! which it closes the window itself. The wrapper then stops the audio and returns as after a
//! normal close. Elsewhere (Windows, macOS: the window's loop must run on this thread) the
//! wrapper's behaviour is kept.

use std::error::Error;
use std::time::Duration;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::NativeSize;
use nice_plug::editor::{
    Editor, EditorHandle, HostMethods, Modifiers, ParentWindowHandle, ResizeHint, SpawnedEditor,
    VirtualKeyCode,
};
use nice_plug::prelude::*;
use nice_plug_egui::baseview;

use super::signals;

/// How often the window and Ctrl-C are looked at.
const POLL: Duration = Duration::from_millis(20);

/// A standalone window: what [`LiveHandle`] needs of the editor's window type.
pub trait StandaloneWindow: Sized {
    type Error;
    /// Maps the window (it is created hidden).
    fn show_window(&self) -> Result<(), Self::Error>;
    /// False once the window has been closed.
    fn is_window_open(&self) -> bool;
}

impl StandaloneWindow for baseview::Window {
    type Error = baseview::Error;
    fn show_window(&self) -> Result<(), Self::Error> {
        self.show()
    }
    fn is_window_open(&self) -> bool {
        self.is_open()
    }
}

/// An editor whose window Ctrl-C closes.
pub struct LiveEditor<E> {
    inner: E,
}

impl<E> LiveEditor<E> {
    pub fn new(inner: E) -> Self {
        Self { inner }
    }
}

/// The handle of a [`LiveEditor`]'s window.
pub struct LiveHandle<H> {
    inner: H,
}

impl<E: Editor> Editor for LiveEditor<E>
where
    <E::Handle as EditorHandle>::Window:
        StandaloneWindow<Error = <E::Handle as EditorHandle>::Error>,
{
    type Handle = LiveHandle<E::Handle>;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn Error>> {
        let spawned = self.inner.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )?;
        Ok(SpawnedEditor {
            handle: LiveHandle {
                inner: spawned.handle,
            },
            window: spawned.window,
        })
    }

    fn size(&self) -> NativeSize<u32> {
        self.inner.size()
    }

    fn resize_hint(&self) -> ResizeHint {
        self.inner.resize_hint()
    }

    fn track_info_updated(&self, info: TrackInfo) {
        self.inner.track_info_updated(info)
    }

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: the caller upholds the inner editor's contract, which is the same.
        unsafe { self.inner.assume_standalone_in_process() }
    }
}

impl<H: EditorHandle> EditorHandle for LiveHandle<H>
where
    H::Window: StandaloneWindow<Error = H::Error>,
{
    type Window = H::Window;
    type Error = H::Error;

    fn run_until_closed(window: Self::Window) -> Result<(), Self::Error> {
        if !cfg!(target_os = "linux") {
            return H::run_until_closed(window);
        }
        window.show_window()?;
        signals::catch_sigint();
        while window.is_window_open() {
            if signals::interrupted() {
                eprintln!("percepnet-standalone: Ctrl-C: closing the window");
                // Dropping the window closes it and joins its event-loop thread.
                drop(window);
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    fn set_parent(
        &self,
        parent: ParentWindowHandle,
        window: &Self::Window,
    ) -> Result<(), H::Error> {
        self.inner.set_parent(parent, window)
    }

    fn show(&self, window: &Self::Window) -> Result<(), H::Error> {
        self.inner.show(window)
    }

    fn hide(&self, window: &Self::Window) -> Result<(), H::Error> {
        self.inner.hide(window)
    }

    fn set_size(&self, new_size: NativeSize<u32>, window: &Self::Window) -> Result<(), H::Error> {
        self.inner.set_size(new_size, window)
    }

    fn host_main_thread_callback(&self, window: &Self::Window) {
        self.inner.host_main_thread_callback(window)
    }

    fn adjust_size(
        &self,
        new_size: NativeSize<u32>,
        window: &Self::Window,
    ) -> Option<NativeSize<u32>> {
        self.inner.adjust_size(new_size, window)
    }

    fn set_fallback_scale_factor(
        &self,
        scale_factor: f64,
        window: &Self::Window,
    ) -> Result<(), H::Error> {
        self.inner.set_fallback_scale_factor(scale_factor, window)
    }

    fn on_virtual_key_from_host(
        &self,
        key_code: VirtualKeyCode,
        is_down: bool,
        modifiers: Modifiers,
    ) -> bool {
        self.inner
            .on_virtual_key_from_host(key_code, is_down, modifiers)
    }

    fn state_changed(&self) {
        self.inner.state_changed()
    }

    fn param_value_changed(&self, id: &str, normalized_value: f32) {
        self.inner.param_value_changed(id, normalized_value)
    }

    fn param_modulation_changed(&self, id: &str, modulation_offset: f32) {
        self.inner.param_modulation_changed(id, modulation_offset)
    }
}
