//! The steady MIDI path (used for byte-stream MIDI devices) measured on
//! real JACK callbacks: with `--midi-source clock`, stagerack stamps each
//! JACK MIDI event with its system-clock time and places it through the
//! delay-locked loop instead of using its in-cycle frame. Every note must
//! come out one period after it was sent (constant latency) with at most
//! 2 frames of jitter — or, when JACK corrected its own clock between the
//! two cycles (a late wake-up on a loaded machine), exactly where that
//! clock puts one period later. Notes in cycles an xrun disturbed are left
//! out, as in the native JACK timing test, and so are notes in flight
//! through a cycle JACK itself ran late or restarted its clock in (seen in
//! that cycle, where an xrun report can arrive tens of milliseconds late).
//!
//! Measured at 64 frames. A machine that cannot keep a 1.3 ms period (no
//! real-time scheduling, a build beside: JACK then runs half its cycles
//! late and drops clients' cycles with reports arriving long after) is
//! measured again at 256 frames, with the same rules: the scheduler's
//! promise, one period later ±2 frames, is the same at any period.

use std::time::Duration;

use stagerack_tests::jack::{preset, unique_name, JackServer, Stagerack, TimingRig};

/// The period of each run, and how many notes it sends: two runs at the
/// live period, then two at a period a machine without real-time
/// scheduling keeps.
const RUNS: [(u32, u32); 4] = [(64, 1920), (64, 1920), (256, 960), (256, 960)];

#[test]
fn jack_steady_clock_path_has_one_period_latency_and_at_most_2_frames_jitter() {
    // Every run is judged (below). A run in which a note is wrong fails at
    // once when JACK kept time in it; when JACK itself ran more than one
    // cycle in five late (or restarted its clock), or too few notes were
    // on time to prove anything, the run measured the machine, not
    // stagerack, and is repeated: up to four runs. A disturbed run still
    // passes when every one of its notes is right or excused and at least
    // half are on time, exactly as a calm one.
    let mut disturbed = Vec::new();
    for (attempt, (period, notes)) in RUNS.into_iter().enumerate() {
        let report = measure(attempt, period, notes);
        if report.onsets_dropped > 0 {
            eprintln!(
                "run {attempt}: the recorder heard {} non-zero samples and dropped {}: \
                 measuring again",
                report.onsets, report.onsets_dropped
            );
            disturbed.push((report.clock_breaks.len(), report.cycles));
            continue;
        }
        let verdict = judge(&report, period, notes);
        let machine_disturbed = report.clock_breaks.len() * 5 > report.cycles;
        match verdict {
            Ok(()) => return,
            Err(Verdict::TooFewOnTime(why)) => {
                eprintln!("run {attempt} ({period} frames): {why}: measuring again")
            }
            Err(Verdict::Wrong(why)) if machine_disturbed => eprintln!(
                "run {attempt} ({period} frames): JACK ran {} of {} cycles late or restarted \
                 its clock, too disturbed to judge ({why}): measuring again",
                report.clock_breaks.len(),
                report.cycles
            ),
            Err(Verdict::Wrong(why)) => panic!("{why}"),
        }
        disturbed.push((report.clock_breaks.len(), report.cycles));
    }
    panic!(
        "the machine was too loaded for JACK to keep time in four runs, at 64 and at 256 \
         frames (late or restarted cycles / cycles: {disturbed:?})"
    );
}

/// Why a run did not pass.
enum Verdict {
    /// A note off both ways outside every disturbance, or the latency is
    /// not one period.
    Wrong(String),
    /// Fewer than half the notes were on time: the run proves nothing.
    TooFewOnTime(String),
}

