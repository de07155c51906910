//! Flush-to-zero / denormals-are-zero for the duration of a callback.
//!
//! Written here rather than pulled from a crate because it is a handful of
//! lines per architecture and must restore the caller's mode exactly.

/// While alive, denormal floats are flushed to zero on this thread; the
/// previous mode is restored on drop. Audio thread.
pub struct DenormalGuard {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
    #[cfg(target_arch = "aarch64")]
    saved: u64,
}

impl DenormalGuard {
    /// Sets FTZ and DAZ (x86_64) or FZ (aarch64). Audio thread.
    #[inline]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            #[allow(deprecated)]
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            const FTZ: u32 = 1 << 15;
            const DAZ: u32 = 1 << 6;
            // SAFETY: reading and writing MXCSR only changes this thread's
            // floating-point rounding/flush mode; SSE is always present on x86_64.
            #[allow(deprecated)]
            let saved = unsafe { _mm_getcsr() };
            // SAFETY: as above; only the FTZ and DAZ bits are added.
            #[allow(deprecated)]
            unsafe {
                _mm_setcsr(saved | FTZ | DAZ)
            };
            Self { saved }
        }
        #[cfg(target_arch = "aarch64")]
        {
            let saved: u64;
            // SAFETY: FPCR is a per-thread control register; setting FZ
            // (bit 24) only changes how denormals are treated.
            unsafe {
                std::arch::asm!("mrs {0}, fpcr", out(reg) saved);
                std::arch::asm!("msr fpcr, {0}", in(reg) saved | (1 << 24));
            }
            Self { saved }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            Self {}
        }
    }
}

impl Default for DenormalGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DenormalGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        {
            #[allow(deprecated)]
            use std::arch::x86_64::_mm_setcsr;
            // SAFETY: restores the exact MXCSR value read in `new`.
            #[allow(deprecated)]
            unsafe {
                _mm_setcsr(self.saved)
            };
        }
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: restores the exact FPCR value read in `new`.
            unsafe { std::arch::asm!("msr fpcr, {0}", in(reg) self.saved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denormals_flush_inside_and_not_after() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        {
            let _g = DenormalGuard::new();
            let x = std::hint::black_box(tiny) / std::hint::black_box(4.0f32);
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            assert_eq!(x, 0.0);
        }
        let y = std::hint::black_box(tiny) / std::hint::black_box(4.0f32);
        assert!(y > 0.0);
    }
}
