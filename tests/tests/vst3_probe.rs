//! stagerack's own VST3 plugins (built by `cargo xtask bundle-vst3`) loaded
//! from disk through the real loader: note and parameter timing to the
//! sample at several block sizes, MIDI CC mapping, state through a saved
//! preset, and clear errors for broken references while the rest plays.

mod vst3_common;
use std::path::Path;

use stagerack::engine::alloc_guard::no_alloc;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::{Event, EventBuffer, TimedEvent};
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{Block, PluginKind, ProcessConfig, Transport};
use stagerack::preset::{parse_preset, save_atomically};
use stagerack::session::Session;
use vst3_common::*;

const ONSETS: [u64; 6] = [0, 1, 63, 64, 65, 1000];
const BLOCKS: [usize; 4] = [1, 7, 64, 512];

fn probe() -> (std::path::PathBuf, String) {
    let b = own_bundle("Stagerack VST3 Probe");
    let id = class_of(&b).id;
    (b, id)
}

fn gain() -> (std::path::PathBuf, String) {
    let b = own_bundle("Stagerack VST3 Gain");
    let id = class_of(&b).id;
    (b, id)
}

/// One 64-frame block with a full-velocity note-on at `frame`.
fn one_note(
    engine: &mut stagerack::engine::Engine,
    session: &mut Session,
    frame: u64,
) -> stagerack::io::offline::Rendered {
    render(engine, session, &[note_on(frame, 60, 127)], None, 64, 64)
}

#[test]
fn bundles_list_one_class_each_with_the_right_kind() {
    let _main = main_thread_lock();
    let (pb, _) = probe();
    let (gb, _) = gain();
    let p = stagerack::plugin::vst3::list_vst3_classes(&pb).unwrap();
    let g = stagerack::plugin::vst3::list_vst3_classes(&gb).unwrap();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(g.len(), 1, "{g:?}");
    let bad =
        stagerack::plugin::vst3::list_vst3_classes(&own_bundle("Stagerack VST3 Bad")).unwrap();
    let names: Vec<&str> = bad.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Stagerack VST3 Bad Initialize",
            "Stagerack VST3 Bad Activate",
            "Stagerack VST3 Bad Process",
            "Stagerack VST3 Sliced Probe",
            "Stagerack VST3 Crash On Note",
            "Stagerack VST3 Two Out"
        ]
    );
    assert_eq!(p[0].name, "Stagerack VST3 Probe");
    assert_eq!(p[0].kind, PluginKind::Instrument);
    assert_eq!(p[0].vendor, "stagerack");
    assert_eq!(g[0].name, "Stagerack VST3 Gain");
    assert_eq!(g[0].kind, PluginKind::Effect);
}

#[test]
fn probe_note_ons_land_on_their_exact_sample_for_every_block_size() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    for block in BLOCKS {
        let (mut session, mut engine) =
            Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(block), true).unwrap();
        assert!(session.warnings().is_empty(), "{:?}", session.warnings());
        let events: Vec<_> = ONSETS
            .iter()
            .enumerate()
            .map(|(i, &f)| note_on(f, 60 + i as u8, 20 + 10 * i as u8))
            .collect();
        let out = render(&mut engine, &mut session, &events, None, block, 2048);
        assert_eq!(out.left.len(), 2048);
        for (i, (&l, &r)) in out.left.iter().zip(&out.right).enumerate() {
            let expected = ONSETS
                .iter()
                .position(|&f| f == i as u64)
                .map_or(0.0, |k| f32::from(20 + 10 * k as u8) / 127.0);
            assert_eq!(l, expected, "block {block}: left sample {i}");
            assert_eq!(r, expected, "block {block}: right sample {i}");
        }
        session.shutdown(engine);
    }
}

