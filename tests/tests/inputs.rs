//! Inputs into racks (#17): `[[input]] name = "vocal", channels = [1]` and
//! a rack with `input_audio = "vocal"` running `Stagerack Gain` at -6 dB.
//! The mono input reaches both sides of the rack, through the gain, on
//! the same sample (no latency added); racks without `input_audio` get
//! silence, and the other input channel reaches no rack. Offline, and
//! live on a private JACK server: a client plays a known signal into
//! `stagerack:vocal`, another records `stagerack:FOH_L` and `FOH_R`, and
//! every sample is the signal of its own frame times the gain.

mod clap_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap_support::*;
use stagerack_tests::jack::{open_client, unique_name, JackServer, Stagerack};

fn input_preset() -> String {
    format!(
        "version = 1\nname = \"vocal\"\n\
         [[output]]\nname = \"FOH\"\nchannels = [1, 2]\n\
         [[input]]\nname = \"vocal\"\nchannels = [1]\n\
         [[rack]]\nname = \"voice\"\ninput_audio = \"vocal\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.gain\"\npath = \"{}\"\n\
         params = {{ gain = -6.0 }}\n\
         [[rack]]\nname = \"effect without input\"\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"gain\"\n",
        bundle("stagerack-gain").display()
    )
}

fn gain() -> f32 {
    10f32.powf(-6.0 / 20.0)
}

#[test]
fn a_rack_processes_its_named_input_on_the_same_sample() {
    let (mut s, mut e) = session(&preset(&input_preset()), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let voice = sine(4_800);
    let other: Vec<f32> = voice.iter().map(|x| 0.5 - x).collect();
    let out = render(&mut s, &mut e, &[], Some([&voice, &other]), 64, 4_800);
    for (i, x) in voice.iter().enumerate() {
        let want = gain() * x;
        assert!(
            (out.left[i] - want).abs() < 1e-6 && (out.right[i] - want).abs() < 1e-6,
            "frame {i}: {} / {} not {want}",
            out.left[i],
            out.right[i]
        );
    }
    s.shutdown(e);
}

#[test]
fn an_unknown_input_is_refused_by_name() {
    let bad = input_preset().replace("input_audio = \"vocal\"", "input_audio = \"guitar\"");
    let err = stagerack::preset::parse_preset(&bad, std::path::Path::new("show.toml"))
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("rack `voice`: input_audio names input `guitar`")
            && err.contains("use one of: vocal"),
        "{err}"
    );
}

/// The signal played at frame time `t`: never zero, never repeating
/// within a few seconds.
fn signal(t: u32) -> f32 {
    0.1 + 0.8 * ((t % 4093) as f32 / 4093.0)
}

/// Plays [`signal`] on its output port.
struct Player {
    port: jack::Port<jack::AudioOut>,
}

impl jack::ProcessHandler for Player {
    fn process(&mut self, _: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        let t = ps.last_frame_time();
        for (i, x) in self.port.as_mut_slice(ps).iter_mut().enumerate() {
            *x = signal(t.wrapping_add(i as u32));
        }
        jack::Control::Continue
    }
}

/// Sorts each cycle of what arrives on its two inputs: the signal of the
/// same frames times the gain (exact), that of a whole number of periods
/// before (stale: a cycle JACK ran with a late client's old buffer),
/// silence (a lost cycle), or anything else (wrong).
struct Checker {
    left: jack::Port<jack::AudioIn>,
    right: jack::Port<jack::AudioIn>,
    armed: Arc<AtomicBool>,
    counts: Arc<Counts>,
    wrong: Arc<Mutex<Vec<(u32, f32, f32)>>>,
}

/// Counts the server's xruns.
struct XrunCount(Arc<AtomicU64>);

impl jack::NotificationHandler for XrunCount {
    fn xrun(&mut self, _: &jack::Client) -> jack::Control {
        self.0.fetch_add(1, Ordering::Relaxed);
        jack::Control::Continue
    }
}

#[derive(Default)]
struct Counts {
    exact: AtomicU64,
    stale: AtomicU64,
    silent: AtomicU64,
    wrong: AtomicU64,
}

