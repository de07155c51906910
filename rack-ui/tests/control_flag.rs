//! `stagerack-ui --control SOCKET` opens the control socket as `stagerack
//! --setlist … --control SOCKET` does (`--listen` by its other name): a
//! client attaches, sees the set and switches the song.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stagerack_session::control::{Command as Cmd, ControlClient, RemoteClient, Reply};
use stagerack_tests::jack::send_signal;

const UI: &str = env!("CARGO_BIN_EXE_stagerack-ui");

/// Kills the child when the test fails before it stops it.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
    let mut child = Child(
        Command::new(UI)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args([
                "--headless",
                "--no-audio",
                "--setlist",
                "presets/setlist.toml",
                "--control",
            ])
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "stagerack-ui exited early"
        );
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
    send_signal(child.0.id(), "TERM");
    let end = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "stagerack-ui did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit: {status}");
}