/// Drives a processor directly (as the engine does) with events at absolute
/// frames, under the allocation guard.
fn drive_direct(
    bundle: &Path,
    id: &str,
    events: &[(u64, Event)],
    input: Option<&[f32]>,
    block: usize,
    frames: usize,
) -> Vec<f32> {
    let def = preset(&vst3_preset(id, bundle, "")).racks[0].plugins[0].clone();
    let mut inst = load_plugin(&def).unwrap();
    let config = ProcessConfig {
        sample_rate: 48_000.0,
        min_block: 1,
        max_block: block as u32,
        offline: true,
        aux_outputs: 0,
    };
    let mut p = inst.activate(&config).unwrap();
    let mut out = vec![0.0f32; frames];
    let mut l = vec![0.0f32; block];
    let mut r = vec![0.0f32; block];
    let mut evs: Vec<TimedEvent> = Vec::with_capacity(events.len());
    let mut out_events = EventBuffer::with_capacity(64);
    let mut pos = 0usize;
    while pos < frames {
        let n = block.min(frames - pos);
        evs.clear();
        for &(f, e) in events {
            if (pos as u64..(pos + n) as u64).contains(&f) {
                evs.push(TimedEvent::new((f - pos as u64) as u32, e));
            }
        }
        for i in 0..n {
            let v = input.map_or(0.0, |x| x[pos + i]);
            l[i] = v;
            r[i] = v;
        }
        let transport = Transport {
            tempo: 120.0,
            playing: true,
            steady_frames: pos as u64,
            sample_rate: 48_000.0,
            wait_until: None,
        };
        no_alloc(|| {
            let mut b = Block {
                frames: n,
                left: &mut l[..n],
                right: &mut r[..n],
                events: &evs,
                out_events: &mut out_events,
                transport: &transport,
            };
            p.process(&mut b);
        });
        assert_eq!(l[..n], r[..n]);
        out[pos..pos + n].copy_from_slice(&l[..n]);
        pos += n;
    }
    no_alloc(|| p.stop());
    inst.deactivate(p);
    out
}

#[test]
fn probe_level_changes_apply_from_their_exact_sample_for_every_block_size() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let on = |vel: f32| Event::NoteOn {
        channel: 0,
        key: 60,
        velocity: vel,
        note_id: -1,
    };
    let level = |v: f64| Event::ParamValue { param: 0, value: v };
    // Level drops to 0.5 at 64, to 0.25 at 65, back to 1 at 999.
    let mut events = vec![(64, level(0.5)), (65, level(0.25)), (999, level(1.0))];
    events.extend(ONSETS.iter().map(|&f| (f, on(1.0))));
    events.sort_by_key(|e| e.0);
    for block in BLOCKS {
        let out = drive_direct(&bundle, &id, &events, None, block, 1100);
        let expect = |f: usize| match f {
            0 | 1 | 63 => 1.0,
            64 => 0.5,
            65 => 0.25,
            1000 => 1.0,
            _ => 0.0,
        };
        for (i, &s) in out.iter().enumerate() {
            assert_eq!(s, expect(i), "block {block}: sample {i}");
        }
    }
}

#[test]
fn gain_cc7_maps_to_the_gain_parameter_on_its_exact_sample() {
    let _main = main_thread_lock();
    let (bundle, id) = gain();
    let ones = vec![0.5f32; 1200];
    for block in BLOCKS {
        let (mut session, mut engine) =
            Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(block), true).unwrap();
        assert!(session.warnings().is_empty(), "{:?}", session.warnings());
        let events = [SampleEvent {
            frame: 100,
            event: Event::ControlChange {
                channel: 0,
                controller: 7,
                value: 0,
            },
        }];
        let out = render(
            &mut engine,
            &mut session,
            &events,
            Some([&ones, &ones]),
            block,
            1200,
        );
        // Default 0 dB before, -60 dB (CC 0 → normalized 0) from frame 100.
        let quiet = 0.5 * 10f32.powf(-3.0);
        for (i, &s) in out.left.iter().enumerate() {
            let want = if i < 100 { 0.5 } else { quiet };
            assert!(
                (s - want).abs() < 1e-6,
                "block {block}: sample {i} = {s}, want {want}"
            );
        }
        session.shutdown(engine);
    }
}

#[test]
fn gain_params_text_and_single_component_controller() {
    let _main = main_thread_lock();
    let (bundle, id) = gain();
    let def = preset(&vst3_preset(&id, &bundle, "")).racks[0].plugins[0].clone();
    let mut inst = load_plugin(&def).unwrap();
    let params = inst.params();
    assert_eq!(params.len(), 2);
    assert_eq!(params[0].name, "gain");
    assert_eq!(params[1].name, "latency");
    assert_eq!((params[0].min, params[0].max), (0.0, 1.0));
    assert!((params[0].default - 60.0 / 72.0).abs() < 1e-12);
    assert_eq!(inst.param_text(0, 0.5).as_deref(), Some("-24.0 dB"));
    inst.set_param(0, 0.25).unwrap();
    assert_eq!(inst.param_value(0), Some(0.25));
    assert!(inst.set_param(7, 0.1).is_err());
}

