//! The in-process measurements of `cargo xtask bench` (run through
//! `tests/examples/bench.rs`; see xtask/src/bench.rs, which writes
//! docs/BENCHMARKS.md and fails on a missed target). Each returns its
//! figures as JSON. The switch's correctness (frames, samples) is also
//! checked in every test run by tests/tests/switch_exact.rs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use stagerack::engine::{EngineConfig, EntryTrigger, QueueCapacities, SwitchTable};
use stagerack::io::offline::{render_offline, OfflineJob};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::{Event, EventBuffer};
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{
    AudioProcessor, Block, PluginFormat, ProcessConfig, Transport, WAIT_SHARE,
};
use stagerack::preset::{parse_preset, PluginDef, Preset, RackDef};
use stagerack::session::Session;

use crate::jack::{preset, unique_name, JackServer, Stagerack, TimingRig};

const RATE: f64 = 48_000.0;

/// A MIDI message at an absolute frame.
fn midi_at(frame: u64, bytes: [u8; 3]) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::from_midi(&bytes).expect("a valid MIDI message"),
    }
}

/// Moves `events[next..]` due in the 64-frame block at `pos` into `out`
/// (cleared first) as block offsets; returns the next index.
fn block_events(
    events: &[SampleEvent],
    mut next: usize,
    pos: u64,
    out: &mut Vec<stagerack::midi::TimedEvent>,
) -> usize {
    out.clear();
    while next < events.len() && events[next].frame < pos + 64 {
        out.push(stagerack::midi::TimedEvent::new(
            (events[next].frame - pos) as u32,
            events[next].event,
        ));
        next += 1;
    }
    next
}

fn config(block: usize) -> EngineConfig {
    EngineConfig {
        sample_rate: RATE,
        max_block: block,
        queues: QueueCapacities::default(),
    }
}

/// A live (not offline) configuration for blocks of up to `frames`.
fn live_config(frames: usize) -> ProcessConfig {
    ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block: frames as u32,
        offline: false,
        aux_outputs: 0,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// 120 BPM, playing, at the start.
fn rolling() -> Transport {
    Transport {
        tempo: 120.0,
        playing: true,
        steady_frames: 0,
        sample_rate: RATE,
        wait_until: None,
    }
}

fn noise(frames: usize) -> Vec<f32> {
    let mut seed = 1u32;
    (0..frames)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.5 - 0.25
        })
        .collect()
}

/// Our VST3 test bundle `name` and its first class id.
fn vst3(name: &str) -> (PathBuf, String) {
    let bundle = crate::workspace_root()
        .join("target/bundles/vst3")
        .join(format!("{name}.vst3"));
    assert!(
        bundle.exists(),
        "{} is missing: run `cargo xtask bundle-vst3`",
        bundle.display()
    );
    let id = stagerack::plugin::vst3::list_vst3_classes(&bundle)
        .expect("list the VST3 classes")
        .remove(0)
        .id;
    (bundle, id)
}

fn plugin(format: PluginFormat, id: &str, path: &Path) -> PluginDef {
    let mut def = PluginDef::builtin(id);
    def.format = format;
    def.path = Some(path.to_owned());
    def
}

/// The 4 plugins of one rack: CLAP, VST3, CLAP, VST3 — our test gains, or
/// with `zam`, zam-plugins' ZamComp (a real compressor, ~10× the work).
fn gains(kind: &str) -> Vec<PluginDef> {
    if kind == "zam" {
        let (vst, vid) = {
            let b = PathBuf::from("/usr/lib/vst3/ZamComp.vst3");
            let id = stagerack::plugin::vst3::list_vst3_classes(&b)
                .expect("zam-plugins' ZamComp.vst3 (scripts/ensure-deps test)")
                .remove(0)
                .id;
            (b, id)
        };
        let clap = PathBuf::from("/usr/lib/clap/ZamComp.clap");
        return (0..4)
            .map(|i| {
                if i % 2 == 0 {
                    plugin(PluginFormat::Clap, "com.zamaudio.ZamComp", &clap)
                } else {
                    plugin(PluginFormat::Vst3, &vid, &vst)
                }
            })
            .collect();
    }
    let clap = crate::clap_bundle("stagerack-gain");
    let (vst, vid) = vst3("Stagerack VST3 Gain");
    (0..4)
        .map(|i| {
            if i % 2 == 0 {
                plugin(PluginFormat::Clap, "org.stagerack.test.gain", &clap)
            } else {
                plugin(PluginFormat::Vst3, &vid, &vst)
            }
        })
        .collect()
}

