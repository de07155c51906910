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

/// The README's stage command, exactly as written (`--control` without a
/// path used to be refused by the parser): in a folder holding a
/// `show.toml`, with a JACK server answering, it plays and serves control
/// clients on the default socket in the user's runtime folder. Its log,
/// written to a file, carries no colour codes.
/// A README command run exactly as written in a folder holding a
/// `show.toml` (the demo preset), on a private JACK server, its stderr in
/// a file; `env` adds variables.
struct ReadmeRun {
    child: std::process::Child,
    err_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _server: stagerack_tests::jack::JackServer,
}

impl ReadmeRun {
    fn start(tag: &str, command: &str, env: &[(&str, &std::path::Path)]) -> ReadmeRun {
        let server =
            stagerack_tests::jack::JackServer::start(&stagerack_tests::jack::unique_name(tag), 256);
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            workspace_root().join("presets/demo.toml"),
            dir.path().join("show.toml"),
        )
        .unwrap();
        let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
        assert!(
            readme.contains(command),
            "the README no longer shows `{command}`"
        );
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let err_path = dir.path().join("stderr.txt");
        let child = Command::new(stagerack_bin())
            .current_dir(dir.path())
            .env("JACK_DEFAULT_SERVER", &server.name)
            .env("JACK_NO_START_SERVER", "1")
            .envs(env.iter().copied())
            .args(&args)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        ReadmeRun {
            child,
            err_path,
            _dir: dir,
            _server: server,
        }
    }

    /// What it wrote to stderr so far.
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }

    /// Stops it with SIGTERM; asserts it exits cleanly; returns its stderr.
    fn stop(mut self) -> String {
        send_signal(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        let text = self.stderr();
        assert!(status.success(), "{text}");
        text
    }
}

#[test]
fn the_readme_stage_command_runs_as_written() {
    let runtime_dir = tempfile::tempdir().unwrap();
    let runtime = runtime_dir.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut run = ReadmeRun::start(
        "readme-stage",
        "stagerack --preset show.toml --control",
        &[("XDG_RUNTIME_DIR", &runtime)],
    );
    let sock = runtime.join("stagerack/control.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut control = loop {
        if let Some(c) = stagerack_tests::control::ControlSocket::try_connect(&sock) {
            break c;
        }
        let text = run.stderr();
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "exited early:\n{text}"
        );
        assert!(
            Instant::now() < deadline,
            "no control socket at {}:\n{text}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let state = control.request("get_state", "", "state");
    assert_eq!(state["state"]["presets"][0], "demo", "{state}");
    drop(control);
    let text = run.stop();
    assert!(text.contains("playing `demo` on jack"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
}

/// The README's sandbox command, exactly as written, in a folder holding a
/// `show.toml` (the demo preset) on a JACK server: every one of the demo's
/// four plugins runs in a child process of its own, and it plays.
#[test]
fn the_readme_sandbox_command_runs_as_written() {
    let info = std::path::Path::new("info");
    let mut run = ReadmeRun::start(
        "readme-sandbox",
        "stagerack --preset show.toml --sandbox plugin",
        &[("RUST_LOG", info)],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = run.stderr();
        if text.contains("first buffer processed") {
            break;
        }
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "exited early:\n{text}"
        );
        assert!(Instant::now() < deadline, "it never played:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = run.stop();
    assert!(text.contains("playing `demo` on jack"), "{text}");
    assert_eq!(
        text.matches("sandbox process").count(),
        4,
        "not one sandbox process per plugin:\n{text}"
    );
}

/// The README's threads command, exactly as written, in a folder holding a
/// `show.toml` (the demo preset, four racks) on a JACK server: it plays on
/// two threads, the process has exactly one rack worker, the worker runs
/// real-time whenever the audio thread does, and the status line shows
/// each thread's load.
#[test]
fn the_readme_threads_command_runs_as_written() {
    let info = std::path::Path::new("info");
    let mut run = ReadmeRun::start(
        "readme-threads",
        "stagerack --preset show.toml --threads 2",
        &[("RUST_LOG", info)],
    );
    // The first status line comes 5 s after the start.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let text = run.stderr();
        if text.contains("first buffer processed") && text.contains("(threads ") {
            break;
        }
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "exited early:\n{text}"
        );
        assert!(
            Instant::now() < deadline,
            "no status line with each thread's load:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Thread names and scheduling policies (/proc stat fields 2 and 41).
    let threads: Vec<(String, bool)> = std::fs::read_dir(format!("/proc/{}/task", run.child.id()))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|s| {
            let (open, close) = (s.find('(')?, s.rfind(')')?);
            let policy = s[close + 2..].split(' ').nth(38)?.to_owned();
            Some((
                s[open + 1..close].to_owned(),
                policy == "1" || policy == "2",
            ))
        })
        .collect();
    let workers: Vec<_> = threads
        .iter()
        .filter(|(name, _)| name.starts_with("stagerack-worke"))
        .collect();
    assert_eq!(workers.len(), 1, "{threads:?}");
    let audio_rt = threads
        .iter()
        .any(|(name, rt)| *rt && !name.starts_with("stagerack-worke"));
    assert_eq!(
        workers[0].1, audio_rt,
        "the worker's real-time scheduling does not follow the audio thread's: {threads:?}"
    );
    let text = run.stop();
    assert!(text.contains("racks run on 2 threads"), "{text}");
    assert!(text.contains("playing `demo` on jack"), "{text}");
}
