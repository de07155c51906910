//! Offline, a sandboxed chain renders bit for bit what the same chain
//! renders in the engine: `stagerack render --sandbox rack` and `--sandbox
//! plugin` against `--sandbox none`, for CLAP, VST3 and built-in plugins
//! (events, parameters, audio in and out all cross the shared memory).

mod vst3_common;

use std::process::Command;

/// Renders with `--sandbox mode`; returns the WAV's bytes and how many
/// sandbox processes the run started.
fn render(preset: &std::path::Path, out: &std::path::Path, mode: &str) -> (Vec<u8>, usize) {
    render_with(preset, out, Some(mode))
}

/// [`render`], with or without `--sandbox`.
fn render_with(
    preset: &std::path::Path,
    out: &std::path::Path,
    mode: Option<&str>,
) -> (Vec<u8>, usize) {
    let midi = stagerack_tests::workspace_root().join("presets/demo.mid");
    let sandbox: Vec<&str> = mode.map_or(Vec::new(), |m| vec!["--sandbox", m]);
    let mode = mode.unwrap_or("from the preset");
    let result = Command::new(stagerack_tests::stagerack_bin())
        .env("RUST_LOG", "info")
        .args(["render", "--quiet"])
        .args(&sandbox)
        .arg("--preset")
        .arg(preset)
        .arg("--midi")
        .arg(&midi)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run stagerack render");
    assert!(
        result.status.success(),
        "render --sandbox {mode} failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        !stderr.contains("left out") && !stderr.contains("crashed"),
        "render --sandbox {mode} lost a plugin: {stderr}"
    );
    let children = stderr.matches("sandbox process").count();
    (std::fs::read(out).expect("read the rendered WAV"), children)
}

#[test]
fn sandboxed_chains_render_bit_identically_to_in_process_ones() {
    let dir = tempfile::tempdir().unwrap();
    let synth = stagerack_tests::clap_bundle("stagerack-synth");
    let gain = stagerack_tests::clap_bundle("stagerack-gain");
    let probe = vst3_common::own_bundle("Stagerack VST3 Probe");
    let vgain = vst3_common::own_bundle("Stagerack VST3 Gain");
    let probe_id = vst3_common::class_of(&probe).id;
    let vgain_id = vst3_common::class_of(&vgain).id;
    let preset = format!(
        r#"version = 1
name = "sandbox-render"

[[rack]]
name = "clap"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.synth"
path = "{synth}"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.gain"
path = "{gain}"
params = {{ gain = 0.5 }}

[[rack]]
name = "vst3"
[[rack.plugin]]
format = "vst3"
id = "{probe_id}"
path = "{probe}"
[[rack.plugin]]
format = "vst3"
id = "{vgain_id}"
path = "{vgain}"

[[rack]]
name = "builtin"
[[rack.plugin]]
format = "builtin"
id = "synth"
[[rack.plugin]]
format = "builtin"
id = "gain"
"#,
        synth = synth.display(),
        gain = gain.display(),
        probe = probe.display(),
        vgain = vgain.display(),
    );
    let path = dir.path().join("sandbox-render.toml");
    std::fs::write(&path, preset).unwrap();

    let (none, children) = render(&path, &dir.path().join("none.wav"), "none");
    assert_eq!(children, 0, "--sandbox none started sandbox processes");
    let samples = hound::WavReader::open(dir.path().join("none.wav"))
        .unwrap()
        .into_samples::<f32>()
        .map(Result::unwrap)
        .filter(|x| x.abs() > 1e-3)
        .count();
    assert!(samples > 48_000, "the reference render is nearly silent");
    // Three racks of two plugins: one child per rack, or one per plugin.
    for (mode, expected) in [("rack", 3), ("plugin", 6)] {
        let (sandboxed, children) = render(&path, &dir.path().join(format!("{mode}.wav")), mode);
        assert_eq!(
            children, expected,
            "--sandbox {mode} did not run the plugins in their own processes"
        );
        assert!(
            sandboxed == none,
            "render --sandbox {mode} differs from the in-process render"
        );
    }

    // The preset's own default, without the command line: `[master]
    // sandbox = "plugin"` puts every rack's plugins in children of their
    // own, except where a rack says otherwise.
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "name = \"builtin\"\n",
        "name = \"builtin\"\nsandbox = \"none\"\n",
        1,
    ) + "\n[master]\nsandbox = \"plugin\"\n";
    let own = dir.path().join("own-default.toml");
    std::fs::write(&own, text).unwrap();
    let (from_preset, children) = render_with(&own, &dir.path().join("own.wav"), None);
    assert_eq!(
        children, 4,
        "[master] sandbox = \"plugin\" with one rack at \"none\": four children"
    );
    assert!(
        from_preset == none,
        "the preset's sandboxes changed the sound"
    );
}
