//! A sandboxed plugin that segfaults, aborts and hangs mid-song, live on a
//! private JACK server: the other rack's output goes on sample for sample,
//! the sandboxed rack sounds again after each crash (faded in, its state
//! restored), the report names the plugin and the cause, and the third
//! crash within a minute leaves the rack off.
//!
//! Both racks host `Stagerack Crash On Note`, a steady sine (period 128
//! frames, amplitude 0.25): `steady` in the engine, panned hard left,
//! keys 60–127; `crashy` in a sandbox of its own, panned hard right, keys
//! 0–10 (keys 1, 2 and 3 make it segfault, abort and hang).

use std::time::{Duration, Instant};

use stagerack_plugins_test::clap::crash_on_note::{
    sample_at, KEY_ABORT, KEY_HANG, KEY_SEGFAULT, PERIOD_FRAMES,
};
use stagerack_tests::jack::{unique_name, JackServer, MidiSender, Stagerack};
use stagerack_tests::sandbox_children;
use stagerack_tests::stereo_recorder::{Cycle, StereoRecorder};

const PERIOD: u32 = 64;

/// The preset: `steady` in the engine, and `crashy` in sandbox mode
/// `sandbox`, hosting the crash plugin followed by `more` (extra
/// `[[rack.plugin]]` tables).
fn preset(sandbox: &str, more: &str) -> String {
    let plugin = stagerack_tests::clap_unsafe_bundle("stagerack-crash-on-note");
    format!(
        r#"version = 1
name = "sandbox-live"

[[rack]]
name = "steady"
keys = [60, 127]
pan = -1.0
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.crash-on-note"
path = "{p}"

[[rack]]
name = "crashy"
keys = [0, 10]
pan = 1.0
sandbox = "{sandbox}"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.crash-on-note"
path = "{p}"
{more}"#,
        p = plugin.display()
    )
}

/// The phase (0..128) at which `samples` are exactly the plugin's sine,
/// if they are.
fn sine_phase(samples: &[f32]) -> Option<u64> {
    (0..PERIOD_FRAMES).find(|&k| {
        samples
            .iter()
            .enumerate()
            .all(|(i, &x)| (x - sample_at(k + i as u64)).abs() <= 1e-6)
    })
}

