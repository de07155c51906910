//! Setlist editing round trip through the control protocol the window
//! speaks (issue 18): open a setlist, add, remove and move entries, set
//! triggers and notes, save, open again, save again: the same bytes twice.
//! Triggers and notes play at once; the new entries after the save. Bad
//! input is refused with a message naming the thing and the fix, and
//! nothing changes.

// The allocation guard in this test binary (see `install_guard!`).
stagerack_session::runtime::install_guard!();

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stagerack_session::control::{
    Command, LocalClient, Reply, Request, SetlistEdit, SetlistView, Snapshot,
};
use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime, Show};

/// The engine and a client of it, as the window has them.
struct Rig {
    engine: Runtime,
    client: LocalClient,
}

impl Rig {
    /// Sends `command` and pumps until its answer: Ok, or the error text.
    fn ask(&mut self, command: Command) -> Result<(), String> {
        let id = self.client.send(command);
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            self.engine.pump();
            while let Some(reply) = self.client.try_recv() {
                match reply {
                    Reply::Ok { id: i } if i == id => return Ok(()),
                    Reply::Error { id: i, message } if i == id => return Err(message),
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no answer to request {id}");
    }

    /// The answer to `command` that `pick` takes.
    fn get<T>(&mut self, command: Command, mut pick: impl FnMut(Reply) -> Option<T>) -> T {
        let id = self.client.send(command);
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            self.engine.pump();
            while let Some(reply) = self.client.try_recv() {
                if let Reply::Error { id: i, message } = &reply {
                    assert_ne!(*i, id, "{message}");
                }
                if let Some(t) = pick(reply) {
                    return t;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no answer to request {id}");
    }

    fn setlist(&mut self) -> Option<SetlistView> {
        self.get(Command::GetSetlist {}, |r| match r {
            Reply::Setlist { id, setlist } if id != 0 => Some(setlist),
            _ => None,
        })
    }

    fn state(&mut self) -> Snapshot {
        self.get(Command::GetState {}, |r| match r {
            Reply::State { id, state } if id != 0 => Some(state),
            _ => None,
        })
    }

    fn edit(&mut self, edit: SetlistEdit) -> Result<(), String> {
        self.ask(Command::EditSetlist { edit })
    }
}

/// The example setlist (demo, bells) and a third preset in `sub/`, copied
/// into a fresh folder, playing on no device.
fn start(dir: &Path) -> Rig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets");
    for f in ["setlist.toml", "demo.toml", "bells.toml"] {
        std::fs::copy(root.join(f), dir.join(f)).unwrap();
    }
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::copy(root.join("bells.toml"), dir.join("sub/third.toml")).unwrap();
    let show = LoadedShow::load(&Show::Setlist(dir.join("setlist.toml"))).unwrap();
    let mut engine = Runtime::start(&show, &AudioChoice::NoDevice).unwrap();
    let client = engine.connect();
    Rig { engine, client }
}

fn triggers(rig: &Rig) -> Vec<(Option<u8>, Option<u16>, Option<u8>)> {
    rig.engine
        .session()
        .unwrap()
        .switch_table()
        .entries
        .iter()
        .map(|e| (e.program, e.bank, e.note))
        .collect()
}

/// The addresses of the plugin instances of group `group`'s racks.
fn plugins_of(rig: &Rig, group: u16) -> Vec<usize> {
    rig.engine
        .session()
        .unwrap()
        .racks()
        .iter()
        .filter(|r| r.group == group)
        .flat_map(|r| r.slots.iter())
        .map(|s| &*s.instance as *const _ as *const () as usize)
        .collect()
}

fn set_triggers(
    index: usize,
    program: Option<u8>,
    bank: Option<u16>,
    note: Option<u8>,
) -> SetlistEdit {
    SetlistEdit::SetTriggers {
        index,
        program,
        bank,
        note,
    }
}

#[test]
fn setlist_edit_save_load_save_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("setlist.toml");
    let mut rig = start(dir.path());
    let view = rig
        .setlist()
        .expect("the setlist that plays is open for editing");
    assert_eq!(view.file, file);
    assert_eq!(view.playing, vec![Some(0), Some(1)]);
    assert!(!view.unsaved && !view.pending);

    // Triggers and notes play at once.
    rig.edit(set_triggers(1, Some(5), Some(2), Some(60)))
        .unwrap();
    assert_eq!(
        triggers(&rig),
        vec![(Some(0), None, None), (Some(5), Some(2), Some(60))]
    );
    let notes = "Verse: Am F\nChorus: C G \"loud\"\n";
    rig.edit(SetlistEdit::SetNotes {
        index: 0,
        notes: notes.into(),
    })
    .unwrap();
    assert_eq!(rig.state().notes[0], notes);

    // Added, moved and removed entries wait for the save...
    rig.edit(SetlistEdit::AddEntry {
        preset: "sub/third.toml".into(),
        index: None,
    })
    .unwrap();
    rig.edit(SetlistEdit::MoveEntry { from: 2, to: 0 }).unwrap();
    rig.edit(set_triggers(0, Some(7), None, None)).unwrap();
    rig.edit(SetlistEdit::RemoveEntry { index: 2 }).unwrap();
    let view = rig.setlist().unwrap();
    let presets: Vec<PathBuf> = view
        .setlist
        .entries
        .iter()
        .map(|e| e.preset.clone())
        .collect();
    assert_eq!(
        presets,
        [PathBuf::from("sub/third.toml"), "demo.toml".into()]
    );
    assert_eq!(view.playing, vec![None, Some(0)]);
    assert!(view.unsaved && view.pending);
    // ...while the triggers of the entries that play are live: demo keeps
    // program 0, bells (removed) has none, the new entry's 7 selects
    // nothing until saved.
    assert_eq!(
        triggers(&rig),
        vec![(Some(0), None, None), (None, None, None)]
    );
    assert_eq!(rig.state().presets.len(), 2);

    // Bad input: refused, with the thing and the fix named; nothing changes.
    let err = rig.edit(SetlistEdit::RemoveEntry { index: 9 }).unwrap_err();
    assert!(
        err.contains("no setlist entry 9") && err.contains("0 to 1"),
        "{err}"
    );
    let err = rig.edit(set_triggers(1, Some(7), None, None)).unwrap_err();
    assert!(
        err.contains("share program 7") && err.contains("give each its own"),
        "{err}"
    );
    let err = rig
        .edit(SetlistEdit::AddEntry {
            preset: "missing.toml".into(),
            index: None,
        })
        .unwrap_err();
    assert!(
        err.contains(&dir.path().join("missing.toml").display().to_string())
            && err.contains("does not exist"),
        "{err}"
    );
    let err = rig
        .edit(set_triggers(0, Some(200), None, None))
        .unwrap_err();
    assert!(err.contains("0 to 127"), "{err}");
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let unwritable = dir.path().join("a-file/set.toml");
    let err = rig
        .ask(Command::SaveSetlist {
            path: Some(unwritable.clone()),
        })
        .unwrap_err();
    assert!(
        err.contains(&unwritable.display().to_string()) && err.contains("folder you can write to"),
        "{err}"
    );
    let bad: Result<Request, _> = serde_json::from_str(
        r#"{"id":1,"cmd":"edit_setlist","edit":{"op":"remove_entry","index":0,"extra":1}}"#,
    );
    assert!(bad.is_err(), "unknown fields are refused");
    let view = rig.setlist().unwrap();
    assert_eq!(view.setlist.entries.len(), 2);
    assert_eq!(view.setlist.entries[1].program, Some(0));

    // Save: the new set plays in place, demo (playing) still current and
    // still the same plugins (nothing reloaded).
    let demo_plugins = plugins_of(&rig, 0);
    rig.ask(Command::SaveSetlist { path: None }).unwrap();
    assert_eq!(
        plugins_of(&rig, 1),
        demo_plugins,
        "demo's plugins were not reloaded"
    );
    let once = std::fs::read(&file).unwrap();
    let text = String::from_utf8(once.clone()).unwrap();
    assert!(
        text.starts_with("# An example setlist"),
        "comments kept:\n{text}"
    );
    assert!(text.contains("notes = \"\"\""), "{text}");
    assert!(!text.contains("bells.toml"), "{text}");
    // (The engine reports the current song from its next buffer on.)
    let until = Instant::now() + Duration::from_secs(5);
    let mut state = rig.state();
    while state.current != 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        state = rig.state();
    }
    assert_eq!(
        state.files,
        vec![
            Some(dir.path().join("sub/third.toml")),
            Some(dir.path().join("demo.toml"))
        ]
    );
    assert_eq!(state.current, 1, "the song playing stays current");
    assert_eq!(state.notes[1], notes);
    assert_eq!(
        triggers(&rig),
        vec![(Some(7), None, None), (Some(0), None, None)]
    );
    let view = rig.setlist().unwrap();
    assert!(!view.unsaved && !view.pending);

    // Load it again and save again: the same bytes.
    rig.ask(Command::OpenSetlist { path: file.clone() })
        .unwrap();
    assert_eq!(rig.setlist().unwrap().setlist, view.setlist);
    rig.ask(Command::SaveSetlist { path: None }).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), once, "the same bytes twice");

    // Save As elsewhere: the preset paths follow the new folder.
    std::fs::create_dir(dir.path().join("other")).unwrap();
    let moved = dir.path().join("other/set.toml");
    rig.ask(Command::SaveSetlist {
        path: Some(moved.clone()),
    })
    .unwrap();
    let copy = stagerack_session::preset::load_setlist(&moved).unwrap();
    assert_eq!(
        copy.setlist.entries[0].preset,
        PathBuf::from("../sub/third.toml")
    );
    assert_eq!(copy.paths[1], dir.path().join("other/../demo.toml"));

    // A single preset: no setlist to edit.
    rig.ask(Command::LoadPreset {
        path: dir.path().join("demo.toml"),
    })
    .unwrap();
    assert_eq!(rig.setlist(), None);
    let err = rig.edit(SetlistEdit::RemoveEntry { index: 0 }).unwrap_err();
    assert!(err.contains("open a setlist file first"), "{err}");
    assert!(rig.state().notes.is_empty());
    // A setlist that does not parse is refused by file and line.
    std::fs::write(
        dir.path().join("broken.toml"),
        "version = 1\n[[entry]]\nprogram = 1\n",
    )
    .unwrap();
    let err = rig
        .ask(Command::OpenSetlist {
            path: dir.path().join("broken.toml"),
        })
        .unwrap_err();
    assert!(err.contains("broken.toml:"), "{err}");
    assert_eq!(rig.state().presets.len(), 1, "nothing changed");
}

