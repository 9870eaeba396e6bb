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

/// Accumulates sum_k w_b(k) v_q(k) into `out[q]` for Q value sequences at once, each band's sum
/// taken in bin order from 0 (bins where the band rises, then where it falls), in registers.
/// Band b's sum is finished at bin c_{b+1}, where band b + 1 takes over as the falling band;
/// the Q sums (and the two bands of a segment) are independent chains, which the CPU
/// overlaps. The operations per band are those of adding `(1 - f) v` and, where f > 0, `f v`
/// bin after bin, so Q = 1 gives the same bits as accumulating into `out` directly.
#[inline(always)]
fn accumulate<const Q: usize>(value: impl Fn(usize) -> [f32; Q], out: [&mut BandArray; Q]) {
    let mut falling = [0.0f32; Q];
    let mut rising = [0.0f32; Q];
    for b in 0..NB_BANDS {
        for (k, frac) in FRACS
            .iter()
            .enumerate()
            .take(segment_end(b))
            .skip(BAND_CENTERS[b])
        {
            let v = value(k);
            for q in 0..Q {
                falling[q] += (1.0 - frac) * v[q];
                if *frac > 0.0 {
                    rising[q] += frac * v[q];
                }
            }
        }
        for q in 0..Q {
            out[q][b] = falling[q];
        }
        falling = rising;
        rising = [0.0; Q];
    }
}

/// Band energy E_b(X) = sum_k w_b(k) |X(k)|^2.
pub fn band_energy(x: &Spectrum, out: &mut BandArray) {
    accumulate(|k| [x[k].norm_sqr()], [out]);
}

/// Band correlation C_b(X, P) = sum_k w_b(k) Re(X(k) conj(P(k))).
pub fn band_correlation(x: &Spectrum, p: &Spectrum, out: &mut BandArray) {
    accumulate(|k| [re_dot(x[k], p[k])], [out]);
}

/// E_b(X), E_b(P) and C_b(X, P) in one pass over the bins: the same values, bit for bit, as
/// [`band_energy`] twice and [`band_correlation`].
pub fn band_energies_and_correlation(
    x: &Spectrum,
    p: &Spectrum,
    ex: &mut BandArray,
    ep: &mut BandArray,
    corr: &mut BandArray,
) {
    accumulate(
        |k| [x[k].norm_sqr(), p[k].norm_sqr(), re_dot(x[k], p[k])],
        [ex, ep, corr],
    );
}

/// Re(a conj(b)).
#[inline(always)]
fn re_dot(a: Complex32, b: Complex32) -> f32 {
    a.re * b.re + a.im * b.im
}

/// Interpolates band values to bins with the same triangles: g(k) = sum_b w_b(k) g_b, i.e.
/// g(k) = (1 - f) g_b + f g_{b+1} for c_b <= k < c_{b+1}. Computed band segment by band
/// segment, with the two band values fixed and the fractions read from a plain table, which
/// vectorises (the same operations per bin as one bin at a time).
pub fn interpolate(bands: &BandArray, out: &mut [f32; NB_BINS]) {
    for b in 0..NB_BANDS {
        let (from, to) = (BAND_CENTERS[b], segment_end(b));
        let (lo, hi) = (bands[b], bands[(b + 1).min(NB_BANDS - 1)]);
        for (o, frac) in out[from..to].iter_mut().zip(&FRACS[from..to]) {
            *o = (1.0 - frac) * lo + frac * hi;
        }
    }
}

/// One past the last bin whose falling band is `b`: the next centre, or the end of the
/// spectrum for the last band.
const fn segment_end(b: usize) -> usize {
    if b + 1 < NB_BANDS {
        BAND_CENTERS[b + 1]
    } else {
        NB_BINS
    }
}

/// [`BinBand::frac`] of every bin, as a plain array.
const FRACS: [f32; NB_BINS] = {
    let mut f = [0.0; NB_BINS];
    let mut k = 0;
    while k < NB_BINS {
        f[k] = BIN_BANDS[k].frac;
        k += 1;
    }
    f
};

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

    /// The band sums as first written: every bin adds into the array directly.
    fn accumulate_directly(values: impl Iterator<Item = f32>, out: &mut BandArray) {
        out.fill(0.0);
        for (v, BinBand { lower, frac }) in values.zip(BIN_BANDS.iter()) {
            out[*lower] += (1.0 - frac) * v;
            if *frac > 0.0 {
                out[lower + 1] += frac * v;
            }
        }
    }

    /// The register sums, alone and three at a time, give the direct sums bit for bit (on
    /// spectra with signed, tiny, huge and zero values).
    #[test]
    fn band_sums_equal_the_direct_sums_bit_for_bit() {
        let mut s = 99u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let scale = [1.0, 1e-6, 1e6, 0.0][(s % 4) as usize];
            (s as f32 / u32::MAX as f32 - 0.5) * scale
        };
        let mut spectrum =
            || -> Spectrum { std::array::from_fn(|_| Complex32::new(next(), next())) };
        for _ in 0..20 {
            let (x, p) = (spectrum(), spectrum());
            let mut want = [[0.0; NB_BANDS]; 3];
            accumulate_directly(x.iter().map(Complex32::norm_sqr), &mut want[0]);
            accumulate_directly(p.iter().map(Complex32::norm_sqr), &mut want[1]);
            accumulate_directly(
                x.iter().zip(&p).map(|(a, b)| a.re * b.re + a.im * b.im),
                &mut want[2],
            );
            let mut one = [[0.0; NB_BANDS]; 3];
            band_energy(&x, &mut one[0]);
            band_energy(&p, &mut one[1]);
            band_correlation(&x, &p, &mut one[2]);
            let [mut ex, mut ep, mut corr] = [[0.0; NB_BANDS]; 3];
            band_energies_and_correlation(&x, &p, &mut ex, &mut ep, &mut corr);
            for (w, got) in want
                .iter()
                .zip([one[0], one[1], one[2]])
                .chain(want.iter().zip([ex, ep, corr]))
            {
                let bits = |a: &BandArray| a.map(f32::to_bits);
                assert_eq!(bits(w), bits(&got));
            }
        }
    }

    /// The segment-wise interpolation gives the one-bin-at-a-time form bit for bit.
    #[test]
    fn interpolation_equals_one_bin_at_a_time() {
        let mut s = 5u32;
        for _ in 0..20 {
            let g: BandArray = std::array::from_fn(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as f32 / u32::MAX as f32 * 1.7 - 0.2
            });
            let mut got = [0.0; NB_BINS];
            interpolate(&g, &mut got);
            for (k, (v, BinBand { lower, frac })) in got.iter().zip(BIN_BANDS.iter()).enumerate() {
                let upper = (lower + 1).min(NB_BANDS - 1);
                let want = (1.0 - frac) * g[*lower] + frac * g[upper];
                assert_eq!(v.to_bits(), want.to_bits(), "bin {k}");
            }
        }
    }

    #[test]
    fn interpolation_of_ones_is_one() {
        let mut g = [0.0; NB_BINS];
        interpolate(&[1.0; NB_BANDS], &mut g);
        assert!(g.iter().all(|v| (v - 1.0).abs() < 1e-6));
    }
}
