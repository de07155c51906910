//! `stagerack scan`: the real binary lists the CLAP plugins it finds.

mod clap_support;

use std::process::Command;

use stagerack_tests::stagerack_bin;

fn scan(args: &[&str]) -> (String, String, bool) {
    // A scan cache of its own: never the user's.
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(stagerack_bin())
        .env("STAGERACK_CACHE_DIR", cache.path())
        .arg("scan")
        .args(args)
        .output()
        .expect("run stagerack scan");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn scan_json_lists_the_zam_plugins() {
    let (stdout, stderr, ok) = scan(&["--path", "/usr/lib/clap", "--json"]);
    assert!(ok, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("JSON array");
    let list = list.as_array().expect("an array");
    let comp = list
        .iter()
        .find(|p| p["id"] == "com.zamaudio.ZamComp")
        .unwrap_or_else(|| panic!("ZamComp in {stdout}"));
    assert_eq!(comp["format"], "clap");
    assert_eq!(comp["name"], "ZamComp");
    assert_eq!(comp["kind"], "effect");
    assert_eq!(comp["path"], "/usr/lib/clap/ZamComp.clap");
    assert!(list.len() >= 10, "{} plugins", list.len());
    for p in list {
        for key in ["format", "id", "name", "path"] {
            assert!(p[key].is_string(), "{key} missing in {p}");
        }
    }
}

#[test]
fn scan_table_and_several_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Broken.clap"), "text").unwrap();
    let d = dir.path().display().to_string();
    let (stdout, stderr, ok) = scan(&["--path", "/usr/lib/clap/ZamEQ2.clap", "--path", &d]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let cols: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(
        cols,
        [
            "clap",
            "com.zamaudio.ZamEQ2",
            "ZamEQ2",
            "Damien Zammit",
            "effect",
            "/usr/lib/clap/ZamEQ2.clap"
        ]
    );
    assert!(
        stderr.contains("Broken.clap"),
        "the broken file is reported: {stderr}"
    );
}

#[test]
fn scan_of_an_empty_folder_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (stdout, stderr, ok) = scan(&["--path", &d, "--json"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "[]");
}

#[test]
fn scan_lists_the_projects_bundles_with_their_kinds() {
    // Builds the bundles if missing.
    let probe = clap_support::bundle("stagerack-probe");
    let dir = probe.parent().unwrap().display().to_string();
    let (stdout, stderr, ok) = scan(&["--path", &dir, "--json"]);
    assert!(ok, "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let kind_of = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["kind"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{id} not in {stdout}"))
    };
    assert_eq!(kind_of("org.stagerack.test.probe"), "instrument");
    assert_eq!(kind_of("org.stagerack.test.synth"), "instrument");
    assert_eq!(kind_of("org.stagerack.test.gain"), "effect");
    assert_eq!(kind_of("org.stagerack.test.tail"), "effect");
}
