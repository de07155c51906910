//! The X11 side of plugin editors: the window a plugin embeds into, and an
//! Xlib error handler that keeps a plugin's X errors from ending the process.
//!
//! baseview gives its windows a 32-bit (ARGB) visual when the screen has
//! one. Most plugins (DPF/pugl, JUCE, …) create their child window with the
//! screen's default 24-bit visual and a border copied from the parent, which
//! X refuses with `BadMatch` under a 32-bit parent. So the plugin is given a
//! window of our own inside baseview's frame, made with the screen's default
//! visual, depth and colormap, which every plugin can be parented to.
//!
//! Xlib's default error handler prints the error and calls `exit`: one bad
//! request from a plugin's GUI would stop the music. The handler installed
//! here records the error (atomics only) and returns; the session reports it
//! by plugin name.
//!
//! Main thread, except the error handler, which runs on whichever thread the
//! plugin's Xlib calls come from.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, EventMask, WindowClass,
};
use x11rb::rust_connection::RustConnection;

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

/// Errors recorded by the handler since the process started.
static ERROR_COUNT: AtomicU64 = AtomicU64::new(0);
/// A handler someone else installed before ours (winit's in the rack
/// window), called after recording; 0 when it was Xlib's default, which
/// ends the process and is never called.
static PREVIOUS_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Xlib's error handler type.
type ErrorHandler = unsafe extern "C" fn(
    *mut x11_dl::xlib::Display,
    *mut x11_dl::xlib::XErrorEvent,
) -> std::os::raw::c_int;
/// The last one: error code, request code, minor code, resource id.
static LAST_ERROR: AtomicU64 = AtomicU64::new(0);

/// Installs the recording error handler in the process's Xlib (loaded at
/// run time: a plugin's GUI shares it), once. Main thread.
pub(super) fn install_error_handler() {
    static XLIB: OnceLock<Option<x11_dl::xlib::Xlib>> = OnceLock::new();
    XLIB.get_or_init(|| match x11_dl::xlib::Xlib::open() {
        Ok(xlib) => {
            // SAFETY: `record_error` has the signature Xlib expects, never
            // unwinds and only touches atomics (then calls the handler it
            // replaced, if that was not Xlib's default); the library stays
            // loaded for the process's life (kept in this static). Setting
            // `None` first restores Xlib's default, so the second call
            // returns the default handler to tell apart from another's.
            unsafe {
                let current = (xlib.XSetErrorHandler)(None);
                let default = (xlib.XSetErrorHandler)(Some(record_error));
                let address = |h: Option<ErrorHandler>| h.map_or(0, |h| h as usize);
                let previous = address(current);
                if previous != address(default) && previous != address(Some(record_error)) {
                    PREVIOUS_HANDLER.store(previous, Ordering::Release);
                }
            }
            Some(xlib)
        }
        Err(e) => {
            tracing::debug!("no Xlib to guard ({e}); plugins that use it load it themselves");
            None
        }
    });
}

/// Xlib's error callback: records the error and lets the caller go on,
/// where Xlib's default handler would end the process. Any thread.
unsafe extern "C" fn record_error(
    display: *mut x11_dl::xlib::Display,
    event: *mut x11_dl::xlib::XErrorEvent,
) -> std::os::raw::c_int {
    // SAFETY: Xlib passes a valid event for the duration of the call; a
    // null one is skipped.
    if let Some(e) = unsafe { event.as_ref() } {
        // XID is a C `unsigned long`: 64 bits here, 32 on other targets.
        #[allow(clippy::unnecessary_cast)]
        let resource = e.resourceid as u64 & 0xFF_FFFF_FFFF;
        let packed = (u64::from(e.error_code) << 56)
            | (u64::from(e.request_code) << 48)
            | (u64::from(e.minor_code) << 40)
            | resource;
        LAST_ERROR.store(packed, Ordering::Relaxed);
        ERROR_COUNT.fetch_add(1, Ordering::Release);
    }
    let previous = PREVIOUS_HANDLER.load(Ordering::Acquire);
    if previous != 0 {
        // SAFETY: the value was stored from a non-null handler of this
        // type (not Xlib's default, which would end the process); the
        // arguments are Xlib's own.
        let previous: ErrorHandler =
            unsafe { std::mem::transmute::<usize, ErrorHandler>(previous) };
        // SAFETY: as above: Xlib's own arguments, passed on unchanged.
        return unsafe { previous(display, event) };
    }
    0
}

/// How many X errors plugins' Xlib calls have raised so far (the handler's
/// count). Any thread.
pub fn error_count() -> u64 {
    ERROR_COUNT.load(Ordering::Acquire)
}

/// The last X error, as a reader sees it: `BadMatch in CreateWindow
/// (resource 0x…)`; `None` before the first. Any thread.
pub fn last_error() -> Option<String> {
    if error_count() == 0 {
        return None;
    }
    let packed = LAST_ERROR.load(Ordering::Relaxed);
    let (code, request, resource) = (
        (packed >> 56) as u8,
        (packed >> 48) as u8,
        packed & 0xFF_FFFF_FFFF,
    );
    Some(format!(
        "{} in {} (resource {resource:#x})",
        error_name(code),
        request_name(request)
    ))
}

/// The protocol's name of an X error code.
fn error_name(code: u8) -> String {
    const NAMES: [&str; 18] = [
        "Success",
        "BadRequest",
        "BadValue",
        "BadWindow",
        "BadPixmap",
        "BadAtom",
        "BadCursor",
        "BadFont",
        "BadMatch",
        "BadDrawable",
        "BadAccess",
        "BadAlloc",
        "BadColor",
        "BadGC",
        "BadIDChoice",
        "BadName",
        "BadLength",
        "BadImplementation",
    ];
    NAMES
        .get(usize::from(code))
        .map_or_else(|| format!("X error {code}"), |n| (*n).to_string())
}

/// The name of a core X request (the ones a GUI's window set-up makes),
/// else its opcode.
fn request_name(opcode: u8) -> String {
    let name = match opcode {
        1 => "CreateWindow",
        2 => "ChangeWindowAttributes",
        4 => "DestroyWindow",
        7 => "ReparentWindow",
        8 => "MapWindow",
        12 => "ConfigureWindow",
        14 => "GetGeometry",
        15 => "QueryTree",
        18 => "ChangeProperty",
        42 => "SetInputFocus",
        53 => "CreatePixmap",
        55 => "CreateGC",
        62 => "CopyArea",
        72 => "PutImage",
        73 => "GetImage",
        78 => "CreateColormap",
        _ => return format!("request {opcode}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::{error_name, request_name};

    #[test]
    fn x_errors_read_as_the_protocol_names_them() {
        assert_eq!(error_name(8), "BadMatch");
        assert_eq!(error_name(200), "X error 200");
        assert_eq!(request_name(1), "CreateWindow");
        assert_eq!(request_name(150), "request 150");
    }
}
