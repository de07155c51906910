//! `stagerack-ui --setlist` under Xvfb on a private JACK server, switched by
//! a program change from a JACK MIDI client of this test (a file of its
//! own: this process talks to this one JACK server only).

mod common;

use std::time::Duration;

use common::*;
use stagerack_session::control::{Command as Cmd, ControlClient, RemoteClient};
use stagerack_tests::jack::{unique_name, JackServer};
use stagerack_tests::xvfb::Xvfb;

/// `stagerack-ui --setlist` plays a whole set in the window's process (the
/// same runtime as `stagerack --setlist`) and the window follows every
/// switch, however it comes: a program change from a JACK keyboard, then
/// another client's Previous and Next. The title names the song and its
/// file each time.
#[test]
fn the_window_plays_a_setlist_and_follows_every_switch() {
    let x = Xvfb::start();
    let jack = JackServer::start(&unique_name("ui-setlist"), 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let keys = stagerack_tests::jack::MidiSender::open(&jack.name, "keys");
    let mut ui = Guard::spawn(
        ui_command(&x.display)
            .env("JACK_DEFAULT_SERVER", &jack.name)
            .args([
                "--setlist",
                "presets/setlist.toml",
                "--backend",
                "jack",
                "--midi-in",
                "keys:out",
                "--listen",
            ])
            .arg(&sock),
        "stagerack-ui",
    );
    wait_for(
        Duration::from_secs(60),
        "the window on the first song",
        || {
            assert!(ui.alive(), "stagerack-ui exited early");
            window_titled(&x.display, r"^stagerack - demo \(1/2\) - demo\.toml$") && sock.exists()
        },
    );
    // Program change 1 on channel 1 selects `bells` (sent again until the
    // new connection from `keys` carries it).
    wait_for(
        Duration::from_secs(15),
        "the title to follow a program change",
        || {
            keys.send(&[0xC0, 1]);
            window_titled(&x.display, r"^stagerack - bells \(2/2\) - bells\.toml$")
        },
    );
    assert_drawn(&x.display, "rack-window-setlist-bells.png");
    let mut other = RemoteClient::connect(&sock).unwrap();
    other.send(Cmd::SetlistPrevious {});
    wait_for(
        Duration::from_secs(5),
        "the title to follow Previous",
        || window_titled(&x.display, r"^stagerack - demo \(1/2\) - demo\.toml$"),
    );
    other.send(Cmd::SetlistNext {});
    wait_for(Duration::from_secs(5), "the title to follow Next", || {
        window_titled(&x.display, r"^stagerack - bells \(2/2\) - bells\.toml$")
    });
    drop(other);
    ui.signal("-TERM");
    let status = ui.wait(Duration::from_secs(20));
    assert!(status.success(), "in-process window exit: {status}");
}