/// Waits until stagerack's stderr contains `what` (20 s at most); `None`
/// when it did not come while stagerack's status lines show JACK stalled
/// (100+ xruns: the machine's doing, measured again by the caller), a
/// failure otherwise.
fn wait_for_unless_stalled(sr: &Stagerack, what: &str) -> Option<String> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let err = sr.stderr();
        if let Some(line) = err.lines().find(|l| l.contains(what)) {
            return Some(line.to_owned());
        }
        if Instant::now() >= until {
            if stagerack_tests::jack::jack_stalled(&err) {
                eprintln!("JACK stalled before stagerack said `{what}`: measuring again");
                return None;
            }
            panic!("stagerack never said `{what}`; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until stagerack's stderr contains `what` (20 s at most).
fn wait_for(sr: &Stagerack, what: &str) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let err = sr.stderr();
        if let Some(line) = err.lines().find(|l| l.contains(what)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < until,
            "stagerack never said `{what}`; stderr:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Cycles around an xrun report in which the steady rack is excused: the
/// report comes up to tens of cycles after the cycle JACK ran late, and
/// the late cycle leaves a stale or silent buffer behind.
const XRUN_WINDOW: i64 = 64;

/// Checks the steady rack (left) sample by sample: every cycle is the
/// sine, and from one cycle to the next its phase moves on by exactly one
/// period. A cycle that is not is excused only within [`XRUN_WINDOW`]
/// cycles before an xrun JACK reported, or right after cycles the
/// recorder itself lost (the machine's, not the host's, doing); returns
/// how many were excused.
fn assert_steady_never_glitched(cycles: &[Cycle], xruns: &[u32]) -> usize {
    let mut excused = 0;
    let mut prev: Option<(u32, Option<u64>)> = None;
    for (n, c) in cycles.iter().enumerate() {
        let phase = sine_phase(&c.left);
        // The recorder itself lost the cycles before this one: JACK
        // dropped clients' cycles there (it may report the xrun much
        // later, or not at all), stagerack's as likely as the recorder's.
        let recorder_gap = prev.is_some_and(|(frame, _)| c.frame.wrapping_sub(frame) != PERIOD);
        let fits = match (phase, prev) {
            (None, _) => false,
            (Some(p), Some((frame, Some(q)))) => {
                let moved = u64::from(c.frame.wrapping_sub(frame));
                p == (q + moved) % PERIOD_FRAMES
            }
            (Some(_), _) => true,
        };
        if !fits {
            assert!(
                recorder_gap || near_xrun(c.frame, xruns),
                "cycle {n} (frame {}) of the steady rack is not its sine going on from the \
                 cycle before, with no xrun near: {:?} (phase {phase:?}, before {prev:?})",
                c.frame,
                &c.left[..8]
            );
            excused += 1;
        }
        prev = Some((c.frame, phase));
    }
    excused
}

/// Sound of the sandboxed rack enough to say it is back: 0.1 s of
/// cycles that are exactly its sine. (A loaded machine can make a healthy
/// child miss blocks, silence by design, so the test does not ask for
/// unbroken sound; but nothing but the plugin running again makes its
/// sine.)
const BACK: usize = 4_800;

/// True when `frame` is at or after `mark` (JACK frame times wrap).
fn at_or_after(frame: u32, mark: u32) -> bool {
    frame.wrapping_sub(mark) as i32 >= 0
}

/// Samples of the sandboxed rack (right) that are exactly its sine, in the
/// cycles from `from` up to `to` (frames).
fn sine_between(cycles: &[Cycle], (from, to): (u32, u32)) -> usize {
    cycles
        .iter()
        .filter(|c| at_or_after(c.frame, from) && !at_or_after(c.frame, to))
        .filter(|c| sine_phase(&c.right).is_some())
        .map(|c| c.right.len())
        .sum()
}

/// The sandboxed rack (right) in the cycles from `from` on: (samples
/// recorded, samples not zero).
fn heard_from(cycles: &[Cycle], from: u32) -> (usize, usize) {
    cycles
        .iter()
        .filter(|c| at_or_after(c.frame, from))
        .fold((0, 0), |(n, loud), c| {
            (
                n + c.right.len(),
                loud + c.right.iter().filter(|&&x| x != 0.0).count(),
            )
        })
}

/// Asserts the sandboxed rack sounded (its exact sine, [`BACK`] or more)
/// in each stretch of `sounding`, named by `what`.
fn assert_sounded(cycles: &[Cycle], sounding: &[(u32, u32)], what: &[&str]) {
    for (stretch, what) in sounding.iter().zip(what) {
        let n = sine_between(cycles, *stretch);
        assert!(
            n >= BACK,
            "the sandboxed rack did not sound {what}: {n} samples of its sine between \
             frames {} and {} (every stretch: {:?})",
            stretch.0,
            stretch.1,
            sounding
                .iter()
                .map(|&s| sine_between(cycles, s))
                .collect::<Vec<_>>()
        );
    }
}

/// True within [`XRUN_WINDOW`] cycles before an xrun JACK reported (or 2
/// after it).
fn near_xrun(frame: u32, xruns: &[u32]) -> bool {
    xruns.iter().any(|&x| {
        let d = i64::from(x.wrapping_sub(frame) as i32) / i64::from(PERIOD);
        (-2..=XRUN_WINDOW).contains(&d)
    })
}

/// A live run: the server, stagerack playing the two racks (`crashy` in
/// sandbox mode `sandbox`), a MIDI keyboard into it and a recorder of its
/// outputs.
struct Live {
    /// JACK test clients pick their server through the process's
    /// environment: one live run at a time in this test binary.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    sr: Stagerack,
    keys: MidiSender,
    rec: StereoRecorder,
    _server: JackServer,
}

impl Live {
    fn start(tag: &str, preset_text: &str) -> Live {
        static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let one_at_a_time = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let server = JackServer::start(&unique_name(tag), PERIOD);
        let preset = dir.path().join("sandbox-live.toml");
        std::fs::write(&preset, preset_text).unwrap();
        let preset = preset.display().to_string();
        let sr = Stagerack::spawn(&server.name, &["--preset", &preset, "--status-every", "1"]);
        wait_for(&sr, "first buffer processed");
        let keys = MidiSender::connect(&server.name, "tt-keys", "stagerack:midi_in");
        let rec = StereoRecorder::start(
            &server.name,
            "tt-rec",
            "stagerack:out_L",
            "stagerack:out_R",
            20.0,
        );
        std::thread::sleep(Duration::from_millis(500));
        Live {
            _one_at_a_time: one_at_a_time,
            _dir: dir,
            sr,
            keys,
            rec,
            _server: server,
        }
    }

    /// Stops stagerack; returns the recorded cycles from the first in
    /// which both outputs sound, checks the steady rack in all of them
    /// and returns them with the number excused for xruns. `None` when
    /// more than half the cycles had to be excused: the run measured the
    /// machine (JACK itself running late, as it does without real-time
    /// scheduling beside a build), not stagerack, and is measured again.
    fn finish(self) -> Option<(Vec<Cycle>, usize)> {
        // JACK applies the recorder's two connections at later graph
        // updates (not always the same one): the cycles before both hear
        // nothing.
        let cycles: Vec<Cycle> = self
            .rec
            .cycles()
            .into_iter()
            .skip_while(|c| c.left.iter().all(|&x| x == 0.0) || c.right.iter().all(|&x| x == 0.0))
            .collect();
        let (ok, stderr) = self.sr.stop();
        eprintln!("stagerack said:\n{stderr}");
        assert!(ok, "stagerack did not stop cleanly:\n{stderr}");
        let xruns = self.rec.xruns();
        let excused = assert_steady_never_glitched(&cycles, &xruns);
        if excused * 2 > cycles.len() {
            eprintln!(
                "{excused} cycles of {} were excused for {} xruns: too disturbed to judge, \
                 measuring again",
                cycles.len(),
                xruns.len()
            );
            return None;
        }
        Some((cycles, excused))
    }
}

/// Each thread of process `pid`: its name and scheduling policy (0 normal,
/// 1 FIFO, 2 round robin), from /proc.
fn thread_policies(pid: u32) -> Vec<(String, u32)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            // Fields after the name in parentheses: state is field 3, the
            // policy field 41.
            let policy = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(38)?
                .parse()
                .ok()?;
            Some((name.trim().to_owned(), policy))
        })
        .collect()
}

