//! The live mode's command line without a sound card: clear errors for bad
//! arguments and missing servers, and a clean SIGTERM stop on the dummy
//! backend with status lines.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagerack_tests::jack::send_signal;
use stagerack_tests::{stagerack_bin, workspace_root};

fn run(args: &[&str], server: &str) -> (i32, String) {
    let out = Command::new(stagerack_bin())
        .current_dir(workspace_root())
        .env("JACK_DEFAULT_SERVER", server)
        .env("JACK_NO_START_SERVER", "1")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run stagerack");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn no_jack_server_is_one_clear_error_listing_backends() {
    let (code, err) = run(
        &["--preset", "presets/probe.toml", "--backend", "jack"],
        "stagerack-no-such-server",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot connect to the JACK server `stagerack-no-such-server`"),
        "{err}"
    );
    assert!(err.contains("jack, alsa, dummy"), "{err}");
}

#[test]
fn unknown_backend_lists_the_available_ones() {
    let (code, err) = run(
        &["--preset", "presets/probe.toml", "--backend", "asio"],
        "x",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("jack") && err.contains("dummy"), "{err}");
}

#[test]
fn nothing_to_do_says_what_to_run() {
    let (code, err) = run(&[], "x");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stagerack --preset FILE"), "{err}");
}

#[test]
fn missing_preset_names_the_file() {
    let (code, err) = run(
        &["--preset", "presets/nope.toml", "--backend", "dummy"],
        "x",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn dummy_buffer_out_of_range_is_refused() {
    let (code, err) = run(
        &[
            "--preset",
            "presets/probe.toml",
            "--backend",
            "dummy",
            "--buffer",
            "0",
        ],
        "x",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--buffer 0 is out of range"), "{err}");
}

#[test]
fn devices_lists_backends_without_a_server() {
    let (code, out) = run(&["devices"], "stagerack-no-such-server");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("backends: jack, alsa, dummy"), "{out}");
    assert!(out.contains("not reachable"), "{out}");
}

#[test]
fn dummy_backend_runs_until_sigterm_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr.txt");
    let mut child = Command::new(stagerack_bin())
        .current_dir(workspace_root())
        .args([
            "--preset",
            "presets/demo.toml",
            "--backend",
            "dummy",
            "--status-every",
            "0.2",
        ])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&err_path).unwrap_or_default();
        if text.matches("dsp ").count() >= 2 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "exited early:\n{text}");
        assert!(Instant::now() < deadline, "no status lines:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    send_signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "{text}");
    assert!(text.contains("playing `demo` on dummy"), "{text}");
    assert!(text.contains("midi 0 events"), "{text}");
    assert!(text.contains("stagerack: stopped"), "{text}");
}

#[test]
fn alsa_unknown_device_lists_the_devices() {
    let (code, err) = run(
        &[
            "--preset",
            "presets/probe.toml",
            "--backend",
            "alsa",
            "--connect",
            "no-such-device-xyz",
        ],
        "x",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("audio output device `no-such-device-xyz` matches no port; available:"),
        "{err}"
    );
}

/// Runs `stagerack ARGS` (JACK_DEFAULT_SERVER=`server`) until it printed
/// two status lines, stops it with SIGTERM and returns its stderr after
/// checking it stopped cleanly.
fn play_then_stop(args: &[&str], server: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr.txt");
    let mut child = Command::new(stagerack_bin())
        .current_dir(workspace_root())
        .env("JACK_DEFAULT_SERVER", server)
        .env("JACK_NO_START_SERVER", "1")
        .args(args)
        .args(["--status-every", "0.2"])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&err_path).unwrap_or_default();
        if text.matches("dsp ").count() >= 2 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "exited early:\n{text}");
        assert!(Instant::now() < deadline, "no status lines:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    send_signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "{text}");
    assert!(text.contains("stagerack: stopped"), "{text}");
    text
}

/// The ALSA `null` device ("Discard all samples"): the real cpal/ALSA path
/// on a machine without a sound card.
#[test]
fn alsa_null_device_plays_and_stops_cleanly() {
    let text = play_then_stop(
        &[
            "--preset",
            "presets/demo.toml",
            "--backend",
            "alsa",
            "--connect",
            "discard",
        ],
        "stagerack-no-such-server",
    );
    assert!(text.contains("playing `demo` on alsa"), "{text}");
}

/// Without `--backend` on Linux: ALSA when no JACK server answers (a
/// running server is picked in every JACK test, which pass no --backend).
#[test]
fn default_backend_without_a_jack_server_is_alsa() {
    let text = play_then_stop(
        &["--preset", "presets/demo.toml", "--connect", "discard"],
        "stagerack-no-such-server",
    );
    assert!(text.contains("playing `demo` on alsa"), "{text}");
}