/// Host overhead: engine vs. direct calls, alternating rounds, medians.
pub fn overhead(frames: usize, kind: &str) -> serde_json::Value {
    let preset = Preset {
        outputs: Vec::new(),
        inputs: Vec::new(),
        rig: None,
        rig_lists: None,
        version: 1,
        name: "overhead".into(),
        tempo: None,
        racks: (0..16)
            .map(|i| RackDef::new(&format!("rack {i}"), gains(kind)))
            .collect(),
        master: None,
    };
    let (mut session, mut engine) = Session::new(&preset, config(frames), true).unwrap();
    // One thread, like the direct calls it is measured against (racks on
    // every core are measured in `threads`).
    engine.use_threads(1).unwrap();
    let input = noise(frames);
    let (mut l, mut r) = (vec![0.0f32; frames], vec![0.0f32; frames]);
    engine.process(&[], Some([&input, &input]), &mut l, &mut r);
    session.pump();

    // The same 64 plugins, loaded and activated on their own, called in
    // the same order with the same buffers: 16 chains of 4, summed.
    let pc = ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block: frames as u32,
        offline: true,
        aux_outputs: 0,
    };
    let mut instances = Vec::new();
    let mut procs: Vec<Box<dyn AudioProcessor>> = Vec::new();
    for _ in 0..16 {
        for def in gains(kind) {
            let mut inst = load_plugin(&def).expect("load a gain");
            procs.push(inst.activate(&pc).expect("activate a gain"));
            instances.push(inst);
        }
    }
    let transport = rolling();
    let mut out_events = EventBuffer::with_capacity(256);
    let (mut rl, mut rr) = (vec![0.0f32; frames], vec![0.0f32; frames]);
    let mut direct = |l: &mut [f32], r: &mut [f32]| {
        l.fill(0.0);
        r.fill(0.0);
        for chain in procs.chunks_mut(4) {
            rl.copy_from_slice(&input);
            rr.copy_from_slice(&input);
            for p in chain.iter_mut() {
                out_events.clear();
                let mut block = Block {
                    frames,
                    left: &mut rl,
                    right: &mut rr,
                    events: &[],
                    out_events: &mut out_events,
                    transport: &transport,
                };
                p.process(&mut block);
            }
            for (o, x) in l.iter_mut().zip(&rl) {
                *o += x;
            }
            for (o, x) in r.iter_mut().zip(&rr) {
                *o += x;
            }
        }
    };
    let per_round = (RATE / frames as f64) as usize; // 1 s of audio
    let (mut e_ns, mut d_ns) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        for _ in 0..per_round {
            engine.process(&[], Some([&input, &input]), &mut l, &mut r);
        }
        e_ns.push(t.elapsed().as_nanos() as f64 / per_round as f64);
        let t = Instant::now();
        for _ in 0..per_round {
            direct(&mut l, &mut r);
        }
        d_ns.push(t.elapsed().as_nanos() as f64 / per_round as f64);
        session.pump();
    }
    // Other work on a shared machine only ever adds time: the fastest
    // round of each is the cost without interference.
    let (e_min, d_min) = (
        e_ns.iter().copied().fold(f64::INFINITY, f64::min),
        d_ns.iter().copied().fold(f64::INFINITY, f64::min),
    );
    let (e, d) = (median(&mut e_ns), median(&mut d_ns));
    let period_ns = frames as f64 / RATE * 1e9;
    for (inst, p) in instances.iter_mut().zip(procs) {
        inst.deactivate(p);
    }
    session.shutdown(engine);
    json!({
        "plugins": if kind == "zam" { "ZamComp" } else { "test gain" },
        "frames": frames,
        "engine_ns": e,
        "direct_ns": d,
        "ratio": e / d,
        "overhead_ns": e - d,
        "overhead_pct_of_period": (e - d) / period_ns * 100.0,
        "engine_min_ns": e_min,
        "direct_min_ns": d_min,
        "ratio_min": e_min / d_min,
        "overhead_min_pct_of_period": (e_min - d_min) / period_ns * 100.0,
    })
}

/// The peer-host chain: VST3 probe (a note every 1000 frames) → two VST3
/// gains, rendered offline; the render loop timed (loading excluded).
pub fn peer(block: usize, seconds: f64) -> serde_json::Value {
    let (pb, pid) = vst3("Stagerack VST3 Probe");
    let (gb, gid) = vst3("Stagerack VST3 Gain");
    let text = format!(
        "version = 1\nname = \"peer\"\n[[rack]]\nname = \"r\"\n\
         [[rack.plugin]]\nformat = \"vst3\"\nid = \"{pid}\"\npath = {:?}\n\
         [[rack.plugin]]\nformat = \"vst3\"\nid = \"{gid}\"\npath = {:?}\n\
         [[rack.plugin]]\nformat = \"vst3\"\nid = \"{gid}\"\npath = {:?}\n",
        pb.display().to_string(),
        gb.display().to_string(),
        gb.display().to_string()
    );
    let preset = parse_preset(&text, Path::new("peer.toml")).unwrap();
    let frames = (seconds * RATE) as u64;
    let events: Vec<SampleEvent> = (0..frames / 1000)
        .map(|k| midi_at(k * 1000, [0x90, 36 + (k % 48) as u8, 1 + (k % 127) as u8]))
        .collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        let (session, mut engine) = Session::new(&preset, config(block), true).unwrap();
        let job = OfflineJob {
            events: &events,
            input: None,
            block,
            min_frames: frames,
            max_tail_frames: 0,
            silence_frames: 0,
        };
        let t = Instant::now();
        let out = render_offline(&mut engine, &job, |_| {});
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(out.left.len() as u64, frames);
        session.shutdown(engine);
    }
    json!({ "block": block, "seconds_audio": seconds, "render_s": median(&mut times) })
}

/// MIDI to audio on JACK: native, then steady (clock) mode.
pub fn midi(notes: u32) -> serde_json::Value {
    let period = 64u32;
    let mut results = serde_json::Map::new();
    for (mode, extra) in [
        ("native", &[][..]),
        (
            "steady",
            &["--midi-source", "clock", "--midi-timing", "steady"][..],
        ),
    ] {
        let server = JackServer::start(&unique_name(&format!("bench-{mode}")), period);
        let probe = preset("probe.toml");
        let mut args = vec!["--preset", probe.as_str()];
        args.extend_from_slice(extra);
        let mut sr = Stagerack::spawn(&server.name, &args);
        let rig = TimingRig::start(&server.name, notes as usize + 16);
        let watch = crate::jack::open_client(&server.name, "bench-watch");
        assert!(crate::jack::wait_for_port(
            &watch,
            "stagerack:midi_in",
            Duration::from_secs(30)
        ));
        rig.connect("stagerack");
        std::thread::sleep(Duration::from_secs(2));
        let report = rig.run(notes, period);
        sr.assert_running();
        let _ = sr.stop();
        // Notes judged: those the run did not disturb (as in the tests).
        let judged: Vec<f64> = report
            .notes
            .iter()
            .filter(|n| !report.disturbed(n, period))
            .filter_map(|n| n.found.map(|d| d as f64))
            .collect();
        let mut sorted = judged.clone();
        let latency = if sorted.is_empty() {
            f64::NAN
        } else {
            median(&mut sorted)
        };
        let jitter = judged
            .iter()
            .map(|d| (d - latency).abs())
            .fold(0.0, f64::max);
        results.insert(
            mode.into(),
            json!({
                "notes": report.sent,
                "judged": judged.len(),
                "latency_frames": latency,
                "jitter_frames": jitter,
                "xruns": report.xruns,
            }),
        );
    }
    serde_json::Value::Object(results)
}

