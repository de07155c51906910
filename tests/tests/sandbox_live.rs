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
use stagerack_tests::stereo_recorder::{Cycle, StereoRecorder};

const PERIOD: u32 = 64;

fn preset(dir: &std::path::Path, sandbox: &str) -> String {
    let plugin = stagerack_tests::clap_unsafe_bundle("stagerack-crash-on-note");
    let text = format!(
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
"#,
        p = plugin.display()
    );
    let path = dir.join("sandbox-live.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
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
/// cycles before an xrun JACK reported (the machine's, not the host's,
/// doing); returns how many were excused.
fn assert_steady_never_glitched(cycles: &[Cycle], xruns: &[u32]) -> usize {
    let mut excused = 0;
    let mut prev: Option<(u32, Option<u64>)> = None;
    for (n, c) in cycles.iter().enumerate() {
        let phase = sine_phase(&c.left);
        let fits = match (phase, prev) {
            (None, _) => false,
            (Some(p), Some((frame, Some(q)))) => {
                // Continuity across the recorder's own gaps too: the
                // engine plays every cycle JACK runs.
                let moved = u64::from(c.frame.wrapping_sub(frame));
                p == (q + moved) % PERIOD_FRAMES
            }
            (Some(_), _) => true,
        };
        if !fits {
            assert!(
                near_xrun(c.frame, xruns),
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

/// Sound of the sandboxed rack long enough to say it is back: 0.3 s.
const BACK: usize = 14_400;

/// The sandboxed rack's (right) outages: runs of exact silence a block or
/// longer, as (first sample, length), in samples from the recording's
/// start. The sine is exactly zero once per period at most, so a block of
/// zeros is no zero crossing: it is a crash, a hang, or a deadline the
/// child missed on a loaded machine (silence for that block, by design).
/// (Near an xrun too: a cycle JACK ran late leaves the buffer before it,
/// not silence.)
fn outages(cycles: &[Cycle]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize, u32)> = Vec::new();
    let mut run: Option<(usize, usize, u32)> = None;
    let mut at = 0;
    for c in cycles {
        for &x in &c.right {
            match (&mut run, x == 0.0) {
                (Some((_, n, _)), true) => *n += 1,
                (None, true) => run = Some((at, 1, c.frame)),
                (Some(_), false) => {
                    out.extend(run.take());
                }
                (None, false) => {}
            }
            at += 1;
        }
    }
    out.extend(run);
    out.into_iter()
        .filter(|&(_, n, _)| n >= PERIOD as usize)
        .map(|(start, n, _)| (start, n))
        .collect()
}

/// True within [`XRUN_WINDOW`] cycles before an xrun JACK reported (or 2
/// after it).
fn near_xrun(frame: u32, xruns: &[u32]) -> bool {
    xruns.iter().any(|&x| {
        let d = i64::from(x.wrapping_sub(frame) as i32) / i64::from(PERIOD);
        (-2..=XRUN_WINDOW).contains(&d)
    })
}

/// The stretches of uninterrupted sound between the outages, in samples:
/// the rack sounding before each crash and again after each relaunch.
fn sound_stretches(outages: &[(usize, usize)], total: usize) -> Vec<usize> {
    let mut stretches = Vec::new();
    let mut from = 0;
    for &(start, len) in outages {
        stretches.push(start - from);
        from = start + len;
    }
    stretches.push(total - from);
    stretches
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
    fn start(tag: &str, sandbox: &str) -> Live {
        static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let one_at_a_time = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let server = JackServer::start(&unique_name(tag), PERIOD);
        let preset = preset(dir.path(), sandbox);
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
    /// more than one cycle in fifty had to be excused: the run measured
    /// the machine (JACK itself running late), not stagerack, and is
    /// measured again.
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
        if excused * 50 > cycles.len() {
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

/// The sandbox children of process `parent`.
fn sandbox_children(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("sandbox-child") {
            pids.push(pid);
        }
    }
    pids
}

/// Runs `scenario` until a run JACK kept time in (three at most).
fn in_a_run_jack_kept_time_in(scenario: impl Fn(usize) -> Option<()>) {
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
    let live = Live::start(&format!("sandbox{attempt}"), "plugin");
    let (sr, keys) = (&live.sr, &live.keys);
    let mut said = Vec::new();
    for (key, cause) in [
        (KEY_SEGFAULT, "crashed (SIGSEGV), back in"),
        (KEY_ABORT, "crashed (SIGABRT), back in"),
    ] {
        keys.send(&[0x90, key, 100]);
        keys.send(&[0x80, key, 0]);
        said.push(wait_for(sr, cause));
        // Sound again for a while before the next crash.
        std::thread::sleep(Duration::from_millis(700));
    }
    keys.send(&[0x90, KEY_HANG, 100]);
    said.push(wait_for(sr, "stays off"));
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

    // Right: it sounded before the first crash and again after each of
    // the two it came back from (0.3 s or more each time), then it is off
    // for good. (A block a loaded machine made the child miss splits a
    // stretch but cannot make one.)
    let total: usize = cycles.iter().map(|c| c.right.len()).sum();
    let outs = outages(&cycles);
    let last = *outs.last().expect("the crashy rack never went silent");
    assert!(
        last.0 + last.1 == total && last.1 >= 19_200,
        "the crashy rack did not stay off after its third crash: outages {outs:?} of {total}"
    );
    let long = sound_stretches(&outs, total)
        .into_iter()
        .filter(|&n| n >= BACK)
        .count();
    assert!(
        long >= 3,
        "the crashy rack did not sound before its crash and after each of its two \
         comebacks: outages {outs:?} of {total}"
    );
    eprintln!(
        "steady rack: {} cycles, all exact but {excused} excused near xruns; crashy rack \
         outages {:?} ms; reports:\n{}",
        cycles.len(),
        outs.iter().map(|o| o.1 as f64 / 48.0).collect::<Vec<_>>(),
        said.join("\n")
    );
    Some(())
}

#[test]
fn a_rack_sandbox_killed_from_outside_comes_back_while_the_other_rack_plays_on() {
    in_a_run_jack_kept_time_in(kill_from_outside);
}

fn kill_from_outside(attempt: usize) -> Option<()> {
    let live = Live::start(&format!("sandbox-kill{attempt}"), "rack");
    let children = sandbox_children(live.sr.pid());
    assert_eq!(
        children.len(),
        1,
        "the sandboxed rack should run in exactly one child: {children:?}"
    );
    stagerack_tests::jack::send_signal(children[0], "KILL");
    let said = wait_for(&live.sr, "back in");
    std::thread::sleep(Duration::from_millis(700));
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
    let total: usize = cycles.iter().map(|c| c.right.len()).sum();
    let outs = outages(&cycles);
    let stretches = sound_stretches(&outs, total);
    assert!(
        stretches.iter().filter(|&&n| n >= BACK).count() >= 2
            && stretches.last().is_some_and(|&n| n >= BACK),
        "the rack did not sound before it was killed and again after: outages {outs:?} of \
         {total}"
    );
    eprintln!(
        "steady rack: {} cycles, all exact but {excused} excused near xruns; the killed \
         rack's outages {:?} ms; report: {said}",
        cycles.len(),
        outs.iter().map(|o| o.1 as f64 / 48.0).collect::<Vec<_>>()
    );
    Some(())
}
