//! Multi-output instruments (#17): a plugin's extra outputs are sources a
//! rack routes to outputs of the stage (`outputs = { Kick = "IEM" }` on
//! its `[[rack.plugin]]` entry). `Stagerack Two Out` (CLAP, a second
//! stereo port) and `Stagerack VST3 Two Out` (an aux output bus) play an
//! impulse on their main output for most keys and a 4800-frame decaying
//! kick on the second for key 36: routed, each output of the render holds
//! exactly its own sound, after the rack's fader, sample for sample, in
//! process and sandboxed; unrouted, the VST3 plugin keeps its kick on its
//! main bus (its aux bus stays inactive).

mod clap_support;
mod vst3_common;

use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack_plugins_test::clap::two_out::{kick_sample, KICK_FRAMES, KICK_KEY};

const KEY_AT: u64 = 10;
const KICK_AT: u64 = 100;
const KICK_VELOCITY: f32 = 0.8;
const FRAMES: u64 = 6000;

fn note(frame: u64, key: u8, velocity: f32) -> SampleEvent {
    SampleEvent {
        frame,
        event: Event::NoteOn {
            channel: 0,
            key,
            velocity,
            note_id: -1,
        },
    }
}

fn notes() -> Vec<SampleEvent> {
    vec![
        note(KEY_AT, 60, 1.0),
        note(KICK_AT, KICK_KEY, KICK_VELOCITY),
    ]
}

/// A FOH/IEM stage with one `drums` rack at `gain_db` holding `plugin`
/// (its entry's lines), and `rack_extra` lines in the rack.
fn stage(plugin: &str, gain_db: f64, rack_extra: &str) -> String {
    format!(
        "version = 1\nname = \"drums\"\n\
         [[output]]\nname = \"FOH\"\nchannels = [1, 2]\n\
         [[output]]\nname = \"IEM\"\nchannels = [3, 4]\n\
         [[rack]]\nname = \"drums\"\ngain_db = {gain_db:?}\n{rack_extra}\
         [[rack.plugin]]\n{plugin}"
    )
}

fn clap_two_out(outputs: &str) -> String {
    format!(
        "format = \"clap\"\nid = \"org.stagerack.test.two-out\"\npath = \"{}\"\n{outputs}",
        clap_support::bundle("stagerack-two-out").display()
    )
}

fn vst3_two_out(outputs: &str) -> String {
    let bundle = vst3_common::own_bundle("Stagerack VST3 Bad");
    let class = stagerack::plugin::vst3::list_vst3_classes(&bundle)
        .expect("list the VST3 test classes")
        .into_iter()
        .find(|c| c.name == "Stagerack VST3 Two Out")
        .expect("the bundle offers Stagerack VST3 Two Out");
    format!(
        "format = \"vst3\"\nid = \"{}\"\npath = \"{}\"\n{outputs}",
        class.id,
        bundle.display()
    )
}

fn render(text: &str, block: usize) -> (Vec<Vec<f32>>, Vec<String>) {
    let preset = clap_support::preset(text);
    let (mut s, mut e) = clap_support::session(&preset, block);
    let warnings = s.warnings().to_vec();
    let out = clap_support::render(&mut s, &mut e, &notes(), None, block, FRAMES);
    if text.contains("sandbox = ") {
        stagerack_tests::assert_sandboxes_running();
    }
    let channels = (0..out.channels())
        .map(|c| out.channel(c).expect("a rendered channel").to_vec())
        .collect();
    s.shutdown(e);
    (channels, warnings)
}

/// What a pair of channels should hold: the key's impulse (left v, right
/// v/2) and/or the kick, at `gain`.
fn expected(impulse: bool, kick: bool, gain: f32) -> [Vec<f32>; 2] {
    let mut l = vec![0.0f32; FRAMES as usize];
    let mut r = vec![0.0f32; FRAMES as usize];
    if impulse {
        l[KEY_AT as usize] += gain;
        r[KEY_AT as usize] += gain * 0.5;
    }
    if kick {
        for k in 0..KICK_FRAMES {
            let x = kick_sample(KICK_VELOCITY, k);
            l[(KICK_AT + u64::from(k)) as usize] += gain * x;
            r[(KICK_AT + u64::from(k)) as usize] += gain * x * 0.5;
        }
    }
    [l, r]
}

fn assert_pair(got: &[Vec<f32>], first: usize, want: &[Vec<f32>; 2], what: &str) {
    for (side, (g, w)) in got[first..first + 2].iter().zip(want).enumerate() {
        let worst = g
            .iter()
            .zip(w)
            .enumerate()
            .map(|(i, (a, b))| (i, (a - b).abs()))
            .fold((0, 0.0f32), |m, x| if x.1 > m.1 { x } else { m });
        assert!(
            worst.1 < 1e-6,
            "{what}, channel {}: frame {} is {} (want {})",
            first + side + 1,
            worst.0,
            g[worst.0],
            w[worst.0]
        );
    }
}

/// Routed: FOH holds the key's impulse only, IEM the kick only, both at
/// the rack's gain; the kick rings its whole length while the plugin's
/// main output is silent (it answers CONTINUE_IF_NOT_QUIET: a host judging
/// quiet by the main output alone would put it to sleep and cut it).
fn routed_kick_plays_on_its_own_output(plugin: &str, what: &str) -> Vec<Vec<f32>> {
    let gain = 10f64.powf(-6.0 / 20.0) as f32;
    let mut first = None;
    for block in [64, 37] {
        let (out, warnings) = render(&stage(plugin, -6.0, ""), block);
        assert!(warnings.is_empty(), "{what}: {warnings:?}");
        assert_eq!(out.len(), 4, "{what}: FOH and IEM");
        assert_pair(
            &out,
            0,
            &expected(true, false, gain),
            &format!("{what} FOH"),
        );
        assert_pair(
            &out,
            2,
            &expected(false, true, gain),
            &format!("{what} IEM"),
        );
        match &first {
            None => first = Some(out),
            Some(f) => assert!(*f == out, "{what}: blocks of 64 and 37 differ"),
        }
    }
    first.expect("rendered")
}

