//! The show goes on: each misbehaving test plugin (`Stagerack Bad …`,
//! plugins-test/src/clap/misbehave.rs) in a rack panned hard left, a good
//! rack (the built-in probe) panned hard right. The good rack's output must
//! be intact every time, the output always finite and within full scale,
//! and the fault reported by name. Offline renders under the allocation
//! guard (the host's own code must not allocate; plugins' allocations are
//! counted, not fatal).

mod clap_support;
mod vst3_common;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::session::Session;

const FRAMES: u64 = 48_000;
const NOTES: [u64; 4] = [100, 10_000, 30_000, 47_000];

/// Renders one second with notes at [`NOTES`] (the probe in both racks
/// makes an impulse per note); returns (left = bad rack, right = good
/// rack, everything the session reported).
fn play(bad: &str, master: &str) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    play_with(bad, master, true)
}

/// [`play`], as a live session (`offline` false: overloads count) or not.
fn play_with(bad: &str, master: &str, offline: bool) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    let plugin = format!(
        "format = \"clap\"\nid = \"org.stagerack.test.bad-{bad}\"\npath = \"{}\"\n",
        bundle(&format!("stagerack-bad-{bad}")).display()
    );
    play_plugin(&plugin, master, offline, None, Threads::Default)
}

/// Where the racks run.
#[derive(Clone, Copy, PartialEq)]
enum Threads {
    /// The session's default pool (one thread per core).
    Default,
    /// All on the callback thread.
    Serial,
    /// On a worker thread of the pool; the callback thread only waits.
    WorkerOnly,
}

/// [`play_with`] with every rack run on the engine's worker thread (the
/// callback thread only waits for it).
fn play_on(bad: &str, offline: bool, threads: Threads) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    let plugin = format!(
        "format = \"clap\"\nid = \"org.stagerack.test.bad-{bad}\"\npath = \"{}\"\n",
        bundle(&format!("stagerack-bad-{bad}")).display()
    );
    play_plugin(&plugin, "", offline, None, threads)
}

/// [`play_with`] for any plugin: `plugin` is the body of its
/// `[[rack.plugin]]` table in the bad rack. With `edit_every`, the good
/// rack is renamed live every that many frames (each edit sends the
/// engine a new plan). `threads`: where the racks run.
fn play_plugin(
    plugin: &str,
    master: &str,
    offline: bool,
    edit_every: Option<u64>,
    threads: Threads,
) -> (Vec<f32>, Vec<f32>, Vec<String>) {
    let text = format!(
        "version = 1\nname = \"faults\"\n{master}\n\
         [[rack]]\nname = \"bad\"\npan = -1.0\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n\
         [[rack.plugin]]\n{plugin}\
         [[rack]]\nname = \"good\"\npan = 1.0\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n"
    );
    let config = stagerack::engine::EngineConfig {
        sample_rate: RATE,
        max_block: 64,
        queues: stagerack::engine::QueueCapacities::default(),
    };
    let (mut session, mut engine) = Session::new(&preset(&text), config, offline).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    match threads {
        Threads::Default => {}
        Threads::Serial => engine.use_threads(1).unwrap(),
        Threads::WorkerOnly => {
            engine.use_threads(2).unwrap();
            engine.racks_on_workers_only();
        }
    }
    let events: Vec<SampleEvent> = NOTES
        .iter()
        .map(|&frame| SampleEvent {
            frame,
            event: Event::NoteOn {
                channel: 0,
                key: 60,
                velocity: 0.5,
                note_id: -1,
            },
        })
        .collect();
    let mut reports = Vec::new();
    let out = stagerack::io::offline::render_offline(
        &mut engine,
        &stagerack::io::offline::OfflineJob {
            events: &events,
            input: None,
            block: 64,
            min_frames: FRAMES,
            max_tail_frames: 0,
            silence_frames: 0,
        },
        |pos| {
            if let Some(every) = edit_every.filter(|&n| pos > 0 && pos % n == 0) {
                let name = format!("good {}", pos / every);
                let edit = stagerack::session::RackEdit {
                    name: Some(name),
                    ..Default::default()
                };
                session.edit_rack(1, &edit).expect("a live edit");
            }
            reports.extend(session.pump())
        },
    );
    reports.extend(session.pump());
    reports.extend(session.warnings().iter().cloned());
    Session::shutdown(session, engine);
    (out.left, out.right, reports)
}