/// Runs `scenario` until a run JACK kept time in (three at most), one
/// scenario at a time: each runs its own JACK server, stagerack and
/// sandbox children (one spinning 49 ms a block on purpose), and three at
/// once on two cores made JACK drop stagerack's cycles without reporting
/// the xrun, which the steady rack's check cannot tell from a host bug.
fn in_a_run_jack_kept_time_in(scenario: impl Fn(usize) -> Option<()>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for attempt in 0..3 {
        if scenario(attempt).is_some() {
            return;
        }
    }
    panic!("the machine was too loaded for JACK to keep time in three runs");
}

#[test]
fn a_sandboxed_plugin_crashes_aborts_and_hangs_while_the_other_rack_plays_on() {
    in_a_run_jack_kept_time_in(crash_abort_hang);
}

fn crash_abort_hang(attempt: usize) -> Option<()> {
    let live = Live::start(&format!("sandbox{attempt}"), &preset("plugin", ""));
    let (sr, keys, rec) = (&live.sr, &live.keys, &live.rec);
    let mut said = Vec::new();
    // Where the rack must sound: before the first crash, and after each
    // of the two it comes back from (marks on JACK's frame clock).
    let mut sounding = Vec::new();
    let mut from = rec.frame_now();
    std::thread::sleep(Duration::from_millis(400));
    for (key, cause) in [
        (KEY_SEGFAULT, "crashed (SIGSEGV), back in"),
        (KEY_ABORT, "crashed (SIGABRT), back in"),
    ] {
        sounding.push((from, rec.frame_now()));
        keys.send(&[0x90, key, 100]);
        keys.send(&[0x80, key, 0]);
        said.push(wait_for_unless_stalled(sr, cause)?);
        from = rec.frame_now();
        // Sound again for a while before the next crash.
        std::thread::sleep(Duration::from_millis(700));
    }
    sounding.push((from, rec.frame_now()));
    keys.send(&[0x90, KEY_HANG, 100]);
    said.push(wait_for_unless_stalled(sr, "stays off")?);
    let off = rec.frame_now();
    std::thread::sleep(Duration::from_millis(500));
    let (cycles, excused) = live.finish()?;

    for line in &said {
        assert!(
            line.contains("rack `crashy`") && line.contains("Stagerack Crash On Note"),
            "the report does not name rack and plugin: {line}"
        );
    }
    assert!(
        said[2].contains("stopped answering") && said[2].contains("3 crashes within 60 s"),
        "the hang is not reported as such: {}",
        said[2]
    );
    assert_sounded(
        &cycles,
        &sounding,
        &[
            "before its first crash",
            "after its first comeback",
            "after its second comeback",
        ],
    );
    // Off for good after the third.
    let (recorded, loud) = heard_from(&cycles, off);
    assert!(
        recorded >= 9_600 && loud == 0,
        "the crashy rack did not stay off after its third crash: {loud} samples not zero \
         of {recorded} recorded after the report"
    );
    eprintln!(
        "steady rack: {} cycles, all exact but {excused} excused near xruns; crashy rack's \
         sine before and after each comeback: {:?} samples; reports:\n{}",
        cycles.len(),
        sounding
            .iter()
            .map(|&s| sine_between(&cycles, s))
            .collect::<Vec<_>>(),
        said.join("\n")
    );
    Some(())
}