impl jack::ProcessHandler for Checker {
    fn process(&mut self, _: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        if !self.armed.load(Ordering::Acquire) {
            return jack::Control::Continue;
        }
        let t = ps.last_frame_time();
        let n = ps.n_frames();
        let (l, r) = (self.left.as_slice(ps), self.right.as_slice(ps));
        let matches = |shift: u32| {
            l.iter().zip(r).enumerate().all(|(i, (l, r))| {
                let want = gain() * signal(t.wrapping_add(i as u32).wrapping_sub(shift));
                (l - want).abs() <= 1e-6 && (r - want).abs() <= 1e-6
            })
        };
        let c = &self.counts;
        if matches(0) {
            c.exact.fetch_add(1, Ordering::Relaxed);
        } else if l.iter().chain(r).all(|x| *x == 0.0) {
            c.silent.fetch_add(1, Ordering::Relaxed);
        } else if (1..=4).any(|k| matches(k * n)) {
            c.stale.fetch_add(1, Ordering::Relaxed);
        } else {
            c.wrong.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut w) = self.wrong.try_lock() {
                if w.len() < 8 {
                    w.push((t, l[0], gain() * signal(t)));
                }
            }
        }
        jack::Control::Continue
    }
}

#[test]
fn jack_input_reaches_the_rack_through_its_gain_with_no_added_latency() {
    let server = JackServer::start(&unique_name("inputs"), 64);
    let player = open_client(&server.name, "tt-voice");
    let mut sr = Stagerack::play_preset(&server.name, &input_preset(), &player, "stagerack:vocal");
    let out = player
        .register_port("out", jack::AudioOut::default())
        .unwrap();
    let player = player.activate_async((), Player { port: out }).unwrap();
    // Its ports exist before its client is active: connect once it takes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while player
        .as_client()
        .connect_ports_by_name("tt-voice:out", "stagerack:vocal")
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "cannot connect to stagerack:vocal; stderr:\n{}",
            sr.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let checker = open_client(&server.name, "tt-check");
    let left = checker
        .register_port("left", jack::AudioIn::default())
        .unwrap();
    let right = checker
        .register_port("right", jack::AudioIn::default())
        .unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let wrong = Arc::new(Mutex::new(Vec::new()));
    let xruns = Arc::new(AtomicU64::new(0));
    let checker = checker
        .activate_async(
            XrunCount(xruns.clone()),
            Checker {
                left,
                right,
                armed: armed.clone(),
                counts: counts.clone(),
                wrong: wrong.clone(),
            },
        )
        .unwrap();
    for (from, to) in [
        ("stagerack:FOH_L", "tt-check:left"),
        ("stagerack:FOH_R", "tt-check:right"),
    ] {
        checker.as_client().connect_ports_by_name(from, to).unwrap();
    }
    // JACK applies new connections at a later graph update.
    std::thread::sleep(Duration::from_millis(500));
    armed.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_secs(2));
    armed.store(false, Ordering::Release);
    sr.assert_running();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (exact, stale, silent, off) = (
        n(&counts.exact),
        n(&counts.stale),
        n(&counts.silent),
        n(&counts.wrong),
    );
    let cycles = exact + stale + silent + off;
    eprintln!("cycles {cycles}: exact {exact}, stale {stale}, silent {silent}, wrong {off}");
    // Every cycle that sounds is the signal of its own frames times the
    // gain, or (a late client's cycle) of whole periods before; a period
    // of latency or a wrong gain would show in every cycle. A cycle JACK
    // garbled in an xrun is excused, one per xrun at most.
    let xruns = xruns.load(Ordering::Relaxed);
    assert!(
        off <= xruns,
        "{off} cycles wrong of {cycles} with {xruns} xruns (cycle frame, got, want): {:?}",
        wrong.lock().unwrap()
    );
    assert!(cycles > 100, "only {cycles} cycles checked");
    assert!(
        exact * 10 >= cycles * 8,
        "only {exact} of {cycles} cycles exact (stale {stale}, silent {silent})"
    );
}
