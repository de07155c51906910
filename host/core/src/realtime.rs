//! Real-time scheduling for the audio threads stagerack creates itself
//! (the `dummy` backend's timer thread, each sandbox child's plugin
//! threads). JACK's process thread gets it from libjack and cpal's
//! ALSA/WASAPI threads from cpal's `realtime` feature; this is the same
//! request for ours, so a busy window (software GL, a compile beside it)
//! cannot take the CPU from the engine.
//!
//! A few lines of `pthread_setschedparam`: the crates that wrap it
//! (audio_thread_priority) go through D-Bus/rtkit for what one call does
//! here, where the user either may or may not use SCHED_FIFO.

/// The SCHED_FIFO priority asked for: JACK's default for clients' process
/// threads (the server's 10, minus one), so ours never outranks a JACK
/// server's own thread.
pub const AUDIO_PRIORITY: i32 = 9;

/// Moves the calling thread to SCHED_FIFO at [`AUDIO_PRIORITY`]. Err says
/// why not (no permission: `ulimit -r`, the `audio` group, rtkit) — the
/// thread then keeps its normal priority and still plays. Call it from the
/// audio thread itself, once, before its loop (it makes one syscall).
pub fn promote_current_thread() -> Result<(), String> {
    promote_current_thread_to(AUDIO_PRIORITY)
}

/// [`promote_current_thread`] at SCHED_FIFO `priority` (1..=99). The
/// calling thread.
pub fn promote_current_thread_to(priority: i32) -> Result<(), String> {
    #[cfg(unix)]
    {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: pthread_self() is the calling thread, alive for the call;
        // `param` is a valid sched_param for the call's duration.
        let rc =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!(
                "real-time scheduling refused ({}): allow it with `ulimit -r 95` or the `audio` group",
                std::io::Error::from_raw_os_error(rc)
            ))
        }
    }
    #[cfg(not(unix))]
    Err("real-time scheduling of the dummy backend is not implemented on this platform".to_owned())
}

/// Whether the calling thread runs SCHED_FIFO or SCHED_RR. Any thread.
pub fn current_thread_is_realtime() -> bool {
    current_thread_priority().is_some()
}

/// The calling thread's real-time priority (SCHED_FIFO or SCHED_RR), or
/// `None` at normal priority. One system call that never blocks. Any
/// thread.
pub fn current_thread_priority() -> Option<i32> {
    #[cfg(unix)]
    {
        let mut policy = 0;
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: as above; both out-pointers are valid locals.
        let rc =
            unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
        (rc == 0 && (policy == libc::SCHED_FIFO || policy == libc::SCHED_RR))
            .then_some(param.sched_priority)
    }
    #[cfg(not(unix))]
    None
}

/// Moves the calling thread back to normal (SCHED_OTHER) scheduling. The
/// calling thread.
pub fn demote_current_thread() {
    #[cfg(unix)]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: as in `promote_current_thread_to`.
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &param) };
    }
}

#[cfg(test)]
mod tests {
    /// On a machine that allows SCHED_FIFO (this one: CAP_SYS_NICE), a
    /// thread is promoted and says so; where it is refused, the error
    /// names the fix and the thread stays as it was.
    #[test]
    fn a_thread_is_promoted_or_told_why_not() {
        std::thread::spawn(|| match super::promote_current_thread() {
            Ok(()) => assert!(super::current_thread_is_realtime()),
            Err(e) => {
                assert!(e.contains("ulimit -r"), "{e}");
                assert!(!super::current_thread_is_realtime());
            }
        })
        .join()
        .unwrap();
    }
}
