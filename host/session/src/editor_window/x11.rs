//! The X11 side of plugin editors: the window a plugin embeds into. The
//! Xlib error handler that keeps a plugin's X errors from ending the process
//! is the plugins layer's (`stagerack_plugins::x11_errors`), shared with the
//! sandbox child, which shows sandboxed plugins' editors.
//!
//! baseview gives its windows a 32-bit (ARGB) visual when the screen has
//! one. Most plugins (DPF/pugl, JUCE, …) create their child window with the
//! screen's default 24-bit visual and a border copied from the parent, which
//! X refuses with `BadMatch` under a 32-bit parent. So the plugin is given a
//! window of our own inside baseview's frame, made with the screen's default
//! visual, depth and colormap, which every plugin can be parented to.
//!
//! Main thread.

use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, EventMask, WindowClass,
};
use x11rb::rust_connection::RustConnection;

use stagerack_plugins::x11_errors::install_error_handler;
pub use stagerack_plugins::x11_errors::{error_count, last_error};

use super::EditorError;

/// A window with the screen's default visual inside an editor's frame: the
/// parent a plugin embeds its GUI into. It lives on a connection of its own,
/// kept open as long as the window (X destroys a client's windows when its
/// connection closes). Main thread.
pub(super) struct EmbedWindow {
    conn: RustConnection,
    window: u32,
    /// Physical pixels per logical pixel, as the frame was made.
    scale: f64,
}

impl EmbedWindow {
    /// Makes the window inside `frame` (an X11 window id), covering it, and
    /// maps it. Main thread.
    pub(super) fn new(frame: u32, width: u32) -> Result<Self, EditorError> {
        install_error_handler();
        let x = |e: &dyn std::fmt::Display| EditorError::Window(format!("X11: {e}"));
        let (conn, screen_num) = x11rb::connect(None).map_err(|e| x(&e))?;
        let screen = &conn.setup().roots[screen_num];
        let (depth, visual, colormap, black) = (
            screen.root_depth,
            screen.root_visual,
            screen.default_colormap,
            screen.black_pixel,
        );
        let frame_size = conn
            .get_geometry(frame)
            .map_err(|e| x(&e))?
            .reply()
            .map_err(|e| x(&e))?;
        let scale = if width > 0 {
            f64::from(frame_size.width) / f64::from(width)
        } else {
            1.0
        };
        let window = conn.generate_id().map_err(|e| x(&e))?;
        // A border pixel and a colormap of the default visual: required when
        // this window's depth differs from its parent's (else BadMatch).
        let aux = CreateWindowAux::new()
            .background_pixel(black)
            .border_pixel(black)
            .colormap(colormap)
            .event_mask(EventMask::NO_EVENT);
        conn.create_window(
            depth,
            window,
            frame,
            0,
            0,
            frame_size.width.max(1),
            frame_size.height.max(1),
            0,
            WindowClass::INPUT_OUTPUT,
            visual,
            &aux,
        )
        .map_err(|e| x(&e))?
        .check()
        .map_err(|e| x(&e))?;
        conn.map_window(window).map_err(|e| x(&e))?;
        conn.flush().map_err(|e| x(&e))?;
        Ok(Self {
            conn,
            window,
            scale,
        })
    }

    /// The window's id: the parent to hand the plugin. Main thread.
    pub(super) fn id(&self) -> u32 {
        self.window
    }

    /// Follows the frame to a new size in logical pixels. Main thread.
    pub(super) fn resize(&self, width: u32, height: u32) -> Result<(), EditorError> {
        let physical = |v: u32| ((f64::from(v) * self.scale).round() as u32).max(1);
        let aux = ConfigureWindowAux::new()
            .width(physical(width))
            .height(physical(height));
        self.conn
            .configure_window(self.window, &aux)
            .and_then(|_| self.conn.flush())
            .map_err(|e| EditorError::Window(format!("X11: {e}")))
    }

    /// Waits up to `timeout` for the plugin's GUI to appear inside this
    /// window (the plugin creates it over its own X connection, so the
    /// server may see it a moment after the plugin returned). Main thread.
    pub(super) fn wait_for_child(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            let has_child = self
                .conn
                .query_tree(self.window)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|t| !t.children.is_empty());
            if has_child {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for EmbedWindow {
    fn drop(&mut self) {
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.flush();
    }
}
