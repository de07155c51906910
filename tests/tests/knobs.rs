//! Hardware knobs on "the current page of a plugin's main controls" (#16,
//! `[rack.controls]`): `Stagerack Kit`'s CLAP remote-controls pages (`Kit /
//! Main`: level, tone; `Kit / Tone`: tone). Knob 1 moves the current
//! page's first control on its exact sample; the next/previous-page
//! controllers turn the page, so the same knob then moves another
//! parameter; the snapshot (what the window shows) names the page and its
//! knobs. A plugin without pages of its own (the built-in synth) is paged
//! through its parameters eight at a time. In process and sandboxed.

mod clap_support;
mod vst3_common;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

fn knobs_preset(rack: &str) -> String {
    format!(
        "version = 1\nname = \"knobs\"\n\
         [[rack]]\nname = \"Drums\"\n{rack}\
         [rack.controls]\ncc = [21, 22]\nnext_page = 31\nprevious_page = 30\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.kit\"\npath = \"{}\"\n",
        bundle("stagerack-kit").display()
    )
}

fn cc(frame: u64, controller: u8, value: u8) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::ControlChange {
            channel: 0,
            controller,
            value,
        },
    }
}

/// The kit's level and tone, from its state text.
fn level_and_tone(s: &mut stagerack::session::Session) -> String {
    let bytes = s.plugin_mut(0, 0).unwrap().save_state().unwrap();
    let text = String::from_utf8(bytes).unwrap();
    text.rsplit_once(";level=")
        .map(|(_, rest)| format!("level={rest}"))
        .unwrap_or(text)
}

fn knobs(s: &stagerack::session::Session) -> stagerack::control::protocol::KnobsSnapshot {
    stagerack::control::snapshot(s).racks[0]
        .knobs
        .clone()
        .expect("the rack has knobs")
}

fn pages_turn(rack: &str) {
    let (mut s, mut e) = session(&preset(&knobs_preset(rack)), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    if rack.contains("sandbox") {
        stagerack_tests::assert_sandboxes_running();
    }
    let k = knobs(&s);
    assert_eq!((k.plugin, k.page, k.pages), (0, 0, 2));
    assert_eq!(k.page_name, "Kit / Main");
    assert_eq!(k.knobs, ["level", "tone"]);

    // Page 1: knob 1 is level, knob 2 tone.
    let _ = render(
        &mut s,
        &mut e,
        &[cc(10, 21, 0), cc(11, 22, 127)],
        None,
        64,
        64,
    );
    assert_eq!(level_and_tone(&mut s), "level=0;tone=1");
    // The next page: knob 1 is tone now, from the sample the page turned.
    let _ = render(
        &mut s,
        &mut e,
        &[cc(3, 31, 127), cc(4, 21, 0)],
        None,
        64,
        64,
    );
    assert_eq!(level_and_tone(&mut s), "level=0;tone=0");
    let k = knobs(&s);
    assert_eq!((k.page, k.page_name.as_str()), (1, "Kit / Tone"));
    assert_eq!(k.knobs, ["tone", ""]);
    // Past the last page it stays; back a page, knob 1 is level again.
    let _ = render(
        &mut s,
        &mut e,
        &[cc(1, 31, 127), cc(2, 30, 127), cc(5, 21, 127)],
        None,
        64,
        64,
    );
    assert_eq!(level_and_tone(&mut s), "level=1;tone=0");
    assert_eq!(knobs(&s).page, 0);
    s.shutdown(e);
}

#[test]
fn knobs_follow_the_current_page_of_the_kits_remote_controls() {
    pages_turn("");
}

#[test]
fn knobs_follow_a_sandboxed_kits_pages_too() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    pages_turn("sandbox = \"plugin\"\n");
}

#[test]
fn a_plugin_without_pages_is_paged_eight_parameters_at_a_time() {
    let text = "version = 1\nname = \"synth\"\n[[rack]]\nname = \"keys\"\n\
                [rack.controls]\ncc = [21, 22, 23, 24, 25, 26, 27, 28]\n\
                [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n";
    let (s, e) = session(&preset(text), 64);
    let params = stagerack::control::snapshot(&s).racks[0].plugins[0]
        .params
        .clone();
    let k = knobs(&s);
    assert_eq!(k.page_name, "Parameters 1");
    assert_eq!(k.pages, params.len().div_ceil(8));
    let first: Vec<String> = params.iter().take(8).map(|p| p.name.clone()).collect();
    assert_eq!(k.knobs, first);
    s.shutdown(e);
}