/// A setlist switch at a known frame, block 64: trigger to new sound,
/// continuity (the switched render equals the two presets rendered apart,
/// summed), and the switch buffer's cost against the median buffer.
pub fn switch() -> serde_json::Value {
    let a = parse_preset(
        "version = 1\nname = \"A\"\n[[rack]]\nname = \"pad\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\nparams = { release = 0.2, level = -20.0 }\n",
        Path::new("a.toml"),
    )
    .unwrap();
    let b = parse_preset(
        "version = 1\nname = \"B\"\n[[rack]]\nname = \"probe\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n[[rack]]\nname = \"lead\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n",
        Path::new("b.toml"),
    )
    .unwrap();
    let table = SwitchTable {
        entries: vec![
            EntryTrigger {
                program: Some(10),
                bank: None,
                note: None,
            },
            EntryTrigger {
                program: Some(11),
                bank: None,
                note: None,
            },
        ],
        max_tail_frames: 48_000 * 5,
        ..SwitchTable::default()
    };
    let switch_at = 48_000u64 + 17;
    let note = |frame, key| midi_at(frame, [0x90, key, 100]);
    let before = vec![note(100, 48), note(200, 55)];
    let after = vec![note(switch_at, 60)];
    let mut all = before.clone();
    all.push(SampleEvent {
        frame: switch_at,
        event: Event::from_midi(&[0xC0, 11]).expect("program change"),
    });
    all.extend(after.iter().copied());
    let frames = 96_000u64;
    let render = |presets: &[Preset], events: &[SampleEvent], timed: bool| {
        let (mut session, mut engine) =
            Session::with_presets(presets, table.clone(), config(64), true).unwrap();
        let mut times = Vec::new();
        let mut out = (Vec::new(), Vec::new());
        let mut pos = 0u64;
        let mut next = 0;
        let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
        let mut evs = Vec::with_capacity(64);
        while pos < frames {
            session.pump();
            next = block_events(events, next, pos, &mut evs);
            let t = Instant::now();
            engine.process(&evs, None, &mut l, &mut r);
            if timed {
                times.push((pos, t.elapsed().as_nanos() as f64));
            }
            out.0.extend_from_slice(&l);
            out.1.extend_from_slice(&r);
            pos += 64;
        }
        session.shutdown(engine);
        (out, times)
    };
    let ((sw_l, _), times) = render(&[a.clone(), b.clone()], &all, true);
    let ((a_l, _), _) = render(std::slice::from_ref(&a), &before, false);
    let ((b_l, _), _) = render(std::slice::from_ref(&b), &after, false);
    let differing = (0..frames as usize)
        .filter(|&i| sw_l[i] != a_l[i] + b_l[i])
        .count();
    // The probe of B writes an impulse on the note's exact sample.
    let first_new = (0..frames as usize).find(|&i| b_l[i] != 0.0 && sw_l[i] != a_l[i]);
    let trigger_to_sound = first_new.map(|i| i as i64 - switch_at as i64);
    // The worst buffer from the switch on, over the next 20 (the old
    // preset ringing while the new one starts).
    let switch_buffer = times
        .iter()
        .filter(|(p, _)| *p + 64 > switch_at && *p < switch_at + 21 * 64)
        .map(|(_, t)| *t)
        .fold(f64::NAN, f64::max);
    let mut all_t: Vec<f64> = times.iter().map(|(_, t)| *t).collect();
    let med = median(&mut all_t);
    json!({
        "trigger_to_sound_frames": trigger_to_sound,
        "samples_differing_from_the_two_presets_apart": differing,
        "switch_buffer_ns": switch_buffer,
        "median_buffer_ns": med,
        "switch_over_median": switch_buffer / med,
    })
}

/// `stagerack --preset PRESET` on a private JACK server until it reports
/// its first processed buffer; median of 5 starts, in ms.
pub fn startup(preset_path: &str) -> serde_json::Value {
    let mut times = Vec::new();
    for k in 0..5 {
        let server = JackServer::start(&unique_name(&format!("bench-start{k}")), 64);
        let t = Instant::now();
        let mut sr = Stagerack::spawn(&server.name, &["--preset", preset_path]);
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if sr.stderr().contains("first buffer processed") {
                times.push(t.elapsed().as_secs_f64() * 1e3);
                break;
            }
            sr.assert_running();
            assert!(Instant::now() < end, "no first buffer:\n{}", sr.stderr());
            std::thread::sleep(Duration::from_micros(500));
        }
        let _ = sr.stop();
    }
    json!({ "preset": preset_path, "first_buffer_ms": median(&mut times) })
}

/// Per-buffer DSP load (process time / period) at 64 frames over
/// `seconds` of audio: the demo preset with its MIDI file, or `heavy`:
/// every rack of the preset holding 16-note chords, re-struck each second.
/// `sandbox` (none, rack, plugin; empty: the preset's own) is where the
/// plugins run.
pub fn load(preset_path: &str, midi: &str, seconds: f64, sandbox: &str) -> serde_json::Value {
    if !sandbox.is_empty() {
        stagerack::plugin::sandbox::set_child_program(crate::stagerack_bin());
        stagerack::plugin::sandbox::set_mode_override(sandbox.parse().expect("a sandbox mode"));
    }
    let preset = stagerack::preset::load_preset(Path::new(preset_path)).unwrap();
    let frames = (seconds * RATE) as u64;
    let events: Vec<SampleEvent> = if midi == "heavy" {
        (0..seconds as u64)
            .flat_map(|s| {
                (0..16u8).flat_map(move |k| {
                    let key = 36 + k * 4;
                    [
                        midi_at(s * 48_000 + u64::from(k), [0x90, key, 100]),
                        midi_at(s * 48_000 + 40_000 + u64::from(k), [0x80, key, 0]),
                    ]
                })
            })
            .collect()
    } else {
        let song = stagerack::midi::file::read_midi_file(Path::new(midi), RATE).unwrap();
        let len = song.last().map_or(1, |e| e.frame + 48_000);
        // Loop the song over the whole time.
        (0..frames / len + 1)
            .flat_map(|k| {
                song.iter().map(move |e| SampleEvent {
                    frame: e.frame + k * len,
                    event: e.event,
                })
            })
            .filter(|e| e.frame < frames)
            .collect()
    };
    let mut events = events;
    events.sort_by_key(|e| e.frame);
    let (mut session, mut engine) = Session::new(&preset, config(64), true).unwrap();
    let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
    let mut evs = Vec::with_capacity(256);
    let mut next = 0;
    let mut loads = Vec::with_capacity(frames as usize / 64);
    let period_ns = 64.0 / RATE * 1e9;
    let mut pos = 0u64;
    while pos < frames {
        if pos % 4096 == 0 {
            session.pump();
        }
        next = block_events(&events, next, pos, &mut evs);
        let t = Instant::now();
        engine.process(&evs, None, &mut l, &mut r);
        loads.push(t.elapsed().as_nanos() as f64 / period_ns * 100.0);
        pos += 64;
    }
    session.shutdown(engine);
    let max = loads.iter().copied().fold(0.0, f64::max);
    json!({
        "preset": preset_path,
        "midi": midi,
        "sandbox": sandbox,
        "buffers": loads.len(),
        "median_pct": percentile(&mut loads, 0.5),
        "p99_pct": percentile(&mut loads, 0.99),
        "max_pct": max,
    })
}

