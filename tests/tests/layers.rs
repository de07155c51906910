//! The layered crates under host/ use only the layers below them, as
//! docs/ARCHITECTURE.md shows: each `cargo tree -p stagerack-<layer>` there
//! is run exactly as written and the stagerack crates it lists are checked
//! (normal and build dependencies; a dev-dependency on a higher layer would
//! show too and fail here).

use std::collections::BTreeSet;
use std::process::Command;

/// The stagerack crates `cargo tree -p <package>` lists, besides itself.
fn stagerack_crates_under(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", package])
        .current_dir(stagerack_tests::workspace_root())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || "│├└─".contains(c))
        .filter(|w| w.starts_with("stagerack") && *w != package)
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let layers = [
        ("stagerack-core", vec![]),
        ("stagerack-engine", vec!["stagerack-core"]),
        ("stagerack-plugins", vec!["stagerack-core"]),
        ("stagerack-io", vec!["stagerack-core", "stagerack-engine"]),
        (
            "stagerack-session",
            vec![
                "stagerack-core",
                "stagerack-engine",
                "stagerack-io",
                "stagerack-plugins",
            ],
        ),
    ];
    let docs =
        std::fs::read_to_string(stagerack_tests::workspace_root().join("docs/ARCHITECTURE.md"))
            .unwrap();
    for (package, below) in layers {
        assert!(
            docs.contains(&format!("cargo tree -p {package} ")),
            "docs/ARCHITECTURE.md no longer shows `cargo tree -p {package}`"
        );
        let found = stagerack_crates_under(package);
        let want: BTreeSet<String> = below.iter().map(|s| s.to_string()).collect();
        assert_eq!(found, want, "{package} uses other layers than documented");
    }
}