#[test]
fn state_round_trips_through_a_saved_preset() {
    let _main = main_thread_lock();
    let (pbundle, pid) = probe();
    let (gbundle, gid) = gain();
    let text = format!(
        r#"
version = 1
name = "state"
[[rack]]
name = "probe"
[[rack.plugin]]
format = "vst3"
id = "{pid}"
path = "{}"
params = {{ level = 0.5 }}
[[rack.plugin]]
format = "vst3"
id = "{gid}"
path = "{}"
params = {{ gain = 0.75 }}
"#,
        pbundle.display(),
        gbundle.display()
    );
    let events: Vec<_> = ONSETS.iter().map(|&f| note_on(f, 60, 127)).collect();
    let (mut session, mut engine) = Session::new(&preset(&text), config(64), true).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    let first = render(&mut engine, &mut session, &events, None, 64, 2048);
    let expected = 0.5 * 10f32.powf((-60.0 + 72.0 * 0.75) / 20.0);
    assert!(
        (first.left[64] - expected).abs() < 1e-6,
        "{}",
        first.left[64]
    );
    let saved = session.to_preset().unwrap();
    session.shutdown(engine);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.toml");
    save_atomically(&saved, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("state = "), "{text}");
    let reloaded = parse_preset(&text, &path).unwrap();
    // No parameter values in the saved file: everything comes from state.
    assert!(reloaded.racks[0]
        .plugins
        .iter()
        .all(|p| p.params.is_empty()));
    let (mut session, mut engine) = Session::new(&reloaded, config(64), true).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    let second = render(&mut engine, &mut session, &events, None, 64, 2048);
    assert_eq!(first, second);
    session.shutdown(engine);
}

#[test]
fn broken_vst3_references_are_left_out_with_clear_errors_and_the_rest_plays() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let dir = tempfile::tempdir().unwrap();
    // A bundle with no binary for this platform.
    let empty = dir.path().join("Empty.vst3");
    std::fs::create_dir_all(empty.join("Contents/x86_64-win")).unwrap();
    // A bundle whose binary is a library but not a VST3 plugin.
    let fake = dir.path().join("Fake.vst3");
    let fake_dir = fake.join("Contents/x86_64-linux");
    std::fs::create_dir_all(&fake_dir).unwrap();
    let libc_so = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libm.so.6 for the fake bundle");
    std::fs::copy(libc_so, fake_dir.join("Fake.so")).unwrap();
    let missing = dir.path().join("Missing.vst3");
    let plug = |id: &str, path: &Path| {
        format!(
            "[[rack]]\nname = \"r\"\n[[rack.plugin]]\nformat = \"vst3\"\nid = \"{id}\"\npath = \"{}\"\n",
            path.display()
        )
    };
    let other = "00112233445566778899AABBCCDDEEFF";
    let text = format!(
        "version = 1\nname = \"bad\"\n{}{}{}{}{}",
        plug(&id, &missing),
        plug(&id, &empty),
        plug(&id, &fake),
        plug(other, &bundle),
        plug(&id, &bundle),
    );
    std::env::set_var("VST3_PATH", dir.path());
    let (mut session, mut engine) = Session::new(&preset(&text), config(64), true).unwrap();
    std::env::remove_var("VST3_PATH");
    let w = session.warnings().join("\n");
    assert_eq!(session.warnings().len(), 4, "{w}");
    assert!(
        w.contains(&format!("{} does not exist", missing.display())),
        "{w}"
    );
    assert!(
        w.contains("has no binary for this platform") && w.contains("Empty.vst3"),
        "{w}"
    );
    assert!(
        w.contains("has no plugin factory") && w.contains("Fake.vst3"),
        "{w}"
    );
    assert!(
        w.contains(&format!("VST3 class {other} was not found")),
        "{w}"
    );
    let events = [note_on(10, 60, 127)];
    let out = render(&mut engine, &mut session, &events, None, 64, 128);
    assert_eq!(out.left[10], 1.0, "the good rack plays");
    session.shutdown(engine);
}