/// The good rack: an impulse of 0.5 at every note, nothing else.
fn assert_good_rack_intact(right: &[f32], bad: &str) {
    for (i, &x) in right.iter().enumerate() {
        let want = if NOTES.contains(&(i as u64)) {
            0.5
        } else {
            0.0
        };
        assert_eq!(x, want, "{bad}: the good rack at frame {i}");
    }
}

fn assert_safe(left: &[f32], bad: &str) {
    assert!(
        left.iter().all(|x| x.is_finite() && x.abs() <= 1.0),
        "{bad}: unsafe output reached the speakers"
    );
}

fn reported(reports: &[String], bad: &str, what: &str) {
    assert!(
        reports.iter().any(|r| r.contains(what)),
        "{bad}: no report containing `{what}`: {reports:?}"
    );
}

#[test]
fn a_plugin_panicking_in_process_is_bypassed_and_reported() {
    let (left, right, reports) = play("panic", "");
    assert_good_rack_intact(&right, "panic");
    assert_safe(&left, "panic");
    // A Rust plugin's panic cannot cross the C boundary: its CLAP wrapper
    // turns it into an error, which the host reports and bypasses.
    reported(
        &reports,
        "panic",
        "`Stagerack Bad Panic` returned an error from process: it is bypassed",
    );
    // Bypassed: the probe before it plays on in its rack.
    assert_eq!(left[30_000], 0.5);
}

#[test]
fn a_plugin_failing_in_process_is_bypassed_and_reported() {
    let (left, right, reports) = play("error", "");
    assert_good_rack_intact(&right, "error");
    reported(&reports, "error", "`Stagerack Bad Error` returned an error");
    assert_eq!(left[30_000], 0.5, "the rest of its rack plays");
}

/// A VST3 plugin whose `process` fails (returns `kResultFalse`) is
/// bypassed and reported exactly like a CLAP one (its result used to be
/// ignored and its unprocessed buffers played).
#[test]
fn a_vst3_plugin_failing_in_process_is_bypassed_and_reported() {
    let bad = vst3_common::own_bundle("Stagerack VST3 Bad");
    let class = stagerack::plugin::vst3::list_vst3_classes(&bad)
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Stagerack VST3 Bad Process")
        .expect("the Bad Process class");
    let plugin = format!(
        "format = \"vst3\"\nid = \"{}\"\npath = {:?}\n",
        class.id,
        bad.display().to_string()
    );
    let (left, right, reports) = play_plugin(&plugin, "", true, None, Threads::Default);
    assert_good_rack_intact(&right, "vst3 process");
    reported(
        &reports,
        "vst3 process",
        "`Stagerack VST3 Bad Process` returned an error from process: it is bypassed",
    );
    assert_eq!(left[30_000], 0.5, "the rest of its rack plays");
}

/// A plugin library allocates through its own allocator (here the Rust std
/// inside the .clap calling malloc); the host's wrapped C allocator counts
/// those calls for the slot running them: reported by name, not fatal, and
/// the plugin plays on.
#[test]
fn a_plugin_allocating_in_process_is_counted_and_reported_not_fatal() {
    let (left, right, reports) = play("alloc", "");
    assert_good_rack_intact(&right, "alloc");
    reported(
        &reports,
        "alloc",
        "`Stagerack Bad Alloc` allocates memory on the audio thread",
    );
    assert_eq!(left[30_000], 0.5);
}

