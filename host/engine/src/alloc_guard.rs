//! The global allocator, and how plugin code is told apart from ours.
//!
//! Debug builds and tests: `assert_no_alloc::AllocDisabler` with two
//! exceptions. While the current thread is unwinding a panic, allocations
//! go straight to the system allocator (the standard library allocates the
//! panic payload before unwinding starts; without this a plugin panicking
//! inside the audio callback would abort the whole process instead of being
//! caught, silenced and reported). And inside [`count_allocs`] (a plugin's
//! process call) allocations are counted for that plugin instead of
//! aborting: a plugin breaking the real-time rules is reported by name
//! (`stagerack check --rt`), while the host's own code stays under the
//! strict guard.
//!
//! Release builds: the system allocator behind the same counting, so the
//! report works on the stage PC too; nothing aborts. Plugins' own
//! allocations (their allocator, C `malloc`) are counted by the wrapped C
//! allocator in `malloc_count` (Linux/glibc).
//!
//! No crate offers this, hence this small wrapper.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Inside [`count_allocs`] on this thread.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// (De)allocations counted since [`count_allocs`] began.
    static COUNTED: Cell<u32> = const { Cell::new(0) };
}

/// Counts a C heap allocation (from the wrappers [`install_guard!`]
/// defines) made inside [`count_allocs`]. Never allocates (const
/// thread-locals). Any thread.
#[doc(hidden)]
#[inline]
pub fn count_c_alloc() {
    let _ = counted();
}

/// Where the C allocator is wrapped (`malloc_count`), it counts
/// allocations, including the ones the host's Rust allocator passes on:
/// here only frees are counted then, so nothing is counted twice.
const C_ALLOCS_COUNTED: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// True when this thread is inside [`count_allocs`] (no count).
#[inline]
fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

/// True (and counted) when this (de)allocation happens inside
/// [`count_allocs`]. Never allocates (const thread-locals).
#[inline]
fn counted() -> bool {
    COUNTING
        .try_with(|c| {
            if c.get() {
                let _ = COUNTED.try_with(|n| n.set(n.get().saturating_add(1)));
                true
            } else {
                false
            }
        })
        .unwrap_or(false)
}

/// The global allocator (see the module docs). Installed by
/// [`install_guard!`] in a binary's crate; nobody calls it directly.
pub struct GuardedAllocator;

/// Installs the allocation guard in the invoking crate: [`GuardedAllocator`]
/// as the global allocator and, on Linux with glibc, the counting C
/// allocator wrappers (plugins' own `malloc`s counted per plugin). The two
/// belong together: with the wrappers the allocator leaves C-side counting
/// to them. Invoke it once per final binary (the `stagerack` and
/// `stagerack-ui` mains, each test crate's shared module), never in a
/// library a binary links beside another that does (two global allocators
/// do not link). Main thread (compile time).
#[macro_export]
macro_rules! install_guard {
    () => {
        #[global_allocator]
        static STAGERACK_GUARDED_ALLOCATOR: $crate::alloc_guard::GuardedAllocator =
            $crate::alloc_guard::GuardedAllocator;
        $crate::__malloc_interposer!();
    };
}

// SAFETY: every method forwards to `System` (directly or through
// `AllocDisabler`, which itself forwards to `System` after its check), so the
// GlobalAlloc contract is upheld by the system allocator.
unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Always evaluated: it counts a plugin's allocation.
        let in_plugin = if C_ALLOCS_COUNTED {
            counting()
        } else {
            counted()
        };
        // `AllocDisabler` exists in debug builds only (assert_no_alloc's
        // `disable_release`).
        #[cfg(debug_assertions)]
        if !in_plugin && !std::thread::panicking() {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { assert_no_alloc::AllocDisabler.alloc(layout) };
        }
        let _ = in_plugin;
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let in_plugin = counted();
        #[cfg(debug_assertions)]
        if !in_plugin && !std::thread::panicking() {
            // SAFETY: `ptr` was allocated by System (directly or via AllocDisabler).
            unsafe { assert_no_alloc::AllocDisabler.dealloc(ptr, layout) };
            return;
        }
        let _ = in_plugin;
        // SAFETY: `ptr` was allocated by System (directly or via AllocDisabler).
        unsafe { System.dealloc(ptr, layout) }
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

/// Runs `f` (a plugin's process call) counting the allocations and frees it
/// makes on this thread instead of aborting on them; returns them with the
/// result. Nests: an outer count resumes afterwards. Audio thread; never
/// allocates itself.
#[inline]
pub fn count_allocs<T>(f: impl FnOnce() -> T) -> (T, u32) {
    let outer = COUNTING.with(|c| c.replace(true));
    let before = COUNTED.with(|n| n.replace(0));
    let out = f();
    let n = COUNTED.with(|n| n.replace(before));
    COUNTING.with(|c| c.set(outer));
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_inside_count_allocs_are_counted_not_fatal() {
        let (v, n) = no_alloc(|| {
            count_allocs(|| {
                let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(100));
                v.capacity()
            })
        });
        assert_eq!(v, 100);
        assert_eq!(n, 2, "one allocation and one free");
        // Outside, nothing is counted.
        let (_, n) = count_allocs(|| 1 + 1);
        assert_eq!(n, 0);
    }
}
