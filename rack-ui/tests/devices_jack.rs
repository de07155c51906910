//! Device selection over the control protocol, on a private JACK server:
//! the in-process engine (`stagerack-ui --headless --listen`) plays on
//! JACK, moves to the `dummy` backend (its JACK ports go away, it keeps
//! processing), moves back to JACK (ports back), and a device that cannot
//! open is refused with the reason while JACK plays on.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{open_client, send_signal, unique_name, wait_for_port, JackServer};

const UI: &str = env!("CARGO_BIN_EXE_stagerack-ui");

/// The engine process, stopped with SIGTERM (then killed) on drop.
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        send_signal(self.0.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(sock: &Path, engine: &mut Engine) -> ControlSocket {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(c) = ControlSocket::try_connect(sock) {
            return c;
        }
        assert!(
            engine.0.try_wait().unwrap().is_none(),
            "the engine exited early"
        );
        assert!(Instant::now() < deadline, "no control socket");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn select(c: &mut ControlSocket, fields: &str) -> serde_json::Value {
    c.request_any("select_devices", fields, &["ok", "error"])
}

fn current_backend(c: &mut ControlSocket) -> String {
    let r = c.request("list_devices", "", "devices");
    r["current"]["backend"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn switching_between_jack_and_dummy_keeps_the_engine_playing() {
    let server = JackServer::start(&unique_name("devices"), 256);
    let watch = open_client(&server.name, "dev-watch");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let child = Command::new(UI)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("JACK_DEFAULT_SERVER", &server.name)
        .env("JACK_NO_START_SERVER", "1")
        .args([
            "--headless",
            "--preset",
            "presets/demo.toml",
            "--backend",
            "jack",
        ])
        .arg("--listen")
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start stagerack-ui");
    let mut engine = Engine(child);
    let mut c = connect(&sock, &mut engine);
    assert!(wait_for_port(
        &watch,
        "stagerack-ui:out_L",
        Duration::from_secs(30)
    ));
    assert_eq!(current_backend(&mut c), "jack");
    assert!(c.advances(20, 10), "not playing on JACK");

    // A software MIDI source (not a physical port) is offered as a MIDI
    // input: the Audio & MIDI window used to say "none found" beside it.
    let _keys = stagerack_tests::jack::MidiSender::open(&server.name, "keys");
    let devices = c.request("list_devices", "", "devices");
    let sources: Vec<&str> = devices["devices"]["midi_inputs"]
        .as_array()
        .expect("midi_inputs")
        .iter()
        .filter(|m| m["backend"] == "jack")
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(sources.contains(&"keys:out"), "{devices}");

    // To the dummy backend: the JACK client goes, the engine plays on.
    let r = select(&mut c, "\"backend\":\"dummy\"");
    assert_eq!(r["event"], "ok", "{r}");
    assert_eq!(current_backend(&mut c), "dummy");
    assert!(
        watch.port_by_name("stagerack-ui:out_L").is_none(),
        "the JACK ports stayed after leaving JACK"
    );
    assert!(c.advances(20, 10), "not playing on dummy");

    // Back to JACK: the same client name and ports.
    let r = select(&mut c, "\"backend\":\"jack\"");
    assert_eq!(r["event"], "ok", "{r}");
    assert!(wait_for_port(
        &watch,
        "stagerack-ui:out_L",
        Duration::from_secs(10)
    ));
    assert!(c.advances(20, 10), "not playing on JACK again");

    // A device that does not exist: refused, JACK plays on.
    let r = select(
        &mut c,
        "\"backend\":\"alsa\",\"connect\":[\"no-such-device-xyz\"]",
    );
    assert_eq!(r["event"], "error", "{r}");
    let message = r["message"].as_str().unwrap_or_default();
    assert!(message.contains("no-such-device-xyz"), "{message}");
    assert!(message.contains("still playing on jack"), "{message}");
    assert_eq!(current_backend(&mut c), "jack");
    assert!(wait_for_port(
        &watch,
        "stagerack-ui:out_L",
        Duration::from_secs(10)
    ));
    assert!(c.advances(20, 10), "stopped after a refused device");
    drop(c);
    drop(engine);
    drop(server);
}