#[test]
fn clap_extra_port_routed_to_its_output() {
    let routed = routed_kick_plays_on_its_own_output(
        &clap_two_out("outputs = { Kick = \"IEM\" }\n"),
        "CLAP",
    );
    // Sandboxed, the same render bit for bit.
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let (sandboxed, warnings) = render(
        &stage(
            &clap_two_out("outputs = { Kick = \"IEM\" }\n"),
            -6.0,
            "sandbox = \"plugin\"\n",
        ),
        64,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(
        sandboxed == routed,
        "sandboxed render differs from in-process"
    );
    // Unrouted, the kick port is not heard anywhere.
    let (out, _) = render(&stage(&clap_two_out(""), 0.0, ""), 64);
    assert_pair(&out, 0, &expected(true, false, 1.0), "unrouted FOH");
    assert_pair(&out, 2, &expected(false, false, 1.0), "unrouted IEM");
}

#[test]
fn vst3_aux_bus_routed_to_its_output_and_inactive_otherwise() {
    let _main = vst3_common::main_thread_lock();
    let routed = routed_kick_plays_on_its_own_output(
        &vst3_two_out("outputs = { Kick = \"IEM\" }\n"),
        "VST3",
    );
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let (sandboxed, warnings) = render(
        &stage(
            &vst3_two_out("outputs = { Kick = \"IEM\" }\n"),
            -6.0,
            "sandbox = \"rack\"\n",
        ),
        64,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(
        sandboxed == routed,
        "sandboxed render differs from in-process"
    );
    // Unrouted: its aux bus stays inactive and it plays the kick on its
    // main bus, as a drum plugin does in a DAW with no aux enabled.
    let (out, _) = render(&stage(&vst3_two_out(""), 0.0, ""), 64);
    assert_pair(&out, 0, &expected(true, true, 1.0), "unrouted FOH");
    assert_pair(&out, 2, &expected(false, false, 1.0), "unrouted IEM");
}

#[test]
fn a_muted_rack_silences_its_extra_outputs_too() {
    let (out, _) = render(
        &stage(
            &clap_two_out("outputs = { Kick = \"IEM\" }\n"),
            0.0,
            "mute = true\n",
        ),
        64,
    );
    for (c, channel) in out.iter().enumerate() {
        assert!(
            channel.iter().all(|x| *x == 0.0),
            "channel {} sounds",
            c + 1
        );
    }
}

#[test]
fn unknown_outputs_and_ports_are_named() {
    // An output the stage does not have: the preset is refused.
    let text = stage(
        &clap_two_out("outputs = { Kick = \"monitors\" }\n"),
        0.0,
        "",
    );
    let err = stagerack::preset::parse_preset(&text, std::path::Path::new("drums.toml"))
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("outputs names output `monitors`") && err.contains("FOH, IEM"),
        "{err}"
    );
    // A port the plugin does not have: a warning naming its ports; the
    // rest plays.
    let (out, warnings) = render(
        &stage(&clap_two_out("outputs = { Snare = \"IEM\" }\n"), 0.0, ""),
        64,
    );
    assert!(
        warnings.iter().any(|w| w.contains("rack `drums`")
            && w.contains("no extra output `Snare`")
            && w.contains("its extra outputs: Kick")),
        "{warnings:?}"
    );
    assert_pair(&out, 0, &expected(true, false, 1.0), "FOH");
    // A master plugin with `outputs` is refused.
    let text = format!(
        "{}\n[master]\n[[master.plugin]]\n{}",
        stage(&clap_two_out(""), 0.0, ""),
        clap_two_out("outputs = { Kick = \"IEM\" }\n")
    );
    let err = stagerack::preset::parse_preset(&text, std::path::Path::new("drums.toml"))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("only plugins in racks have"), "{err}");
}

#[test]
fn extra_outputs_are_delayed_with_their_rack_for_latency_alignment() {
    let _main = vst3_common::main_thread_lock();
    // A second rack whose VST3 gain reports 100 frames of latency: with
    // align_latency the drums rack is delayed by 100 frames, its kick on
    // IEM as much as its main output on FOH.
    let gain = vst3_common::class_of(&vst3_common::own_bundle("Stagerack VST3 Gain"));
    let text = format!(
        "{}\n[[rack]]\nname = \"slow\"\nchannels = [16]\n\
         [[rack.plugin]]\nformat = \"vst3\"\nid = \"{}\"\npath = \"{}\"\n\
         params = {{ latency = 100.0 }}\n\
         [master]\nalign_latency = true\n",
        stage(&clap_two_out("outputs = { Kick = \"IEM\" }\n"), 0.0, ""),
        gain.id,
        vst3_common::own_bundle("Stagerack VST3 Gain").display()
    );
    let (out, warnings) = render(&text, 64);
    assert!(warnings.is_empty(), "{warnings:?}");
    let delayed = |[l, r]: [Vec<f32>; 2]| -> [Vec<f32>; 2] {
        let shift = |x: Vec<f32>| {
            let mut y = vec![0.0; 100];
            y.extend_from_slice(&x[..x.len() - 100]);
            y
        };
        [shift(l), shift(r)]
    };
    assert_pair(&out, 0, &delayed(expected(true, false, 1.0)), "aligned FOH");
    assert_pair(&out, 2, &delayed(expected(false, true, 1.0)), "aligned IEM");
}
