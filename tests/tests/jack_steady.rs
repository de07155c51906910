//! The steady MIDI path (used for byte-stream MIDI devices) measured on
//! real JACK callbacks: with `--midi-source clock`, stagerack stamps each
//! JACK MIDI event with its system-clock time and places it through the
//! delay-locked loop instead of using its in-cycle frame. Every note must
//! come out one period after it was sent (constant latency) with at most
//! 2 frames of jitter. Notes in cycles an xrun disturbed are left out, as
//! in the native JACK timing test; everything else is held to the bound.

use std::time::Duration;

use stagerack_tests::jack::{preset, unique_name, JackServer, Stagerack, TimingRig};

const PERIOD: u32 = 64;

#[test]
fn jack_steady_clock_path_has_one_period_latency_and_at_most_2_frames_jitter() {
    let server = JackServer::start(&unique_name("steady"), PERIOD);
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
    let notes = 30 * PERIOD;
    let report = rig.run(notes, PERIOD);
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    let clean: Vec<i64> = report
        .found
        .iter()
        .filter(|(_, lost)| !lost)
        .map(|(d, _)| *d)
        .collect();
    assert!(
        !clean.is_empty(),
        "no note measured (xruns {})",
        report.xruns
    );
    let mut sorted = clean.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
    let jitter = clean.iter().map(|d| (d - median).abs()).max().unwrap_or(0);
    let within = clean.iter().filter(|d| (*d - median).abs() <= 2).count();
    let mut dev: Vec<i64> = clean.iter().map(|d| (d - median).abs()).collect();
    dev.sort_unstable();
    let p90 = dev[dev.len() * 9 / 10];
    let p99 = dev[dev.len() * 99 / 100];
    eprintln!("deviation from the median: p90 {p90}, p99 {p99} frames");
    eprintln!(
        "steady via clock: {} notes, latency median {median} frames (min {lo}, max {hi}), \
         jitter max {jitter} frames, {within} within ±2, xruns {}",
        clean.len(),
        report.xruns
    );
    assert!(
        (median - i64::from(PERIOD)).abs() <= 1,
        "steady latency is {median} frames, not one period ({PERIOD})"
    );
    assert!(
        jitter <= 2,
        "steady jitter {jitter} frames (> 2): {} of {} notes within ±2 (p90 {p90}, p99 {p99})",
        within,
        clean.len()
    );
    assert!(
        clean.len() * 2 >= notes as usize,
        "too few notes outside xruns to judge: {} of {notes}",
        clean.len()
    );
    let placed = report.found.len();
    assert!(
        placed * 100 >= notes as usize * 99,
        "notes lost: {placed} of {notes} found"
    );
}
