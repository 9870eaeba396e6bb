//! The plugin window: parameter controls, a per-band gain-reduction view and level meters.
//!
//! Meter values come from the audio thread through [`Meters`] (atomics only); the editor applies
//! its own release ballistics so short peaks stay visible for a moment.

use std::sync::Arc;
use std::time::Duration;

use egui::{
    Align2, Color32, CornerRadius, FontId, Pos2, Rect, RichText, Sense, Stroke, StrokeKind, Ui,
    Vec2,
};
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::{util, Param};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, NiceEguiApp,
    RepaintNotifier,
};

use super::meters::Meters;
use super::params::{PercepNetParams, ATTENUATION_LIMIT_MAX_DB};
use crate::dsp::bands::BAND_CENTERS;
use crate::{LATENCY, NB_BANDS, SAMPLE_RATE, WINDOW};

/// Window size in logical pixels.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 520.0;
/// How often the meters are redrawn.
const METER_REFRESH: Duration = Duration::from_millis(33);
/// Lowest level shown by the input/output meters, in dBFS.
const LEVEL_FLOOR_DB: f32 = -60.0;
/// Largest gain reduction shown by the band view, in dB.
const REDUCTION_RANGE_DB: f32 = 40.0;
/// Release speed of the level meters, in dB per second.
const LEVEL_RELEASE_DB_PER_S: f32 = 24.0;
/// Release speed of the band gain reduction, in dB per second.
const REDUCTION_RELEASE_DB_PER_S: f32 = 40.0;
/// Band centers whose frequency is written under the band view.
const LABELLED_BANDS: [usize; 7] = [2, 8, 14, 20, 25, 29, 33];
/// Vertical gap between the window's sections.
const SECTION_GAP: f32 = 10.0;
/// Width of the parameter name column.
const PARAM_LABEL_WIDTH: f32 = 130.0;
/// Width of the parameter sliders (without their value field).
const SLIDER_WIDTH: f32 = 240.0;
/// Height of the band view and of one level meter.
const BAND_VIEW_HEIGHT: f32 = 180.0;
const LEVEL_METER_HEIGHT: f32 = 14.0;
/// Widths of the level meters' name and value columns.
const LEVEL_LABEL_WIDTH: f32 = 36.0;
const LEVEL_VALUE_WIDTH: f32 = 80.0;

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
            style.spacing.item_spacing = Vec2::new(10.0, 4.0);
            style.spacing.interact_size.y = 22.0;
        });
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
            .inner_margin(18.0);
        egui::CentralPanel::default().frame(panel).show(ui, |ui| {
            draw(ui, &self.params, &setter, &self.display, &self.meters)
        });
    }

    fn editor_closed(&mut self) {
        self.gui_context = None;
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
    section(ui, |ui| controls(ui, params, setter));
    ui.add_space(SECTION_GAP);
    section(ui, |ui| band_view(ui, &display.reduction_db, bypassed));
    ui.add_space(SECTION_GAP);
    section(ui, |ui| {
        level_meter(ui, "In", display.input_db);
        ui.add_space(4.0);
        level_meter(ui, "Out", display.output_db);
    });
}

/// A rounded panel around a group of widgets.
fn section(ui: &mut Ui, add_contents: impl FnOnce(&mut Ui)) {
    egui::Frame::new()
        .fill(palette::PANEL)
        .corner_radius(CornerRadius::same(6))
        .inner_margin(12.0)
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

/// Title, subtitle and the bypass switch.
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
            bypass_button(ui, params, setter);
        });
    });
}

/// A large toggle for the bypass parameter.
fn bypass_button(ui: &mut Ui, params: &PercepNetParams, setter: &ParamSetter) {
    let bypassed = params.bypass.value();
    let (text, fill) = if bypassed {
        ("BYPASSED", palette::WARNING)
    } else {
        ("ACTIVE", palette::ACCENT)
    };
    let button = egui::Button::new(RichText::new(text).strong().color(Color32::BLACK))
        .fill(fill)
        .min_size(Vec2::new(110.0, 32.0))
        .corner_radius(CornerRadius::same(6));
    let response = ui
        .add(button)
        .on_hover_text("Bypass: outputs the dry signal with the same latency");
    if response.clicked() {
        setter.begin_set_parameter(&params.bypass);
        setter.set_parameter(&params.bypass, !bypassed);
        setter.end_set_parameter(&params.bypass);
    }
}

