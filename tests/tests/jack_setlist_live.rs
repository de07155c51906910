//! `stagerack --setlist FILE` on a private JACK server: every preset loaded
//! at start, a program change on the JACK MIDI input switches to the next
//! song and the previous-song controller back, the stage sees each switch
//! on stderr and control clients see it in the state.

use std::time::{Duration, Instant};

use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{
    open_client, preset, unique_name, wait_for_port, JackServer, MidiSender, Stagerack,
};

fn current(c: &mut ControlSocket) -> u64 {
    c.request("get_state", "", "state")["state"]["current"]
        .as_u64()
        .expect("current preset")
}

/// Sends `bytes` and waits until `ok`. A message JACK dropped with a cycle
/// it could not run (an xrun on a loaded machine: stagerack's status line
/// then counts them) is sent again after 2 s, up to 5 times; without
/// xruns a message that did not act fails at once after 10 s. Both
/// messages here are safe to repeat (a program change selects, the
/// previous-song controller stops at the first song).
fn send_until(
    midi: &MidiSender,
    bytes: &[u8],
    sr: &mut Stagerack,
    what: &str,
    mut ok: impl FnMut(&mut Stagerack) -> bool,
) {
    for _ in 0..5 {
        midi.send(bytes);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if ok(sr) {
                return;
            }
            sr.assert_running();
            std::thread::sleep(Duration::from_millis(20));
        }
        if !stagerack_tests::jack::jack_stalled(&sr.stderr()) {
            break;
        }
        eprintln!("{what}: JACK was stalled (xruns), sending again");
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    while !ok(sr) {
        sr.assert_running();
        assert!(
            Instant::now() < deadline,
            "{what} did not happen; stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_setlist_plays_live_and_switches_on_program_change() {
    let server = JackServer::start(&unique_name("setlist"), 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let setlist = preset("setlist.toml");
    let mut sr = Stagerack::spawn(
        &server.name,
        &[
            "--setlist",
            &setlist,
            "--control",
            sock.to_str().unwrap(),
            "--status-every",
            "1",
        ],
    );
    assert!(
        wait_for_port(
            &open_client(&server.name, "sl-watch"),
            "stagerack:midi_in",
            Duration::from_secs(30)
        ),
        "no MIDI port; stderr:\n{}",
        sr.stderr()
    );
    let mut c = ControlSocket::connect(&sock, &mut sr);
    let state = c.request("get_state", "", "state");
    assert_eq!(
        state["state"]["presets"],
        serde_json::json!(["demo", "bells"])
    );
    assert_eq!(current(&mut c), 0);
    assert!(
        sr.stderr()
            .contains("playing setlist `example set` (2 presets, starting with `demo`)"),
        "{}",
        sr.stderr()
    );

    let midi = MidiSender::connect(&server.name, "sl-keys", "stagerack:midi_in");
    // Program change 1 (channel 1): the second song.
    send_until(&midi, &[0xC0, 1], &mut sr, "the switch to `bells`", |sr| {
        sr.stderr()
            .contains("now playing `bells` (setlist entry 2 of 2)")
    });
    assert_eq!(current(&mut c), 1);

    // The previous-song controller (CC 81): back to the first.
    send_until(
        &midi,
        &[0xB0, 81, 127],
        &mut sr,
        "the switch back to `demo`",
        |sr| {
            sr.stderr()
                .contains("now playing `demo` (setlist entry 1 of 2)")
        },
    );
    assert_eq!(current(&mut c), 0);
    drop(c);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}
