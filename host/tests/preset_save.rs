//! Saving presets: atomic under SIGKILL, and lossless with plugin state.

mod common;
use common::*;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use stagerack::preset::{load_preset, save_atomically, PluginDef, Preset, RackDef};
use stagerack::session::Session;

const CHILD: &str = "STAGERACK_SAVE_CHILD";

/// A preset big enough that writing it takes a while (many racks, a large
/// state blob), tagged so the two versions differ everywhere.
fn big_preset(tag: &str) -> Preset {
    let mut racks = Vec::new();
    for i in 0..200 {
        let mut p = PluginDef::builtin("gain");
        p.set_state_bytes(&vec![i as u8; 20_000]);
        racks.push(RackDef::new(&format!("{tag} rack {i}"), vec![p]));
    }
    Preset {
        outputs: Vec::new(),
        inputs: Vec::new(),
        rig: None,
        rig_lists: None,
        version: 1,
        name: tag.to_owned(),
        tempo: None,
        racks,
        master: None,
    }
}

#[test]
fn a_save_killed_midway_leaves_the_old_file_intact() {
    if let Some(path) = std::env::var_os(CHILD) {
        // Child: save the two versions alternately until killed.
        let path = PathBuf::from(path);
        let (a, b) = (big_preset("A"), big_preset("B"));
        let ready = path.with_extension("ready");
        loop {
            save_atomically(&a, &path).unwrap();
            // Tell the parent the loop runs, so its kill lands mid-save
            // however slowly this process started on a loaded machine.
            if !ready.exists() {
                std::fs::write(&ready, b"").unwrap();
            }
            save_atomically(&b, &path).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("show.toml");
    save_atomically(&big_preset("A"), &path).unwrap();
    let (a, b) = (big_preset("A"), big_preset("B"));
    let temp_files = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".stagerack-save-"))
            .collect()
    };
    for round in 0..6u64 {
        let ready = path.with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let left_before = temp_files();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["a_save_killed_midway_leaves_the_old_file_intact", "--exact"])
            .env(CHILD, &path)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !ready.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the saving child never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Stop the writer until it is caught with a save's temporary file
        // open, then kill it there: every round kills mid-save, however
        // fast or loaded the machine (a timed kill missed on a busy one).
        let pid = child.id() as libc::pid_t;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            // SAFETY: a plain signal to our own child, which is alive
            // (never waited for yet).
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            std::thread::sleep(Duration::from_millis(2));
            if temp_files().difference(&left_before).next().is_some() {
                break;
            }
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: never caught the writer mid-save"
            );
            std::thread::sleep(Duration::from_micros(300 + 700 * round));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = load_preset(&path).unwrap_or_else(|e| panic!("round {round}: damaged: {e}"));
        assert!(now == a || now == b, "round {round}: a mix of two saves");
    }
    // Proof the kills landed mid-save: their temporary files are left over.
    let interrupted = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".stagerack-save-")
        })
        .count();
    assert!(
        interrupted > 0,
        "no kill interrupted a save; the test proved nothing"
    );
}

