//! `cargo xtask bundle [--release]`: builds every CLAP test plugin of
//! `plugins-test` and copies each to `target/bundles/clap/<name>.clap`.
//!
//! Each file `plugins-test/bundles/<stem>.rs` is a `cdylib` example that
//! exports one plugin; `stagerack_probe` becomes `stagerack-probe.clap`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What can go wrong while bundling.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Listing `plugins-test/bundles` failed.
    #[error("cannot list {0}: {1}")]
    List(PathBuf, std::io::Error),
    /// `cargo build` could not be started or failed.
    #[error("building the test plugins failed: {0} (see cargo's messages above)")]
    Build(String),
    /// Copying a built library failed.
    #[error("cannot copy {0} to {1}: {2}")]
    Copy(PathBuf, PathBuf, std::io::Error),
}

/// The example names (file stems under `plugins-test/bundles`), sorted.
fn plugin_stems(root: &Path) -> Result<Vec<String>, BundleError> {
    let dir = root.join("plugins-test/bundles");
    let entries = std::fs::read_dir(&dir).map_err(|e| BundleError::List(dir.clone(), e))?;
    let mut stems = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| BundleError::List(dir.clone(), e))?.path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                stems.push(stem.to_owned());
            }
        }
    }
    stems.sort();
    Ok(stems)
}

/// Builds the plugins (debug unless `release`) and returns the bundle paths.
pub fn run(root: &Path, release: bool) -> Result<Vec<PathBuf>, BundleError> {
    let stems = plugin_stems(root)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--package", "stagerack-plugins-test", "--examples"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(|e| BundleError::Build(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(BundleError::Build(format!(
            "cargo build exited with {status}"
        )));
    }

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() {
        root.join(target)
    } else {
        target
    };
    let built = target
        .join(if release { "release" } else { "debug" })
        .join("examples");
    let safe_dir = target.join("bundles/clap");
    // Plugins that crash or hang as soon as they are loaded live apart, so
    // nothing that loads the whole folder in process (tests, tools) falls
    // over them; only the child-process scanner tests open them.
    let unsafe_dir = target.join("bundles/clap-unsafe");
    for dir in [&safe_dir, &unsafe_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| BundleError::Copy(built.clone(), dir.clone(), e))?;
    }

    let mut bundles = Vec::new();
    for stem in stems {
        let from = built.join(format!(
            "{}{stem}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
        let out_dir = if stem.contains("crash") || stem.contains("hang") {
            &unsafe_dir
        } else {
            &safe_dir
        };
        let to = out_dir.join(format!("{}.clap", stem.replace('_', "-")));
        // Copy through a temporary name so a host never loads a half-written file.
        let tmp = to.with_extension("clap.tmp");
        std::fs::copy(&from, &tmp).map_err(|e| BundleError::Copy(from.clone(), tmp.clone(), e))?;
        std::fs::rename(&tmp, &to).map_err(|e| BundleError::Copy(tmp.clone(), to.clone(), e))?;
        bundles.push(to);
    }
    Ok(bundles)
}
