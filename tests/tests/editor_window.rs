//! Plugin editors in real X11 windows under Xvfb: a headless engine
//! playing on a private JACK server opens the GUI of the `Stagerack Editor`
//! test plugin (CLAP `gui`, X11 embedded) in a baseview window when a
//! control client asks; the plugin's child window sits inside it and draws;
//! a click in the editor makes the plugin ask for a bigger size and the
//! window follows; closing it (by command, or as a window manager does)
//! destroys the plugin's GUI and its window while the engine plays on.
//! The same for a VST3 editor (the VST3 probe's `IPlugView`). Without a
//! display, opening an editor is refused with a clear message.

mod vst3_common;

use std::time::{Duration, Instant};

use stagerack_plugins_test::clap::editor::{BACKGROUND, BAR, INITIAL_SIZE, LARGE_SIZE};
use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{open_client, unique_name, wait_for_port, JackServer, Stagerack};
use stagerack_tests::xvfb::{
    editor_preset, screenshot, synth_and_plugin_preset, zam_editor_preset, Xvfb,
};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, ImageFormat, MapState, PropMode,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// A preset (in `dir`) of the built-in synth and the VST3 probe.
fn vst3_probe_preset(dir: &std::path::Path) -> std::path::PathBuf {
    let bundle = vst3_common::own_bundle("Stagerack VST3 Probe");
    let id = vst3_common::class_of(&bundle).id;
    synth_and_plugin_preset(dir, "vst3-editor", "vst3", &id, &bundle)
}

/// The editor preset in `dir`, as a string path.
fn preset(dir: &std::path::Path) -> String {
    editor_preset(dir).to_string_lossy().into_owned()
}

fn geometry(conn: &RustConnection, window: u32) -> Option<(u16, u16)> {
    let g = conn.get_geometry(window).ok()?.reply().ok()?;
    Some((g.width, g.height))
}

fn children(conn: &RustConnection, window: u32) -> Vec<u32> {
    conn.query_tree(window)
        .ok()
        .and_then(|c| c.reply().ok())
        .map(|t| t.children)
        .unwrap_or_default()
}

fn viewable(conn: &RustConnection, window: u32) -> bool {
    conn.get_window_attributes(window)
        .ok()
        .and_then(|c| c.reply().ok())
        .is_some_and(|a| a.map_state == MapState::VIEWABLE)
}

/// The 0xRRGGBB colour of one pixel of `window` (24-bit TrueColor).
fn pixel(conn: &RustConnection, window: u32, x: i16, y: i16) -> u32 {
    let img = conn
        .get_image(ImageFormat::Z_PIXMAP, window, x, y, 1, 1, !0)
        .unwrap()
        .reply()
        .unwrap();
    u32::from_le_bytes(img.data[..4].try_into().unwrap()) & 0x00FF_FFFF
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the editor of plugin 1 of rack 0 (named `name`) is open, as
/// the engine's state says.
fn editor_open(c: &mut ControlSocket, name: &str) -> bool {
    let state = c.request("get_state", "", "state");
    let plugin = &state["state"]["racks"][0]["plugins"][1];
    assert_eq!(plugin["name"], name);
    plugin["editor_open"].as_bool().unwrap()
}

fn shot(display: &str, name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    screenshot(display, &path);
    path
}

#[test]
fn a_clap_editor_opens_draws_resizes_and_closes_while_the_engine_plays() {
    let dir = tempfile::tempdir().unwrap();
    editor_round_trip(&preset(dir.path()), "Stagerack Editor", "clap", None);
}

/// A sandboxed plugin's GUI lives in its sandbox process and is embedded in
/// the engine's editor window (X11 windows parent across processes): the
/// same round trip as in-process (draws, asks to be resized, shows the
/// host's parameter, closes both ways), and when the sandbox is killed the
/// relaunched plugin's GUI comes back into the same window.
#[test]
fn a_sandboxed_clap_editor_opens_inside_the_engines_window() {
    let dir = tempfile::tempdir().unwrap();
    editor_round_trip(
        &preset(dir.path()),
        "Stagerack Editor",
        "clap-sandboxed",
        Some("plugin"),
    );
}

/// As the CLAP one, with the VST3 probe's `IPlugView` in a sandbox of the
/// whole rack (its timer on the child's run loop).
#[test]
fn a_sandboxed_vst3_editor_opens_inside_the_engines_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = vst3_probe_preset(dir.path());
    editor_round_trip(
        path.to_str().unwrap(),
        "Stagerack VST3 Probe",
        "vst3-sandboxed",
        Some("rack"),
    );
}

