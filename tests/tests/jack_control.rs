//! The stage engine with `--control`: a client attaches to the running
//! headless engine over its socket, reads state and status while it plays,
//! detaches, and the engine plays on and stops cleanly.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use stagerack_tests::jack::{JackServer, Stagerack};

fn reply(reader: &mut BufReader<UnixStream>) -> serde_json::Value {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a reply line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn buffers(stream: &mut UnixStream, reader: &mut BufReader<UnixStream>, id: u64) -> u64 {
    writeln!(stream, "{{\"id\":{id},\"cmd\":\"status\"}}").unwrap();
    let r = reply(reader);
    assert_eq!(r["event"], "status", "{r}");
    r["status"]["buffers"].as_u64().expect("buffer count")
}

#[test]
fn a_client_attaches_to_the_headless_engine_and_detaches() {
    let name = format!("stagerack-control-{}", std::process::id());
    let _server = JackServer::start(&name, 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let demo = stagerack_tests::workspace_root().join("presets/demo.toml");
    let mut sr = Stagerack::spawn(
        &name,
        &[
            "--preset",
            demo.to_str().unwrap(),
            "--control",
            sock.to_str().unwrap(),
            "--quiet",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        if let Ok(s) = UnixStream::connect(&sock) {
            break s;
        }
        sr.assert_running();
        assert!(
            Instant::now() < deadline,
            "no control socket; stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    writeln!(
        stream,
        "{{\"id\":1,\"cmd\":\"hello\",\"version\":1,\"client\":\"test\"}}"
    )
    .unwrap();
    assert_eq!(reply(&mut reader)["event"], "welcome");
    writeln!(stream, "{{\"id\":2,\"cmd\":\"get_state\"}}").unwrap();
    let state = reply(&mut reader);
    assert_eq!(state["event"], "state");
    assert_eq!(state["state"]["racks"].as_array().unwrap().len(), 3);
    // The engine keeps processing while attached...
    let a = buffers(&mut stream, &mut reader, 3);
    std::thread::sleep(Duration::from_millis(500));
    let b = buffers(&mut stream, &mut reader, 4);
    assert!(b > a + 50, "engine stalled while attached: {a} -> {b}");
    // ...and after the client leaves.
    drop(reader);
    drop(stream);
    std::thread::sleep(Duration::from_millis(500));
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    assert!(stderr.contains("control socket"), "{stderr}");
}