#[test]
fn failing_setup_and_rejected_state_are_reported_and_the_rest_plays() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    // A level of 2.0 is outside the probe's range: setState refuses it.
    let mut bad_state = b"SRV3\x01".to_vec();
    bad_state.extend_from_slice(&8u32.to_le_bytes());
    bad_state.extend_from_slice(&2.0f64.to_le_bytes());
    bad_state.extend_from_slice(&0u32.to_le_bytes());
    let text = format!(
        r#"
version = 1
name = "failures"
[[rack]]
name = "bad state"
[[rack.plugin]]
format = "vst3"
id = "{id}"
path = "{b}"
[[rack]]
name = "vst3 probe"
[[rack.plugin]]
format = "vst3"
id = "{id}"
path = "{b}"
[[rack]]
name = "builtin"
[[rack.plugin]]
format = "builtin"
id = "probe"
"#,
        b = bundle.display()
    );
    let mut p = preset(&text);
    p.racks[0].plugins[0].set_state_bytes(&bad_state);
    // At 48 kHz: the bad state is reported, both good racks play.
    let (mut session, mut engine) = Session::new(&p, config(64), true).unwrap();
    // Two full-scale impulses on one sample: sum them without the safety limiter.
    session.handle().set_safety_limiter(false);
    let w = session.warnings().join("\n");
    assert_eq!(session.warnings().len(), 1, "{w}");
    assert!(
        w.contains("rejected its saved state") && w.contains("IComponent::setState"),
        "{w}"
    );
    let out = one_note(&mut engine, &mut session, 5);
    assert_eq!(out.left[5], 2.0, "VST3 probe + builtin probe");
    session.shutdown(engine);

    // At 384 kHz the VST3 probe refuses setupProcessing: reported, the
    // built-in still plays.
    let mut cfg = config(64);
    cfg.sample_rate = 384_000.0;
    let (mut session, mut engine) = Session::new(&p, cfg, true).unwrap();
    let w = session.warnings().join("\n");
    assert!(
        w.contains("setupProcessing failed") && w.contains("Stagerack VST3 Probe"),
        "{w}"
    );
    let out = one_note(&mut engine, &mut session, 5);
    assert_eq!(out.left[5], 1.0, "the built-in probe alone");
    session.shutdown(engine);
}

#[test]
fn gain_aftertouch_sustain_and_pitch_bend_follow_the_midi_mapping() {
    let _main = main_thread_lock();
    let (bundle, id) = gain();
    let x = vec![0.25f32; 300];
    let (mut session, mut engine) =
        Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(7), true).unwrap();
    let events = [
        SampleEvent {
            frame: 50,
            event: Event::ChannelPressure {
                channel: 3,
                value: 127,
            },
        },
        // The sustain pedal released: CC64 → gain 0 through IMidiMapping.
        SampleEvent {
            frame: 120,
            event: Event::ControlChange {
                channel: 5,
                controller: 64,
                value: 0,
            },
        },
        SampleEvent {
            frame: 200,
            event: Event::PitchBend {
                channel: 0,
                value: 0,
            },
        },
        // Pressed again.
        SampleEvent {
            frame: 250,
            event: Event::ControlChange {
                channel: 0,
                controller: 64,
                value: 127,
            },
        },
    ];
    let out = render(&mut engine, &mut session, &events, Some([&x, &x]), 7, 300);
    session.shutdown(engine);
    let db = |n: f32| 0.25 * 10f32.powf((-60.0 + 72.0 * n) / 20.0);
    for (i, &s) in out.left.iter().enumerate() {
        let want = match i {
            0..50 => db(60.0 / 72.0),
            50..120 => db(1.0),
            120..250 => db(0.0),
            _ => db(1.0),
        };
        assert!((s - want).abs() < 1e-6, "sample {i}: {s} want {want}");
    }
}

