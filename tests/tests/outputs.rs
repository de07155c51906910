//! Named outputs (#17): `[[output]]` FOH on channels 1–2, IEM on 3–4 and a
//! mono `click` on 5. Three probe racks, each on its own MIDI channel:
//! `keys` plays to FOH and sends to IEM at -6 dB after its fader; `bass`
//! plays to IEM at -20 dB and sends to FOH before its fader (so at 0 dB);
//! `count` plays to the mono click output. Offline, each channel of the
//! render holds exactly the racks routed there, at their levels; muting a
//! rack silences its pre-fader send too; muting an output silences it
//! alone. Live, on a private JACK server, the same preset registers one
//! port per channel (`FOH_L` … `click`), and a recorder connected to each
//! finds every rack where it was routed.

mod clap_support;

use std::time::Duration;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack_tests::jack::{open_client, unique_name, JackServer, PortPeaks};

fn outputs_preset(extra_bass: &str, extra_iem: &str) -> String {
    let probe = format!(
        "[[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.probe\"\npath = \"{}\"\n",
        bundle("stagerack-probe").display()
    );
    format!(
        "version = 1\nname = \"stage\"\n\
         [[output]]\nname = \"FOH\"\nchannels = [1, 2]\n\
         [[output]]\nname = \"IEM\"\nchannels = [3, 4]\n{extra_iem}\
         [[output]]\nname = \"click\"\nchannels = [5]\n\
         [[rack]]\nname = \"keys\"\nchannels = [1]\nsends = {{ IEM = -6.0 }}\n{probe}\
         [[rack]]\nname = \"bass\"\nchannels = [2]\noutput = \"IEM\"\ngain_db = -20.0\n\
         sends = {{ FOH = {{ db = 0.0, pre = true }} }}\n{extra_bass}{probe}\
         [[rack]]\nname = \"count\"\nchannels = [10]\noutput = \"click\"\n{probe}"
    )
}

fn note(frame: u64, channel: u8) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::NoteOn {
            channel,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    }
}

fn db(x: f64) -> f32 {
    10f64.powf(x / 20.0) as f32
}

/// Each channel's impulses: (frame, height).
fn channels(out: &stagerack::io::offline::Rendered) -> Vec<Vec<(usize, f32)>> {
    (0..out.channels())
        .map(|c| stagerack_tests::nonzero_samples(out.channel(c).unwrap()))
        .collect()
}

fn assert_levels(got: &[Vec<(usize, f32)>], want: &[Vec<(usize, f32)>]) {
    assert_eq!(got.len(), want.len(), "channels: {got:?}");
    for (c, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.iter().map(|x| x.0).collect::<Vec<_>>(),
            w.iter().map(|x| x.0).collect::<Vec<_>>(),
            "channel {}: {g:?}",
            c + 1
        );
        for ((_, a), (_, b)) in g.iter().zip(w) {
            assert!((a - b).abs() < 1e-5, "channel {}: {g:?} not {w:?}", c + 1);
        }
    }
}

