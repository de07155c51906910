//! A live engine never waits for its sandboxes past its buffer's limit
//! (half the period from the start of the callback), however many of them
//! are late: a rack of three sandboxed plugins whose child (or children)
//! stopped costs the callback half a period, not half a period per plugin
//! (which, at three plugins, is longer than the period: every rack would
//! glitch).

use std::path::Path;
use std::time::{Duration, Instant};

use stagerack::engine::{EngineConfig, QueueCapacities};
use stagerack::midi::{Event, TimedEvent};
use stagerack::preset::parse_preset;
use stagerack::session::Session;
use stagerack_tests::jack::send_signal;

const RATE: f64 = 48_000.0;
const FRAMES: usize = 64;

/// A rack of three plugins in sandbox mode `{mode}`.
const PRESET: &str = r#"version = 1
name = "deadline"

[[rack]]
name = "three"
keys = [0, 127]
sandbox = "{mode}"
[[rack.plugin]]
format = "builtin"
id = "synth"
[[rack.plugin]]
format = "builtin"
id = "gain"
[[rack.plugin]]
format = "builtin"
id = "gain"
"#;

/// Median of `v`, in microseconds.
fn median_us(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

/// Stops (SIGSTOP) or continues (SIGCONT) process `pid` and waits until
/// every thread of it is stopped, or none is (1 s at most).
fn set_stopped(pid: u32, stopped: bool) {
    send_signal(pid, if stopped { "STOP" } else { "CONT" });
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        let states: Vec<bool> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('T')
            })
            .collect();
        if states.iter().all(|&t| t == stopped) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!(
        "sandbox child {pid} did not {}",
        if stopped { "stop" } else { "continue" }
    );
}

#[test]
fn a_stopped_child_costs_the_callback_half_a_period_whatever_its_plugins() {
    stopped_children_cost_half_a_period("rack", 1);
}

#[test]
fn stopped_children_of_one_plugin_each_cost_half_a_period_together() {
    stopped_children_cost_half_a_period("plugin", 3);
}

/// The three-plugin rack in `mode` (`children` sandbox processes): the
/// first buffer after they all stopped takes about half a period.
fn stopped_children_cost_half_a_period(mode: &str, children: usize) {
    // One at a time: each counts the sandbox children of this process.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let text = PRESET.replace("{mode}", mode);
    let preset = parse_preset(&text, Path::new("deadline.toml")).unwrap();
    let before = stagerack_tests::sandbox_children(std::process::id());
    let config = EngineConfig {
        sample_rate: RATE,
        max_block: FRAMES,
        queues: QueueCapacities::default(),
    };
    // Live (not offline): the engine's waits are bounded.
    let (mut session, mut engine) = Session::new(&preset, config, false).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    let pids: Vec<u32> = stagerack_tests::sandbox_children(std::process::id())
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(
        pids.len(),
        children,
        "sandbox children with `{mode}`: {pids:?}"
    );
    let period = Duration::from_secs_f64(FRAMES as f64 / RATE);
    let (mut l, mut r) = (vec![0.0f32; FRAMES], vec![0.0f32; FRAMES]);
    let chord: Vec<TimedEvent> = [48u8, 52, 55]
        .iter()
        .filter_map(|&key| Event::from_midi(&[0x90, key, 100]))
        .map(|e| TimedEvent::new(0, e))
        .collect();
    assert_eq!(chord.len(), 3);
    // One buffer: how long it took, and whether the rack (its child) sounded.
    let mut play = |events: &[TimedEvent]| {
        let t = Instant::now();
        engine.process(events, None, &mut l, &mut r);
        (t.elapsed(), l.iter().chain(&r).any(|&x| x != 0.0))
    };
    // Sounds once the child answers again (its chord held), 2 s at most.
    let until_it_sounds = |play: &mut dyn FnMut(&[TimedEvent]) -> (Duration, bool)| {
        let end = Instant::now() + Duration::from_secs(2);
        let mut healthy = Vec::new();
        while Instant::now() < end {
            let (took, sounds) = play(&[]);
            if sounds {
                healthy.push(took);
                if healthy.len() == 20 {
                    return healthy;
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        panic!("the sandboxed rack does not sound");
    };
    session.pump();
    play(&chord);
    let mut healthy = until_it_sounds(&mut play);
    // The child stops (a machine that took its core away, a debugger, a
    // plugin stuck in a system call): the first buffer asks all three of
    // the rack's plugins and none answers. Seven times, for a median.
    let mut first_stopped = Vec::new();
    for _ in 0..7 {
        for &child in &pids {
            set_stopped(child, true);
        }
        first_stopped.push(play(&[]).0);
        // Later buffers find the requests still unanswered: silence at once.
        play(&[]);
        for &child in &pids {
            set_stopped(child, false);
        }
        healthy.extend(until_it_sounds(&mut play));
    }
    let (healthy, stopped) = (median_us(healthy), median_us(first_stopped));
    eprintln!(
        "`{mode}`: per buffer of {} us: {healthy:.0} us median with the children \
         answering, {stopped:.0} us in the first with them stopped",
        period.as_micros()
    );
    // Half a period is 667 us here: waiting that long for each of the
    // three plugins took 2000 us. The margin is for a loaded machine's
    // late wake-ups.
    let half = period.as_secs_f64() * 1e6 * 0.5;
    assert!(
        stopped >= half * 0.9,
        "the engine did not wait for its stopped child at all ({stopped:.0} us)"
    );
    assert!(
        stopped < half * 1.6,
        "the engine waited {stopped:.0} us in a buffer for a stopped child (limit {half:.0} us \
         for the whole buffer, its plugins together)"
    );
    session.shutdown(engine);
}
