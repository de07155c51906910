//! Waiting on and waking a 32-bit word (Linux futexes), shared by the
//! sandbox (across processes) and the engine's worker pool (across
//! threads). Written here rather than taken from a crate: the futex crates
//! are thin wrappers over the same two system calls, and these must never
//! allocate or block beyond the timeout given.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[cfg(target_os = "linux")]
/// Wakes every waiter on `word` (in any process). Never blocks. Any
/// thread.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a valid, aligned u32 in shared memory (not the
    // PRIVATE variant: the waiter is another process).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

#[cfg(target_os = "linux")]
/// Sleeps while `word` still holds `expected`, at most `timeout`. Returns
/// early on a wake-up, a changed value or a signal; the caller re-checks
/// the word. Bounded: this is the only wait the audio thread makes, and
/// only up to its deadline. Any thread.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    if word.load(Ordering::Acquire) != expected {
        return;
    }
    // SAFETY: FUTEX_WAIT on a valid, aligned u32 with a relative timeout
    // that lives for the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// Elsewhere (designed, not yet built there): waiters poll, so a wake-up
/// has nothing to do. Any thread.
#[cfg(not(target_os = "linux"))]
pub fn futex_wake(_word: &AtomicU32) {}

/// Elsewhere: a short sleep while `word` holds `expected` (the caller
/// re-checks). Any thread.
#[cfg(not(target_os = "linux"))]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    if word.load(Ordering::Acquire) == expected {
        std::thread::sleep(timeout.min(Duration::from_micros(50)));
    }
}
