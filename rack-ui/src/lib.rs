//! `stagerack-ui`: the rack window, an egui client of the engine's control
//! protocol (`stagerack::control`).
//!
//! 1. [`app::RackApp`] holds a [`stagerack::control::ControlClient`]: a
//!    `LocalClient` when the engine runs in this process
//!    ([`host_loop::InProcessEngine`]), a `RemoteClient` when attached to
//!    another process's socket. It never touches the engine otherwise.
//! 2. Every frame it runs the in-process pump (if any), takes in replies
//!    ([`state::AppState`]), handles shortcuts and draws the views.
//! 3. Edits go out as commands; each records its inverse (computed from
//!    the snapshot before it, [`undo`]) for undo/redo.
//!
//! Everything here runs on the UI (main) thread except the driver thread
//! in [`host_loop`].

pub mod app;
pub mod host_loop;
pub mod state;
mod theme;
pub mod undo;
mod views;

pub use app::{Mode, RackApp};
pub use views::SHORTCUTS;
