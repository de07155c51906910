//! Helpers for the end-to-end tests: finding the built binaries and the
//! workspace files.

use std::path::PathBuf;

// The allocation guard in every test binary and example that links this
// crate (see `install_guard!`).
stagerack::engine::install_guard!();

pub mod bench;
pub mod chromium;
pub mod control;
pub mod jack;
pub mod remote;
pub mod stereo_recorder;
pub mod xvfb;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives one folder below the workspace root")
        .to_owned()
}

/// The path of one of the project's CLAP test bundles
/// (`target/bundles/clap/<name>.clap`), building them with `cargo xtask
/// bundle` first if it is missing (never skipped).
pub fn clap_bundle(name: &str) -> PathBuf {
    bundle_in("clap", name)
}

/// [`clap_bundle`] for a plugin that can take its process down (crash,
/// abort or hang), kept in `target/bundles/clap-unsafe/`.
pub fn clap_unsafe_bundle(name: &str) -> PathBuf {
    bundle_in("clap-unsafe", name)
}

fn bundle_in(folder: &str, name: &str) -> PathBuf {
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let path = workspace_root()
        .join("target/bundles")
        .join(folder)
        .join(format!("{name}.clap"));
    let _one_build_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["xtask", "bundle"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo xtask bundle");
        assert!(status.success(), "cargo xtask bundle failed");
    }
    assert!(
        path.exists(),
        "{} is missing after `cargo xtask bundle`",
        path.display()
    );
    path
}

/// The `stagerack` binary built for this test run (same profile). Panics
/// with the command to build it when it is missing.
pub fn stagerack_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/stagerack
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("stagerack{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing; run the tests with `cargo test --workspace` (it builds the binary)",
        bin.display()
    );
    bin
}

/// Reads a stereo WAV written by stagerack as (left, right).
pub fn read_wav(path: &std::path::Path) -> (Vec<f32>, Vec<f32>, hound::WavSpec) {
    let mut r = hound::WavReader::open(path).expect("readable WAV");
    let spec = r.spec();
    let s: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|v| v.unwrap() as f32 / full)
                .collect()
        }
    };
    let l = s.iter().step_by(2).copied().collect();
    let rr = s.iter().skip(1).step_by(2).copied().collect();
    (l, rr, spec)
}

/// Checks the first plugin of rack 0 lists a read-only parameter (a meter)
/// beside settable ones, that clients see it read-only, and that setting it
/// or MIDI-learning it is refused by name. Main thread.
pub fn assert_first_plugin_has_a_read_only_meter(session: &mut stagerack::session::Session) {
    let params = session.racks()[0].slots[0].instance.params();
    let meter = params
        .iter()
        .find(|p| p.read_only)
        .unwrap_or_else(|| panic!("no read-only parameter in {params:?}"))
        .clone();
    assert!(
        params.iter().any(|p| !p.read_only),
        "the knobs stay settable"
    );
    let snap = stagerack::control::snapshot(session);
    let shown = snap.racks[0].plugins[0]
        .params
        .iter()
        .find(|p| p.id == meter.id)
        .unwrap();
    assert!(shown.read_only, "clients see it as an output");
    let e = session
        .set_param(0, 0, meter.id, 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("read-only") && e.contains(&meter.name), "{e}");
    let e = session.start_learn(0, 0, meter.id).unwrap_err().to_string();
    assert!(e.contains("read-only") && e.contains(&meter.name), "{e}");
}

/// The sandbox children (`stagerack sandbox-child`) of process `parent`,
/// read from /proc.
pub fn sandbox_children(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("sandbox-child") {
            pids.push(pid);
        }
    }
    pids
}

/// Every sample of `samples` that is not zero, with its index: what an
/// impulse-writing test plugin said, in order.
pub fn nonzero_samples(samples: &[f32]) -> Vec<(usize, f32)> {
    samples
        .iter()
        .enumerate()
        .filter(|(_, x)| **x != 0.0)
        .map(|(i, x)| (i, *x))
        .collect()
}

/// Fails unless this test process has sandbox children now: a preset that
/// asked for a sandbox got one (its plugins did not silently stay in
/// process). Test thread.
pub fn assert_sandboxes_running() {
    assert!(
        !sandbox_children(std::process::id()).is_empty(),
        "no sandbox process: the plugin runs in process"
    );
}
