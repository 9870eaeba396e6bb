//! The plugin window: parameter controls (denoiser, output, voice gate), a per-band
//! gain-reduction view, level meters and the voice gate's indicator.
//!
//! Meter values come from the audio thread through [`Meters`] (atomics only); the editor applies
//! its own release ballistics so short peaks stay visible for a moment. Every control has a
//! one-sentence tooltip, and its value can be typed (click the value field). The Scale menu
//! zooms the whole window (0.75x to 2x) and asks the host for the matching window size; the
//! choice is saved with the session.

mod controls;
mod display;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use egui::{Color32, CornerRadius, RichText, Ui, Vec2};
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};

use super::meters::Meters;
use super::params::{PercepNetParams, EDITOR_SCALES, EDITOR_SCALE_DEFAULT};
use crate::{LATENCY, SAMPLE_RATE};
use display::MeterDisplay;

/// Window size in logical pixels (at scale 1).
const WIDTH: f64 = 780.0;
const HEIGHT: f64 = 570.0;
/// How often the meters are redrawn.
const METER_REFRESH: Duration = Duration::from_millis(33);
/// Vertical gap between the window's sections.
const SECTION_GAP: f32 = 8.0;

/// Colours of the editor.
mod palette {
    use egui::Color32;

    pub const BACKGROUND: Color32 = Color32::from_rgb(24, 27, 33);
    pub const PANEL: Color32 = Color32::from_rgb(34, 38, 46);
    pub const GRID: Color32 = Color32::from_rgb(58, 64, 76);
    pub const TEXT_DIM: Color32 = Color32::from_rgb(150, 158, 172);
    pub const TITLE: Color32 = Color32::from_rgb(235, 240, 248);
    pub const ACCENT: Color32 = Color32::from_rgb(72, 200, 170);
    pub const ACCENT_HOT: Color32 = Color32::from_rgb(250, 170, 70);
    pub const BYPASSED: Color32 = Color32::from_rgb(100, 106, 118);
    pub const WARNING: Color32 = Color32::from_rgb(235, 110, 90);
    pub const GATE_CLOSED: Color32 = Color32::from_rgb(170, 70, 60);
}

/// The editor's initial size and open/closed state.
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(LogicalSize::new(WIDTH, HEIGHT), 1.0)
}

/// Creates the editor over the shared parameters and meters.
pub fn create(
    params: Arc<PercepNetParams>,
    meters: Arc<Meters>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<EditorApp>> {
    let app = EditorApp {
        params,
        meters,
        gui_context: None,
        display: MeterDisplay::default(),
    };
    let settings = EguiNiceSettings::new().with_tile("PercepNet");
    create_egui_editor(state, RepaintNotifier::new(), settings, app)
}

/// The egui application drawn in the plugin window.
pub struct EditorApp {
    params: Arc<PercepNetParams>,
    meters: Arc<Meters>,
    /// Set when the window opens; needed to change parameters.
    gui_context: Option<GuiContext>,
    display: MeterDisplay,
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        egui_ctx.all_styles_mut(|style| {
            // Keep the vertical spacing small: nice-plug-egui's slider stacks three rows.
            style.spacing.item_spacing = Vec2::new(8.0, 4.0);
            style.spacing.interact_size.y = 22.0;
        });
        // The saved scale; the window follows the zoom after the first frame.
        egui_ctx.set_zoom_factor(saved_scale(&self.params));
        self.gui_context = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut Frame) {
        let dt = ui.input(|input| input.stable_dt).clamp(0.0, 0.25);
        self.display.update(&self.meters, dt);
        ui.ctx().request_repaint_after(METER_REFRESH);

        let Some(gui_context) = &self.gui_context else {
            return;
        };
        let setter = gui_context.param_setter();
        let panel = egui::Frame::new()
            .fill(palette::BACKGROUND)
            .inner_margin(16.0);
        egui::CentralPanel::default().frame(panel).show(ui, |ui| {
            // Scrollable in case a host refuses the larger window a bigger scale asks for (the
            // standalone app cannot resize it at all).
            egui::ScrollArea::vertical().show(ui, |ui| {
                draw(ui, &self.params, &setter, &self.display, &self.meters)
            });
        });
    }

    fn editor_closed(&mut self) {
        self.gui_context = None;
    }
}

/// The scale saved with the session, or the default if it is not one on offer.
fn saved_scale(params: &PercepNetParams) -> f32 {
    let scale = params.editor_scale.load(Ordering::Relaxed);
    if EDITOR_SCALES.contains(&scale) {
        scale
    } else {
        EDITOR_SCALE_DEFAULT
    }
}

