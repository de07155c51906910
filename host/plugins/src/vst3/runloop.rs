//! Linux `IRunLoop`: plugins register timers and file descriptors with the
//! host, and the host calls them back from its main thread. Stored here and
//! serviced from `PluginInstance::on_main_thread` (the session pump).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use vst3::Steinberg::tresult;
use vst3::Steinberg::Linux::{
    FileDescriptor, IEventHandler, IEventHandlerTrait, IRunLoopTrait, ITimerHandler,
    ITimerHandlerTrait, TimerInterval,
};
use vst3::Steinberg::{kInvalidArgument, kResultOk};
use vst3::{ComPtr, ComRef};

use super::com::{guard, HostApplication};

struct Timer {
    handler: ComPtr<ITimerHandler>,
    every: Duration,
    next: Instant,
}

/// Registered timers and fds. Main thread.
#[derive(Default)]
pub(crate) struct RunLoopState {
    timers: Mutex<Vec<Timer>>,
    fds: Mutex<Vec<(ComPtr<IEventHandler>, FileDescriptor)>>,
}

impl RunLoopState {
    /// Calls every due timer and every handler whose fd is readable.
    /// Main thread.
    pub(crate) fn service(&self) {
        let now = Instant::now();
        let due: Vec<ComPtr<ITimerHandler>> = match self.timers.lock() {
            Ok(mut timers) => timers
                .iter_mut()
                .filter(|t| t.next <= now)
                .map(|t| {
                    t.next = now + t.every;
                    t.handler.clone()
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for h in due {
            // SAFETY: a live handler the plugin registered; main thread.
            unsafe { h.onTimer() };
        }
        let fds: Vec<(ComPtr<IEventHandler>, FileDescriptor)> =
            self.fds.lock().map(|f| f.clone()).unwrap_or_default();
        if fds.is_empty() {
            return;
        }
        let mut polls: Vec<libc::pollfd> = fds
            .iter()
            .map(|(_, fd)| libc::pollfd {
                fd: *fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `polls` is a valid array of `polls.len()` entries; a zero
        // timeout never blocks.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 0) };
        if n <= 0 {
            return;
        }
        for ((h, fd), p) in fds.iter().zip(&polls) {
            if p.revents != 0 {
                // SAFETY: a live handler the plugin registered; main thread.
                unsafe { h.onFDIsSet(*fd) };
            }
        }
    }

    /// Drops every registration (before the plugin is unloaded). Main thread.
    pub(crate) fn clear(&self) {
        if let Ok(mut t) = self.timers.lock() {
            t.clear();
        }
        if let Ok(mut f) = self.fds.lock() {
            f.clear();
        }
    }
}

impl IRunLoopTrait for HostApplication {
    unsafe fn registerEventHandler(
        &self,
        handler: *mut IEventHandler,
        fd: FileDescriptor,
    ) -> tresult {
        guard(kInvalidArgument, || {
            // SAFETY: a possibly-null pointer from the plugin, checked here.
            let Some(h) = (unsafe { ComRef::from_raw(handler) }) else {
                return kInvalidArgument;
            };
            if let Ok(mut f) = self.run_loop.fds.lock() {
                f.push((h.to_com_ptr(), fd));
            }
            kResultOk
        })
    }

    unsafe fn unregisterEventHandler(&self, handler: *mut IEventHandler) -> tresult {
        guard(kInvalidArgument, || {
            if let Ok(mut f) = self.run_loop.fds.lock() {
                f.retain(|(h, _)| h.as_ptr() != handler);
            }
            kResultOk
        })
    }

    unsafe fn registerTimer(&self, handler: *mut ITimerHandler, ms: TimerInterval) -> tresult {
        guard(kInvalidArgument, || {
            // SAFETY: a possibly-null pointer from the plugin, checked here.
            let Some(h) = (unsafe { ComRef::from_raw(handler) }) else {
                return kInvalidArgument;
            };
            let every = Duration::from_millis(ms.max(1));
            if let Ok(mut t) = self.run_loop.timers.lock() {
                t.push(Timer {
                    handler: h.to_com_ptr(),
                    every,
                    next: Instant::now() + every,
                });
            }
            kResultOk
        })
    }

    unsafe fn unregisterTimer(&self, handler: *mut ITimerHandler) -> tresult {
        guard(kInvalidArgument, || {
            if let Ok(mut t) = self.run_loop.timers.lock() {
                t.retain(|x| x.handler.as_ptr() != handler);
            }
            kResultOk
        })
    }
}
