//! The CLAP host against third-party plugins: Debian's zam-plugins
//! (DPF-built CLAP effects with parameters and state) in /usr/lib/clap.
//! Everything runs under the allocation guard (debug build).

mod clap_support;

use std::path::Path;

use clap_support::*;
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{PluginFormat, PluginKind};
use stagerack::preset::PluginDef;

const ZAM: &str = "/usr/lib/clap";

fn zam_def(name: &str) -> PluginDef {
    let path = Path::new(ZAM).join(format!("{name}.clap"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's zam-plugins (apt-get install zam-plugins)",
        path.display()
    );
    let mut def = PluginDef::builtin("gain");
    def.format = PluginFormat::Clap;
    def.id = format!("com.zamaudio.{name}");
    def.path = Some(path);
    def
}

#[test]
fn zam_plugins_load_and_list_parameters() {
    for name in ["ZamComp", "ZamEQ2", "ZamDelay"] {
        let inst = load_plugin(&zam_def(name)).expect("zam plugin loads");
        let d = inst.descriptor();
        assert_eq!(d.format, PluginFormat::Clap);
        assert_eq!(d.id, format!("com.zamaudio.{name}"));
        assert_eq!(d.name, name);
        assert_eq!(d.kind, PluginKind::Effect);
        let params = inst.params();
        assert!(params.len() >= 3, "{name} has {} params", params.len());
        for p in &params {
            assert!(p.min <= p.default && p.default <= p.max, "{name}: {p:?}");
            let v = inst.param_value(p.id).expect("get_value answers");
            assert!(
                v >= p.min - 1e-9 && v <= p.max + 1e-9,
                "{name}: {} = {v}",
                p.name
            );
            let text = inst.param_text(p.id, v).expect("value_to_text answers");
            assert!(!text.is_empty());
        }
    }
}

#[test]
fn zam_state_round_trips_with_changed_parameters() {
    let def = zam_def("ZamComp");
    let mut a = load_plugin(&def).unwrap();
    let params = a.params();
    let p = params
        .iter()
        .find(|p| !p.stepped && p.max > p.min)
        .expect("a continuous parameter");
    let target = p.min + 0.3 * (p.max - p.min);
    a.set_param(p.id, target).unwrap();
    let got = a.param_value(p.id).unwrap();
    assert!(
        (got - target).abs() < 1e-3 * (p.max - p.min),
        "set {target}, got {got}"
    );
    let state = a.save_state().unwrap();
    assert!(!state.is_empty());

    let mut b = load_plugin(&def).unwrap();
    assert!((b.param_value(p.id).unwrap() - p.default).abs() < 1e-6);
    b.load_state(&state).unwrap();
    let restored = b.param_value(p.id).unwrap();
    assert!(
        (restored - got).abs() < 1e-6,
        "restored {restored}, saved {got}"
    );
    assert_eq!(b.save_state().unwrap(), state);
}

#[test]
fn zam_effects_process_audio_in_a_render() {
    let frames = 48_000;
    let input = sine(frames);
    for name in ["ZamComp", "ZamEQ2", "ZamDelay"] {
        let text = format!(
            "version = 1\nname = \"zam\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.zamaudio.{name}\"\npath = \"{ZAM}/{name}.clap\"\n"
        );
        let p = preset(&text);
        for block in [64usize, 512] {
            let (mut s, mut e) = session(&p, block);
            assert!(s.warnings().is_empty(), "{name}: {:?}", s.warnings());
            let out = render(
                &mut s,
                &mut e,
                &[],
                Some([&input, &input]),
                block,
                frames as u64,
            );
            s.shutdown(e);
            assert_eq!(out.left.len(), frames);
            assert!(out.left.iter().chain(&out.right).all(|x| x.is_finite()));
            let pk = peak(&out.left[frames / 2..]);
            assert!(pk > 0.01, "{name} at block {block}: output peak {pk}");
            assert!(pk < 4.0, "{name} at block {block}: output peak {pk}");
        }
    }
}

#[test]
fn zam_search_path_finds_a_plugin_without_a_path_hint() {
    let mut def = zam_def("ZamEQ2");
    def.path = None;
    let inst = load_plugin(&def).expect("found in /usr/lib/clap");
    assert_eq!(inst.descriptor().name, "ZamEQ2");
}

#[test]
fn zam_preset_saved_from_a_session_reloads_to_identical_output() {
    let frames = 24_000;
    let input = sine(frames);
    // Parameters set by name in the preset; the saved preset carries them
    // in the state blob instead.
    let probe = load_plugin(&zam_def("ZamDelay")).unwrap();
    let params = probe.params();
    drop(probe);
    let p = params
        .iter()
        .find(|p| !p.stepped && p.max > p.min)
        .expect("a continuous parameter");
    let value = p.min + 0.25 * (p.max - p.min);
    let text = format!(
        "version = 1\nname = \"zam\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.zamaudio.ZamDelay\"\npath = \"{ZAM}/ZamDelay.clap\"\nparams = {{ \"{}\" = {value} }}\n",
        p.name
    );
    let first = preset(&text);
    let (mut s, mut e) = session(&first, 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let a = render(
        &mut s,
        &mut e,
        &[],
        Some([&input, &input]),
        64,
        frames as u64,
    );
    let saved = s.to_preset().unwrap();
    s.shutdown(e);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("saved.toml");
    stagerack::preset::save_atomically(&saved, &file).unwrap();
    let reloaded = stagerack::preset::load_preset(&file).unwrap();
    assert!(reloaded.racks[0].plugins[0].params.is_empty());
    assert!(reloaded.racks[0].plugins[0].state.is_some());

    let (mut s2, mut e2) = session(&reloaded, 64);
    assert!(s2.warnings().is_empty(), "{:?}", s2.warnings());
    let got = s2.racks()[0].slots[0].instance.param_value(p.id).unwrap();
    assert!(
        (got - value).abs() < 1e-6 * (p.max - p.min).max(1.0),
        "{got} vs {value}"
    );
    let b = render(
        &mut s2,
        &mut e2,
        &[],
        Some([&input, &input]),
        64,
        frames as u64,
    );
    s2.shutdown(e2);
    assert_eq!(a.left, b.left);
    assert_eq!(a.right, b.right);
    assert!(peak(&a.left) > 0.01);
}

#[test]
fn zam_extensions_and_ports_are_seen() {
    for name in ["ZamComp", "ZamEQ2", "ZamDelay", "ZamCompX2"] {
        let path = Path::new(ZAM).join(format!("{name}.clap"));
        let inst = stagerack::plugin::clap::load(&format!("com.zamaudio.{name}"), Some(&path))
            .expect("loads");
        let ext = inst.extensions();
        eprintln!("{name}: {ext:?}");
        assert!(ext.contains(&"params"), "{name}: {ext:?}");
        assert!(ext.contains(&"audio-ports"), "{name}: {ext:?}");
        assert_eq!(inst.state(), stagerack::plugin::clap::ClapState::Inactive);
    }
}

#[test]
fn zam_lifecycle_states_follow_activate_process_stop_deactivate() {
    use stagerack::engine::alloc_guard::no_alloc;
    use stagerack::midi::EventBuffer;
    use stagerack::plugin::clap::ClapState;
    use stagerack::plugin::{Block, PluginInstance, ProcessConfig, Transport};

    let path = Path::new(ZAM).join("ZamCompX2.clap");
    let mut inst = stagerack::plugin::clap::load("com.zamaudio.ZamCompX2", Some(&path)).unwrap();
    let config = ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block: 256,
        offline: true,
        aux_outputs: 0,
    };
    let mut proc = inst.activate(&config).unwrap();
    assert_eq!(inst.state(), ClapState::ActiveSleeping);
    assert!(
        inst.activate(&config).is_err(),
        "a second activation is refused"
    );
    // Parameters cannot be flushed from the main thread while active.
    let id = inst.params()[0].id;
    assert!(inst.set_param(id, inst.params()[0].default).is_err());

    let mut l = sine(256);
    let mut r = sine(256);
    let mut out = EventBuffer::with_capacity(64);
    let t = Transport {
        tempo: 120.0,
        playing: true,
        steady_frames: 0,
        sample_rate: RATE,
        wait_until: None,
    };
    for frames in [256usize, 1, 7, 100] {
        no_alloc(|| {
            proc.process(&mut Block {
                frames,
                left: &mut l[..frames],
                right: &mut r[..frames],
                events: &[],
                out_events: &mut out,
                transport: &t,
            })
        });
        assert_eq!(inst.state(), ClapState::ActiveProcessing);
    }
    no_alloc(|| proc.stop());
    assert_eq!(inst.state(), ClapState::ActiveSleeping);

    // Another format's processor is refused; the instance stays active.
    let mut gain = stagerack::plugin::builtin::instantiate("gain").unwrap();
    let foreign = gain.activate(&config).unwrap();
    inst.deactivate(foreign);
    assert_eq!(inst.state(), ClapState::ActiveSleeping);

    inst.deactivate(proc);
    assert_eq!(inst.state(), ClapState::Inactive);
    // Inactive again: parameters flush from the main thread.
    inst.set_param(id, inst.params()[0].default).unwrap();
    // And it can be activated again.
    let proc = inst.activate(&config).unwrap();
    inst.deactivate(proc);
    assert_eq!(inst.state(), ClapState::Inactive);
}

/// Frame of the loudest sample of ZamDelay's wet echo of an impulse, with
/// its delay synced to the transport tempo.
fn synced_echo_frame(tempo: f64) -> usize {
    synced_echo_after(tempo, 100, &[])
}

/// Like [`synced_echo_frame`], the impulse at frame `at`, with `events`
/// (e.g. a MIDI clock) on the rack's input.
fn synced_echo_after(
    tempo: f64,
    at: usize,
    events: &[stagerack::midi::file::SampleEvent],
) -> usize {
    let text = format!(
        "version = 1\nname = \"sync\"\ntempo = {tempo}\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.zamaudio.ZamDelay\"\npath = \"{ZAM}/ZamDelay.clap\"\nparams = {{ \"Sync BPM\" = 1.0, \"Dry/Wet\" = 1.0, \"LPF\" = 20000.0, \"Feedback\" = 0.0 }}\n"
    );
    let p = preset(&text);
    let frames = 4 * 48_000;
    let mut input = vec![0.0f32; frames];
    input[at] = 1.0;
    let (mut s, mut e) = session(&p, 256);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = render(
        &mut s,
        &mut e,
        events,
        Some([&input, &input]),
        256,
        frames as u64,
    );
    s.shutdown(e);
    let (peak_at, pk) = out
        .left
        .iter()
        .enumerate()
        .fold(
            (0, 0.0f32),
            |(i, m), (j, x)| if x.abs() > m { (j, x.abs()) } else { (i, m) },
        );
    assert!(pk > 0.05, "an echo at tempo {tempo}: peak {pk}");
    peak_at - at
}

/// MIDI clock ticks (24 per beat) at `bpm` from frame 0 to `until`.
fn clock_ticks(bpm: f64, until: u64) -> Vec<stagerack::midi::file::SampleEvent> {
    let step = 60.0 * 48_000.0 / (bpm * 24.0);
    (0..)
        .map(|i| (f64::from(i) * step) as u64)
        .take_while(|f| *f < until)
        .map(|frame| stagerack::midi::file::SampleEvent {
            frame,
            event: stagerack::midi::Event::Realtime { status: 0xF8 },
        })
        .collect()
}

/// An external MIDI clock overrides the preset's tempo for every plugin's
/// transport while it runs (ZamDelay's synced echo at the clock's 120 BPM
/// on a 60 BPM preset), and the preset's tempo is back half a second after
/// the last tick.
#[test]
fn a_midi_clock_overrides_the_preset_tempo_while_it_runs() {
    let fast = synced_echo_frame(120.0);
    let slow = synced_echo_frame(60.0);
    let clocked = synced_echo_after(60.0, 12_000, &clock_ticks(120.0, 4 * 48_000));
    eprintln!("echo after {clocked} frames with a 120 BPM clock on a 60 BPM preset");
    assert_eq!(clocked, fast, "the clock's tempo, not the preset's");
    // The clock stops after one second; at 2.5 s the preset's tempo rules.
    let stopped = synced_echo_after(120.0, 2 * 48_000 + 24_000, &clock_ticks(60.0, 48_000));
    assert_eq!(
        stopped, fast,
        "the preset's 120 BPM once the 60 BPM clock is gone"
    );
    let clocked_slow = synced_echo_after(120.0, 30_000, &clock_ticks(60.0, 4 * 48_000));
    assert_eq!(clocked_slow, slow);
}

#[test]
fn zam_delay_follows_the_transport_tempo() {
    let fast = synced_echo_frame(120.0);
    let slow = synced_echo_frame(60.0);
    eprintln!("echo after {fast} frames at 120 BPM, {slow} at 60 BPM");
    assert!(fast > 1000, "{fast}");
    let ratio = slow as f64 / fast as f64;
    assert!(
        (ratio - 2.0).abs() < 0.02,
        "echo at {fast} vs {slow} frames"
    );
}

#[test]
fn every_installed_zam_plugin_loads_processes_and_round_trips_its_state() {
    use stagerack::plugin::scan::scan_paths;
    let report = scan_paths(&[Path::new(ZAM).to_owned()]);
    let zams: Vec<_> = report
        .plugins
        .iter()
        .filter(|d| d.id.starts_with("com.zamaudio."))
        .collect();
    assert!(zams.len() >= 10, "{} zam plugins", zams.len());
    let frames = 12_000;
    let input = sine(frames);
    for d in zams {
        let path = d.path.as_ref().unwrap();
        let text = format!(
            "version = 1\nname = \"z\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"{}\"\npath = \"{}\"\n",
            d.id,
            path.display()
        );
        let p = preset(&text);
        let (mut s, mut e) = session(&p, 64);
        assert!(s.warnings().is_empty(), "{}: {:?}", d.id, s.warnings());
        let out = render(
            &mut s,
            &mut e,
            &[],
            Some([&input, &input]),
            64,
            frames as u64,
        );
        assert!(
            out.left.iter().chain(&out.right).all(|x| x.is_finite()),
            "{}: non-finite output",
            d.id
        );
        let state = s.plugin_mut(0, 0).unwrap().save_state().unwrap();
        let saved = s.to_preset().unwrap();
        s.shutdown(e);
        let (mut s2, e2) = session(&saved, 64);
        assert!(s2.warnings().is_empty(), "{}: {:?}", d.id, s2.warnings());
        assert_eq!(
            s2.plugin_mut(0, 0).unwrap().save_state().unwrap(),
            state,
            "{}: state differs after a reload",
            d.id
        );
        s2.shutdown(e2);
    }
}

/// ZamComp's gain-reduction meter is an output (CLAP `IS_READONLY`): it is
/// listed read-only for clients, and setting it is refused by name, where
/// the window used to offer it as a slider.
#[test]
fn zamcomp_meters_are_read_only_outputs() {
    let p = preset(&format!(
        "version = 1\nname = \"zam\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.zamaudio.ZamComp\"\npath = \"{ZAM}/ZamComp.clap\"\n"
    ));
    let (mut session, engine) = session(&p, 64);
    stagerack_tests::assert_first_plugin_has_a_read_only_meter(&mut session);
    session.shutdown(engine);
}
