//! Knowing, cheaply and without allocation, whether the current thread is
//! inside the audio callback; and a panic hook that stays quiet there.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static IN_AUDIO_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as running the audio callback while alive.
/// Audio thread.
pub struct AudioCallbackScope {
    was: bool,
}

impl AudioCallbackScope {
    /// Enters the audio callback on this thread. Audio thread.
    #[inline]
    pub fn enter() -> Self {
        Self {
            was: IN_AUDIO_CALLBACK.with(|c| c.replace(true)),
        }
    }
}

impl Drop for AudioCallbackScope {
    #[inline]
    fn drop(&mut self) {
        IN_AUDIO_CALLBACK.with(|c| c.set(self.was));
    }
}

/// True while the current thread is inside the audio callback. Any thread.
#[inline]
pub fn in_audio_callback() -> bool {
    IN_AUDIO_CALLBACK.with(Cell::get)
}

/// Installs (once per process) a panic hook that does nothing on the audio
/// thread — the panic is caught there and its payload reported by the main
/// thread, so the callback never blocks on stderr — and defers to the
/// previous hook everywhere else. Main thread.
pub fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !in_audio_callback() {
                previous(info);
            }
        }));
    });
}
