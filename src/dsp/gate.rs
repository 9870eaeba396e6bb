//! The voice gate: attenuates what the engine calls non-speech, holds open for a grace time
//! after speech, and opens before speech reaches the output (retroactive grace).
//!
//! Timing. The gate runs on the engine's output at 48 kHz, one hop of N samples at a time. With
//! each hop the engine hands over the presence p_t of frame t, and that hop is the first half of
//! frame t's window: frame t is centred on the hop's end, N samples after its start (see
//! `Denoiser::presence`). Frame t counts as speech when p_t >= θ (the threshold; θ = 0 turns the
//! gate off). For each speech frame the gate is open from R samples before the frame's centre
//! (retroactive grace, R <= N: the whole hop is the lookahead the pipeline leaves, no latency is
//! added) to G samples after it (grace); elsewhere it is closed. The gain g follows one sample at
//! a time:
//!
//! ```text
//! open:   g <- min(g + 1 / OPEN_RAMP, 1)
//! closed: g <- max(g - 1 / CLOSE_RAMP, 10^(D / 20))      (D: the depth in dB, <= 0)
//! ```
//!
//! (and towards the floor from below when the depth rises), linear amplitude ramps of
//! [`OPEN_RAMP_MS`] to open fully and [`CLOSE_RAMP_MS`] to close fully, so neither edge
//! clicks. p_t already reflects the network's own 10 ms lookahead (it chose frame t's gains after
//! seeing frame t + 1), so with R = N the gate starts opening up to 20 ms before the speech the
//! network heard.
//!
//! After construction or [`VoiceGate::reset`] the gate is open and holds for the grace time,
//! as after speech: the network needs a few frames to settle, and a first word is never cut.
//! Nothing here allocates.

use crate::{HOP, SAMPLE_RATE};

/// Default threshold θ: 0, the gate is off.
pub const THRESHOLD_DEFAULT: f32 = 0.0;
/// Longest grace (hold after the last speech frame), in ms.
pub const GRACE_MS_MAX: f32 = 1000.0;
/// Default grace in ms: bridges the short pauses inside and between words.
pub const GRACE_MS_DEFAULT: f32 = 200.0;
/// Longest retroactive grace in ms: one hop, the time between the moment the engine estimates a
/// frame and the moment the output reaches that frame's centre.
pub const RETRO_GRACE_MS_MAX: f32 = 1000.0 * HOP as f32 / SAMPLE_RATE as f32;
/// Default retroactive grace: all the lookahead there is.
pub const RETRO_GRACE_MS_DEFAULT: f32 = RETRO_GRACE_MS_MAX;
/// Deepest attenuation of the closed gate, in dB.
pub const DEPTH_DB_MIN: f32 = -100.0;
/// Default depth: as deep as it goes, silence between phrases.
pub const DEPTH_DB_DEFAULT: f32 = DEPTH_DB_MIN;
/// Time for the gain to rise from 0 to 1, in ms.
pub const OPEN_RAMP_MS: f32 = 2.5;
/// Time for the gain to fall from 1 to 0, in ms.
pub const CLOSE_RAMP_MS: f32 = 25.0;

/// Samples per millisecond at the engine rate.
const SAMPLES_PER_MS: f32 = SAMPLE_RATE as f32 / 1000.0;
/// Gain change per sample while opening and while closing.
const OPEN_STEP: f32 = 1.0 / (OPEN_RAMP_MS * SAMPLES_PER_MS);
const CLOSE_STEP: f32 = 1.0 / (CLOSE_RAMP_MS * SAMPLES_PER_MS);

/// The gate's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateSettings {
    /// θ in [0, 1]: frames with at least this presence are speech; 0 = gate off.
    pub threshold: f32,
    /// G in ms (0 to [`GRACE_MS_MAX`]): hold after the last speech frame.
    pub grace_ms: f32,
    /// R in ms (0 to [`RETRO_GRACE_MS_MAX`]): how long before a speech frame's centre the gate
    /// starts opening.
    pub retro_grace_ms: f32,
    /// D in dB ([`DEPTH_DB_MIN`] to 0): the gain of the closed gate.
    pub depth_db: f32,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            threshold: THRESHOLD_DEFAULT,
            grace_ms: GRACE_MS_DEFAULT,
            retro_grace_ms: RETRO_GRACE_MS_DEFAULT,
            depth_db: DEPTH_DB_DEFAULT,
        }
    }
}

