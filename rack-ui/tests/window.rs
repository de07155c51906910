//! The real window under Xvfb (Mesa software GL): it starts and draws
//! (screenshot checked for content) with its in-process engine playing on a
//! private JACK server, and a window attached to a headless engine playing
//! on JACK can be killed without stopping that engine.
//!
//! Needs Xvfb, xdotool and ImageMagick's `import`/`convert`
//! (`scripts/ensure-deps test`); the test starts its own X server on a
//! free display number and stops it at the end, also on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stagerack::control::{Command as Cmd, ControlClient, RemoteClient, Reply};
use stagerack_tests::jack::{open_client, unique_name, wait_for_port, JackServer};
use stagerack_tests::xvfb::Xvfb;

const UI: &str = env!("CARGO_BIN_EXE_stagerack-ui");

/// A child process killed (and reaped) when dropped, even on panic.
struct Guard(Option<Child>, &'static str);

impl Guard {
    fn spawn(cmd: &mut Command, what: &'static str) -> Guard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}; run scripts/ensure-deps test"));
        Guard(Some(child), what)
    }
    fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }
    fn alive(&mut self) -> bool {
        matches!(self.0.as_mut().unwrap().try_wait(), Ok(None))
    }
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {} ({})", self.pid(), self.1);
    }
    /// Waits for the exit, up to `timeout`.
    fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.0.as_mut().unwrap().try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "{} did not exit in {timeout:?}",
                self.1
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_for(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn window_id(display: &str) -> Option<String> {
    let out = Command::new("xdotool")
        .args(["search", "--name", "^stagerack$"])
        .env("DISPLAY", display)
        .output()
        .expect("xdotool missing: run scripts/ensure-deps test");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
}

/// Takes a screenshot of the whole screen; returns its path and
/// (distinct colours, fraction of non-black pixels).
fn screenshot(display: &str, name: &str) -> (PathBuf, usize, f64) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    stagerack_tests::xvfb::screenshot(display, &path);
    let raw = Command::new("convert")
        .arg(&path)
        .args(["-depth", "8", "rgb:-"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(raw.len(), 1280 * 800 * 3, "screenshot size");
    let mut colours = std::collections::HashSet::new();
    let mut lit = 0usize;
    for px in raw.chunks_exact(3) {
        colours.insert([px[0], px[1], px[2]]);
        if px != [0, 0, 0] {
            lit += 1;
        }
    }
    (path, colours.len(), lit as f64 / (1280.0 * 800.0))
}

fn assert_drawn(display: &str, name: &str) {
    // Give the software renderer a few frames.
    let mut last = (PathBuf::new(), 0, 0.0);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        last = screenshot(display, name);
        if last.1 >= 100 && last.2 > 0.5 {
            break;
        }
    }
    let (path, colours, lit) = last;
    assert!(
        colours >= 100 && lit > 0.5,
        "the window drew nothing much: {colours} colours, {:.0}% of the screen lit ({})",
        lit * 100.0,
        path.display()
    );
    eprintln!(
        "{}: {colours} colours, {:.0}% lit",
        path.display(),
        lit * 100.0
    );
}

fn ui_command(display: &str) -> Command {
    let mut c = Command::new(UI);
    c.env("DISPLAY", display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

fn buffers(client: &mut RemoteClient) -> u64 {
    client.send(Cmd::Status {});
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Some(Reply::Status { status, .. }) = client.recv_timeout(Duration::from_millis(200))
        {
            return status.buffers;
        }
    }
    panic!("the engine did not answer status");
}

#[test]
fn window_draws_and_killing_an_attached_window_leaves_the_engine_playing() {
    let x = Xvfb::start();
    let jack = JackServer::start(&unique_name("ui"), 256);
    let watch = open_client(&jack.name, "ui-watch");

    // 1. The in-process window starts, plays on JACK (its client and ports
    //    appear), draws, and exits cleanly on SIGTERM.
    let mut ui = Guard::spawn(
        ui_command(&x.display)
            .env("JACK_DEFAULT_SERVER", &jack.name)
            .args(["--preset", "presets/demo.toml", "--backend", "jack"]),
        "stagerack-ui",
    );
    wait_for(Duration::from_secs(60), "the window to appear", || {
        assert!(ui.alive(), "stagerack-ui exited early");
        window_id(&x.display).is_some()
    });
    assert!(
        wait_for_port(&watch, "stagerack-ui:out_L", Duration::from_secs(30)),
        "the in-process engine is not playing on JACK"
    );
    assert_drawn(&x.display, "rack-window-in-process.png");
    ui.signal("-TERM");
    let status = ui.wait(Duration::from_secs(20));
    assert!(status.success(), "in-process window exit: {status}");

    // 2. A headless engine playing on JACK with a socket, a window attached
    //    to it, killed.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let mut engine = Guard::spawn(
        Command::new(UI)
            .env("JACK_DEFAULT_SERVER", &jack.name)
            .args([
                "--headless",
                "--preset",
                "presets/demo.toml",
                "--backend",
                "jack",
            ])
            .args(["--name", "headless-engine", "--listen"])
            .arg(&sock)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
        "headless engine",
    );
    wait_for(Duration::from_secs(30), "the control socket", || {
        assert!(engine.alive(), "the headless engine exited early");
        sock.exists()
    });
    assert!(
        wait_for_port(&watch, "headless-engine:out_L", Duration::from_secs(30)),
        "the headless engine is not playing on JACK"
    );
    let mut window = Guard::spawn(
        ui_command(&x.display).arg("--attach").arg(&sock),
        "attached window",
    );
    wait_for(Duration::from_secs(60), "the attached window", || {
        assert!(window.alive(), "the attached window exited early");
        window_id(&x.display).is_some()
    });
    assert_drawn(&x.display, "rack-window-attached.png");
    window.signal("-KILL");
    window.wait(Duration::from_secs(10));

    // The engine keeps processing buffers.
    let mut client = RemoteClient::connect(&sock).unwrap();
    let before = buffers(&mut client);
    std::thread::sleep(Duration::from_millis(500));
    let after = buffers(&mut client);
    assert!(engine.alive(), "the engine died with the window");
    // 500 ms at 48 kHz / 256 frames = ~94 JACK cycles; allow for a slow
    // machine.
    assert!(
        after >= before + 40,
        "buffers {before} -> {after}: the engine stalled"
    );
    drop(client);
    engine.signal("-INT");
    let status = engine.wait(Duration::from_secs(20));
    assert!(status.success(), "headless engine exit: {status}");
}

/// Whether `window` exists and is mapped, with its children.
fn x_window(display: &str, window: u32) -> Option<(bool, Vec<u32>)> {
    use x11rb::protocol::xproto::{ConnectionExt as _, MapState};
    let (conn, _) = x11rb::connect(Some(display)).ok()?;
    let attrs = conn.get_window_attributes(window).ok()?.reply().ok()?;
    let tree = conn.query_tree(window).ok()?.reply().ok()?;
    Some((attrs.map_state == MapState::VIEWABLE, tree.children))
}

#[test]
fn the_in_process_window_opens_a_plugin_editor_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let preset = stagerack_tests::xvfb::editor_preset(dir.path());
    in_process_editor(&preset, "ui-editor", "rack-window-with-editor.png");
}

