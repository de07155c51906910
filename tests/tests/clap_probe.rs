//! The CLAP host against the project's probe plugin
//! (`target/bundles/clap/stagerack-probe.clap`, built on demand), loaded
//! from disk through the real loader: sample-exact notes and parameter
//! changes, state round trips, thread rules. Everything that processes runs
//! under the allocation guard.

mod clap_support;

use clap_support::*;
use stagerack::engine::alloc_guard::no_alloc;
use stagerack::engine::ParamChange;
use stagerack::io::offline::{render_offline, OfflineJob};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::{Event, EventBuffer, TimedEvent};
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{
    Block, PluginFormat, PluginInstance, PluginKind, ProcessConfig, Transport,
};
use stagerack::preset::{PluginDef, Preset};
use stagerack_plugins_test::clap::probe::ProbeReport;

const PROBE: &str = "org.stagerack.test.probe";
const LEVEL: u32 = 0;

/// What the probe's state says of its note-ons and its host (its
/// diagnostics are not parameters: validators would see them move).
fn report(inst: &mut dyn PluginInstance) -> ProbeReport {
    ProbeReport::from_state(&inst.save_state().expect("the probe saves"))
        .expect("the probe's own state")
}

fn probe_def() -> PluginDef {
    let mut def = PluginDef::builtin("probe");
    def.format = PluginFormat::Clap;
    def.id = PROBE.to_owned();
    def.path = Some(bundle("stagerack-probe"));
    def
}

fn probe_preset(extra: &str) -> Preset {
    preset(&format!(
        "version = 1\nname = \"probe\"\n[[rack]]\nname = \"probe\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"{PROBE}\"\npath = \"{}\"\n{extra}",
        bundle("stagerack-probe").display()
    ))
}

fn note_on(key: u8, velocity: f32) -> Event {
    Event::NoteOn {
        channel: 0,
        key,
        velocity,
        note_id: -1,
    }
}

/// Velocities that survive a trip through 7-bit MIDI unchanged.
fn vel(i: usize) -> f32 {
    (20 * (i + 1)) as f32 / 127.0
}

const NOTE_FRAMES: [u64; 6] = [0, 1, 63, 64, 65, 1000];

#[test]
fn probe_is_described_as_an_instrument_with_its_parameters() {
    let inst = load_plugin(&probe_def()).unwrap();
    let d = inst.descriptor();
    assert_eq!(d.id, PROBE);
    assert_eq!(d.kind, PluginKind::Instrument);
    let params = inst.params();
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"level"), "{names:?}");
    assert_eq!(names, ["level"], "diagnostics are not parameters");
    let level = params.iter().find(|p| p.id == LEVEL).unwrap();
    assert_eq!((level.min, level.max, level.default), (0.0, 1.0, 1.0));
    assert_eq!(inst.param_value(LEVEL), Some(1.0));
    assert_eq!(inst.param_text(LEVEL, 0.5).as_deref(), Some("0.500"));
}

#[test]
fn note_ons_land_on_their_exact_sample_at_every_block_size() {
    let p = probe_preset("");
    let events: Vec<SampleEvent> = NOTE_FRAMES
        .iter()
        .enumerate()
        .map(|(i, &f)| SampleEvent {
            frame: f,
            event: note_on(60 + i as u8, vel(i)),
        })
        .collect();
    for block in [1usize, 7, 64, 512] {
        let (mut s, mut e) = session(&p, block);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        let out = render(&mut s, &mut e, &events, None, block, 1200);
        s.shutdown(e);
        for (f, (l, r)) in out.left.iter().zip(&out.right).enumerate() {
            let want = NOTE_FRAMES
                .iter()
                .position(|&n| n == f as u64)
                .map_or(0.0, vel);
            assert!(
                (l - want).abs() < 1e-6 && (r - want).abs() < 1e-6,
                "block {block}: frame {f} is {l}/{r}, want {want}"
            );
        }
    }
}

