//! `stagerack --setlist FILE --osc 0` on a private JACK server: an OSC
//! client on loopback subscribes, switches songs with `/stagerack/next`
//! and `/stagerack/previous`, sets a rack's gain and mute, panics, and
//! reads the feedback (the song playing, gains, meters while a note
//! plays); datagrams that are not OSC are ignored and counted, messages it
//! cannot carry out are refused and counted, and the engine plays on.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use rosc::{OscMessage, OscPacket, OscType};
use stagerack_tests::control::ControlSocket;
use stagerack_tests::jack::{unique_name, JackServer, MidiSender};
use stagerack_tests::remote::{play_setlist, printed_after, wait_for_stderr};

/// An OSC client on loopback talking to one server.
struct Osc {
    socket: UdpSocket,
    server: SocketAddr,
    /// Messages of bundles read but not yet looked at (the rest of a
    /// bundle after the one `expect` wanted).
    unread: std::cell::RefCell<std::collections::VecDeque<OscMessage>>,
}

impl Osc {
    fn new(server: SocketAddr) -> Osc {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Osc {
            socket,
            server,
            unread: Default::default(),
        }
    }

    fn send(&self, addr: &str, args: Vec<OscType>) {
        let packet = OscPacket::Message(OscMessage {
            addr: addr.to_owned(),
            args,
        });
        self.raw(&rosc::encoder::encode(&packet).unwrap());
    }

    fn raw(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).unwrap();
    }

    /// The first message (bundles opened) at `addr` that `ok` accepts,
    /// within 10 s; panics with what arrived instead.
    fn expect(&self, addr: &str, mut ok: impl FnMut(&[OscType]) -> bool) -> Vec<OscType> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            let next = self.unread.borrow_mut().pop_front();
            let m = match next {
                Some(m) => m,
                None => {
                    let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let (_, packet) =
                        rosc::decoder::decode_udp(&buf[..n]).expect("the server sends OSC");
                    self.unread.borrow_mut().extend(messages(packet));
                    continue;
                }
            };
            if m.addr == addr && ok(&m.args) {
                return m.args;
            }
            if seen.len() < 40 {
                seen.push(format!("{} {:?}", m.addr, m.args));
            }
        }
        panic!(
            "no {addr} as expected within 10 s; got:\n{}",
            seen.join("\n")
        );
    }
}

fn messages(packet: OscPacket) -> Vec<OscMessage> {
    match packet {
        OscPacket::Message(m) => vec![m],
        OscPacket::Bundle(b) => b.content.into_iter().flat_map(messages).collect(),
    }
}

fn string(s: &str) -> impl FnMut(&[OscType]) -> bool + '_ {
    move |args| args == [OscType::String(s.to_owned())]
}

