//! The built-in backing-track player (#17): a 10 s WAV and a 10 s FLAC
//! play sample-exactly against the file from the song's start; a 44.1 kHz
//! file is resampled to the engine's 48 kHz within a tolerance; in a
//! setlist, a song's player starts on the exact sample its entry is
//! switched to; a missing file is reported at load, naming it, and the
//! rest of the preset plays.

mod clap_support;

use std::path::Path;

use clap_support::*;
use stagerack::engine::{EntryTrigger, SwitchTable};
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack::session::Session;

const SECONDS: usize = 10;

/// A deterministic, never-silent stereo track at 16-bit resolution.
fn track(rate: usize, seconds: usize) -> (Vec<i16>, Vec<i16>) {
    let mut x: u32 = 12345;
    (0..rate * seconds)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let l = ((x >> 16) as i16) | 1;
            (l, l.wrapping_mul(3) | 1)
        })
        .unzip()
}

fn write_wav(path: &Path, rate: u32, l: &[i16], r: &[i16]) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for (a, b) in l.iter().zip(r) {
        w.write_sample(*a).unwrap();
        w.write_sample(*b).unwrap();
    }
    w.finalize().unwrap();
}

/// Writes a 16-bit stereo FLAC file of VERBATIM frames of 4800 frames
/// (uncompressed FLAC is FLAC all the same; the decoder under test is
/// symphonia's). `l.len()` must be a multiple of 4800 and under 128
/// frames' worth.
fn write_flac(path: &Path, rate: u32, l: &[i16], r: &[i16]) {
    const BLOCK: usize = 4800;
    assert!(l.len() % BLOCK == 0 && l.len() / BLOCK < 128);
    let crc8 = |bytes: &[u8]| {
        bytes.iter().fold(0u8, |mut c, b| {
            c ^= b;
            for _ in 0..8 {
                c = if c & 0x80 != 0 {
                    (c << 1) ^ 0x07
                } else {
                    c << 1
                };
            }
            c
        })
    };
    let crc16 = |bytes: &[u8]| {
        bytes.iter().fold(0u16, |mut c, b| {
            c ^= u16::from(*b) << 8;
            for _ in 0..8 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ 0x8005
                } else {
                    c << 1
                };
            }
            c
        })
    };
    let mut out = b"fLaC".to_vec();
    // STREAMINFO, the last metadata block.
    out.extend([0x80, 0, 0, 34]);
    out.extend((BLOCK as u16).to_be_bytes());
    out.extend((BLOCK as u16).to_be_bytes());
    out.extend([0; 6]); // frame sizes unknown
    let total = l.len() as u64;
    let packed: u64 = (u64::from(rate) << 44) | (1 << 41) | (15 << 36) | total;
    out.extend(packed.to_be_bytes());
    out.extend([0; 16]); // no MD5
    for (n, (lc, rc)) in l.chunks(BLOCK).zip(r.chunks(BLOCK)).enumerate() {
        let mut frame = vec![0xFF, 0xF8, 0x70, 0x18, n as u8];
        frame.extend(((BLOCK - 1) as u16).to_be_bytes());
        frame[2] = 0x70
            | match rate {
                48_000 => 0x0A,
                44_100 => 0x09,
                _ => panic!("rate"),
            };
        frame.push(crc8(&frame));
        for channel in [lc, rc] {
            frame.push(0x02); // VERBATIM
            for x in channel {
                frame.extend(x.to_be_bytes());
            }
        }
        let crc = crc16(&frame);
        frame.extend(crc.to_be_bytes());
        out.extend(frame);
    }
    std::fs::write(path, out).unwrap();
}

fn player_preset(dir: &Path, file: &str, name: &str) -> std::path::PathBuf {
    player_preset_with(dir, file, name, "")
}

/// [`player_preset`] with `extra` lines in its rack (`sandbox = ...`).
fn player_preset_with(dir: &Path, file: &str, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "version = 1\nname = \"{name}\"\n\
             [[rack]]\nname = \"backing\"\n{extra}\
             [[rack.plugin]]\nformat = \"builtin\"\nid = \"player\"\nfile = \"{file}\"\n"
        ),
    )
    .unwrap();
    path
}

fn plays_exactly(file: &str, write: impl Fn(&Path, &[i16], &[i16])) {
    plays_exactly_with(file, "", write)
}

