//! Two keyboards on JACK, each on its own rack: `--midi-in` patterns give
//! each matched device its own port (`midi_in_1`, `midi_in_2`), and a
//! rack's `input = ["…"]` pattern picks the devices it hears. A note from
//! the lower keyboard sounds only in the lower rack, and the other way
//! round (read from the racks' meters over the control socket).

use std::time::{Duration, Instant};

use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{
    open_client, unique_name, wait_for_port, JackServer, MidiSender, Stagerack,
};

#[test]
fn racks_hear_only_the_jack_midi_devices_their_patterns_name() {
    // A JACK server that stalls (it happened on a loaded machine) is tried
    // again with a fresh one; anything else fails at once.
    for attempt in 1..=3 {
        match two_keyboards() {
            Ok(()) => return,
            Err(stderr) => eprintln!("attempt {attempt}: JACK stalled; again:\n{stderr}"),
        }
    }
    panic!("JACK stalled in three attempts");
}

/// One run; Err(stderr) when nothing sounded because JACK stalled.
fn two_keyboards() -> Result<(), String> {
    let server = JackServer::start(&unique_name("devices"), 256);
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("two.toml");
    std::fs::write(
        &preset,
        "version = 1\nname = \"two keyboards\"\n\
         [[rack]]\nname = \"lower\"\ninput = [\"lowerkeys\"]\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\nparams = { release = 0.02 }\n\
         [[rack]]\nname = \"upper\"\ninput = [\"upperkeys\"]\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\nparams = { release = 0.02 }\n",
    )
    .unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut sr = Stagerack::spawn(
        &server.name,
        &[
            "--preset",
            preset.to_str().unwrap(),
            "--midi-in",
            "lowerkeys",
            "--midi-in",
            "upperkeys",
            "--control",
            sock.to_str().unwrap(),
        ],
    );
    let watch = open_client(&server.name, "dev-watch");
    assert!(wait_for_port(
        &watch,
        "stagerack:midi_in_2",
        Duration::from_secs(30)
    ));
    let lower = MidiSender::open(&server.name, "lowerkeys");
    let upper = MidiSender::open(&server.name, "upperkeys");
    // stagerack connects each to its pattern's port at its next check.
    let deadline = Instant::now() + Duration::from_secs(10);
    let connected = |from: &str, to: &str| {
        watch
            .port_by_name(from)
            .and_then(|p| p.is_connected_to(to).ok())
            .unwrap_or(false)
    };
    while !(connected("lowerkeys:out", "stagerack:midi_in_1")
        && connected("upperkeys:out", "stagerack:midi_in_2"))
    {
        sr.assert_running();
        assert!(Instant::now() < deadline, "not connected; {}", sr.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = ControlSocket::connect(&sock, &mut sr);
    c.request("subscribe", "\"meters\":true", "ok");
    // The racks re-route once stagerack has seen the devices (each check,
    // about once a second; later on a loaded machine; until then every rack
    // hears every input): strike the key until exactly one rack sounds (10
    // s at most), then judge which one it was.
    let strike = |c: &mut ControlSocket, keys: &MidiSender, key: u8| {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            keys.send(&[0x90, key, 100]);
            let p = c.loudest_meters(400).1;
            keys.send(&[0x80, key, 0]);
            std::thread::sleep(Duration::from_millis(300));
            if p.iter().filter(|&&x| x > 0.01).count() == 1 || Instant::now() > until {
                return p;
            }
        }
    };
    let p = strike(&mut c, &lower, 48);
    if p.iter().all(|x| *x == 0.0) && stagerack_tests::jack::jack_stalled(&sr.stderr()) {
        return Err(sr.stderr());
    }
    assert!(
        p[0] > 0.01 && p[1] == 0.0,
        "lower keys: racks {p:?}; stderr:\n{}",
        sr.stderr()
    );
    let p = strike(&mut c, &upper, 72);
    assert!(p[1] > 0.01 && p[0] == 0.0, "upper keys: racks {p:?}");
    drop(c);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    Ok(())
}
