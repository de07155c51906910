//! The global allocator used in debug builds and tests.
//!
//! It is `assert_no_alloc::AllocDisabler` with one exception: while the
//! current thread is unwinding a panic, allocations are passed straight to
//! the system allocator. The standard library allocates the panic payload
//! before unwinding starts; without this exception a plugin panicking inside
//! the audio callback would abort the whole process in debug builds instead
//! of being caught, silenced and reported (which is what release builds do).
//! No crate offers this, hence this small wrapper.

#[cfg(debug_assertions)]
use std::alloc::{GlobalAlloc, Layout, System};

/// The debug/test global allocator: forbids (de)allocation inside
/// [`assert_no_alloc::assert_no_alloc`] on any thread, except while that
/// thread is panicking. Installed by the library; nobody calls it directly.
#[cfg(debug_assertions)]
pub struct GuardedAllocator;

#[cfg(debug_assertions)]
// SAFETY: every method forwards to `System` (directly or through
// `AllocDisabler`, which itself forwards to `System` after its check), so the
// GlobalAlloc contract is upheld by the system allocator.
unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if std::thread::panicking() {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { assert_no_alloc::AllocDisabler.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if std::thread::panicking() {
            // SAFETY: `ptr` was allocated by System (directly or via AllocDisabler).
            unsafe { System.dealloc(ptr, layout) }
        } else {
            // SAFETY: as above.
            unsafe { assert_no_alloc::AllocDisabler.dealloc(ptr, layout) }
        }
    }
}

/// Runs `f` with allocation forbidden on this thread (debug builds and tests;
/// a no-op in release). Audio thread.
#[inline]
pub fn no_alloc<T>(f: impl FnOnce() -> T) -> T {
    assert_no_alloc::assert_no_alloc(f)
}

/// Runs `f` with allocation permitted even inside [`no_alloc`]. Only for
/// exceptional paths (dropping a caught panic payload that could not be sent
/// home). Audio thread.
#[inline]
pub fn permit_alloc<T>(f: impl FnOnce() -> T) -> T {
    assert_no_alloc::permit_alloc(f)
}
