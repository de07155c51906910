//! `cargo xtask bundle-vst3 [--release]`: builds stagerack's VST3 test
//! plugins (crate `stagerack-vst3-probe`) and lays them out as bundles:
//!
//! ```text
//! target/bundles/vst3/Stagerack VST3 Probe.vst3/Contents/x86_64-linux/Stagerack VST3 Probe.so
//! target/bundles/vst3/Stagerack VST3 Gain.vst3/Contents/x86_64-linux/Stagerack VST3 Gain.so
//! ```
//!
//! Both bundles hold the same binary; it offers the classes its file name
//! names. It also builds the other VST3 flavours of the test plugins, each
//! its own binary and bundle:
//!
//! ```text
//! target/bundles/vst3/Stagerack Wrapped Probe.vst3/...   (crate stagerack-wrapped-probe: CLAP probe through clap-wrapper)
//! target/bundles/vst3/Stagerack Nice Probe.vst3/...      (crate stagerack-nice-probe: nice-plug)
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bundles made: (cargo package, library stem, bundle display name).
pub const BUNDLES: [(&str, &str, &str); 5] = [
    (
        "stagerack-vst3-probe",
        "stagerack_vst3_probe",
        "Stagerack VST3 Probe",
    ),
    (
        "stagerack-vst3-probe",
        "stagerack_vst3_probe",
        "Stagerack VST3 Gain",
    ),
    (
        "stagerack-vst3-probe",
        "stagerack_vst3_probe",
        "Stagerack VST3 Bad",
    ),
    (
        "stagerack-wrapped-probe",
        "stagerack_wrapped_probe",
        "Stagerack Wrapped Probe",
    ),
    (
        "stagerack-nice-probe",
        "stagerack_nice_probe",
        "Stagerack Nice Probe",
    ),
];

fn arch_dir() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "aarch64-linux",
        ("linux", _) => "x86_64-linux",
        ("windows", "aarch64") => "arm64-win",
        ("windows", _) => "x86_64-win",
        _ => "MacOS",
    }
}

fn binary_names(stem: &str) -> (String, &'static str) {
    let lib = format!(
        "{}{stem}{}",
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
    cmd.current_dir(root).args(["build", "-q"]);
    let mut packages: Vec<&str> = BUNDLES.iter().map(|b| b.0).collect();
    packages.dedup();
    for p in &packages {
        cmd.args(["-p", p]);
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building {} failed (see the compiler output above)",
            packages.join(", ")
        ));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if release { "release" } else { "debug" };
    let mut out = Vec::new();
    for (_, stem, name) in BUNDLES {
        let (lib, ext) = binary_names(stem);
        let built = target.join(profile).join(&lib);
        if !built.is_file() {
            return Err(format!("{} is missing after the build", built.display()));
        }
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