fn rack_gain_and_mute(c: &mut ControlSocket, name: &str) -> (f64, bool) {
    let state = c.request("get_state", "", "state");
    let rack = state["state"]["racks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["preset"] == 0 && r["routing"]["name"] == name)
        .unwrap_or_else(|| panic!("no rack {name}: {state}"))
        .clone();
    (
        rack["routing"]["gain_db"].as_f64().unwrap_or(0.0),
        rack["routing"]["mute"].as_bool().unwrap_or(false),
    )
}

#[test]
fn an_osc_client_drives_the_setlist_and_reads_feedback() {
    let server = JackServer::start(&unique_name("osc"), 256);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("ctl.sock");
    let mut sr = play_setlist(&server.name, &sock, &["--osc", "0"]);
    let addr: SocketAddr = printed_after(&mut sr, "stagerack: OSC on udp ")
        .parse()
        .unwrap();
    assert!(
        addr.ip().is_loopback(),
        "bound to {addr} without --osc-bind"
    );
    let mut control = ControlSocket::connect(Path::new(&sock), &mut sr);
    let osc = Osc::new(addr);

    // Subscribing tells the song playing at once.
    osc.send("/stagerack/subscribe", vec![]);
    osc.expect("/stagerack/song", string("demo"));
    osc.expect("/stagerack/next_song", string("bells"));

    // Meters move while a note plays (notes sent again should JACK drop a
    // cycle on a loaded machine).
    let keys = MidiSender::connect(&server.name, "osc-keys", "stagerack:midi_in");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut loud = false;
    while !loud && Instant::now() < deadline {
        keys.send(&[0x90, 60, 110]);
        let meter = osc.expect("/stagerack/meter/master", |_| true);
        loud = meter
            .iter()
            .any(|v| matches!(v, OscType::Float(x) if *x > 0.01));
    }
    keys.send(&[0x80, 60, 0]);
    assert!(
        loud,
        "the master meter never moved; stderr:\n{}",
        sr.stderr()
    );

    // Next and previous switch the engine's song; every subscriber hears.
    osc.send("/stagerack/next", vec![]);
    osc.expect("/stagerack/ok", string("/stagerack/next"));
    osc.expect("/stagerack/song", string("bells"));
    assert_eq!(
        control.request("get_state", "", "state")["state"]["current"],
        1
    );
    osc.send("/stagerack/previous", vec![]);
    osc.expect("/stagerack/song", string("demo"));
    assert_eq!(
        control.request("get_state", "", "state")["state"]["current"],
        0
    );
    osc.send("/stagerack/entry", vec![OscType::Int(1)]);
    osc.expect("/stagerack/entry", |a| a == [OscType::Int(1)]);
    osc.send("/stagerack/entry", vec![OscType::Int(0)]);
    osc.expect("/stagerack/entry", |a| a == [OscType::Int(0)]);

    // A rack's gain (dB) and mute, by name; the feedback follows.
    osc.send("/stagerack/rack/pad/gain", vec![OscType::Float(-6.0)]);
    osc.expect("/stagerack/rack/pad/gain", |a| a == [OscType::Float(-6.0)]);
    osc.send("/stagerack/rack/pad/mute", vec![OscType::Int(1)]);
    osc.expect("/stagerack/rack/pad/mute", |a| a == [OscType::Int(1)]);
    assert_eq!(rack_gain_and_mute(&mut control, "pad"), (-6.0, true));

    // A fader's burst in one bundle: only the newest value is carried
    // out (and answered), before the PANIC that follows it.
    let burst = OscPacket::Bundle(rosc::OscBundle {
        timetag: rosc::OscTime {
            seconds: 0,
            fractional: 1,
        },
        content: (1..=20)
            .map(|i| {
                OscPacket::Message(OscMessage {
                    addr: "/stagerack/rack/pad/gain".into(),
                    args: vec![OscType::Float(-(i as f32))],
                })
            })
            .chain([OscPacket::Message(OscMessage {
                addr: "/stagerack/panic".into(),
                args: vec![],
            })])
            .collect(),
    });
    osc.raw(&rosc::encoder::encode(&burst).unwrap());
    let gain_ok = [OscType::String("/stagerack/rack/pad/gain".into())];
    let mut gains_answered = 0;
    osc.expect("/stagerack/ok", |a| {
        gains_answered += usize::from(a == gain_ok);
        a == [OscType::String("/stagerack/panic".into())]
    });
    assert_eq!(gains_answered, 1, "coalesced values were carried out too");
    assert_eq!(rack_gain_and_mute(&mut control, "pad"), (-20.0, true));

    // Refused, with the reason, and counted: an unknown rack, an unknown
    // address, a missing argument.
    osc.send("/stagerack/rack/drums/gain", vec![OscType::Float(0.0)]);
    osc.expect("/stagerack/error", |a| {
        matches!(a, [OscType::String(addr), OscType::String(why)]
            if addr == "/stagerack/rack/drums/gain" && why.contains("no rack `drums`"))
    });
    osc.send("/stagerack/nothing", vec![]);
    osc.expect(
        "/stagerack/error",
        |a| matches!(a.first(), Some(OscType::String(addr)) if addr == "/stagerack/nothing"),
    );
    osc.send("/stagerack/entry", vec![]);
    osc.expect("/stagerack/error", |_| true);

    // Not OSC at all: ignored and counted.
    let malformed: [&[u8]; 5] = [
        b"hello, engine",
        b"",
        b"/stagerack/next",
        b"/stagerack/entry\0\0\0\0,i\0\0",
        &[0xff; 700],
    ];
    for bytes in malformed {
        osc.raw(bytes);
    }
    osc.send("/stagerack/status", vec![]);
    let counts = osc.expect("/stagerack/status", |_| true);
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_eq!(
        counts[1],
        OscType::Int(malformed.len() as i32),
        "{counts:?}"
    );
    assert_eq!(counts[2], OscType::Int(3), "{counts:?}");

    // The engine plays on and answers, and its status line counts them.
    osc.send("/stagerack/next", vec![]);
    osc.expect("/stagerack/song", string("bells"));
    assert!(control.advances(10, 10), "the engine stopped");
    wait_for_stderr(&mut sr, "5 malformed, 3 refused");
    drop(control);
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
}
