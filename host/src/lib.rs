//! stagerack: a live-performance plugin host.
//!
//! This crate is the `stagerack` binary's command line (live, render,
//! check) on top of the layered crates under `host/` (see
//! `docs/ARCHITECTURE.md`), which it also re-exports under one path:
//!
//! 1. [`preset`] reads a human-editable TOML preset into a rack model.
//! 2. [`session`] instantiates the model's plugins on the **main thread** and
//!    compiles it into an immutable [`engine::Plan`].
//! 3. The plan travels to the **audio thread** over a bounded queue
//!    ([`engine::EngineHandle::send_plan`]); the audio side,
//!    [`engine::Engine::process`], swaps it in at a buffer boundary and sends
//!    the old one home to be dropped on the main thread.
//! 4. Every driver (offline [`render`] today, live backends in [`io`]) calls
//!    that one `process` function with the buffer's MIDI events stamped with
//!    their sample offsets.
//!
//! The binaries (and every test crate) install the allocation guard with
//! [`engine::install_guard!`]: in every debug build and test the global
//! allocator is [`engine::alloc_guard::GuardedAllocator`], and any
//! allocation or free inside the audio callback aborts the process. This
//! library installs nothing process-wide itself.

pub mod check;
pub mod check_plugins;
pub mod check_rt;
pub mod cli;
pub mod headless;
pub mod render;

// The layers, under the paths the front ends and tests have always used.
pub use stagerack_core::midi;
pub use stagerack_engine as engine;
pub use stagerack_io as io;
pub use stagerack_session::{control, preset, runtime, session};

/// The format-neutral plugin interface (core layer) and the formats
/// (plugins layer) under one path.
pub mod plugin {
    pub use stagerack_core::plugin::*;
    pub use stagerack_plugins::{builtin, clap, def, loader, sandbox, scan, vst3};
}

/// Editor ids and requests (core layer) and editor windows (session layer).
pub mod editor {
    pub use stagerack_core::editor::*;
    pub use stagerack_session::editor_window::*;
}