/// The VST3 probe's editor (IPlugView in our IPlugFrame, its timer on the
/// IRunLoop it finds on the frame) follows the same drawing contract as the
/// CLAP editor plugin (plugins-test/README.md).
#[test]
fn a_vst3_editor_opens_draws_resizes_and_closes_while_the_engine_plays() {
    let dir = tempfile::tempdir().unwrap();
    let path = vst3_probe_preset(dir.path());
    editor_round_trip(path.to_str().unwrap(), "Stagerack VST3 Probe", "vst3", None);
}

/// Opens, checks, resizes, re-levels and closes (by command, then as a
/// window manager does) the editor of plugin 1 of rack 0 of `preset`,
/// named `name`, on a headless engine playing on a private JACK server
/// under a private Xvfb. Screenshots are named after `tag`. With
/// `sandbox` (`--sandbox MODE`), the plugin's sandbox is then killed with
/// its editor open, and its GUI must come back into the same window.
fn editor_round_trip(preset: &str, name: &str, tag: &str, sandbox: Option<&str>) {
    let x = Xvfb::start();
    let server = JackServer::start(&unique_name(&format!("editor-{tag}")), 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut args = vec!["--preset", preset, "--control", sock.to_str().unwrap()];
    if let Some(mode) = sandbox {
        args.extend(["--sandbox", mode]);
    }
    let mut sr = Stagerack::spawn_env(&server.name, &args, &[("DISPLAY", &x.display)]);
    assert!(
        wait_for_port(
            &open_client(&server.name, "ed-watch"),
            "stagerack:out_L",
            Duration::from_secs(30)
        ),
        "no audio port; stderr:\n{}",
        sr.stderr()
    );
    let mut c = ControlSocket::connect(&sock, &mut sr);
    let state = c.request("get_state", "", "state");
    let plugins = &state["state"]["racks"][0]["plugins"];
    assert_eq!(
        plugins[0]["has_editor"], false,
        "the built-in synth has none"
    );
    assert_eq!(plugins[1]["has_editor"], true, "{state}");
    assert!(!editor_open(&mut c, name));

    // The built-in synth has no editor of its own: a clear refusal.
    let refused = c.request_any("open_editor", "\"rack\":0,\"index\":0", &["error"]);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("has no editor of its own"),
        "{refused}"
    );

    let (conn, _) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
    for round in 0..2 {
        let opened = c.request("open_editor", "\"rack\":0,\"index\":1", "editor");
        let window = opened["window"].as_u64().unwrap() as u32;
        let frame = opened["frame"].as_u64().unwrap() as u32;
        assert_eq!(
            (opened["width"].as_u64(), opened["height"].as_u64()),
            (
                Some(u64::from(INITIAL_SIZE.0)),
                Some(u64::from(INITIAL_SIZE.1))
            )
        );
        assert!(editor_open(&mut c, name));
        // The window exists at the plugin's size, with the plugin's own
        // window inside it, shown, drawing its background and level bar.
        wait_until("the editor window to show", Duration::from_secs(5), || {
            viewable(&conn, window)
        });
        assert_eq!(
            geometry(&conn, window),
            Some((INITIAL_SIZE.0 as u16, INITIAL_SIZE.1 as u16))
        );
        // The plugin creates its window over its own X connection: the
        // server may get to it after the host's window is shown.
        wait_until("the plugin's GUI window", Duration::from_secs(5), || {
            children(&conn, window).len() == 1
        });
        let gui = children(&conn, window)[0];
        wait_until("the plugin's GUI to draw", Duration::from_secs(5), || {
            viewable(&conn, gui) && pixel(&conn, gui, 15, 15) == BAR
        });
        assert_eq!(pixel(&conn, gui, 3, 3), BACKGROUND);
        if round == 0 {
            let path = shot(&x.display, &format!("editor-{tag}-open.png"));
            eprintln!("screenshot: {}", path.display());

            // A click in the editor: the plugin asks for its large size
            // and the host's window follows.
            let at = conn
                .translate_coordinates(gui, conn.setup().roots[0].root, 30, 30)
                .unwrap()
                .reply()
                .unwrap();
            let ok = std::process::Command::new("xdotool")
                .args([
                    "mousemove",
                    &at.dst_x.to_string(),
                    &at.dst_y.to_string(),
                    "click",
                    "1",
                ])
                .env("DISPLAY", &x.display)
                .status()
                .expect("xdotool missing: run scripts/ensure-deps test")
                .success();
            assert!(ok, "xdotool click failed");
            wait_until(
                "the editor window to take the size the plugin asked for",
                Duration::from_secs(5),
                || geometry(&conn, window) == Some((LARGE_SIZE.0 as u16, LARGE_SIZE.1 as u16)),
            );
            wait_until("the GUI at its new size", Duration::from_secs(5), || {
                geometry(&conn, gui) == Some((LARGE_SIZE.0 as u16, LARGE_SIZE.1 as u16))
            });
            // The host's parameter reaches the plugin, and its own editor
            // shows it: the level bar at half width.
            c.request(
                "set_param",
                "\"rack\":0,\"index\":1,\"param\":0,\"value\":0.5",
                "ok",
            );
            let inner = i16::try_from(LARGE_SIZE.0 - 20).unwrap();
            wait_until(
                "the editor to show the new level",
                Duration::from_secs(5),
                || pixel(&conn, gui, 10 + inner / 2 + 10, 50) == BACKGROUND,
            );
            assert_eq!(pixel(&conn, gui, 10 + inner / 2 - 10, 50), BAR);
            let path = shot(&x.display, &format!("editor-{tag}-resized.png"));
            eprintln!("screenshot: {}", path.display());

            // Closed by command: the plugin's GUI and the window are gone.
            c.request("close_editor", "\"rack\":0,\"index\":1", "ok");
            assert!(!editor_open(&mut c, name));
        } else {
            // Closed as a window manager closes a window (WM_DELETE_WINDOW).
            let protocols = conn
                .intern_atom(false, b"WM_PROTOCOLS")
                .unwrap()
                .reply()
                .unwrap()
                .atom;
            let delete = conn
                .intern_atom(false, b"WM_DELETE_WINDOW")
                .unwrap()
                .reply()
                .unwrap()
                .atom;
            let event = ClientMessageEvent::new(32, frame, protocols, [delete, 0, 0, 0, 0]);
            conn.send_event(false, frame, EventMask::NO_EVENT, event)
                .unwrap();
            conn.flush().unwrap();
            wait_until(
                "the engine to notice its editor was closed",
                Duration::from_secs(5),
                || !editor_open(&mut c, name),
            );
        }
        wait_until("the editor window to go", Duration::from_secs(5), || {
            geometry(&conn, window).is_none()
                && geometry(&conn, gui).is_none()
                && geometry(&conn, frame).is_none()
        });
        sr.assert_running();
        assert!(c.advances(100, 5), "the engine stopped playing");
    }
    if sandbox.is_some() {
        gui_comes_back_after_its_sandbox_dies(&conn, &mut c, &mut sr, name, &x.display, tag);
    }
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("opened the editor of {name} (320×120)")),
        "{stderr}"
    );
}

