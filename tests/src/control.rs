//! A control-protocol client for end-to-end tests: connects to a running
//! `stagerack --control SOCKET` and sends JSON commands line by line.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::jack::Stagerack;

/// One connection to stagerack's control socket.
pub struct ControlSocket {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl ControlSocket {
    /// Connects to `sock` once; None when nothing listens there.
    pub fn try_connect(sock: &Path) -> Option<ControlSocket> {
        let stream = UnixStream::connect(sock).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let reader = BufReader::new(stream.try_clone().ok()?);
        Some(ControlSocket {
            stream,
            reader,
            next_id: 1,
        })
    }

    /// Connects to `sock`, waiting up to 30 s for it to appear (panics
    /// with stagerack's stderr if it exits or never listens).
    pub fn connect(sock: &Path, sr: &mut Stagerack) -> ControlSocket {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = Self::try_connect(sock) {
                return c;
            }
            sr.assert_running();
            assert!(
                Instant::now() < deadline,
                "no control socket; stderr:\n{}",
                sr.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `{"id":N,"cmd":CMD, ...fields}` (`fields`: the rest of the
    /// JSON object, without braces, or empty) and returns the first reply
    /// whose event is `expect` (other broadcasts are skipped; an error
    /// reply to this command panics with it).
    pub fn request(&mut self, cmd: &str, fields: &str, expect: &str) -> serde_json::Value {
        self.request_any(cmd, fields, &[expect])
    }

    /// Like [`ControlSocket::request`], returning the first reply whose
    /// event is one of `expect` (an `error` in `expect` is returned, not a
    /// panic, when it answers this command).
    pub fn request_any(&mut self, cmd: &str, fields: &str, expect: &[&str]) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        let sep = if fields.is_empty() { "" } else { "," };
        writeln!(
            self.stream,
            "{{\"id\":{id},\"cmd\":\"{cmd}\"{sep}{fields}}}"
        )
        .expect("send a control command");
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("a reply line");
            let r: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let event = r["event"].as_str().unwrap_or_default();
            // A reply answers this request by its id; a broadcast (a state
            // sent to every client on a song switch, id 0) does not, and an
            // event without an id (meters, param) may be what is expected.
            let answers = r["id"] == id || r.get("id").is_none();
            if expect.contains(&event) && answers {
                return r;
            }
            assert!(
                r["event"] != "error" || r["id"] != id,
                "`{cmd}` refused: {r}"
            );
        }
    }

    /// The engine's processed-buffer count.
    pub fn buffers(&mut self) -> u64 {
        self.request("status", "", "status")["status"]["buffers"]
            .as_u64()
            .expect("buffer count")
    }

    /// The loudest meters over the next `ms` milliseconds (needs
    /// `subscribe` with meters on): (master, each rack), peak of left and
    /// right. Meter events queued before the call are skipped.
    pub fn loudest_meters(&mut self, ms: u64) -> (f32, Vec<f32>) {
        let peak = |v: &serde_json::Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .fold(0.0f32, |m, x| m.max(x.as_f64().unwrap_or(0.0) as f32))
        };
        // The status reply comes after every meter event sent before it.
        self.request("status", "", "status");
        let until = Instant::now() + Duration::from_millis(ms);
        let (mut master, mut racks) = (0.0f32, Vec::<f32>::new());
        while Instant::now() < until {
            let m = self.request_any("status", "", &["meters"]);
            master = master.max(peak(&m["master"]));
            for (i, r) in m["racks"].as_array().into_iter().flatten().enumerate() {
                if racks.len() <= i {
                    racks.resize(i + 1, 0.0);
                }
                racks[i] = racks[i].max(peak(r));
            }
        }
        (master, racks)
    }

    /// True when the buffer count moves on by `by` within `secs` seconds.
    pub fn advances(&mut self, by: u64, secs: u64) -> bool {
        let start = self.buffers();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.buffers() >= start + by {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}