impl GateSettings {
    /// The settings clamped to their ranges; NaN takes the default.
    pub fn sanitized(self) -> Self {
        let d = Self::default();
        let clamp = |v: f32, lo: f32, hi: f32, default: f32| {
            if v.is_nan() {
                default
            } else {
                v.clamp(lo, hi)
            }
        };
        Self {
            threshold: clamp(self.threshold, 0.0, 1.0, d.threshold),
            grace_ms: clamp(self.grace_ms, 0.0, GRACE_MS_MAX, d.grace_ms),
            retro_grace_ms: clamp(
                self.retro_grace_ms,
                0.0,
                RETRO_GRACE_MS_MAX,
                d.retro_grace_ms,
            ),
            depth_db: clamp(self.depth_db, DEPTH_DB_MIN, 0.0, d.depth_db),
        }
    }

    /// Whether the gate acts at all.
    pub fn enabled(&self) -> bool {
        self.threshold > 0.0
    }

    /// G in samples.
    fn grace_samples(&self) -> i64 {
        (self.grace_ms * SAMPLES_PER_MS).round() as i64
    }

    /// R in samples.
    fn retro_samples(&self) -> i64 {
        (self.retro_grace_ms * SAMPLES_PER_MS).round() as i64
    }

    /// The closed gain 10^(D / 20).
    fn floor(&self) -> f32 {
        10f32.powf(self.depth_db / 20.0)
    }
}

/// The voice gate of one channel (see the module documentation).
#[derive(Clone, Debug)]
pub struct VoiceGate {
    settings: GateSettings,
    /// Current gain g.
    gain: f32,
    /// Whether the gate was open (heading to 1) at the last sample.
    open: bool,
    /// Samples from the start of the next hop until which the gate stays open (0: closed).
    open_until: i64,
    /// False until the first hop after a reset, which starts the initial hold.
    primed: bool,
}

impl Default for VoiceGate {
    fn default() -> Self {
        Self::new()
    }
}

impl VoiceGate {
    /// A gate with the default settings (off), open.
    pub fn new() -> Self {
        Self {
            settings: GateSettings::default(),
            gain: 1.0,
            open: true,
            open_until: 0,
            primed: false,
        }
    }

    /// Back to the state after construction (open, holding); keeps the settings.
    pub fn reset(&mut self) {
        self.gain = 1.0;
        self.open = true;
        self.open_until = 0;
        self.primed = false;
    }

    /// Takes effect from the next hop.
    pub fn set_settings(&mut self, settings: GateSettings) {
        self.settings = settings.sanitized();
    }

    pub fn settings(&self) -> GateSettings {
        self.settings
    }

    /// The current gain (1 = open, the floor = closed).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Whether the gate is open or opening (false: closed or closing).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Gates one hop of engine output in place; `presence` is p_t of the frame the engine
    /// estimated with it (centred on the hop's end). Meant for hops of [`HOP`] samples; other
    /// lengths keep the frame centre at the hop's end.
    pub fn process_hop(&mut self, presence: f32, hop: &mut [f32]) {
        let s = self.settings;
        let len = hop.len() as i64;
        if !self.primed || !s.enabled() {
            // The initial hold, and the hold an enabled gate starts from.
            self.open_until = s.grace_samples();
            self.primed = true;
        }
        if !s.enabled() && self.gain == 1.0 {
            self.open = true;
            return;
        }
        // NaN presence counts as speech: a gate that cannot tell keeps the signal.
        let speech = s.enabled() && (presence.is_nan() || presence >= s.threshold);
        let centre = len;
        let open_from = if speech {
            centre - s.retro_samples()
        } else {
            i64::MAX
        };
        let floor = s.floor();
        for (i, x) in (0..).zip(hop.iter_mut()) {
            let open = !s.enabled() || i < self.open_until || i >= open_from;
            self.step(open, floor);
            *x *= self.gain;
        }
        if speech {
            self.open_until = self.open_until.max(centre + s.grace_samples());
        }
        self.open_until = (self.open_until - len).max(0);
    }