/// A real plugin's editor (Debian's ZamComp, CLAP: DPF, a 24-bit child
/// window) embeds beside the window: it used to come up empty (X
/// `BadMatch` under a 32-bit parent) while the window said it was open.
#[test]
fn the_in_process_window_embeds_zamcomps_editor() {
    let dir = tempfile::tempdir().unwrap();
    let preset = stagerack_tests::xvfb::zam_editor_preset(dir.path(), "clap");
    in_process_editor(&preset, "ui-zam-editor", "rack-window-with-zamcomp.png");
}

/// Opens the editor of plugin 1 of rack 0 of `preset` from a client of the
/// in-process window, checks it shows with the plugin's GUI inside while
/// the engine plays, screenshots it as `shot`, and closes it. `tag` names
/// its JACK server.
fn in_process_editor(preset: &std::path::Path, tag: &str, shot: &str) {
    let x = Xvfb::start();
    let jack = JackServer::start(&unique_name(tag), 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let mut ui = Guard::spawn(
        ui_command(&x.display)
            .env("JACK_DEFAULT_SERVER", &jack.name)
            .arg("--preset")
            .arg(preset)
            .args(["--backend", "jack", "--listen"])
            .arg(&sock),
        "stagerack-ui",
    );
    wait_for(Duration::from_secs(60), "the window and its socket", || {
        assert!(ui.alive(), "stagerack-ui exited early");
        window_id(&x.display).is_some() && sock.exists()
    });
    let mut client = RemoteClient::connect(&sock).unwrap();
    client.send(Cmd::OpenEditor { rack: 0, index: 1 });
    let end = Instant::now() + Duration::from_secs(10);
    let window = loop {
        assert!(Instant::now() < end, "no editor reply");
        match client.recv_timeout(Duration::from_millis(200)) {
            Some(Reply::Editor { window, .. }) => break window as u32,
            Some(Reply::Error { message, .. }) => panic!("open_editor refused: {message}"),
            _ => {}
        }
    };
    // The editor window is shown with the plugin's GUI inside, beside the
    // rack window, which keeps drawing; the engine keeps playing.
    wait_for(Duration::from_secs(5), "the editor to show", || {
        x_window(&x.display, window).is_some_and(|(shown, kids)| shown && kids.len() == 1)
    });
    assert_drawn(&x.display, shot);
    let before = buffers(&mut client);
    std::thread::sleep(Duration::from_millis(500));
    assert!(buffers(&mut client) >= before + 40, "the engine stalled");
    client.send(Cmd::CloseEditor { rack: 0, index: 1 });
    wait_for(Duration::from_secs(5), "the editor to close", || {
        x_window(&x.display, window).is_none()
    });
    assert!(ui.alive(), "the window died with the editor");
    drop(client);
    ui.signal("-TERM");
    let status = ui.wait(Duration::from_secs(20));
    assert!(status.success(), "in-process window exit: {status}");
}
