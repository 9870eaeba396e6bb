//! Short-time Fourier transform with a power-complementary Vorbis window.
//!
//! Analysis: X(k) = FFT{ w(n) x(n) } over `WINDOW` = 2N samples. Synthesis:
//! y(n) = w(n) IFFT{Z}(n) / 2N, overlap-added every N samples. Because
//! w^2(n) + w^2(n + N) = 1, analysis followed by synthesis with unit gains is an exact delay.

use std::f32::consts::PI;
use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::{HOP, NB_BINS, WINDOW};

/// One frame's spectrum: `NB_BINS` complex bins, 50 Hz apart.
pub type Spectrum = [Complex32; NB_BINS];

/// A zeroed spectrum.
pub const ZERO_SPECTRUM: Spectrum = [Complex32::new(0.0, 0.0); NB_BINS];

/// Vorbis window w(n) = sin(pi/2 * sin^2(pi (n + 1/2) / 2N)), n = 0..2N.
pub fn vorbis_window() -> [f32; WINDOW] {
    let mut w = [0.0; WINDOW];
    for (n, wn) in w.iter_mut().enumerate() {
        let s = (PI * (n as f32 + 0.5) / WINDOW as f32).sin();
        *wn = (0.5 * PI * s * s).sin();
    }
    w
}

/// Forward and inverse real FFTs of `WINDOW` points with their scratch space.
pub struct Stft {
    window: [f32; WINDOW],
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    freq: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Stft {
    /// Plans the transforms and allocates their buffers (not for the audio thread).
    pub fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(WINDOW);
        let inverse = planner.plan_fft_inverse(WINDOW);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        Self {
            window: vorbis_window(),
            time: forward.make_input_vec(),
            freq: forward.make_output_vec(),
            scratch: vec![Complex32::new(0.0, 0.0); scratch_len],
            forward,
            inverse,
        }
    }

    /// The analysis/synthesis window w(n).
    pub fn window(&self) -> &[f32; WINDOW] {
        &self.window
    }

    /// X(k) = sum_n w(n) x(n) e^{-2 pi i k n / 2N} for the `WINDOW` samples of `frame`.
    pub fn analyze(&mut self, frame: &[f32], out: &mut Spectrum) {
        debug_assert_eq!(frame.len(), WINDOW);
        for ((t, x), w) in self.time.iter_mut().zip(frame).zip(&self.window) {
            *t = x * w;
        }
        // Lengths are fixed at construction, so the transform cannot fail.
        let _ = self
            .forward
            .process_with_scratch(&mut self.time, out, &mut self.scratch);
    }

    /// y(n) = w(n) IFFT{Z}(n) / 2N: the windowed frame to overlap-add.
    pub fn synthesize(&mut self, spectrum: &Spectrum, out: &mut [f32; WINDOW]) {
        self.freq.copy_from_slice(spectrum);
        // A real signal's DC and Nyquist bins are real; drop any stray imaginary part.
        self.freq[0].im = 0.0;
        self.freq[NB_BINS - 1].im = 0.0;
        let _ =
            self.inverse
                .process_with_scratch(&mut self.freq, &mut self.time, &mut self.scratch);
        let scale = 1.0 / WINDOW as f32;
        for ((y, t), w) in out.iter_mut().zip(&self.time).zip(&self.window) {
            *y = t * w * scale;
        }
    }
}

impl Default for Stft {
    fn default() -> Self {
        Self::new()
    }
}

/// Overlap-add state: holds the second half of the previous synthesised frame.
#[derive(Clone)]
pub struct OverlapAdd {
    tail: [f32; HOP],
}

impl OverlapAdd {
    pub const fn new() -> Self {
        Self { tail: [0.0; HOP] }
    }

    pub fn reset(&mut self) {
        self.tail = [0.0; HOP];
    }

    /// out(n) = tail(n) + frame(n) for the first N samples; the frame's second half becomes
    /// the new tail. `out` receives N finished samples.
    pub fn push(&mut self, frame: &[f32; WINDOW], out: &mut [f32]) {
        debug_assert_eq!(out.len(), HOP);
        let (head, rest) = frame.split_at(HOP);
        for ((o, t), h) in out.iter_mut().zip(&self.tail).zip(head) {
            *o = t + h;
        }
        self.tail.copy_from_slice(rest);
    }
}

impl Default for OverlapAdd {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_power_complementary() {
        let w = vorbis_window();
        for n in 0..HOP {
            let s = w[n] * w[n] + w[n + HOP] * w[n + HOP];
            assert!((s - 1.0).abs() < 1e-6, "n={n}: {s}");
        }
        // Symmetric, and not trivially flat.
        assert!((w[0] - w[WINDOW - 1]).abs() < 1e-7);
        assert!(w[0] < 1e-3 && (w[HOP] - 1.0).abs() < 1e-4);
    }

    #[test]
    fn analysis_synthesis_is_an_exact_delay() {
        let mut stft = Stft::new();
        let mut ola = OverlapAdd::new();
        let input: Vec<f32> = (0..HOP * 20)
            .map(|n| ((n * 7919) % 113) as f32 / 56.0 - 1.0)
            .collect();
        let mut frame = [0.0f32; WINDOW];
        let mut spec = ZERO_SPECTRUM;
        let mut synth = [0.0; WINDOW];
        let mut output = vec![0.0; input.len()];
        for (j, hop) in input.chunks(HOP).enumerate() {
            frame.copy_within(HOP.., 0);
            frame[HOP..].copy_from_slice(hop);
            stft.analyze(&frame, &mut spec);
            stft.synthesize(&spec, &mut synth);
            ola.push(&synth, &mut output[j * HOP..(j + 1) * HOP]);
        }
        // Output hop j holds input hop j-1: a delay of exactly N samples.
        for n in HOP..input.len() {
            assert!((output[n] - input[n - HOP]).abs() < 1e-5, "n={n}");
        }
    }
}