#[test]
fn two_instances_of_one_bundle_share_the_module_and_outlive_each_other() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let two = format!(
        "{}\n[[rack]]\nname = \"second\"\n[[rack.plugin]]\nformat = \"vst3\"\nid = \"{id}\"\npath = \"{}\"\n",
        vst3_preset(&id, &bundle, ""),
        bundle.display()
    );
    let (mut session, mut engine) = Session::new(&preset(&two), config(64), true).unwrap();
    // Two full-scale impulses on one sample: sum them without the safety limiter.
    session.handle().set_safety_limiter(false);
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    // A scan of the same bundle while both play does not unload it.
    assert_eq!(class_of(&bundle).id, id);
    let out = one_note(&mut engine, &mut session, 3);
    assert_eq!(out.left[3], 2.0);
    session.shutdown(engine);
}

#[test]
fn a_panic_reset_leaves_and_reenters_processing_and_the_probe_still_plays() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let (mut session, mut engine) =
        Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(64), true).unwrap();
    let first = one_note(&mut engine, &mut session, 3);
    assert_eq!(first.left[3], 1.0);
    engine.request_panic();
    let second = one_note(&mut engine, &mut session, 9);
    assert_eq!(second.left[9], 1.0);
    assert_eq!(second.left.iter().filter(|s| **s != 0.0).count(), 1);
    session.shutdown(engine);
}

/// `initialize` and `setActive(true)` refusing: each rack is left out with
/// an error naming the bundle, the class and the call; the instance is
/// released (the module survives for the others) and the rest plays.
#[test]
fn refused_initialize_and_set_active_are_reported_and_the_rest_plays() {
    let _main = main_thread_lock();
    let bad = own_bundle("Stagerack VST3 Bad");
    let classes = stagerack::plugin::vst3::list_vst3_classes(&bad).unwrap();
    let (probe_bundle, probe_id) = probe();
    let mut text = String::from("version = 1\nname = \"refusals\"\n");
    for c in &classes {
        text.push_str(&format!(
            "[[rack]]\nname = \"{}\"\n[[rack.plugin]]\nformat = \"vst3\"\nid = \"{}\"\npath = \"{}\"\n",
            c.name,
            c.id,
            bad.display()
        ));
    }
    text.push_str(&format!(
        "[[rack]]\nname = \"probe\"\n[[rack.plugin]]\nformat = \"vst3\"\nid = \"{probe_id}\"\npath = \"{}\"\n",
        probe_bundle.display()
    ));
    let (mut session, mut engine) = Session::new(&preset(&text), config(64), true).unwrap();
    let w = session.warnings().join("\n");
    eprintln!("{w}");
    // Bad Process loads and activates; it fails only when it plays (see
    // bad_plugins.rs).
    assert_eq!(session.warnings().len(), 2, "{w}");
    assert!(
        w.contains("Stagerack VST3 Bad Initialize")
            && w.contains("initialize")
            && w.contains("Stagerack VST3 Bad.vst3"),
        "{w}"
    );
    assert!(
        w.contains("Stagerack VST3 Bad Activate") && w.contains("setActive"),
        "{w}"
    );
    let out = one_note(&mut engine, &mut session, 9);
    assert_eq!(out.left[9], 1.0, "the VST3 probe rack plays");
    session.shutdown(engine);
}

/// The VST3 probe's output events (each note-on echoed an octave up at half
/// velocity on the same sample) reach the next plugin of the chain: the
/// built-in probe after it sums the note and its echo, 1.0 + 0.5, on
/// exactly the note's sample at every block size.
#[test]
fn vst3_output_events_reach_the_next_plugin_on_their_sample() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let text = format!(
        "{}[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n",
        vst3_preset(&id, &bundle, "")
    );
    for block in BLOCKS {
        let (mut session, mut engine) = Session::new(&preset(&text), config(block), true).unwrap();
        session.handle().set_safety_limiter(false);
        let events: Vec<SampleEvent> = ONSETS.iter().map(|&f| note_on(f, 60, 127)).collect();
        let out = render(&mut engine, &mut session, &events, None, block, 1100);
        session.shutdown(engine);
        for (i, &s) in out.left.iter().enumerate() {
            let want = if ONSETS.contains(&(i as u64)) {
                1.5
            } else {
                0.0
            };
            assert_eq!(s, want, "block {block}, sample {i}");
        }
    }
}

