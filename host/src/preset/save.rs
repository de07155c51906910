//! Atomic saving: a preset file is never half written.

use std::io::Write;
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

/// Writes `bytes` to `path` through a synced temporary file and a rename.
/// Main thread.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".stagerack-save-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        // Make the rename itself durable; failure here loses nothing.
        let _ = d.sync_all();
    }
    Ok(())
}
