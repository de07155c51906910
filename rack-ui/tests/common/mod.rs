//! Helpers of the real-window tests (Xvfb, the `stagerack-ui` binary,
//! screenshots). Each test file is its own process: a test that opens a
//! JACK client of its own lives in a file of its own (libjack serves one
//! server per process).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stagerack_session::control::{Command as Cmd, ControlClient, RemoteClient, Reply};

pub const UI: &str = env!("CARGO_BIN_EXE_stagerack-ui");

/// `stagerack-ui --headless --no-audio --setlist presets/setlist.toml`
/// and `extra`, run from the workspace root: the window's engine with no
/// window and no device, playing the example set.
pub fn headless_set(extra: &[&str]) -> Command {
    let mut c = Command::new(UI);
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "--headless",
            "--no-audio",
            "--setlist",
            "presets/setlist.toml",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// A child process killed (and reaped) when dropped, even on panic.
pub struct Guard(Option<Child>, &'static str);

impl Guard {
    pub fn spawn(cmd: &mut Command, what: &'static str) -> Guard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}; run scripts/ensure-deps test"));
        Guard(Some(child), what)
    }
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }
    pub fn alive(&mut self) -> bool {
        matches!(self.0.as_mut().unwrap().try_wait(), Ok(None))
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {} ({})", self.pid(), self.1);
    }
    /// Waits for the exit, up to `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.0.as_mut().unwrap().try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < end,
                "{} did not exit in {timeout:?}",
                self.1
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_for(timeout: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn window_id(display: &str) -> Option<String> {
    let out = Command::new("xdotool")
        .args(["search", "--name", "^stagerack( - .*)?$"])
        .env("DISPLAY", display)
        .output()
        .expect("xdotool missing: run scripts/ensure-deps test");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
}

/// Takes a screenshot of the whole 1280×800 screen; returns its path and
/// (distinct colours, fraction of non-black pixels).
pub fn screenshot(display: &str, name: &str) -> (PathBuf, usize, f64) {
    screenshot_sized(display, 1280, 800, name)
}

/// [`screenshot`] of a `width`×`height` screen.
pub fn screenshot_sized(
    display: &str,
    width: u32,
    height: u32,
    name: &str,
) -> (PathBuf, usize, f64) {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    stagerack_tests::xvfb::screenshot(display, &path);
    let raw = Command::new("convert")
        .arg(&path)
        .args(["-depth", "8", "rgb:-"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(raw.len(), (width * height * 3) as usize, "screenshot size");
    let mut colours = std::collections::HashSet::new();
    let mut lit = 0usize;
    for px in raw.chunks_exact(3) {
        colours.insert([px[0], px[1], px[2]]);
        if px != [0, 0, 0] {
            lit += 1;
        }
    }
    (path, colours.len(), lit as f64 / f64::from(width * height))
}

pub fn assert_drawn(display: &str, name: &str) {
    // Give the software renderer a few frames.
    let mut last = (PathBuf::new(), 0, 0.0);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        last = screenshot(display, name);
        if last.1 >= 100 && last.2 > 0.5 {
            break;
        }
    }
    let (path, colours, lit) = last;
    assert!(
        colours >= 100 && lit > 0.5,
        "the window drew nothing much: {colours} colours, {:.0}% of the screen lit ({})",
        lit * 100.0,
        path.display()
    );
    eprintln!(
        "{}: {colours} colours, {:.0}% lit",
        path.display(),
        lit * 100.0
    );
}

pub fn ui_command(display: &str) -> Command {
    let mut c = Command::new(UI);
    c.env("DISPLAY", display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

pub fn buffers(client: &mut RemoteClient) -> u64 {
    client.send(Cmd::Status {});
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Some(Reply::Status { status, .. }) = client.recv_timeout(Duration::from_millis(200))
        {
            return status.buffers;
        }
    }
    panic!("the engine did not answer status");
}

/// Whether a window whose title matches `pattern` (an xdotool regular
/// expression) is on `display`.
pub fn window_titled(display: &str, pattern: &str) -> bool {
    let out = Command::new("xdotool")
        .args(["search", "--name", pattern])
        .env("DISPLAY", display)
        .output()
        .expect("xdotool missing: run scripts/ensure-deps test");
    !out.stdout.is_empty()
}

/// The threads of process `pid` as (name, runs real-time), from /proc
/// (field 41 of a task's stat is its policy: 1 FIFO, 2 RR).
pub fn thread_policies(pid: u32) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // The name is in parentheses and may hold spaces: fields after it.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // Field 41 overall is index 38 after "pid (comm)".
        let policy: u32 = fields.get(38).and_then(|p| p.parse().ok()).unwrap_or(0);
        out.push((name, policy == 1 || policy == 2));
    }
    out
}

/// Asserts that process `pid` has a real-time audio thread, that the
/// engine's rack workers (`stagerack-worker-N`, named `stagerack-worke` by
/// the kernel's 15 characters) run real-time like it, and that every other
/// thread (the window's, its GL threads) runs at normal priority.
pub fn assert_only_audio_is_realtime(pid: u32, what: &str) {
    let threads = thread_policies(pid);
    let is_worker = |name: &str| name.starts_with("stagerack-worke");
    let rt: Vec<_> = threads
        .iter()
        .filter(|(name, rt)| *rt && !is_worker(name))
        .collect();
    assert_eq!(
        rt.len(),
        1,
        "{what}: expected exactly one real-time (audio) thread besides the workers: {threads:?}"
    );
    assert!(
        threads
            .iter()
            .filter(|(name, _)| is_worker(name))
            .all(|(_, rt)| *rt),
        "{what}: a rack worker does not run real-time like the audio thread: {threads:?}"
    );
}