/// A page turned from MIDI reaches control clients (the window) at once:
/// the server sends a fresh state naming the new page, unasked.
#[test]
fn a_page_turn_is_pushed_to_control_clients() {
    use stagerack::control::{ControlServer, Reply};
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctl.sock");
    let (mut s, mut e) = session(&preset(&knobs_preset("")), 64);
    let mut server = ControlServer::new();
    server.listen(&path).unwrap();
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    client
        .write_all(b"{\"id\":1,\"cmd\":\"hello\",\"version\":1,\"client\":\"t\"}\n")
        .unwrap();
    let events = [cc(4_800, 31, 127)];
    let job = stagerack::io::offline::OfflineJob {
        events: &events,
        input: None,
        block: 64,
        min_frames: 9_600,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let _ = stagerack::io::offline::render_offline(&mut e, &job, |_| {
        s.pump();
        server.poll(&mut s);
    });
    let mut pushed = None;
    let mut line = String::new();
    while pushed.is_none() && reader.read_line(&mut line).unwrap_or(0) > 0 {
        if let Ok(Reply::State { id: 0, state }) = serde_json::from_str::<Reply>(&line) {
            pushed = state.racks[0].knobs.clone();
        }
        line.clear();
    }
    let knobs = pushed.expect("a state pushed after the page turned");
    assert_eq!((knobs.page, knobs.page_name.as_str()), (1, "Kit / Tone"));
    s.shutdown(e);
}

/// MIDI learn of the first knob: the first controller moved after
/// `start_knob_learn` becomes knob 1, the next numbers knob 2; the knobs
/// then move the kit's current page, and a save writes `[rack.controls]`.
#[test]
fn learning_the_first_knob_numbers_the_bank_from_it() {
    let text = format!(
        "version = 1\nname = \"knobs\"\n\
         [[rack]]\nname = \"Drums\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.kit\"\npath = \"{}\"\n",
        bundle("stagerack-kit").display()
    );
    let (mut s, mut e) = session(&preset(&text), 64);
    assert!(stagerack::control::snapshot(&s).racks[0].knobs.is_none());
    s.start_knob_learn(0, 2).expect("learn the knobs");
    let _ = render(&mut s, &mut e, &[cc(5, 40, 64)], None, 64, 128);
    assert_eq!(
        s.take_learned().as_deref(),
        Some("CC 40–41 → the knobs of rack `Drums`")
    );
    assert_eq!(s.racks()[0].def.controls.as_ref().unwrap().cc, [40, 41]);
    let k = knobs(&s);
    assert_eq!(k.knobs, ["level", "tone"]);
    let _ = render(
        &mut s,
        &mut e,
        &[cc(3, 40, 0), cc(4, 41, 127)],
        None,
        64,
        64,
    );
    assert_eq!(level_and_tone(&mut s), "level=0;tone=1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("learned.toml");
    stagerack::preset::save_atomically(&s.to_preset().unwrap(), &file).unwrap();
    let saved = stagerack::preset::load_preset(&file).unwrap();
    assert_eq!(saved.racks[0].controls.as_ref().unwrap().cc, [40, 41]);
    assert!(s.start_knob_learn(0, 9).is_err(), "9 knobs are refused");
    s.shutdown(e);
}

/// VST3 pages: the probe's `IUnitInfo` unit "Output" (holding `level`) is
/// its one page; the VST3 gain has no units, so its knobs go through its
/// automatable parameters: `gain`, not `latency` (not `kCanAutomate`).
/// The probe in process and sandboxed.
#[test]
fn vst3_knobs_follow_units_else_the_automatable_parameters() {
    let _main = vst3_common::main_thread_lock();
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    for (name, extra, page, names) in [
        ("Stagerack VST3 Probe", "", "Output", vec!["level"]),
        (
            "Stagerack VST3 Probe",
            "sandbox = \"plugin\"\n",
            "Output",
            vec!["level"],
        ),
        ("Stagerack VST3 Gain", "", "Parameters 1", vec!["gain"]),
    ] {
        let bundle = vst3_common::own_bundle(name);
        let id = vst3_common::class_of(&bundle).id;
        let text = format!(
            "version = 1\nname = \"vst3 knobs\"\n[[rack]]\nname = \"r\"\n{extra}\
             [rack.controls]\ncc = [21, 22]\n\
             [[rack.plugin]]\nformat = \"vst3\"\nid = \"{id}\"\npath = \"{}\"\n",
            bundle.display()
        );
        let (mut s, mut e) = session(&preset(&text), 64);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        if !extra.is_empty() {
            stagerack_tests::assert_sandboxes_running();
        }
        let k = knobs(&s);
        assert_eq!((k.page_name.as_str(), k.pages), (page, 1), "{name} {extra}");
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.resize(2, String::new());
        assert_eq!(k.knobs, want, "{name} {extra}");
        // Knob 1 moves it, on its page.
        let _ = render(&mut s, &mut e, &[cc(3, 21, 0)], None, 64, 128);
        let value = |s: &stagerack::session::Session| {
            stagerack::control::snapshot(s).racks[0].plugins[0]
                .params
                .iter()
                .find(|p| p.name == names[0])
                .map(|p| p.value)
        };
        // A sandbox child reports its values with its next pump.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while value(&s) != Some(0.0) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let _ = render(&mut s, &mut e, &[], None, 64, 64);
        }
        assert_eq!(value(&s), Some(0.0), "{name} {extra}");
        s.shutdown(e);
    }
}
