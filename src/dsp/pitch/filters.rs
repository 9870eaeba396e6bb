//! The pitch search's input filters (`docs/ALGORITHM.md`, "Pitch"): a 4th-order Butterworth
//! high-pass (two biquads in f64) that removes DC, hum and rumble, and a windowed-sinc FIR
//! low-pass before decimation to 12 kHz, run with the same sums in the same order on every CPU.

use super::correlation::dot;
use super::{sanitize, LOWPASS_TAPS};

/// `filtered[n] = dot(taps, hp[n + 1 - LOWPASS_TAPS..=n])` for `n` in `from..hp.len()`,
/// bit for bit (AVX or not: the same operations in the same order).
pub(super) fn lowpass(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F is available (just detected).
        unsafe { lowpass_avx512(taps, hp, filtered, from) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is available (just detected).
        unsafe { lowpass_avx(taps, hp, filtered, from) };
        return;
    }
    lowpass_impl::<8>(taps, hp, filtered, from);
}

/// Safety: the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn lowpass_avx(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    lowpass_impl::<8>(taps, hp, filtered, from);
}

/// Sixteen outputs at a time: a row of partial sums fills a 512-bit register.
///
/// Safety: the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lowpass_avx512(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    lowpass_impl::<16>(taps, hp, filtered, from);
}

/// `OUT` outputs at a time, each computed as [`dot`] computes it (eight partial sums of
/// every eighth product, added in order, plus the empty tail's 0), so the results are
/// [`dot`]'s bit for bit, whatever `OUT`, while the arithmetic runs across outputs, with no
/// horizontal sums.
#[inline(always)]
fn lowpass_impl<const OUT: usize>(taps: &[f32], hp: &[f32], filtered: &mut [f32], from: usize) {
    const M: usize = LOWPASS_TAPS;
    const LANES: usize = 8;
    const _: () = assert!(M.is_multiple_of(LANES) && M >= LANES);
    let n_end = hp.len().min(filtered.len());
    let Ok(taps) = <&[f32; M]>::try_from(taps) else {
        return;
    };
    let mut n = from.max(M - 1);
    while n + OUT <= n_end {
        let x = &hp[n + 1 - M..n + OUT];
        // acc[i][j]: partial sum i of output n + j.
        let mut acc = [[0.0f32; OUT]; LANES];
        for c in 0..M / LANES {
            for (i, a) in acc.iter_mut().enumerate() {
                let t = taps[c * LANES + i];
                let xs: &[f32; OUT] = x[c * LANES + i..][..OUT].try_into().unwrap_or(&[0.0; OUT]);
                for (a, &v) in a.iter_mut().zip(xs) {
                    *a += t * v;
                }
            }
        }
        let mut sum = acc[0];
        for a in &acc[1..] {
            for (s, v) in sum.iter_mut().zip(a) {
                *s += v;
            }
        }
        for (f, s) in filtered[n..n + OUT].iter_mut().zip(sum) {
            *f = s + 0.0;
        }
        n += OUT;
    }
    for n in n..n_end {
        filtered[n] = dot(taps, &hp[n + 1 - M..=n]);
    }
}

/// Windowed-sinc low-pass taps h(i) = 2 f_c/f_s sinc(2 f_c/f_s (i - (M-1)/2)) sin^2(pi (i +
/// 1/2) / M), i = 0..M, normalised to unit DC gain (sum h = 1). Symmetric.
pub fn lowpass_taps(cutoff_hz: f32, sample_rate: f32, out: &mut [f32]) {
    let m = out.len();
    let fc = f64::from(cutoff_hz / sample_rate);
    let centre = (m as f64 - 1.0) / 2.0;
    for (i, h) in out.iter_mut().enumerate() {
        let t = i as f64 - centre;
        let arg = 2.0 * std::f64::consts::PI * fc * t;
        let sinc = if t == 0.0 {
            2.0 * fc
        } else {
            arg.sin() / (std::f64::consts::PI * t)
        };
        let w = (std::f64::consts::PI * (i as f64 + 0.5) / m as f64)
            .sin()
            .powi(2);
        *h = (sinc * w) as f32;
    }
    let sum: f32 = out.iter().sum();
    if sum != 0.0 {
        out.iter_mut().for_each(|h| *h /= sum);
    }
}

