//! Flush-to-zero for the audio thread: subnormal floats (|x| < 2^-126 for f32) take a slow
//! microcode path on many CPUs, and recursive filters or decaying recurrent states can sit
//! among them for a long time. [`FlushToZero`] makes the current thread's floating-point unit
//! treat them as zero while the guard lives:
//!
//! - x86-64: MXCSR bit 15 (FTZ: subnormal results become 0) and bit 6 (DAZ: subnormal inputs
//!   read as 0);
//! - aarch64: FPCR bit 24 (FZ: both);
//! - elsewhere: nothing.
//!
//! The previous register value comes back when the guard drops, so a host's own settings
//! survive the plugin's `process` call. The control register belongs to the thread: create
//! the guard on the thread that computes. Only subnormals change: normal values, NaN and
//! infinities compute as before.

/// Sets flush-to-zero (and denormals-are-zero) on this thread until dropped; restores the
/// previous control register then. Not `Send`: it must drop on the thread that made it.
#[must_use = "flush-to-zero lasts only while the guard lives"]
#[derive(Debug)]
pub struct FlushToZero {
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    previous: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl FlushToZero {
    /// Turns flush-to-zero on for this thread. Allocates nothing, takes no lock.
    pub fn new() -> Self {
        let previous = imp::read();
        imp::write(previous | imp::FLUSH_BITS);
        Self {
            previous,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Whether this thread flushes subnormals now (all of this target's bits set). Always
    /// false on targets without support.
    pub fn is_active() -> bool {
        imp::FLUSH_BITS != 0 && imp::read() & imp::FLUSH_BITS == imp::FLUSH_BITS
    }
}

impl Default for FlushToZero {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushToZero {
    fn drop(&mut self) {
        imp::write(self.previous);
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;

    /// MXCSR FTZ (bit 15) and DAZ (bit 6).
    pub const FLUSH_BITS: u64 = (1 << 15) | (1 << 6);

    pub fn read() -> u64 {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR to the valid, aligned `csr`; SSE is part of
        // the x86-64 baseline.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
        u64::from(csr)
    }

    pub fn write(v: u64) {
        let csr = v as u32;
        // SAFETY: ldmxcsr loads a value that came from stmxcsr with only the FTZ and DAZ bits
        // (both defined, neither reserved) possibly changed, so it cannot fault.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags)) };
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    use std::arch::asm;

    /// FPCR FZ (bit 24).
    pub const FLUSH_BITS: u64 = 1 << 24;

    pub fn read() -> u64 {
        let v: u64;
        // SAFETY: reading FPCR has no side effects and is allowed at EL0.
        unsafe { asm!("mrs {}, fpcr", out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    }

    pub fn write(v: u64) {
        // SAFETY: writes back a value read from FPCR with only the FZ bit possibly changed.
        unsafe { asm!("msr fpcr, {}", in(reg) v, options(nomem, nostack, preserves_flags)) };
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    pub const FLUSH_BITS: u64 = 0;

    pub fn read() -> u64 {
        0
    }

    pub fn write(_: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// 2^-70 * 2^-70 = 2^-140: subnormal in f32 (smallest normal 2^-126).
    fn subnormal_product() -> f32 {
        black_box(2f32.powi(-70)) * black_box(2f32.powi(-70))
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn subnormals_flush_under_the_guard_only() {
        assert!(!FlushToZero::is_active(), "test threads start without FTZ");
        let before = subnormal_product();
        assert!(before.is_subnormal(), "{before:e}");
        let stored = black_box(before);
        {
            let _ftz = FlushToZero::new();
            assert!(FlushToZero::is_active());
            assert_eq!(subnormal_product(), 0.0, "FTZ: subnormal results flush");
            // DAZ (x86) / FZ (aarch64): a subnormal input reads as zero.
            assert_eq!(black_box(stored) * black_box(1.0f32), 0.0);
            // Normal numbers are untouched.
            assert_eq!(black_box(1.5f32) * black_box(2.0f32), 3.0);
            {
                let _nested = FlushToZero::new();
            }
            assert!(FlushToZero::is_active(), "a nested guard restores FTZ on");
        }
        assert!(!FlushToZero::is_active());
        assert_eq!(subnormal_product(), before, "restored after the guard");
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[test]
    fn no_op_elsewhere() {
        let _ftz = FlushToZero::new();
        assert!(!FlushToZero::is_active());
    }
}