/// The rack window beside its engine (#20 item 14): the release
/// `stagerack-ui` plays the demo preset on a private JACK dummy server at
/// 64 frames under Xvfb (software GL); `rounds` times, `seconds` with the
/// window idle, then `seconds` typing into a rack's Channels field with
/// xdotool. Xruns, overloads and the engine's peak DSP load of each phase,
/// and whether the process's only real-time thread is the audio thread.
pub fn window(rounds: u32, seconds: f64) -> serde_json::Value {
    use crate::control::ControlSocket;
    use std::process::Command;
    let x = crate::xvfb::Xvfb::start();
    let server = JackServer::start(&unique_name("bench-window"), 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let ui = crate::stagerack_bin().with_file_name("stagerack-ui");
    let mut child = Command::new(&ui)
        .current_dir(crate::workspace_root())
        .env("DISPLAY", &x.display)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("JACK_DEFAULT_SERVER", &server.name)
        .env("JACK_NO_START_SERVER", "1")
        .args([
            "--preset",
            "presets/demo.toml",
            "--backend",
            "jack",
            "--listen",
        ])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", ui.display()));
    let xdotool = |args: &[&str]| {
        Command::new("xdotool")
            .env("DISPLAY", &x.display)
            .args(args)
            .output()
            .expect("xdotool missing: run scripts/ensure-deps test")
    };
    let end = Instant::now() + Duration::from_secs(60);
    let (mut control, window) = loop {
        assert!(
            Instant::now() < end,
            "the window or its socket did not appear"
        );
        assert!(child.try_wait().unwrap().is_none(), "stagerack-ui exited");
        let w = String::from_utf8_lossy(&xdotool(&["search", "--name", "stagerack"]).stdout)
            .split_whitespace()
            .next()
            .map(str::to_owned);
        if let (Some(w), Some(c)) = (w, ControlSocket::try_connect(&sock)) {
            break (c, w);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    xdotool(&["windowsize", &window, "1280", "800"]);
    xdotool(&["windowmove", &window, "0", "0"]);
    std::thread::sleep(Duration::from_secs(2));
    let status = |c: &mut ControlSocket| {
        let s = &c.request("status", "", "status")["status"];
        (
            s["xruns"].as_u64().unwrap_or(0),
            s["overloads"].as_u64().unwrap_or(0),
            s["dsp_peak"].as_f64().unwrap_or(0.0),
        )
    };
    let (mut idle, mut typing) = ([0u64; 2], [0u64; 2]);
    let (mut idle_peak, mut typing_peak) = (0.0f64, 0.0f64);
    for _ in 0..rounds {
        let a = status(&mut control);
        std::thread::sleep(Duration::from_secs_f64(seconds));
        let b = status(&mut control);
        idle[0] += b.0 - a.0;
        idle[1] += b.1 - a.1;
        idle_peak = idle_peak.max(b.2);
        // The bass rack's Channels field at 1280×800 (docs/rack-window.png).
        xdotool(&["mousemove", "770", "305", "click", "1"]);
        let a = status(&mut control);
        let until = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < until {
            xdotool(&["type", "--delay", "30", "1,2,3,4,5,6,7,8,9"]);
            xdotool(&["key", "ctrl+a", "BackSpace"]);
        }
        xdotool(&["key", "Escape"]);
        let b = status(&mut control);
        typing[0] += b.0 - a.0;
        typing[1] += b.1 - a.1;
        typing_peak = typing_peak.max(b.2);
    }
    // Real-time threads of the window's process (policy, /proc stat
    // field 41): the audio thread only, besides the engine's rack workers
    // (`stagerack-worker-N`, which follow the audio thread's priority).
    let realtime_threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("stat")).is_ok_and(|s| {
                        !s.contains("(stagerack-worke")
                            && s.rfind(')').is_some_and(|c| {
                                matches!(s[c + 2..].split(' ').nth(38), Some("1" | "2"))
                            })
                    })
                })
                .count()
        })
        .unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    json!({
        "rounds": rounds,
        "seconds_each": seconds,
        "idle_xruns": idle[0],
        "typing_xruns": typing[0],
        "idle_overloads": idle[1],
        "typing_overloads": typing[1],
        "idle_dsp_peak_pct": idle_peak * 100.0,
        "typing_dsp_peak_pct": typing_peak * 100.0,
        "realtime_threads": realtime_threads,
    })
}

