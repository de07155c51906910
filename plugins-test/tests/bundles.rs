//! Loads the real plugin libraries from disk (what `cargo xtask bundle`
//! copies to `target/bundles/clap/`): one plugin per file, with the
//! documented id and name, and the probe works when loaded from its file.

mod common;

use clack_host::factory::plugin::PluginFactory;
use clack_host::prelude::PluginEntry;
use common::Ev;
use stagerack_plugins_test::clap::probe::ProbeReport;
use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples`, next to this test's own binary, after
/// building the examples (a no-op when `cargo test` already built them).
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "stagerack-plugins-test",
        "--examples",
    ]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .expect("run cargo to build the plugin libraries");
    assert!(status.success(), "building the plugin libraries failed");
    profile_dir.join("examples")
}

fn library(dir: &std::path::Path, stem: &str) -> PathBuf {
    dir.join(format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

const PLUGINS: [(&str, &str, &str); 7] = [
    (
        "stagerack_probe",
        "org.stagerack.test.probe",
        "Stagerack Probe",
    ),
    (
        "stagerack_gain",
        "org.stagerack.test.gain",
        "Stagerack Gain",
    ),
    (
        "stagerack_synth",
        "org.stagerack.test.synth",
        "Stagerack Synth",
    ),
    (
        "stagerack_tail",
        "org.stagerack.test.tail",
        "Stagerack Tail",
    ),
    (
        "stagerack_silent",
        "org.stagerack.test.silent",
        "Stagerack Silent",
    ),
    (
        "stagerack_bad_init",
        "org.stagerack.test.bad-init",
        "Stagerack Bad Init",
    ),
    (
        "stagerack_bad_activate",
        "org.stagerack.test.bad-activate",
        "Stagerack Bad Activate",
    ),
];

#[test]
fn each_library_exports_exactly_its_plugin() {
    let dir = examples_dir();
    for (stem, id, name) in PLUGINS {
        let path = library(&dir, stem);
        // SAFETY: these libraries are this crate's own plugins.
        let entry = unsafe { PluginEntry::load(&path) }
            .unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
        let factory = entry.get_plugin_factory().expect("plugin factory");
        assert_eq!(factory.plugin_count(), 1, "{stem}");
        let descriptor = factory.plugin_descriptor(0).unwrap();
        assert_eq!(descriptor.id().unwrap().to_str().unwrap(), id);
        assert_eq!(descriptor.name().unwrap().to_str().unwrap(), name);
        let _ = entry.get_factory::<PluginFactory>().expect("same factory");
    }
}

#[test]
fn the_probe_works_from_its_file() {
    let path = library(&examples_dir(), "stagerack_probe");
    // SAFETY: this library is this crate's own probe plugin.
    let entry = unsafe { PluginEntry::load(&path) }.unwrap();
    let mut probe = common::instantiate(entry, "org.stagerack.test.probe").unwrap();
    probe.start(64);
    let out = probe.render(
        200,
        7,
        &[
            Ev::NoteOn {
                at: 99,
                key: 60,
                velocity: 0.5,
            },
            Ev::Param {
                at: 150,
                id: 0,
                value: 0.5,
            },
            Ev::Midi {
                at: 150,
                data: [0x90, 60, 127],
            },
        ],
        None,
    );
    let hits: Vec<_> = out[0]
        .iter()
        .enumerate()
        .filter(|(_, x)| **x != 0.0)
        .map(|(i, x)| (i, *x))
        .collect();
    assert_eq!(hits, vec![(99, 0.5), (150, 0.5)]);
    probe.stop();
    let report = ProbeReport::from_state(&probe.save()).expect("the probe's state");
    assert_eq!(report.violations, 0, "no host violations");
    assert!(report.thread_checked, "thread checks ran");
}