#[test]
fn state_survives_save_and_reload_in_a_fresh_process() {
    let demo = load_preset(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../presets/demo.toml"
    )))
    .unwrap();
    let (mut session, engine) = Session::new(&demo, config(64), true).unwrap();
    // Turn some knobs the preset did not set.
    let cutoff = session.racks()[0].slots[0]
        .instance
        .params()
        .into_iter()
        .find(|p| p.name == "cutoff")
        .unwrap()
        .id;
    session
        .plugin_mut(0, 0)
        .unwrap()
        .set_param(cutoff, 333.0)
        .unwrap();
    session
        .plugin_mut(1, 1)
        .unwrap()
        .set_param(0, -9.5)
        .unwrap();
    let saved = session.to_preset().unwrap();
    session.shutdown(engine);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.toml");
    save_atomically(&saved, &path).unwrap();
    let first = std::fs::read(&path).unwrap();
    save_atomically(&load_preset(&path).unwrap(), &path).unwrap();
    assert_eq!(
        first,
        std::fs::read(&path).unwrap(),
        "saving twice changed the bytes"
    );

    // Render the saved preset in a fresh process, and the same knobs in
    // this one: identical.
    let mid = concat!(env!("CARGO_MANIFEST_DIR"), "/../presets/demo.mid");
    let out = dir.path().join("fresh.wav");
    let o = Command::new(env!("CARGO_BIN_EXE_stagerack"))
        .args([
            "render",
            "--preset",
            path.to_str().unwrap(),
            "--midi",
            mid,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut fresh = hound::WavReader::open(&out).unwrap();
    let fresh: Vec<f32> = fresh.samples::<f32>().map(Result::unwrap).collect();

    let mut changed = demo.clone();
    changed.racks[0].plugins[0]
        .params
        .insert("cutoff".into(), 333.0);
    changed.racks[1].plugins[1]
        .params
        .insert("gain".into(), -9.5);
    let opts_path = dir.path().join("changed.toml");
    save_atomically(&changed, &opts_path).unwrap();
    let (here, _) = stagerack::render::render_to_memory(&stagerack::render::RenderOptions {
        preset: Some(opts_path),
        setlist: None,
        midi: Some(PathBuf::from(mid)),
        out: dir.path().join("unused.wav"),
        sample_rate: 48_000,
        block: 64,
        tail_seconds: 30.0,
        format: stagerack::render::SampleFormat::F32,
        input: None,
        progress: false,
    })
    .unwrap();
    let interleaved: Vec<f32> = here
        .left
        .iter()
        .zip(here.right.iter())
        .flat_map(|(l, r)| [*l, *r])
        .collect();
    assert_eq!(fresh.len(), interleaved.len());
    assert!(fresh == interleaved, "the reloaded preset sounds different");
    // And the knob really changed the sound compared with the original.
    let plain = load_preset(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../presets/demo.toml"
    )))
    .unwrap();
    assert_ne!(plain, load_preset(&path).unwrap());
}

/// A built-in's state is its parameters: a hand-written preset's
/// `params = { cutoff = 900 }` is saved back as readable `params` (a knob
/// turned since joins it), never as an opaque base64 `state`.
#[test]
fn built_ins_save_as_readable_params() {
    let text = "version = 1\nname = \"hand\"\n\n[[rack]]\nname = \"keys\"\n\n\
                [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\
                params = { cutoff = 900 }\n";
    let hand = stagerack::preset::parse_preset(text, std::path::Path::new("hand.toml")).unwrap();
    let (mut session, engine) = Session::new(&hand, config(64), true).unwrap();
    let release = session.racks()[0].slots[0]
        .instance
        .params()
        .into_iter()
        .find(|p| p.name == "release")
        .unwrap();
    session
        .plugin_mut(0, 0)
        .unwrap()
        .set_param(release.id, 0.75)
        .unwrap();
    let saved = session.to_preset().unwrap();
    session.shutdown(engine);
    let plugin = &saved.racks[0].plugins[0];
    assert_eq!(plugin.state, None, "no opaque state for a built-in");
    assert_eq!(plugin.params.get("cutoff"), Some(&900.0));
    assert_eq!(plugin.params.get("release"), Some(&0.75));
    assert_eq!(
        plugin.params.len(),
        2,
        "defaults left out: {:?}",
        plugin.params
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hand.toml");
    save_atomically(&saved, &path).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("cutoff = 900"), "{written}");
    assert!(!written.contains("state"), "{written}");
}

/// Saving over a hand-written preset keeps its comments and layout where
/// nothing changed: comments stay, `keys = [0, 59]` stays on one line, the
/// built-in's `params = { cutoff = 900 }` stays inline and readable.
#[test]
fn saving_over_a_hand_written_preset_keeps_its_comments_and_layout() {
    let hand = "# My left-hand bass.\nversion = 1\nname = \"hand\"\n\n\
                [[rack]]\nname = \"bass\" # split at B3\nkeys = [0, 59]\n\n\
                [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\nparams = { cutoff = 900 }\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hand.toml");
    std::fs::write(&path, hand).unwrap();
    let preset = load_preset(&path).unwrap();
    let (mut session, engine) = Session::new(&preset, config(64), true).unwrap();
    let saved = session.to_preset().unwrap();
    session.shutdown(engine);
    save_atomically(&saved, &path).unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.starts_with("# My left-hand bass.\n"), "{written}");
    assert!(
        written.contains("name = \"bass\" # split at B3"),
        "{written}"
    );
    assert!(written.contains("keys = [0, 59]"), "{written}");
    assert!(written.contains("params = { cutoff = 900 }"), "{written}");
    assert!(!written.contains("state"), "{written}");
    // And it still reads as what was saved.
    assert_eq!(load_preset(&path).unwrap(), saved);
}
