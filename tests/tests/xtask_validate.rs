//! `cargo xtask validate` as docs/VALIDATORS.md shows it, exactly as
//! written: without the validators' sources (none are in the repository,
//! and CI fetches nothing) it stops with exit code 2 and says where to get
//! each and how to point it at them.

use std::process::Command;

use stagerack_tests::workspace_root;

#[test]
fn validate_without_sources_says_how_to_get_them() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/VALIDATORS.md")).unwrap();
    let command = "cargo xtask validate";
    assert!(
        doc.lines().any(|l| l.trim() == command),
        "docs/VALIDATORS.md no longer shows `{command}` on a line of its own"
    );
    let mut words = command.split_whitespace();
    let out = Command::new(words.next().unwrap())
        .args(words)
        .current_dir(&root)
        .env_remove("STAGERACK_CLAP_VALIDATOR")
        .env_remove("STAGERACK_VST3_SDK")
        .output()
        .expect("cargo runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needed in [
        "https://github.com/free-audio/clap-validator",
        "https://github.com/steinbergmedia/vst3sdk",
        "STAGERACK_CLAP_VALIDATOR",
        "STAGERACK_VST3_SDK",
        "docs/VALIDATORS.md",
    ] {
        assert!(err.contains(needed), "no `{needed}` in: {err}");
    }
}
