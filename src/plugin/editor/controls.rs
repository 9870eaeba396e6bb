//! The editor's controls: one row per parameter (name, slider with a typeable value field,
//! tooltip), the output-mode switch and the bypass button.

use egui::{Align2, Color32, CornerRadius, FontId, RichText, Sense, Ui, Vec2};
use nice_plug::context::gui::ParamSetter;
use nice_plug::prelude::Param;
use nice_plug_egui::widgets::ParamSlider;

use super::palette;
use crate::plugin::params::{OutputModeParam, PercepNetParams};

/// Width of the parameter name column.
const LABEL_WIDTH: f32 = 122.0;
/// Width of the parameter sliders (without their value field).
const SLIDER_WIDTH: f32 = 140.0;
/// Vertical gap between rows.
const ROW_GAP: f32 = 3.0;

/// One sentence per control, shown when the pointer rests on it.
pub mod tips {
    pub const ATTENUATION_LIMIT: &str =
        "The most the denoiser may cut any band, in dB (100 dB: no limit).";
    pub const POST_FILTER: &str =
        "How strongly the envelope post-filter deepens the cuts in noisy bands (100 %: as in the paper).";
    pub const STEREO_LINK: &str =
        "Gives both channels the gains and the gate of their mid signal, so the stereo image cannot wander.";
    pub const MIX: &str =
        "The share of processed signal against the input delayed by the same latency (0 %: the input).";
    pub const OUTPUT: &str =
        "Denoised plays the result; Removed plays the input minus the result, exactly what is taken away.";
    pub const GATE_THRESHOLD: &str =
        "Frames whose speech presence reaches this value open the gate; off (0 %) disables the gate.";
    pub const GRACE: &str = "How long the gate stays open after the last speech frame.";
    pub const RETRO_GRACE: &str =
        "How long before detected speech the gate starts opening, within the existing 10 ms lookahead (no added latency).";
    pub const GATE_DEPTH: &str = "How far the closed gate attenuates, 0 to -100 dB.";
    pub const BYPASS: &str = "Bypass: outputs the dry signal with the same latency.";
}

/// Denoiser and output controls.
pub fn denoiser(ui: &mut Ui, params: &PercepNetParams, setter: &ParamSetter) {
    section_title(ui, "Denoiser");
    param_row(
        ui,
        &params.attenuation_limit,
        setter,
        tips::ATTENUATION_LIMIT,
    );
    param_row(ui, &params.post_filter, setter, tips::POST_FILTER);
    param_row(ui, &params.stereo_link, setter, tips::STEREO_LINK);
    param_row(ui, &params.mix, setter, tips::MIX);
    output_mode_row(ui, params, setter);
}

/// Voice gate controls.
pub fn gate(ui: &mut Ui, params: &PercepNetParams, setter: &ParamSetter) {
    section_title(ui, "Voice gate");
    param_row(ui, &params.gate_threshold, setter, tips::GATE_THRESHOLD);
    param_row(ui, &params.gate_grace, setter, tips::GRACE);
    param_row(ui, &params.gate_retro_grace, setter, tips::RETRO_GRACE);
    param_row(ui, &params.gate_depth, setter, tips::GATE_DEPTH);
    ui.add_space(ROW_GAP);
    ui.label(
        RichText::new("Click a value to type it; double-click a slider to reset it.")
            .small()
            .color(palette::TEXT_DIM),
    );
}

/// A section's heading.
fn section_title(ui: &mut Ui, title: &str) {
    ui.label(RichText::new(title).strong().color(palette::TITLE));
    ui.add_space(ROW_GAP);
}

/// One row: name, slider with its value field; the tooltip on both.
fn param_row(ui: &mut Ui, param: &impl Param, setter: &ParamSetter, tip: &str) {
    ui.horizontal(|ui| {
        fixed_label(ui, param.name(), LABEL_WIDTH, palette::TITLE).on_hover_text(tip);
        ui.add(ParamSlider::for_param(param, setter).with_width(SLIDER_WIDTH))
            .on_hover_text(tip);
    });
    ui.add_space(ROW_GAP);
}

/// The output mode as two exclusive buttons.
fn output_mode_row(ui: &mut Ui, params: &PercepNetParams, setter: &ParamSetter) {
    let mode = &params.output_mode;
    ui.horizontal(|ui| {
        fixed_label(ui, mode.name(), LABEL_WIDTH, palette::TITLE).on_hover_text(tips::OUTPUT);
        for (choice, text) in [
            (OutputModeParam::Denoised, "Denoised"),
            (OutputModeParam::Removed, "Removed"),
        ] {
            let response = ui
                .selectable_label(mode.value() == choice, text)
                .on_hover_text(tips::OUTPUT);
            if response.clicked() && mode.value() != choice {
                setter.begin_set_parameter(mode);
                setter.set_parameter(mode, choice);
                setter.end_set_parameter(mode);
            }
        }
    });
}

/// Text in a box of fixed width, vertically centered on the row.
pub fn fixed_label(ui: &mut Ui, text: &str, width: f32, color: Color32) -> egui::Response {
    let height = ui.spacing().interact_size.y;
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    ui.painter().text(
        rect.left_center(),
        Align2::LEFT_CENTER,
        text,
        FontId::proportional(14.0),
        color,
    );
    response
}

/// A large toggle for the bypass parameter.
pub fn bypass_button(ui: &mut Ui, params: &PercepNetParams, setter: &ParamSetter) {
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
    let response = ui.add(button).on_hover_text(tips::BYPASS);
    if response.clicked() {
        setter.begin_set_parameter(&params.bypass);
        setter.set_parameter(&params.bypass, !bypassed);
        setter.end_set_parameter(&params.bypass);
    }
}

#[cfg(test)]
mod tests {
    use super::tips;

    #[test]
    fn every_tooltip_is_one_sentence() {
        for tip in [
            tips::ATTENUATION_LIMIT,
            tips::POST_FILTER,
            tips::STEREO_LINK,
            tips::MIX,
            tips::OUTPUT,
            tips::GATE_THRESHOLD,
            tips::GRACE,
            tips::RETRO_GRACE,
            tips::GATE_DEPTH,
            tips::BYPASS,
        ] {
            assert!(tip.ends_with('.'), "{tip}");
            assert_eq!(tip.matches(". ").count(), 0, "{tip}");
        }
    }
}
