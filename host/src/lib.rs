//! stagerack: a live-performance plugin host.
//!
//! The crate is split by concern (see `docs/ARCHITECTURE.md`):
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
//! In every debug build and test the global allocator is
//! [`engine::alloc_guard::GuardedAllocator`]: any allocation or free inside
//! the audio callback aborts the process.

pub mod check;
pub mod check_rt;
pub mod cli;
pub mod control;
pub mod editor;
pub mod engine;
pub mod headless;
pub mod io;
pub mod midi;
pub mod plugin;
pub mod preset;
pub mod render;
pub mod session;

/// The allocation guard: active in every debug build and every test of every
/// crate that links this library, so the real-time rules are checked on
/// every run, not only in a dedicated test. In release builds it only counts
/// plugins' allocations on the audio thread (see `engine::alloc_guard`).
#[global_allocator]
static GLOBAL_ALLOCATOR: engine::alloc_guard::GuardedAllocator =
    engine::alloc_guard::GuardedAllocator;
