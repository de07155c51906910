//! Bad live options against a running JACK server (dummy driver): each is
//! one clear error naming what is available.

use std::process::{Command, Stdio};

use stagerack_tests::jack::{open_client, unique_name, JackServer};
use stagerack_tests::{stagerack_bin, workspace_root};

fn run(server: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(stagerack_bin())
        .current_dir(workspace_root())
        .env("JACK_DEFAULT_SERVER", server)
        .args(["--preset", "presets/probe.toml", "--backend", "jack"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run stagerack");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn jack_bad_options_are_clear_errors() {
    let server = JackServer::start(&unique_name("errors"), 64);

    let (code, err) = run(&server.name, &["--connect", "no-such-port"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--connect `no-such-port` matches no port; available: system:playback_1"),
        "{err}"
    );

    let (code, err) = run(&server.name, &["--rate", "44100"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("runs at 48000 Hz but --rate 44100 was asked"),
        "{err}"
    );

    let (code, err) = run(&server.name, &["--buffer", "100"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("power of two"), "{err}");

    let _taken = open_client(&server.name, "stagerack");
    let (code, err) = run(&server.name, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("already exists") && err.contains("--name"),
        "{err}"
    );

    let out = Command::new(stagerack_bin())
        .env("JACK_DEFAULT_SERVER", &server.name)
        .arg("devices")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("running at 48000 Hz, 64 frames"), "{text}");
    assert!(text.contains("system:playback_1"), "{text}");
}
