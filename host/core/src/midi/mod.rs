//! MIDI: the engine's event type, parsing raw bytes, and reading MIDI files.

pub mod event;
pub mod file;

pub use event::{Event, EventBuffer, Expression, TimedEvent};
