//! The cpal (ALSA) backend survives its device vanishing: stagerack plays
//! through ALSA's `jack` device (libasound2-plugins) into a private JACK
//! server; the server is killed, so the ALSA device is gone; stagerack
//! keeps running, reports it, looks for the device every second, and plays
//! the same engine again when the server is back — without a restart.
//! The engine's buffer counter (read over the control socket) proves the
//! audio callback stopped and resumed.

use std::path::Path;
use std::time::{Duration, Instant};

use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{unique_name, JackServer, Stagerack};

#[test]
fn alsa_device_lost_and_back_resumes_the_same_engine() {
    assert!(
        Path::new("/usr/share/alsa/alsa.conf.d/50-jack.conf").exists(),
        "ALSA's jack device is missing; run `apt-get install -y libasound2-plugins` \
         (scripts/ensure-deps test does it)"
    );
    let name = unique_name("cpal-reopen");
    let mut server = JackServer::start(&name, 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let demo = stagerack_tests::workspace_root().join("presets/demo.toml");
    let mut sr = Stagerack::spawn(
        &name,
        &[
            "--preset",
            demo.to_str().unwrap(),
            "--backend",
            "alsa",
            "--connect",
            "JACK Audio",
            "--rate",
            "48000",
            "--buffer",
            "256",
            "--control",
            sock.to_str().unwrap(),
        ],
    );
    let mut ctl = ControlSocket::connect(&sock, &mut sr);
    assert!(
        ctl.advances(50, 20),
        "not playing through ALSA's jack device; stderr:\n{}",
        sr.stderr()
    );

    // The device goes away.
    server.kill();
    drop(server);
    std::thread::sleep(Duration::from_secs(3));
    let a = ctl.buffers();
    std::thread::sleep(Duration::from_secs(1));
    let b = ctl.buffers();
    assert!(
        b <= a + 1,
        "the callback kept running without its device: {a} -> {b}"
    );
    sr.assert_running();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sr.stderr().contains("reconnecting") {
        assert!(
            Instant::now() < deadline,
            "device loss not reported; stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // It comes back under the same name: the same engine plays again.
    let _server = JackServer::start(&name, 256);
    assert!(
        ctl.advances(50, 20),
        "did not resume after the device came back; stderr:\n{}",
        sr.stderr()
    );
    let stderr = sr.stderr();
    assert!(stderr.contains("audio running again"), "{stderr}");
    assert!(stderr.contains("JACK Audio Connection Kit"), "{stderr}");
    drop(ctl);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}
