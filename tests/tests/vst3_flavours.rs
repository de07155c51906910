//! Two more VST3 implementations of the probe, so the host is not tuned to
//! one: `Stagerack Wrapped Probe` (the CLAP probe through the free-audio
//! clap-wrapper, crate `stagerack-wrapped-probe`) and `Stagerack Nice Probe`
//! (written with nice-plug, crate `stagerack-nice-probe`). Both are built by
//! `cargo xtask bundle-vst3` and loaded from disk through the real loader:
//! note-on timing to the sample at several block sizes, a `level` change on
//! its exact sample, and state through a saved preset.

mod vst3_common;
use std::path::{Path, PathBuf};

use stagerack::engine::alloc_guard::no_alloc;
use stagerack::midi::{Event, EventBuffer, TimedEvent};
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{Block, PluginKind, ProcessConfig, Transport};
use stagerack::preset::{parse_preset, save_atomically};
use stagerack::session::Session;
use vst3_common::*;

const ONSETS: [u64; 6] = [0, 1, 63, 64, 65, 1000];
const BLOCKS: [usize; 4] = [1, 7, 64, 512];
const WRAPPED: &str = "Stagerack Wrapped Probe";
const NICE: &str = "Stagerack Nice Probe";

/// The bundle and its (only) class id; checks the class is a probe
/// instrument.
fn flavour(name: &str) -> (PathBuf, String) {
    let bundle = own_bundle(name);
    let classes = stagerack::plugin::vst3::list_vst3_classes(&bundle)
        .unwrap_or_else(|e| panic!("listing {}: {e}", bundle.display()));
    assert_eq!(classes.len(), 1, "{classes:?}");
    let class = &classes[0];
    assert!(class.name.contains("Probe"), "{class:?}");
    assert_eq!(class.kind, PluginKind::Instrument, "{class:?}");
    (bundle, class.id.clone())
}

fn note_ons_land_on_their_exact_sample(name: &str) {
    let _main = main_thread_lock();
    let (bundle, id) = flavour(name);
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
            assert_eq!(l, expected, "{name}, block {block}: left sample {i}");
            assert_eq!(r, expected, "{name}, block {block}: right sample {i}");
        }
        session.shutdown(engine);
    }
}