/// One sandboxed rack and the same chain in process, run once per driver
/// callback by [`sandbox`]: each round times both, and every other round
/// starts the sandboxed chain early and collects it after another rack's
/// work (as the engine does). Driver callback thread; allocates nothing
/// once built (every list is sized for the whole run).
#[cfg(target_os = "linux")]
struct SandboxRounds {
    frames: usize,
    rounds: usize,
    /// How long into a buffer its waits end (the engine's limit).
    wait: Duration,
    /// The sandboxed chain's processors, then the in-process ones.
    sandboxed: Vec<Box<dyn AudioProcessor>>,
    local: Vec<Box<dyn AudioProcessor>>,
    /// Another rack's work: the built-in synth holding an eight-note chord.
    work: Box<dyn AudioProcessor>,
    chord: Vec<stagerack::midi::TimedEvent>,
    transport: Transport,
    input: Vec<f32>,
    left: Vec<f32>,
    right: Vec<f32>,
    work_left: Vec<f32>,
    work_right: Vec<f32>,
    out_events: EventBuffer,
    work_events: EventBuffer,
    /// Per round: sandboxed ns (NaN on started-early rounds), in-process
    /// ns, started early: added ns (NaN otherwise), the other rack's ns.
    times: Vec<(f64, f64, f64, f64)>,
    not_started: u32,
    /// Buffers the sandboxed chain gave silence for (a miss: its input is
    /// noise and its plugins gains), and the runs of them (each a stall).
    silent_buffers: u32,
    silent_runs: u32,
    last_silent: bool,
}

#[cfg(target_os = "linux")]
impl SandboxRounds {
    /// Runs the sandboxed (or in-process) chain from plugin `first` on in
    /// order on the round's buffers; returns how long that took, ns.
    fn timed_chain(&mut self, sandboxed: bool, first: usize) -> f64 {
        let Self {
            frames,
            sandboxed: boxed,
            local,
            left,
            right,
            out_events,
            transport,
            ..
        } = self;
        let ps = if sandboxed { boxed } else { local };
        let t = Instant::now();
        for p in &mut ps[first..] {
            out_events.clear();
            p.process(&mut Block {
                frames: *frames,
                left,
                right,
                events: &[],
                out_events,
                transport,
            });
        }
        t.elapsed().as_nanos() as f64
    }

    /// One buffer. Driver callback thread.
    fn round(&mut self) {
        let round = self.times.len();
        let frames = self.frames;
        // The buffer's waits end where the engine's would.
        self.transport.wait_until = Some(Instant::now() + self.wait);
        self.left.copy_from_slice(&self.input);
        self.right.copy_from_slice(&self.input);
        let d = self.timed_chain(false, 0);
        self.left.copy_from_slice(&self.input);
        self.right.copy_from_slice(&self.input);
        // Even rounds: called where the chain reaches it. Odd rounds: its
        // first plugin started early, collected after the other rack's
        // work (each round from a child asleep for a period, as live).
        if round % 2 == 0 {
            let sandboxed = self.timed_chain(true, 0);
            self.times.push((sandboxed, d, f64::NAN, f64::NAN));
            self.count_silence();
            return;
        }
        let t = Instant::now();
        self.out_events.clear();
        let mut block = Block {
            frames,
            left: &mut self.left,
            right: &mut self.right,
            events: &[],
            out_events: &mut self.out_events,
            transport: &self.transport,
        };
        let started = self.sandboxed[0].start(&mut block);
        let w = Instant::now();
        self.work_events.clear();
        self.work.process(&mut Block {
            frames,
            left: &mut self.work_left,
            right: &mut self.work_right,
            events: if round == 1 { &self.chord } else { &[] },
            out_events: &mut self.work_events,
            transport: &self.transport,
        });
        let work = w.elapsed().as_nanos() as f64;
        self.sandboxed[0].process(&mut block);
        self.timed_chain(true, 1);
        let early = t.elapsed().as_nanos() as f64;
        if !started {
            self.not_started += 1;
        }
        self.times.push((f64::NAN, d, early - work - d, work));
        self.count_silence();
    }

    fn count_silence(&mut self) {
        let silent = self.left.iter().chain(&self.right).all(|&x| x == 0.0);
        if silent {
            self.silent_buffers += 1;
            if !self.last_silent {
                self.silent_runs += 1;
            }
        }
        self.last_silent = silent;
    }
}

/// The JACK process callback that runs [`SandboxRounds`], and how late
/// JACK itself called it: the driver's own thread stalled for longer than
/// a sandbox's deadline is what an in-process rack would have suffered
/// too, the control for the sandbox's deadline misses.
#[cfg(target_os = "linux")]
struct SandboxCallback {
    rounds: SandboxRounds,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The callback thread's real-time priority, read in the first one.
    priority: Option<i32>,
    /// When the latest callback began.
    previous_start: Option<Instant>,
    /// A callback this long after the previous one came later than the
    /// sandbox's deadline: a period and the deadline.
    late_gap: Duration,
    /// Callbacks that came later than that, and the longest gap.
    late_beyond_deadline: u32,
    longest_gap: Duration,
}

#[cfg(target_os = "linux")]
impl jack::ProcessHandler for SandboxCallback {
    fn process(&mut self, _: &jack::Client, _: &jack::ProcessScope) -> jack::Control {
        if self.rounds.times.len() >= self.rounds.rounds {
            self.done.store(true, std::sync::atomic::Ordering::Release);
            return jack::Control::Continue;
        }
        if self.rounds.times.is_empty() {
            self.priority = stagerack::io::realtime::current_thread_priority();
        }
        let now = Instant::now();
        if let Some(previous) = self.previous_start.replace(now) {
            let gap = now - previous;
            self.longest_gap = self.longest_gap.max(gap);
            if gap > self.late_gap {
                self.late_beyond_deadline += 1;
            }
        }
        self.rounds.round();
        jack::Control::Continue
    }
}

/// Counts the JACK server's xruns.
#[cfg(target_os = "linux")]
struct XrunCount(std::sync::Arc<std::sync::atomic::AtomicU32>);

#[cfg(target_os = "linux")]
impl jack::NotificationHandler for XrunCount {
    fn xrun(&mut self, _: &jack::Client) -> jack::Control {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        jack::Control::Continue
    }
}