/// Level changes (Event::ParamValue) and note-ons at absolute frames,
/// processed in blocks of `block` straight through the processor.
fn run_processor(block: usize, events: &[(u64, Event)], frames: usize) -> Vec<f32> {
    let mut inst = load_plugin(&probe_def()).unwrap();
    let config = ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block: block as u32,
        offline: true,
        aux_outputs: 0,
    };
    let mut proc = inst.activate(&config).unwrap();
    let mut out = vec![0.0f32; frames];
    let mut right = vec![0.0f32; block];
    let mut block_events: Vec<TimedEvent> = Vec::with_capacity(events.len());
    let mut out_events = EventBuffer::with_capacity(64);
    let mut pos = 0usize;
    while pos < frames {
        let n = block.min(frames - pos);
        block_events.clear();
        for (f, e) in events {
            if (*f as usize) >= pos && (*f as usize) < pos + n {
                block_events.push(TimedEvent::new((*f as usize - pos) as u32, *e));
            }
        }
        let t = Transport {
            tempo: 120.0,
            playing: true,
            steady_frames: pos as u64,
            sample_rate: RATE,
            wait_until: None,
        };
        let left = &mut out[pos..pos + n];
        no_alloc(|| {
            out_events.clear();
            proc.process(&mut Block {
                frames: n,
                left,
                right: &mut right[..n],
                events: &block_events,
                out_events: &mut out_events,
                transport: &t,
            })
        });
        pos += n;
    }
    no_alloc(|| proc.stop());
    inst.deactivate(proc);
    assert_eq!(report(&mut *inst).violations, 0);
    out
}

#[test]
fn level_changes_land_on_their_exact_sample_at_every_block_size() {
    let changes: [(u64, f64); 6] = [
        (0, 0.9),
        (1, 0.8),
        (63, 0.7),
        (64, 0.6),
        (65, 0.5),
        (1000, 0.4),
    ];
    let mut events = Vec::new();
    let mut want = vec![0.0f32; 1100];
    for &(f, level) in &changes {
        events.push((
            f,
            Event::ParamValue {
                param: LEVEL,
                value: level,
            },
        ));
        events.push((f, note_on(60, 1.0)));
        want[f as usize] = level as f32;
    }
    // One frame before a change, the old level still holds.
    for (f, level) in [(62u64, 0.8f32), (999, 0.5)] {
        events.push((f, note_on(61, 1.0)));
        want[f as usize] = level;
    }
    events.sort_by_key(|(f, _)| *f);
    for block in [1usize, 7, 64, 512] {
        let got = run_processor(block, &events, want.len());
        for (f, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() < 1e-6,
                "block {block}: frame {f} is {g}, want {w}"
            );
        }
    }
}

