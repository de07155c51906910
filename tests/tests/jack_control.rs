//! The stage engine with `--control`: a client attaches to the running
//! headless engine over its socket, reads state and status while it plays,
//! detaches, and the engine plays on and stops cleanly.

use std::time::Duration;

use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{JackServer, Stagerack};

#[test]
fn a_client_attaches_to_the_headless_engine_and_detaches() {
    let name = format!("stagerack-control-{}", std::process::id());
    let _server = JackServer::start(&name, 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let demo = stagerack_tests::workspace_root().join("presets/demo.toml");
    let mut sr = Stagerack::spawn(
        &name,
        &[
            "--preset",
            demo.to_str().unwrap(),
            "--control",
            sock.to_str().unwrap(),
            "--quiet",
        ],
    );
    let mut ctl = ControlSocket::connect(&sock, &mut sr);
    let welcome = ctl.request("hello", "\"version\":1,\"client\":\"test\"", "welcome");
    assert_eq!(welcome["event"], "welcome");
    let state = ctl.request("get_state", "", "state");
    assert_eq!(state["state"]["racks"].as_array().unwrap().len(), 3);
    // The engine keeps processing while attached...
    let a = ctl.buffers();
    std::thread::sleep(Duration::from_millis(500));
    let b = ctl.buffers();
    assert!(b > a + 50, "engine stalled while attached: {a} -> {b}");
    // Which plugin eats the budget: named in the status (a note wakes the
    // synths; asleep they cost nothing).
    let keys = stagerack_tests::jack::MidiSender::connect(&name, "ctl-keys", "stagerack:midi_in");
    keys.send(&[0x90, 60, 100]);
    std::thread::sleep(Duration::from_millis(300));
    let status = ctl.request("status", "", "status");
    let heaviest = status["status"]["heaviest"].as_str().unwrap_or_default();
    assert!(heaviest.contains("Stagerack"), "{status}");
    // ...and after the client leaves.
    drop(ctl);
    std::thread::sleep(Duration::from_millis(500));
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("control socket"), "{stderr}");
}