/// A save never takes away the song playing, never writes over one of the
/// set's presets, reads relative paths in the setlist's folder, and keeps
/// the file each preset was saved to.
#[test]
fn setlist_saves_keep_what_plays_and_the_presets() {
    let dir = tempfile::tempdir().unwrap();
    let mut rig = start(dir.path());
    // Demo (entry 1) plays; removing it is refused by a save, nothing
    // written, the edit kept.
    let before = std::fs::read(dir.path().join("setlist.toml")).unwrap();
    rig.edit(SetlistEdit::RemoveEntry { index: 0 }).unwrap();
    let demo_plugins = plugins_of(&rig, 0);
    let err = rig.ask(Command::SaveSetlist { path: None }).unwrap_err();
    assert!(
        err.contains("song playing (`") && err.contains("switch to another song first"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("setlist.toml")).unwrap(),
        before
    );
    assert_eq!(plugins_of(&rig, 0), demo_plugins);
    assert_eq!(rig.state().current, 0);
    assert!(rig.setlist().unwrap().pending, "the edit is kept");
    // Added back (the same file): kept as it plays, the save goes through.
    rig.edit(SetlistEdit::AddEntry {
        preset: "demo.toml".into(),
        index: Some(0),
    })
    .unwrap();
    rig.ask(Command::SaveSetlist { path: None }).unwrap();
    assert_eq!(plugins_of(&rig, 0), demo_plugins, "demo was not reloaded");
    assert_eq!(rig.state().current, 0);

    // Over one of the set's presets: refused, naming it.
    let err = rig
        .ask(Command::SaveSetlist {
            path: Some(dir.path().join("bells.toml")),
        })
        .unwrap_err();
    assert!(
        err.contains("preset file of entry `bells.toml`") && err.contains("another file name"),
        "{err}"
    );
    assert!(std::fs::read_to_string(dir.path().join("bells.toml"))
        .unwrap()
        .contains("[[rack]]"));
    // A relative name: in the setlist's folder, not the working folder.
    let err = rig
        .ask(Command::SaveSetlist {
            path: Some("demo.toml".into()),
        })
        .unwrap_err();
    assert!(err.contains("preset file of entry `demo.toml`"), "{err}");
    rig.ask(Command::SaveSetlist {
        path: Some("copy.toml".into()),
    })
    .unwrap();
    assert!(dir.path().join("copy.toml").is_file());

    // A preset saved elsewhere stays saved there after a triggers-only
    // save.
    let elsewhere = dir.path().join("demo-live.toml");
    rig.ask(Command::SavePreset {
        path: elsewhere.clone(),
    })
    .unwrap();
    rig.edit(set_triggers(1, Some(9), None, None)).unwrap();
    rig.ask(Command::SaveSetlist { path: None }).unwrap();
    assert_eq!(rig.state().files[0], Some(elsewhere));
}

