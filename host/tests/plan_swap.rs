//! Plans swapped during a render: nothing lost, nothing repeated, and an
//! equivalent plan sounds exactly the same.

mod common;
use common::*;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use stagerack::engine::{new_engine, Plan, PlanBuilder, ProcessorId, RackId, RackSpec, SlotSpec};
use stagerack::midi::{Event, TimedEvent};
use stagerack::plugin::{AudioProcessor, Block, PluginKind, ProcessStatus, Tail};
use stagerack::session::Session;

fn demo_events() -> Vec<stagerack::midi::file::SampleEvent> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/demo.mid");
    stagerack::midi::file::read_midi_file(std::path::Path::new(path), 48_000.0).unwrap()
}

fn demo_preset() -> stagerack::preset::Preset {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/demo.toml");
    stagerack::preset::load_preset(std::path::Path::new(path)).unwrap()
}

#[test]
fn swapping_equivalent_plans_mid_render_changes_nothing() {
    let events = demo_events();
    let frames = 48_000 * 4;
    let render = |swap_every: Option<u64>| {
        let (mut session, mut engine) = Session::new(&demo_preset(), config(64), true).unwrap();
        let job = stagerack::io::offline::OfflineJob {
            events: &events,
            input: None,
            block: 64,
            min_frames: frames,
            max_tail_frames: 0,
            silence_frames: 0,
        };
        let mut swaps = 0u64;
        let out = stagerack::io::offline::render_offline(&mut engine, &job, |frame| {
            session.pump();
            if let Some(n) = swap_every {
                // Notes are held across many of these swaps.
                if frame > 0 && frame % n == 0 {
                    session.commit().unwrap();
                    swaps += 1;
                }
            }
        });
        let swapped = engine
            .shared()
            .plans_swapped
            .load(std::sync::atomic::Ordering::Relaxed);
        session.shutdown(engine);
        (out, swaps, swapped)
    };
    let (plain, _, _) = render(None);
    let (swapped, sent, applied) = render(Some(64 * 37));
    assert!(sent > 50, "only {sent} swaps");
    assert_eq!(
        applied,
        sent + 1,
        "every plan (and the first) was swapped in"
    );
    assert_eq!(plain.left.len(), frames as usize);
    assert_eq!(
        swapped.left.len(),
        plain.left.len(),
        "samples lost or added"
    );
    assert!(plain.left.iter().any(|x| x.abs() > 0.01));
    assert!(plain == swapped, "the swaps changed the sound");
}

#[test]
fn a_changed_plan_takes_effect_at_the_next_buffer_boundary() {
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let events: Vec<_> = (0..8).map(|i| note_on(i * 64 + 5, 60, 127)).collect();
    let job = stagerack::io::offline::OfflineJob {
        events: &events,
        input: None,
        block: 64,
        min_frames: 512,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = stagerack::io::offline::render_offline(&mut engine, &job, |frame| {
        session.pump();
        if frame == 256 {
            let edit = stagerack::session::RackEdit {
                gain_db: Some(-6.0206),
                ..Default::default()
            };
            session.edit_rack(0, &edit).unwrap();
        }
    });
    // Before the change: full level. At the boundary the gain starts a
    // 5 ms glide (no click) and reaches -6 dB 120 frames later.
    for i in 0..4 {
        assert_eq!(out.left[i * 64 + 5], 1.0, "block {i}");
    }
    let glide = out.left[4 * 64 + 5];
    assert!((glide - (1.0 - 6.0 / 240.0)).abs() < 1e-3, "{glide}");
    for i in 6..8 {
        let v = out.left[i * 64 + 5];
        assert!((v - 0.5).abs() < 1e-4, "block {i}: {v}");
    }
    session.shutdown(engine);
}

#[test]
fn retired_plans_come_home_and_their_processors_are_deactivated() {
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    for _ in 0..20 {
        session.commit().unwrap();
        engine.process(&[], None, &mut l, &mut r);
        session.pump();
    }
    assert_eq!(session.handle().plans_pending(), 0);
    assert!(
        session.handle().take_retired().is_none(),
        "pump drained every plan"
    );
    session.shutdown(engine);
}

/// Returns [`ProcessStatus::Tail`] with a 2000-frame tail, forever: only the
/// host's countdown puts it to sleep. Counts its calls.
struct Ringing(Arc<AtomicU32>);

impl AudioProcessor for Ringing {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        self.0.fetch_add(1, Ordering::Relaxed);
        block.left.fill(0.0);
        block.right.fill(0.0);
        ProcessStatus::Tail
    }

    fn tail(&self) -> Tail {
        Tail::Frames(2000)
    }
}