#[test]
fn each_rack_reaches_the_outputs_it_is_routed_and_sent_to() {
    let (mut s, mut e) = session(&preset(&outputs_preset("", "")), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = render(
        &mut s,
        &mut e,
        &[note(10, 0), note(20, 1), note(30, 9)],
        None,
        64,
        256,
    );
    let keys_to_iem = db(-6.0);
    let bass = db(-20.0);
    assert_levels(
        &channels(&out),
        &[
            vec![(10, 1.0), (20, 1.0)],
            vec![(10, 1.0), (20, 1.0)],
            vec![(10, keys_to_iem), (20, bass)],
            vec![(10, keys_to_iem), (20, bass)],
            vec![(30, 1.0)],
        ],
    );
    s.shutdown(e);
}

#[test]
fn mute_silences_a_rack_and_its_pre_fader_send_and_an_output_alone() {
    let (mut s, mut e) = session(&preset(&outputs_preset("mute = true\n", "")), 64);
    let out = render(&mut s, &mut e, &[note(10, 0), note(20, 1)], None, 64, 256);
    let keys_to_iem = db(-6.0);
    assert_levels(
        &channels(&out),
        &[
            vec![(10, 1.0)],
            vec![(10, 1.0)],
            vec![(10, keys_to_iem)],
            vec![(10, keys_to_iem)],
            vec![],
        ],
    );
    s.shutdown(e);
    let (mut s, mut e) = session(&preset(&outputs_preset("", "mute = true\n")), 64);
    let out = render(&mut s, &mut e, &[note(10, 0), note(20, 1)], None, 64, 256);
    assert_levels(
        &channels(&out),
        &[
            vec![(10, 1.0), (20, 1.0)],
            vec![(10, 1.0), (20, 1.0)],
            vec![],
            vec![],
            vec![],
        ],
    );
    s.shutdown(e);
}

#[test]
fn unknown_outputs_are_refused_by_name() {
    let bad = outputs_preset("", "").replace("output = \"IEM\"", "output = \"monitors\"");
    let err = stagerack::preset::parse_preset(&bad, std::path::Path::new("stage.toml"))
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("rack `bass`: output names output `monitors`")
            && err.contains("use one of: FOH, IEM, click"),
        "{err}"
    );
    let twice = outputs_preset("", "").replace("name = \"click\"", "name = \"IEM\"");
    let err = stagerack::preset::parse_preset(&twice, std::path::Path::new("stage.toml"))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("two outputs are called `IEM`"), "{err}");
}

#[test]
fn jack_ports_per_output_channel_carry_each_rack_where_it_was_routed() {
    let server = JackServer::start(&unique_name("outputs"), 64);
    let watch = open_client(&server.name, "tt-watch");
    let mut sr = stagerack_tests::jack::Stagerack::play_preset(
        &server.name,
        &outputs_preset("", ""),
        &watch,
        "stagerack:click",
    );
    let ports = [
        "stagerack:FOH_L",
        "stagerack:FOH_R",
        "stagerack:IEM_L",
        "stagerack:IEM_R",
        "stagerack:click",
    ];
    let rec = PortPeaks::connect(&server.name, "tt-peaks", &ports);
    let midi =
        stagerack_tests::jack::MidiSender::connect(&server.name, "tt-midi", "stagerack:midi_in");
    let (keys_to_iem, bass) = (db(-6.0), db(-20.0));
    // Until a first note comes back, the MIDI connection may not be in
    // JACK's graph yet: play one until it sounds (5 s at most).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        midi.send(&[0x90, 60, 127]);
        std::thread::sleep(Duration::from_millis(200));
        midi.send(&[0x80, 60, 0]);
        if rec.take()[0].1 > 0.0 {
            break;
        }
    }
    for (channel, want) in [
        (0u8, [1.0, 1.0, keys_to_iem, keys_to_iem, 0.0]),
        (1, [1.0, 1.0, bass, bass, 0.0]),
        (9, [0.0, 0.0, 0.0, 0.0, 1.0]),
    ] {
        std::thread::sleep(Duration::from_millis(100));
        let _ = rec.take();
        midi.send(&[0x90 | channel, 60, 127]);
        // Its peaks: read once something sounded and a little more passed.
        let mut got = Vec::new();
        // A note lost to a stalled JACK cycle is played again (a probe's
        // impulse is the same each time), for 10 s at most.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut tries = 0u32;
        while std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            tries += 1;
            if tries % 5 == 0 && got.iter().all(|(_, p)| *p == 0.0) {
                midi.send(&[0x80 | channel, 60, 0]);
                midi.send(&[0x90 | channel, 60, 127]);
            }
            let now = rec.take();
            got = if got.is_empty() {
                now
            } else {
                got.iter()
                    .zip(now)
                    .map(|((n, a), (_, b))| (n.clone(), a.max(b)))
                    .collect()
            };
            if got.iter().any(|(_, p)| *p > 0.0) {
                std::thread::sleep(Duration::from_millis(100));
                for ((_, a), (_, b)) in got.iter_mut().zip(rec.take()) {
                    *a = a.max(b);
                }
                break;
            }
        }
        midi.send(&[0x80 | channel, 60, 0]);
        for ((port, peak), w) in got.iter().zip(want) {
            assert!(
                (peak - w).abs() < 1e-4,
                "MIDI channel {}: {port} peaked at {peak}, not {w}: {got:?}; stderr:\n{}",
                channel + 1,
                sr.stderr()
            );
        }
    }
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}

