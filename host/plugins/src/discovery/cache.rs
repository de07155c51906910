//! The scan cache and blacklist: what each plugin file held the last time
//! it was opened (keyed by path, size and modification time), and the files
//! that crashed, hung or failed when opened. One JSON file in the user's
//! cache folder (`$STAGERACK_CACHE_DIR`, else `$XDG_CACHE_HOME/stagerack`,
//! else `~/.cache/stagerack`), written atomically. Main thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use stagerack_core::plugin::PluginDescriptor;

/// Size and modification time of a file (or a bundle's folder): a change
/// of either means it must be opened again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey {
    /// Bytes (for a bundle: its binary's size when found, else 0).
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: u128,
}

impl FileKey {
    /// The key of `path` now, or None if it cannot be read. Main thread.
    pub fn of(path: &Path) -> Option<FileKey> {
        // A VST3 bundle is a folder: its binary says whether it changed.
        let binary;
        let path = if path.is_dir() {
            binary = super::bundle_binary(path).ok()?;
            binary.as_path()
        } else {
            path
        };
        let meta = std::fs::metadata(path).ok()?;
        let mtime_ns = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(FileKey {
            size: meta.len(),
            mtime_ns,
        })
    }
}

/// A file that was opened: its plugins.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CachedFile {
    /// The file when it was opened.
    pub key: FileKey,
    /// The plugins in it.
    pub plugins: Vec<PluginDescriptor>,
}

/// A file that must not be opened in the host: why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Blacklisted {
    /// The file when it failed.
    pub key: FileKey,
    /// What happened ("crashed (signal 11)", "hung: no answer within 10 s").
    pub reason: String,
}

/// The whole cache file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScanCache {
    /// Files opened successfully.
    #[serde(default)]
    pub files: BTreeMap<PathBuf, CachedFile>,
    /// Files that crashed, hung or failed.
    #[serde(default)]
    pub blacklist: BTreeMap<PathBuf, Blacklisted>,
}

/// The cache folder (see the module docs). Any thread.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STAGERACK_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("stagerack");
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("stagerack")
}

/// The cache file's path. Any thread.
pub fn cache_file() -> PathBuf {
    cache_dir().join("scan-cache.json")
}

impl ScanCache {
    /// Reads the cache (empty when missing or unreadable: a cache is only
    /// a shortcut). Main thread.
    pub fn load() -> ScanCache {
        std::fs::read(cache_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the cache atomically. Main thread.
    pub fn save(&self) -> std::io::Result<()> {
        let dir = cache_dir();
        std::fs::create_dir_all(&dir)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        stagerack_core::fs::write_atomically(&cache_file(), &bytes)
    }

    /// Why `path` is blacklisted, if it is and has not changed since.
    /// Main thread.
    pub fn blacklisted(&self, path: &Path) -> Option<&str> {
        let b = self.blacklist.get(path)?;
        (FileKey::of(path) == Some(b.key)).then_some(b.reason.as_str())
    }
}
