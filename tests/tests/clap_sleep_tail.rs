//! Sleep and tail: a plugin that sleeps is not called while idle; a plugin
//! that returns TAIL keeps being called until its reported tail has passed
//! after its input went quiet, and then sleeps.

mod clap_support;

use std::sync::atomic::Ordering;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::plugin::Tail;
use stagerack_plugins_test::clap::silent::SilentReport;

fn one_plugin(id: &str, bundle_name: &str) -> stagerack::preset::Preset {
    preset(&format!(
        "version = 1\nname = \"t\"\n[[rack]]\nname = \"r\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"{id}\"\npath = \"{}\"\n",
        bundle(bundle_name).display()
    ))
}

#[test]
fn a_sleeping_plugin_is_not_processed_while_idle() {
    let p = one_plugin("org.stagerack.test.silent", "stagerack-silent");
    let (mut s, mut e) = session(&p, 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let calls = |s: &mut stagerack::session::Session| {
        let state = s.plugin_mut(0, 0).unwrap().save_state().unwrap();
        SilentReport::from_state(&state)
            .expect("the silent plugin's state")
            .process_calls as f64
    };
    let _ = render(&mut s, &mut e, &[], None, 64, 48_000);
    let idle = calls(&mut s);
    assert!(idle <= 1.0, "called {idle} times while idle");
    assert!(s.racks()[0].slots[0]
        .status
        .sleeping
        .load(Ordering::Relaxed));
    // A rack whose plugins all sleep gets no job at all (#15): every
    // block but its first was silence without dispatch.
    let asleep =
        |s: &stagerack::session::Session| s.racks()[0].status.asleep_blocks.load(Ordering::Relaxed);
    assert!(asleep(&s) >= 748, "dispatched while asleep: {}", asleep(&s));
    let before = asleep(&s);
    let _ = render(&mut s, &mut e, &[], None, 64, 48_000);
    assert_eq!(calls(&mut s), idle, "still asleep");
    assert_eq!(asleep(&s) - before, 750, "a second of sleep, no job");
    // An event wakes it for one block.
    let note = [SampleEvent {
        frame: 5,
        event: Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    }];
    let before = asleep(&s);
    let _ = render(&mut s, &mut e, &note, None, 64, 4800);
    assert_eq!(calls(&mut s), idle + 1.0);
    assert_eq!(asleep(&s) - before, 74, "the note's block got a job");
    s.shutdown(e);
}

#[test]
fn a_tail_plugin_runs_until_its_tail_has_passed_then_sleeps() {
    let p = one_plugin("org.stagerack.test.tail", "stagerack-tail");
    let block = 64;
    let (mut s, mut e) = session(&p, block);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let burst = 4800;
    let input: Vec<f32> = sine(burst);
    let total = 4 * 48_000u64;
    let out = render(&mut s, &mut e, &[], Some([&input, &input]), block, total);
    let tail = match s.racks()[0].slots[0].instance.tail() {
        Tail::Frames(n) => n as usize,
        other => panic!("the tail plugin reports a finite tail, got {other:?}"),
    };
    assert!(
        tail > 0 && (burst + tail + 2 * block) < total as usize,
        "tail {tail}"
    );
    // It rings after the input stopped ...
    assert!(
        peak(&out.left[burst + 64..burst + tail.min(48_000)]) > 1e-4,
        "no echo after the input stopped"
    );
    // ... and is asleep once its tail has passed.
    let status = s.racks()[0].slots[0].status.clone();
    assert!(
        status.sleeping.load(Ordering::Relaxed),
        "asleep after the tail"
    );
    let processed = status.processed.load(Ordering::Relaxed);
    let expected_blocks = (burst + tail).div_ceil(block) as u64;
    assert!(
        processed >= expected_blocks && processed <= expected_blocks + 2,
        "processed {processed} blocks, tail ends after {expected_blocks}"
    );
    let _ = render(&mut s, &mut e, &[], None, block, 48_000);
    assert_eq!(status.processed.load(Ordering::Relaxed), processed);
    s.shutdown(e);
}

/// CLAP `render` (#13): the host tells a plugin whether it renders offline
/// (`stagerack render`, `check`) or plays live before activating it, so a
/// plugin can trade speed for quality offline. The silent test plugin shows
/// the mode it was given.
#[test]
fn plugins_are_told_whether_they_render_offline_or_play_live() {
    let p = one_plugin("org.stagerack.test.silent", "stagerack-silent");
    let mode = |offline: bool| {
        let config = stagerack::engine::EngineConfig {
            sample_rate: 48_000.0,
            max_block: 64,
            queues: Default::default(),
        };
        let (mut s, e) = stagerack::session::Session::new(&p, config, offline).unwrap();
        let state = s.plugin_mut(0, 0).unwrap().save_state().unwrap();
        s.shutdown(e);
        SilentReport::from_state(&state)
            .expect("the silent plugin's state")
            .offline
    };
    assert_eq!(mode(true), Some(true), "offline render");
    assert_eq!(mode(false), Some(false), "live");
}
