//! The web remote (`--web`) of `stagerack --setlist` on a private JACK
//! server: Debian's headless Chromium, at a phone's size, loads the page,
//! shows the set, a tap on NEXT switches the engine's song, and the meters
//! move while a note plays (screenshots in target/web-remote/); bound
//! beyond loopback, every request without the token is refused with 401;
//! a malformed WebSocket frame closes only the client that sent it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stagerack_tests::chromium::Chromium;
use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{unique_name, JackServer, MidiSender};
use stagerack_tests::remote::{play_setlist, printed_after, wait_for_stderr};
use stagerack_tests::workspace_root;
use tungstenite::{Message, WebSocket};

/// The tests of this file one at a time: the first opens a JACK client
/// (libjack clients and environment changes in parallel test threads of
/// one process have crashed it).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The song the engine plays, asked on its control socket.
fn current(c: &mut ControlSocket) -> u64 {
    c.request("get_state", "", "state")["state"]["current"]
        .as_u64()
        .unwrap()
}

/// Waits up to 10 s for the engine to play entry `want`.
fn wait_for_song(c: &mut ControlSocket, want: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while current(c) != want {
        assert!(
            Instant::now() < deadline,
            "{what}: the engine did not switch"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_phone_browser_shows_the_set_switches_songs_and_sees_meters() {
    let _serial = one_at_a_time();
    let server = JackServer::start(&unique_name("web"), 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut sr = play_setlist(&server.name, &sock, &["--web", "0"]);
    let url = printed_after(&mut sr, "stagerack: web remote on ");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.contains("token"), "no token on loopback: {url}");
    let mut control = ControlSocket::connect(&sock, &mut sr);
    let shots = workspace_root().join("target/web-remote");

    let mut page = Chromium::phone(390, 844);
    page.navigate(&url);
    page.wait_for(
        "window.stagerack && stagerack.connected && stagerack.presets.length === 2",
        30,
        "the page connects and gets the set",
    );
    assert_eq!(
        page.eval("document.getElementById('song').textContent"),
        "demo"
    );
    assert_eq!(
        page.eval("[...document.querySelectorAll('#setlist li')].map(li => li.textContent)"),
        json!(["1demo", "2bells"])
    );
    assert_eq!(
        page.eval("document.getElementById('next-name').textContent"),
        "bells"
    );
    // Touch targets a thumb can hit.
    let height = page.eval("document.getElementById('next-btn').getBoundingClientRect().height");
    assert!(height.as_f64().unwrap() >= 60.0, "NEXT is {height} px high");

    // A note held: the page's meters move.
    let keys = MidiSender::connect(&server.name, "web-keys", "stagerack:midi_in");
    let deadline = Instant::now() + Duration::from_secs(15);
    while page.eval("stagerack.maxMeter > 0.01") != json!(true) {
        assert!(
            Instant::now() < deadline,
            "the page's meters never moved; stderr:\n{}",
            sr.stderr()
        );
        keys.send(&[0x90, 48, 110]);
        std::thread::sleep(Duration::from_millis(300));
    }
    page.wait_for(
        "parseFloat(document.querySelector('#meters .bar').dataset.level) > 0.05",
        5,
        "the master bar shows the level",
    );
    page.screenshot(&shots.join("demo-playing.png"));
    keys.send(&[0x80, 48, 0]);

    // A finger on NEXT: the engine plays the next song, the page follows.
    page.tap("#next-btn");
    wait_for_song(&mut control, 1, "a tap on NEXT");
    page.wait_for(
        "document.getElementById('song').textContent === 'bells'",
        10,
        "the page shows the new song",
    );
    page.screenshot(&shots.join("bells.png"));
    // PREV back, and a tap on an entry of the list.
    page.tap("#previous");
    wait_for_song(&mut control, 0, "a tap on PREV");
    page.tap("#setlist li:nth-child(2)");
    wait_for_song(&mut control, 1, "a tap on the second entry");
    // PANIC: the engine answers ok (the page counts its answers), then
    // the page says what it did.
    page.tap("#panic");
    page.wait_for("stagerack.panicked === 1", 5, "the engine answers PANIC ok");
    page.wait_for(
        "document.getElementById('message').textContent.includes('panic')",
        5,
        "PANIC says what it did",
    );
    drop(page);
    drop(control);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}

/// One HTTP request written as is (`request`, CRLFs included) on a fresh
/// connection; the whole response.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

#[test]
fn beyond_loopback_every_request_needs_the_token() {
    let _serial = one_at_a_time();
    let server = JackServer::start(&unique_name("web-token"), 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut sr = play_setlist(
        &server.name,
        &sock,
        &["--web", "0", "--web-bind", "0.0.0.0"],
    );
    let url = printed_after(&mut sr, "stagerack: web remote on ");
    let (base, token) = url
        .strip_prefix("http://0.0.0.0:")
        .and_then(|rest| rest.split_once("/?token="))
        .unwrap_or_else(|| panic!("no token in {url}"));
    assert_eq!(token.len(), 32, "{token}");
    let addr: SocketAddr = format!("127.0.0.1:{base}").parse().unwrap();
    let host = format!("Host: 127.0.0.1:{base}\r\n");
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    // From this very machine too: no token, no answer but 401.
    let wrong = "0".repeat(32);
    for request in [
        format!("GET / HTTP/1.1\r\n{host}\r\n"),
        format!("GET /ws HTTP/1.1\r\n{host}{upgrade}\r\n"),
        format!("GET /?token={wrong} HTTP/1.1\r\n{host}\r\n"),
        format!("GET / HTTP/1.1\r\n{host}Cookie: stagerack_token_{base}={wrong}\r\n\r\n"),
        format!("GET /favicon.ico HTTP/1.1\r\n{host}\r\n"),
        format!("POST /ws HTTP/1.1\r\n{host}Content-Length: 2\r\n\r\n{{}}"),
        "GET / HTTP/1.0\r\n\r\n".to_owned(),
    ] {
        let response = http(addr, &request);
        assert_eq!(status(&response), "HTTP/1.1 401 Unauthorized", "{request}");
        assert!(!response.contains("<html"), "{response}");
    }
    // A request that is not HTTP: 400, and the server carries on.
    assert_eq!(
        status(&http(addr, "\u{1}\u{2} nonsense\r\n\r\n")),
        "HTTP/1.1 400 Bad Request"
    );

    // The token once: a cookie, and the browser sent on without it.
    let response = http(addr, &format!("GET /?token={token} HTTP/1.1\r\n{host}\r\n"));
    assert_eq!(status(&response), "HTTP/1.1 303 See Other", "{response}");
    // The cookie is this port's own (another engine's on another port
    // keeps its own), and Lax so a link from another site keeps it.
    let cookie = format!("stagerack_token_{base}={token}");
    assert!(
        response.contains(&format!("Set-Cookie: {cookie};")),
        "{response}"
    );
    assert!(response.contains("HttpOnly") && response.contains("SameSite=Lax"));
    // The right token under another port's cookie name opens nothing.
    let response = http(
        addr,
        &format!("GET / HTTP/1.1\r\n{host}Cookie: stagerack_token={token}\r\n\r\n"),
    );
    assert_eq!(status(&response), "HTTP/1.1 401 Unauthorized");
    // Then the cookie opens the page and the WebSocket.
    let response = http(
        addr,
        &format!("GET / HTTP/1.1\r\n{host}Cookie: {cookie}\r\n\r\n"),
    );
    assert_eq!(status(&response), "HTTP/1.1 200 OK");
    assert!(response.contains("<title>stagerack remote</title>"));
    assert!(response.contains("name=\"viewport\""));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /ws HTTP/1.1\r\n{host}{upgrade}Cookie: {cookie}\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 34];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101 Switching Protocols\r\n");
    drop(s);

    // The status line counts them and keeps the address with its token.
    wait_for_stderr(
        &mut sr,
        &format!("(8 refused, 1 malformed), web remote {url}"),
    );
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}

/// A WebSocket client of the web remote at `addr`.
fn ws_client(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (ws, _) = tungstenite::client::client(format!("ws://{addr}/ws"), stream).unwrap();
    ws
}

/// Sends `request` and returns the first reply or event that `want`
/// accepts.
fn ask(ws: &mut WebSocket<TcpStream>, request: Value, want: impl Fn(&Value) -> bool) -> Value {
    ws.send(Message::text(request.to_string())).unwrap();
    loop {
        let msg = ws.read().expect("a reply");
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        if want(&v) {
            return v;
        }
    }
}

/// True when the server closes `ws` within 10 s: a Close frame, the
/// connection closed or reset, or a protocol error (an end without the
/// closing handshake); a read timing out is not a close.
fn closed(ws: &mut WebSocket<TcpStream>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Close(_))
            | Err(tungstenite::Error::ConnectionClosed)
            | Err(tungstenite::Error::AlreadyClosed)
            | Err(tungstenite::Error::Protocol(_)) => return true,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                return true
            }
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading a client the server should close: {e}"),
            Ok(_) => {}
        }
    }
    false
}

