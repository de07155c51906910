//! Audio and MIDI drivers. Every driver calls [`crate::engine::Engine::process`].
//! Today: the offline driver used by `stagerack render` and the tests.

pub mod offline;