/// Draws the whole window content.
fn draw(
    ui: &mut Ui,
    params: &PercepNetParams,
    setter: &ParamSetter,
    display: &MeterDisplay,
    meters: &Meters,
) {
    let bypassed = params.bypass.value();
    header(ui, params, setter, meters.activation());
    ui.add_space(SECTION_GAP);
    ui.columns(2, |columns| {
        section(&mut columns[0], |ui| controls::denoiser(ui, params, setter));
        section(&mut columns[1], |ui| controls::gate(ui, params, setter));
    });
    ui.add_space(SECTION_GAP);
    section(ui, |ui| {
        display::band_view(ui, &display.reduction_db, bypassed)
    });
    ui.add_space(SECTION_GAP);
    section(ui, |ui| {
        display::meters_and_gate(ui, display, params.gate_threshold.value())
    });
}

/// A rounded panel around a group of widgets.
fn section(ui: &mut Ui, add_contents: impl FnOnce(&mut Ui)) {
    egui::Frame::new()
        .fill(palette::PANEL)
        .corner_radius(CornerRadius::same(6))
        .inner_margin(10.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            add_contents(ui);
        });
}

/// The subtitle: the host rate and the latency of the current activation, or why the plugin
/// passes audio through.
fn status_line((host_rate, latency, supported): (f32, u32, bool)) -> (String, Color32) {
    if !supported {
        return (
            format!("{host_rate} Hz is not supported: audio passes through unprocessed"),
            palette::WARNING,
        );
    }
    // Before the first activation, the engine's own rate and latency.
    let (rate, latency) = if host_rate > 0.0 {
        (host_rate, latency as f32)
    } else {
        (SAMPLE_RATE as f32, LATENCY as f32)
    };
    let latency_ms = latency * 1000.0 / rate;
    (
        format!(
            "Speech denoiser  |  {} kHz  |  {latency_ms:.0} ms latency",
            rate / 1000.0
        ),
        palette::TEXT_DIM,
    )
}

/// Title, subtitle, the scale menu and the bypass switch.
fn header(
    ui: &mut Ui,
    params: &PercepNetParams,
    setter: &ParamSetter,
    activation: (f32, u32, bool),
) {
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.label(
                RichText::new("PercepNet")
                    .size(26.0)
                    .strong()
                    .color(palette::TITLE),
            );
            let (status, colour) = status_line(activation);
            ui.label(RichText::new(status).color(colour));
        });
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            controls::bypass_button(ui, params, setter);
            ui.add_space(8.0);
            scale_menu(ui, params);
        });
    });
}

/// A menu of window scales; the choice is saved in the plugin state.
fn scale_menu(ui: &mut Ui, params: &PercepNetParams) {
    let current = saved_scale(params);
    let mut chosen = current;
    egui::ComboBox::from_id_salt("editor-scale")
        .width(70.0)
        .selected_text(scale_label(current))
        .show_ui(ui, |ui| {
            for scale in EDITOR_SCALES {
                ui.selectable_value(&mut chosen, scale, scale_label(scale));
            }
        })
        .response
        .on_hover_text("Scale: zooms the whole window, and is saved with the session.");
    if chosen != current {
        params.editor_scale.store(chosen, Ordering::Relaxed);
        ui.ctx().set_zoom_factor(chosen);
    }
}

/// "125 %".
fn scale_label(scale: f32) -> String {
    format!("{:.0} %", scale * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_reports_rate_and_latency() {
        let (text, _) = status_line((44_100.0, 1_470, true));
        assert!(
            text.contains("44.1 kHz") && text.contains("33 ms"),
            "{text}"
        );
        let (text, colour) = status_line((4_000.0, 0, false));
        assert!(text.contains("not supported"));
        assert_eq!(colour, palette::WARNING);
    }

    #[test]
    fn an_unknown_saved_scale_falls_back_to_the_default() {
        let params = PercepNetParams::default();
        assert_eq!(saved_scale(&params), EDITOR_SCALE_DEFAULT);
        params.editor_scale.store(1.5, Ordering::Relaxed);
        assert_eq!(saved_scale(&params), 1.5);
        params.editor_scale.store(f32::NAN, Ordering::Relaxed);
        assert_eq!(saved_scale(&params), EDITOR_SCALE_DEFAULT);
        assert_eq!(scale_label(1.25), "125 %");
    }
}
