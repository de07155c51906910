//! The layered crates under host/ use only the layers below them, as
//! docs/ARCHITECTURE.md shows: each `cargo tree -p stagerack-<layer>` there
//! is run exactly as written and the stagerack crates it lists are checked
//! (normal dependencies, transitively).

use std::collections::BTreeSet;
use std::process::Command;

/// The stagerack crates `cargo tree -p <package> <extra…>` lists, besides
/// the package itself.
fn stagerack_crates_under(package: &str, extra: &[&str]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "-p", package])
        .args(extra)
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

/// What the code uses (a crate's tests may use more).
const NORMAL: &[&str] = &["-e", "normal"];

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let below_session = vec![
        "stagerack-core",
        "stagerack-engine",
        "stagerack-io",
        "stagerack-plugins",
    ];
    let mut ui = below_session.clone();
    ui.push("stagerack-session");
    let layers: [(&str, &[&str], Vec<&str>); 6] = [
        ("stagerack-core", NORMAL, vec![]),
        ("stagerack-engine", NORMAL, vec!["stagerack-core"]),
        ("stagerack-plugins", NORMAL, vec!["stagerack-core"]),
        (
            "stagerack-io",
            NORMAL,
            vec!["stagerack-core", "stagerack-engine"],
        ),
        ("stagerack-session", NORMAL, below_session),
        // The window: the session layer and what it uses, never the
        // `stagerack` crate (its tests' helpers may).
        ("stagerack-ui", NORMAL, ui),
    ];
    let docs =
        std::fs::read_to_string(stagerack_tests::workspace_root().join("docs/ARCHITECTURE.md"))
            .unwrap();
    for (package, extra, below) in layers {
        let command = format!("cargo tree -p {package} {}", extra.join(" "));
        assert!(
            docs.contains(&format!("{} ", command.trim_end())),
            "docs/ARCHITECTURE.md no longer shows `{command}`"
        );
        let found = stagerack_crates_under(package, extra);
        let want: BTreeSet<String> = below.iter().map(|s| s.to_string()).collect();
        assert_eq!(found, want, "{package} uses other layers than documented");
    }
}
