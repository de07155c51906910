//! `stagerack-ui`: the rack window, an egui client of the engine's control
//! protocol (`stagerack_session::control`).
//!
//! 1. [`app::RackApp`] holds a [`stagerack_session::control::ControlClient`]: a
//!    `LocalClient` when the engine runs in this process (the session
//!    layer's `stagerack_session::runtime::Runtime`, the same one the headless
//!    stage engine drives), a `RemoteClient` when attached to
//!    another process's socket. It never touches the engine otherwise.
//! 2. Every frame it runs the in-process pump (if any), takes in replies
//!    ([`state::AppState`]), handles shortcuts and lets the views draw a
//!    [`frame::Frame`] (the state to draw from and the window's own
//!    [`ui_state::UiState`]); what the user asked for comes back as
//!    [`frame::Action`]s, which the app carries out. The views never see
//!    the app, the client or the engine.
//! 3. Edits go out as commands; each records its inverse (computed from
//!    the snapshot before it, [`undo`]) for undo/redo.
//!
//! Everything here runs on the UI (main) thread; the audio driver's thread
//! belongs to the runtime.

pub mod app;
pub mod frame;
mod setlist_state;
pub mod state;
mod theme;
pub mod ui_state;
pub mod undo;
mod views;

pub use app::{Mode, RackApp};
pub use views::SHORTCUTS;
