//! End to end on a private JACK server (dummy driver, 48 kHz, 64 frames):
//! the real `stagerack` binary plays `presets/probe.toml`; a test client
//! sends note-ons at every in-cycle offset into `stagerack:midi_in` and
//! another records `stagerack:out_L`. Every onset must land on exactly the
//! frame it was sent at (zero added latency, zero jitter); notes in cycles
//! lost to an xrun are excused, never moved; a run JACK disturbed so much
//! that it proves nothing is measured again.

use std::time::Duration;

use stagerack_tests::jack::{measure_exact, preset, unique_name, JackServer, Stagerack, TimingRig};

const PERIOD: u32 = 64;

#[test]
fn jack_note_onsets_land_on_the_exact_frame() {
    let server = JackServer::start(&unique_name("timing"), PERIOD);
    let probe = preset("probe.toml");
    let mut sr = Stagerack::spawn(&server.name, &["--preset", &probe, "--backend", "jack"]);
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
    sr.assert_running();
    rig.connect("stagerack");
    // 40 rounds of every offset 0..63; measured again (three runs at most)
    // only when JACK disturbed a run that did not prove exact timing.
    let notes = 40 * PERIOD;
    let report = measure_exact(rig, &server.name, 3, "timing", |rig| rig.run(notes, PERIOD));
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    eprintln!(
        "sent {}, exact {}, excused {} (xruns {}), wrong {}, offsets checked {}",
        report.sent,
        report.exact,
        report.excused,
        report.xruns,
        report.wrong.len(),
        report.offsets_checked
    );
    let max_dev = report.deltas.iter().map(|d| d.abs()).max().unwrap_or(0);
    eprintln!("latency/jitter over checked notes: max |delta| = {max_dev} frames");
    assert_eq!(
        report.sent, notes as usize,
        "the sender did not send every note"
    );
    assert!(
        report.wrong.is_empty(),
        "onsets off their frame outside xruns (expected frame, delta): {:?}",
        &report.wrong[..report.wrong.len().min(20)]
    );
    assert!(
        report.exact * 10 >= report.sent * 8,
        "too few notes checked: {} of {} (xruns {})",
        report.exact,
        report.sent,
        report.xruns
    );
    assert_eq!(
        report.offsets_checked, PERIOD as usize,
        "every offset checked"
    );
    assert!(ok, "stagerack did not stop cleanly on SIGTERM:\n{stderr}");
    assert!(stderr.contains("stagerack: stopped"), "{stderr}");
    drop(server);
}
