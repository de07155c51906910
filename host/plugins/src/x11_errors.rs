//! An Xlib error handler that keeps a plugin GUI's X errors from ending
//! the process. Xlib's default handler prints the error and calls `exit`:
//! one bad request from a plugin's GUI would stop the music (in the engine)
//! or a sandbox child (with every plugin in it). The handler installed
//! here records the error (atomics only) and returns; the host reports it
//! by plugin name. The engine's editor windows and the sandbox child's
//! editors both install it.
//!
//! Main thread, except the handler itself, which runs on whichever thread
//! the plugin's Xlib calls come from.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

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
pub fn install_error_handler() {
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
