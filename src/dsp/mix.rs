//! The output stage after the engine and the gate: wet/dry mix and output mode.
//!
//! With the denoised (and gated) signal y, the input x delayed by exactly the same latency, a
//! wet share w in [0, 1] and a "removed" share r in [0, 1]:
//!
//! ```text
//! D = x + w (y - x)          (Denoised: w = 1 gives y, w = 0 gives x, both exactly)
//! R = x - D                  (Removed: what the processing takes away)
//! out = D + r (R - D)        (r = 0 gives D, r = 1 gives R, both exactly)
//! ```
//!
//! So D + R = x for any w: an editor hears in Removed mode exactly what Denoised mode leaves
//! out. Because x and y are aligned to the sample, a 50 % mix never comb-filters. The plugin
//! ramps w (the Mix parameter's smoother) and r (a crossfade when the mode switches) per sample;
//! the command line holds them constant. Nothing here allocates.

/// Default wet share: fully processed.
pub const MIX_DEFAULT: f32 = 1.0;

/// What the output carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// The processed signal D.
    #[default]
    Denoised,
    /// What the processing removed, R = x - D.
    Removed,
}

impl OutputMode {
    /// r: the share of R in the output.
    pub fn removed_share(self) -> f32 {
        match self {
            Self::Denoised => 0.0,
            Self::Removed => 1.0,
        }
    }
}

/// `a + t (b - a)`, returning `a` and `b` exactly at t = 0 and t = 1.
fn lerp(a: f32, b: f32, t: f32) -> f32 {
    if t <= 0.0 {
        a
    } else if t >= 1.0 {
        b
    } else {
        a + t * (b - a)
    }
}

/// One output sample from the wet `y`, the aligned dry `x`, the wet share `w` and the removed
/// share `r` (see the module documentation).
pub fn output_sample(y: f32, x: f32, w: f32, r: f32) -> f32 {
    let denoised = lerp(x, y, w);
    if r <= 0.0 {
        return denoised;
    }
    lerp(denoised, x - denoised, r)
}

/// Replaces the wet signal `io` by the output, sample by sample, with per-sample shares; works
/// over the shortest of the four slices.
pub fn apply(io: &mut [f32], dry: &[f32], wet_share: &[f32], removed_share: &[f32]) {
    for (((y, &x), &w), &r) in io.iter_mut().zip(dry).zip(wet_share).zip(removed_share) {
        *y = output_sample(*y, x, w, r);
    }
}

/// [`apply`] with constant shares: the wet share `w` and the output mode.
pub fn apply_constant(io: &mut [f32], dry: &[f32], w: f32, mode: OutputMode) {
    let r = mode.removed_share();
    for (y, &x) in io.iter_mut().zip(dry) {
        *y = output_sample(*y, x, w, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_zero_mix_are_exact() {
        let wet = [0.1f32, -0.7, 0.33, 0.0];
        let dry = [0.3f32, 0.2, -0.9, 1e-20];
        let mut io = wet;
        apply_constant(&mut io, &dry, 1.0, OutputMode::Denoised);
        assert_eq!(io, wet);
        let mut io = wet;
        apply_constant(&mut io, &dry, 0.0, OutputMode::Denoised);
        assert_eq!(io, dry);
    }

    #[test]
    fn denoised_plus_removed_is_the_dry_signal() {
        let wet = [0.1f32, -0.7, 0.33, 0.5];
        let dry = [0.3f32, 0.2, -0.9, 0.5];
        for w in [0.0, 0.25, 0.5, 1.0] {
            let (mut d, mut r) = (wet, wet);
            apply_constant(&mut d, &dry, w, OutputMode::Denoised);
            apply_constant(&mut r, &dry, w, OutputMode::Removed);
            for ((d, r), x) in d.iter().zip(&r).zip(&dry) {
                assert!((d + r - x).abs() < 1e-6, "w {w}: {d} + {r} != {x}");
            }
        }
        // Fully removed at w = 0: nothing is taken away.
        let mut r = wet;
        apply_constant(&mut r, &dry, 0.0, OutputMode::Removed);
        assert_eq!(r, [0.0; 4]);
    }

    #[test]
    fn per_sample_shares_ramp_between_the_modes() {
        let wet = [0.25f32; 5];
        let dry = [1.0f32; 5];
        let mut io = wet;
        apply(&mut io, &dry, &[1.0; 5], &[0.0, 0.25, 0.5, 0.75, 1.0]);
        // D = 0.25, R = 0.75: a straight line between them.
        assert_eq!(io, [0.25, 0.375, 0.5, 0.625, 0.75]);
        let mut io = wet;
        apply(&mut io, &dry, &[0.0, 0.5, 1.0], &[0.0; 3]);
        assert_eq!(&io[..3], &[1.0, 0.625, 0.25]);
        assert_eq!(&io[3..], &[0.25, 0.25]);
    }
}
