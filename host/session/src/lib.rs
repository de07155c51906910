//! stagerack's session layer, on top of the engine, plugins and io layers:
//!
//! 1. [`preset`] reads a human-editable TOML preset (or a setlist) into a
//!    rack model.
//! 2. [`session`] instantiates the model's plugins on the **main thread**,
//!    compiles it into an immutable `stagerack_engine::Plan`, sends it to
//!    the audio thread, and edits it live.
//! 3. [`control`] is the command protocol every front end speaks (the rack
//!    window in the same process or over a socket), and its server.
//! 4. [`editor_window`] opens plugin editors in windows of this process.
//! 5. [`runtime`] is the one runtime every live front end drives (a show,
//!    an audio driver, the session and the control server), and the one
//!    way a show file becomes a session.

pub mod control;
pub mod editor_window;
pub mod preset;
pub mod runtime;
pub mod session;

// This crate's unit tests run under the allocation guard too.
#[cfg(test)]
stagerack_engine::install_guard!();
