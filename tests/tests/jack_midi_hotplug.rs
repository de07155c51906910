//! `--midi-in PATTERN` on JACK: a MIDI source that appears after stagerack
//! started is connected, and when it goes away and comes back (a cable
//! pulled and plugged back, a bridge restarting) it is connected again.

use std::time::{Duration, Instant};

use jack::MidiOut;
use stagerack_tests::jack::{
    open_client, preset, unique_name, wait_for_port, JackServer, Stagerack,
};

fn wait_connected(client: &jack::Client, from: &str, to: &str, sr: &mut Stagerack) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = client
            .port_by_name(from)
            .and_then(|p| p.is_connected_to(to).ok())
            .unwrap_or(false);
        if ok {
            return;
        }
        sr.assert_running();
        assert!(
            Instant::now() < deadline,
            "{from} was not connected to {to} within 10 s; stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn jack_midi_sources_matching_the_pattern_are_connected_when_they_appear() {
    let server = JackServer::start(&unique_name("hotplug"), 64);
    let probe = preset("probe.toml");
    let mut sr = Stagerack::spawn(
        &server.name,
        &["--preset", &probe, "--midi-in", "^tt-kbd:", "--quiet"],
    );
    let watch = open_client(&server.name, "tt-watch");
    assert!(
        wait_for_port(&watch, "stagerack:midi_in", Duration::from_secs(30)),
        "stagerack did not start; stderr:\n{}",
        sr.stderr()
    );
    for round in 0..2 {
        let kbd = open_client(&server.name, "tt-kbd");
        let _port = kbd
            .register_port("out", MidiOut::default())
            .expect("register tt-kbd:out");
        let active = kbd
            .activate_async(
                (),
                jack::contrib::ClosureProcessHandler::new(
                    |_: &jack::Client, _: &jack::ProcessScope| jack::Control::Continue,
                ),
            )
            .expect("activate tt-kbd");
        wait_connected(&watch, "tt-kbd:out", "stagerack:midi_in_1", &mut sr);
        eprintln!("round {round}: connected");
        // Unplug.
        drop(active);
        std::thread::sleep(Duration::from_millis(1500));
    }
    // A source that does not match is left alone.
    let other = open_client(&server.name, "tt-other");
    let _p = other
        .register_port("out", MidiOut::default())
        .expect("register");
    let other = other
        .activate_async(
            (),
            jack::contrib::ClosureProcessHandler::new(
                |_: &jack::Client, _: &jack::ProcessScope| jack::Control::Continue,
            ),
        )
        .expect("activate");
    std::thread::sleep(Duration::from_millis(2500));
    let connected = watch
        .port_by_name("tt-other:out")
        .map(|p| p.connected_count().unwrap_or(0))
        .unwrap_or(0);
    assert_eq!(connected, 0, "a non-matching source was connected");
    drop(other);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}