    /// Moves the gain one sample towards 1 (open) or the floor (closed).
    fn step(&mut self, open: bool, floor: f32) {
        self.open = open;
        let target = if open { 1.0 } else { floor };
        if self.gain < target {
            self.gain = (self.gain + OPEN_STEP).min(target);
        } else if self.gain > target {
            self.gain = (self.gain - CLOSE_STEP).max(target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f32) -> usize {
        (v * SAMPLES_PER_MS).round() as usize
    }

    /// Runs hops of ones with the given presences and returns the gains, one per sample.
    fn run(gate: &mut VoiceGate, presences: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for &p in presences {
            let mut hop = [1.0f32; HOP];
            gate.process_hop(p, &mut hop);
            out.extend_from_slice(&hop);
        }
        out
    }

    fn enabled(threshold: f32) -> VoiceGate {
        let mut gate = VoiceGate::new();
        gate.set_settings(GateSettings {
            threshold,
            ..GateSettings::default()
        });
        gate
    }

    #[test]
    fn default_gate_is_off_and_exact() {
        let mut gate = VoiceGate::new();
        let mut hop: Vec<f32> = (0..HOP).map(|n| (n as f32 * 0.37).sin()).collect();
        let before = hop.clone();
        gate.process_hop(0.0, &mut hop);
        assert_eq!(hop, before);
        assert!(gate.is_open());
    }

    #[test]
    fn noise_closes_after_the_grace_to_the_depth() {
        let mut gate = enabled(0.5);
        let g = run(&mut gate, &[0.1; 40]);
        let closing = ms(GRACE_MS_DEFAULT);
        // Open through the initial hold, then a ramp, then the floor.
        assert!(g[..closing].iter().all(|&v| v == 1.0));
        assert!(g[closing] < 1.0);
        let closed = closing + ms(CLOSE_RAMP_MS);
        assert!(g[closed..].iter().all(|&v| v == 10f32.powf(-5.0)));
        assert!(!gate.is_open());
    }

    #[test]
    fn speech_opens_from_retro_grace_before_the_frame_centre() {
        for (retro, start) in [(RETRO_GRACE_MS_MAX, 0), (5.0, HOP - ms(5.0)), (0.0, HOP)] {
            let mut gate = enabled(0.5);
            gate.set_settings(GateSettings {
                threshold: 0.5,
                retro_grace_ms: retro,
                ..GateSettings::default()
            });
            // Noise long enough to close, then one speech frame.
            let mut presences = vec![0.0; 30];
            presences.push(0.9);
            presences.extend([0.0; 30]);
            let g = run(&mut gate, &presences);
            let hop_start = 30 * HOP;
            let opening = hop_start + start;
            assert!(g[opening - 1] < 1e-4, "retro {retro}: open too early");
            assert!(g[opening] > g[opening - 1], "retro {retro}: not opening");
            assert_eq!(g[opening + ms(OPEN_RAMP_MS)], 1.0, "retro {retro}");
            // Held for the grace after the frame centre.
            let centre = hop_start + HOP;
            assert_eq!(g[centre + ms(GRACE_MS_DEFAULT) - 1], 1.0);
            assert!(g[centre + ms(GRACE_MS_DEFAULT) + 1] < 1.0);
        }
    }

    #[test]
    fn ramps_never_jump() {
        let mut gate = enabled(0.5);
        let presences: Vec<f32> = (0..300).map(|i| ((i / 7) % 3) as f32 * 0.4).collect();
        let g = run(&mut gate, &presences);
        let worst = g
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(worst <= OPEN_STEP * 1.0001, "jump {worst}");
        // The depth moves the closed gain gradually too.
        gate.set_settings(GateSettings {
            threshold: 0.5,
            depth_db: -6.0,
            ..GateSettings::default()
        });
        let g2 = run(&mut gate, &[0.0; 40]);
        assert!((g2[0] - g[g.len() - 1]).abs() <= OPEN_STEP * 1.0001);
        assert!((g2[g2.len() - 1] - 10f32.powf(-6.0 / 20.0)).abs() < 1e-6);
    }

    #[test]
    fn turning_the_gate_off_opens_it_smoothly_and_on_again_holds() {
        let mut gate = enabled(0.5);
        run(&mut gate, &[0.0; 40]);
        assert!(gate.gain() < 1e-4);
        gate.set_settings(GateSettings::default());
        let g = run(&mut gate, &[0.0; 2]);
        assert!(g[0] < 0.01 && g[ms(OPEN_RAMP_MS)] == 1.0);
        // Enabled again: it holds for the grace before closing.
        gate.set_settings(GateSettings {
            threshold: 0.5,
            ..GateSettings::default()
        });
        let g = run(&mut gate, &[0.0; 30]);
        assert_eq!(g[ms(GRACE_MS_DEFAULT) - 1], 1.0);
        assert!(g[g.len() - 1] < 1e-4);
    }

    #[test]
    fn reset_reopens_and_nan_presence_keeps_it_open() {
        let mut gate = enabled(0.5);
        run(&mut gate, &[0.0; 40]);
        gate.reset();
        assert_eq!(gate.gain(), 1.0);
        let g = run(&mut gate, &[f32::NAN; 40]);
        assert!(g.iter().all(|&v| v == 1.0));
        let s = GateSettings {
            threshold: f32::NAN,
            grace_ms: 1e9,
            retro_grace_ms: -3.0,
            depth_db: f32::NEG_INFINITY,
        }
        .sanitized();
        assert_eq!(s.threshold, THRESHOLD_DEFAULT);
        assert_eq!(s.grace_ms, GRACE_MS_MAX);
        assert_eq!(s.retro_grace_ms, 0.0);
        assert_eq!(s.depth_db, DEPTH_DB_MIN);
    }
}
