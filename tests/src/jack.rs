//! A private JACK server (dummy driver) and the test clients that send MIDI
//! to stagerack and record its output, for the real-time end-to-end tests.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jack::{AudioIn, Client, ClientOptions, Control, MidiOut, Port, ProcessScope, RawMidi};

const INSTALL: &str =
    "install JACK2: sudo apt-get install jackd2 (or run scripts/ensure-deps test)";

/// A jackd process on the dummy driver, stopped with SIGTERM on drop.
pub struct JackServer {
    /// The server name (for JACK_DEFAULT_SERVER).
    pub name: String,
    child: Option<Child>,
    /// Frames per period.
    pub period: u32,
}

/// Sends `sig` (e.g. "TERM", "KILL", "INT") to a process.
pub fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl JackServer {
    /// Starts `jackd -n NAME -d dummy -r 48000 -p PERIOD` and waits until
    /// it answers. Panics with the install command when jackd is missing.
    pub fn start(name: &str, period: u32) -> JackServer {
        // jackd servers starting at the same moment in one process (tests
        // run in parallel threads) trip over each other's registration:
        // start one at a time.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        for tool in ["jackd", "jack_wait"] {
            let found = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
                .unwrap_or(false);
            assert!(found, "`{tool}` is not installed; {INSTALL}");
        }
        let child = Command::new("jackd")
            .env("JACK_NO_AUDIO_RESERVATION", "1")
            .env("JACK_NO_START_SERVER", "1")
            .args(["-n", name, "-d", "dummy", "-r", "48000", "-p"])
            .arg(period.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start jackd: {e}; {INSTALL}"));
        let server = JackServer {
            name: name.to_owned(),
            child: Some(child),
            period,
        };
        let ok = Command::new("jack_wait")
            .args(["-s", name, "-w", "-t", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "jackd `{name}` did not come up within 5 s");
        server
    }

    /// The jackd process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the server hard (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "KILL");
            let _ = c.wait();
        }
    }
}

impl Drop for JackServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The stagerack binary running headless, stopped with SIGTERM on drop.
pub struct Stagerack {
    child: Option<Child>,
    stderr_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    /// The preset file of [`Stagerack::play_preset`].
    _preset_dir: Option<tempfile::TempDir>,
}

impl Stagerack {
    /// Runs `stagerack ARGS` on the JACK server `server`; its stderr goes to
    /// a temporary file.
    pub fn spawn(server: &str, args: &[&str]) -> Stagerack {
        Self::spawn_env(server, args, &[])
    }

    /// [`Stagerack::spawn`] with extra environment variables (`DISPLAY`
    /// for plugin editors).
    pub fn spawn_env(server: &str, args: &[&str], env: &[(&str, &str)]) -> Stagerack {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr_path = dir.path().join("stderr.txt");
        let err = std::fs::File::create(&stderr_path).expect("stderr file");
        let child = Command::new(crate::stagerack_bin())
            .current_dir(crate::workspace_root())
            .env("JACK_DEFAULT_SERVER", server)
            .env("JACK_NO_START_SERVER", "1")
            .env("RUST_LOG", "stagerack=info")
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start stagerack");
        Stagerack {
            child: Some(child),
            stderr_path,
            _dir: dir,
            _preset_dir: None,
        }
    }

