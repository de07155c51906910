//! Setlists: switching at the trigger's exact sample, held notes and tails
//! of the old preset continuing, nothing dropped or repeated.

mod common;
use common::*;

use stagerack::engine::{EntryTrigger, SwitchTable};
use stagerack::io::offline::{render_offline, OfflineJob, Rendered};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::session::Session;

const A: &str = r#"
version = 1
name = "A"
[[rack]]
name = "a probe"
[[rack.plugin]]
format = "builtin"
id = "probe"
[[rack]]
name = "a pad"
[[rack.plugin]]
format = "builtin"
id = "synth"
params = { release = 0.2, attack = 0.001, level = -20.0 }
"#;

const B: &str = r#"
version = 1
name = "B"
[[rack]]
name = "b probe"
[[rack.plugin]]
format = "builtin"
id = "probe"
params = { level = 0.5 }
"#;

fn program(frame: u64, program: u8) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::ProgramChange {
            channel: 0,
            program,
        },
    }
}

fn table() -> SwitchTable {
    SwitchTable {
        entries: vec![
            EntryTrigger {
                program: Some(10),
                bank: None,
                note: None,
            },
            EntryTrigger {
                program: Some(11),
                bank: None,
                note: None,
            },
        ],
        max_tail_frames: 48_000 * 5,
        ..SwitchTable::default()
    }
}

fn render(presets: &[&str], events: &[SampleEvent], block: usize, frames: u64) -> Rendered {
    let presets: Vec<_> = presets.iter().map(|p| preset(p)).collect();
    let (mut session, mut engine) =
        Session::with_presets(&presets, table(), config(block), true).unwrap();
    let job = OfflineJob {
        events,
        input: None,
        block,
        min_frames: frames,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = render_offline(&mut engine, &job, |_| {
        session.pump();
    });
    session.shutdown(engine);
    out
}

#[test]
fn switch_is_sample_exact_and_the_old_preset_rings_on() {
    for block in [1usize, 7, 64, 512] {
        // Before the switch (at 1000): a note on A, held until 3000.
        let before = vec![note_on(100, 60, 127)];
        let after = vec![note_on(1000, 62, 100), note_on(1500, 64, 80)];
        let release = [note_off(3000, 60)];
        let mut all = before.clone();
        all.push(program(1000, 11));
        all.extend(after.iter().copied());
        all.extend(release.iter().copied());
        all.sort_by_key(|e| e.frame);
        let frames = 48_000;
        let switched = render(&[A, B], &all, block, frames);

        // The same events, each preset on its own: A gets what came before
        // the switch and the note-off of the note it holds, B what came after.
        let mut a_events = before.clone();
        a_events.extend(release.iter().copied());
        let only_a = render(&[A], &a_events, block, frames);
        let only_b = render(&[B], &after, block, frames);

        assert_eq!(switched.left.len(), frames as usize, "block {block}");
        for i in 0..frames as usize {
            let want = only_a.left[i] + only_b.left[i];
            assert_eq!(switched.left[i], want, "block {block}, frame {i}");
            assert_eq!(switched.right[i], only_a.right[i] + only_b.right[i]);
        }
        // B's probe sounds from the trigger's exact sample, at B's level.
        assert!((only_b.left[1000] - 0.5 * 100.0 / 127.0).abs() < 1e-6);
        assert!(only_b.left[..1000].iter().all(|&x| x == 0.0));
        // A's pad is still held between the switch and the note-off, then
        // releases into silence: its tail was not cut.
        let held = &only_a.left[1100..2900];
        assert!(held.iter().any(|x| x.abs() > 1e-3), "block {block}");
        let tail = &switched.left[3100..3200];
        assert!(
            tail.iter().any(|x| x.abs() > 1e-4),
            "tail cut, block {block}"
        );
        assert!(
            switched.left[40_000..].iter().all(|&x| x == 0.0),
            "block {block}"
        );
    }
}

#[test]
fn the_old_preset_is_silenced_after_the_maximum_tail() {
    // A note held forever on A; after the switch it may ring 5 s at most.
    let events = vec![note_on(0, 60, 127), program(4800, 11)];
    let out = render(&[A, B], &events, 64, 48_000 * 7);
    assert!(out.left[48_000 * 4..48_000 * 5]
        .iter()
        .any(|x| x.abs() > 1e-3));
    assert!(out.left[48_000 * 6..].iter().all(|&x| x == 0.0));
}

#[test]
fn switching_back_and_forth_between_program_changes() {
    let events = vec![
        note_on(10, 60, 127),
        program(20, 11),
        note_on(30, 60, 127),
        program(40, 10),
        note_on(50, 60, 127),
        // Unknown program: stays on A.
        program(60, 99),
        note_on(70, 60, 127),
    ];
    let out = render(&[PROBE, B], &events, 64, 128);
    assert_eq!(out.left[10], 1.0);
    assert_eq!(out.left[30], 0.5);
    assert_eq!(out.left[50], 1.0);
    assert_eq!(out.left[70], 1.0);
}

/// A five-song set keeping one neighbour loaded: stepping through it the
/// loaded entries follow the current one (never more than three), every
/// song plays right after its program change, and a jump to a song that was
/// not loaded loads it on the spot with a warning and plays once ready.
#[test]
fn a_setlist_keeping_one_neighbour_loaded_follows_the_set() {
    let songs: Vec<_> = (0..5u8)
        .map(|i| {
            preset(&format!(
                "version = 1\nname = \"song {i}\"\n[[rack]]\nname = \"p\"\n[[rack.plugin]]\n\
                 format = \"builtin\"\nid = \"probe\"\nparams = {{ level = {} }}\n",
                f32::from(i + 1) / 10.0
            ))
        })
        .collect();
    let switch = SwitchTable {
        entries: (0..5u8)
            .map(|i| EntryTrigger {
                program: Some(i),
                bank: None,
                note: None,
            })
            .collect(),
        max_tail_frames: 4800,
        ..SwitchTable::default()
    };
    let (mut session, mut engine) =
        Session::with_setlist(&songs, switch, config(64), true, Some(1)).unwrap();
    assert_eq!(session.loaded_presets(), [true, true, false, false, false]);
    let note = |offset| {
        stagerack::midi::TimedEvent::new(
            offset,
            Event::NoteOn {
                channel: 0,
                key: 60,
                velocity: 1.0,
                note_id: -1,
            },
        )
    };
    let pc = |p| {
        stagerack::midi::TimedEvent::new(
            0,
            Event::ProgramChange {
                channel: 0,
                program: p,
            },
        )
    };
    // One buffer with the program change and a note right after it, then a
    // few buffers for the main thread to arrange the neighbours.
    let mut play = |session: &mut Session, program: u8| -> f32 {
        let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
        engine.process(&[pc(program), note(10)], None, &mut l, &mut r);
        for _ in 0..4 {
            session.pump();
            engine.process(&[], None, &mut l.clone(), &mut r.clone());
        }
        session.pump();
        l[10]
    };
    for song in 1..5u8 {
        let heard = play(&mut session, song);
        let level = f32::from(song + 1) / 10.0;
        assert!(
            (heard - level).abs() < 1e-6,
            "song {song} right after its program change: {heard} (want {level})"
        );
        let loaded = session.loaded_presets();
        let want: Vec<bool> = (0..5u8).map(|g| g.abs_diff(song) <= 1).collect();
        assert_eq!(loaded, want, "after song {song}");
        assert!(loaded.iter().filter(|l| **l).count() <= 3);
    }
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());

    // A jump from song 4 to song 0, two entries beyond the neighbours.
    let before = play(&mut session, 0);
    assert_eq!(before, 0.0, "not loaded yet when its program change came");
    assert_eq!(session.loaded_presets(), [true, true, false, false, false]);
    let w = session.warnings().join("\n");
    assert!(
        w.contains("setlist entry 1 (`song 0`) was not loaded"),
        "{w}"
    );
    let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
    engine.process(&[note(3)], None, &mut l, &mut r);
    assert!((l[3] - 0.1).abs() < 1e-6, "song 0 once loaded: {}", l[3]);
    session.shutdown(engine);
}

