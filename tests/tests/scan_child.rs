//! `stagerack scan` opens every plugin file in a child process: a plugin
//! that crashes (`Stagerack Bad Crash`, SIGSEGV while loading) or hangs
//! (`Stagerack Bad Hang`) takes only its child down; both are blacklisted
//! with the reason, the good plugins are listed, a second scan of the
//! unchanged files reads the cache and opens nothing, `--rescan` tries the
//! blacklisted ones again, and a preset naming a blacklisted plugin gets a
//! clear warning instead of loading it (the rest plays).

mod clap_support;

use std::path::Path;
use std::process::{Command, Output};

use clap_support::bundle;

fn stagerack(cache: &Path, args: &[&str]) -> Output {
    Command::new(stagerack_tests::stagerack_bin())
        .env("STAGERACK_CACHE_DIR", cache)
        .args(args)
        .output()
        .expect("run stagerack")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn crashing_and_hanging_plugins_are_blacklisted_and_the_scan_goes_on() {
    let plugins = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let unsafe_dir = stagerack_tests::workspace_root().join("target/bundles/clap-unsafe");
    // The good ones (built on demand), then the two that must not be
    // loaded in process (built by the same `cargo xtask bundle`).
    for name in ["stagerack-probe", "stagerack-gain"] {
        std::fs::copy(bundle(name), plugins.path().join(format!("{name}.clap"))).unwrap();
    }
    for name in ["stagerack-bad-crash", "stagerack-bad-hang"] {
        let from = unsafe_dir.join(format!("{name}.clap"));
        assert!(
            from.exists(),
            "{} missing: run `cargo xtask bundle`",
            from.display()
        );
        std::fs::copy(&from, plugins.path().join(format!("{name}.clap"))).unwrap();
    }
    let dir = plugins.path().to_str().unwrap();
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--path", dir, "--json", "--timeout", "2"];
        args.extend_from_slice(extra);
        stagerack(cache.path(), &args)
    };

    let first = scan(&[]);
    let (out, err) = text(&first);
    assert!(first.status.success(), "{err}");
    let found: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = found.iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["org.stagerack.test.gain", "org.stagerack.test.probe"],
        "{err}"
    );
    assert!(
        err.contains("stagerack-bad-crash.clap: crashed while loading (signal 11)"),
        "{err}"
    );
    assert!(
        err.contains("stagerack-bad-hang.clap: hung: no answer within 2 s"),
        "{err}"
    );
    assert!(
        err.contains("4 files: 0 from the cache, 4 opened in a child process, 2 blacklisted"),
        "{err}"
    );

    // Unchanged: nothing opened, the same answer.
    let second = scan(&[]);
    let (out2, err2) = text(&second);
    assert_eq!(out2, out);
    assert!(
        err2.contains("4 files: 2 from the cache, 0 opened in a child process, 2 blacklisted"),
        "{err2}"
    );

    let listed = stagerack(cache.path(), &["scan", "--blacklist"]);
    let (list, _) = text(&listed);
    assert!(list.contains("stagerack-bad-crash.clap\tcrashed"), "{list}");
    assert!(list.contains("stagerack-bad-hang.clap\thung"), "{list}");

    // --rescan opens the blacklisted ones again (and they fail again).
    let third = scan(&["--rescan"]);
    let (_, err3) = text(&third);
    assert!(
        err3.contains("4 files: 2 from the cache, 2 opened in a child process, 2 blacklisted"),
        "{err3}"
    );

    // A preset naming the crashing plugin: a clear warning, not a crash.
    let preset = plugins.path().join("show.toml");
    std::fs::write(
        &preset,
        format!(
            "version = 1\nname = \"show\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\n\
             format = \"clap\"\nid = \"org.stagerack.test.bad-crash\"\npath = \"{dir}/stagerack-bad-crash.clap\"\n\
             [[rack]]\nname = \"keys\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n"
        ),
    )
    .unwrap();
    let checked = stagerack(cache.path(), &["check", preset.to_str().unwrap()]);
    let (out4, err4) = text(&checked);
    let all = format!("{out4}{err4}");
    assert_eq!(checked.status.code(), Some(1), "{all}");
    assert!(all.contains("is blacklisted by `stagerack scan`"), "{all}");
    assert!(all.contains("stagerack scan --rescan"), "{all}");
    assert!(all.contains("crashed while loading (signal 11)"), "{all}");
    // The good rack still loads.
    assert!(all.contains("Stagerack Probe: ok"), "{all}");

    // The rack window's plugin browser (`list_plugins`) offers what the
    // scan found, from the same cache, without opening a plugin file.
    // (This test binary has this one test: setting the variable is safe.)
    std::env::set_var("STAGERACK_CACHE_DIR", cache.path());
    let demo = stagerack::preset::load_preset(
        &stagerack_tests::workspace_root().join("presets/demo.toml"),
    )
    .unwrap();
    let (mut session, engine) = clap_support::session(&demo, 64);
    let mut server = stagerack::control::ControlServer::new();
    let mut client = server.connect_local();
    client.send(stagerack::control::Command::ListPlugins {});
    server.poll(&mut session);
    let plugins = loop {
        match client.recv_timeout(std::time::Duration::from_secs(2)) {
            Some(stagerack::control::Reply::Plugins { plugins, .. }) => break plugins,
            Some(_) => continue,
            None => panic!("no plugin list"),
        }
    };
    let ids: Vec<&str> = plugins.iter().map(|p| p.id.as_str()).collect();
    assert!(ids.contains(&"synth"), "{ids:?}");
    assert!(ids.contains(&"org.stagerack.test.probe"), "{ids:?}");
    assert!(!ids.contains(&"org.stagerack.test.bad-crash"), "{ids:?}");
    session.shutdown(engine);
}