#[test]
fn nan_and_infinite_output_mutes_the_rack_and_is_reported() {
    let (left, right, reports) = play("nan", "");
    assert_good_rack_intact(&right, "nan");
    assert_safe(&left, "nan");
    assert_eq!(left[100], 0.5, "before its output went bad");
    assert!(
        left[5_000..].iter().all(|x| *x == 0.0),
        "the rack is muted once the NaNs come"
    );
    reported(&reports, "nan", "`Stagerack Bad NaN` produced NaN");
}

#[test]
fn full_scale_dc_mutes_the_rack_and_is_reported() {
    let (left, right, reports) = play("dc", "");
    assert_good_rack_intact(&right, "dc");
    assert_safe(&left, "dc");
    reported(&reports, "dc", "rack `bad` put out sustained DC");
    // Muted after half a second (plus the 5 ms glide).
    assert!(left[..20_000].iter().any(|x| *x > 0.5), "DC at first");
    assert!(left[30_000..].iter().all(|x| *x == 0.0), "then silence");
}

/// The DC detector's count lives with the rack's running state, which a
/// new plan takes over: live edits every 0.1 s (each a plan swap) used to
/// restart it, so DC that never stopped was never caught.
#[test]
fn dc_is_caught_across_live_edits() {
    let plugin = format!(
        "format = \"clap\"\nid = \"org.stagerack.test.bad-dc\"\npath = \"{}\"\n",
        bundle("stagerack-bad-dc").display()
    );
    let (left, right, reports) = play_plugin(&plugin, "", true, Some(4_800), Threads::Default);
    assert_good_rack_intact(&right, "dc with edits");
    reported(&reports, "dc with edits", "rack `bad` put out sustained DC");
    assert!(
        left[30_000..].iter().all(|x| *x == 0.0),
        "muted after half a second although the plan changed every 0.1 s"
    );
}

#[test]
fn a_huge_reported_latency_is_capped_when_aligning() {
    // Without alignment (the default) nothing waits for it.
    let (left, right, _) = play("latency", "");
    assert_good_rack_intact(&right, "latency");
    assert_eq!(left[100], 0.5);
    // With alignment, the good rack waits one second at most (not ten):
    // within this one-second render it is entirely delayed out.
    let (_, right, _) = play("latency", "[master]\nalign_latency = true\n");
    assert!(right.iter().all(|x| *x == 0.0));
    let text = format!(
        "version = 1\nname = \"l\"\n[master]\nalign_latency = true\n\
         [[rack]]\nname = \"bad\"\n[[rack.plugin]]\nformat = \"clap\"\n\
         id = \"org.stagerack.test.bad-latency\"\npath = \"{}\"\n\
         [[rack]]\nname = \"good\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n",
        bundle("stagerack-bad-latency").display()
    );
    let (mut session, mut engine) = session(&preset(&text), 64);
    let events = [SampleEvent {
        frame: 10,
        event: Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    }];
    let out = render(&mut session, &mut engine, &events, None, 64, 2 * 48_000);
    session.shutdown(engine);
    let at = out.right.iter().position(|x| *x != 0.0);
    assert_eq!(at, Some(10 + 48_000), "delayed by the 1 s cap, not 10 s");
}

#[test]
fn a_slow_plugin_overloads_and_is_named_as_the_culprit() {
    // As a live session would run it: offline renders have no deadline.
    let (_, right, reports) = play_with("slow", "", false);
    assert_good_rack_intact(&right, "slow");
    reported(&reports, "slow", "`Stagerack Bad Slow` took");
    reported(&reports, "slow", "the audio overloaded");
}

