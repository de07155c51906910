//! The editor window both test plugins with a GUI draw (the CLAP `Stagerack
//! Editor` and the VST3 probe's view): an X11 child window of the host's
//! window (or, for the CLAP `Floating Editor`, a top-level window), drawn with plain X11 requests over its own connection (x11rb) —
//! a dark background with an orange bar whose width follows a level.
//! Main (UI) thread of the plugin.

use x11rb::connection::Connection;
use x11rb::errors::ReplyOrIdError;
use x11rb::protocol::xproto::{
    AtomEnum, ChangeGCAux, ConfigureWindowAux, ConnectionExt as _, CreateGCAux, CreateWindowAux,
    EventMask, PropMode, Rectangle, WindowClass,
};
use x11rb::protocol::Event as XEvent;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

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
    /// The window manager asked to close it (a floating window's close
    /// button: `WM_DELETE_WINDOW`).
    pub close: bool,
}

/// A connection to the display `DISPLAY` names.
fn connect() -> Result<RustConnection, ReplyOrIdError> {
    x11rb::connect(None).map(|(conn, _)| conn).map_err(|e| {
        ReplyOrIdError::ConnectionError(x11rb::errors::ConnectionError::IoError(
            std::io::Error::other(e.to_string()),
        ))
    })
}

/// One open level window. Main (UI) thread.
pub struct LevelWindow {
    conn: RustConnection,
    window: u32,
    gc: u32,
    size: (u32, u32),
    /// The level last drawn.
    drawn: f64,
    /// `WM_PROTOCOLS` and `WM_DELETE_WINDOW`, for a top-level window.
    delete_atoms: Option<(u32, u32)>,
}

impl LevelWindow {
    /// Connects to the display and creates the window inside `parent` (an
    /// X11 window id) at `size`, unmapped. Main thread.
    pub fn open(parent: u32, size: (u32, u32)) -> Result<Self, ReplyOrIdError> {
        let conn = connect()?;
        Self::create(conn, parent, size)
    }

    /// Connects to the display and creates a top-level window of its own
    /// (a floating editor) at `size`, titled `title`, unmapped, asking the
    /// window manager to tell it of a close ([`Pending::close`]). Main
    /// thread.
    pub fn open_top_level(size: (u32, u32), title: &str) -> Result<Self, ReplyOrIdError> {
        let conn = connect()?;
        let root = conn.setup().roots[0].root;
        let mut me = Self::create(conn, root, size)?;
        let atom = |name: &[u8]| -> Result<u32, ReplyOrIdError> {
            Ok(me.conn.intern_atom(false, name)?.reply()?.atom)
        };
        let (protocols, delete) = (atom(b"WM_PROTOCOLS")?, atom(b"WM_DELETE_WINDOW")?);
        me.conn.change_property32(
            PropMode::REPLACE,
            me.window,
            protocols,
            AtomEnum::ATOM,
            &[delete],
        )?;
        me.delete_atoms = Some((protocols, delete));
        me.set_title(title)?;
        Ok(me)
    }

    /// Names the window (`WM_NAME`). Main thread.
    pub fn set_title(&self, title: &str) -> Result<(), ReplyOrIdError> {
        self.conn.change_property8(
            PropMode::REPLACE,
            self.window,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            title.as_bytes(),
        )?;
        self.conn.flush()?;
        Ok(())
    }

    fn create(conn: RustConnection, parent: u32, size: (u32, u32)) -> Result<Self, ReplyOrIdError> {
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
            delete_atoms: None,
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
                XEvent::ClientMessage(m) => {
                    if let Some((protocols, delete)) = self.delete_atoms {
                        p.close |= m.type_ == protocols && m.data.as_data32()[0] == delete;
                    }
                }
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
