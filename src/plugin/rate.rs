//! How the host's sample rate is brought to the engine's fixed 48 kHz.
//!
//! At 48 kHz samples go straight to the engine ([`RateConversion::Native`], latency
//! [`LATENCY`]). At any other whole rate from [`MIN_RATE`] to [`MAX_RATE`] Hz whose 10 ms hop
//! is a whole number of samples within [`MAX_HOPS_PER_CHUNK`] hops (every rate hosts offer:
//! 8, 11.025, 16, 22.05, 24, 32, 44.1, 88.2, 96, 176.4, 192, 352.8, 384, 705.6, 768 kHz) every
//! channel runs a [`RateConverter`]: a chunk of `K` engine hops (`K` = 1 at most rates, 2 at
//! 22.05 kHz, 4 at 11.025 kHz) of host samples is gathered, resampled to exactly `K * HOP`
//! samples with rubato's synchronous FFT resampler, denoised hop by hop with
//! `Denoiser::process_hop`, resampled back to the same number of host samples and played out
//! one chunk later. Every stage works on fixed-size blocks, so the delay is a constant:
//!
//! ```text
//! L = C + floor(B / 2) + (LATENCY - HOP + S / 2) * R / 48000      host samples
//! ```
//!
//! where `R` is the host rate, `C = K * R / 100` the host samples per chunk (the chunking delay),
//! `S` the engine samples per FFT block of both resamplers ([`RateConversion::engine_block`]:
//! 160, a third of a hop, wherever the rates allow it) and `B = S * R / 48000` the matching host
//! samples. A resampler delays by half its FFT block on its input side (its anti-aliasing filter
//! is a windowed sinc of one block, centred on sample `floor(len / 2)`): `floor(B / 2)` host
//! samples on the way in, `S / 2` engine samples on the way out. `LATENCY - HOP` is what
//! `process_hop` delays by. The host is told `L` rounded to the nearest sample; everything
//! downstream (the reported latency, the bypass delay) follows
//! [`RateConversion::latency_samples`].

use std::fmt;

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use crate::{HOP, LATENCY, SAMPLE_RATE};

/// The sample rates hosts commonly run at, in Hz: all of them are supported (tests run each).
#[cfg(test)]
pub const COMMON_RATES: [u32; 15] = [
    8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 88_200, 96_000, 176_400,
    192_000, 352_800, 384_000, 768_000,
];

/// Lowest host rate the plugin runs at, in Hz (below it there is no speech band left to clean).
pub const MIN_RATE: u32 = 8_000;
/// Highest host rate the plugin runs at, in Hz.
pub const MAX_RATE: u32 = 768_000;
/// Most engine hops gathered per resampling chunk (bounds the added latency to 40 ms).
pub const MAX_HOPS_PER_CHUNK: u32 = 4;

/// Preferred engine-rate samples per FFT block of both resamplers (a third of a hop, 3.3 ms).
/// Smaller blocks mean less delay but a lower anti-aliasing cutoff: with 160 it sits at
/// 20.0 kHz for 44.1 kHz hosts and 21.9 kHz for higher rates.
pub const SUB_BLOCK: usize = 160;

/// Fewest host samples per FFT block of the resamplers where the chunk allows it: rubato's
/// anti-aliasing cutoff is about `0.4^(16 / B)` of the lower Nyquist frequency, so 147 keeps
/// it at 91 % as at 44.1 kHz (where `B` = 147). Only 8 kHz cannot reach it within one hop: its
/// whole 480-sample chunk gives `B` = 80, a cutoff at 83 % (3.3 kHz), passband ripple -72 dB
/// at 2.8 kHz.
pub const MIN_HOST_BLOCK: usize = 147;

/// Engine hops of 10 ms per second: host samples per hop are `rate / HOPS_PER_SECOND`.
const HOPS_PER_SECOND: u32 = SAMPLE_RATE / HOP as u32;