#[path = "kit/mod.rs"]
mod kit;

/// The same through the window: the Setlist button opens it, Later moves
/// an entry, Notes and Apply notes set an entry's notes, Save setlist
/// writes the file; the engine follows.
#[test]
fn the_setlist_window_edits_and_saves() {
    use eframe::egui;
    use egui_kittest::kittest::Queryable;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("setlist.toml");
    let rig = start(dir.path());
    let (engine, mut h) = kit::window_on(rig.engine, "preset.toml", 1280.0, 800.0);
    h.get_by_label("Setlist").click();
    kit::settle(&mut h);
    assert!(h.query_by_label("Open setlist").is_some());
    h.get_all_by_label("Later").next().unwrap().click();
    kit::settle(&mut h);
    h.get_all_by_label("Notes").next().unwrap().click();
    kit::settle(&mut h);
    let notes = h.get_by_role(egui::accesskit::Role::MultilineTextInput);
    notes.focus();
    kit::settle(&mut h);
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .type_text("Intro: 4 bars");
    kit::settle(&mut h);
    h.get_by_label("Apply notes").click();
    kit::settle(&mut h);
    let view = h.state().state.setlist.clone().unwrap();
    assert_eq!(view.setlist.entries[0].preset, PathBuf::from("bells.toml"));
    assert_eq!(view.setlist.entries[0].notes, "Intro: 4 bars");
    assert!(view.pending);
    h.get_by_label("Save setlist").click();
    kit::settle(&mut h);
    kit::settle(&mut h);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.find("bells.toml").unwrap() < text.find("demo.toml").unwrap(),
        "{text}"
    );
    assert!(text.contains("notes = \"Intro: 4 bars\""), "{text}");
    let files = h.state().state.snapshot.clone().unwrap().files;
    assert_eq!(
        files[0],
        Some(dir.path().join("bells.toml")),
        "the new order plays"
    );
    // Open setlist asks first: it replaces what plays.
    let moves = h.state().state.setlist.clone().unwrap();
    h.get_all_by_label("Later").next().unwrap().click();
    kit::settle(&mut h);
    h.get_by_label("Open setlist").click();
    kit::settle(&mut h);
    assert!(h.query_by_label_contains("replaces what plays").is_some());
    assert!(h
        .query_by_label_contains("Unsaved setlist edits are lost")
        .is_some());
    h.get_by_label("Cancel").click();
    kit::settle(&mut h);
    assert!(
        h.state().state.setlist.clone().unwrap().unsaved,
        "nothing opened"
    );
    h.get_by_label("Open setlist").click();
    kit::settle(&mut h);
    h.get_by_label("Open, replacing what plays").click();
    kit::settle(&mut h);
    kit::settle(&mut h);
    let view = h.state().state.setlist.clone().unwrap();
    assert!(!view.unsaved);
    assert_eq!(view.setlist, moves.setlist, "the file as saved");
    drop(h);
    drop(engine);
}
