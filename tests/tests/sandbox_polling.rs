//! A sandbox child anticipates a live engine's buffers: once requests come
//! at a steady period from a real-time thread, its audio thread polls for
//! them just before they are due instead of sleeping until woken (the
//! wake-up was most of what a sandbox cost per buffer; the figures are in
//! `cargo xtask bench`). Only one thread of all an engine's children polls
//! at a time, and an offline render's child never polls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use stagerack::midi::EventBuffer;
use stagerack::plugin::sandbox::{set_child_program, SandboxProcess, SandboxedInstance};
use stagerack::plugin::{AudioProcessor, Block, PluginInstance, ProcessConfig, Transport};
use stagerack::preset::PluginDef;

const RATE: f64 = 48_000.0;
const FRAMES: usize = 64;
const BLOCKS: usize = 600;

fn config(offline: bool) -> ProcessConfig {
    ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block: FRAMES as u32,
        offline,
        aux_outputs: 0,
    }
}

/// Runs `processors` in order once per period (or back to back when
/// `paced` is false) for [`BLOCKS`] blocks from a real-time thread, the
/// main thread pumping `instances` meanwhile. Returns how many blocks came
/// back with the built-in gain's output (the input, unchanged) from every
/// processor, and the processors.
fn drive(
    instances: &mut [SandboxedInstance],
    processors: Vec<Box<dyn AudioProcessor>>,
    paced: bool,
) -> (usize, Vec<Box<dyn AudioProcessor>>) {
    let handle = std::thread::spawn(move || {
        let mut processors = processors;
        if paced {
            stagerack::io::realtime::promote_current_thread_to(5)
                .expect("the test's engine thread must be real-time, as a driver's is");
        }
        let transport = Transport {
            tempo: 120.0,
            playing: true,
            steady_frames: 0,
            sample_rate: RATE,
            wait_until: None,
        };
        let input: Vec<f32> = (0..FRAMES).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
        let (mut l, mut r) = (vec![0.0f32; FRAMES], vec![0.0f32; FRAMES]);
        let mut out_events = EventBuffer::with_capacity(64);
        let period = Duration::from_secs_f64(FRAMES as f64 / RATE);
        let mut next = Instant::now();
        let mut answered = 0;
        for _ in 0..BLOCKS {
            l.copy_from_slice(&input);
            r.copy_from_slice(&input);
            for p in &mut processors {
                out_events.clear();
                p.process(&mut Block {
                    frames: FRAMES,
                    left: &mut l,
                    right: &mut r,
                    events: &[],
                    out_events: &mut out_events,
                    transport: &transport,
                });
            }
            if l == input && r == input {
                answered += 1;
            }
            if paced {
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
        (answered, processors)
    });
    while !handle.is_finished() {
        for i in instances.iter_mut() {
            i.on_main_thread();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join().expect("the engine thread")
}

fn load(sandbox: &stagerack::plugin::sandbox::SharedSandbox) -> SandboxedInstance {
    SandboxedInstance::load(&PluginDef::builtin("gain"), sandbox).expect("load the gain sandboxed")
}

/// Activates `instances` live, plays them in order for [`BLOCKS`] paced
/// blocks and deactivates them; what is checked after is how the requests
/// were taken up.
fn play_live(instances: &mut [SandboxedInstance]) {
    // One paced engine thread at a time: three real-time threads and their
    // children on two cores would measure each other.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let ps: Vec<_> = instances
        .iter_mut()
        .map(|i| i.activate(&config(false)).expect("activate"))
        .collect();
    let (answered, ps) = drive(instances, ps, true);
    // Answers are checked (a block comes back as the gain's output), but
    // a machine running a build beside may make a child miss blocks.
    assert!(
        answered >= BLOCKS / 2,
        "{answered} of {BLOCKS} blocks answered"
    );
    for (i, p) in instances.iter_mut().zip(ps) {
        i.deactivate(p);
    }
}

#[test]
fn a_live_child_takes_its_buffers_by_polling_and_an_offline_one_never_polls() {
    set_child_program(stagerack_tests::stagerack_bin());
    let sandbox = SandboxProcess::launch("polling").expect("launch a sandbox");
    let mut live = vec![load(&sandbox)];
    play_live(&mut live);
    let polled = live[0].polled_requests() as usize;
    // The first requests teach it the period; after that nearly every
    // request is found by polling (a request earlier than the polling,
    // which lengthens the lead, is taken up by a wake-up as before).
    assert!(
        polled >= BLOCKS / 2,
        "only {polled} of {BLOCKS} requests were found by polling"
    );
    assert!(live[0].poll_time() > Duration::ZERO);

    // Offline: back to back from a thread at normal priority, never polled.
    let mut offline = vec![load(&sandbox)];
    let p = offline[0]
        .activate(&config(true))
        .expect("activate offline");
    let (polled_before, polling_before) = (offline[0].polled_requests(), offline[0].poll_time());
    let (answered, mut ps) = drive(&mut offline, vec![p], false);
    assert_eq!(answered, BLOCKS);
    assert_eq!(offline[0].polled_requests(), polled_before);
    assert_eq!(offline[0].poll_time(), polling_before);
    offline[0].deactivate(ps.pop().expect("the processor"));
}

#[test]
fn one_thread_of_all_the_engines_children_polls_at_a_time() {
    set_child_program(stagerack_tests::stagerack_bin());
    // Two children (`sandbox = "plugin"`: one process per plugin), asked
    // one after the other each period, as one rack's chain.
    let a = SandboxProcess::launch("polling a").expect("launch a sandbox");
    let b = SandboxProcess::launch("polling b").expect("launch a sandbox");
    let mut instances = vec![load(&a), load(&b)];
    play_live(&mut instances);
    let polled: Vec<u64> = instances.iter().map(|i| i.polled_requests()).collect();
    // Both polling every period would find about 2 × BLOCKS requests.
    let total: u64 = polled.iter().sum();
    assert!(total >= BLOCKS as u64 / 2, "polled {polled:?}");
    assert!(
        total <= BLOCKS as u64 * 5 / 4,
        "both children polled in the same periods: {polled:?} of {BLOCKS} each"
    );
}

#[test]
fn a_racks_later_plugins_are_taken_up_right_after_the_previous_answer() {
    set_child_program(stagerack_tests::stagerack_bin());
    // `sandbox = "rack"`: three plugins in one child, asked in chain order
    // each period. The first request is anticipated; each later one comes
    // right after the previous answer and is polled for then.
    let sandbox = SandboxProcess::launch("polling rack").expect("launch a sandbox");
    let mut instances = vec![load(&sandbox), load(&sandbox), load(&sandbox)];
    play_live(&mut instances);
    // Counted per child: all three plugins' requests.
    let polled = instances[0].polled_requests() as usize;
    assert!(
        polled >= 3 * BLOCKS / 2,
        "only {polled} of {} requests were found by polling",
        3 * BLOCKS
    );
}