/// A VST3 bundle the scanner blacklisted is never opened in process when a
/// preset names it (CLAP always checked; VST3 used to load it anyway): the
/// preset is refused with the blacklist's reason, the rest plays.
#[test]
fn a_blacklisted_vst3_named_by_a_preset_is_refused_with_the_scanners_reason() {
    let cache = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    // A bundle whose binary is not a shared library: the scanner's child
    // fails to open it, so it is blacklisted.
    let bundle = plugins.path().join("Broken.vst3");
    let arch = if cfg!(target_arch = "aarch64") {
        "aarch64-linux"
    } else {
        "x86_64-linux"
    };
    let bin_dir = bundle.join("Contents").join(arch);
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::write(bin_dir.join("Broken.so"), b"not a shared library").unwrap();
    let scanned = stagerack(
        cache.path(),
        &["scan", "--path", plugins.path().to_str().unwrap()],
    );
    let (_, err) = text(&scanned);
    assert!(err.contains("1 blacklisted"), "{err}");
    let listed = stagerack(cache.path(), &["scan", "--blacklist"]);
    let (out, _) = text(&listed);
    assert!(out.contains("Broken.vst3"), "{out}");

    let preset = plugins.path().join("show.toml");
    std::fs::write(
        &preset,
        format!(
            "version = 1\nname = \"show\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\n\
             format = \"vst3\"\nid = \"0123456789ABCDEF0123456789ABCDEF\"\npath = {:?}\n\
             [[rack]]\nname = \"keys\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n",
            bundle.display().to_string()
        ),
    )
    .unwrap();
    let checked = stagerack(cache.path(), &["check", preset.to_str().unwrap()]);
    let (out, err) = text(&checked);
    let all = format!("{out}{err}");
    assert_eq!(checked.status.code(), Some(1), "{all}");
    assert!(
        all.contains("VST3 plugin `0123456789ABCDEF0123456789ABCDEF`")
            && all.contains("is blacklisted by `stagerack scan`"),
        "{all}"
    );
    assert!(all.contains("stagerack scan --rescan"), "{all}");
    // The scanner's reason, not an attempt to open it in this process.
    assert!(
        all.contains("blacklisted by `stagerack scan` (failed to load"),
        "{all}"
    );
    assert!(all.contains("Stagerack Probe: ok"), "{all}");
}
