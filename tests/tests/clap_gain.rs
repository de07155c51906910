//! The CLAP host against the project's gain plugin
//! (`stagerack-gain.clap`): parameters in dB, smoothing, and a latency the
//! plugin reports through the latency extension (and asks a restart for
//! when it changes while active).

mod clap_support;

use clap_support::*;
use stagerack::engine::alloc_guard::no_alloc;
use stagerack::midi::{Event, EventBuffer, TimedEvent};
use stagerack::plugin::clap::{load, ClapInstance, ClapState};
use stagerack::plugin::{AudioProcessor, Block, PluginInstance, ProcessConfig, Transport};

const GAIN: &str = "org.stagerack.test.gain";
const P_GAIN: u32 = 0;
const P_LATENCY: u32 = 1;

fn gain_instance() -> ClapInstance {
    load(GAIN, Some(&bundle("stagerack-gain"))).expect("gain loads")
}

fn config(max_block: u32) -> ProcessConfig {
    ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block,
        offline: true,
        aux_outputs: 0,
    }
}

/// Runs one block of `input` through `proc`; returns (left, right).
fn run(
    proc: &mut Box<dyn AudioProcessor>,
    input: &[f32],
    events: &[TimedEvent],
    at: u64,
) -> (Vec<f32>, Vec<f32>) {
    let mut l = input.to_vec();
    let mut r = input.to_vec();
    let mut out = EventBuffer::with_capacity(16);
    let t = Transport {
        tempo: 120.0,
        playing: true,
        steady_frames: at,
        sample_rate: RATE,
        wait_until: None,
    };
    let frames = input.len();
    no_alloc(|| {
        proc.process(&mut Block {
            frames,
            left: &mut l,
            right: &mut r,
            events,
            out_events: &mut out,
            transport: &t,
        })
    });
    (l, r)
}

#[test]
fn reported_latency_matches_the_delay_of_the_output() {
    let mut inst = gain_instance();
    assert_eq!(inst.params().len(), 2);
    inst.set_param(P_LATENCY, 480.0).unwrap();
    let mut proc = inst.activate(&config(1024)).unwrap();
    assert_eq!(inst.latency(), 480);
    assert!(
        !inst.needs_restart(),
        "a change during activate needs no restart"
    );
    let mut impulse = vec![0.0f32; 1024];
    impulse[0] = 1.0;
    let (l, r) = run(&mut proc, &impulse, &[], 0);
    let at = l
        .iter()
        .position(|x| x.abs() > 0.5)
        .expect("the impulse comes out");
    assert_eq!(at, 480);
    assert_eq!(r[480], l[480]);
    no_alloc(|| proc.stop());
    inst.deactivate(proc);
}

#[test]
fn a_latency_change_while_active_asks_for_a_restart() {
    let mut inst = gain_instance();
    let mut proc = inst.activate(&config(256)).unwrap();
    assert_eq!(inst.latency(), 0);
    let change = [TimedEvent::new(
        0,
        Event::ParamValue {
            param: P_LATENCY,
            value: 240.0,
        },
    )];
    let _ = run(&mut proc, &[0.0; 256], &change, 0);
    assert!(inst.needs_restart());
    assert_eq!(inst.state(), ClapState::ActiveProcessing);
    no_alloc(|| proc.stop());
    inst.deactivate(proc);
    // The host restarts it off the audio thread: the new latency holds.
    let proc = inst.activate(&config(256)).unwrap();
    assert_eq!(inst.latency(), 240);
    assert!(!inst.needs_restart());
    inst.deactivate(proc);
}

#[test]
fn gain_in_db_through_a_session_render() {
    let p = preset(&format!(
        "version = 1\nname = \"g\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"{GAIN}\"\npath = \"{}\"\nparams = {{ gain = -6.0 }}\n",
        bundle("stagerack-gain").display()
    ));
    let frames = 4800;
    let input = vec![0.5f32; frames];
    for block in [1usize, 64, 512] {
        let (mut s, mut e) = session(&p, block);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        let v = s.racks()[0].slots[0].instance.param_value(P_GAIN).unwrap();
        assert!((v + 6.0).abs() < 1e-9, "{v}");
        let text = s.racks()[0].slots[0]
            .instance
            .param_text(P_GAIN, v)
            .unwrap();
        assert!(text.contains('6'), "{text}");
        let out = render(
            &mut s,
            &mut e,
            &[],
            Some([&input, &input]),
            block,
            frames as u64,
        );
        s.shutdown(e);
        let want = 0.5 * 10f32.powf(-6.0 / 20.0);
        for x in &out.left[1000..] {
            assert!((x - want).abs() < 1e-5, "block {block}: {x} vs {want}");
        }
    }
}