/// The conversion between the host rate and the engine rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateConversion {
    /// The host runs at the engine rate: samples go straight to the engine.
    Native,
    /// The host runs at `host_rate` Hz: each channel resamples through a [`RateConverter`].
    Resampled { host_rate: u32 },
}

/// A host sample rate the plugin cannot run at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnsupportedSampleRate(pub f32);

impl fmt::Display for UnsupportedSampleRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PercepNet runs at whole sample rates from {} to {} kHz whose 10 ms is a whole number \
             of samples within {MAX_HOPS_PER_CHUNK} hops (8, 11.025, 16, 22.05, 32, 44.1, 48, \
             88.2, 96, 192 kHz and more); the host asked for {} Hz, so the plugin refuses to \
             activate",
            MIN_RATE / 1000,
            MAX_RATE / 1000,
            self.0
        )
    }
}

impl std::error::Error for UnsupportedSampleRate {}

/// Greatest common divisor (Euclid).
fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `K`: the fewest engine hops whose duration is a whole number of samples at `rate`
/// (`K * rate / 100` whole), if at most [`MAX_HOPS_PER_CHUNK`].
fn hops_per_chunk(rate: u32) -> Option<u32> {
    (1..=MAX_HOPS_PER_CHUNK).find(|k| (k * rate).is_multiple_of(HOPS_PER_SECOND))
}