/// restartComponent(kLatencyChanged) from a plugin (the gain's `latency`
/// parameter: the controller reports the new latency and asks for a
/// restart) is honoured off the audio thread: the session takes the plugin
/// out of the plan, deactivates and reactivates it on the main thread and
/// reads the new latency; the audio runs on throughout under the allocation
/// guard, and the reactivated processor takes parameter changes again.
#[test]
fn restart_component_reactivates_off_the_audio_thread_with_the_new_latency() {
    let _main = main_thread_lock();
    let (bundle, id) = gain();
    let (mut session, mut engine) =
        Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(64), true).unwrap();
    let x = vec![0.25f32; 64 * 8];
    let before = render(&mut engine, &mut session, &[], Some([&x, &x]), 64, 64 * 8);
    assert!(before.left.iter().all(|s| (s - 0.25).abs() < 1e-6));
    assert_eq!(stagerack::control::snapshot(&session).racks[0].latency, 0);

    // The controller hears of the new latency and asks for a restart.
    session.set_param(0, 0, 1, 480.0).unwrap();
    let during = render(&mut engine, &mut session, &[], Some([&x, &x]), 64, 64 * 8);
    assert!(
        during.left.iter().all(|s| (s - 0.25).abs() < 1e-6),
        "the audio broke while the plugin restarted"
    );
    assert_eq!(stagerack::control::snapshot(&session).racks[0].latency, 480);

    // The new processor plays: gain to -60 dB.
    session.set_param(0, 0, 0, -60.0).unwrap();
    let after = render(&mut engine, &mut session, &[], Some([&x, &x]), 64, 64 * 8);
    let quiet = 0.25 * 10f32.powf(-60.0 / 20.0);
    assert!(
        (after.left[64 * 7] - quiet).abs() < 1e-6,
        "{} (want {quiet})",
        after.left[64 * 7]
    );
    session.shutdown(engine);
}

/// The VST3 SDK's sample instruments (mda JX10, DX10, Piano, EPiano) lose
/// every note whose offset in a process call is a non-zero multiple of 16
/// (their 16-frame slicer hands such an event to a slice that never plays
/// it): they were silent in `stagerack render` at 128+ frame blocks. The
/// sliced probe behaves the same; the host splits each block at its note
/// events so every note reaches the plugin at offset 0, and every note
/// lands on its exact sample at every block size.
#[test]
fn notes_at_multiples_of_16_reach_an_sdk_style_sliced_instrument() {
    let _main = main_thread_lock();
    let bundle = own_bundle("Stagerack VST3 Bad");
    let id = stagerack::plugin::vst3::list_vst3_classes(&bundle)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Stagerack VST3 Sliced Probe")
        .expect("the sliced probe")
        .id;
    const AT: [u64; 7] = [0, 16, 32, 48, 80, 560, 1040];
    for block in [64usize, 128, 512, 1024] {
        let (mut session, mut engine) =
            Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(block), true).unwrap();
        let events: Vec<_> = AT.iter().map(|&f| note_on(f, 60, 127)).collect();
        let out = render(&mut engine, &mut session, &events, None, block, 2048);
        let hits: Vec<u64> = (0..2048u64)
            .filter(|&i| out.left[i as usize] != 0.0)
            .collect();
        assert_eq!(hits, AT, "block {block}: the notes that sounded");
        session.shutdown(engine);
    }
}

/// Factory programs through `IUnitInfo`: the probe's program list names
/// "Quiet", "Half", "Full" (its hidden program-change parameter's own
/// strings say only "#N", so these names prove the list was read); a
/// preset's `program` selects one, and the controller loads it (its level).
#[test]
fn probe_programs_come_from_its_unit_info_and_a_preset_selects_one() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let session_with = |extra: &str| {
        Session::new(&preset(&vst3_preset(&id, &bundle, extra)), config(64), true).unwrap()
    };
    let (mut s, e) = session_with("");
    let inst = s.plugin_mut(0, 0).unwrap();
    let list = inst.programs().expect("the probe has programs");
    assert_eq!(list.names, ["Quiet", "Half", "Full"]);
    assert_eq!(list.param, Some(1));
    assert!(
        inst.params().iter().all(|p| p.id != 1),
        "the hidden program parameter is not listed"
    );
    Session::shutdown(s, e);
    for (extra, level) in [("program = \"Quiet\"", 0.25), ("program = 1", 0.5)] {
        let (mut s, e) = session_with(extra);
        assert!(s.warnings().is_empty(), "{extra}: {:?}", s.warnings());
        let inst = s.plugin_mut(0, 0).unwrap();
        assert_eq!(inst.param_value(0), Some(level), "{extra}: level");
        Session::shutdown(s, e);
    }
}

