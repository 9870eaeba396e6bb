//! Latency-compensated bypass: a dry delay line and a click-free wet/dry crossfade.
//!
//! The dry signal is delayed by exactly the plugin's reported latency, so bypassing never moves
//! the output in time, and a linear ramp between wet and dry keeps the switch inaudible. The
//! same delayed dry signal feeds the Mix and the Removed output (`crate::dsp::mix`), and the
//! same ramp ([`SwitchFader`]) crossfades the output mode.

use super::flush_to_zero;

/// A fixed delay of `len` samples (a ring buffer, allocated once).
pub struct DelayLine {
    buffer: Vec<f32>,
    pos: usize,
}

impl DelayLine {
    /// Allocates a delay line of `len` samples, initially silent.
    pub fn new(len: usize) -> Self {
        Self {
            buffer: vec![0.0; len],
            pos: 0,
        }
    }

    /// Silences the line; allocates nothing.
    pub fn reset(&mut self) {
        self.buffer.fill(0.0);
        self.pos = 0;
    }

    /// Writes `input` and reads the samples from `len` samples ago into `output` (over the
    /// shorter of the two lengths). A zero-length line copies through.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        if self.buffer.is_empty() {
            for (y, &x) in output.iter_mut().zip(input) {
                *y = x;
            }
            return;
        }
        for (&x, y) in input.iter().zip(output.iter_mut()) {
            *y = std::mem::replace(&mut self.buffer[self.pos], x);
            self.pos += 1;
            if self.pos == self.buffer.len() {
                self.pos = 0;
            }
        }
    }
}

/// A per-sample share between 0 (switch off: wet for bypass, Denoised for the output mode) and
/// 1 (switch on: dry, Removed) that ramps linearly towards its target, so a switch takes
/// `ramp_len` samples instead of one.
pub struct SwitchFader {
    mix: f32,
    target: f32,
    step: f32,
}

impl SwitchFader {
    /// A fader that takes `ramp_len` samples (at least one) for a full switch, starting settled
    /// at `on`.
    pub fn new(ramp_len: usize, on: bool) -> Self {
        let mix = Self::mix_for(on);
        Self {
            mix,
            target: mix,
            step: 1.0 / ramp_len.max(1) as f32,
        }
    }

    /// The share for a switch state.
    fn mix_for(on: bool) -> f32 {
        if on {
            1.0
        } else {
            0.0
        }
    }

    /// Sets where the fader heads; the ramp starts from the current mix.
    pub fn set_on(&mut self, on: bool) {
        self.target = Self::mix_for(on);
    }

    /// Jumps straight to `on` without a ramp (after a reset nothing is playing).
    pub fn snap_to(&mut self, on: bool) {
        self.target = Self::mix_for(on);
        self.mix = self.target;
    }

    /// Fills `mix` with one share per sample, advancing the ramp.
    pub fn fill(&mut self, mix: &mut [f32]) {
        for m in mix.iter_mut() {
            self.advance();
            *m = self.mix;
        }
    }

    /// Moves the mix one sample towards the target, landing on it exactly.
    fn advance(&mut self) {
        if self.mix < self.target {
            self.mix = (self.mix + self.step).min(self.target);
        } else if self.mix > self.target {
            self.mix = (self.mix - self.step).max(self.target);
        }
    }
}

/// Crossfades in place: `wet[i] += mix[i] * (dry[i] - wet[i])`, then replaces any non-finite
/// or subnormal result by 0. When wet and dry are equal the output is exactly that value for
/// any mix.
pub fn crossfade_and_sanitize(wet: &mut [f32], dry: &[f32], mix: &[f32]) {
    for ((y, &d), &m) in wet.iter_mut().zip(dry).zip(mix) {
        *y = flush_to_zero(*y + m * (d - *y));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_line_delays_by_its_length_across_calls() {
        let mut line = DelayLine::new(3);
        let input: Vec<f32> = (1..=8).map(|i| i as f32).collect();
        let mut output = vec![0.0; 8];
        line.process(&input[..5], &mut output[..5]);
        line.process(&input[5..], &mut output[5..]);
        assert_eq!(output, [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn zero_length_delay_line_passes_through() {
        let mut line = DelayLine::new(0);
        let mut output = [0.0; 2];
        line.process(&[1.0, 2.0], &mut output);
        assert_eq!(output, [1.0, 2.0]);
    }

    #[test]
    fn fader_ramps_linearly_and_lands_exactly() {
        let mut fader = SwitchFader::new(4, false);
        fader.set_on(true);
        let mut mix = [0.0; 6];
        fader.fill(&mut mix);
        assert_eq!(mix, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        fader.set_on(false);
        fader.fill(&mut mix[..2]);
        assert_eq!(&mix[..2], &[0.75, 0.5]);
        fader.snap_to(true);
        fader.fill(&mut mix[..1]);
        assert_eq!(mix[0], 1.0);
    }

    #[test]
    fn crossfade_of_equal_signals_is_exact_and_sanitizes() {
        let mut wet = [0.3, -0.7, f32::NAN, f32::INFINITY, 1e-40];
        let dry = [0.3, -0.7, 0.1, 0.2, 1e-40];
        crossfade_and_sanitize(&mut wet, &dry, &[0.1, 0.9, 0.5, 0.0, 0.5]);
        assert_eq!(wet, [0.3, -0.7, 0.0, 0.0, 0.0]);
    }
}