/// The two continuous parameters and the stereo link, with their sliders.
fn controls(ui: &mut Ui, params: &PercepNetParams, setter: &ParamSetter) {
    let limit = &params.attenuation_limit;
    param_row(ui, limit, setter, attenuation_hint(limit.value()));
    ui.add_space(6.0);
    let post_filter = &params.post_filter;
    param_row(
        ui,
        post_filter,
        setter,
        post_filter_hint(post_filter.value()),
    );
    ui.add_space(6.0);
    let link = &params.stereo_link;
    let hint = if link.value() {
        "one set of gains (stereo)"
    } else {
        "channels independent"
    };
    param_row(ui, link, setter, hint);
}

/// One row: name, slider with its value, hint.
fn param_row(ui: &mut Ui, param: &impl Param, setter: &ParamSetter, hint: &str) {
    ui.horizontal(|ui| {
        fixed_label(ui, param.name(), PARAM_LABEL_WIDTH, palette::TITLE);
        ui.add(ParamSlider::for_param(param, setter).with_width(SLIDER_WIDTH));
        ui.label(RichText::new(hint).color(palette::TEXT_DIM));
    });
}

/// Text in a box of fixed width, vertically centered on the row.
fn fixed_label(ui: &mut Ui, text: &str, width: f32, color: Color32) {
    let height = ui.spacing().interact_size.y;
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    ui.painter().text(
        rect.left_center(),
        Align2::LEFT_CENTER,
        text,
        FontId::proportional(14.0),
        color,
    );
}

/// What the attenuation limit currently means.
fn attenuation_hint(limit_db: f32) -> &'static str {
    if limit_db >= ATTENUATION_LIMIT_MAX_DB {
        "no limit"
    } else {
        "max. cut"
    }
}

/// What the post-filter strength currently means.
fn post_filter_hint(strength: f32) -> &'static str {
    if strength <= 0.0 {
        "off"
    } else if strength >= 1.0 {
        "as in paper"
    } else {
        "partial"
    }
}

/// 34 bars hanging from the top: the gain reduction of each band, low to high frequency.
fn band_view(ui: &mut Ui, reduction_db: &[f32; NB_BANDS], bypassed: bool) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Gain reduction per band").color(palette::TITLE));
        ui.label(RichText::new("dB, 34 bands, low to high").color(palette::TEXT_DIM));
    });
    let (rect, _) = ui.allocate_exact_size(
        Vec2::new(ui.available_width(), BAND_VIEW_HEIGHT),
        Sense::hover(),
    );
    let painter = ui.painter_at(rect.expand(2.0));
    let plot = Rect::from_min_max(
        rect.min + Vec2::new(36.0, 4.0),
        rect.max - Vec2::new(4.0, 20.0),
    );
    painter.rect_filled(plot, CornerRadius::same(3), palette::BACKGROUND);
    draw_reduction_grid(&painter, plot);

    let slot = plot.width() / NB_BANDS as f32;
    let color = if bypassed {
        palette::BYPASSED
    } else {
        palette::ACCENT
    };
    for (band, &db) in reduction_db.iter().enumerate() {
        let depth = (db / REDUCTION_RANGE_DB).clamp(0.0, 1.0) * plot.height();
        let x = plot.left() + band as f32 * slot;
        let bar = Rect::from_min_max(
            Pos2::new(x + 1.0, plot.top()),
            Pos2::new(x + slot - 1.0, plot.top() + depth.max(1.0)),
        );
        painter.rect_filled(bar, CornerRadius::same(1), color);
    }
    for band in LABELLED_BANDS {
        let x = plot.left() + (band as f32 + 0.5) * slot;
        painter.text(
            Pos2::new(x, plot.bottom() + 3.0),
            Align2::CENTER_TOP,
            frequency_label(band_center_hz(band)),
            FontId::proportional(11.0),
            palette::TEXT_DIM,
        );
    }
}

/// Horizontal lines every 10 dB of reduction with their labels on the left.
fn draw_reduction_grid(painter: &egui::Painter, plot: Rect) {
    const STEP_DB: usize = 10;
    for db in (0..=REDUCTION_RANGE_DB as usize).step_by(STEP_DB) {
        let y = plot.top() + db as f32 / REDUCTION_RANGE_DB * plot.height();
        painter.hline(plot.x_range(), y, Stroke::new(1.0, palette::GRID));
        painter.text(
            Pos2::new(plot.left() - 6.0, y),
            Align2::RIGHT_CENTER,
            if db == 0 {
                "0".to_owned()
            } else {
                format!("-{db}")
            },
            FontId::proportional(11.0),
            palette::TEXT_DIM,
        );
    }
}