#[test]
fn engine_parameter_queue_changes_land_at_the_block_they_were_sent_for() {
    let p = probe_preset("");
    let block = 64;
    let (mut s, mut e) = session(&p, block);
    let id = s.racks()[0].slots[0].id;
    let events = [
        SampleEvent {
            frame: 639,
            event: note_on(60, 1.0),
        },
        SampleEvent {
            frame: 640,
            event: note_on(61, 1.0),
        },
    ];
    let job = OfflineJob {
        events: &events,
        input: None,
        block,
        min_frames: 1024,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = render_offline(&mut e, &job, |frame| {
        s.pump();
        if frame == 640 {
            s.handle()
                .send_param(ParamChange {
                    processor: id,
                    param: LEVEL,
                    value: 0.25,
                })
                .unwrap();
        }
    });
    assert!((out.left[639] - 1.0).abs() < 1e-6, "{}", out.left[639]);
    assert!((out.left[640] - 0.25).abs() < 1e-6, "{}", out.left[640]);
    s.pump();
    assert_eq!(
        s.racks()[0].slots[0].instance.param_value(LEVEL),
        Some(0.25)
    );
    s.shutdown(e);
}

#[test]
fn a_saved_preset_reloads_with_identical_state_and_output() {
    let p = probe_preset("params = { level = 0.5 }\n");
    let events: Vec<SampleEvent> = NOTE_FRAMES
        .iter()
        .enumerate()
        .map(|(i, &f)| SampleEvent {
            frame: f,
            event: note_on(60 + i as u8, vel(i)),
        })
        .collect();
    let (mut s, mut e) = session(&p, 64);
    let a = render(&mut s, &mut e, &events, None, 64, 1200);
    let inst = s.plugin_mut(0, 0).unwrap();
    assert_eq!(inst.param_value(LEVEL), Some(0.5));
    assert_eq!(report(inst).note_ons, 6);
    let saved = s.to_preset().unwrap();
    s.shutdown(e);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.toml");
    stagerack::preset::save_atomically(&saved, &file).unwrap();
    let reloaded = stagerack::preset::load_preset(&file).unwrap();
    assert_eq!(reloaded.racks[0].plugins[0].format, PluginFormat::Clap);
    assert!(reloaded.racks[0].plugins[0].state.is_some());

    let (mut s2, mut e2) = session(&reloaded, 64);
    assert!(s2.warnings().is_empty(), "{:?}", s2.warnings());
    let inst = s2.plugin_mut(0, 0).unwrap();
    assert_eq!(inst.param_value(LEVEL), Some(0.5));
    assert_eq!(report(inst).note_ons, 6, "the counter is in the state");
    let b = render(&mut s2, &mut e2, &events, None, 64, 1200);
    assert_eq!(report(s2.plugin_mut(0, 0).unwrap()).note_ons, 12);
    s2.shutdown(e2);
    assert_eq!(a.left, b.left);
    assert_eq!(a.right, b.right);
    assert!((a.left[1000] - 0.5 * vel(5)).abs() < 1e-6);
}

#[test]
fn no_thread_rule_is_broken_through_a_session_lifecycle() {
    let p = probe_preset("");
    let events = [SampleEvent {
        frame: 10,
        event: note_on(60, 1.0),
    }];
    let (mut s, mut e) = session(&p, 64);
    let _ = render(&mut s, &mut e, &events, None, 64, 4096);
    let r = report(s.plugin_mut(0, 0).unwrap());
    assert!(r.thread_checked, "the host answers thread-check");
    assert_eq!(r.violations, 0);
    s.shutdown(e);
    // The same across a manual activate/process/stop/deactivate, checked
    // after deactivation (inside `run_processor`).
    let _ = run_processor(64, &[(3, note_on(60, 1.0))], 256);
}

/// Moves a `!Send` value to another thread for a call while the owner
/// waits (the test's way to break the thread rules on purpose).
struct SendAnyway<T>(T);
// SAFETY: the value is used by exactly one thread at a time: the spawning
// thread blocks in `join` until the other thread is done with it.
unsafe impl<T> Send for SendAnyway<T> {}

/// A deliberate host bug (a main-thread call from another thread) is
/// caught by the strict probe, which says so through `clap.log`
/// (`CLAP_LOG_HOST_MISBEHAVING`); stagerack hands that on as a notice
/// naming the plugin, which the session makes a warning and the suite's
/// render helper fails on.
#[test]
fn a_main_thread_call_from_another_thread_is_caught_and_reported() {
    let mut inst = load_plugin(&probe_def()).unwrap();
    assert_eq!(report(&mut *inst).violations, 0);
    let mut notices = Vec::new();
    inst.take_notices(&mut notices);
    assert!(notices.is_empty(), "{notices:?}");
    let ptr = SendAnyway(&*inst as *const dyn PluginInstance);
    std::thread::spawn(move || {
        let p = ptr;
        // SAFETY: `inst` outlives this thread (joined below) and the main
        // thread does not touch it meanwhile.
        let inst = unsafe { &*p.0 };
        // get_value is a main-thread function: the probe asks the host's
        // thread-check, which must say "not the main thread".
        let _ = inst.param_value(LEVEL);
    })
    .join()
    .unwrap();
    assert_eq!(report(&mut *inst).violations, 1);
    inst.take_notices(&mut notices);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].starts_with("Stagerack Probe")
            && notices[0].ends_with(
                "says the host misbehaves: params.get_value: called off the main thread"
            ),
        "{notices:?}"
    );
    inst.take_notices(&mut notices);
    assert_eq!(notices.len(), 1, "told once");
}

#[test]
fn every_kind_of_event_is_converted_and_sent_without_allocating() {
    // The probe's note port takes CLAP notes and MIDI: notes go as CLAP
    // note events, the rest as MIDI; only note-ons make impulses.
    let p = probe_preset("");
    let mut events = Vec::new();
    for i in 0..200u64 {
        let ch = (i % 16) as u8;
        let e = match i % 8 {
            0 => Event::ControlChange {
                channel: ch,
                controller: 1,
                value: (i % 128) as u8,
            },
            1 => Event::PitchBend {
                channel: ch,
                value: (i * 80) as u16,
            },
            2 => Event::ChannelPressure {
                channel: ch,
                value: 64,
            },
            3 => Event::PolyPressure {
                channel: ch,
                key: 60,
                value: 10,
            },
            4 => Event::ProgramChange {
                channel: ch,
                program: 3,
            },
            5 => Event::NoteOff {
                channel: ch,
                key: 60,
                velocity: 0.5,
                note_id: -1,
            },
            6 => Event::NoteChoke {
                channel: ch,
                key: 61,
                note_id: -1,
            },
            _ => note_on(62, 1.0),
        };
        events.push(SampleEvent {
            frame: i * 10,
            event: e,
        });
    }
    let (mut s, mut e) = session(&p, 64);
    let out = render(&mut s, &mut e, &events, None, 64, 2100);
    let note_ons = report(s.plugin_mut(0, 0).unwrap()).note_ons as f64;
    s.shutdown(e);
    assert_eq!(note_ons, 25.0);
    for (f, x) in out.left.iter().enumerate() {
        let want = if f % 80 == 70 && f < 2000 { 1.0 } else { 0.0 };
        assert!((x - want).abs() < 1e-6, "frame {f}: {x}");
    }
}