/// With the sandboxed plugin's editor open, its sandbox processes are
/// killed (SIGKILL, as a crash): the relaunched plugin's GUI is put back
/// into the same engine window and draws, and the engine plays on.
fn gui_comes_back_after_its_sandbox_dies(
    conn: &RustConnection,
    c: &mut ControlSocket,
    sr: &mut Stagerack,
    name: &str,
    display: &str,
    tag: &str,
) {
    let opened = c.request("open_editor", "\"rack\":0,\"index\":1", "editor");
    let window = opened["window"].as_u64().unwrap() as u32;
    wait_until("the plugin's GUI window", Duration::from_secs(5), || {
        children(conn, window).len() == 1
    });
    let old_gui = children(conn, window)[0];
    // The X server may give the relaunched GUI the very id the dead one had
    // (a client's resource ids come from its slot, which is reused): the old
    // window is marked, so a window without the mark is a new one.
    let mark = conn
        .intern_atom(false, b"STAGERACK_TEST_OLD_GUI")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    conn.change_property8(PropMode::REPLACE, old_gui, mark, AtomEnum::STRING, b"old")
        .unwrap();
    conn.flush().unwrap();
    let marked = |gui: u32| {
        conn.get_property(false, gui, mark, AtomEnum::STRING, 0, 4)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|p| !p.value.is_empty())
    };
    assert!(marked(old_gui));
    let victims = stagerack_tests::sandbox_children(sr.pid());
    assert!(!victims.is_empty(), "no sandbox process to kill");
    for pid in &victims {
        stagerack_tests::jack::send_signal(*pid, "KILL");
    }
    // The old GUI died with its process; the relaunched plugin's GUI sits
    // in the same window and draws its level bar again.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let now = children(conn, window);
        if now.len() == 1
            && !marked(now[0])
            && viewable(conn, now[0])
            && pixel(conn, now[0], 15, 15) == BAR
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "the relaunched plugin's GUI is not in the engine's window {window:#x} (its \
             children: {now:x?}, the old GUI {old_gui:#x}, marked: {}); stagerack said:\n{}",
            now.first().is_some_and(|&w| marked(w)),
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let path = shot(display, &format!("editor-{tag}-after-crash.png"));
    eprintln!("screenshot: {}", path.display());
    assert!(editor_open(c, name));
    wait_until("the crash to be reported", Duration::from_secs(5), || {
        sr.stderr().contains("crashed (SIGKILL)") && sr.stderr().contains("back in")
    });
    c.request("close_editor", "\"rack\":0,\"index\":1", "ok");
    wait_until("the editor window to go", Duration::from_secs(5), || {
        geometry(conn, window).is_none()
    });
    sr.assert_running();
    assert!(c.advances(100, 5), "the engine stopped playing");
}

