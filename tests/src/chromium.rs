//! Debian's `chromium --headless`, driven over its DevTools protocol (a
//! WebSocket), for the web remote's test: open a page at a phone's size,
//! read it with JavaScript, tap on it, take screenshots.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// How long a DevTools call may take to answer.
const DEVTOOLS_TIMEOUT: Duration = Duration::from_secs(30);

const INSTALL: &str =
    "install Chromium: apt-get install chromium (or run scripts/ensure-deps test)";

/// A headless Chromium with one page; killed on drop.
pub struct Chromium {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium and opens a page of `width` × `height` CSS pixels
    /// as a phone shows it (mobile viewport, touch). Panics with the
    /// install command when Chromium is missing.
    pub fn phone(width: u32, height: u32) -> Chromium {
        let profile = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromium: {e}; {INSTALL}"));
        // Its stderr names the DevTools address; it is read to the end so
        // Chromium never blocks on it.
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium printed no DevTools address within 30 s");
        let hostport = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("a host:port")
            .to_owned();
        let stream = TcpStream::connect(&hostport).expect("connect to DevTools");
        // A Chromium that stops answering fails the test instead of
        // hanging it.
        stream
            .set_read_timeout(Some(DEVTOOLS_TIMEOUT))
            .expect("a read timeout on the DevTools socket");
        let (ws, _) =
            tungstenite::client::client(url.as_str(), stream).expect("DevTools handshake");
        let mut c = Chromium {
            child,
            ws,
            session: String::new(),
            next_id: 1,
            _profile: profile,
        };
        let target = c.call("Target.createTarget", json!({"url": "about:blank"}));
        let target = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = c.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        c.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        c.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 2, "mobile": true}),
        );
        c.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 1}),
        );
        c.call("Page.enable", json!({}));
        c
    }

    /// Calls a DevTools method (on the page once attached) and returns its
    /// result; panics with the error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to DevTools");
        loop {
            let reply = self.ws.read().unwrap_or_else(|e| {
                panic!(
                    "DevTools did not answer {method} within {} s: {e}",
                    DEVTOOLS_TIMEOUT.as_secs()
                )
            });
            let Message::Text(text) = reply else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Loads `url`.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// The value of a JavaScript expression on the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "`{expression}` threw: {r}"
        );
        r["result"]["value"].clone()
    }

    /// Waits up to `secs` seconds for `expression` to be true; panics with
    /// `what` and the page's text otherwise.
    pub fn wait_for(&mut self, expression: &str, secs: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.eval(&format!("!!({expression})")) != json!(true) {
            if Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!("{what}: `{expression}` never held; the page shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Taps the middle of the element `selector` with a finger (touch
    /// start and end, as a phone sends them).
    pub fn tap(&mut self, selector: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const r = document.querySelector({selector:?}).getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}),
        );
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        );
    }

    /// A PNG of the page as shown, written to `path`.
    pub fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine as _;
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("PNG data"))
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