/// The names a VST3 plugin gives keys reach the keyboard strip (#13): its
/// program's pitch names (`IUnitInfo`, a drum map) and its articulations
/// (`IKeyswitchController`: "Sustain" on key 24, "Staccato" on 26..=27),
/// in the instance and in the control snapshot the window draws from.
#[test]
fn probe_pitch_names_and_keyswitches_name_keys() {
    probe_names_keys("");
}

/// The same from a sandbox process, with its factory programs (#14).
#[test]
fn a_sandboxed_probe_names_its_keys_and_lists_its_programs() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    probe_names_keys("sandbox = \"plugin\"\n");
}

/// The probe's key names (and programs) in a rack with `rack` lines added.
fn probe_names_keys(rack: &str) {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let text =
        vst3_preset(&id, &bundle, "").replace("name = \"r\"\n", &format!("name = \"r\"\n{rack}"));
    let (mut s, e) = Session::new(&preset(&text), config(64), true).unwrap();
    if rack.contains("sandbox") {
        stagerack_tests::assert_sandboxes_running();
    }
    let names: Vec<(u8, Option<u8>, String)> = s
        .plugin_mut(0, 0)
        .unwrap()
        .note_names()
        .into_iter()
        .map(|n| (n.key, n.channel, n.name))
        .collect();
    let expected = [
        (36, "Kick"),
        (38, "Snare"),
        (24, "Sustain"),
        (26, "Staccato"),
        (27, "Staccato"),
    ];
    assert_eq!(
        names,
        expected
            .iter()
            .map(|&(k, n)| (k, None, n.to_owned()))
            .collect::<Vec<_>>()
    );
    let snap = stagerack::control::snapshot(&s);
    assert_eq!(snap.racks[0].plugins[0].programs, ["Quiet", "Half", "Full"]);
    assert_eq!(
        snap.racks[0].plugins[0].note_names,
        expected
            .iter()
            .map(|&(k, n)| (k, n.to_owned()))
            .collect::<Vec<_>>()
    );
    Session::shutdown(s, e);
}

/// A `.vstpreset` holding one program's data (`Prog` chunk, program list
/// 7) reaches the component through `IProgramListData` (#13): the probe
/// plays at the level it carries. One for a list the plugin does not take,
/// or for a plugin without `IProgramListData`, is refused by name.
#[test]
fn a_program_data_vstpreset_loads_through_iprogramlistdata() {
    use stagerack::plugin::vst3::preset_file::{write, VstPreset};
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let dir = tempfile::tempdir().unwrap();
    let program = |list: i32, class: &str| {
        let path = dir.path().join(format!("{list}-{class}.vstpreset"));
        let level = 0.125f64.to_le_bytes();
        std::fs::write(
            &path,
            write(&VstPreset {
                class_id: class,
                component: b"",
                controller: b"",
                program: Some((list, &level)),
            }),
        )
        .unwrap();
        path
    };
    let session_with = |path: &std::path::Path, class: &str, bundle: &std::path::Path| {
        let text = vst3_preset(
            class,
            bundle,
            &format!("vstpreset = {:?}", path.display().to_string()),
        );
        let path = dir.path().join("show.toml");
        std::fs::write(&path, &text).unwrap();
        let preset = stagerack::preset::load_preset(&path).unwrap();
        Session::new(&preset, config(64), true).unwrap()
    };
    let (mut s, mut e) = session_with(&program(7, &id), &id, &bundle);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = one_note(&mut e, &mut s, 5);
    assert!((out.left[5] - 0.125).abs() < 1e-6, "{}", out.left[5]);
    Session::shutdown(s, e);

    let (s, e) = session_with(&program(3, &id), &id, &bundle);
    let warnings = s.warnings().join("\n");
    assert!(
        warnings.contains("program data for list 3, which the plugin does not take"),
        "{warnings}"
    );
    Session::shutdown(s, e);

    let (gb, gid) = gain();
    let (s, e) = session_with(&program(7, &gid), &gid, &gb);
    let warnings = s.warnings().join("\n");
    assert!(warnings.contains("no IProgramListData"), "{warnings}");
    Session::shutdown(s, e);
}

