//! How the host's sample rate is brought to the engine's fixed 48 kHz.
//!
//! At 48 kHz samples go straight to the engine ([`RateConversion::Native`], latency
//! [`LATENCY`]). At the other supported rates ([`SUPPORTED_RATES`], all multiples of 100 Hz)
//! every channel runs a [`RateConverter`]: one engine hop (10 ms) of host samples is gathered,
//! resampled to exactly [`HOP`] samples with rubato's synchronous FFT resampler, denoised with
//! `Denoiser::process_hop`, resampled back to the same number of host samples and played out
//! one hop later. Every stage works on fixed-size chunks, so the delay is a constant:
//!
//! ```text
//! L = N + floor(B / 2) + (LATENCY - HOP + S / 2) * R / 48000      host samples
//! ```
//!
//! where `R` is the host rate, `N = R / 100` the host samples per hop (the chunking delay),
//! `S` = [`SUB_BLOCK`] the engine samples per FFT block of both resamplers and `B = S * R / 48000`
//! the matching host samples. A resampler delays by half its FFT block on its input side
//! (its anti-aliasing filter is a windowed sinc of one block, centred on sample `floor(len / 2)`):
//! `floor(B / 2)` host samples on the way in, `S / 2` engine samples on the way out.
//! `LATENCY - HOP` is what `process_hop` delays by. The host is told `L` rounded to the nearest
//! sample; everything downstream (the reported latency, the bypass delay) follows
//! [`RateConversion::latency_samples`].

use std::fmt;

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use crate::{HOP, LATENCY, SAMPLE_RATE};

/// The host sample rates the plugin runs at, in Hz.
pub const SUPPORTED_RATES: [u32; 5] = [44_100, 48_000, 88_200, 96_000, 192_000];

/// Engine-rate samples per FFT block of both resamplers (a third of a hop, 3.3 ms). Smaller
/// blocks mean less delay but a lower anti-aliasing cutoff: with 160 it sits at 20.0 kHz for
/// 44.1 kHz hosts and 21.9 kHz for the others. Every supported rate maps it to a whole number
/// of host samples that rubato accepts as a block (a multiple of `R / gcd(R, 48000)`).
pub const SUB_BLOCK: usize = 160;

/// Engine hops of 10 ms per second: host samples per hop are `rate / HOPS_PER_SECOND`.
const HOPS_PER_SECOND: u32 = SAMPLE_RATE / HOP as u32;

/// The conversion between the host rate and the engine rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateConversion {
    /// The host runs at the engine rate: samples go straight to the engine.
    Native,
    /// The host runs at `host_rate` Hz (one of [`SUPPORTED_RATES`]): each channel resamples
    /// through a [`RateConverter`].
    Resampled { host_rate: u32 },
}

/// A host sample rate the plugin cannot run at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnsupportedSampleRate(pub f32);

impl fmt::Display for UnsupportedSampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PercepNet runs at 44.1, 48, 88.2, 96 or 192 kHz; the host asked for {} Hz, so the \
             plugin refuses to activate",
            self.0
        )
    }
}

impl std::error::Error for UnsupportedSampleRate {}

impl RateConversion {
    /// Picks the conversion for a host sample rate in Hz.
    pub fn for_host_rate(sample_rate: f32) -> Result<Self, UnsupportedSampleRate> {
        let rate = SUPPORTED_RATES
            .into_iter()
            .find(|&rate| (sample_rate - rate as f32).abs() < 0.5)
            .ok_or(UnsupportedSampleRate(sample_rate))?;
        Ok(if rate == SAMPLE_RATE {
            Self::Native
        } else {
            Self::Resampled { host_rate: rate }
        })
    }

    /// The host sample rate in Hz.
    pub fn host_rate(self) -> u32 {
        match self {
            Self::Native => SAMPLE_RATE,
            Self::Resampled { host_rate } => host_rate,
        }
    }