/// A jump from the main thread (`Session::select`) followed by another
/// commit before the audio thread ran a buffer (a song change and a fader
/// move in the same main-loop pass) still happens: the replacing plan
/// makes the jump its predecessor never got to make.
#[test]
fn a_select_survives_a_commit_before_the_next_buffer() {
    let presets: Vec<_> = [A, B].iter().map(|p| preset(p)).collect();
    let (mut session, mut engine) =
        Session::with_presets(&presets, table(), config(64), true).unwrap();
    // One buffer, so the first plan is taken up and the next ones replace it.
    let job = OfflineJob {
        events: &[],
        input: None,
        block: 64,
        min_frames: 64,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    render_offline(&mut engine, &job, |_| {
        session.pump();
    });
    assert_eq!(session.current_group(), 0);
    session.select(1).unwrap();
    session.commit().unwrap();
    let events = [note_on(10, 60, 127)];
    let job = OfflineJob {
        events: &events,
        ..job
    };
    let out = render_offline(&mut engine, &job, |_| {
        session.pump();
    });
    assert_eq!(session.current_group(), 1, "the jump was lost");
    // B's probe (level 0.5) played the note, not A's.
    let peak = out.left.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(
        (peak - 0.5).abs() < 1e-3,
        "B's probe plays the note: {peak}"
    );
    session.shutdown(engine);
}
