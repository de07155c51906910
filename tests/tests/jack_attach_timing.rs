//! Attaching and detaching control clients while the engine plays on JACK
//! costs no sample: the native JACK timing rig (a note-on at every in-cycle
//! offset, recorded from `stagerack:out_L`) runs while another thread
//! attaches to the headless engine's control socket, reads the whole
//! state and the status, subscribes to meters and detaches, over and over.
//! Every onset must still land on exactly the frame it was sent at: a
//! stall, a dropped or a repeated buffer would move or lose notes. Notes in
//! cycles an xrun hit are excused, never moved (as in `jack_timing.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{
    measure_exact, open_client, preset, unique_name, wait_for_port, JackServer, Stagerack,
    TimingRig,
};

const PERIOD: u32 = 64;

#[test]
fn attach_and_detach_while_playing_on_jack_moves_no_sample() {
    let server = JackServer::start(&unique_name("attach"), PERIOD);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let probe = preset("probe.toml");
    let mut sr = Stagerack::spawn(
        &server.name,
        &[
            "--preset",
            &probe,
            "--control",
            sock.to_str().unwrap(),
            "--quiet",
        ],
    );
    let rig = TimingRig::start(&server.name, 4096);
    assert!(
        wait_for_port(
            &open_client(&server.name, "tt-watch"),
            "stagerack:midi_in",
            Duration::from_secs(30)
        ),
        "stagerack did not register its ports; stderr:\n{}",
        sr.stderr()
    );
    // The socket is up before the music starts being measured.
    drop(ControlSocket::connect(&sock, &mut sr));
    rig.connect("stagerack");

    // Measured again (three runs at most) only when JACK disturbed a run
    // that did not prove exact timing; the churn runs through every run.
    let notes = 30 * PERIOD;
    let mut sessions = 0u32;
    let report = measure_exact(rig, &server.name, 3, "attach", |rig| {
        let stop = Arc::new(AtomicBool::new(false));
        let churn = churn_control_clients(sock.clone(), stop.clone());
        let report = rig.run(notes, PERIOD);
        stop.store(true, Ordering::Release);
        sessions += churn.join().expect("the attaching thread failed");
        report
    });
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    eprintln!(
        "{sessions} attach/detach sessions; sent {}, exact {}, excused {} (xruns {}), wrong {}",
        report.sent,
        report.exact,
        report.excused,
        report.xruns,
        report.wrong.len()
    );
    assert!(sessions >= 10, "only {sessions} attach/detach sessions ran");
    assert_eq!(
        report.sent, notes as usize,
        "the sender did not send every note"
    );
    assert!(
        report.wrong.is_empty(),
        "onsets moved or lost outside xruns while clients came and went \
         (expected frame, delta): {:?}",
        &report.wrong[..report.wrong.len().min(20)]
    );
    assert!(
        report.exact * 10 >= report.sent * 8,
        "too few notes checked: {} of {} (xruns {})",
        report.exact,
        report.sent,
        report.xruns
    );
    assert!(ok, "stagerack did not stop cleanly:\n{stderr}");
}

/// Attaches to `sock`, reads the state, subscribes to meters and detaches,
/// over and over until `stop`; returns the number of sessions.
fn churn_control_clients(
    sock: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut sessions = 0u32;
        while !stop.load(Ordering::Acquire) {
            let Some(mut c) = ControlSocket::try_connect(&sock) else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            c.request("hello", "\"version\":1,\"client\":\"churn\"", "welcome");
            let state = c.request("get_state", "", "state");
            assert_eq!(state["state"]["racks"].as_array().map(Vec::len), Some(1));
            c.buffers();
            c.request("subscribe", "\"meters\":true", "ok");
            sessions += 1;
            // Detach (sometimes mid-stream of meter events).
            drop(c);
            std::thread::sleep(Duration::from_millis(20));
        }
        sessions
    })
}