/// One rack (id 1) whose one slot (id 1) is `processor`, or takes over the
/// running one when `None`.
fn ringing_plan(processor: Option<Box<dyn AudioProcessor>>) -> Box<Plan> {
    let slot = SlotSpec {
        id: ProcessorId(1),
        processor,
        kind: PluginKind::Instrument,
        bypass: false,
        expressions_as_midi: false,
        status: Default::default(),
    };
    PlanBuilder::new(48_000.0, 64, 64)
        .rack(RackSpec {
            id: RackId(1),
            filter: Default::default(),
            gain: [1.0, 1.0],
            slots: vec![slot],
            status: Default::default(),
            group: 0,
            mappings: Vec::new(),
            paging: None,
            delay: 0,
            midi_from: None,
            output: 0,
            sends: Vec::new(),
            silenced: false,
            input: Default::default(),
            cue: false,
            aux: Vec::new(),
        })
        .build()
}

/// A slot's tail countdown moves with its processor into each new plan: a
/// plan every 10 buffers (live edits) during the tail does not restart it,
/// so the processor is called for its 2000 frames after the note and then
/// sleeps (it used to run as long as the edits went on).
#[test]
fn a_tail_countdown_carries_across_plan_swaps() {
    let calls = Arc::new(AtomicU32::new(0));
    let (mut handle, mut engine) = new_engine(config(64));
    assert!(handle
        .send_plan(ringing_plan(Some(Box::new(Ringing(calls.clone())))))
        .is_ok());
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    let note = TimedEvent::new(
        0,
        Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    );
    engine.process(&[note], None, &mut l, &mut r);
    for buffer in 1..200 {
        if buffer % 10 == 0 {
            assert!(handle.send_plan(ringing_plan(None)).is_ok());
        }
        engine.process(&[], None, &mut l, &mut r);
        while handle.take_retired().is_some() {}
    }
    // The note's buffer, then 2000 frames of tail in 64-frame buffers.
    assert_eq!(calls.load(Ordering::Relaxed), 1 + 2000u32.div_ceil(64));
}

/// Stamps its calls with the next number of a shared counter (atomics
/// only: this runs on the engine's audio path); `early` says whether it
/// starts early (as a sandboxed plugin does). Fills its block with a
/// quarter of the number of events it got.
struct Stamped {
    early: bool,
    clock: Arc<AtomicU32>,
    /// The stamp of its `start` and of its `process` (0: not called).
    started_at: Arc<AtomicU32>,
    processed_at: Arc<AtomicU32>,
    started_with: Option<usize>,
}

impl AudioProcessor for Stamped {
    fn start(&mut self, block: &mut Block<'_>) -> bool {
        if self.early {
            let t = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
            self.started_at.store(t, Ordering::Relaxed);
            self.started_with = Some(block.events.len());
        }
        self.early
    }

    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        let events = block.events.len();
        if let Some(n) = self.started_with.take() {
            assert_eq!(n, events, "started with other events than processed");
        }
        let t = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
        self.processed_at.store(t, Ordering::Relaxed);
        block.left.fill(events as f32 * 0.25);
        block.right.fill(events as f32 * 0.25);
        ProcessStatus::Continue
    }
}

/// A rack whose first plugin can run elsewhere (a sandbox) is started
/// before any rack is processed, and collected where its chain reaches it,
/// with the same events; the others run as before.
#[test]
fn a_rack_that_can_start_early_starts_before_any_rack_runs() {
    let clock = Arc::new(AtomicU32::new(0));
    let stamps = || (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (here, away) = (stamps(), stamps());
    let rack = |id: u64, early: bool, (s, p): &(Arc<AtomicU32>, Arc<AtomicU32>)| RackSpec {
        id: RackId(id),
        filter: Default::default(),
        gain: [1.0, 1.0],
        slots: vec![SlotSpec {
            id: ProcessorId(id),
            processor: Some(Box::new(Stamped {
                early,
                clock: clock.clone(),
                started_at: s.clone(),
                processed_at: p.clone(),
                started_with: None,
            })),
            kind: PluginKind::Instrument,
            bypass: false,
            expressions_as_midi: false,
            status: Default::default(),
        }],
        status: Default::default(),
        group: 0,
        mappings: Vec::new(),
        paging: None,
        delay: 0,
        midi_from: None,
        output: 0,
        sends: Vec::new(),
        silenced: false,
        input: Default::default(),
        cue: false,
        aux: Vec::new(),
    };
    let (mut handle, mut engine) = new_engine(config(64));
    let plan = PlanBuilder::new(48_000.0, 64, 64)
        .rack(rack(1, false, &here))
        .rack(rack(2, true, &away))
        .build();
    assert!(handle.send_plan(plan).is_ok());
    let note = TimedEvent::new(
        3,
        Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    );
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    engine.process(&[note], None, &mut l, &mut r);
    let at = |a: &Arc<AtomicU32>| a.load(Ordering::Relaxed);
    assert_eq!(
        [at(&away.0), at(&here.1), at(&away.1), at(&here.0)],
        [1, 2, 3, 0],
        "the early rack is started first, the other rack runs, then the early one is \
         collected (and the other is never started)"
    );
    // Both racks heard the one note (each puts out a quarter per event).
    assert_eq!(l[0], 0.5);
}