/// The cost of one sandboxed rack per buffer: a rack of `plugins`
/// built-in gains in one child process (`sandbox = "rack"`), called in
/// chain order from the process callback of a JACK client on a private
/// dummy server at `frames` (the driver's own real-time thread), against
/// the same chain in process. Per-buffer time of both, the difference
/// (what the sandbox adds: copies, waking the child, its answers) as
/// median, p99 and max, the deadlines missed, how often JACK itself
/// called back later than that deadline, and what the child's polling for
/// its next buffer cost (`anticipate`).
#[cfg(target_os = "linux")]
pub fn sandbox(frames: usize, seconds: f64, plugins: usize) -> serde_json::Value {
    use stagerack::plugin::sandbox::{set_child_program, SandboxProcess, SandboxedInstance};
    use stagerack::plugin::PluginInstance;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    set_child_program(crate::stagerack_bin());
    let def = PluginDef::builtin("gain");
    let pc = live_config(frames);
    let plugins = plugins.max(1);
    let sandbox = SandboxProcess::launch("bench").expect("launch a sandbox");
    let mut boxed: Vec<SandboxedInstance> = (0..plugins)
        .map(|_| SandboxedInstance::load(&def, &sandbox).expect("load the gain sandboxed"))
        .collect();
    let mut local: Vec<_> = (0..plugins)
        .map(|_| load_plugin(&def).expect("load the gain"))
        .collect();
    let sandboxed: Vec<_> = boxed
        .iter_mut()
        .map(|b| b.activate(&pc).expect("activate sandboxed"))
        .collect();
    let lps: Vec<_> = local
        .iter_mut()
        .map(|l| l.activate(&pc).expect("activate in process"))
        .collect();
    let mut synth = load_plugin(&PluginDef::builtin("synth")).expect("load the synth");
    let work = synth.activate(&pc).expect("activate the synth");
    let chord = (0..8u8)
        .map(|k| {
            stagerack::midi::TimedEvent::new(
                0,
                Event::NoteOn {
                    channel: 0,
                    key: 48 + 3 * k,
                    velocity: 0.8,
                    note_id: -1,
                },
            )
        })
        .collect();
    let period = Duration::from_secs_f64(frames as f64 / RATE);
    let rounds = (seconds / period.as_secs_f64()) as usize;
    let done = Arc::new(AtomicBool::new(false));
    let callback = SandboxCallback {
        rounds: SandboxRounds {
            frames,
            rounds,
            wait: period.mul_f64(WAIT_SHARE),
            sandboxed,
            local: lps,
            work,
            chord,
            transport: rolling(),
            input: noise(frames),
            left: vec![0.0; frames],
            right: vec![0.0; frames],
            work_left: vec![0.0; frames],
            work_right: vec![0.0; frames],
            out_events: EventBuffer::with_capacity(256),
            work_events: EventBuffer::with_capacity(16),
            times: Vec::with_capacity(rounds),
            not_started: 0,
            silent_buffers: 0,
            silent_runs: 0,
            last_silent: false,
        },
        done: done.clone(),
        priority: None,
        previous_start: None,
        late_gap: period.mul_f64(1.0 + WAIT_SHARE),
        late_beyond_deadline: 0,
        longest_gap: Duration::ZERO,
    };
    let server = JackServer::start(
        &unique_name(&format!("bench-sandbox{frames}")),
        frames as u32,
    );
    let client = crate::jack::open_client(&server.name, "bench-sandbox");
    let xruns = Arc::new(AtomicU32::new(0));
    let steal_before = steal_ms();
    let active = client
        .activate_async(XrunCount(xruns.clone()), callback)
        .expect("activate the bench's JACK client");
    // The main thread pumps as the session would.
    let limit = Instant::now() + Duration::from_secs_f64(seconds * 3.0 + 30.0);
    while !done.load(Ordering::Acquire) {
        assert!(
            Instant::now() < limit,
            "JACK stopped calling the bench back"
        );
        for b in &mut boxed {
            b.on_main_thread();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, _, callback) = active.deactivate().expect("deactivate the bench's client");
    let steal = steal_ms()
        .zip(steal_before)
        .map(|(a, b)| a.saturating_sub(b));
    drop(server);
    let missed: u64 = boxed.iter().map(|b| b.missed_blocks()).sum();
    // One child hosts the whole rack: its polling is counted once.
    let polled = boxed[0].poll_time().as_secs_f64();
    let polled_requests = boxed[0].polled_requests();
    let SandboxCallback {
        rounds: run,
        priority,
        late_beyond_deadline,
        longest_gap,
        ..
    } = callback;
    for (b, sp) in boxed.iter_mut().zip(run.sandboxed) {
        b.deactivate(sp);
    }
    for (l, lp) in local.iter_mut().zip(run.local) {
        l.deactivate(lp);
    }
    synth.deactivate(run.work);
    let times = run.times;
    let plain = times.iter().filter(|t| !t.0.is_nan());
    let mut added: Vec<f64> = plain.clone().map(|t| t.0 - t.1).collect();
    let mut sandboxed: Vec<f64> = plain.map(|t| t.0).collect();
    let started = times.iter().filter(|t| !t.2.is_nan());
    let mut early: Vec<f64> = started.clone().map(|t| t.2).collect();
    let mut work: Vec<f64> = started.map(|t| t.3).collect();
    let max = added.iter().copied().fold(0.0, f64::max);
    let early_max = early.iter().copied().fold(0.0, f64::max);
    json!({
        "frames": frames,
        "plugins": plugins,
        "buffers": times.len(),
        "realtime_thread": priority.is_some(),
        "added_median_us": median(&mut added) / 1e3,
        "added_p99_us": percentile(&mut added, 0.99) / 1e3,
        "added_max_us": max / 1e3,
        "sandboxed_median_us": median(&mut sandboxed) / 1e3,
        "early_added_median_us": median(&mut early) / 1e3,
        "early_added_p99_us": percentile(&mut early, 0.99) / 1e3,
        "early_added_max_us": early_max / 1e3,
        "other_rack_work_median_us": median(&mut work) / 1e3,
        "early_not_started": run.not_started,
        // Blocks a plugin's child answered late, every plugin's counted.
        "deadline_misses": missed,
        // Buffers the rack gave silence for (one or more of its plugins
        // late).
        "rack_missed_buffers": run.silent_buffers,
        // Runs of consecutive missed buffers: the stalls, to set beside
        // JACK's own late callbacks.
        "rack_missed_runs": run.silent_runs,
        // The control: callbacks JACK itself began more than the
        // sandbox's deadline (half a period) later than a period after the
        // previous one. A rack in process would have lost that time too.
        "driver_late_beyond_deadline": late_beyond_deadline,
        "driver_longest_gap_us": longest_gap.as_secs_f64() * 1e6,
        "xruns": xruns.load(Ordering::Relaxed),
        // The share of one core the child spent polling for its next
        // buffer (what anticipating the engine costs).
        "child_poll_core_share": polled / (times.len() as f64 * period.as_secs_f64()),
        // The share of the plugins' requests the child was polling for
        // (taken up without a wake-up).
        "child_polled_share": polled_requests as f64 / (times.len() * plugins) as f64,
        // Time the hypervisor ran something else on this VM's cores during
        // the run (a deadline missed by whole milliseconds is usually this).
        "vm_steal_ms": steal,
    })
}

/// The machine's steal time so far (all cores), in milliseconds, from
/// `/proc/stat`; `None` where there is none to read.
fn steal_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: u64 = stat
        .lines()
        .next()?
        .split_whitespace()
        .nth(8)?
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1000 / hz)
}