#[test]
fn a_rack_sandbox_killed_from_outside_comes_back_while_the_other_rack_plays_on() {
    in_a_run_jack_kept_time_in(kill_from_outside);
}

fn kill_from_outside(attempt: usize) -> Option<()> {
    let live = Live::start(&format!("sandbox-kill{attempt}"), &preset("rack", ""));
    let children = sandbox_children(live.sr.pid());
    assert_eq!(
        children.len(),
        1,
        "the sandboxed rack should run in exactly one child: {children:?}"
    );
    let begin = live.rec.frame_now();
    std::thread::sleep(Duration::from_millis(400));
    let before = (begin, live.rec.frame_now());
    stagerack_tests::jack::send_signal(children[0], "KILL");
    let said = wait_for(&live.sr, "back in");
    let back = live.rec.frame_now();
    std::thread::sleep(Duration::from_millis(700));
    let after = (back, live.rec.frame_now());
    let again = sandbox_children(live.sr.pid());
    let (cycles, excused) = live.finish()?;
    assert!(
        said.contains("rack `crashy`") && said.contains("crashed (SIGKILL)"),
        "the report does not name the rack and the cause: {said}"
    );
    assert!(
        again.len() == 1 && again != children,
        "no new child replaced the killed one: {children:?} then {again:?}"
    );
    assert_sounded(
        &cycles,
        &[before, after],
        &["before it was killed", "after it came back"],
    );
    eprintln!(
        "steady rack: {} cycles, all exact but {excused} excused near xruns; the killed \
         rack's sine before and after: {} and {} samples; report: {said}",
        cycles.len(),
        sine_between(&cycles, before),
        sine_between(&cycles, after)
    );
    Some(())
}

#[test]
fn a_sandboxed_plugin_too_slow_for_the_buffer_is_reported_and_never_killed() {
    in_a_run_jack_kept_time_in(too_slow);
}

/// `Stagerack Bad Slow` (three blocks' time in every call) after the
/// crash plugin in the sandboxed rack: its child answers every block
/// late. It is alive, so it is never killed as hung (that would burn the
/// rack's three crashes and fix nothing); its missed blocks are reported
/// by name, and the other rack plays on.
fn too_slow(attempt: usize) -> Option<()> {
    let slow = format!(
        "[[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.bad-slow\"\npath = \"{}\"\n",
        stagerack_tests::clap_bundle("stagerack-bad-slow").display()
    );
    let live = Live::start(&format!("sandbox-slow{attempt}"), &preset("rack", &slow));
    let said = wait_for(&live.sr, "plugin `Stagerack Bad Slow` missed");
    // Well past the hang limit (0.5 s without an answer).
    std::thread::sleep(Duration::from_millis(1500));
    let children = sandbox_children(live.sr.pid());
    let engine_realtime = thread_policies(live.sr.pid()).iter().any(|&(_, p)| p != 0);
    let child_policies: Vec<_> = children.iter().flat_map(|&c| thread_policies(c)).collect();
    let stderr = live.sr.stderr();
    let (cycles, excused) = live.finish()?;
    // A child missing most of its blocks runs at normal priority: at
    // real-time priority it would hold a core however late it is.
    assert!(
        stderr.contains(
            "plugin `Stagerack Bad Slow` missed most of its blocks: its sandbox runs at \
             normal priority"
        ),
        "the slow plugin's sandbox was not demoted:\n{stderr}"
    );
    if engine_realtime {
        assert!(
            child_policies
                .iter()
                .any(|(name, policy)| name.starts_with("stagerack-sandb") && *policy == 0),
            "the engine is real-time but every sandbox audio thread still is: \
             {child_policies:?}"
        );
    }
    assert!(
        said.contains("rack `crashy`") && said.contains("plugin `Stagerack Bad Slow` missed"),
        "the missed blocks are not reported by rack and plugin: {said}"
    );
    assert!(
        !stderr.contains("stopped answering") && !stderr.contains("back in"),
        "a slow but living sandbox was killed as hung:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("sandbox process").count(),
        1,
        "the rack's sandbox was launched more than once:\n{stderr}"
    );
    assert_eq!(children.len(), 1, "the sandbox is gone: {children:?}");
    eprintln!(
        "steady rack: {} cycles, all exact but {excused} excused near xruns; report: {said}",
        cycles.len()
    );
    Some(())
}
