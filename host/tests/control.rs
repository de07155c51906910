//! The control protocol: every command round-trips, edits reach every
//! client, bad clients are closed alone, and attaching never disturbs audio.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use stagerack::control::protocol::Gesture;
use stagerack::control::{Command, ControlServer, Reply, Request};
use stagerack::plugin::PluginFormat;
use stagerack::session::{RackEdit, Session};

fn all_commands() -> Vec<Command> {
    vec![
        Command::Hello {
            version: 1,
            client: "test".into(),
        },
        Command::GetState {},
        Command::ListPlugins {},
        Command::AddPlugin {
            rack: 0,
            index: Some(1),
            format: PluginFormat::Builtin,
            plugin: "gain".into(),
            path: None,
        },
        Command::RemovePlugin { rack: 0, index: 1 },
        Command::MovePlugin {
            rack: 0,
            from: 1,
            to: 0,
        },
        Command::SetBypass {
            rack: 0,
            index: 0,
            bypass: true,
        },
        Command::SetParam {
            rack: 0,
            index: 0,
            param: 3,
            value: 0.5,
            gesture: Some(Gesture::Begin),
        },
        Command::EditRack {
            rack: 0,
            edit: RackEdit {
                keys: Some([10, 20]),
                velocity_curve: Some("soft".into()),
                channels: Some(vec![1, 2]),
                mute: Some(true),
                ..RackEdit::default()
            },
        },
        Command::AddRack { name: "new".into() },
        Command::RemoveRack { rack: 1 },
        Command::SavePreset {
            path: "/tmp/x.toml".into(),
        },
        Command::LoadPreset {
            path: "/tmp/x.toml".into(),
        },
        Command::SetlistNext {},
        Command::SetlistPrevious {},
        Command::SetlistSelect { index: 2 },
        Command::Panic {},
        Command::Subscribe { meters: true },
        Command::Status {},
        Command::ListDevices {},
        Command::SelectDevices {
            backend: "jack".into(),
            connect: vec!["system:playback_.*".into()],
            midi_in: vec!["all".into()],
            buffer: Some(128),
        },
        Command::MidiLearn {
            rack: 0,
            index: 0,
            param: 2,
        },
        Command::MidiLearnCancel {},
        Command::OpenEditor { rack: 0, index: 1 },
        Command::CloseEditor { rack: 0, index: 1 },
    ]
}