/// Drives a processor directly (as the engine does) with events at absolute
/// frames, under the allocation guard; returns the left channel.
fn drive_direct(
    bundle: &Path,
    id: &str,
    events: &[(u64, Event)],
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
        l.fill(0.0);
        r.fill(0.0);
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

/// Hashed or translated ids: finds `level` by name, as a user would.
fn level_param(name: &str, bundle: &Path, id: &str) -> u32 {
    let def = preset(&vst3_preset(id, bundle, "")).racks[0].plugins[0].clone();
    let inst = load_plugin(&def).unwrap();
    let params = inst.params();
    let level = params
        .iter()
        .find(|p| p.name == "level")
        .unwrap_or_else(|| panic!("{name}: no `level` among {} parameters", params.len()));
    assert_eq!((level.min, level.max, level.default), (0.0, 1.0, 1.0));
    level.id
}

/// A change and a note-on at the same sample: the change applies to the
/// note. Holds for the nice-plug probe (nice-plug splits the block at the
/// change); VST3 itself does not order the two lists (see below).
fn level_changes_apply_from_their_exact_sample(name: &str) {
    let _main = main_thread_lock();
    let (bundle, id) = flavour(name);
    let level_id = level_param(name, &bundle, &id);
    let on = Event::NoteOn {
        channel: 0,
        key: 60,
        velocity: 1.0,
        note_id: -1,
    };
    let level = |v: f64| Event::ParamValue {
        param: level_id,
        value: v,
    };
    // Level drops to 0.5 at 64, to 0.25 at 65, back to 1 at 999; at equal
    // frames the level change comes first (stable sort).
    let mut events = vec![(64, level(0.5)), (65, level(0.25)), (999, level(1.0))];
    events.extend(ONSETS.iter().map(|&f| (f, on)));
    events.sort_by_key(|e| e.0);
    for block in BLOCKS {
        let out = drive_direct(&bundle, &id, &events, block, 1100);
        let expect = |f: usize| match f {
            0 | 1 | 63 => 1.0,
            64 => 0.5,
            65 => 0.25,
            1000 => 1.0,
            _ => 0.0,
        };
        for (i, &s) in out.iter().enumerate() {
            assert_eq!(s, expect(i), "{name}, block {block}: sample {i}");
        }
    }
}

fn state_round_trips_through_a_saved_preset(name: &str) {
    let _main = main_thread_lock();
    let (bundle, id) = flavour(name);
    let text = vst3_preset(&id, &bundle, "params = { level = 0.5 }");
    // The preset's `level` reaches the processor as a parameter point at
    // offset 0 of the first block, which VST3 does not order against a
    // note-on at frame 0 (clap-wrapper plays the note first): start at 1.
    let onsets = &ONSETS[1..];
    let events: Vec<_> = onsets.iter().map(|&f| note_on(f, 60, 127)).collect();
    let (mut session, mut engine) = Session::new(&preset(&text), config(64), true).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    let first = render(&mut engine, &mut session, &events, None, 64, 2048);
    for &f in onsets {
        assert_eq!(first.left[f as usize], 0.5, "{name}: sample {f}");
    }
    let saved = session.to_preset().unwrap();
    session.shutdown(engine);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.toml");
    save_atomically(&saved, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("state = "), "{text}");
    let reloaded = parse_preset(&text, &path).unwrap();
    let (mut session, mut engine) = Session::new(&reloaded, config(64), true).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    let second = render(&mut engine, &mut session, &events, None, 64, 2048);
    assert_eq!(first, second, "{name}");
    session.shutdown(engine);
}

#[test]
fn wrapped_probe_note_ons_land_on_their_exact_sample_for_every_block_size() {
    note_ons_land_on_their_exact_sample(WRAPPED);
}

#[test]
fn wrapped_probe_state_round_trips_through_a_saved_preset() {
    state_round_trips_through_a_saved_preset(WRAPPED);
}

#[test]
fn nice_probe_note_ons_land_on_their_exact_sample_for_every_block_size() {
    note_ons_land_on_their_exact_sample(NICE);
}

#[test]
fn nice_probe_level_changes_apply_from_their_exact_sample_for_every_block_size() {
    level_changes_apply_from_their_exact_sample(NICE);
}

#[test]
fn nice_probe_state_round_trips_through_a_saved_preset() {
    state_round_trips_through_a_saved_preset(NICE);
}

/// VST3 gives no order between a parameter point and a note event at the
/// same offset (they come in separate lists; clap-wrapper hands the note to
/// the CLAP plugin first). So here each change lands between two notes one
/// sample either side of it: sample t-1 must have the old level, t+1 the new.
/// clap-wrapper also passes on only the last point of each parameter's
/// queue per block (`getPoint(nums - 1, ...)` in its `process.cpp`), so the
/// two changes are in different blocks at every block size tested.
fn level_changes_land_between_neighbouring_notes(name: &str) {
    let _main = main_thread_lock();
    let (bundle, id) = flavour(name);
    let level_id = level_param(name, &bundle, &id);
    let on = Event::NoteOn {
        channel: 0,
        key: 60,
        velocity: 1.0,
        note_id: -1,
    };
    let level = |v: f64| Event::ParamValue {
        param: level_id,
        value: v,
    };
    let notes = [0u64, 1, 3, 63, 64, 65, 599, 601, 1000];
    let mut events = vec![(2, level(0.5)), (600, level(0.25))];
    events.extend(notes.iter().map(|&f| (f, on)));
    events.sort_by_key(|e| e.0);
    for block in BLOCKS {
        let out = drive_direct(&bundle, &id, &events, block, 1100);
        let expect = |f: usize| match f {
            0 | 1 => 1.0,
            3 | 63 | 64 | 65 | 599 => 0.5,
            601 | 1000 => 0.25,
            _ => 0.0,
        };
        for (i, &s) in out.iter().enumerate() {
            assert_eq!(s, expect(i), "{name}, block {block}: sample {i}");
        }
    }
}

#[test]
fn wrapped_probe_level_changes_land_on_their_sample_for_every_block_size() {
    level_changes_land_between_neighbouring_notes(WRAPPED);
}

#[test]
fn nice_probe_level_changes_land_on_their_sample_for_every_block_size() {
    level_changes_land_between_neighbouring_notes(NICE);
}