    /// Host samples per engine hop (10 ms).
    pub fn hop_len(self) -> usize {
        (self.host_rate() / HOPS_PER_SECOND) as usize
    }

    /// Host samples per FFT block of the resamplers ([`SUB_BLOCK`] at the host rate).
    fn sub_block_len(self) -> usize {
        SUB_BLOCK * self.host_rate() as usize / SAMPLE_RATE as usize
    }

    /// Total delay from plugin input to plugin output in units of 1/48000 host samples (exact).
    fn latency_48000ths(self) -> u64 {
        let rate = u64::from(self.host_rate());
        let engine_rate = u64::from(SAMPLE_RATE);
        match self {
            Self::Native => LATENCY as u64 * engine_rate,
            Self::Resampled { .. } => {
                let host_side = (self.hop_len() + self.sub_block_len() / 2) as u64;
                let engine_side = (LATENCY - HOP + SUB_BLOCK / 2) as u64;
                host_side * engine_rate + engine_side * rate
            }
        }
    }

    /// Total delay from plugin input to plugin output in host samples (exact, fractional where
    /// the resamplers' delays do not add up to whole host samples).
    #[cfg(test)]
    pub fn latency_exact(self) -> f64 {
        self.latency_48000ths() as f64 / f64::from(SAMPLE_RATE)
    }

    /// Total delay from plugin input to plugin output in host samples, rounded to the nearest
    /// sample (halves round up): the engine's algorithmic latency plus what the conversion adds.
    pub fn latency_samples(self) -> usize {
        let engine_rate = u64::from(SAMPLE_RATE);
        ((self.latency_48000ths() + engine_rate / 2) / engine_rate) as usize
    }
}

/// Why a [`RateConverter`] could not be built.
#[derive(Debug)]
pub struct ConverterError(String);

impl fmt::Display for ConverterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PercepNet cannot set up its resamplers: {}", self.0)
    }
}

impl std::error::Error for ConverterError {}

/// One channel's path from the host rate to the engine rate and back, in fixed chunks of one
/// hop. All buffers are allocated in [`RateConverter::new`]; processing allocates nothing.
pub struct RateConverter {
    /// Host rate to 48 kHz: [`RateConversion::hop_len`] frames in, [`HOP`] out.
    down: Fft<f32>,
    /// 48 kHz to the host rate: [`HOP`] frames in, [`RateConversion::hop_len`] out.
    up: Fft<f32>,
    /// Host input gathered for the next hop.
    host_in: Vec<f32>,
    /// Host output of the previous hop, being played out.
    host_out: Vec<f32>,
    /// One hop at the engine rate, before and after the engine.
    hop_in: Vec<f32>,
    hop_out: Vec<f32>,
    /// Position within the current hop, in host samples.
    pos: usize,
}

impl RateConverter {
    /// Builds the resamplers and buffers for `conversion` (allocates; call from `activate`).
    /// Fails for [`RateConversion::Native`], which needs no converter.
    pub fn new(conversion: RateConversion) -> Result<Self, ConverterError> {
        let RateConversion::Resampled { host_rate } = conversion else {
            return Err(ConverterError(
                "the engine rate needs no conversion".to_string(),
            ));
        };
        let rate = host_rate as usize;
        let engine_rate = SAMPLE_RATE as usize;
        let hop_len = conversion.hop_len();
        let sub_block_len = conversion.sub_block_len();
        let build = |from: usize, to: usize, chunk: usize, block: usize| {
            Fft::<f32>::new_custom(
                from,
                to,
                chunk,
                chunk / block,
                1,
                WindowFunction::BlackmanHarris2,
                FixedSync::Input,
            )
            .map_err(|e| ConverterError(format!("{from} Hz to {to} Hz: {e}")))
        };
        let down = build(rate, engine_rate, hop_len, sub_block_len)?;
        let up = build(engine_rate, rate, HOP, SUB_BLOCK)?;

        // The latency formula relies on these block sizes, and the real-time path on every
        // call taking and giving exactly one hop: check both once here.
        let sizes = [
            (down.fft_size_in(), sub_block_len),
            (down.input_frames_next(), hop_len),
            (down.output_frames_next(), HOP),
            (down.output_frames_max(), HOP),
            (up.fft_size_in(), SUB_BLOCK),
            (up.input_frames_next(), HOP),
            (up.output_frames_next(), hop_len),
            (up.output_frames_max(), hop_len),
        ];
        if sizes.iter().any(|(got, wanted)| got != wanted) {
            return Err(ConverterError(format!(
                "unexpected chunk sizes at {rate} Hz: {down:?} / {up:?}"
            )));
        }

        Ok(Self {
            down,
            up,
            host_in: vec![0.0; hop_len],
            host_out: vec![0.0; hop_len],
            hop_in: vec![0.0; HOP],
            hop_out: vec![0.0; HOP],
            pos: 0,
        })
    }

