//! `stagerack-ui --control SOCKET` opens the control socket as `stagerack
//! --setlist … --control SOCKET` does (`--listen` by its other name): a
//! client attaches, sees the set and switches the song.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{headless_set, Guard};
use stagerack_session::control::{Command as Cmd, ControlClient, RemoteClient, Reply};

fn state(client: &mut RemoteClient) -> (Vec<String>, u16) {
    client.send(Cmd::GetState {});
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Some(Reply::State { state, .. }) = client.recv_timeout(Duration::from_millis(200)) {
            return (state.presets, state.current);
        }
    }
    panic!("no state from the engine");
}

#[test]
fn control_opens_the_windows_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let mut child = Guard::spawn(
        headless_set(&["--control"])
            .arg(&sock)
            .stderr(Stdio::null()),
        "stagerack-ui",
    );
    let end = Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        assert!(child.alive(), "stagerack-ui exited early");
        if let Ok(c) = RemoteClient::connect(&sock) {
            break c;
        }
        assert!(
            Instant::now() < end,
            "no control socket at {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(state(&mut client), (vec!["demo".into(), "bells".into()], 0));
    client.send(Cmd::SetlistNext {});
    let end = Instant::now() + Duration::from_secs(10);
    while state(&mut client).1 != 1 {
        assert!(Instant::now() < end, "the song did not change");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(client);
    child.signal("-TERM");
    let status = child.wait(Duration::from_secs(20));
    assert!(status.success(), "exit: {status}");
}