/// A 2nd-order high-pass section (bilinear transform, RBJ form), run in f64 as a transposed
/// direct form II:
///   y = b0 x + s1,  s1' = b1 x - a1 y + s2,  s2' = b2 x - a2 y.
#[derive(Clone, Copy, Debug)]
struct HighpassSection {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl HighpassSection {
    /// With w0 = 2 pi f_c / f_s, alpha = sin(w0) / (2 Q):
    /// b = [(1 + cos w0)/2, -(1 + cos w0), (1 + cos w0)/2] / (1 + alpha),
    /// a = [-2 cos w0, 1 - alpha] / (1 + alpha).
    fn new(cutoff_hz: f64, sample_rate: f64, q: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * cutoff_hz / sample_rate;
        let alpha = w0.sin() / (2.0 * q);
        let (c, a0) = (w0.cos(), 1.0 + alpha);
        let b0 = (1.0 + c) / 2.0 / a0;
        Self {
            b: [b0, -2.0 * b0, b0],
            a: [-2.0 * c / a0, (1.0 - alpha) / a0],
            s: [0.0; 2],
        }
    }

    /// Sets the state as if the input had always been `x0` (so the output is 0, the DC gain
    /// being 0): s2 = b2 x0, s1 = (b1 + b2) x0.
    fn settle(&mut self, x0: f64) {
        self.s = [(self.b[1] + self.b[2]) * x0, self.b[2] * x0];
    }