    /// Clears all history; allocates nothing.
    pub fn reset(&mut self) {
        self.down.reset();
        self.up.reset();
        self.host_in.fill(0.0);
        self.host_out.fill(0.0);
        self.hop_in.fill(0.0);
        self.hop_out.fill(0.0);
        self.pos = 0;
    }

    /// Runs `input` through the conversion and writes the result, one hop later, to `output`
    /// (over the shorter of the two lengths). `engine` processes one hop of [`HOP`] samples at
    /// 48 kHz, as `Denoiser::process_hop` does.
    pub fn process(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        mut engine: impl FnMut(&[f32], &mut [f32]),
    ) {
        let len = input.len().min(output.len());
        let hop_len = self.host_in.len();
        let mut done = 0;
        while done < len {
            let n = (hop_len - self.pos).min(len - done);
            let range = self.pos..self.pos + n;
            output[done..done + n].copy_from_slice(&self.host_out[range.clone()]);
            self.host_in[range].copy_from_slice(&input[done..done + n]);
            self.pos += n;
            done += n;
            if self.pos == hop_len {
                self.pos = 0;
                if self.convert_hop(&mut engine).is_none() {
                    // Cannot happen with the sizes checked in `new`; never panic on the audio
                    // thread, play silence instead.
                    self.host_out.fill(0.0);
                }
            }
        }
    }

