//! The allocation guard is live in tests, and the engine survives panics.

mod common;
use common::*;

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use stagerack::engine::{
    new_engine, PlanBuilder, ProcessorId, RackId, RackSpec, SlotSpec, SlotStatus,
};
use stagerack::plugin::{AudioProcessor, Block, PluginKind, ProcessStatus};

const CHILD: &str = "STAGERACK_GUARD_CHILD";

/// Re-runs this test binary with only `test_name`, flagged as the child.
fn run_child(test_name: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap()
}

#[test]
fn allocating_inside_the_guard_aborts() {
    if std::env::var_os(CHILD).is_some() {
        stagerack::engine::alloc_guard::no_alloc(|| {
            let v: Vec<u8> = Vec::with_capacity(4321);
            std::hint::black_box(v);
        });
        return; // not reached when the guard works
    }
    let out = run_child("allocating_inside_the_guard_aborts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the child survived an allocation: {stderr}"
    );
    assert!(
        stderr.contains("memory allocation of 4321 bytes failed"),
        "{stderr}"
    );
}

struct Allocates;
impl AudioProcessor for Allocates {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        let v = vec![1.0f32; 777];
        block.left[0] = v[0];
        ProcessStatus::Continue
    }
}

fn slot(id: u64, p: Box<dyn AudioProcessor>, kind: PluginKind) -> (SlotSpec, Arc<SlotStatus>) {
    let status = Arc::new(SlotStatus::default());
    (
        SlotSpec {
            id: ProcessorId(id),
            processor: Some(p),
            kind,
            bypass: false,
            expressions_as_midi: false,
            status: status.clone(),
        },
        status,
    )
}

/// A rack of one slot, unity gain, every input.
fn rack(id: u64, s: SlotSpec) -> RackSpec {
    RackSpec {
        id: RackId(id),
        filter: Default::default(),
        gain: [1.0, 1.0],
        slots: vec![s],
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
    }
}

/// A processor allocating in process (a plugin breaking the real-time
/// rules) is counted for that slot and reported, not fatal; the host's own
/// code stays under the strict guard (the test above).
#[test]
fn a_processor_allocating_in_process_is_counted_not_fatal() {
    allocating_processor_is_counted(false);
}

/// The same on a worker thread of the pool (the callback thread only
/// waits for it): counted for that slot exactly as on the callback thread.
#[test]
fn a_processor_allocating_on_a_worker_thread_is_counted_the_same() {
    allocating_processor_is_counted(true);
}

/// Runs racks on a worker thread only (`on_worker`), else serially.
fn place_racks(engine: &mut stagerack::engine::Engine, on_worker: bool) {
    if on_worker {
        engine.use_threads(2).unwrap();
        engine.racks_on_workers_only();
    } else {
        engine.use_threads(1).unwrap();
    }
}

fn allocating_processor_is_counted(on_worker: bool) {
    let (mut handle, mut engine) = new_engine(config(64));
    place_racks(&mut engine, on_worker);
    let (s, status) = slot(1, Box::new(Allocates), PluginKind::Instrument);
    let plan = PlanBuilder::new(48_000.0, 64, 64).rack(rack(1, s)).build();
    assert!(handle.send_plan(plan).is_ok());
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    for _ in 0..3 {
        engine.process(&[], None, &mut l, &mut r);
    }
    assert_eq!(l[0], 1.0, "it still plays");
    // One allocation and one free per call.
    assert_eq!(status.allocs.load(Ordering::Relaxed), 6);
    assert!(status.cpu_ns.load(Ordering::Relaxed) > 0, "timed too");
}

struct PanicsAfter(u32);
impl AudioProcessor for PanicsAfter {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.0 == 0 {
            panic!("boom at block {}", block.frames);
        }
        self.0 -= 1;
        block.left.fill(0.25);
        block.right.fill(0.25);
        ProcessStatus::Continue
    }
}

struct Dc(f32);
impl AudioProcessor for Dc {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        block.left.fill(self.0);
        block.right.fill(self.0);
        ProcessStatus::Continue
    }
}

#[test]
fn a_panicking_processor_is_bypassed_and_the_rest_plays() {
    panicking_processor_is_bypassed(false);
}

/// The same with both racks on a worker thread: reported by processor
/// exactly as on the callback thread, the other rack plays on.
#[test]
fn a_panicking_processor_on_a_worker_thread_is_reported_the_same() {
    panicking_processor_is_bypassed(true);
}

fn panicking_processor_is_bypassed(on_worker: bool) {
    let (mut handle, mut engine) = new_engine(config(64));
    place_racks(&mut engine, on_worker);
    let (bad, bad_status) = slot(1, Box::new(PanicsAfter(2)), PluginKind::Instrument);
    let (good, _) = slot(2, Box::new(Dc(0.5)), PluginKind::Instrument);
    let plan = PlanBuilder::new(48_000.0, 64, 64)
        .rack(rack(1, bad))
        .rack(rack(2, good))
        .build();
    assert!(handle.send_plan(plan).is_ok());
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    let mut firsts = Vec::new();
    for _ in 0..5 {
        engine.process(&[], None, &mut l, &mut r);
        firsts.push(l[0]);
    }
    // Two blocks of both racks, then the bad one is silenced and bypassed.
    assert_eq!(firsts, vec![0.75, 0.75, 0.5, 0.5, 0.5]);
    assert!(bad_status.panicked.load(Ordering::Relaxed));
    assert!(bad_status.failed.load(Ordering::Relaxed));
    let report = handle
        .take_panic()
        .expect("the panic is reported to the main thread");
    assert_eq!(report.processor, Some(ProcessorId(1)));
    assert!(
        report.message().contains("boom at block 64"),
        "{}",
        report.message()
    );
    assert_eq!(engine.shared().buffers.load(Ordering::Relaxed), 5);
    assert_eq!(engine.shared().panics.load(Ordering::Relaxed), 1);
}

#[test]
fn nan_and_overs_never_reach_the_output() {
    let (mut handle, mut engine) = new_engine(config(64));
    let (nan, nan_status) = slot(1, Box::new(Dc(f32::NAN)), PluginKind::Instrument);
    let (loud, loud_status) = slot(2, Box::new(Dc(4.0)), PluginKind::Instrument);
    let rack = |id, s| RackSpec {
        id: RackId(id),
        filter: Default::default(),
        gain: [1.0, 1.0],
        slots: vec![s],
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
    let plan = PlanBuilder::new(48_000.0, 64, 64)
        .rack(rack(1, nan))
        .rack(rack(2, loud))
        .build();
    assert!(handle.send_plan(plan).is_ok());
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    for _ in 0..10 {
        engine.process(&[], None, &mut l, &mut r);
        for x in l.iter().chain(r.iter()) {
            assert!(x.is_finite() && x.abs() <= 1.0, "{x}");
        }
    }
    // The NaN plugin is bypassed and reported; the loud one still plays,
    // held at full scale by the safety limiter.
    assert!(nan_status.bad_output.load(Ordering::Relaxed));
    assert!(nan_status.failed.load(Ordering::Relaxed));
    assert!(!loud_status.failed.load(Ordering::Relaxed));
    assert!((l[63] - 1.0).abs() < 1e-6, "{}", l[63]);
    assert!(engine.shared().limited_frames.load(Ordering::Relaxed) >= 640);
}
