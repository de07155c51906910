//! Atomic saving: a preset file is never half written.

use std::path::Path;

use super::{Preset, PresetError};

/// Serialises `preset` and replaces `path` atomically: the text goes to a
/// temporary file in the same folder, is flushed to disk, then renamed over
/// the old file (and the folder synced). A crash or a full disk at any
/// point leaves either the old file or the new one, never a mix. Saving the
/// same preset twice gives the same bytes. Main thread.
pub fn save_atomically(preset: &Preset, path: &Path) -> Result<(), PresetError> {
    let text = toml::to_string_pretty(preset).map_err(|e| PresetError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    write_atomically(path, text.as_bytes()).map_err(|source| PresetError::Write {
        path: path.to_owned(),
        source,
    })
}

pub use stagerack_core::fs::write_atomically;
