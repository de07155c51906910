//! What plugins and hosts say about editors, with no window code: the
//! native window a GUI embeds into, a plugin's resize request, what a
//! plugin asks of its open editor, and why an editor could not open. The
//! windows themselves live in the session layer (`editor_window`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::plugin::PluginError;

/// A native window a plugin editor embeds into. Any thread (plain ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentWindow {
    /// An X11 window id (CLAP `x11`, VST3 `X11EmbedWindowID`).
    X11(u64),
    /// A Win32 `HWND`, as an integer.
    Win32(usize),
    /// A Cocoa `NSView*`, as an integer.
    Cocoa(usize),
}

impl ParentWindow {
    /// The id as one integer (X11 window id, HWND, NSView pointer), for
    /// clients and tests. Any thread.
    pub fn as_u64(self) -> u64 {
        match self {
            Self::X11(id) => id,
            Self::Win32(h) | Self::Cocoa(h) => h as u64,
        }
    }
}

/// The latest editor size a plugin asked for (CLAP `gui.request_resize`,
/// VST3 `IPlugFrame::resizeView`), waiting for the session's pump: one
/// atomic, because plugins may ask from any thread. Any thread.
#[derive(Debug, Default)]
pub struct ResizeRequest(AtomicU64);

impl ResizeRequest {
    /// Records a request; refuses an empty size. Any thread.
    pub fn ask(&self, width: u32, height: u32) -> bool {
        if width == 0 || height == 0 {
            return false;
        }
        self.0.store(
            (u64::from(width) << 32) | u64::from(height),
            Ordering::Relaxed,
        );
        true
    }

    /// Takes the latest request (width, height), if any. Main thread.
    pub fn take(&self) -> Option<(u32, u32)> {
        let packed = self.0.swap(0, Ordering::Relaxed);
        (packed != 0).then_some(((packed >> 32) as u32, packed as u32))
    }
}

/// Why an editor window could not open. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum EditorError {
    /// No display to open windows on (a stage PC without a desktop).
    #[error(
        "cannot open a plugin editor: no display (DISPLAY is not set); editors need a desktop \
         session, the engine plays on without them"
    )]
    NoDisplay,
    /// baseview refused to create the window.
    #[error("cannot open a plugin editor window: {0}")]
    Window(String),
    /// The window did not report its native handle in time.
    #[error("the plugin editor window did not come up within 2 s")]
    Timeout,
}

/// A plugin's own editor (CLAP `gui`, VST3 `IPlugView`), apart from the
/// format-neutral [`PluginInstance`](crate::plugin::PluginInstance) (which
/// hands it out with `editor()`). The host opens a window, then: create →
/// attach → (resized, requests)… → destroy, then closes the window. Every
/// method is called on the main thread.
pub trait PluginEditor {
    /// Creates the plugin's editor and returns its size in logical pixels
    /// (width, height); the host then opens a window of that size and calls
    /// [`attach_editor`](Self::attach_editor). Main thread.
    fn create_editor(&mut self) -> Result<(u32, u32), PluginError>;

    /// Embeds the created editor in `parent` and shows it. Main thread.
    fn attach_editor(&mut self, parent: ParentWindow) -> Result<(), PluginError>;

    /// Hides and destroys the editor; the host closes the parent window
    /// afterwards. Does nothing when no editor exists. Main thread.
    fn destroy_editor(&mut self) {}

    /// The host resized the editor's window as the plugin asked (VST3 then
    /// calls `IPlugView::onSize`). Main thread.
    fn editor_resized(&mut self, width: u32, height: u32) {
        let _ = (width, height);
    }

    /// Moves what the plugin asked of its open editor since the last call
    /// into `out`. Main thread.
    fn take_editor_requests(&mut self, out: &mut Vec<EditorRequest>) {
        let _ = out;
    }

    /// True when the created editor opens a window of its own (a CLAP
    /// plugin that offers only floating GUIs): the host then opens no
    /// window, never calls [`attach_editor`](Self::attach_editor), and
    /// calls [`show_floating`](Self::show_floating). Main thread.
    fn is_floating(&self) -> bool {
        false
    }

    /// Titles (a suggestion the plugin may ignore) and shows a floating
    /// editor. Main thread.
    fn show_floating(&mut self, title: &str) -> Result<(), PluginError> {
        let _ = title;
        Err(PluginError::Other {
            plugin: String::new(),
            reason: "its editor is not a floating window".into(),
        })
    }
}

/// What a plugin asked of its open editor window. Main thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditorRequest {
    /// Resize the window to this many logical pixels (width, height).
    Resize(u32, u32),
    /// The plugin closed its editor itself: close the window.
    Closed,
}

/// Fails with [`EditorError::NoDisplay`] when no window can open here (on
/// X11: `DISPLAY` unset or empty), before any plugin is asked to create
/// its GUI. Main thread.
pub fn check_display() -> Result<(), EditorError> {
    #[cfg(all(unix, not(target_os = "macos")))]
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        return Err(EditorError::NoDisplay);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ResizeRequest;

    #[test]
    fn a_resize_request_keeps_the_latest_size_until_taken() {
        let r = ResizeRequest::default();
        assert_eq!(r.take(), None);
        assert!(!r.ask(0, 100), "an empty size is refused");
        assert!(r.ask(320, 120));
        assert!(r.ask(480, 200));
        assert_eq!(r.take(), Some((480, 200)));
        assert_eq!(r.take(), None);
    }
}