fn plays_exactly_with(file: &str, extra: &str, write: impl Fn(&Path, &[i16], &[i16])) {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = track(48_000, SECONDS);
    write(&dir.path().join(file), &l, &r);
    let preset =
        stagerack::preset::load_preset(&player_preset_with(dir.path(), file, "song", extra))
            .unwrap();
    let (mut s, mut e) = session(&preset, 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    if !extra.is_empty() {
        stagerack_tests::assert_sandboxes_running();
    }
    let frames = 48_000 * SECONDS + 4_800;
    let out = render(&mut s, &mut e, &[], None, 64, frames as u64);
    for i in 0..l.len() {
        let (wl, wr) = (f32::from(l[i]) / 32768.0, f32::from(r[i]) / 32768.0);
        assert!(
            (out.left[i] - wl).abs() < 1e-7 && (out.right[i] - wr).abs() < 1e-7,
            "{file}: frame {i}: {} / {} not {wl} / {wr}",
            out.left[i],
            out.right[i]
        );
    }
    // And silence after its end.
    assert!(
        out.left[l.len()..].iter().all(|x| *x == 0.0),
        "{file}: sound after the end"
    );
    let mut notices = Vec::new();
    s.pump();
    notices.extend(s.warnings().iter().cloned());
    assert!(notices.is_empty(), "{file}: {notices:?}");
    s.shutdown(e);
}

#[test]
fn a_wav_plays_sample_exactly_from_the_start() {
    plays_exactly("track.wav", |p, l, r| write_wav(p, 48_000, l, r));
}

#[test]
fn a_flac_plays_sample_exactly_from_the_start() {
    plays_exactly("track.flac", |p, l, r| write_flac(p, 48_000, l, r));
}

/// Sandboxed, the child gets the file's absolute path (it does not know
/// the preset's folder) and plays it the same.
#[test]
fn a_sandboxed_player_plays_its_file_too() {
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    plays_exactly_with("track.wav", "sandbox = \"plugin\"\n", |p, l, r| {
        write_wav(p, 48_000, l, r)
    });
}

#[test]
fn a_44_1_khz_track_is_resampled_to_the_engine_rate() {
    let dir = tempfile::tempdir().unwrap();
    let sine = |rate: f64, i: usize| {
        (0.5 * (std::f64::consts::TAU * 440.0 * i as f64 / rate).sin()) as f32
    };
    let l: Vec<i16> = (0..44_100 * 4)
        .map(|i| (sine(44_100.0, i) * 32767.0) as i16)
        .collect();
    write_wav(&dir.path().join("sine.wav"), 44_100, &l, &l);
    let preset =
        stagerack::preset::load_preset(&player_preset(dir.path(), "sine.wav", "sine")).unwrap();
    let (mut s, mut e) = session(&preset, 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let out = render(&mut s, &mut e, &[], None, 64, 48_000 * 4);
    // Away from the ends, every sample is the 48 kHz sine's, in time.
    let worst = (4_800..48_000 * 4 - 4_800)
        .map(|i| (out.left[i] - sine(48_000.0, i)).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 2e-3, "resampled sine off by up to {worst}");
    s.shutdown(e);
}

#[test]
fn a_songs_player_starts_on_the_sample_its_entry_is_switched_to() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = track(48_000, 2);
    write_wav(&dir.path().join("track.wav"), 48_000, &l, &r);
    let intro = stagerack::preset::parse_preset(
        "version = 1\nname = \"intro\"\n[[rack]]\nname = \"keys\"\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n",
        Path::new("intro.toml"),
    )
    .unwrap();
    let song =
        stagerack::preset::load_preset(&player_preset(dir.path(), "track.wav", "song")).unwrap();
    let table = SwitchTable {
        entries: vec![
            EntryTrigger {
                program: Some(1),
                bank: None,
                note: None,
            },
            EntryTrigger {
                program: Some(2),
                bank: None,
                note: None,
            },
        ],
        max_tail_frames: 48_000,
        ..SwitchTable::default()
    };
    let config = stagerack::engine::EngineConfig {
        sample_rate: RATE,
        max_block: 64,
        queues: Default::default(),
    };
    let (mut s, mut e) = Session::with_presets(&[intro, song], table, config, true).unwrap();
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let switch_at = 10_007;
    let events = [SampleEvent {
        frame: switch_at as u64,
        event: Event::ProgramChange {
            channel: 0,
            program: 2,
        },
    }];
    let out = render(&mut s, &mut e, &events, None, 64, 48_000);
    assert!(
        out.left[..switch_at].iter().all(|x| *x == 0.0),
        "played before its song"
    );
    for (i, x) in l.iter().take(1_000).enumerate() {
        assert_eq!(
            out.left[switch_at + i],
            f32::from(*x) / 32768.0,
            "frame {i} of the track"
        );
    }
    s.shutdown(e);
}

#[test]
fn a_missing_track_is_reported_at_load_and_the_rest_plays() {
    let dir = tempfile::tempdir().unwrap();
    let path = player_preset(dir.path(), "nowhere.flac", "gone");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "[[rack]]\nname = \"keys\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n",
    );
    std::fs::write(&path, text).unwrap();
    let preset = stagerack::preset::load_preset(&path).unwrap();
    let (mut s, mut e) = session(&preset, 64);
    let warnings = s.warnings().join("\n");
    assert!(
        warnings.contains("cannot play")
            && warnings.contains("nowhere.flac")
            && warnings.contains("check `file`"),
        "{warnings}"
    );
    let out = render(
        &mut s,
        &mut e,
        &[SampleEvent {
            frame: 5,
            event: Event::NoteOn {
                channel: 0,
                key: 60,
                velocity: 1.0,
                note_id: -1,
            },
        }],
        None,
        64,
        64,
    );
    assert_eq!(out.left[5], 1.0, "the probe rack plays on");
    s.shutdown(e);
}

