//! The editor window both test plugins with a GUI draw (the CLAP `Stagerack
//! Editor` and the VST3 probe's view): an X11 child window of the host's
//! window, drawn with plain X11 requests over its own connection (x11rb) —
//! a dark background with an orange bar whose width follows a level.
//! Main (UI) thread of the plugin.

use x11rb::connection::Connection;
use x11rb::errors::ReplyOrIdError;
use x11rb::protocol::xproto::{
    ChangeGCAux, ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask,
    Rectangle, WindowClass,
};
use x11rb::protocol::Event as XEvent;
use x11rb::rust_connection::RustConnection;

/// The size an editor opens with (pixels).
pub const INITIAL_SIZE: (u32, u32) = (320, 120);
/// The size a click in an editor asks the host for.
pub const LARGE_SIZE: (u32, u32) = (480, 200);
/// The background, 0xRRGGBB (a 24-bit TrueColor visual).
pub const BACKGROUND: u32 = 0x20_24_30;
/// The level bar's colour, 0xRRGGBB.
pub const BAR: u32 = 0xFF_88_00;

/// What the window's pending X events asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pending {
    /// Part of the window needs drawing again.
    pub expose: bool,
    /// A mouse button was pressed in it.
    pub click: bool,
}

/// One open level window. Main (UI) thread.
pub struct LevelWindow {
    conn: RustConnection,
    window: u32,
    gc: u32,
    size: (u32, u32),
    /// The level last drawn.
    drawn: f64,
}

impl LevelWindow {
    /// Connects to the display and creates the window inside `parent` (an
    /// X11 window id) at `size`, unmapped. Main thread.
    pub fn open(parent: u32, size: (u32, u32)) -> Result<Self, ReplyOrIdError> {
        let (conn, _) = x11rb::connect(None).map_err(|e| {
            ReplyOrIdError::ConnectionError(x11rb::errors::ConnectionError::IoError(
                std::io::Error::other(e.to_string()),
            ))
        })?;
        let window = conn.generate_id()?;
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            parent,
            0,
            0,
            size.0 as u16,
            size.1 as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            x11rb::COPY_FROM_PARENT,
            &CreateWindowAux::new()
                .background_pixel(BACKGROUND)
                .event_mask(EventMask::EXPOSURE | EventMask::BUTTON_PRESS),
        )?;
        let gc = conn.generate_id()?;
        conn.create_gc(gc, window, &CreateGCAux::new().foreground(BAR))?;
        conn.flush()?;
        Ok(Self {
            conn,
            window,
            gc,
            size,
            drawn: -1.0,
        })
    }

    /// Shows (maps) or hides the window. Main thread.
    pub fn set_visible(&self, visible: bool) -> Result<(), ReplyOrIdError> {
        if visible {
            self.conn.map_window(self.window)?;
        } else {
            self.conn.unmap_window(self.window)?;
        }
        self.conn.flush()?;
        Ok(())
    }

    /// Draws the background and a bar `level` (0..1) of the width. Main
    /// thread.
    pub fn draw(&mut self, level: f64) {
        let level = level.clamp(0.0, 1.0);
        self.drawn = level;
        let (w, h) = self.size;
        let bar = (f64::from(w.saturating_sub(20)) * level).round() as u16;
        let fill = |colour: u32, r: Rectangle| {
            let _ = self
                .conn
                .change_gc(self.gc, &ChangeGCAux::new().foreground(colour));
            let _ = self.conn.poly_fill_rectangle(self.window, self.gc, &[r]);
        };
        fill(
            BACKGROUND,
            Rectangle {
                x: 0,
                y: 0,
                width: w as u16,
                height: h as u16,
            },
        );
        fill(
            BAR,
            Rectangle {
                x: 10,
                y: 10,
                width: bar.max(1),
                height: h.saturating_sub(20).max(1) as u16,
            },
        );
        let _ = self.conn.flush();
    }

    /// True when `level` differs from what was drawn last. Main thread.
    pub fn stale(&self, level: f64) -> bool {
        (self.drawn - level.clamp(0.0, 1.0)).abs() > 1e-9
    }

    /// Resizes the window. Main thread.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<(), ReplyOrIdError> {
        self.size = (width, height);
        self.conn.configure_window(
            self.window,
            &ConfigureWindowAux::new().width(width).height(height),
        )?;
        self.conn.flush()?;
        Ok(())
    }

    /// The current size. Main thread.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Reads every pending X event without waiting. Main thread.
    pub fn poll(&self) -> Pending {
        let mut p = Pending::default();
        while let Ok(Some(event)) = self.conn.poll_for_event() {
            match event {
                XEvent::Expose(_) => p.expose = true,
                XEvent::ButtonPress(_) => p.click = true,
                _ => {}
            }
        }
        p
    }
}

impl Drop for LevelWindow {
    /// Destroys the window (the host's parent is still there).
    fn drop(&mut self) {
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.free_gc(self.gc);
        let _ = self.conn.flush();
    }
}
