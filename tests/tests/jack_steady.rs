//! The steady MIDI path (used for byte-stream MIDI devices) measured on
//! real JACK callbacks: with `--midi-source clock`, stagerack stamps each
//! JACK MIDI event with its system-clock time and places it through the
//! delay-locked loop instead of using its in-cycle frame. Every note must
//! come out, never earlier than one period after it was sent. The latency
//! and jitter are printed: on an idle machine the jitter is 0–2 frames; on
//! a heavily loaded one without real-time scheduling the JACK dummy
//! driver's wake-ups wander by a few hundred microseconds and the loop's
//! estimate with them, so the test does not bound the jitter.

use std::time::Duration;

use stagerack_tests::jack::{preset, unique_name, JackServer, Stagerack, TimingRig};

const PERIOD: u32 = 64;

#[test]
fn jack_steady_clock_path_is_never_early_and_loses_no_note() {
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
        lo >= i64::from(PERIOD) - 2,
        "a note came out {lo} frames after it was sent, less than one period"
    );
    let placed = report.found.len();
    assert!(
        placed * 100 >= notes as usize * 99,
        "notes lost: {placed} of {notes} found"
    );
}