/// A preset of `racks` heavy racks: the built-in synth at 32 voices into
/// Debian's ZamComp (CLAP) each.
pub fn heavy_racks(racks: usize) -> String {
    let mut text = format!("version = 1\nname = \"heavy{racks}\"\n");
    for r in 0..racks {
        text += &format!(
            "\n[[rack]]\nname = \"heavy {r}\"\ngain_db = -18.0\n\
             [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\nparams = {{ polyphony = 32 }}\n\
             [[rack.plugin]]\nformat = \"clap\"\nid = \"com.zamaudio.ZamComp\"\n\
             path = \"/usr/lib/clap/ZamComp.clap\"\n"
        );
    }
    text
}

/// The 32 keys every heavy rack holds.
fn held_keys() -> impl Iterator<Item = u8> {
    (0..32u8).map(|k| 36 + k * 2)
}

/// Median and p99 of a load histogram (1 % steps), in percent.
fn histogram_percentiles(h: &[u64]) -> (f64, f64) {
    let total: u64 = h.iter().sum();
    let at = |p: f64| {
        let want = (total as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (i, n) in h.iter().enumerate() {
            seen += n;
            if seen >= want.max(1) {
                return i as f64;
            }
        }
        (h.len() - 1) as f64
    };
    (at(0.5), at(0.99))
}

/// Offline: per-buffer DSP load at 64 frames over `seconds` with every
/// rack holding [`held_keys`], at `threads`; and the whole render's time.
fn threads_offline(preset_text: &str, threads: usize, seconds: f64) -> serde_json::Value {
    let preset = parse_preset(preset_text, Path::new("heavy.toml")).unwrap();
    let (mut session, mut engine) = Session::new(&preset, config(64), true).unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    engine.use_threads(threads).unwrap();
    let events: Vec<SampleEvent> = held_keys()
        .map(|k| midi_at(u64::from(k), [0x90, k, 100]))
        .collect();
    let frames = (seconds * RATE) as u64;
    let (mut l, mut r) = (vec![0.0f32; 64], vec![0.0f32; 64]);
    let mut evs = Vec::with_capacity(64);
    let mut next = 0;
    let mut loads = Vec::with_capacity(frames as usize / 64);
    let period_ns = 64.0 / RATE * 1e9;
    let started = Instant::now();
    let mut pos = 0u64;
    while pos < frames {
        if pos % 4096 == 0 {
            session.pump();
        }
        next = block_events(&events, next, pos, &mut evs);
        let t = Instant::now();
        engine.process(&evs, None, &mut l, &mut r);
        loads.push(t.elapsed().as_nanos() as f64 / period_ns * 100.0);
        pos += 64;
    }
    let render_s = started.elapsed().as_secs_f64();
    session.shutdown(engine);
    json!({
        "threads": threads,
        "median_pct": percentile(&mut loads, 0.5),
        "p99_pct": percentile(&mut loads, 0.99),
        "render_s": render_s,
    })
}

/// Live: the release `stagerack --preset PRESET --threads N` on a private
/// JACK dummy server at 64 frames, every rack holding [`held_keys`] (sent
/// from a JACK MIDI client); DSP load median and p99 over `seconds` from
/// the engine's load histogram (two control-socket status readings).
fn threads_live(preset_path: &Path, threads: usize, seconds: f64) -> serde_json::Value {
    use crate::control::ControlSocket;
    let server = JackServer::start(&unique_name(&format!("bench-threads{threads}")), 64);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("control.sock");
    let n = threads.to_string();
    let mut sr = Stagerack::spawn(
        &server.name,
        &[
            "--preset",
            &preset_path.to_string_lossy(),
            "--threads",
            &n,
            "--control",
            &sock.to_string_lossy(),
        ],
    );
    let mut control = ControlSocket::connect(&sock, &mut sr);
    let watch = crate::jack::open_client(&server.name, "bench-threads-watch");
    assert!(crate::jack::wait_for_port(
        &watch,
        "stagerack:midi_in",
        Duration::from_secs(30)
    ));
    let keys = crate::jack::MidiSender::connect(&server.name, "bench-keys", "stagerack:midi_in");
    for k in held_keys() {
        keys.send(&[0x90, k, 100]);
    }
    std::thread::sleep(Duration::from_secs(3));
    let read = |c: &mut ControlSocket| {
        let s = c.request("status", "", "status")["status"].clone();
        let h: Vec<u64> = s["load_histogram"]
            .as_array()
            .expect("a load histogram")
            .iter()
            .map(|v| v.as_u64().unwrap_or(0))
            .collect();
        (
            h,
            s["xruns"].as_u64().unwrap_or(0),
            s["overloads"].as_u64().unwrap_or(0),
        )
    };
    let (h0, x0, o0) = read(&mut control);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let (h1, x1, o1) = read(&mut control);
    sr.assert_running();
    let stderr = sr.stderr();
    let _ = sr.stop();
    assert!(
        stderr.contains(&format!("racks run on {threads} threads")),
        "{stderr}"
    );
    let diff: Vec<u64> = h1.iter().zip(&h0).map(|(a, b)| a - b).collect();
    let (median, p99) = histogram_percentiles(&diff);
    json!({
        "threads": threads,
        "buffers": diff.iter().sum::<u64>(),
        "median_pct": median,
        "p99_pct": p99,
        "xruns": x1 - x0,
        "overloads": o1 - o0,
    })
}

/// Racks on every core (#15): 8 heavy racks (the built-in synth at 32
/// held voices into ZamComp each) at 64 frames with 1 and 2 threads,
/// offline (per-buffer load, render time) and live on JACK (load median
/// and p99); and one heavy rack offline at 1 and 2 threads (a preset that
/// cannot be split must not get slower).
pub fn threads(seconds: f64) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let eight = dir.path().join("heavy8.toml");
    std::fs::write(&eight, heavy_racks(8)).unwrap();
    let offline: Vec<_> = [1, 2]
        .iter()
        .map(|&n| threads_offline(&heavy_racks(8), n, seconds))
        .collect();
    let one: Vec<_> = [1, 2]
        .iter()
        .map(|&n| threads_offline(&heavy_racks(1), n, seconds))
        .collect();
    let live: Vec<_> = [1, 2]
        .iter()
        .map(|&n| threads_live(&eight, n, seconds))
        .collect();
    json!({ "seconds": seconds, "offline": offline, "one_rack": one, "live": live })
}