    #[inline]
    fn step(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// A 4th-order Butterworth high-pass: two 2nd-order sections with Q = 1 / (2 cos(pi/8)) and
/// 1 / (2 cos(3 pi/8)). -3 dB at the cut-off, 24 dB per octave below it.
#[derive(Clone, Copy, Debug)]
pub struct Highpass {
    sections: [HighpassSection; 2],
}

impl Highpass {
    /// The filter for a cut-off and sample rate in Hz.
    pub fn new(cutoff_hz: f64, sample_rate: f64) -> Self {
        let q = |k: f64| 1.0 / (2.0 * (k * std::f64::consts::PI / 8.0).cos());
        Self {
            sections: [
                HighpassSection::new(cutoff_hz, sample_rate, q(1.0)),
                HighpassSection::new(cutoff_hz, sample_rate, q(3.0)),
            ],
        }
    }

    /// Sets the state as if the input had always been `x0` (output 0). A history starting on
    /// a DC offset then causes no transient.
    pub fn settle(&mut self, x0: f32) {
        self.sections[0].settle(f64::from(x0));
        self.sections[1].settle(0.0);
    }

    /// `out[i] = step(sanitize(x[i]))` over the common length, with the filter in local
    /// variables (kept in registers rather than written back after every sample): the same
    /// operations, so the same results as calling [`Highpass::step`] sample by sample.
    pub(super) fn run(&mut self, x: &[f32], out: &mut [f32]) {
        let mut f = *self;
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f.step(sanitize(v));
        }
        *self = f;
    }

    /// One output sample (0, and a cleared state, should it ever become non-finite).
    #[inline]
    pub fn step(&mut self, x: f32) -> f32 {
        let mid = self.sections[0].step(f64::from(x));
        let y = self.sections[1].step(mid);
        if !y.is_finite() {
            self.settle(0.0);
            return 0.0;
        }
        y as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::pitch::{HIGHPASS_HZ, LOWPASS_CUTOFF_HZ};
    use crate::SAMPLE_RATE;

    /// |H(e^{jw})| of an FIR.
    fn fir_gain(h: &[f32], f: f32) -> f32 {
        let w = 2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32;
        let (mut re, mut im) = (0.0f32, 0.0f32);
        for (i, &v) in h.iter().enumerate() {
            re += v * (w * i as f32).cos();
            im -= v * (w * i as f32).sin();
        }
        (re * re + im * im).sqrt()
    }

    #[test]
    fn lowpass_has_unit_dc_gain_and_rejects_the_alias_band() {
        let mut h = [0.0f32; LOWPASS_TAPS];
        lowpass_taps(LOWPASS_CUTOFF_HZ, SAMPLE_RATE as f32, &mut h);
        assert!((fir_gain(&h, 0.0) - 1.0).abs() < 1e-5);
        assert!(fir_gain(&h, 1000.0) > 0.9, "{}", fir_gain(&h, 1000.0));
        assert!(fir_gain(&h, 9000.0) < 0.01, "{}", fir_gain(&h, 9000.0));
    }

    /// The dispatched low-pass and every variant this CPU can run (8 outputs at a time
    /// portable or with AVX, 16 with AVX-512F) give one [`dot`] per output bit for bit, from any first output and over lengths that leave a remainder.
    #[test]
    fn lowpass_equals_one_dot_per_output() {
        let mut h = [0.0f32; LOWPASS_TAPS];
        lowpass_taps(LOWPASS_CUTOFF_HZ, SAMPLE_RATE as f32, &mut h);
        let mut state = 0x1234_5678u32;
        let hp: Vec<f32> = (0..3203)
            .map(|_| super::super::test_noise(&mut state))
            .collect();
        type Lowpass = fn(&[f32], &[f32], &mut [f32], usize);
        let mut variants: Vec<(&str, Lowpass)> =
            vec![("dispatched", lowpass), ("portable", lowpass_impl::<8>)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx") {
                // SAFETY (both): the CPU has the features each variant needs (just detected).
                variants.push(("avx", |t, x, o, f| unsafe { lowpass_avx(t, x, o, f) }));
            }
            if std::is_x86_feature_detected!("avx512f") {
                variants.push(("avx-512", |t, x, o, f| unsafe {
                    lowpass_avx512(t, x, o, f)
                }));
            }
        }
        for (len, from) in [(3203, 0), (3200, 2720), (3203, 2720), (100, 40), (40, 31)] {
            for (name, run) in &variants {
                let mut fast = vec![-1.0f32; len];
                run(&h, &hp[..len], &mut fast, from);
                for (n, f) in fast.iter().enumerate() {
                    let want = if n < from.max(LOWPASS_TAPS - 1) {
                        -1.0
                    } else {
                        dot(&h, &hp[n + 1 - LOWPASS_TAPS..=n])
                    };
                    assert_eq!(
                        f.to_bits(),
                        want.to_bits(),
                        "{name}: len {len}, from {from}, n {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn highpass_removes_dc_and_hum_and_passes_voice() {
        let rms_out = |f: f64, settle_on_first: bool| {
            let mut hp = Highpass::new(HIGHPASS_HZ, f64::from(SAMPLE_RATE));
            let x = |n: usize| {
                0.3 + (2.0 * std::f64::consts::PI * f * n as f64 / 48_000.0).sin() as f32
            };
            if settle_on_first {
                hp.settle(x(0));
            }
            let n = 48_000;
            let (mut e, mut count) = (0.0f64, 0);
            for i in 0..n {
                let y = hp.step(x(i));
                if i >= n / 2 {
                    e += f64::from(y) * f64::from(y);
                    count += 1;
                }
            }
            (e / count as f64).sqrt() * std::f64::consts::SQRT_2
        };
        assert!(rms_out(20.0, true) < 0.01, "{}", rms_out(20.0, true));
        assert!(rms_out(50.0, true) < 0.2, "{}", rms_out(50.0, true));
        assert!(rms_out(300.0, true) > 0.95, "{}", rms_out(300.0, true));
        // Settled on a DC offset: no transient at all.
        let mut hp = Highpass::new(HIGHPASS_HZ, f64::from(SAMPLE_RATE));
        hp.settle(0.5);
        assert!(hp.step(0.5).abs() < 1e-6);
    }
}
