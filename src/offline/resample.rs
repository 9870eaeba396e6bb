//! Offline sample-rate conversion of whole signals (rubato's synchronous FFT resampler).

use anyhow::{anyhow, Result};
use rubato::audioadapter::Adapter;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

/// Frames per resampler chunk.
const CHUNK: usize = 1024;

/// Resamples every channel from `from` Hz to `to` Hz. The output is time-aligned with the
/// input (the resampler's delay is removed) and `round(len * to / from)` frames long.
pub fn resample(channels: &[Vec<f32>], from: u32, to: u32) -> Result<Vec<Vec<f32>>> {
    if from == to || channels.is_empty() {
        return Ok(channels.to_vec());
    }
    let frames = channels[0].len();
    let input = SequentialSliceOfVecs::new(channels, channels.len(), frames)
        .map_err(|e| anyhow!("resampler input: {e:?}"))?;
    let mut resampler = Fft::<f32>::new(
        from as usize,
        to as usize,
        CHUNK,
        channels.len(),
        FixedSync::Input,
    )
    .map_err(|e| anyhow!("cannot resample {from} Hz to {to} Hz: {e}"))?;
    let out = resampler
        .process_all(&input, frames, None)
        .map_err(|e| anyhow!("resampling failed: {e}"))?;
    let len = ((frames as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from)) as usize;
    Ok((0..out.channels())
        .map(|c| {
            (0..len)
                .map(|f| out.read_sample(c, f).unwrap_or(0.0))
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_survives_a_round_trip_through_44_1_khz() {
        let x: Vec<f32> = (0..48_000)
            .map(|n| (2.0 * std::f32::consts::PI * 1000.0 * n as f32 / 48_000.0).sin())
            .collect();
        let down = resample(std::slice::from_ref(&x), 48_000, 44_100).unwrap();
        assert_eq!(down[0].len(), 44_100);
        let up = resample(&down, 44_100, 48_000).unwrap();
        assert_eq!(up[0].len(), 48_000);
        // Away from the edges the round trip is transparent and time-aligned.
        let err = (2_000..46_000)
            .map(|n| (up[0][n] - x[n]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-3, "{err}");
    }
}