    /// Its process id (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Panics (with its stderr) if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!("stagerack exited ({status}); stderr:\n{}", self.stderr());
            }
        }
    }

    /// Sends SIGTERM and waits (10 s at most); returns (success, stderr).
    pub fn stop(mut self) -> (bool, String) {
        let mut c = self.child.take().expect("running");
        send_signal(c.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return (status.success(), self.stderr());
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return (false, self.stderr() + "\n(killed after 10 s)");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Stagerack {
    /// Writes `preset` (TOML text) to a file of its own and plays it on
    /// the JACK server `server` (`--backend jack --connect none`), then
    /// waits until `client` sees its port `port` (`stagerack:IEM_L`).
    /// The file lives as long as the returned `Stagerack`.
    pub fn play_preset(server: &str, preset: &str, client: &Client, port: &str) -> Stagerack {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("preset.toml");
        std::fs::write(&file, preset).expect("write the preset");
        let file = file.to_string_lossy().into_owned();
        let mut sr = Self::spawn(
            server,
            &["--preset", &file, "--backend", "jack", "--connect", "none"],
        );
        sr._preset_dir = Some(dir);
        assert!(
            wait_for_port(client, port, Duration::from_secs(30)),
            "stagerack registered no port {port}; stderr:\n{}",
            sr.stderr()
        );
        sr.assert_running();
        sr
    }
}

impl Drop for Stagerack {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            std::thread::sleep(Duration::from_millis(300));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Opens a test client on `server` (the process environment picks the
/// server, so this sets JACK_DEFAULT_SERVER for the test process).
pub fn open_client(server: &str, name: &str) -> Client {
    std::env::set_var("JACK_DEFAULT_SERVER", server);
    std::env::set_var("JACK_NO_START_SERVER", "1");
    jack::set_logger(jack::LoggerType::None);
    Client::new(
        name,
        ClientOptions::NO_START_SERVER | ClientOptions::USE_EXACT_NAME,
    )
    .unwrap_or_else(|e| panic!("cannot open JACK client {name} on {server}: {e:?}"))
    .0
}

/// Waits until `port` exists (stagerack registered it).
pub fn wait_for_port(client: &Client, port: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if client.port_by_name(port).is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Connects `from` to `to` through `client`. A client's ports are listed as
/// soon as they are registered, but JACK refuses connections until that
/// client is activated: a refusal is tried again for up to 10 s.
pub fn connect_when_active(client: &Client, from: &str, to: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match client.connect_ports_by_name(from, to) {
            Ok(()) => return,
            Err(e) if Instant::now() < end => {
                eprintln!("connecting {from} → {to} refused ({e:?}); trying again");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot connect {from} → {to}: {e:?}"),
        }
    }
}

/// One sent note: the cycle's frame time, the offset, the MIDI velocity.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    /// JACK frame time of the cycle's first frame.
    pub cycle: u32,
    /// Frame within the cycle.
    pub offset: u32,
    /// MIDI velocity, 1..=127.
    pub velocity: u8,
    /// The note's time on JACK's filtered clock (`jack_frames_to_time`),
    /// µs, as read in the cycle it was sent.
    pub usecs: u64,
    /// The sender ran more than a period after its cycle's start: JACK's
    /// frame time and clock it read may already be a later cycle's.
    pub late: bool,
}

/// JACK's filtered clock of one cycle (`jack_get_cycle_times`), as every
/// client reads it in that cycle.
#[derive(Clone, Copy, Debug)]
pub struct CycleClock {
    /// When the cycle's first frame was due, µs.
    pub current_usecs: u64,
    /// When the next cycle is due, as the loop predicts it, µs.
    pub next_usecs: u64,
    /// The loop's current period estimate, µs.
    pub period_usecs: f32,
    /// How long after `current_usecs` the recorder (the last client in
    /// the graph) got to run, µs: more than a period means the cycle ran
    /// late (JACK's graph overran it).
    pub late_usecs: i64,
}

/// Shared between the test and the sender callback.
struct SendControl {
    armed: AtomicBool,
    to_send: AtomicU32,
}

/// The MIDI sender's process callback: one note-on per cycle, at offset
/// `k % period`, velocity `1 + k % 127`.
pub struct Sender {
    port: Port<MidiOut>,
    control: Arc<SendControl>,
    /// What was sent.
    pub sent: Vec<Sent>,
    k: u32,
}

impl jack::ProcessHandler for Sender {
    fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
        let mut w = self.port.writer(ps);
        if !self.control.armed.load(Ordering::Acquire) {
            return Control::Continue;
        }
        if self.sent.len() < self.control.to_send.load(Ordering::Acquire) as usize
            && self.sent.len() < self.sent.capacity()
        {
            let n = ps.n_frames();
            let offset = self.k % n;
            let velocity = 1 + (self.k % 127) as u8;
            let key = 36 + (self.k % 48) as u8;
            let msg = [0x90, key, velocity];
            if w.write(&RawMidi {
                time: offset,
                bytes: &msg,
            })
            .is_ok()
            {
                let cycle = ps.last_frame_time();
                let late = ps.cycle_times().is_ok_and(|c| {
                    (client.time() as f64 - c.current_usecs as f64) > f64::from(c.period_usecs)
                });
                self.sent.push(Sent {
                    cycle,
                    offset,
                    velocity,
                    usecs: client.frames_to_time(cycle.wrapping_add(offset)),
                    late,
                });
            }
            // And the note-off one frame later when it fits in the cycle.
            if offset + 1 < n {
                let off = [0x80, key, 0];
                let _ = w.write(&RawMidi {
                    time: offset + 1,
                    bytes: &off,
                });
            }
            self.k += 1;
        }
        Control::Continue
    }
}

/// The recorder's process callback: notes every cycle it ran and every
/// non-zero sample.
pub struct Recorder {
    port: Port<AudioIn>,
    armed: Arc<AtomicBool>,
    /// Frame times of the cycles it ran.
    pub cycles: Vec<u32>,
    /// JACK's clock in each of those cycles (same index).
    pub clocks: Vec<Option<CycleClock>>,
    /// Non-zero samples: (frame time, value).
    pub onsets: Vec<(u32, f32)>,
    /// Non-zero samples that did not fit in `onsets`.
    pub onsets_dropped: u64,
}

impl jack::ProcessHandler for Recorder {
    fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
        if !self.armed.load(Ordering::Acquire) {
            return Control::Continue;
        }
        let now = client.time();
        let t = ps.last_frame_time();
        if self.cycles.len() < self.cycles.capacity() {
            self.cycles.push(t);
            self.clocks.push(ps.cycle_times().ok().map(|c| CycleClock {
                current_usecs: c.current_usecs,
                next_usecs: c.next_usecs,
                period_usecs: c.period_usecs,
                late_usecs: now as i64 - c.current_usecs as i64,
            }));
        }
        for (i, x) in self.port.as_slice(ps).iter().enumerate() {
            if *x != 0.0 {
                if self.onsets.len() < self.onsets.capacity() {
                    self.onsets.push((t.wrapping_add(i as u32), *x));
                } else {
                    self.onsets_dropped += 1;
                }
            }
        }
        Control::Continue
    }
}

/// Records xruns with the frame time they were reported at.
pub struct XrunLog {
    /// Frame times.
    pub at: Arc<Mutex<Vec<u32>>>,
}

impl jack::NotificationHandler for XrunLog {
    fn xrun(&mut self, c: &Client) -> Control {
        if let Ok(mut v) = self.at.lock() {
            v.push(c.frame_time());
        }
        Control::Continue
    }
}

/// The outcome of a timing run.
#[derive(Debug, Default)]
pub struct TimingReport {
    /// Notes sent.
    pub sent: usize,
    /// Notes whose onset was found exactly at the frame sent.
    pub exact: usize,
    /// Notes in cycles lost to an xrun (not checked).
    pub excused: usize,
    /// Notes found at another frame, or missing, outside xrun windows:
    /// (expected frame, found delta or None).
    pub wrong: Vec<(u32, Option<i64>)>,
    /// Xruns reported.
    pub xruns: usize,
    /// Frame offsets (found − expected) of every matched note.
    pub deltas: Vec<i64>,
    /// Distinct in-cycle offsets that were checked exactly.
    pub offsets_checked: usize,
    /// Every note sent, in order.
    pub notes: Vec<NoteResult>,
    /// Frame times of the cycles where JACK's filtered clock did not go on
    /// from the cycle before (its loop restarted after an xrun: this
    /// cycle's start is not the start the previous cycle predicted), where
    /// the graph ran more than a period late (the recorder, last in the
    /// graph, or the sender started after the cycle should have ended), or
    /// where the recorder missed cycles. Seen in the cycle itself, unlike xrun
    /// reports, which arrive late on a loaded machine.
    pub clock_breaks: Vec<u32>,
    /// Cycles the recorder ran while armed.
    pub cycles: usize,
    /// Non-zero samples the recorder heard (one per note when all is well).
    pub onsets: usize,
    /// Non-zero samples it had no room for: notes after them may be missed.
    pub onsets_dropped: u64,
}

/// One sent note as the rig heard it come back.
#[derive(Clone, Copy, Debug)]
pub struct NoteResult {
    /// The frame it was sent at.
    pub sent_frame: u32,
    /// Its onset's frame − `sent_frame`, when found within ±60 cycles.
    pub found: Option<i64>,
    /// Sent in a cycle the recorder missed or an xrun report covers.
    pub lost: bool,
    /// Where JACK's own filtered clock puts "one period after the note"
    /// ([`one_period_later`]), as a frame − `sent_frame`.
    pub ideal: Option<i64>,
}

/// Cycles on either side of a disturbance (an xrun, a late cycle, a clock
/// restart) in which a note that is off is not held against the host: it
/// was in flight through the disturbance (sent, stamped, placed a period
/// later) or stamped while JACK's clock loop settled again. The native
/// check's xrun window is of the same order (32 cycles before a report).
pub const DISTURBANCE_CYCLES: i64 = 16;

impl TimingReport {
    /// Frames from `note` to the nearest [`TimingReport::clock_breaks`]
    /// cycle (negative: the break came first).
    pub fn nearest_break(&self, note: &NoteResult) -> Option<i64> {
        self.clock_breaks
            .iter()
            .map(|&b| i64::from(b.wrapping_sub(note.sent_frame) as i32))
            .min_by_key(|d| d.abs())
    }

    /// True when `note` was lost to an xrun or sent within
    /// [`DISTURBANCE_CYCLES`] of a disturbance: if it is off, the machine is
    /// to blame, not the host.
    pub fn disturbed(&self, note: &NoteResult, period: u32) -> bool {
        note.lost
            || self
                .nearest_break(note)
                .is_some_and(|d| d.abs() <= DISTURBANCE_CYCLES * i64::from(period))
    }

    /// True when JACK itself disturbed the run: an xrun was reported, or a
    /// cycle ran late or restarted its clock.
    pub fn jack_disturbed(&self) -> bool {
        self.xruns > 0 || !self.clock_breaks.is_empty()
    }

    /// True when the run proves exact timing: no note off its frame outside
    /// a disturbance, and at least 8 notes in 10 checked exactly.
    pub fn proves_exact_timing(&self) -> bool {
        self.wrong.is_empty() && self.exact * 10 >= self.sent * 8
    }
}

/// Measures with `run` up to `attempts` times: again while a run failed
/// to prove exact timing *and* JACK disturbed it (xruns, late cycles: such
/// a run measured the machine, not stagerack). The first run gets `rig`;
/// each later one a fresh rig (same client names) on `server`, connected
/// to stagerack. A calm run is returned at once, whatever it shows, and
/// the caller judges the returned run in full: nothing is loosened, a run
/// is only repeated when the machine spoiled it.
pub fn measure_exact(
    rig: TimingRig,
    server: &str,
    attempts: usize,
    what: &str,
    mut run: impl FnMut(TimingRig) -> TimingReport,
) -> TimingReport {
    let capacity = rig.capacity;
    let mut report = run(rig);
    for attempt in 1..attempts {
        if report.proves_exact_timing() || !report.jack_disturbed() {
            break;
        }
        eprintln!(
            "{what}: run {} was disturbed by JACK ({} xruns, {} late cycles; exact {} of {}, \
             {} off): measuring again",
            attempt - 1,
            report.xruns,
            report.clock_breaks.len(),
            report.exact,
            report.sent,
            report.wrong.len()
        );
        let rig = TimingRig::start(server, capacity);
        rig.connect("stagerack");
        std::thread::sleep(Duration::from_millis(500));
        report = run(rig);
    }
    report
}

/// Where a note stamped `usecs` on JACK's filtered clock lands when placed
/// one period later against that clock in the next cycle (`next`, the
/// cycle starting at frame `cycle + period`): frames after the note's own
/// frame (`offset` in its cycle). This is the ideal the steady MIDI
/// scheduler works to; it differs from `period` only when JACK's clock
/// itself moved between the two cycles (a late wake-up corrects its loop).
pub fn one_period_later(usecs: u64, offset: u32, next: &CycleClock, period: u32) -> i64 {
    let per_us = f64::from(period) / f64::from(next.period_usecs);
    let o = (usecs as f64 - next.current_usecs as f64) * per_us + f64::from(period);
    let o = o.max(0.0).floor() as i64;
    i64::from(period) + o - i64::from(offset)
}

/// The two test clients, connected around stagerack:
/// `tt-send:midi_out → STAGERACK:midi_in`, `STAGERACK:out_L → tt-rec:in`.
pub struct TimingRig {
    send: jack::AsyncClient<XrunLog, Sender>,
    rec: jack::AsyncClient<XrunLog, Recorder>,
    control: Arc<SendControl>,
    rec_armed: Arc<AtomicBool>,
    xruns: Arc<Mutex<Vec<u32>>>,
    capacity: usize,
}

impl TimingRig {
    /// Opens and activates the clients `tt-send` and `tt-rec` (not
    /// connected yet). `capacity`: the most notes one run may send.
    pub fn start(server: &str, capacity: usize) -> TimingRig {
        let xruns = Arc::new(Mutex::new(Vec::new()));
        let control = Arc::new(SendControl {
            armed: AtomicBool::new(false),
            to_send: AtomicU32::new(0),
        });
        let rec_armed = Arc::new(AtomicBool::new(false));
        let sc = open_client(server, "tt-send");
        let port = sc
            .register_port("midi_out", MidiOut::default())
            .expect("register midi_out");
        let sender = Sender {
            port,
            control: control.clone(),
            sent: Vec::with_capacity(capacity),
            k: 0,
        };
        let send = sc
            .activate_async(XrunLog { at: xruns.clone() }, sender)
            .expect("activate tt-send");
        let rc = open_client(server, "tt-rec");
        let port = rc
            .register_port("in", AudioIn::default())
            .expect("register in");
        let recorder = Recorder {
            port,
            armed: rec_armed.clone(),
            cycles: Vec::with_capacity(capacity * 4 + 10_000),
            clocks: Vec::with_capacity(capacity * 4 + 10_000),
            // Room for every sample of a run to be non-zero (junk in a
            // disturbed cycle must not crowd out the notes after it).
            onsets: Vec::with_capacity(1 << 20),
            onsets_dropped: 0,
        };
        let rec = rc
            .activate_async(XrunLog { at: xruns.clone() }, recorder)
            .expect("activate tt-rec");
        TimingRig {
            send,
            rec,
            control,
            rec_armed,
            xruns,
            capacity,
        }
    }

    /// Connects the rig around the stagerack client `name` (see
    /// [`connect_when_active`]).
    pub fn connect(&self, name: &str) {
        let c = self.send.as_client();
        let pairs = [
            ("tt-send:midi_out".to_owned(), format!("{name}:midi_in")),
            (format!("{name}:out_L"), "tt-rec:in".to_owned()),
        ];
        for (from, to) in pairs {
            connect_when_active(c, &from, &to);
        }
    }

    /// True when both rig connections exist (e.g. restored by stagerack).
    pub fn connected(&self, name: &str) -> bool {
        let c = self.send.as_client();
        let midi = c
            .port_by_name("tt-send:midi_out")
            .and_then(|p| p.is_connected_to(&format!("{name}:midi_in")).ok())
            .unwrap_or(false);
        let audio = c
            .port_by_name("tt-rec:in")
            .and_then(|p| p.is_connected_to(&format!("{name}:out_L")).ok())
            .unwrap_or(false);
        midi && audio
    }

    /// Sends `notes` notes (one per cycle), waits for them and a few more
    /// cycles, then deactivates the rig and checks every onset.
    pub fn run(self, notes: u32, period: u32) -> TimingReport {
        self.rec_armed.store(true, Ordering::Release);
        // Let a few cycles pass with the recorder armed first.
        std::thread::sleep(Duration::from_millis(50));
        self.control.to_send.store(notes, Ordering::Release);
        self.control.armed.store(true, Ordering::Release);
        let cycle_time = f64::from(period) / 48_000.0;
        let wait = Duration::from_secs_f64(cycle_time * f64::from(notes) * 3.0 + 1.0);
        std::thread::sleep(wait);
        let (_, _, sender) = self.send.deactivate().expect("deactivate tt-send");
        std::thread::sleep(Duration::from_millis(50));
        let (_, _, recorder) = self.rec.deactivate().expect("deactivate tt-rec");
        let xruns = self.xruns.lock().map(|v| v.clone()).unwrap_or_default();
        check(&sender.sent, &recorder, &xruns, period)
    }
}

/// Frames around an xrun report whose notes are not checked.
fn excused(frame: u32, xruns: &[u32], period: u32) -> bool {
    // An xrun is reported asynchronously by the (not real-time)
    // notification thread, which on a loaded machine runs tens of
    // milliseconds after the cycle it hit: the window covers the 32 cycles
    // (43 ms at 64 frames) before the report and 2 after. Only notes that
    // are off are excused; every other note must be exact.
    xruns.iter().any(|&x| {
        let d = i64::from(x.wrapping_sub(frame) as i32);
        (-2 * i64::from(period)..=32 * i64::from(period)).contains(&d)
    })
}

fn check(sent: &[Sent], rec: &Recorder, xruns: &[u32], period: u32) -> TimingReport {
    let mut report = TimingReport {
        sent: sent.len(),
        xruns: xruns.len(),
        ..TimingReport::default()
    };
    report.cycles = rec.cycles.len();
    report.onsets = rec.onsets.len();
    report.onsets_dropped = rec.onsets_dropped;
    let ran: std::collections::HashSet<u32> = rec.cycles.iter().copied().collect();
    for (k, pair) in rec.cycles.windows(2).enumerate() {
        let consecutive = pair[1].wrapping_sub(pair[0]) == period;
        let continuous = match (rec.clocks[k], rec.clocks[k + 1]) {
            (Some(a), Some(b)) => {
                a.next_usecs.abs_diff(b.current_usecs) <= 1
                    && (b.late_usecs as f64) < f64::from(b.period_usecs)
            }
            _ => false,
        };
        if !consecutive || !continuous {
            report.clock_breaks.push(pair[1]);
        }
    }
    // A note sent late carries a frame and clock reading JACK may already
    // have moved on from.
    report
        .clock_breaks
        .extend(sent.iter().filter(|s| s.late).map(|s| s.cycle));
    let clocks: std::collections::HashMap<u32, CycleClock> = rec
        .cycles
        .iter()
        .zip(&rec.clocks)
        .filter_map(|(t, c)| c.map(|c| (*t, c)))
        .collect();
    let mut offsets = std::collections::BTreeSet::new();
    for s in sent {
        let expected = s.cycle.wrapping_add(s.offset);
        let value = f32::from(s.velocity) / 127.0;
        // The onset with this velocity nearest to the expected frame, within
        // ±60 cycles (velocities repeat every 127 notes).
        let window = 60 * i64::from(period);
        let found = rec
            .onsets
            .iter()
            .filter(|(_, x)| (x - value).abs() < 1e-6)
            .map(|(t, _)| i64::from(t.wrapping_sub(expected) as i32))
            .filter(|d| d.abs() <= window)
            .min_by_key(|d| d.abs());
        let cycle_lost = !ran.contains(&s.cycle) || excused(expected, xruns, period);
        match found {
            Some(0) => {
                report.exact += 1;
                report.deltas.push(0);
                offsets.insert(s.offset);
            }
            _ if cycle_lost => report.excused += 1,
            other => {
                // Callers print the wrong notes in their verdict; one line
                // per note here would bury a CI log's failure under
                // thousands (the steady path is off by design by a period).
                report.wrong.push((expected, other));
            }
        }
        let ideal = clocks
            .get(&s.cycle.wrapping_add(period))
            .map(|next| one_period_later(s.usecs, s.offset, next, period));
        report.notes.push(NoteResult {
            sent_frame: expected,
            found,
            lost: cycle_lost,
            ideal,
        });
        if let Some(d) = found.filter(|&d| d != 0 && !cycle_lost) {
            report.deltas.push(d);
        }
    }
    report.offsets_checked = offsets.len();
    report
}

/// The workspace's preset `name`.
pub fn preset(name: &str) -> String {
    crate::workspace_root()
        .join("presets")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A server name unique to this call (process, a counter, and `tag`).
pub fn unique_name(tag: &str) -> String {
    // Numbered too: two tests of one binary may run side by side with the
    // same tag.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("sr-{}-{n}-{tag}", std::process::id())
}

/// A JACK client with one MIDI output that sends whatever the test queues,
/// at the start of the next cycle.
pub struct MidiSender {
    client: jack::AsyncClient<(), QueuedMidi>,
    queue: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// The sender's process callback.
pub struct QueuedMidi {
    port: Port<MidiOut>,
    queue: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl jack::ProcessHandler for QueuedMidi {
    fn process(&mut self, _: &Client, ps: &ProcessScope) -> Control {
        let mut w = self.port.writer(ps);
        // A test client: never waits for the lock, tries again next cycle.
        if let Ok(mut q) = self.queue.try_lock() {
            for msg in q.drain(..) {
                let _ = w.write(&RawMidi {
                    time: 0,
                    bytes: &msg,
                });
            }
        }
        Control::Continue
    }
}

impl MidiSender {
    /// Opens client `name` with port `out` and connects it to `to`.
    pub fn connect(server: &str, name: &str, to: &str) -> MidiSender {
        let s = Self::open(server, name);
        s.client
            .as_client()
            .connect_ports_by_name(&format!("{name}:out"), to)
            .expect("connect the MIDI sender");
        // JACK applies a new connection at a later graph update: a message
        // written in the cycles before would go nowhere.
        std::thread::sleep(std::time::Duration::from_millis(200));
        s
    }

    /// Opens client `name` with port `out`, not connected (stagerack's
    /// `--midi-in` patterns connect it).
    pub fn open(server: &str, name: &str) -> MidiSender {
        let c = open_client(server, name);
        let port = c
            .register_port("out", MidiOut::default())
            .expect("register a MIDI out port");
        let queue = Arc::new(Mutex::new(Vec::new()));
        let client = c
            .activate_async(
                (),
                QueuedMidi {
                    port,
                    queue: queue.clone(),
                },
            )
            .expect("activate the MIDI sender");
        MidiSender { client, queue }
    }

    /// Sends one MIDI message in the next cycle.
    pub fn send(&self, bytes: &[u8]) {
        self.queue.lock().unwrap().push(bytes.to_vec());
        let _ = &self.client;
    }
}

/// True when stagerack's status lines in `stderr` report at least 100
/// xruns: the JACK server itself stalled (seen on a loaded machine: the
/// dummy driver xrunning every cycle while stagerack's process thread
/// waited idle inside libjack), so a test that heard nothing measured the
/// machine, not stagerack, and may try again with a fresh server.
pub fn jack_stalled(stderr: &str) -> bool {
    stderr
        .lines()
        .filter_map(|l| l.split("xruns ").nth(1))
        .filter_map(|rest| rest.split(',').next()?.trim().parse::<u64>().ok())
        .any(|n| n >= 100)
}

/// A JACK client with one audio input per named port, keeping each
/// input's peak since the last [`PortPeaks::take`].
pub struct PortPeaks {
    client: jack::AsyncClient<(), PeakInputs>,
    peaks: Arc<Vec<AtomicU32>>,
    names: Vec<String>,
}

/// Its process callback.
pub struct PeakInputs {
    ports: Vec<Port<AudioIn>>,
    peaks: Arc<Vec<AtomicU32>>,
}

impl jack::ProcessHandler for PeakInputs {
    fn process(&mut self, _: &Client, ps: &ProcessScope) -> Control {
        for (port, peak) in self.ports.iter().zip(self.peaks.iter()) {
            let p = port.as_slice(ps).iter().fold(0.0f32, |m, x| m.max(x.abs()));
            peak.fetch_max(p.to_bits(), Ordering::Relaxed);
        }
        Control::Continue
    }
}

impl PortPeaks {
    /// Opens client `name` with one input per port in `sources`
    /// (`client:port` names), each connected to its source.
    pub fn connect(server: &str, name: &str, sources: &[&str]) -> PortPeaks {
        let c = open_client(server, name);
        let ports: Vec<Port<AudioIn>> = (0..sources.len())
            .map(|i| {
                c.register_port(&format!("in_{i}"), AudioIn::default())
                    .expect("register an input")
            })
            .collect();
        let peaks: Arc<Vec<AtomicU32>> =
            Arc::new((0..sources.len()).map(|_| AtomicU32::new(0)).collect());
        let client = c
            .activate_async(
                (),
                PeakInputs {
                    ports,
                    peaks: peaks.clone(),
                },
            )
            .expect("activate the recorder");
        for (i, source) in sources.iter().enumerate() {
            client
                .as_client()
                .connect_ports_by_name(source, &format!("{name}:in_{i}"))
                .unwrap_or_else(|e| panic!("connect {source}: {e:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
        PortPeaks {
            client,
            peaks,
            names: sources.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Each port's peak since the last call, by source name; resets them.
    pub fn take(&self) -> Vec<(String, f32)> {
        let _ = &self.client;
        self.names
            .iter()
            .zip(self.peaks.iter())
            .map(|(n, p)| (n.clone(), f32::from_bits(p.swap(0, Ordering::Relaxed))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stalled_server_is_told_from_stagerack_status_lines() {
        let line = |x: u32| {
            format!("stagerack: dsp 0.0% avg 0.0% peak (threads 0/0%), xruns {x}, overloads 0, midi 0 events, out peak -240.0 dBFS\n")
        };
        assert!(super::jack_stalled(&(line(3) + &line(561))));
        assert!(!super::jack_stalled(&(line(3) + &line(12))));
        assert!(!super::jack_stalled("stagerack: first buffer processed\n"));
    }
}