/// MPE to a VST3 instrument with `INoteExpressionController` (#16): a
/// member channel's bend and CC 74 reach the probe as its own tuning and
/// brightness note expressions, for the note id its note-on carried (the
/// probe ignores ids of notes not sounding); pressure stays poly pressure.
#[test]
fn mpe_reaches_a_vst3_instrument_as_note_expressions() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let text = vst3_preset(&id, &bundle, "").replace(
        "name = \"r\"\n",
        "name = \"r\"\nmpe = \"lower\"\ntranspose = 12\n",
    );
    let (mut s, mut e) = Session::new(&preset(&text), config(64), true).unwrap();
    let events = [
        note_on(5, 50, 127),
        stagerack::midi::file::SampleEvent {
            frame: 20,
            event: stagerack::midi::Event::PitchBend {
                channel: 0,
                value: 4096,
            },
        },
    ];
    // `note_on` plays channel 1; make the note and its expressions live on
    // member channel 2.
    let on_member = |mut ev: stagerack::midi::file::SampleEvent| {
        if let stagerack::midi::Event::NoteOn { channel, .. }
        | stagerack::midi::Event::PitchBend { channel, .. } = &mut ev.event
        {
            *channel = 1;
        }
        ev
    };
    let mut events: Vec<_> = events.into_iter().map(on_member).collect();
    events.push(stagerack::midi::file::SampleEvent {
        frame: 30,
        event: stagerack::midi::Event::ControlChange {
            channel: 1,
            controller: 74,
            value: 127,
        },
    });
    events.push(stagerack::midi::file::SampleEvent {
        frame: 40,
        event: stagerack::midi::Event::ChannelPressure {
            channel: 1,
            value: 127,
        },
    });
    let out = render(&mut e, &mut s, &events, None, 64, 128);
    assert_eq!(
        stagerack_tests::nonzero_samples(&out.left),
        vec![
            (5, 1.0),
            (20, -24.0 / 128.0),
            (30, 0.75),
            // Poly pressure names the transposed key: 50 + 12.
            (40, -62.0 / 128.0),
        ]
    );
    Session::shutdown(s, e);
}

/// Choosing a factory program while the plugin plays (#13, the window's
/// program picker): the control command selects it through the hidden
/// program-change parameter, the controller loads it (its level), the
/// snapshot names it; a program the plugin does not have, or a plugin
/// without programs, is refused by name.
#[test]
fn a_program_is_selected_while_playing_and_shown_in_the_snapshot() {
    let _main = main_thread_lock();
    let (bundle, id) = probe();
    let (mut s, mut e) =
        Session::new(&preset(&vst3_preset(&id, &bundle, "")), config(64), true).unwrap();
    let _ = render(&mut e, &mut s, &[], None, 64, 256);
    s.select_program_of(0, 0, 0).expect("Quiet");
    let _ = render(&mut e, &mut s, &[], None, 64, 256);
    assert_eq!(
        s.plugin_mut(0, 0).unwrap().param_value(0),
        Some(0.25),
        "Quiet's level"
    );
    let snap = stagerack::control::snapshot(&s);
    let p = &snap.racks[0].plugins[0];
    assert_eq!(p.programs, ["Quiet", "Half", "Full"]);
    assert_eq!(p.program, Some(0));
    // An impulse at Quiet's level.
    let out = one_note(&mut e, &mut s, 5);
    assert!((out.left[5] - 0.25).abs() < 1e-6, "{}", out.left[5]);

    let err = s.select_program_of(0, 0, 3).unwrap_err().to_string();
    assert!(
        err.contains("no program 4") && err.contains("Quiet, Half, Full"),
        "{err}"
    );
    Session::shutdown(s, e);

    let (gb, gid) = gain();
    let (mut s, e) = Session::new(&preset(&vst3_preset(&gid, &gb, "")), config(64), true).unwrap();
    let err = s.select_program_of(0, 0, 0).unwrap_err().to_string();
    assert!(err.contains("has no factory programs"), "{err}");
    Session::shutdown(s, e);
}