/// A plugin that allocates or panics on a worker thread of the pool is
/// reported by name exactly as on the callback thread, and the good rack
/// (on the worker too) plays on intact.
#[test]
fn bad_plugins_on_a_worker_thread_are_reported_exactly_as_on_the_callback_thread() {
    for bad in ["alloc", "panic"] {
        let (left_cb, right_cb, reports_cb) = play_on(bad, true, Threads::Serial);
        let (left_w, right_w, reports_w) = play_on(bad, true, Threads::WorkerOnly);
        assert_good_rack_intact(&right_w, bad);
        assert_safe(&left_w, bad);
        let faults = |r: &[String]| -> Vec<String> {
            r.iter()
                .filter(|m| m.contains("Stagerack Bad"))
                .cloned()
                .collect()
        };
        assert!(!faults(&reports_w).is_empty(), "{bad}: {reports_w:?}");
        assert_eq!(
            faults(&reports_w),
            faults(&reports_cb),
            "{bad}: the reports on a worker"
        );
        assert_eq!(left_w, left_cb, "{bad}: the bad rack's output");
        assert_eq!(right_w, right_cb, "{bad}: the good rack's output");
    }
}

/// A slow plugin on a worker thread overloads the buffer (the callback
/// waits for it) and is named as the culprit.
#[test]
fn a_slow_plugin_on_a_worker_thread_is_named_as_the_culprit() {
    let (_, right, reports) = play_on("slow", false, Threads::WorkerOnly);
    assert_good_rack_intact(&right, "slow");
    reported(&reports, "slow", "`Stagerack Bad Slow` took");
    reported(&reports, "slow", "the audio overloaded");
}

/// `stagerack check --rt` names the plugin that misbehaves and fails; a
/// well-behaved preset passes.
#[test]
fn check_rt_reports_each_plugin_and_fails_on_violations() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("faulty.toml");
    std::fs::write(
        &file,
        format!(
            "version = 1\nname = \"faulty\"\n[[rack]]\nname = \"bad\"\n\
             [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n\
             [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.bad-nan\"\npath = \"{}\"\n\
             [[rack]]\nname = \"slow\"\n\
             [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.bad-slow\"\npath = \"{}\"\n\
             [[rack]]\nname = \"alloc\"\n\
             [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.bad-alloc\"\npath = \"{}\"\n",
            bundle("stagerack-bad-nan").display(),
            bundle("stagerack-bad-slow").display(),
            bundle("stagerack-bad-alloc").display()
        ),
    )
    .unwrap();
    let run = |f: &std::path::Path| {
        std::process::Command::new(stagerack_tests::stagerack_bin())
            .env("RUST_LOG", "info")
            .args(["check", "--rt", "--seconds", "1"])
            .arg(f)
            .output()
            .unwrap()
    };
    let out = run(&file);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Stagerack Bad NaN") && text.contains("NaN/infinite/runaway output"),
        "{text}"
    );
    assert!(
        text.contains("Stagerack Bad Slow") && text.contains("over half the period"),
        "{text}"
    );
    assert!(text.contains("rack `bad` was muted for a fault"), "{text}");
    assert!(
        text.contains("Stagerack Bad Alloc")
            && text.contains("allocations/frees on the audio thread"),
        "{text}"
    );

    // The same plugins each in a sandbox process: the same verdicts (the
    // children count their plugins' allocations on their audio threads).
    let sandboxed = dir.path().join("faulty-sandboxed.toml");
    let text = std::fs::read_to_string(&file).unwrap() + "[master]\nsandbox = \"plugin\"\n";
    std::fs::write(&sandboxed, text).unwrap();
    let out = run(&sandboxed);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    // One child per plugin, or the verdicts below come from in-process.
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        log.matches("sandbox process").count(),
        4,
        "the four plugins did not each run in a sandbox:\n{log}"
    );
    for (plugin, verdict) in [
        ("Stagerack Bad NaN", "NaN/infinite/runaway output"),
        ("Stagerack Bad Slow", "over half the period"),
        (
            "Stagerack Bad Alloc",
            "allocations/frees on the audio thread",
        ),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(plugin) && l.contains(verdict)),
            "sandboxed, `{plugin}` is not reported for {verdict}:\n{text}"
        );
    }

    let demo = stagerack_tests::workspace_root().join("presets/demo.toml");
    let out = run(&demo);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("no real-time violations"), "{text}");
    assert!(text.contains("rack `bass`: Stagerack Synth"), "{text}");
}
