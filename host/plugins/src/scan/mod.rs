//! Finding plugins on disk: `stagerack scan`. Main thread.
//!
//! [`child`]: the scanner the CLI uses — every file opened in a child
//! process, with a cache and a blacklist ([`cache`]). [`scan_paths`] opens
//! CLAP files in this process (for tests and tools that trust their files).

pub mod child;

/// The scan cache and blacklist live with discovery (every format reads
/// them); here under their old path too.
pub use crate::discovery::cache;

use std::path::{Path, PathBuf};

use crate::clap;
use crate::discovery::{files_in, search_paths};
use stagerack_core::plugin::{PluginDescriptor, PluginFormat};

/// What a scan found. Main thread.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every plugin found, in file order.
    pub plugins: Vec<PluginDescriptor>,
    /// Files that could not be read as plugins, with the reason.
    pub failures: Vec<(PathBuf, String)>,
}

/// The folders scanned when none are given: the CLAP and VST3 search
/// paths. Main thread.
pub fn default_paths() -> Vec<PathBuf> {
    let mut out = search_paths(PluginFormat::Clap);
    out.extend(search_paths(PluginFormat::Vst3));
    out
}

/// Lists the plugins in every CLAP file under `dirs` (a path that is itself
/// a `.clap` file is read directly). Main thread.
pub fn scan_paths(dirs: &[PathBuf]) -> ScanReport {
    let mut report = ScanReport::default();
    for dir in dirs {
        let files = if dir.is_file() {
            vec![dir.clone()]
        } else {
            files_in(PluginFormat::Clap, dir)
        };
        for file in files {
            scan_file(&file, &mut report);
        }
    }
    report
}

fn scan_file(file: &Path, report: &mut ScanReport) {
    match clap::list_plugins(file) {
        Ok(list) => report.plugins.extend(list),
        Err(e) => report.failures.push((file.to_owned(), e.to_string())),
    }
}

/// Every plugin this host can offer without opening a plugin file: the
/// built-ins, then what `stagerack scan` found (its cache; blacklisted
/// files are not in it). For browsers (the rack window's). Main thread.
pub fn known_plugins() -> Vec<PluginDescriptor> {
    let mut plugins: Vec<PluginDescriptor> = crate::builtin::BUILTIN_IDS
        .iter()
        .filter_map(|b| crate::builtin::instantiate(b).ok())
        .map(|i| stagerack_core::plugin::PluginInstance::descriptor(&i).clone())
        .collect();
    let cache = cache::ScanCache::load();
    for f in cache.files.values() {
        plugins.extend(f.plugins.iter().cloned());
    }
    plugins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_file_named_clap_is_a_failure_not_a_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("fake.clap");
        std::fs::write(&f, "not a plugin").unwrap();
        let r = scan_paths(&[dir.path().to_owned()]);
        assert!(r.plugins.is_empty());
        assert_eq!(r.failures.len(), 1);
        assert!(r.failures[0].1.contains("fake.clap"), "{}", r.failures[0].1);
    }
}
