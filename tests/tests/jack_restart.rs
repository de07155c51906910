//! The JACK server is killed and restarted while stagerack plays: stagerack
//! notices (shutdown callback), keeps running, reconnects within seconds of
//! the server's return with the same client name and ports, restores its
//! connections (the test clients come back with the same names and are not
//! reconnected by the test), and plays on with exact timing.

use std::time::{Duration, Instant};

use stagerack_tests::jack::{
    measure_exact, open_client, preset, unique_name, wait_for_port, JackServer, Stagerack,
    TimingRig,
};

const PERIOD: u32 = 64;

fn assert_exact(report: &stagerack_tests::jack::TimingReport, phase: &str) {
    eprintln!(
        "{phase}: sent {}, exact {}, excused {} (xruns {}), wrong {}",
        report.sent,
        report.exact,
        report.excused,
        report.xruns,
        report.wrong.len()
    );
    assert!(
        report.wrong.is_empty(),
        "{phase}: onsets off their frame: {:?}",
        &report.wrong[..report.wrong.len().min(20)]
    );
    assert!(
        report.exact * 10 >= report.sent * 8,
        "{phase}: too few exact notes: {} of {}",
        report.exact,
        report.sent
    );
}

/// A timing run of `phase`, measured again (up to three runs) when a run
/// JACK itself disturbed did not prove exact timing
/// ([`measure_exact`]). `rig` is consumed by its run; a new one (same
/// client names, connected to stagerack) measures again on `server`.
fn measure(rig: TimingRig, server: &str, phase: &str) -> stagerack_tests::jack::TimingReport {
    measure_exact(rig, server, 3, phase, |rig| rig.run(4 * PERIOD, PERIOD))
}

#[test]
fn jack_server_restart_is_survived_with_ports_and_connections() {
    let name = unique_name("restart");
    let mut server = JackServer::start(&name, PERIOD);
    let probe = preset("probe.toml");
    let mut sr = Stagerack::spawn(&name, &["--preset", &probe, "--status-every", "1"]);
    {
        let watch = open_client(&name, "tt-watch");
        assert!(
            wait_for_port(&watch, "stagerack:midi_in", Duration::from_secs(30)),
            "stagerack did not register its ports; stderr:\n{}",
            sr.stderr()
        );
    }
    let rig = TimingRig::start(&name, 1024);
    rig.connect("stagerack");
    // Let stagerack's once-a-second connection tracking see the connections.
    std::thread::sleep(Duration::from_millis(2500));
    let before = measure(rig, &name, "before the restart");
    assert_exact(&before, "before the restart");

    server.kill();
    std::thread::sleep(Duration::from_secs(3));
    sr.assert_running();
    assert!(
        sr.stderr().contains("reconnecting"),
        "stagerack did not notice the server going away:\n{}",
        sr.stderr()
    );

    let server = JackServer::start(&name, PERIOD);
    let rig = TimingRig::start(&name, 1024);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rig.connected("stagerack") {
        sr.assert_running();
        assert!(
            Instant::now() < deadline,
            "stagerack did not restore its connections within 20 s; stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = measure(rig, &name, "after the restart");
    assert_exact(&after, "after the restart");
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(stderr.contains("audio running again"), "{stderr}");
    assert!(ok, "stagerack did not stop cleanly:\n{stderr}");
    drop(server);
}
