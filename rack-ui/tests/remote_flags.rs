//! `stagerack-ui --osc 0 --web 0`: the window's in-process engine serves
//! OSC and the web remote as `stagerack` does (run here with `--headless
//! --no-audio`, the same runtime without a window or a device): an OSC
//! client switches the song and hears it, the page is served, and both
//! stop with the engine. The window's status panel keeps the web remote's
//! address (with its token) on a line of its own.

mod kit;

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use rosc::{OscMessage, OscPacket, OscType};
use stagerack_tests::jack::send_signal;

fn osc(socket: &UdpSocket, to: SocketAddr, addr: &str) {
    let packet = OscPacket::Message(OscMessage {
        addr: addr.to_owned(),
        args: Vec::new(),
    });
    socket
        .send_to(&rosc::encoder::encode(&packet).unwrap(), to)
        .unwrap();
}

/// Every OSC message arriving within `secs` seconds, bundles opened,
/// until one is `addr` with the string `value`.
fn hears(socket: &UdpSocket, addr: &str, value: &str, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let mut stack = vec![rosc::decoder::decode_udp(&buf[..n]).unwrap().1];
        while let Some(p) = stack.pop() {
            match p {
                OscPacket::Message(m) => {
                    if m.addr == addr && m.args == [OscType::String(value.to_owned())] {
                        return true;
                    }
                }
                OscPacket::Bundle(b) => stack.extend(b.content),
            }
        }
    }
    false
}

/// The engine's process: killed when the test ends without stopping it
/// (a failed assertion), so no engine outlives its test.
struct Engine(Child);

impl Engine {
    /// Sends SIGTERM and waits up to `secs` seconds for it to end; kills it
    /// and says so otherwise.
    fn stop(&mut self, secs: u64) -> Result<ExitStatus, String> {
        send_signal(self.0.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            match self.0.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    let _ = self.0.kill();
                    let _ = self.0.wait();
                    return Err(format!(
                        "the engine did not stop within {secs} s of SIGTERM"
                    ));
                }
                Err(e) => return Err(format!("cannot wait for the engine: {e}")),
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_windows_engine_serves_osc_and_the_web_remote() {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr.txt");
    let mut child = Engine(
        common::headless_set(&["--osc", "0", "--web", "0"])
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("start stagerack-ui"),
    );
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let after = |prefix: &str| {
        stderr()
            .split(prefix)
            .nth(1)
            .and_then(|r| r.split_whitespace().next().map(str::to_owned))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (osc_addr, url) = loop {
        if let (Some(o), Some(w)) = (after("OSC on udp "), after("web remote on ")) {
            break (o.parse::<SocketAddr>().unwrap(), w);
        }
        if Instant::now() > deadline || child.0.try_wait().unwrap().is_some() {
            panic!("no OSC and web lines:\n{}", stderr());
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    osc(&socket, osc_addr, "/stagerack/subscribe");
    assert!(
        hears(&socket, "/stagerack/song", "demo", 10),
        "{}",
        stderr()
    );
    osc(&socket, osc_addr, "/stagerack/next");
    assert!(
        hears(&socket, "/stagerack/song", "bells", 10),
        "{}",
        stderr()
    );

    let web: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut s = TcpStream::connect(web).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: {web}\r\n\r\n").unwrap();
    let mut page = String::new();
    let _ = s.read_to_string(&mut page);
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("<title>stagerack remote</title>"));

    let status = child
        .stop(20)
        .unwrap_or_else(|e| panic!("{e}:\n{}", stderr()));
    assert!(status.success(), "{}", stderr());
}

#[test]
fn the_status_panel_keeps_the_web_remote_address() {
    use egui_kittest::kittest::Queryable;
    use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime};
    let empty = tempfile::tempdir().unwrap();
    std::env::set_var("STAGERACK_CACHE_DIR", empty.path());
    let demo = stagerack_session::preset::load_preset(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml"),
    )
    .unwrap();
    let (_engine, mut h) = kit::window_on(
        Runtime::start(&LoadedShow::preset(demo), &AudioChoice::NoDevice).unwrap(),
        "unused.toml",
        1280.0,
        800.0,
    );
    let url = "http://0.0.0.0:8080/?token=00112233445566778899aabbccddeeff";
    h.state_mut().state.web_remote = Some(url.to_owned());
    // Many messages later, the address is still there.
    for i in 0..50 {
        h.state_mut()
            .state
            .push_message(stagerack_ui::state::Level::Info, format!("message {i}"));
    }
    kit::settle(&mut h);
    let line = h.get_by_label(&format!("Web remote: {url}")).rect();
    assert!(line.right() <= 1280.0 && line.bottom() <= 800.0, "{line:?}");
}
