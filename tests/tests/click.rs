//! The built-in click (#17): a rack playing `builtin:click` to the in-ear
//! output only. Each click starts on the first frame of its beat (the
//! beats plugins' transports show) at 100 and 137 BPM, the first beat of
//! each bar at the accent level, the others at the click level; nothing
//! reaches the front-of-house output. Offline here; live on a private JACK
//! server, the recorded clicks keep the beat's spacing to the frame.

mod clap_support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap_support::*;
use stagerack::plugin::builtin::click::beat_start;
use stagerack_tests::jack::{connect_when_active, open_client, unique_name, JackServer, Stagerack};

fn click_preset(tempo: f64) -> String {
    format!(
        "version = 1\nname = \"click\"\ntempo = {tempo}\n\
         [[output]]\nname = \"FOH\"\nchannels = [1, 2]\n\
         [[output]]\nname = \"IEM\"\nchannels = [3, 4]\n\
         [[rack]]\nname = \"click\"\noutput = \"IEM\"\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"click\"\n"
    )
}

/// Frames where a click starts (a sound after silence) and its first
/// sample.
fn onsets(x: &[f32]) -> Vec<(usize, f32)> {
    (0..x.len())
        .filter(|&i| x[i] != 0.0 && (i == 0 || x[i - 1] == 0.0))
        .map(|i| (i, x[i]))
        .collect()
}

