//! Helpers of the remote-control tests (OSC, the web remote): the example
//! setlist played live with extra flags, and the addresses it prints.

use std::time::{Duration, Instant};

use crate::jack::{preset, Stagerack};

/// Plays the workspace's example setlist (`demo`, then `bells`) on the JACK
/// server `server` with `extra` flags and a control socket at `socket`,
/// and waits for its first buffer (no JACK client opened here: libjack
/// clients opened by parallel tests of one process have crashed it).
pub fn play_setlist(server: &str, socket: &std::path::Path, extra: &[&str]) -> Stagerack {
    let setlist = preset("setlist.toml");
    let mut args = vec![
        "--setlist",
        &setlist,
        "--backend",
        "jack",
        "--connect",
        "none",
        "--control",
        socket.to_str().expect("a UTF-8 socket path"),
        "--status-every",
        "0.5",
    ];
    args.extend_from_slice(extra);
    let mut sr = Stagerack::spawn(server, &args);
    wait_for_stderr_within(&mut sr, "stagerack: first buffer processed", 30);
    sr.assert_running();
    sr
}

/// The word stagerack printed right after `prefix` on stderr (an address),
/// waiting up to 30 s for it.
pub fn printed_after(sr: &mut Stagerack, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = sr.stderr();
        if let Some(rest) = text.split(prefix).nth(1) {
            return rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        sr.assert_running();
        assert!(Instant::now() < deadline, "no `{prefix}` line:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to 10 s for stderr to contain `text` (a status line).
pub fn wait_for_stderr(sr: &mut Stagerack, text: &str) {
    wait_for_stderr_within(sr, text, 10);
}

fn wait_for_stderr_within(sr: &mut Stagerack, text: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !sr.stderr().contains(text) {
        sr.assert_running();
        assert!(
            Instant::now() < deadline,
            "no `{text}` on stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