impl RateConversion {
    /// Picks the conversion for a host sample rate in Hz.
    pub fn for_host_rate(sample_rate: f32) -> Result<Self, UnsupportedSampleRate> {
        let err = UnsupportedSampleRate(sample_rate);
        let rounded = sample_rate.round();
        if !sample_rate.is_finite()
            || (sample_rate - rounded).abs() > 1e-3 * rounded.max(1.0)
            || rounded < MIN_RATE as f32
            || rounded > MAX_RATE as f32
        {
            return Err(err);
        }
        let rate = rounded as u32;
        hops_per_chunk(rate).ok_or(err)?;
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

    /// `K`: engine hops per resampling chunk.
    pub fn hops_per_chunk(self) -> usize {
        hops_per_chunk(self.host_rate()).unwrap_or(1) as usize
    }

    /// `C`: host samples per resampling chunk (`K` hops of 10 ms).
    pub fn chunk_len(self) -> usize {
        self.hops_per_chunk() * self.host_rate() as usize / HOPS_PER_SECOND as usize
    }

    /// `S`: engine samples per FFT block of the resamplers. It must be a multiple of
    /// `48000 / gcd(R, 48000)` (so that `B` is whole, as rubato requires) and divide the chunk
    /// `K * HOP`; of those, the smallest that is at least [`SUB_BLOCK`] and gives at least
    /// [`MIN_HOST_BLOCK`] host samples, else the whole chunk.
    pub fn engine_block(self) -> usize {
        let rate = self.host_rate() as usize;
        let engine_rate = SAMPLE_RATE as usize;
        let step = engine_rate / gcd(rate as u64, engine_rate as u64) as usize;
        let chunk = self.hops_per_chunk() * HOP;
        (1..=chunk / step)
            .map(|m| m * step)
            .filter(|&s| chunk.is_multiple_of(s))
            .find(|&s| s >= SUB_BLOCK && s * rate / engine_rate >= MIN_HOST_BLOCK)
            .unwrap_or(chunk)
    }

    /// `B`: host samples per FFT block of the resamplers ([`Self::engine_block`] at the host
    /// rate).
    fn host_block(self) -> usize {
        self.engine_block() * self.host_rate() as usize / SAMPLE_RATE as usize
    }

    /// Total delay from plugin input to plugin output in units of 1/48000 host samples (exact).
    fn latency_48000ths(self) -> u64 {
        let rate = u64::from(self.host_rate());
        let engine_rate = u64::from(SAMPLE_RATE);
        match self {
            Self::Native => LATENCY as u64 * engine_rate,
            Self::Resampled { .. } => {
                let host_side = (self.chunk_len() + self.host_block() / 2) as u64;
                let engine_side = (LATENCY - HOP + self.engine_block() / 2) as u64;
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

/// One channel's path from the host rate to the engine rate and back, in fixed chunks of `K`
/// hops. All buffers are allocated in [`RateConverter::new`]; processing allocates nothing.
pub struct RateConverter {
    /// Host rate to 48 kHz: [`RateConversion::chunk_len`] frames in, `K * HOP` out.
    down: Fft<f32>,
    /// 48 kHz to the host rate: `K * HOP` frames in, [`RateConversion::chunk_len`] out.
    up: Fft<f32>,
    /// Host input gathered for the next chunk.
    host_in: Vec<f32>,
    /// Host output of the previous chunk, being played out.
    host_out: Vec<f32>,
    /// One chunk at the engine rate, before and after the engine.
    engine_in: Vec<f32>,
    engine_out: Vec<f32>,
    /// Position within the current chunk, in host samples.
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
        let chunk_len = conversion.chunk_len();
        let engine_len = conversion.hops_per_chunk() * HOP;
        let host_block = conversion.host_block();
        let engine_block = conversion.engine_block();
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
        let down = build(rate, engine_rate, chunk_len, host_block)?;
        let up = build(engine_rate, rate, engine_len, engine_block)?;

        // The latency formula relies on these block sizes, and the real-time path on every
        // call taking and giving exactly one chunk: check both once here.
        let sizes = [
            (down.fft_size_in(), host_block),
            (down.input_frames_next(), chunk_len),
            (down.output_frames_next(), engine_len),
            (down.output_frames_max(), engine_len),
            (up.fft_size_in(), engine_block),
            (up.input_frames_next(), engine_len),
            (up.output_frames_next(), chunk_len),
            (up.output_frames_max(), chunk_len),
        ];
        if sizes.iter().any(|(got, wanted)| got != wanted) {
            return Err(ConverterError(format!(
                "unexpected chunk sizes at {rate} Hz: {down:?} / {up:?}"
            )));
        }

        Ok(Self {
            down,
            up,
            host_in: vec![0.0; chunk_len],
            host_out: vec![0.0; chunk_len],
            engine_in: vec![0.0; engine_len],
            engine_out: vec![0.0; engine_len],
            pos: 0,
        })
    }

    /// Clears all history; allocates nothing.
    pub fn reset(&mut self) {
        self.down.reset();
        self.up.reset();
        self.host_in.fill(0.0);
        self.host_out.fill(0.0);
        self.engine_in.fill(0.0);
        self.engine_out.fill(0.0);
        self.pos = 0;
    }

    /// Runs `input` through the conversion and writes the result, one chunk later, to `output`
    /// (over the shorter of the two lengths). `engine` processes one hop of [`HOP`] samples at
    /// 48 kHz, as `Denoiser::process_hop` does.
    pub fn process(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        mut engine: impl FnMut(&[f32], &mut [f32]),
    ) {
        let len = input.len().min(output.len());
        let chunk_len = self.host_in.len();
        let mut done = 0;
        while done < len {
            let n = (chunk_len - self.pos).min(len - done);
            let range = self.pos..self.pos + n;
            output[done..done + n].copy_from_slice(&self.host_out[range.clone()]);
            self.host_in[range].copy_from_slice(&input[done..done + n]);
            self.pos += n;
            done += n;
            if self.pos == chunk_len {
                self.pos = 0;
                if self.convert_chunk(&mut engine).is_none() {
                    // Cannot happen with the sizes checked in `new`; never panic on the audio
                    // thread, play silence instead.
                    self.host_out.fill(0.0);
                }
            }
        }
    }

    /// Resamples the gathered host chunk down, runs the engine hop by hop, resamples back into
    /// `host_out`.
    fn convert_chunk(&mut self, engine: &mut impl FnMut(&[f32], &mut [f32])) -> Option<()> {
        let chunk_len = self.host_in.len();
        let engine_len = self.engine_in.len();
        let host_in = SequentialSlice::new(&self.host_in[..], 1, chunk_len).ok()?;
        let mut engine_in =
            SequentialSlice::new_mut(&mut self.engine_in[..], 1, engine_len).ok()?;
        let (_, written) = self
            .down
            .process_into_buffer(&host_in, &mut engine_in, None)
            .ok()?;
        if written != engine_len {
            return None;
        }
        for (hop_in, hop_out) in self
            .engine_in
            .chunks_exact(HOP)
            .zip(self.engine_out.chunks_exact_mut(HOP))
        {
            engine(hop_in, hop_out);
        }
        let engine_out = SequentialSlice::new(&self.engine_out[..], 1, engine_len).ok()?;
        let mut host_out = SequentialSlice::new_mut(&mut self.host_out[..], 1, chunk_len).ok()?;
        let (_, written) = self
            .up
            .process_into_buffer(&engine_out, &mut host_out, None)
            .ok()?;
        (written == chunk_len).then_some(())
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
        for rate in COMMON_RATES.into_iter().filter(|&r| r != SAMPLE_RATE) {
            assert_eq!(
                RateConversion::for_host_rate(rate as f32),
                Ok(RateConversion::Resampled { host_rate: rate })
            );
        }
        for rate in [
            0.0,
            7_999.0,
            44_101.0,
            44_100.5,
            800_000.0,
            1e12,
            -48_000.0,
            f32::INFINITY,
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
        // K = 1, S = 480, B = 80: 80 + 40 + 1200 / 6.
        assert_eq!(latency(8_000.0), (320, 320.0));
        // K = 2 hops of 220.5 samples, S = 320, B = 147: 441 + 73 + 1120 * 0.459375.
        assert_eq!(latency(22_050.0), (1029, 1028.5));
        // K = 4 hops of 110.25 samples, S = 640, B = 147: 441 + 73 + 1280 * 0.2296875.
        assert_eq!(latency(11_025.0), (808, 808.0));
    }

    #[test]
    fn every_supported_rate_builds_a_converter() {
        for rate in COMMON_RATES {
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
        for rate in COMMON_RATES.into_iter().filter(|&r| r != SAMPLE_RATE) {
            let conversion = RateConversion::Resampled { host_rate: rate };
            let fs = f64::from(rate);
            let engine_delay = (LATENCY - HOP) as f64 * fs / f64::from(SAMPLE_RATE);
            let delay = conversion.latency_exact() - engine_delay;
            let mut converter = RateConverter::new(conversion).unwrap();
            // Up to 70 % of the host's Nyquist frequency (where the plugin tests' noise ends).
            let audible = [
                100.0,
                1_000.0,
                5_000.0,
                12_000.0,
                17_000.0,
                0.25 * fs,
                0.35 * fs,
            ];
            for freq in audible
                .into_iter()
                .filter(|&f| f <= 0.35 * fs && f <= 17_000.0)
            {
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
                let settled = delay.ceil() as usize + conversion.chunk_len();
                let err = (settled..len)
                    .map(|n| {
                        let t = (n as f64 - delay) / fs;
                        (f64::from(y[n]) - (std::f64::consts::TAU * freq * t).sin()).abs()
                    })
                    .fold(0.0, f64::max);
                eprintln!("{rate} Hz, {freq} Hz: max error {err:.2e}");
                // The resamplers' passband ripple grows towards the band edge (at 8 kHz:
                // -72 dB at 70 % of Nyquist): 1e-5 below half of Nyquist, 1e-3 above.
                let bound = if freq <= 0.25 * fs { 1e-5 } else { 1e-3 };
                assert!(err < bound, "{rate} Hz, {freq} Hz: max error {err}");
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