fn clicks_on_the_beat(tempo: f64) {
    let (mut s, mut e) = session(&preset(&click_preset(tempo)), 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let frames = 5 * 48_000;
    let out = render(&mut s, &mut e, &[], None, 64, frames);
    let iem = onsets(out.channel(2).unwrap());
    let expected: Vec<(usize, f32)> = (0..)
        .map(|k| (k, beat_start(k, tempo, RATE) as usize))
        .take_while(|(_, n)| *n < frames as usize)
        .map(|(k, n)| (n, if k % 4 == 0 { 0.8 } else { 0.5 }))
        .collect();
    assert!(expected.len() >= 8, "{expected:?}");
    assert_eq!(iem, expected, "{tempo} BPM");
    assert_eq!(out.channel(3).map(onsets), Some(expected), "IEM right");
    assert!(
        out.left.iter().chain(&out.right).all(|x| *x == 0.0),
        "the click reached front of house"
    );
    s.shutdown(e);
}

#[test]
fn clicks_start_on_each_beat_at_100_bpm() {
    clicks_on_the_beat(100.0);
}

#[test]
fn clicks_start_on_each_beat_at_137_bpm() {
    clicks_on_the_beat(137.0);
}

/// Records where every click starts on one port, counted in the frames
/// it received (its own stream), and where JACK reported an xrun.
struct ClickRecorder {
    port: jack::Port<jack::AudioIn>,
    armed: Arc<AtomicBool>,
    last: f32,
    /// Frames received while armed.
    position: u64,
    xruns: Arc<AtomicU32>,
    seen_xruns: u32,
    found: Arc<Mutex<Found>>,
}

/// A click's onset: its frame and its first sample's level.
type Click = (u64, f32);

/// Click starts (stream frame, first sample) and the stream frames where
/// an xrun was noticed.
#[derive(Clone, Default)]
struct Found {
    clicks: Vec<Click>,
    xruns: Vec<u64>,
}

impl jack::ProcessHandler for ClickRecorder {
    fn process(&mut self, _: &jack::Client, ps: &jack::ProcessScope) -> jack::Control {
        if !self.armed.load(Ordering::Acquire) {
            return jack::Control::Continue;
        }
        let xruns = self.xruns.load(Ordering::Relaxed);
        let Ok(mut found) = self.found.try_lock() else {
            // A test client: never waits; a skipped cycle counts as an xrun.
            self.seen_xruns = u32::MAX;
            self.position += u64::from(ps.n_frames());
            return jack::Control::Continue;
        };
        if xruns != self.seen_xruns {
            self.seen_xruns = xruns;
            found.xruns.push(self.position);
        }
        for (i, x) in self.port.as_slice(ps).iter().enumerate() {
            if *x != 0.0 && self.last == 0.0 {
                found.clicks.push((self.position + i as u64, *x));
            }
            self.last = *x;
        }
        self.position += u64::from(ps.n_frames());
        jack::Control::Continue
    }
}

/// Counts the server's xruns.
struct XrunCount(Arc<AtomicU32>);

impl jack::NotificationHandler for XrunCount {
    fn xrun(&mut self, _: &jack::Client) -> jack::Control {
        self.0.fetch_add(1, Ordering::Relaxed);
        jack::Control::Continue
    }
}

fn live_clicks(tempo: f64) {
    let server = JackServer::start(&unique_name("click"), 64);
    let c = open_client(&server.name, "tt-click");
    let mut sr = Stagerack::play_preset(&server.name, &click_preset(tempo), &c, "stagerack:IEM_L");
    let port = c
        .register_port("in", jack::AudioIn::default())
        .expect("register an input");
    let armed = Arc::new(AtomicBool::new(false));
    let found = Arc::new(Mutex::new(Found::default()));
    let xruns = Arc::new(AtomicU32::new(0));
    let client = c
        .activate_async(
            XrunCount(xruns.clone()),
            ClickRecorder {
                port,
                armed: armed.clone(),
                last: 0.0,
                position: 0,
                xruns: xruns.clone(),
                seen_xruns: 0,
                found: found.clone(),
            },
        )
        .expect("activate");
    connect_when_active(client.as_client(), "stagerack:IEM_L", "tt-click:in");
    std::thread::sleep(Duration::from_millis(300));
    armed.store(true, Ordering::Release);
    // Four seconds, longer while JACK keeps losing time (a loaded
    // machine): until four undisturbed beats, or enough clicks to check
    // across xruns, were heard; 30 s at most.
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let (clean, clicks) = {
            let f = found.lock().unwrap();
            let clean = f
                .clicks
                .windows(2)
                .filter(|p| {
                    !f.xruns
                        .iter()
                        .any(|x| (p[0].0.saturating_sub(64)..=p[1].0 + 64).contains(x))
                })
                .count();
            (clean, f.clicks.len())
        };
        let waited = started.elapsed();
        let enough = clean >= 4 || (clean >= 2 && clicks >= 8) || clicks >= 16;
        if (waited >= Duration::from_secs(4) && enough) || waited > Duration::from_secs(30) {
            break;
        }
    }
    armed.store(false, Ordering::Release);
    sr.assert_running();
    let Found { clicks, mut xruns } = found.lock().unwrap().clone();
    let (ok, stderr) = sr.stop();
    assert!(ok, "{stderr}");
    // A cycle JACK lost under load reaches the recorder as silence (its
    // xrun report may come cycles later): the rest of that click then
    // starts on the next cycle's first frame, mid-tone. Such a cut click
    // is a disturbance, not a click; any other onset must be a whole one.
    let (cut, clicks): (Vec<Click>, Vec<Click>) = clicks
        .into_iter()
        .partition(|&(at, level)| level != 0.8 && level != 0.5 && at % 64 == 0);
    xruns.extend(cut.iter().map(|c| c.0));
    // Where JACK lost time (an xrun), whole cycles are missing from the
    // recorder's stream or from stagerack's: a click there may be missing
    // or earlier by whole periods, never off its place within a period.
    // Between clicks with no xrun between them the gap is the beat itself.
    let beat = 60.0 * 48_000.0 / tempo;
    let mut exact = 0;
    for pair in clicks.windows(2) {
        let ((a, _), (b, level)) = (pair[0], pair[1]);
        assert!(level == 0.8 || level == 0.5, "click level {level}");
        let gap = (b - a) as f64;
        let disturbed = xruns
            .iter()
            .any(|x| (a.saturating_sub(64)..=b + 64).contains(x));
        if !disturbed {
            assert!(
                (gap - beat).abs() < 1.0,
                "{tempo} BPM: clicks {gap} frames apart, a beat is {beat}: {clicks:?}, xruns at {xruns:?}"
            );
            exact += 1;
        } else {
            // Whole beats and whole periods apart, to the frame.
            let beats = (gap / beat).round().max(1.0);
            let off = (gap - beats * beat).rem_euclid(64.0);
            assert!(
                !(1.0..=63.0).contains(&off),
                "{tempo} BPM: clicks {gap} frames apart across an xrun: not whole beats and \
                 periods ({clicks:?}, xruns at {xruns:?})"
            );
        }
    }
    assert!(
        exact >= 2 || clicks.len() >= 8,
        "{tempo} BPM: {exact} undisturbed beats of {} clicks ({clicks:?}); xruns at {xruns:?}; \
         stderr:\n{stderr}",
        clicks.len()
    );
    // The bar: one accent in four beats.
    let accents: Vec<u64> = clicks.iter().filter(|c| c.1 == 0.8).map(|c| c.0).collect();
    for w in accents.windows(2) {
        if xruns
            .iter()
            .any(|x| (w[0].saturating_sub(64)..=w[1] + 64).contains(x))
        {
            continue;
        }
        let bar = (w[1] - w[0]) as f64;
        assert!(
            (bar - 4.0 * beat).abs() < 1.0,
            "{tempo} BPM: accents {bar} frames apart: {clicks:?}"
        );
    }
}

#[test]
fn live_clicks_keep_the_beat_at_100_and_137_bpm() {
    live_clicks(100.0);
    live_clicks(137.0);
}
