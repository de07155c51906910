//! The real window under Xvfb (Mesa software GL): it starts and draws
//! (screenshot checked for content) with its in-process engine playing on a
//! private JACK server, and a window attached to a headless engine playing
//! on JACK can be killed without stopping that engine.
//!
//! Needs Xvfb, xdotool and ImageMagick's `import`/`convert`
//! (`scripts/ensure-deps test`); the test starts its own X server on a
//! free display number and stops it at the end, also on failure.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use stagerack_session::control::{Command as Cmd, ControlClient, RemoteClient, Reply};
use stagerack_tests::jack::{open_client, unique_name, wait_for_port, JackServer};
use stagerack_tests::xvfb::Xvfb;

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
    // The window never competes with the audio thread: JACK's process
    // thread is real-time, the window's own threads are not.
    assert_only_audio_is_realtime(ui.pid(), "in-process window on JACK");
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

/// With no audio device the in-process engine plays on the `dummy`
/// backend's own thread: real-time like a driver's, so the window drawing
/// (software GL here) cannot take the CPU from it (#20 item 14).
#[test]
fn the_no_audio_window_plays_on_a_realtime_thread_of_its_own() {
    let x = Xvfb::start();
    let mut ui = Guard::spawn(
        ui_command(&x.display).args(["--preset", "presets/demo.toml", "--no-audio"]),
        "stagerack-ui",
    );
    wait_for(Duration::from_secs(60), "the window to appear", || {
        assert!(ui.alive(), "stagerack-ui exited early");
        window_id(&x.display).is_some()
    });
    assert_only_audio_is_realtime(ui.pid(), "in-process window, no audio device");
    let threads = thread_policies(ui.pid());
    assert!(
        threads
            .iter()
            .any(|(name, rt)| *rt && name.starts_with("stagerack-dumm")),
        "the dummy audio thread is not the real-time one: {threads:?}"
    );
    ui.signal("-TERM");
    assert!(ui.wait(Duration::from_secs(20)).success());
}
