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
    let mut tmp = temp_file_in(dir, ".stagerack-save-", "")?;
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

/// A temporary file in `dir` (named `prefix…suffix`) for a write that is
/// renamed into place: created like any other file the user makes (0666
/// less the umask), not 0600, so the finished file can be read as the
/// user's other files can. Main thread.
pub fn temp_file_in(
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}
