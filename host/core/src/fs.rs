//! File helpers every layer may use. Main thread.

use std::io::Write as _;
use std::path::Path;

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