/// One run: `notes` notes through stagerack's steady path on a fresh
/// private JACK server running `period` frames.
fn measure(attempt: usize, period: u32, notes: u32) -> stagerack_tests::jack::TimingReport {
    let server = JackServer::start(&unique_name(&format!("steady{attempt}")), period);
    let probe = preset("probe.toml");
    let mut sr = Stagerack::spawn(
        &server.name,
        &[
            "--preset",
            &probe,
            "--midi-source",
            "clock",
            "--midi-timing",
            "steady",
        ],
    );
    let rig = TimingRig::start(&server.name, 4096);
    assert!(
        stagerack_tests::jack::wait_for_port(
            &stagerack_tests::jack::open_client(&server.name, "tt-watch"),
            "stagerack:midi_in",
            Duration::from_secs(30)
        ),
        "stagerack did not register its ports; stderr:\n{}",
        sr.stderr()
    );
    rig.connect("stagerack");
    // Let the loop settle before measuring.
    std::thread::sleep(Duration::from_secs(2));
    let report = rig.run(notes, period);
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    eprintln!("stagerack said:\n{stderr}");
    report
}

/// Judges every note of a run.
fn judge(
    report: &stagerack_tests::jack::TimingReport,
    period_frames: u32,
    notes: u32,
) -> Result<(), Verdict> {
    // Every note is judged. It is on time when it lands one period after
    // it was sent, ±2 frames. Otherwise it must be where JACK's own filtered
    // clock put "one period later" (±1 frame of rounding): on a loaded
    // machine a late wake-up makes JACK correct its clock between two
    // cycles, and a scheduler that follows the driver's clock follows that
    // correction too. A note off both ways (or lost) is excused only when
    // the run was disturbed around it (`TimingReport::disturbed`: an xrun,
    // or within 16 cycles of a cycle JACK ran late or restarted its clock
    // in).
    let period = i64::from(period_frames);
    let (mut on_time, mut clock_moved, mut excused) = (0usize, 0usize, 0usize);
    let mut wrong = Vec::new();
    let mut deltas = Vec::new();
    let mut on_time_deltas = Vec::new();
    for note in &report.notes {
        match (note.found, note.ideal) {
            (Some(d), _) if (d - period).abs() <= 2 => {
                on_time += 1;
                on_time_deltas.push(d);
            }
            (Some(d), Some(i)) if (d - i).abs() <= 1 => clock_moved += 1,
            _ if report.disturbed(note, period_frames) => excused += 1,
            _ => wrong.push((note, report.nearest_break(note))),
        }
        if let Some(d) = note.found {
            deltas.push(d);
        }
    }
    deltas.sort_unstable();
    // The constant latency is the median of the notes JACK's clock did not
    // move: those it moved are each checked against where it put them, and
    // on a loaded machine they are many and all later (a 256-frame run on
    // CI had 363 of them beside 590 on time, pulling a median over all
    // notes to 258).
    on_time_deltas.sort_unstable();
    let median = on_time_deltas
        .get(on_time_deltas.len() / 2)
        .copied()
        .unwrap_or(-1);
    eprintln!(
        "steady via clock at {period_frames} frames: {} notes sent, {on_time} one period later ±2 frames, \
         {clock_moved} where JACK's clock moved, {excused} excused (xruns {}, late or \
         restarted cycles {}), {} wrong, {} non-zero samples heard; \
         latency median {median} frames, range {:?}..{:?}",
        report.sent,
        report.xruns,
        report.clock_breaks.len(),
        wrong.len(),
        report.onsets,
        deltas.first(),
        deltas.last()
    );
    assert_eq!(
        report.sent, notes as usize,
        "the rig did not send every note"
    );
    if !wrong.is_empty() {
        return Err(Verdict::Wrong(format!(
            "{} notes neither one period later (±2) nor where JACK's clock put them, \
             outside disturbances (note, frames to the nearest late cycle): {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(20)]
        )));
    }
    if on_time * 2 < notes as usize {
        return Err(Verdict::TooFewOnTime(format!(
            "too few notes on time to judge: {on_time} of {notes} (xruns {})",
            report.xruns
        )));
    }
    if (median - period).abs() > 1 {
        return Err(Verdict::Wrong(format!(
            "steady latency is {median} frames, not one period ({period_frames})"
        )));
    }
    Ok(())
}