#[test]
fn the_session_restarts_a_plugin_that_asks_and_the_new_latency_holds() {
    use stagerack::engine::ParamChange;
    use stagerack::io::offline::{render_offline, OfflineJob};

    let p = preset(&format!(
        "version = 1\nname = \"g\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"{GAIN}\"\npath = \"{}\"\n",
        bundle("stagerack-gain").display()
    ));
    let block = 64;
    let (mut s, mut e) = session(&p, block);
    let id = s.racks()[0].slots[0].id;
    assert_eq!(s.racks()[0].slots[0].instance.latency(), 0);
    // An impulse every 4096 frames.
    let mut input = vec![0.0f32; 4 * 4096];
    for i in 0..4 {
        input[i * 4096] = 1.0;
    }
    let job = OfflineJob {
        events: &[],
        input: Some([&input, &input]),
        block,
        min_frames: input.len() as u64,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = render_offline(&mut e, &job, |frame| {
        let panics = s.pump();
        assert!(panics.is_empty(), "{panics:?}");
        if frame == 1024 {
            s.handle()
                .send_param(ParamChange {
                    processor: id,
                    param: P_LATENCY,
                    value: 100.0,
                })
                .unwrap();
        }
    });
    assert_eq!(s.racks()[0].slots[0].instance.latency(), 100, "restarted");
    assert!(!s.racks()[0].slots[0].instance.needs_restart());
    s.shutdown(e);
    // Before the change the impulse passes at once; after the restart it
    // comes out 100 frames late.
    assert!((out.left[0] - 1.0).abs() < 1e-6);
    for i in 2..4 {
        let at = i * 4096;
        assert!(out.left[at].abs() < 1e-6, "impulse {i} not delayed");
        assert!(
            (out.left[at + 100] - 1.0).abs() < 1e-6,
            "impulse {i} at +100"
        );
    }
}

#[test]
fn live_edits_add_tweak_and_remove_a_clap_plugin_while_playing() {
    use stagerack::io::offline::{render_offline, OfflineJob};
    use stagerack::plugin::PluginFormat;
    use stagerack::preset::PluginDef;

    let p = preset(
        "version = 1\nname = \"live\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"gain\"\n",
    );
    let block = 64;
    let (mut s, mut e) = session(&p, block);
    let mut def = PluginDef::builtin("gain");
    def.format = PluginFormat::Clap;
    def.id = GAIN.to_owned();
    def.path = Some(bundle("stagerack-gain"));
    let input = vec![0.5f32; 48_000];
    let job = OfflineJob {
        events: &[],
        input: Some([&input, &input]),
        block,
        min_frames: input.len() as u64,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = render_offline(&mut e, &job, |frame| {
        let panics = s.pump();
        assert!(panics.is_empty(), "{panics:?}");
        match frame {
            // Add the CLAP gain after the built-in, then turn it down, then
            // take it out again.
            6400 => s.add_plugin(0, None, &def).unwrap(),
            12800 => s.set_param(0, 1, P_GAIN, -20.0).unwrap(),
            32000 => s.remove_plugin(0, 1).unwrap(),
            _ => {}
        }
    });
    s.shutdown(e);
    let at = |f: usize| out.left[f];
    assert!((at(6000) - 0.5).abs() < 1e-6, "before: {}", at(6000));
    assert!(
        (at(10_000) - 0.5).abs() < 1e-6,
        "added at 0 dB: {}",
        at(10_000)
    );
    assert!(
        (at(20_000) - 0.05).abs() < 1e-5,
        "at -20 dB: {}",
        at(20_000)
    );
    assert!((at(40_000) - 0.5).abs() < 1e-6, "removed: {}", at(40_000));
}
