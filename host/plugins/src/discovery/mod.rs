//! Finding plugin files on disk, for every format, and the scanner's
//! cache and blacklist ([`cache`]): which folders are searched, which files
//! in a folder are plugins, where a bundle's binary is, and whether a file
//! must never be opened in this process. No plugin code is loaded here, and
//! nothing here depends on a format's module (the formats and the scanner
//! use this). Main thread unless a function says otherwise.

pub mod cache;

use std::path::{Path, PathBuf};

use stagerack_core::plugin::PluginFormat;

/// The folders searched for `format`'s plugins, in order: the folders of
/// `CLAP_PATH` / `VST3_PATH` (separated by `:`, `;` on Windows), then the
/// platform's standard folders. Built-ins have none. Any thread.
pub fn search_paths(format: PluginFormat) -> Vec<PathBuf> {
    let (var, lower, upper) = match format {
        PluginFormat::Clap => ("CLAP_PATH", "clap", "CLAP"),
        PluginFormat::Vst3 => ("VST3_PATH", "vst3", "VST3"),
        PluginFormat::Builtin => return Vec::new(),
    };
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(var) {
        out.extend(std::env::split_paths(&p).filter(|p| !p.as_os_str().is_empty()));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    #[cfg(target_os = "linux")]
    {
        if let Some(h) = &home {
            out.push(h.join(format!(".{lower}")));
        }
        out.push(PathBuf::from(format!("/usr/lib/{lower}")));
        out.push(PathBuf::from(format!("/usr/local/lib/{lower}")));
    }
    #[cfg(target_os = "macos")]
    {
        if let Some(h) = &home {
            out.push(h.join("Library/Audio/Plug-Ins").join(upper));
        }
        out.push(PathBuf::from("/Library/Audio/Plug-Ins").join(upper));
    }
    #[cfg(target_os = "windows")]
    {
        let _ = &home;
        if let Some(p) = std::env::var_os("COMMONPROGRAMFILES") {
            out.push(PathBuf::from(p).join(upper));
        }
        if let Some(p) = std::env::var_os("LOCALAPPDATA") {
            out.push(PathBuf::from(p).join("Programs/Common").join(upper));
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    if let Some(h) = &home {
        out.push(h.join(format!(".{lower}")));
    }
    let _ = (lower, upper);
    out
}

/// Every plugin file of `format` under `dir`, sorted: CLAP files (or macOS
/// bundles) up to 4 folders deep; VST3 bundles directly inside. Any thread.
pub fn files_in(format: PluginFormat, dir: &Path) -> Vec<PathBuf> {
    let (ext, depth, bundles) = match format {
        PluginFormat::Clap => ("clap", 4, cfg!(target_os = "macos")),
        PluginFormat::Vst3 => ("vst3", 0, true),
        PluginFormat::Builtin => return Vec::new(),
    };
    fn walk(dir: &Path, ext: &str, bundles: bool, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            let named = p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
            if named && (p.is_file() || bundles && p.is_dir()) {
                out.push(p);
            } else if p.is_dir() && depth > 0 {
                walk(&p, ext, bundles, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, ext, bundles, depth, &mut out);
    out
}

/// Every plugin file of `format` in its search folders. Any thread.
pub fn installed(format: PluginFormat) -> Vec<PathBuf> {
    search_paths(format)
        .iter()
        .flat_map(|d| files_in(format, d))
        .collect()
}

/// Why the scanner blacklisted `path` (it crashed, hung or failed when
/// opened in a child process), while the file is unchanged since: such a
/// file is never opened in this process, whatever its format.
pub fn blacklist_reason(path: &Path) -> Option<String> {
    cache::ScanCache::load()
        .blacklisted(path)
        .map(str::to_owned)
}

/// Why a VST3 bundle has no binary to load. Any thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// The bundle does not exist.
    Missing,
    /// No binary for this platform where one was expected.
    NoBinary {
        /// Where it was looked for.
        expected: PathBuf,
    },
}

/// The platform folder inside `Contents/` that holds the binary.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const ARCH_DIR: &str = "x86_64-linux";
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
const ARCH_DIR: &str = "aarch64-linux";
#[cfg(all(target_os = "windows", target_arch = "x86_64"))]
const ARCH_DIR: &str = "x86_64-win";
#[cfg(all(target_os = "windows", target_arch = "aarch64"))]
const ARCH_DIR: &str = "arm64-win";
#[cfg(target_os = "macos")]
const ARCH_DIR: &str = "MacOS";
#[cfg(not(any(
    all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ),
    all(
        target_os = "windows",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ),
    target_os = "macos"
)))]
const ARCH_DIR: &str = "unsupported-platform";

/// The binary inside a VST3 bundle for this platform (a legacy single-file
/// plugin is its own binary). Any thread.
pub fn bundle_binary(bundle: &Path) -> Result<PathBuf, BundleError> {
    if !bundle.exists() {
        return Err(BundleError::Missing);
    }
    // A legacy single-file plugin (Windows) is its own binary.
    if bundle.is_file() {
        return Ok(bundle.to_owned());
    }
    let stem = bundle
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = bundle.join("Contents").join(ARCH_DIR);
    let name = if cfg!(target_os = "windows") {
        format!("{stem}.vst3")
    } else if cfg!(target_os = "macos") {
        stem.clone()
    } else {
        format!("{stem}.so")
    };
    let exact = dir.join(&name);
    if exact.is_file() {
        return Ok(exact);
    }
    // Some bundles name the binary differently from the folder: take the
    // only one there.
    let ext = if cfg!(target_os = "windows") {
        Some("vst3")
    } else if cfg!(target_os = "macos") {
        None
    } else {
        Some("so")
    };
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
            .collect();
        if files.len() == 1 {
            return Ok(files.remove(0));
        }
    }
    Err(BundleError::NoBinary { expected: exact })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_finds_its_own_files_the_way_its_hosts_lay_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("vendor/deep")).unwrap();
        std::fs::write(root.join("a.clap"), b"").unwrap();
        std::fs::write(root.join("vendor/deep/b.CLAP"), b"").unwrap();
        std::fs::write(root.join("notes.txt"), b"").unwrap();
        std::fs::create_dir_all(root.join("Synth.vst3/Contents")).unwrap();
        std::fs::create_dir_all(root.join("vendor/Nested.vst3")).unwrap();
        let clap = files_in(PluginFormat::Clap, root);
        assert_eq!(
            clap,
            [root.join("a.clap"), root.join("vendor/deep/b.CLAP")],
            "CLAP files, folders deep"
        );
        // VST3 bundles sit directly in a search folder.
        assert_eq!(
            files_in(PluginFormat::Vst3, root),
            [root.join("Synth.vst3")]
        );
        assert!(files_in(PluginFormat::Builtin, root).is_empty());
    }

    #[test]
    fn a_bundle_without_a_binary_for_this_platform_says_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("Empty.vst3");
        assert_eq!(bundle_binary(&bundle), Err(BundleError::Missing));
        std::fs::create_dir_all(bundle.join("Contents")).unwrap();
        match bundle_binary(&bundle) {
            Err(BundleError::NoBinary { expected }) => {
                assert!(
                    expected.starts_with(bundle.join("Contents")),
                    "{expected:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
