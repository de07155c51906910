//! Plugin editor windows: a baseview window the engine's process opens for
//! one plugin, into which the plugin embeds its own GUI (CLAP `gui` with
//! an X11/Win32/Cocoa parent, VST3 `IPlugView::attached`).
//!
//! Everything here runs on the engine's main thread (the thread that pumps
//! the session): the plugin's GUI calls are main-thread calls, and a
//! baseview [`baseview::Window`] is `!Send`. On X11 baseview runs the
//! window's event loop on a thread of its own; this module only creates,
//! resizes, shows and closes the window. On X11 the plugin embeds into a
//! window of the screen's default visual inside baseview's frame, and a
//! plugin's X errors are recorded instead of ending the process ([`x11`]).

#[cfg(target_os = "linux")]
pub mod x11;

use std::sync::mpsc;
use std::time::Duration;

use baseview::dpi::LogicalSize;
use baseview::{
    Event, EventStatus, HandlerError, WindowContext, WindowHandler, WindowSettings, WindowSize,
};
use raw_window_handle::{HasWindowHandle, RawWindowHandle};
pub use stagerack_core::editor::{check_display, EditorError, ParentWindow, ResizeRequest};

/// One open editor window. Main thread (`!Send`).
pub struct EditorWindow {
    window: baseview::Window,
    /// baseview's top-level window.
    frame: ParentWindow,
    /// The window the plugin embeds into: on X11 one of the default visual
    /// inside the frame, elsewhere the frame itself.
    #[cfg(target_os = "linux")]
    embed: Option<x11::EmbedWindow>,
    size: (u32, u32),
}

impl EditorWindow {
    /// Opens a (hidden) window of `width` × `height` logical pixels titled
    /// `title`; [`show`](Self::show) it once the plugin is embedded.
    /// Main thread.
    pub fn open(title: &str, width: u32, height: u32) -> Result<Self, EditorError> {
        check_display()?;
        let (tx, rx) = mpsc::channel();
        let settings = WindowSettings::new()
            .with_title(title)
            .with_size(LogicalSize::new(f64::from(width), f64::from(height)))
            .with_resizable(false);
        let window = baseview::Window::create(settings, move |cx: WindowContext| {
            let parent = native_handle(&cx);
            let _ = tx.send(parent);
            Ok(Frame)
        })
        .map_err(|e| EditorError::Window(e.to_string()))?;
        let frame = match rx.recv_timeout(Duration::from_secs(2)) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(EditorError::Window(
                    "no native window handle this host can embed into".into(),
                ))
            }
            Err(_) => return Err(EditorError::Timeout),
        };
        #[cfg(target_os = "linux")]
        let embed = match frame {
            ParentWindow::X11(id) => {
                let frame_id = u32::try_from(id)
                    .map_err(|_| EditorError::Window(format!("X11 window id {id:#x}")))?;
                match x11::EmbedWindow::new(frame_id, width) {
                    Ok(embed) => Some(embed),
                    Err(e) => {
                        window.close();
                        return Err(e);
                    }
                }
            }
            _ => None,
        };
        Ok(Self {
            window,
            frame,
            #[cfg(target_os = "linux")]
            embed,
            size: (width, height),
        })
    }

    /// The native window the plugin embeds into. Main thread.
    pub fn parent(&self) -> ParentWindow {
        #[cfg(target_os = "linux")]
        if let Some(embed) = &self.embed {
            return ParentWindow::X11(u64::from(embed.id()));
        }
        self.frame
    }

    /// The top-level window (what a window manager sees and closes).
    /// Main thread.
    pub fn frame(&self) -> ParentWindow {
        self.frame
    }

    /// Waits up to `timeout` until the plugin's GUI sits in the window;
    /// false when it never came (the plugin failed to embed). Where the
    /// platform gives no way to look, true. Main thread.
    pub fn wait_for_plugin(&self, timeout: Duration) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(embed) = &self.embed {
            return embed.wait_for_child(timeout);
        }
        let _ = timeout;
        true
    }

    /// The size last set, logical pixels. Main thread.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Shows the window. Main thread.
    pub fn show(&self) -> Result<(), EditorError> {
        self.window
            .show()
            .map_err(|e| EditorError::Window(e.to_string()))
    }

    /// Resizes the window (the plugin asked for it). Main thread.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<(), EditorError> {
        self.window
            .resize(LogicalSize::new(f64::from(width), f64::from(height)))
            .map_err(|e| EditorError::Window(e.to_string()))?;
        #[cfg(target_os = "linux")]
        if let Some(embed) = &self.embed {
            embed.resize(width, height)?;
        }
        self.size = (width, height);
        Ok(())
    }

    /// False once the user (or the window system) closed the window.
    /// Main thread.
    pub fn is_open(&self) -> bool {
        self.window.is_open()
    }

    /// Closes and destroys the window; call after the plugin's GUI was
    /// destroyed. Main thread.
    pub fn close(self) {
        #[cfg(target_os = "linux")]
        drop(self.embed);
        self.window.close();
    }
}

/// How many errors plugins' GUIs raised in the window system so far (X11:
/// the recording Xlib handler's count; 0 where nothing is recorded). Any
/// thread.
pub fn window_system_error_count() -> u64 {
    #[cfg(target_os = "linux")]
    return x11::error_count();
    #[cfg(not(target_os = "linux"))]
    0
}

/// The last window-system error, when more than `count` were raised
/// ("BadMatch in CreateWindow (resource 0x…)"). Any thread.
pub fn window_system_error_since(count: u64) -> Option<String> {
    #[cfg(target_os = "linux")]
    if x11::error_count() > count {
        return x11::last_error();
    }
    let _ = count;
    None
}

/// The window's native handle, as a parent for a plugin GUI. Window thread.
fn native_handle(cx: &WindowContext) -> Option<ParentWindow> {
    let handle = cx.window_handle().ok()?;
    match handle.as_raw() {
        RawWindowHandle::Xcb(h) => Some(ParentWindow::X11(u64::from(h.window.get()))),
        RawWindowHandle::Xlib(h) => Some(ParentWindow::X11(h.window)),
        RawWindowHandle::Win32(h) => Some(ParentWindow::Win32(h.hwnd.get() as usize)),
        RawWindowHandle::AppKit(h) => Some(ParentWindow::Cocoa(h.ns_view.as_ptr() as usize)),
        _ => None,
    }
}

/// The editor window's own handler: it draws nothing (the plugin's GUI
/// covers it) and leaves every event to the plugin. Window thread.
struct Frame;

impl WindowHandler for Frame {
    fn draw(&self) -> Result<(), HandlerError> {
        Ok(())
    }

    fn resized(&self, _new_size: WindowSize) -> Result<(), HandlerError> {
        Ok(())
    }

    fn on_event(&self, _event: Event) -> EventStatus {
        EventStatus::Ignored
    }
}
