//! 34 triangular bands on an ERB-like scale, 0 to 20 kHz.
//!
//! Band b has its peak (weight 1) at bin c_b and falls linearly to 0 at its neighbours'
//! centres c_{b-1} and c_{b+1}, so every bin k < c_last belongs to exactly two bands whose
//! weights sum to 1: for c_b <= k < c_{b+1}, w_b(k) = 1 - f and w_{b+1}(k) = f with
//! f = (k - c_b) / (c_{b+1} - c_b). Bins above the last centre (20-24 kHz) follow the last band.

use realfft::num_complex::Complex32;

use crate::dsp::stft::Spectrum;
use crate::{NB_BANDS, NB_BINS};

/// Band centres in bins of 50 Hz (0 Hz ... 20 kHz), every band at least two bins wide.
pub const BAND_CENTERS: [usize; NB_BANDS] = [
    0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 23, 26, 29, 33, 37, 41, 46, 52, 58, 64, 71, 81, 91, 103,
    117, 133, 154, 177, 206, 241, 283, 336, 400,
];

/// Per-band values (energies, gains, coherences...).
pub type BandArray = [f32; NB_BANDS];

/// Where bin k sits between two band centres: it gives weight `1 - frac` to band `lower`
/// and `frac` to band `lower + 1` (for bins at or above the last centre, `frac` = 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinBand {
    pub lower: usize,
    pub frac: f32,
}

/// The bin-to-band map, computed at compile time.
pub const BIN_BANDS: [BinBand; NB_BINS] = bin_bands();

const fn bin_bands() -> [BinBand; NB_BINS] {
    let mut map = [BinBand {
        lower: NB_BANDS - 1,
        frac: 0.0,
    }; NB_BINS];
    let mut b = 0;
    while b + 1 < NB_BANDS {
        let lo = BAND_CENTERS[b];
        let width = BAND_CENTERS[b + 1] - lo;
        let mut k = lo;
        while k < BAND_CENTERS[b + 1] {
            map[k] = BinBand {
                lower: b,
                frac: (k - lo) as f32 / width as f32,
            };
            k += 1;
        }
        b += 1;
    }
    map
}

/// Triangular weight w_b(k) of band `b` at bin `k`.
pub fn band_weight(b: usize, k: usize) -> f32 {
    let BinBand { lower, frac } = BIN_BANDS[k];
    if b == lower {
        1.0 - frac
    } else if b == lower + 1 {
        frac
    } else {
        0.0
    }
}

/// Accumulates sum_k w_b(k) v(k) into bands.
fn accumulate(values: impl Iterator<Item = f32>, out: &mut BandArray) {
    out.fill(0.0);
    for (v, BinBand { lower, frac }) in values.zip(BIN_BANDS.iter()) {
        out[*lower] += (1.0 - frac) * v;
        if *frac > 0.0 {
            out[lower + 1] += frac * v;
        }
    }
}

/// Band energy E_b(X) = sum_k w_b(k) |X(k)|^2.
pub fn band_energy(x: &Spectrum, out: &mut BandArray) {
    accumulate(x.iter().map(Complex32::norm_sqr), out);
}

/// Band correlation C_b(X, P) = sum_k w_b(k) Re(X(k) conj(P(k))).
pub fn band_correlation(x: &Spectrum, p: &Spectrum, out: &mut BandArray) {
    accumulate(x.iter().zip(p).map(|(a, b)| a.re * b.re + a.im * b.im), out);
}

/// Interpolates band values to bins with the same triangles: g(k) = sum_b w_b(k) g_b.
pub fn interpolate(bands: &BandArray, out: &mut [f32; NB_BINS]) {
    for (o, BinBand { lower, frac }) in out.iter_mut().zip(BIN_BANDS.iter()) {
        let upper = (lower + 1).min(NB_BANDS - 1);
        *o = (1.0 - frac) * bands[*lower] + frac * bands[upper];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_increase_by_at_least_two_bins_up_to_20_khz() {
        for w in BAND_CENTERS.windows(2) {
            assert!(w[1] >= w[0] + 2, "{w:?}");
        }
        assert_eq!(BAND_CENTERS[NB_BANDS - 1] * 50, 20_000);
    }

    #[test]
    fn interpolation_of_ones_is_one() {
        let mut g = [0.0; NB_BINS];
        interpolate(&[1.0; NB_BANDS], &mut g);
        assert!(g.iter().all(|v| (v - 1.0).abs() < 1e-6));
    }
}