/// Crash to sound again: a sandboxed plugin plays 64-frame blocks from a
/// paced real-time thread while the main thread pumps it as the session
/// does; then it goes wrong, and the time from its first silent block to
/// the first that sounds again is taken. Our `Stagerack Crash On Note`
/// (SIGSEGV on key 1, SIGABRT on key 2, inside `process`) and the built-in
/// gain whose child is killed from outside (SIGKILL), `rounds` times each,
/// each in a fresh child (three crashes within a minute turn a rack off).
#[cfg(target_os = "linux")]
pub fn crash(rounds: usize) -> serde_json::Value {
    use stagerack::plugin::sandbox::{set_child_program, SandboxProcess, SandboxedInstance};
    use stagerack::plugin::PluginInstance;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    set_child_program(crate::stagerack_bin());
    let frames = 64usize;
    let pc = live_config(frames);
    let crashy = plugin(
        PluginFormat::Clap,
        "org.stagerack.test.crash-on-note",
        &crate::clap_unsafe_bundle("stagerack-crash-on-note"),
    );
    let once = |def: &PluginDef, key: Option<u8>| -> f64 {
        let sandbox = SandboxProcess::launch("crash bench").expect("launch a sandbox");
        let mut instance = SandboxedInstance::load(def, &sandbox).expect("load sandboxed");
        let processor = instance.activate(&pc).expect("activate");
        let go_wrong = Arc::new(AtomicBool::new(false));
        let thread_go_wrong = go_wrong.clone();
        let period = Duration::from_secs_f64(frames as f64 / RATE);
        let handle = std::thread::spawn(move || {
            let mut p = processor;
            let _ = stagerack::io::realtime::promote_current_thread_to(5);
            let transport = rolling();
            let input = noise(frames);
            let (mut l, mut r) = (vec![0.0f32; frames], vec![0.0f32; frames]);
            let mut out_events = EventBuffer::with_capacity(64);
            let trigger: Vec<stagerack::midi::TimedEvent> = key
                .map(|key| {
                    stagerack::midi::TimedEvent::new(
                        0,
                        Event::NoteOn {
                            channel: 0,
                            key,
                            velocity: 1.0,
                            note_id: -1,
                        },
                    )
                })
                .into_iter()
                .collect();
            let mut next = Instant::now();
            let mut silent_from = None;
            // At most 5 s of blocks.
            for block in 0..(5.0 / period.as_secs_f64()) as usize {
                let wrong_now = block == 400;
                if wrong_now {
                    thread_go_wrong.store(true, Ordering::Release);
                }
                l.copy_from_slice(&input);
                r.copy_from_slice(&input);
                out_events.clear();
                p.process(&mut Block {
                    frames,
                    left: &mut l,
                    right: &mut r,
                    events: if wrong_now { &trigger } else { &[] },
                    out_events: &mut out_events,
                    transport: &transport,
                });
                let sounds = l.iter().any(|x| *x != 0.0);
                match silent_from {
                    None if block >= 400 && !sounds => silent_from = Some(block),
                    Some(from) if sounds => {
                        return (p, Some((block - from) as f64 * period.as_secs_f64() * 1e3));
                    }
                    _ => {}
                }
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            (p, None)
        });
        let mut killed = false;
        while !handle.is_finished() {
            if key.is_none() && !killed && go_wrong.load(Ordering::Acquire) {
                for child in crate::sandbox_children(std::process::id()) {
                    crate::jack::send_signal(child, "KILL");
                }
                killed = true;
            }
            instance.on_main_thread();
            std::thread::sleep(Duration::from_millis(2));
        }
        let (p, took) = handle.join().expect("bench thread");
        instance.deactivate(p);
        took.expect("the plugin did not sound again within 5 s")
    };
    let mut segfault = Vec::new();
    let mut abort = Vec::new();
    let mut killed = Vec::new();
    for _ in 0..rounds {
        segfault.push(once(&crashy, Some(1)));
        abort.push(once(&crashy, Some(2)));
        killed.push(once(&PluginDef::builtin("gain"), None));
    }
    let mut all: Vec<f64> = segfault
        .iter()
        .chain(&abort)
        .chain(&killed)
        .copied()
        .collect();
    let max = all.iter().copied().fold(0.0, f64::max);
    json!({
        "rounds": rounds,
        "segfault_ms": segfault,
        "abort_ms": abort,
        "killed_builtin_ms": killed,
        "median_ms": median(&mut all),
        "max_ms": max,
    })
}
