//! What the editor shows of the audio: the per-band gain reduction, the input and output
//! levels and the voice gate (its state and the speech presence against the threshold), with
//! release ballistics.

use egui::{Align2, Color32, CornerRadius, FontId, Pos2, Rect, RichText, Sense, Stroke, Ui, Vec2};
use nice_plug::prelude::util;

use super::controls::fixed_label;
use super::palette;
use crate::dsp::bands::BAND_CENTERS;
use crate::plugin::meters::Meters;
use crate::{NB_BANDS, SAMPLE_RATE, WINDOW};

/// Lowest level shown by the input/output meters, in dBFS.
const LEVEL_FLOOR_DB: f32 = -60.0;
/// Largest gain reduction shown by the band view, in dB.
const REDUCTION_RANGE_DB: f32 = 40.0;
/// Release speed of the level meters, in dB per second.
const LEVEL_RELEASE_DB_PER_S: f32 = 24.0;
/// Release speed of the band gain reduction, in dB per second.
const REDUCTION_RELEASE_DB_PER_S: f32 = 40.0;
/// Release speed of the presence bar, in presence (0..1) per second.
const PRESENCE_RELEASE_PER_S: f32 = 2.0;
/// Gate gain above which the indicator reads "open".
const GATE_OPEN_GAIN: f32 = 0.5;
/// Band centers whose frequency is written under the band view.
const LABELLED_BANDS: [usize; 7] = [2, 8, 14, 20, 25, 29, 33];
/// Height of the band view and of one level meter.
const BAND_VIEW_HEIGHT: f32 = 130.0;
const LEVEL_METER_HEIGHT: f32 = 14.0;
/// Widths of the level meters' name and value columns, and of the gate block.
const LEVEL_LABEL_WIDTH: f32 = 36.0;
const LEVEL_VALUE_WIDTH: f32 = 70.0;
const GATE_BLOCK_WIDTH: f32 = 230.0;

/// What the meters show, with release ballistics applied.
pub struct MeterDisplay {
    pub input_db: f32,
    pub output_db: f32,
    /// Gain reduction per band in dB (positive = attenuation).
    pub reduction_db: [f32; NB_BANDS],
    /// Speech presence in [0, 1].
    pub presence: f32,
    /// Voice gate gain in [0, 1] (1 = open); negative until the audio thread reports one.
    pub gate_gain: f32,
}

impl Default for MeterDisplay {
    fn default() -> Self {
        Self {
            input_db: LEVEL_FLOOR_DB,
            output_db: LEVEL_FLOOR_DB,
            reduction_db: [0.0; NB_BANDS],
            presence: 0.0,
            gate_gain: -1.0,
        }
    }
}