const RIG: &str = "[[output]]\nname = \"FOH\"\nchannels = [1, 2]\n\
                   [[output]]\nname = \"IEM\"\nchannels = [3, 4]\n";

fn rig_song(name: &str, rig_line: &str) -> String {
    format!(
        "version = 1\nname = \"{name}\"\n{rig_line}\
         [[rack]]\nname = \"keys\"\noutput = \"IEM\"\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n"
    )
}

/// A shared rig file: a preset naming it plays on its outputs (a venue
/// change edits one file), keeps naming it when saved (its lists are not
/// copied in), and a setlist's rig serves every entry without its own;
/// a rig file that is missing is refused by name.
#[test]
fn presets_and_setlists_take_their_outputs_from_a_rig_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rig.toml"), RIG).unwrap();
    let song = dir.path().join("song.toml");
    std::fs::write(&song, rig_song("song", "rig = \"rig.toml\"\n")).unwrap();
    let preset = stagerack::preset::load_preset(&song).unwrap();
    let (mut s, mut e) = session(&preset, 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = render(&mut s, &mut e, &[note(10, 0)], None, 64, 128);
    assert_levels(
        &channels(&out),
        &[vec![], vec![], vec![(10, 1.0)], vec![(10, 1.0)]],
    );
    let saved = dir.path().join("saved.toml");
    stagerack::preset::save_atomically(&s.to_preset().unwrap(), &saved).unwrap();
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        text.contains("rig = \"rig.toml\"") && !text.contains("[[output]]"),
        "{text}"
    );
    s.shutdown(e);

    // A setlist's rig: its entries name none of their own.
    std::fs::write(dir.path().join("plain.toml"), rig_song("plain", "")).unwrap();
    let set = dir.path().join("set.toml");
    std::fs::write(
        &set,
        "version = 1\nname = \"set\"\nrig = \"rig.toml\"\n[[entry]]\npreset = \"plain.toml\"\n",
    )
    .unwrap();
    let loaded = stagerack::preset::load_setlist(&set).unwrap();
    let names: Vec<&str> = loaded.presets[0]
        .stage_outputs()
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["FOH", "IEM"]);
    // Alone, the entry's `output = "IEM"` names nothing.
    let alone = stagerack::preset::load_preset(&dir.path().join("plain.toml"))
        .expect_err("no IEM without the rig")
        .to_string();
    assert!(alone.contains("output names output `IEM`"), "{alone}");
    std::fs::write(&song, rig_song("song", "rig = \"venue.toml\"\n")).unwrap();
    let missing = stagerack::preset::load_preset(&song)
        .expect_err("a missing rig is refused")
        .to_string();
    assert!(missing.contains("venue.toml"), "{missing}");
}

/// A setlist plays on its first preset's outputs: a later entry routing to
/// an output (or taking an input) only it defines is refused at load,
/// naming the entry's file and line and the stage's outputs, instead of
/// playing somewhere else than written.
#[test]
fn a_setlist_entry_routing_off_the_stage_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("first.toml"), rig_song("first", RIG)).unwrap();
    std::fs::write(
        dir.path().join("second.toml"),
        rig_song(
            "second",
            "[[output]]\nname = \"monitors\"\nchannels = [5, 6]\n",
        )
        .replace("output = \"IEM\"", "output = \"monitors\""),
    )
    .unwrap();
    let set = dir.path().join("set.toml");
    std::fs::write(
        &set,
        "version = 1\nname = \"set\"\n[[entry]]\npreset = \"first.toml\"\n\
         [[entry]]\npreset = \"second.toml\"\n",
    )
    .unwrap();
    let err = stagerack::preset::load_setlist(&set)
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("second.toml:")
            && err.contains("rack `keys`: output `monitors` is not on this setlist's stage")
            && err.contains("first.toml: FOH, IEM"),
        "{err}"
    );
}
