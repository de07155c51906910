//! `cargo xtask bundle-vst3 [--release]`: builds stagerack's VST3 test
//! plugins (crate `stagerack-vst3-probe`) and lays them out as bundles:
//!
//! ```text
//! target/bundles/vst3/Stagerack VST3 Probe.vst3/Contents/x86_64-linux/Stagerack VST3 Probe.so
//! target/bundles/vst3/Stagerack VST3 Gain.vst3/Contents/x86_64-linux/Stagerack VST3 Gain.so
//! ```
//!
//! Both bundles hold the same binary; it offers the classes its file name
//! names.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bundles made, by display name.
pub const NAMES: [&str; 2] = ["Stagerack VST3 Probe", "Stagerack VST3 Gain"];

fn arch_dir() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "aarch64-linux",
        ("linux", _) => "x86_64-linux",
        ("windows", "aarch64") => "arm64-win",
        ("windows", _) => "x86_64-win",
        _ => "MacOS",
    }
}

fn binary_names() -> (String, &'static str) {
    let lib = format!(
        "{}stagerack_vst3_probe{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let ext = match std::env::consts::OS {
        "windows" => ".vst3",
        "macos" => "",
        _ => ".so",
    };
    (lib, ext)
}

/// Builds and bundles; returns the bundle folders. Errors say what to do.
pub fn run(root: &Path, release: bool) -> Result<Vec<PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "-q", "-p", "stagerack-vst3-probe"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building stagerack-vst3-probe failed (see the compiler output above)".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if release { "release" } else { "debug" };
    let (lib, ext) = binary_names();
    let built = target.join(profile).join(&lib);
    if !built.is_file() {
        return Err(format!("{} is missing after the build", built.display()));
    }
    let mut out = Vec::new();
    for name in NAMES {
        let bundle = target.join("bundles/vst3").join(format!("{name}.vst3"));
        let dir = bundle.join("Contents").join(arch_dir());
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let dest = dir.join(format!("{name}{ext}"));
        // Copy then rename, so a process that has the old binary mapped
        // keeps a valid file.
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::copy(&built, &tmp)
            .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), tmp.display()))?;
        std::fs::rename(&tmp, &dest)
            .map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), dest.display()))?;
        out.push(bundle);
    }
    Ok(out)
}