#[test]
fn every_command_round_trips_through_json() {
    for (i, command) in all_commands().into_iter().enumerate() {
        let req = Request {
            id: i as u64,
            command,
        };
        let text = serde_json::to_string(&req).unwrap();
        let back: Request = serde_json::from_str(&text).unwrap();
        assert_eq!(back, req, "{text}");
    }
    // Unknown commands and fields are refused.
    assert!(serde_json::from_str::<Request>(r#"{"id":1,"cmd":"format_disk"}"#).is_err());
    assert!(serde_json::from_str::<Request>(r#"{"id":1,"cmd":"panic","loud":true}"#).is_err());
}

fn demo_session() -> (Session, stagerack::engine::Engine) {
    let demo = stagerack::preset::load_preset(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../presets/demo.toml"
    )))
    .unwrap();
    Session::new(&demo, config(64), true).unwrap()
}

/// Runs the engine and the server for a few buffers, as a live run would.
fn run(
    server: &mut ControlServer,
    session: &mut Session,
    engine: &mut stagerack::engine::Engine,
    buffers: usize,
) {
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    for _ in 0..buffers {
        server.poll(session);
        engine.process(&[], None, &mut l, &mut r);
        session.pump();
    }
    server.poll(session);
}

fn drain(client: &stagerack::control::LocalClient) -> Vec<Reply> {
    let mut out = Vec::new();
    while let Some(r) = client.recv_timeout(Duration::from_millis(20)) {
        out.push(r);
    }
    out
}

#[test]
fn two_clients_see_each_others_edits() {
    let (mut session, mut engine) = demo_session();
    let mut server = ControlServer::new();
    let mut a = server.connect_local();
    let b = server.connect_local();
    a.send(Command::EditRack {
        rack: 0,
        edit: RackEdit {
            gain_db: Some(-9.0),
            transpose: Some(5),
            ..RackEdit::default()
        },
    });
    a.send(Command::SetParam {
        rack: 1,
        index: 1,
        param: 0,
        value: -4.0,
        gesture: None,
    });
    run(&mut server, &mut session, &mut engine, 4);
    let seen_by_b = drain(&b);
    let state = seen_by_b
        .iter()
        .find_map(|r| match r {
            Reply::State { state, .. } => Some(state.clone()),
            _ => None,
        })
        .expect("b got the new state");
    assert_eq!(state.racks[0].routing.gain_db, -9.0);
    assert_eq!(state.racks[0].routing.transpose, 5);
    assert!(seen_by_b.contains(&Reply::Param {
        rack: 1,
        index: 1,
        param: 0,
        value: -4.0,
        // The plugin's own text, unit included.
        text: Some("-4 dB".into()),
    }));
    // The engine really has it: the gain plugin reports the new value.
    assert_eq!(
        session.racks()[1].slots[1].instance.param_value(0),
        Some(-4.0)
    );
    let from_a = drain(&a);
    assert!(from_a.iter().any(|r| matches!(r, Reply::Ok { id: 1 })));
    assert!(from_a.iter().any(|r| matches!(r, Reply::State { .. })));
    session.shutdown(engine);
}

#[test]
fn build_a_rack_through_the_protocol_and_save_it() {
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let mut server = ControlServer::new();
    let mut c = server.connect_local();
    c.send(Command::AddRack {
        name: "lead".into(),
    });
    c.send(Command::AddPlugin {
        rack: 1,
        index: None,
        format: PluginFormat::Builtin,
        plugin: "synth".into(),
        path: None,
    });
    c.send(Command::AddPlugin {
        rack: 1,
        index: None,
        format: PluginFormat::Builtin,
        plugin: "gain".into(),
        path: None,
    });
    c.send(Command::MovePlugin {
        rack: 1,
        from: 1,
        to: 0,
    });
    c.send(Command::SetParam {
        rack: 1,
        index: 1,
        param: 2,
        value: 1234.0,
        gesture: None,
    });
    c.send(Command::EditRack {
        rack: 1,
        edit: RackEdit {
            keys: Some([60, 127]),
            ..RackEdit::default()
        },
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("built.toml");
    run(&mut server, &mut session, &mut engine, 4);
    c.send(Command::SavePreset { path: path.clone() });
    run(&mut server, &mut session, &mut engine, 2);
    let replies = drain(&c);
    assert!(
        !replies.iter().any(|r| matches!(r, Reply::Error { .. })),
        "{replies:?}"
    );
    let saved = stagerack::preset::load_preset(&path).unwrap();
    assert_eq!(saved.racks.len(), 2);
    let lead = &saved.racks[1];
    assert_eq!(lead.keys, Some([60, 127]));
    let ids: Vec<&str> = lead.plugins.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec!["gain", "synth"]);
    // The synth's cutoff (param 2) is in its saved state.
    let (mut fresh, fresh_engine) = Session::new(&saved, config(64), true).unwrap();
    assert_eq!(
        fresh.racks()[1].slots[1].instance.param_value(2),
        Some(1234.0)
    );
    fresh.pump();
    fresh.shutdown(fresh_engine);
    session.shutdown(engine);
}

fn read_reply(reader: &mut BufReader<UnixStream>) -> Reply {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn socket_clients_attach_detach_and_bad_ones_are_closed_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctl/control.sock");
    let events: Vec<_> = (0..200)
        .map(|i| note_on(i * 480, 40 + (i % 40) as u8, 100))
        .collect();

    // Reference: the same render with nobody attached.
    let reference = {
        let (mut session, mut engine) = demo_session();
        render_frames(&mut engine, &mut session, &events, 64, 48_000)
    };

    let (mut session, mut engine) = demo_session();
    let mut server = ControlServer::new();
    server.listen(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let mut good = UnixStream::connect(&path).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut good_reader = BufReader::new(good.try_clone().unwrap());
    let mut bad = UnixStream::connect(&path).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let big = UnixStream::connect(&path).unwrap();
    let mut big_writer = Some(big);
    let mut big_thread = None;

    let mut phase = 0;
    let job = stagerack::io::offline::OfflineJob {
        events: &events,
        input: None,
        block: 64,
        min_frames: 48_000,
        max_tail_frames: 0,
        silence_frames: 0,
    };
    let out = stagerack::io::offline::render_offline(&mut engine, &job, |frame| {
        session.pump();
        server.poll(&mut session);
        match (phase, frame) {
            (0, f) if f >= 6400 => {
                good.write_all(b"{\"id\":1,\"cmd\":\"hello\",\"version\":1,\"client\":\"t\"}\n{\"id\":2,\"cmd\":\"get_state\"}\n").unwrap();
                bad.write_all(b"{\"id\":1,\"cmd\":\"hello\",\"version\":1,\"cli\n")
                    .unwrap();
                // The oversized one writes from its own thread: the server
                // reads it (on this thread) and must close it.
                let mut big = big_writer.take().unwrap();
                big_thread = Some(std::thread::spawn(move || {
                    let _ = big.write_all(&vec![b'x'; (1 << 20) + 10]);
                }));
                phase = 1;
            }
            (1, f) if f >= 12_800 => {
                // Detach the good one mid-render too.
                good.write_all(b"{\"id\":3,\"cmd\":\"status\"}\n").unwrap();
                phase = 2;
            }
            _ => {}
        }
    });
    big_thread.unwrap().join().unwrap();
    assert!(matches!(
        read_reply(&mut good_reader),
        Reply::Welcome { id: 1, version: 1 }
    ));
    assert!(matches!(
        read_reply(&mut good_reader),
        Reply::State { id: 2, .. }
    ));
    assert!(matches!(
        read_reply(&mut good_reader),
        Reply::Status { id: 3, .. }
    ));
    // The malformed one got an error and was closed; nobody else was.
    let mut bad_reader = BufReader::new(bad);
    match read_reply(&mut bad_reader) {
        Reply::Error { message, .. } => assert!(message.contains("malformed"), "{message}"),
        other => panic!("{other:?}"),
    }
    let mut rest = String::new();
    assert_eq!(
        bad_reader.read_line(&mut rest).unwrap(),
        0,
        "bad client still open"
    );
    assert_eq!(server.client_count(), 1, "only the good client remains");
    // Attaching, querying and being refused changed nothing in the audio.
    assert_eq!(out.left.len(), reference.left.len());
    assert!(out == reference, "clients disturbed the audio");
    drop(good);
    drop(good_reader);
    server.poll(&mut session);
    server.poll(&mut session);
    assert_eq!(server.client_count(), 0);
    session.shutdown(engine);
}

#[test]
fn midi_learn_binds_the_next_controller() {
    let (mut session, mut engine) = demo_session();
    let mut server = ControlServer::new();
    let mut c = server.connect_local();
    // Learn the bass synth's cutoff (rack 0, plugin 0, param 2).
    c.send(Command::MidiLearn {
        rack: 0,
        index: 0,
        param: 2,
    });
    run(&mut server, &mut session, &mut engine, 2);
    let cc = |value| {
        [stagerack::midi::TimedEvent::new(
            10,
            stagerack::midi::Event::ControlChange {
                channel: 0,
                controller: 74,
                value,
            },
        )]
    };
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    engine.process(&cc(5), None, &mut l, &mut r);
    session.pump();
    server.poll(&mut session);
    let replies = drain(&c);
    assert!(
        replies
            .iter()
            .any(|x| matches!(x, Reply::Learned { what } if what.contains("CC 74") && what.contains("cutoff"))),
        "{replies:?}"
    );
    // From now on CC74 moves the cutoff over its whole range.
    engine.process(&cc(127), None, &mut l, &mut r);
    session.pump();
    engine.process(&[], None, &mut l, &mut r);
    assert_eq!(
        session.racks()[0].slots[0].instance.param_value(2),
        Some(18_000.0)
    );
    engine.process(&cc(0), None, &mut l, &mut r);
    assert_eq!(
        session.racks()[0].slots[0].instance.param_value(2),
        Some(40.0)
    );
    // And it is saved with the preset.
    let saved = session.to_preset().unwrap();
    assert_eq!(saved.racks[0].mappings.len(), 1);
    session.shutdown(engine);
}

/// An engine whose host cannot move it between devices (headless
/// `stagerack --preset`) lists devices without a current one and refuses a
/// selection with the fix; nothing else changes.
#[test]
fn device_selection_without_a_device_host_is_refused_with_the_fix() {
    let (mut session, mut engine) = demo_session();
    let mut server = ControlServer::new();
    let mut client = server.connect_local();
    client.send(Command::ListDevices {});
    let select = client.send(Command::SelectDevices {
        backend: "dummy".into(),
        connect: Vec::new(),
        midi_in: Vec::new(),
        buffer: None,
    });
    run(&mut server, &mut session, &mut engine, 4);
    let replies = drain(&client);
    let devices = replies
        .iter()
        .find_map(|r| match r {
            Reply::Devices {
                devices, current, ..
            } => Some((devices.clone(), current.clone())),
            _ => None,
        })
        .expect("a devices reply");
    assert!(devices.0.backends.iter().any(|b| b == "dummy"));
    assert_eq!(devices.1, None);
    let refused = replies.iter().any(|r| {
        matches!(r, Reply::Error { id, message }
            if *id == select && message.contains("restart it with --backend"))
    });
    assert!(refused, "{replies:?}");
}

/// `load_preset` replaces what plays with the file's preset, from a buffer
/// boundary on; a file that does not parse is refused with its line and
/// nothing changes.
#[test]
fn load_preset_replaces_what_plays_and_a_bad_file_changes_nothing() {
    use stagerack::midi::{Event, TimedEvent};
    let (mut session, mut engine) = Session::new(&preset(PROBE), config(64), true).unwrap();
    let mut server = ControlServer::new();
    let mut c = server.connect_local();
    let note = [TimedEvent::new(
        10,
        Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    )];
    let play = |engine: &mut stagerack::engine::Engine| {
        let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
        engine.process(&note, None, &mut l, &mut r);
        l
    };
    // The probe: one impulse of the velocity's height.
    let before = play(&mut engine);
    assert_eq!(before[10], 1.0);

    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml");
    let load = c.send(Command::LoadPreset { path: demo });
    run(&mut server, &mut session, &mut engine, 4);
    let replies = drain(&c);
    assert!(
        replies
            .iter()
            .any(|r| matches!(r, Reply::Ok { id } if *id == load)),
        "{replies:?}"
    );
    let state = replies
        .iter()
        .rev()
        .find_map(|r| match r {
            Reply::State { state, .. } => Some(state.clone()),
            _ => None,
        })
        .expect("the new state is broadcast");
    assert_eq!(state.presets, vec!["demo".to_owned()]);
    assert_eq!(state.racks.len(), 3);
    // The demo's synths play now, not the probe's single impulse.
    let after = play(&mut engine);
    let sounding = after.iter().filter(|x| x.abs() > 1e-6).count();
    assert!(sounding > 20, "the demo preset does not play: {sounding}");

    // A broken file: refused with where it breaks; the demo plays on.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.toml");
    std::fs::write(&bad, "version = 1\nname = \"x\"\n[[rack]\n").unwrap();
    let refused = c.send(Command::LoadPreset { path: bad });
    run(&mut server, &mut session, &mut engine, 2);
    let replies = drain(&c);
    let message = replies
        .iter()
        .find_map(|r| match r {
            Reply::Error { id, message } if *id == refused => Some(message.clone()),
            _ => None,
        })
        .expect("the broken file is refused");
    assert!(message.contains("broken.toml:3"), "{message}");
    assert_eq!(stagerack::control::snapshot(&session).racks.len(), 3);
    session.shutdown(engine);
}

/// Keys played on the MIDI input reach subscribed clients with the meters
/// (the window lights them on its keyboard strip): held keys stay lit, a
/// key struck and released between two meters events shows once, and
/// PANIC puts every key out.
#[test]
fn meters_carry_the_keys_played() {
    let (mut session, mut engine) = demo_session();
    let mut server = ControlServer::new();
    let mut c = server.connect_local();
    c.send(Command::Subscribe { meters: true });
    run(&mut server, &mut session, &mut engine, 1);
    drain(&c);
    let note = |on: bool, key: u8| {
        stagerack::midi::TimedEvent::new(
            5,
            if on {
                stagerack::midi::Event::NoteOn {
                    channel: 0,
                    key,
                    velocity: 0.8,
                    note_id: -1,
                }
            } else {
                stagerack::midi::Event::NoteOff {
                    channel: 0,
                    key,
                    velocity: 0.5,
                    note_id: -1,
                }
            },
        )
    };
    let keys_seen =
        |server: &mut ControlServer, session: &mut Session, c: &stagerack::control::LocalClient| {
            // The server sends meters at most every 33 ms.
            std::thread::sleep(Duration::from_millis(40));
            server.poll(session);
            drain(c)
                .into_iter()
                .rev()
                .find_map(|r| match r {
                    Reply::Meters { keys, .. } => Some(keys),
                    _ => None,
                })
                .expect("a meters event")
        };
    let (mut l, mut r) = (vec![0.0; 64], vec![0.0; 64]);
    // C4 (60) held; C5 (72) struck and released in the same buffer.
    engine.process(
        &[note(true, 60), note(true, 72), note(false, 72)],
        None,
        &mut l,
        &mut r,
    );
    assert_eq!(
        keys_seen(&mut server, &mut session, &c),
        [1 << 60, 1 << (72 - 64)]
    );
    engine.process(&[], None, &mut l, &mut r);
    assert_eq!(
        keys_seen(&mut server, &mut session, &c),
        [1 << 60, 0],
        "72 shown once"
    );
    c.send(Command::Panic {});
    server.poll(&mut session);
    engine.process(&[], None, &mut l, &mut r);
    assert_eq!(
        keys_seen(&mut server, &mut session, &c),
        [0, 0],
        "PANIC puts every key out"
    );
    session.shutdown(engine);
}