impl MeterDisplay {
    /// Takes the latest values from the audio thread; `dt` is the time since the last frame.
    pub fn update(&mut self, meters: &Meters, dt: f32) {
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

        let (presence, gate_gain) = meters.take_gate();
        self.presence = presence.max(self.presence - PRESENCE_RELEASE_PER_S * dt);
        // Nothing recorded (0 from an idle audio thread) keeps the last state on screen.
        if gate_gain > 0.0 {
            self.gate_gain = gate_gain;
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

/// 34 bars hanging from the top: the gain reduction of each band, low to high frequency.
pub fn band_view(ui: &mut Ui, reduction_db: &[f32; NB_BANDS], bypassed: bool) {
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

/// The level meters on the left, the voice gate's indicator beside them.
pub fn meters_and_gate(ui: &mut Ui, display: &MeterDisplay, threshold: f32) {
    ui.horizontal(|ui| {
        let meters_width = (ui.available_width() - GATE_BLOCK_WIDTH - 12.0).max(100.0);
        ui.vertical(|ui| {
            ui.set_width(meters_width);
            level_meter(ui, "In", display.input_db);
            ui.add_space(4.0);
            level_meter(ui, "Out", display.output_db);
        });
        ui.add_space(12.0);
        ui.vertical(|ui| {
            ui.set_width(GATE_BLOCK_WIDTH);
            gate_indicator(ui, display, threshold);
        });
    });
}

/// A labelled horizontal level meter in dBFS.
fn level_meter(ui: &mut Ui, name: &str, level_db: f32) {
    ui.horizontal(|ui| {
        fixed_label(ui, name, LEVEL_LABEL_WIDTH, palette::TITLE);
        let width = ui.available_width() - LEVEL_VALUE_WIDTH;
        let fraction = ((level_db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB).clamp(0.0, 1.0);
        let color = if level_db > -6.0 {
            palette::ACCENT_HOT
        } else {
            palette::ACCENT
        };
        bar(ui, width, fraction, color);
        let text = if level_db <= LEVEL_FLOOR_DB {
            "-inf dB".to_owned()
        } else {
            format!("{level_db:.1} dB")
        };
        ui.label(RichText::new(text).monospace().color(palette::TEXT_DIM));
    });
}

/// A horizontal bar `width` wide, filled to `fraction`; returns its rectangle.
fn bar(ui: &mut Ui, width: f32, fraction: f32, color: Color32) -> Rect {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, LEVEL_METER_HEIGHT), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, CornerRadius::same(3), palette::BACKGROUND);
    let filled = Rect::from_min_size(
        rect.min,
        Vec2::new(rect.width() * fraction.clamp(0.0, 1.0), rect.height()),
    );
    painter.rect_filled(filled, CornerRadius::same(3), color);
    painter.rect_stroke(
        rect,
        CornerRadius::same(3),
        Stroke::new(1.0, palette::GRID),
        egui::StrokeKind::Inside,
    );
    rect
}

/// What the gate indicator says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateState {
    Off,
    Open,
    Closed,
}

impl GateState {
    /// From the threshold and the gate gain (negative: not known yet).
    fn of(threshold: f32, gain: f32) -> Self {
        if threshold <= 0.0 {
            Self::Off
        } else if !(0.0..GATE_OPEN_GAIN).contains(&gain) {
            Self::Open
        } else {
            Self::Closed
        }
    }

    fn label(self) -> (&'static str, Color32) {
        match self {
            Self::Off => ("GATE OFF", palette::BYPASSED),
            Self::Open => ("GATE OPEN", palette::ACCENT),
            Self::Closed => ("GATE CLOSED", palette::GATE_CLOSED),
        }
    }
}

/// A lamp with the gate's state, and the speech presence as a bar with the threshold marked.
fn gate_indicator(ui: &mut Ui, display: &MeterDisplay, threshold: f32) {
    let state = GateState::of(threshold, display.gate_gain);
    let (text, colour) = state.label();
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(LEVEL_METER_HEIGHT), Sense::hover());
        ui.painter()
            .circle_filled(rect.center(), LEVEL_METER_HEIGHT / 2.0, colour);
        ui.label(RichText::new(text).strong().color(colour))
            .on_hover_text(
            "The voice gate: open while the engine hears speech (and for the grace time after it).",
        );
    });
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new("Speech").color(palette::TEXT_DIM));
        let width = ui.available_width() - 44.0;
        let rect = bar(ui, width, display.presence, palette::ACCENT);
        if threshold > 0.0 {
            let x = rect.left() + rect.width() * threshold.clamp(0.0, 1.0);
            ui.painter()
                .vline(x, rect.y_range(), Stroke::new(2.0, palette::TITLE));
        }
        ui.label(
            RichText::new(format!("{:.0}%", 100.0 * display.presence))
                .monospace()
                .color(palette::TEXT_DIM),
        );
    })
    .response
    .on_hover_text("Speech presence of the latest frames; the white mark is the gate threshold.");
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

    #[test]
    fn gate_indicator_follows_threshold_and_gain() {
        assert_eq!(GateState::of(0.0, 1e-5), GateState::Off);
        assert_eq!(GateState::of(0.5, 1.0), GateState::Open);
        assert_eq!(GateState::of(0.5, -1.0), GateState::Open);
        assert_eq!(GateState::of(0.5, 1e-5), GateState::Closed);
    }

    #[test]
    fn presence_display_releases_and_gate_keeps_its_last_state() {
        let meters = Meters::default();
        let mut display = MeterDisplay::default();
        meters.record_gate(0.8, 1e-5);
        display.update(&meters, 0.0);
        assert_eq!(display.presence, 0.8);
        assert_eq!(display.gate_gain, 1e-5);
        display.update(&meters, 0.1);
        assert!((display.presence - 0.6).abs() < 1e-6);
        assert_eq!(display.gate_gain, 1e-5);
    }
}