/// A CLAP plugin that offers only a floating GUI (#13): the engine opens
/// no window of its own; the plugin's top-level window takes the title the
/// host suggests, draws, shows the host's parameter; closed as a window
/// manager closes it, the plugin tells the host and the engine destroys
/// its GUI; closed by command, it goes. The engine plays on throughout.
#[test]
fn a_floating_only_clap_editor_opens_its_own_window() {
    floating_editor(None);
}

/// The same from a sandbox process: the plugin's own window comes from
/// the child.
#[test]
fn a_sandboxed_floating_clap_editor_opens_its_own_window() {
    floating_editor(Some("plugin"));
}

/// A headless engine on display `x` and a private JACK server (named after
/// `tag`), playing the built-in synth and the CLAP test plugin `id` of
/// bundle `bundle` (with `--sandbox MODE` when given), its control socket
/// in `dir`: the server, the engine and a control client.
fn engine_with_clap_plugin(
    x: &Xvfb,
    dir: &std::path::Path,
    tag: &str,
    id: &str,
    bundle: &str,
    sandbox: Option<&str>,
) -> (JackServer, Stagerack, ControlSocket) {
    let server = JackServer::start(&unique_name(tag), 64);
    let preset =
        synth_and_plugin_preset(dir, tag, "clap", id, &stagerack_tests::clap_bundle(bundle));
    let sock = dir.join("ctl.sock");
    let mut args = vec![
        "--preset",
        preset.to_str().unwrap(),
        "--control",
        sock.to_str().unwrap(),
    ];
    if let Some(mode) = sandbox {
        args.extend(["--sandbox", mode]);
    }
    let mut sr = Stagerack::spawn_env(&server.name, &args, &[("DISPLAY", &x.display)]);
    let c = ControlSocket::connect(&sock, &mut sr);
    (server, sr, c)
}