    /// Resamples the gathered host hop down, runs the engine, resamples back into `host_out`.
    fn convert_hop(&mut self, engine: &mut impl FnMut(&[f32], &mut [f32])) -> Option<()> {
        let hop_len = self.host_in.len();
        let host_in = SequentialSlice::new(&self.host_in[..], 1, hop_len).ok()?;
        let mut hop_in = SequentialSlice::new_mut(&mut self.hop_in[..], 1, HOP).ok()?;
        let (_, written) = self
            .down
            .process_into_buffer(&host_in, &mut hop_in, None)
            .ok()?;
        if written != HOP {
            return None;
        }
        engine(&self.hop_in, &mut self.hop_out);
        let hop_out = SequentialSlice::new(&self.hop_out[..], 1, HOP).ok()?;
        let mut host_out = SequentialSlice::new_mut(&mut self.host_out[..], 1, hop_len).ok()?;
        let (_, written) = self
            .up
            .process_into_buffer(&hop_out, &mut host_out, None)
            .ok()?;
        (written == hop_len).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_rates_are_accepted_and_others_refused() {
        assert_eq!(
            RateConversion::for_host_rate(48_000.0),
            Ok(RateConversion::Native)
        );
        for rate in [44_100, 88_200, 96_000, 192_000] {
            assert_eq!(
                RateConversion::for_host_rate(rate as f32),
                Ok(RateConversion::Resampled { host_rate: rate })
            );
        }
        for rate in [
            0.0, 8_000.0, 22_050.0, 32_000.0, 44_000.0, 176_400.0, 384_000.0,
        ] {
            assert_eq!(
                RateConversion::for_host_rate(rate),
                Err(UnsupportedSampleRate(rate))
            );
        }
        assert!(RateConversion::for_host_rate(f32::NAN).is_err());
    }

    #[test]
    fn latency_per_rate() {
        let latency = |rate: f32| {
            let conversion = RateConversion::for_host_rate(rate).unwrap();
            (conversion.latency_samples(), conversion.latency_exact())
        };
        assert_eq!(latency(48_000.0), (LATENCY, LATENCY as f64));
        // 441 + 73 + 1040 * 0.91875: half a sample, rounded up.
        assert_eq!(latency(44_100.0), (1470, 1469.5));
        // 10 ms + 3.33 ms of resampler delay + 20 ms of engine delay.
        assert_eq!(latency(88_200.0), (2940, 2940.0));
        assert_eq!(latency(96_000.0), (3200, 3200.0));
        assert_eq!(latency(192_000.0), (6400, 6400.0));
    }

    #[test]
    fn every_supported_rate_builds_a_converter() {
        for rate in SUPPORTED_RATES {
            let conversion = RateConversion::for_host_rate(rate as f32).unwrap();
            let converter = RateConverter::new(conversion);
            assert_eq!(
                converter.is_ok(),
                conversion != RateConversion::Native,
                "{rate} Hz"
            );
        }
    }

    /// Sends sines through the converter (with an engine that just copies each hop) in
    /// irregular chunks and checks they come out delayed by the formula's latency minus the
    /// engine's, fractional part included, at every frequency (a pure delay: the error is about
    /// 1e-6 up to 17 kHz).
    #[test]
    fn converter_round_trip_is_a_pure_delay_of_the_formula() {
        for rate in [44_100, 88_200, 96_000, 192_000] {
            let conversion = RateConversion::Resampled { host_rate: rate };
            let fs = f64::from(rate);
            let engine_delay = (LATENCY - HOP) as f64 * fs / f64::from(SAMPLE_RATE);
            let delay = conversion.latency_exact() - engine_delay;
            let mut converter = RateConverter::new(conversion).unwrap();
            for freq in [100.0, 1_000.0, 5_000.0, 12_000.0, 17_000.0] {
                converter.reset();
                let len = rate as usize / 2;
                let x: Vec<f32> = (0..len)
                    .map(|n| (std::f64::consts::TAU * freq * n as f64 / fs).sin() as f32)
                    .collect();
                let mut y = vec![0.0; len];
                let mut start = 0;
                for chunk in [1, 7, 480, 1000, 33].into_iter().cycle() {
                    if start == len {
                        break;
                    }
                    let end = (start + chunk).min(len);
                    converter.process(&x[start..end], &mut y[start..end], |a, b| {
                        b.copy_from_slice(a)
                    });
                    start = end;
                }
                let settled = delay.ceil() as usize + rate as usize / 100;
                let err = (settled..len)
                    .map(|n| {
                        let t = (n as f64 - delay) / fs;
                        (f64::from(y[n]) - (std::f64::consts::TAU * freq * t).sin()).abs()
                    })
                    .fold(0.0, f64::max);
                assert!(err < 1e-5, "{rate} Hz, {freq} Hz: max error {err}");
            }
        }
    }

    #[test]
    fn reset_clears_the_converter() {
        let conversion = RateConversion::Resampled { host_rate: 44_100 };
        let mut converter = RateConverter::new(conversion).unwrap();
        let mut out = vec![0.0; 5_000];
        converter.process(&vec![0.5; 5_000], &mut out, |a, b| b.copy_from_slice(a));
        assert!(out.iter().any(|&v| v != 0.0));
        converter.reset();
        converter.process(&vec![0.0; 5_000], &mut out, |a, b| b.copy_from_slice(a));
        assert!(out.iter().all(|&v| v == 0.0));
    }
}
