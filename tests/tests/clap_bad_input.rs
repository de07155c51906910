//! Bad CLAP references in a preset: each gives a clear error naming the
//! file and the plugin, and the rest of the preset still loads and plays.

mod clap_support;

use std::path::{Path, PathBuf};

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::plugin::clap::{find_plugin_in, ClapError};
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::PluginFormat;
use stagerack::preset::PluginDef;

fn clap_def(id: &str, path: &Path) -> PluginDef {
    let mut def = PluginDef::builtin("gain");
    def.format = PluginFormat::Clap;
    def.id = id.to_owned();
    def.path = Some(path.to_owned());
    def
}

fn load_err(def: &PluginDef) -> String {
    match load_plugin(def) {
        Ok(_) => panic!("{} loaded but should not", def.id),
        Err(e) => e.to_string(),
    }
}

fn fake_clap() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("NotAPlugin.clap");
    std::fs::write(&path, "this is a text file, not a shared library\n").unwrap();
    (dir, path)
}

#[test]
fn missing_file_names_the_file_and_the_plugin() {
    let def = clap_def(
        "org.example.nothing",
        Path::new("/nonexistent/Nothing.clap"),
    );
    let e = load_err(&def);
    assert!(e.contains("/nonexistent/Nothing.clap"), "{e}");
    assert!(e.contains("org.example.nothing"), "{e}");
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn a_text_file_is_not_a_clap_file() {
    let (_dir, path) = fake_clap();
    let e = load_err(&clap_def("org.example.fake", &path));
    assert!(e.contains("NotAPlugin.clap"), "{e}");
    assert!(e.contains("not a CLAP plugin file"), "{e}");
}

#[test]
fn an_id_not_in_the_file_lists_what_the_file_has() {
    // Search no other folders, so the hint's error is what is reported.
    let hint = Path::new("/usr/lib/clap/ZamComp.clap");
    let err = find_plugin_in("com.zamaudio.NoSuchThing", Some(hint), &[]).unwrap_err();
    assert!(matches!(err, ClapError::IdNotInFile { .. }), "{err}");
    let e = err.to_string();
    assert!(e.contains("ZamComp.clap"), "{e}");
    assert!(e.contains("com.zamaudio.NoSuchThing"), "{e}");
    assert!(e.contains("com.zamaudio.ZamComp"), "{e}");
    // Through the real loader (which also searches the standard folders).
    let e = load_err(&clap_def("com.zamaudio.NoSuchThing", hint));
    assert!(e.contains("com.zamaudio.NoSuchThing"), "{e}");
}

#[test]
fn a_wrong_hint_is_overridden_by_the_search_path() {
    // The id lives in another file of the search path: found there.
    let found = find_plugin_in(
        "com.zamaudio.ZamEQ2",
        Some(Path::new("/usr/lib/clap/ZamComp.clap")),
        &[PathBuf::from("/usr/lib/clap")],
    )
    .unwrap();
    assert_eq!(found.path, Path::new("/usr/lib/clap/ZamEQ2.clap"));
    assert_eq!(found.descriptor.name, "ZamEQ2");
}

#[test]
fn not_found_anywhere_names_the_folders_searched() {
    let dir = tempfile::tempdir().unwrap();
    let err = find_plugin_in("org.example.ghost", None, &[dir.path().to_owned()]).unwrap_err();
    let e = err.to_string();
    assert!(e.contains("org.example.ghost"), "{e}");
    assert!(e.contains(&dir.path().display().to_string()), "{e}");
}

#[test]
fn the_rest_of_the_preset_loads_and_plays() {
    let (_dir, fake) = fake_clap();
    let text = format!(
        r#"
version = 1
name = "bad refs"

[[rack]]
name = "synth"
[[rack.plugin]]
format = "clap"
id = "org.example.missing"
path = "/nonexistent/Missing.clap"
[[rack.plugin]]
format = "builtin"
id = "synth"
[[rack.plugin]]
format = "clap"
id = "org.example.fake"
path = "{}"
[[rack.plugin]]
format = "clap"
id = "com.zamaudio.NoSuchThing"
path = "/usr/lib/clap/ZamComp.clap"
[[rack.plugin]]
format = "builtin"
id = "gain"

[[rack]]
name = "all missing"
[[rack.plugin]]
format = "clap"
id = "org.example.missing2"
"#,
        fake.display()
    );
    let p = preset(&text);
    let (mut s, mut e) = session(&p, 64);
    assert_eq!(s.warnings().len(), 4, "{:#?}", s.warnings());
    assert!(s.warnings()[0].contains("Missing.clap"));
    assert!(s.warnings()[1].contains("NotAPlugin.clap"));
    assert!(s.warnings()[2].contains("com.zamaudio.NoSuchThing"));
    assert!(s.warnings()[3].contains("org.example.missing2"));
    assert_eq!(s.racks()[0].slots.len(), 2, "synth and gain remain");
    let events = [SampleEvent {
        frame: 100,
        event: Event::NoteOn {
            channel: 0,
            key: 69,
            velocity: 0.8,
            note_id: -1,
        },
    }];
    let out = render(&mut s, &mut e, &events, None, 64, 9600);
    s.shutdown(e);
    assert!(peak(&out.left[..100]) < 1e-6);
    assert!(peak(&out.left[100..]) > 0.01, "the synth still plays");
}

#[test]
fn init_failure_names_the_file_and_the_plugin() {
    let path = bundle("stagerack-bad-init");
    let e = load_err(&clap_def("org.stagerack.test.bad-init", &path));
    assert!(e.contains("org.stagerack.test.bad-init"), "{e}");
    assert!(e.contains("stagerack-bad-init.clap"), "{e}");
    assert!(e.contains("failed to initialise"), "{e}");
}

#[test]
fn activate_failure_names_the_file_and_the_plugin() {
    use stagerack::plugin::clap::ClapState;
    use stagerack::plugin::{PluginInstance, ProcessConfig};
    let path = bundle("stagerack-bad-activate");
    let mut inst =
        stagerack::plugin::clap::load("org.stagerack.test.bad-activate", Some(&path)).unwrap();
    let err = match inst.activate(&ProcessConfig {
        sample_rate: RATE,
        min_block: 1,
        max_block: 64,
        offline: true,
        aux_outputs: 0,
    }) {
        Ok(_) => panic!("activation should fail"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("org.stagerack.test.bad-activate"), "{err}");
    assert!(err.contains("stagerack-bad-activate.clap"), "{err}");
    assert!(err.contains("refused to activate"), "{err}");
    assert_eq!(inst.state(), ClapState::Inactive);
}

#[test]
fn bad_init_and_bad_activate_leave_the_rest_of_the_preset_playing() {
    let text = format!(
        r#"
version = 1
name = "bad plugins"

[[rack]]
name = "probe"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.bad-init"
path = "{}"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.probe"
path = "{}"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.bad-activate"
path = "{}"
"#,
        bundle("stagerack-bad-init").display(),
        bundle("stagerack-probe").display(),
        bundle("stagerack-bad-activate").display(),
    );
    let p = preset(&text);
    let (mut s, mut e) = session(&p, 64);
    assert_eq!(s.warnings().len(), 2, "{:#?}", s.warnings());
    assert!(s.warnings()[0].contains("bad-init"), "{}", s.warnings()[0]);
    assert!(
        s.warnings()[1].contains("bad-activate"),
        "{}",
        s.warnings()[1]
    );
    assert!(s.warnings()[1].contains("bypassed"), "{}", s.warnings()[1]);
    let events = [SampleEvent {
        frame: 77,
        event: Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    }];
    let out = render(&mut s, &mut e, &events, None, 64, 256);
    s.shutdown(e);
    assert!((out.left[77] - 1.0).abs() < 1e-6, "the probe still plays");
    assert!(peak(&out.left[..77]) == 0.0 && peak(&out.left[78..]) == 0.0);
}