/// The top-level windows titled `title` (`WM_NAME`).
fn windows_titled(conn: &RustConnection, title: &str) -> Vec<u32> {
    let root = conn.setup().roots[0].root;
    children(conn, root)
        .into_iter()
        .filter(|&w| {
            conn.get_property(false, w, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 256)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|p| p.value == title.as_bytes())
        })
        .collect()
}

fn floating_editor(sandbox: Option<&str>) {
    let x = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    let (_server, mut sr, mut c) = engine_with_clap_plugin(
        &x,
        dir.path(),
        "floating-editor",
        "org.stagerack.test.floating-editor",
        "stagerack-floating-editor",
        sandbox,
    );
    let state = c.request("get_state", "", "state");
    assert_eq!(
        state["state"]["racks"][0]["plugins"][1]["has_editor"], true,
        "{state}"
    );
    let (conn, _) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
    let title = "Floating Editor — keys";
    for round in 0..2 {
        let opened = c.request("open_editor", "\"rack\":0,\"index\":1", "editor");
        assert_eq!(opened["floating"], true, "{opened}");
        assert_eq!(
            (opened["window"].as_u64(), opened["frame"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(
            (opened["width"].as_u64(), opened["height"].as_u64()),
            (
                Some(u64::from(INITIAL_SIZE.0)),
                Some(u64::from(INITIAL_SIZE.1))
            )
        );
        assert!(editor_open(&mut c, "Floating Editor"));
        wait_until(
            "the plugin's own window, titled as the host suggested",
            Duration::from_secs(5),
            || windows_titled(&conn, title).len() == 1,
        );
        let gui = windows_titled(&conn, title)[0];
        wait_until(
            "the floating editor to draw",
            Duration::from_secs(5),
            || viewable(&conn, gui) && pixel(&conn, gui, 15, 15) == BAR,
        );
        if round == 0 {
            let tag = if sandbox.is_some() { "-sandboxed" } else { "" };
            let path = shot(&x.display, &format!("editor-floating{tag}.png"));
            eprintln!("screenshot: {}", path.display());
            // The host's parameter reaches the plugin's own window.
            c.request(
                "set_param",
                "\"rack\":0,\"index\":1,\"param\":0,\"value\":0.5",
                "ok",
            );
            let inner = i16::try_from(INITIAL_SIZE.0 - 20).unwrap();
            wait_until(
                "the floating editor to show the new level",
                Duration::from_secs(5),
                || pixel(&conn, gui, 10 + inner / 2 + 10, 50) == BACKGROUND,
            );
            // Closed as a window manager closes a window: the plugin tells
            // the host, which destroys its GUI (and the window goes).
            let atom = |name: &[u8]| conn.intern_atom(false, name).unwrap().reply().unwrap().atom;
            let (protocols, delete) = (atom(b"WM_PROTOCOLS"), atom(b"WM_DELETE_WINDOW"));
            let event = ClientMessageEvent::new(32, gui, protocols, [delete, 0, 0, 0, 0]);
            conn.send_event(false, gui, EventMask::NO_EVENT, event)
                .unwrap();
            conn.flush().unwrap();
            wait_until(
                "the engine to hear the plugin closed its window",
                Duration::from_secs(5),
                || !editor_open(&mut c, "Floating Editor"),
            );
        } else {
            c.request("close_editor", "\"rack\":0,\"index\":1", "ok");
            assert!(!editor_open(&mut c, "Floating Editor"));
        }
        wait_until("the floating window to go", Duration::from_secs(5), || {
            geometry(&conn, gui).is_none()
        });
        sr.assert_running();
        assert!(c.advances(100, 5), "the engine stopped playing");
    }
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("opened the floating editor of Floating Editor (320×120, its own window)"),
        "{stderr}"
    );
    assert!(!stderr.contains("crashed"), "{stderr}");
}

/// How many different colours the top-left `w` × `h` pixels of `window`
/// hold (a window nobody draws into holds one).
fn colours(conn: &RustConnection, window: u32, w: u16, h: u16) -> usize {
    let Ok(img) = conn
        .get_image(ImageFormat::Z_PIXMAP, window, 0, 0, w, h, !0)
        .unwrap()
        .reply()
    else {
        return 0;
    };
    let mut seen: Vec<u32> = img
        .data
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes(p.try_into().unwrap()) & 0x00FF_FFFF)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// A real plugin's editor (Debian's ZamComp: DPF/pugl, a child window of
/// the screen's default 24-bit visual) embeds into the engine's editor
/// window, draws, and closes, while the engine plays on: it used to end the
/// process with an X `BadMatch` (a 32-bit parent).
fn third_party_editor(format: &str, sandbox: Option<&str>) {
    let x = Xvfb::start();
    let server = JackServer::start(&unique_name(&format!("zam-editor-{format}")), 64);
    let dir = tempfile::tempdir().unwrap();
    let preset = zam_editor_preset(dir.path(), format);
    let preset = preset.to_str().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut args = vec!["--preset", preset, "--control", sock.to_str().unwrap()];
    if let Some(mode) = sandbox {
        args.extend(["--sandbox", mode]);
    }
    let mut sr = Stagerack::spawn_env(&server.name, &args, &[("DISPLAY", &x.display)]);
    let mut c = ControlSocket::connect(&sock, &mut sr);
    assert!(!editor_open(&mut c, "ZamComp"));
    let (conn, _) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
    for round in 0..2 {
        let opened = c.request_any("open_editor", "\"rack\":0,\"index\":1", &["editor"]);
        let window = opened["window"].as_u64().unwrap() as u32;
        let (w, h) = (
            opened["width"].as_u64().unwrap() as u16,
            opened["height"].as_u64().unwrap() as u16,
        );
        assert!(w > 100 && h > 50, "ZamComp's editor size: {opened}");
        assert!(editor_open(&mut c, "ZamComp"));
        wait_until("ZamComp's GUI window", Duration::from_secs(5), || {
            children(&conn, window).len() == 1
        });
        let gui = children(&conn, window)[0];
        wait_until("ZamComp's GUI to draw", Duration::from_secs(10), || {
            viewable(&conn, gui) && colours(&conn, gui, w, h) >= 8
        });
        if round == 0 {
            let sandboxed = if sandbox.is_some() { "-sandboxed" } else { "" };
            let path = shot(&x.display, &format!("editor-zam-{format}{sandboxed}.png"));
            eprintln!("screenshot: {}", path.display());
        }
        c.request("close_editor", "\"rack\":0,\"index\":1", "ok");
        assert!(!editor_open(&mut c, "ZamComp"));
        wait_until("the editor window to go", Duration::from_secs(5), || {
            geometry(&conn, window).is_none() && geometry(&conn, gui).is_none()
        });
        sr.assert_running();
        assert!(c.advances(100, 5), "the engine stopped playing");
    }
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("X Error"), "{stderr}");
    assert!(!stderr.contains("X error"), "{stderr}");
}

#[test]
fn zamcomp_clap_editor_embeds_and_draws_while_the_engine_plays() {
    third_party_editor("clap", None);
}

/// A real third-party GUI (DPF/pugl) from a sandbox process, embedded in
/// the engine's window across processes.
#[test]
fn a_sandboxed_zamcomp_vst3_editor_embeds_and_draws() {
    third_party_editor("vst3", Some("plugin"));
}

#[test]
fn zamcomp_vst3_editor_embeds_and_draws_while_the_engine_plays() {
    third_party_editor("vst3", None);
}

/// A plugin whose GUI set-up raises an X error (through Xlib, whose default
/// handler would end the process) and puts nothing into the window: the
/// engine survives, reports the plugin and the X error, closes the empty
/// window, and plays on; the editor can be asked for again.
#[test]
fn a_plugin_editor_that_fails_to_embed_is_reported_and_the_engine_plays_on() {
    bad_editor(None);
}

/// The same bad GUI in a sandbox: its X error is recorded in the sandbox
/// process (which lives on: no relaunch), reported by plugin name, and the
/// engine plays on.
#[test]
fn a_sandboxed_plugin_editor_that_fails_to_embed_leaves_its_sandbox_running() {
    bad_editor(Some("plugin"));
}

fn bad_editor(sandbox: Option<&str>) {
    let x = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    let (_server, mut sr, mut c) = engine_with_clap_plugin(
        &x,
        dir.path(),
        "bad-editor",
        "org.stagerack.test.bad-editor",
        "stagerack-bad-editor",
        sandbox,
    );
    let (conn, _) = x11rb::connect(Some(&x.display)).expect("connect to Xvfb");
    let root = conn.setup().roots[0].root;
    let children_before = stagerack_tests::sandbox_children(sr.pid());
    for _ in 0..2 {
        let refused = c.request_any("open_editor", "\"rack\":0,\"index\":1", &["error"]);
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("Bad Editor did not put its editor into the window"),
            "{message}"
        );
        // In-process the X error is the refusal's cause; from a sandbox it
        // arrives with the sandbox's next report (below).
        assert!(
            sandbox.is_some() || message.contains("BadWindow in CreateWindow"),
            "{message}"
        );
        assert!(!editor_open(&mut c, "Bad Editor"));
        // The empty window was closed: nothing of ours is left on screen.
        wait_until(
            "the empty editor window to go",
            Duration::from_secs(5),
            || children(&conn, root).is_empty(),
        );
        sr.assert_running();
        assert!(c.advances(100, 5), "the engine stopped playing");
    }
    if sandbox.is_some() {
        wait_until(
            "the sandbox's report of the X error",
            Duration::from_secs(5),
            || {
                sr.stderr().contains(
                    "plugin `Bad Editor`: its editor raised 1 window system error(s) in its \
                     sandbox, the last BadWindow in CreateWindow",
                )
            },
        );
        assert_eq!(
            stagerack_tests::sandbox_children(sr.pid()),
            children_before,
            "a sandbox was relaunched"
        );
    }
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("X Error of failed request"), "{stderr}");
    assert!(!stderr.contains("crashed"), "{stderr}");
}

#[test]
fn without_a_display_an_editor_is_refused_and_the_engine_plays_on() {
    let server = JackServer::start(&unique_name("noeditor"), 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let preset = preset(dir.path());
    let mut sr = Stagerack::spawn_env(
        &server.name,
        &["--preset", &preset, "--control", sock.to_str().unwrap()],
        &[("DISPLAY", "")],
    );
    let mut c = ControlSocket::connect(&sock, &mut sr);
    let refused = c.request_any("open_editor", "\"rack\":0,\"index\":1", &["error"]);
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("Stagerack Editor") && message.contains("no display"),
        "{message}"
    );
    assert!(!editor_open(&mut c, "Stagerack Editor"));
    assert!(c.advances(100, 5), "the engine stopped playing");
    sr.assert_running();
}
