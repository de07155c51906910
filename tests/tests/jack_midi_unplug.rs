//! A keyboard unplugged with a key down (its JACK MIDI port vanishes):
//! stagerack releases every note, so nothing is left sounding.

use std::time::Duration;

use stagerack_tests::jack::{open_client, unique_name, wait_for_port, JackServer, Stagerack};

/// A keyboard unplugged with a key down: its note-off never comes, so
/// stagerack releases every note (sustain off, all notes off) when the
/// source vanishes — no stuck note.
#[test]
fn a_keyboard_vanishing_with_a_key_down_leaves_no_stuck_note() {
    // A JACK server that stalls (it happened on a loaded machine) is tried
    // again with a fresh one; anything else fails at once.
    for attempt in 1..=3 {
        match play_and_unplug() {
            Ok(()) => return,
            Err(stderr) => eprintln!("attempt {attempt}: JACK stalled; again:\n{stderr}"),
        }
    }
    panic!("JACK stalled in three attempts");
}

/// One run; Err(stderr) when the key never sounded because JACK stalled.
fn play_and_unplug() -> Result<(), String> {
    let server = JackServer::start(&unique_name("unplug"), 256);
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("held.toml");
    std::fs::write(
        &preset,
        "version = 1\nname = \"held\"\n[[rack]]\nname = \"organ\"\n[[rack.plugin]]\n\
         format = \"builtin\"\nid = \"synth\"\n\
         params = { attack = 0.001, sustain = 1.0, release = 0.05, level = -12.0 }\n",
    )
    .unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut sr = Stagerack::spawn(
        &server.name,
        &[
            "--preset",
            preset.to_str().unwrap(),
            "--control",
            sock.to_str().unwrap(),
        ],
    );
    let watch = open_client(&server.name, "unplug-watch");
    assert!(wait_for_port(
        &watch,
        "stagerack:midi_in",
        Duration::from_secs(30)
    ));
    let mut c = stagerack_tests::control::ControlSocket::connect(&sock, &mut sr);
    c.request("subscribe", "\"meters\":true", "ok");
    let keys =
        stagerack_tests::jack::MidiSender::connect(&server.name, "keys", "stagerack:midi_in");
    // JACK applies a new connection at a later graph update, which a busy
    // machine can delay past the sender's wait (seen in full runs: 3.5 s,
    // and once no MIDI at all for 7 s while JACK's dummy driver ran over
    // half its cycles late): the key is struck again (same note, still
    // held) until it sounds, for up to 21 s.
    let sounded = (0..30).any(|_| {
        keys.send(&[0x90, 60, 100]);
        c.loudest_meters(700).0 > 0.05
    });
    if !sounded && stagerack_tests::jack::jack_stalled(&sr.stderr()) {
        return Err(sr.stderr());
    }
    assert!(sounded, "the held note sounds; stderr:\n{}", sr.stderr());
    // Unplugged with the key still down, within a second of plugging in
    // (before any periodic check of the connections could have seen it).
    drop(keys);
    std::thread::sleep(Duration::from_secs(3));
    let after = c.loudest_meters(500).0;
    assert!(
        after < 1e-4,
        "a stuck note after the keyboard vanished: peak {after}; stderr:\n{}",
        sr.stderr()
    );
    sr.assert_running();
    drop(c);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    Ok(())
}
