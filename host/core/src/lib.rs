//! stagerack's bottom layer: what every other layer speaks.
//!
//! - [`midi`]: events with their sample offsets, MIDI byte parsing, MIDI files;
//! - [`plugin`]: the format-neutral plugin interface, split by thread role
//!   ([`plugin::PluginInstance`] on the main thread,
//!   [`plugin::AudioProcessor`] on the audio thread), and transport;
//! - [`editor`]: what plugins and hosts say about editors (no window code);
//! - [`ids`] and [`fs`] (atomic file writes).
//!
//! This crate depends on no other stagerack crate.

pub mod editor;
pub mod fs;
pub mod futex;
pub mod ids;
pub mod midi;
pub mod plugin;
pub mod realtime;
pub mod tasks;