#[test]
fn a_malformed_websocket_frame_closes_only_that_client() {
    let _serial = one_at_a_time();
    let server = JackServer::start(&unique_name("web-frames"), 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut sr = play_setlist(&server.name, &sock, &["--web", "0"]);
    let url = printed_after(&mut sr, "stagerack: web remote on ");
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut good = ws_client(addr);
    let mut bad = ws_client(addr);
    let mut huge = ws_client(addr);
    for ws in [&mut good, &mut bad, &mut huge] {
        let state = ask(ws, json!({"id": 1, "cmd": "get_state"}), |v| v["id"] == 1);
        assert_eq!(state["state"]["presets"], json!(["demo", "bells"]));
    }

    // Not JSON, and a command kept for the window: answered, not closed.
    let e = ask(&mut good, json!("not a request"), |v| v["event"] == "error");
    assert!(e["message"].as_str().unwrap().contains("malformed"), "{e}");
    let e = ask(
        &mut good,
        json!({"id": 5, "cmd": "save_preset", "path": "/tmp/x.toml"}),
        |v| v["id"] == 5,
    );
    assert_eq!(e["event"], "error", "{e}");
    // A rack's mix, by name, but not its routing.
    let e = ask(
        &mut good,
        json!({"id": 6, "cmd": "edit_rack", "rack": "bass", "edit": {"gain_db": -2.0, "midi_from": "pad"}}),
        |v| v["id"] == 6,
    );
    assert_eq!(e["event"], "error", "{e}");
    let ok = ask(
        &mut good,
        json!({"id": 7, "cmd": "edit_rack", "rack": "Bass", "edit": {"gain_db": -2.0, "mute": true}}),
        |v| v["id"] == 7,
    );
    assert_eq!(ok["event"], "ok", "{ok}");
    let e = ask(
        &mut good,
        json!({"id": 8, "cmd": "edit_rack", "rack": "drums", "edit": {"mute": true}}),
        |v| v["id"] == 8,
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no rack `drums`"),
        "{e}"
    );

    // An unmasked frame (clients must mask) and a frame announcing 1 GiB.
    bad.get_mut()
        .write_all(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o'])
        .unwrap();
    huge.get_mut()
        .write_all(&[0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4])
        .unwrap();
    assert!(closed(&mut bad), "the unmasked frame's client stays open");
    assert!(closed(&mut huge), "the oversized frame's client stays open");

    // The other client plays on: next, and the new state.
    let mut control = ControlSocket::connect(&sock, &mut sr);
    let state = control.request("get_state", "", "state");
    let bass = state["state"]["racks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["preset"] == 0 && r["routing"]["name"] == "bass")
        .unwrap_or_else(|| panic!("no bass: {state}"))
        .clone();
    assert_eq!(bass["routing"]["gain_db"], -2.0, "{bass}");
    assert_eq!(bass["routing"]["mute"], true, "{bass}");
    let ok = ask(&mut good, json!({"id": 9, "cmd": "setlist_next"}), |v| {
        v["id"] == 9
    });
    assert_eq!(ok["event"], "ok", "{ok}");
    let state = ask(&mut good, json!({"id": 10, "cmd": "get_state"}), |v| {
        v["id"] == 10
    });
    assert_eq!(state["state"]["current"], 1);
    assert_eq!(current(&mut control), 1);
    // A new client is welcome too.
    let mut again = ws_client(addr);
    let w = ask(
        &mut again,
        json!({"id": 1, "cmd": "hello", "version": 1, "client": "test"}),
        |v| v["id"] == 1,
    );
    assert_eq!(w["event"], "welcome", "{w}");
    wait_for_stderr(&mut sr, "web 2 clients (0 refused, 2 malformed)");
    drop((good, again, control));
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}
