//! Saving a preset asks each sandboxed plugin for its state in its child.
//! A plugin that crashes while saving fails the save with a message that
//! names it and the cause (nothing is written, so the old file stays as it
//! was); the plugin comes back with the state captured before, and the
//! next save works.

use std::path::Path;
use std::time::{Duration, Instant};

use stagerack::engine::{EngineConfig, QueueCapacities};
use stagerack::midi::{Event, TimedEvent};
use stagerack::preset::{parse_preset, save_atomically};
use stagerack::session::Session;
use stagerack_plugins_test::clap::crash_on_note::KEY_ARM_SAVE_CRASH;

const FRAMES: usize = 64;

fn note(key: u8) -> TimedEvent {
    TimedEvent::new(
        0,
        Event::NoteOn {
            channel: 0,
            key,
            velocity: 0.8,
            note_id: -1,
        },
    )
}

/// The plugin's state in a saved preset: its note count.
fn notes_in(preset: &stagerack::preset::Preset) -> u64 {
    let bytes = preset.racks[0].plugins[0]
        .state_bytes()
        .expect("the saved preset carries the plugin's state");
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes of state"))
}

#[test]
fn a_plugin_crashing_during_a_save_fails_the_save_and_comes_back_with_its_state() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let dir = tempfile::tempdir().unwrap();
    let plugin = stagerack_tests::clap_unsafe_bundle("stagerack-crash-on-note");
    let text = format!(
        r#"version = 1
name = "save-crash"
[[rack]]
name = "crashy"
sandbox = "plugin"
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.crash-on-note"
path = "{}"
"#,
        plugin.display()
    );
    let file = dir.path().join("show.toml");
    std::fs::write(&file, &text).unwrap();
    let preset = parse_preset(&text, &file).unwrap();
    let config = EngineConfig {
        sample_rate: 48_000.0,
        max_block: FRAMES,
        queues: QueueCapacities::default(),
    };
    let (mut session, mut engine) = Session::new(&preset, config, true).unwrap();
    let (mut l, mut r) = (vec![0.0f32; FRAMES], vec![0.0f32; FRAMES]);
    let mut play = |session: &mut Session, events: &[TimedEvent]| {
        engine.process(events, None, &mut l, &mut r);
        session.pump()
    };

    // Two ordinary notes, then a save that works: the state says 2.
    play(&mut session, &[note(60), note(62)]);
    let saved = session.to_preset().expect("the first save works");
    assert_eq!(notes_in(&saved), 2);
    save_atomically(&saved, &file).unwrap();
    let on_disk = std::fs::read(&file).unwrap();

    // Arm the crash, one more note, and save: it fails, naming the plugin
    // and the crash.
    play(&mut session, &[note(KEY_ARM_SAVE_CRASH), note(64)]);
    let err = session
        .to_preset()
        .expect_err("a save whose plugin crashed must fail")
        .to_string();
    assert!(
        err.contains("Stagerack Crash On Note") && err.contains("SIGSEGV"),
        "the failed save does not say which plugin crashed how: {err}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        on_disk,
        "the preset file changed although the save failed"
    );

    // The pump brings the plugin back with the state captured at the
    // successful save (2 notes), and says so.
    let until = Instant::now() + Duration::from_secs(10);
    let mut reports = Vec::new();
    while !reports.iter().any(|r: &String| r.contains("back in")) {
        assert!(
            Instant::now() < until,
            "the plugin never came back: {reports:?}"
        );
        reports.extend(play(&mut session, &[]));
        std::thread::sleep(Duration::from_millis(20));
    }
    let back = reports.iter().find(|r| r.contains("back in")).unwrap();
    assert!(
        back.contains("rack `crashy`") && back.contains("crashed (SIGSEGV)"),
        "{back}"
    );
    let resaved = session
        .to_preset()
        .expect("the save after the relaunch works");
    assert_eq!(
        notes_in(&resaved),
        2,
        "the relaunched plugin did not get the state captured before the crash"
    );
    assert!(Path::new(&file).exists());
    session.shutdown(engine);
}
