//! The stage view's behaviour (#18), headless with egui_kittest around an
//! engine of this process playing a setlist on a private JACK server, a
//! JACK MIDI client of the test playing the keyboard: a program change
//! shows the new song and the next one in the very frame after the engine
//! switched; the notes controller scrolls the song's notes; a plugin
//! putting out NaN lights FAULT, which stays lit until acknowledged; a tap
//! on an entry jumps there. (A file of its own: this process talks to one
//! JACK server only.)

mod kit;

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use stagerack_session::runtime::{
    AudioChoice, BackendKind, LoadedShow, Runtime, Show, StreamOptions,
};
use stagerack_tests::jack::{unique_name, JackServer, MidiSender};

/// Notes long enough to scroll at 1280×720.
fn ballad_notes() -> String {
    (1..=60)
        .map(|i| format!("Verse line {i}: Am  F  C  G"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A three-song set: `Opener` (a synth, and a rack whose effect puts out
/// NaN after 0.1 s), `Ballad` (long notes), `Closer`; the notes follow
/// CC 4.
fn write_set(dir: &std::path::Path) -> std::path::PathBuf {
    let nan = stagerack_tests::clap_bundle("stagerack-bad-nan");
    std::fs::write(
        dir.join("opener.toml"),
        format!(
            "version = 1\nname = \"Opener\"\ntempo = 100.0\n\
             [[rack]]\nname = \"keys\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\
             [[rack]]\nname = \"broken\"\n[[rack.plugin]]\nformat = \"clap\"\n\
             id = \"org.stagerack.test.bad-nan\"\npath = \"{}\"\n",
            nan.display()
        ),
    )
    .unwrap();
    for name in ["Ballad", "Closer"] {
        std::fs::write(
            dir.join(format!("{}.toml", name.to_lowercase())),
            format!(
                "version = 1\nname = \"{name}\"\n[[rack]]\nname = \"keys\"\n\
                 [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n"
            ),
        )
        .unwrap();
    }
    let set = dir.join("set.toml");
    std::fs::write(
        &set,
        format!(
            "version = 1\nname = \"gig\"\n[triggers]\nnotes_cc = 4\n\
             [[entry]]\npreset = \"opener.toml\"\nprogram = 0\nnotes = \"Count in: 4 bars\"\n\
             [[entry]]\npreset = \"ballad.toml\"\nprogram = 1\nnotes = \"\"\"\n{}\"\"\"\n\
             [[entry]]\npreset = \"closer.toml\"\nprogram = 2\n",
            ballad_notes()
        ),
    )
    .unwrap();
    set
}

fn until(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_stage_view_follows_the_set_scrolls_notes_and_latches_faults() {
    let jack = JackServer::start(&unique_name("stage"), 256);
    std::env::set_var("JACK_DEFAULT_SERVER", &jack.name);
    let dir = tempfile::tempdir().unwrap();
    let set = write_set(dir.path());
    let keys = MidiSender::open(&jack.name, "keys");
    let show = LoadedShow::load(&Show::Setlist(set)).unwrap();
    let name = unique_name("stage-ui");
    let runtime = Runtime::start(
        &show,
        &AudioChoice::Live {
            backend: Some(BackendKind::Jack),
            options: StreamOptions {
                name: name.clone(),
                connect: vec!["none".into()],
                midi_in: vec!["keys:out".into()],
                ..StreamOptions::default()
            },
        },
    )
    .unwrap();
    let (engine, mut h) = kit::window_on(runtime, dir.path().join("p.toml"), 1280.0, 720.0);
    h.state_mut().set_stage(true);
    kit::settle(&mut h);
    h.get_by_label("Opener");
    h.get_by_label("Ballad");
    h.get_by_label("Count in: 4 bars");
    h.get_by_label("100 BPM");

    // The Opener's broken rack puts out NaN after 0.1 s: FAULT lights, and
    // stays lit, whatever else happens, until acknowledged.
    until(Duration::from_secs(10), "the FAULT light", || {
        h.step();
        h.query_by_label("broken: Stagerack Bad NaN").is_some()
    });

    // Program change 1 (sent again until the new connection carries it):
    // the engine switches; the very next frame shows Ballad and Closer.
    let current = |e: &kit::Engine| e.borrow().session().unwrap().current_group();
    until(Duration::from_secs(15), "the switch to Ballad", || {
        keys.send(&[0xC0, 1]);
        std::thread::sleep(Duration::from_millis(30));
        current(&engine) == 1
    });
    h.step();
    h.get_by_label("Ballad");
    h.get_by_label("Closer");
    assert!(h.query_by_label("Opener").is_none(), "Opener is gone");
    h.get_by_label("Previous: Opener");

    // CC 4 scrolls the notes: the end, the top, half way.
    let mut scroll_to = |value: u8| -> (f32, f32) {
        let engine = engine.clone();
        until(Duration::from_secs(10), "the notes controller", || {
            keys.send(&[0xB0, 4, value]);
            std::thread::sleep(Duration::from_millis(30));
            engine.borrow().session().unwrap().notes_scroll() == Some(value)
        });
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(10));
            h.step();
        }
        h.state().notes_scroll()
    };
    let (end, max) = scroll_to(127);
    assert!(max > 200.0, "the notes scroll ({max} points)");
    assert!(
        (end - max).abs() < 1.0,
        "CC 127 scrolls to the end: {end} of {max}"
    );
    let (top, _) = scroll_to(0);
    assert!(top.abs() < 1.0, "CC 0 scrolls to the top: {top}");
    let (half, _) = scroll_to(64);
    assert!(
        (half - max * 64.0 / 127.0).abs() < 2.0,
        "CC 64 scrolls half way: {half} of {max}"
    );

    // Still lit after all that; Acknowledge turns it off.
    h.get_by_label("broken: Stagerack Bad NaN");
    h.get_by_label("Acknowledge").click();
    kit::settle(&mut h);
    assert!(
        h.query_by_label("broken: Stagerack Bad NaN").is_none(),
        "acknowledged"
    );

    // A tap on an entry jumps there.
    h.get_by_label("3. Closer").click();
    until(Duration::from_secs(5), "the jump to Closer", || {
        h.step();
        current(&engine) == 2
    });
    kit::settle(&mut h);
    h.get_by_label("Closer");
    h.get_by_label("— end of set —");

    drop(h);
    engine.borrow_mut().shutdown();
}