/// Cue points and restarts, in a WAV and a FLAC (the FLAC seeks through
/// its frames): `cues = [2.0, 5.5]` with `cue_note = 48`. The song starts
/// at frame 0; key 48 at frame 30 000 plays from 2.0 s, key 49 at frame
/// 150 000 from 5.5 s, MIDI Stop at 250 000 stops it, Continue at 260 000
/// goes on from there, and MIDI Start at 300 000 plays it from the top
/// again: every frame exactly the file's, for 1.5 s after each jump (past
/// the cue's second in memory, so through the reading thread's new place).
#[test]
fn cues_and_restarts_play_from_their_sample() {
    for (file, write) in [
        ("cued.wav", write_wav as fn(&Path, u32, &[i16], &[i16])),
        ("cued.flac", write_flac),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (l, r) = track(48_000, SECONDS);
        write(&dir.path().join(file), 48_000, &l, &r);
        let path = dir.path().join("cued.toml");
        std::fs::write(
            &path,
            format!(
                "version = 1\nname = \"cued\"\n[[rack]]\nname = \"backing\"\n\
                 [[rack.plugin]]\nformat = \"builtin\"\nid = \"player\"\nfile = \"{file}\"\n\
                 cues = [2.0, 5.5]\nparams = {{ cue_note = 48.0 }}\n"
            ),
        )
        .unwrap();
        let preset = stagerack::preset::load_preset(&path).unwrap();
        let (mut s, mut e) = session(&preset, 64);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        let note = |frame: u64, key: u8| SampleEvent {
            frame,
            event: Event::NoteOn {
                channel: 0,
                key,
                velocity: 1.0,
                note_id: -1,
            },
        };
        let realtime = |frame: u64, status: u8| SampleEvent {
            frame,
            event: Event::Realtime { status },
        };
        let events = [
            note(30_000, 48),
            note(150_000, 49),
            realtime(250_000, 0xFC),
            realtime(260_000, 0xFB),
            realtime(300_000, 0xFA),
        ];
        let out = render(&mut s, &mut e, &events, None, 64, 400_000);
        let want = |i: usize| (f32::from(l[i]) / 32768.0, f32::from(r[i]) / 32768.0);
        // (first output frame, first track frame, frames)
        let spans = [
            (0, 0, 30_000),
            (30_000, 96_000, 72_000),
            (150_000, 264_000, 100_000),
            (260_000, 264_000 + 100_000, 40_000),
            (300_000, 0, 72_000),
        ];
        for (out_at, track_at, n) in spans {
            for k in 0..n {
                let (wl, wr) = want(track_at + k);
                let (gl, gr) = (out.left[out_at + k], out.right[out_at + k]);
                assert!(
                    (gl - wl).abs() < 1e-7 && (gr - wr).abs() < 1e-7,
                    "{file}: output frame {} should be track frame {}: {gl} / {gr} not {wl} / {wr}",
                    out_at + k,
                    track_at + k
                );
            }
        }
        assert!(
            out.left[250_000..260_000].iter().all(|x| *x == 0.0),
            "{file}: sound while stopped"
        );
        s.pump();
        assert!(s.warnings().is_empty(), "{file}: {:?}", s.warnings());
        s.shutdown(e);
    }
}

/// A cue past the track's end is refused when the preset loads, naming it.
#[test]
fn a_cue_past_the_end_is_reported_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = track(48_000, 2);
    write_wav(&dir.path().join("short.wav"), 48_000, &l, &r);
    let path = dir.path().join("late.toml");
    std::fs::write(
        &path,
        "version = 1\nname = \"late\"\n[[rack]]\nname = \"backing\"\n\
         [[rack.plugin]]\nformat = \"builtin\"\nid = \"player\"\nfile = \"short.wav\"\n\
         cues = [1.0, 30.0]\n",
    )
    .unwrap();
    let preset = stagerack::preset::load_preset(&path).unwrap();
    let (s, e) = session(&preset, 64);
    assert!(
        s.warnings()
            .iter()
            .any(|w| w.contains("cue 2 (30 s) is past the end") && w.contains("short.wav")),
        "{:?}",
        s.warnings()
    );
    s.shutdown(e);
}