/// Center frequency of a band in Hz.
fn band_center_hz(band: usize) -> f32 {
    BAND_CENTERS[band] as f32 * SAMPLE_RATE as f32 / WINDOW as f32
}

/// "400", "1.2k", "20k".
fn frequency_label(hz: f32) -> String {
    if hz >= 10_000.0 {
        format!("{:.0}k", hz / 1000.0)
    } else if hz >= 1000.0 {
        format!("{:.1}k", hz / 1000.0)
    } else {
        format!("{hz:.0}")
    }
}

/// A labelled horizontal level meter in dBFS.
fn level_meter(ui: &mut Ui, name: &str, level_db: f32) {
    ui.horizontal(|ui| {
        fixed_label(ui, name, LEVEL_LABEL_WIDTH, palette::TITLE);
        let width = ui.available_width() - LEVEL_VALUE_WIDTH;
        let (rect, _) =
            ui.allocate_exact_size(Vec2::new(width, LEVEL_METER_HEIGHT), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, CornerRadius::same(3), palette::BACKGROUND);
        let fraction = ((level_db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB).clamp(0.0, 1.0);
        let filled =
            Rect::from_min_size(rect.min, Vec2::new(rect.width() * fraction, rect.height()));
        let color = if level_db > -6.0 {
            palette::ACCENT_HOT
        } else {
            palette::ACCENT
        };
        painter.rect_filled(filled, CornerRadius::same(3), color);
        painter.rect_stroke(
            rect,
            CornerRadius::same(3),
            Stroke::new(1.0, palette::GRID),
            StrokeKind::Inside,
        );
        let text = if level_db <= LEVEL_FLOOR_DB {
            "-inf dB".to_owned()
        } else {
            format!("{level_db:.1} dB")
        };
        ui.label(RichText::new(text).monospace().color(palette::TEXT_DIM));
    });
}

/// What the meters show, with release ballistics applied.
struct MeterDisplay {
    input_db: f32,
    output_db: f32,
    /// Gain reduction per band in dB (positive = attenuation).
    reduction_db: [f32; NB_BANDS],
}

impl Default for MeterDisplay {
    fn default() -> Self {
        Self {
            input_db: LEVEL_FLOOR_DB,
            output_db: LEVEL_FLOOR_DB,
            reduction_db: [0.0; NB_BANDS],
        }
    }
}

impl MeterDisplay {
    /// Takes the latest values from the audio thread; `dt` is the time since the last frame.
    fn update(&mut self, meters: &Meters, dt: f32) {
        let level_fall = LEVEL_RELEASE_DB_PER_S * dt;
        self.input_db = release(self.input_db, peak_db(meters.take_input_peak()), level_fall);
        self.output_db = release(
            self.output_db,
            peak_db(meters.take_output_peak()),
            level_fall,
        );

        let reduction_fall = REDUCTION_RELEASE_DB_PER_S * dt;
        for (shown, gain) in self.reduction_db.iter_mut().zip(meters.take_band_gains()) {
            // Reduction rises instantly and falls back at the release speed.
            let reduction = -util::gain_to_db(gain).min(0.0);
            *shown = (*shown - reduction_fall)
                .max(reduction)
                .min(REDUCTION_RANGE_DB);
        }
    }
}

/// A peak in dBFS, floored at the meter's bottom.
fn peak_db(peak: f32) -> f32 {
    util::gain_to_db(peak).max(LEVEL_FLOOR_DB)
}

/// Meter ballistics: jump up to `new`, fall from `shown` by at most `fall`.
fn release(shown: f32, new: f32, fall: f32) -> f32 {
    new.max(shown - fall).max(LEVEL_FLOOR_DB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_labels_are_short() {
        assert_eq!(frequency_label(400.0), "400");
        assert_eq!(frequency_label(1200.0), "1.2k");
        assert_eq!(frequency_label(20_000.0), "20k");
    }

    #[test]
    fn meters_jump_up_and_release_slowly() {
        assert_eq!(release(-30.0, -10.0, 1.0), -10.0);
        assert_eq!(release(-10.0, -40.0, 1.0), -11.0);
        assert_eq!(release(-59.5, LEVEL_FLOOR_DB, 1.0), LEVEL_FLOOR_DB);
    }
}
