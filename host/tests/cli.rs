//! `stagerack render` from the outside: the demo, and every bad input.

// The allocation guard in this test binary (see `install_guard!`).
stagerack::engine::install_guard!();

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stagerack"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_wav(path: &Path) -> (Vec<f32>, hound::WavSpec) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let s = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|v| v.unwrap() as f32 / full)
                .collect()
        }
    };
    (s, spec)
}

fn render(args: &[&str]) -> std::process::Output {
    bin().arg("render").args(args).output().unwrap()
}

#[test]
fn demo_render_is_musical_deterministic_and_below_full_scale() {
    let dir = tempfile::tempdir().unwrap();
    let preset = root().join("presets/demo.toml");
    let midi = root().join("presets/demo.mid");
    let mut outs = Vec::new();
    for name in ["a.wav", "b.wav"] {
        let out = dir.path().join(name);
        let o = render(&[
            "--preset",
            preset.to_str().unwrap(),
            "--midi",
            midi.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(outs[0], outs[1], "two renders differ");
    let (samples, spec) = read_wav(&dir.path().join("a.wav"));
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48_000, 32)
    );
    let peak = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.1, "too quiet: {peak}");
    assert!(peak < 1.0, "clips: {peak}");
    // The phrase is ~12 s; the tail ends in silence well before the 30 s cap.
    let secs = samples.len() as f64 / 2.0 / 48_000.0;
    assert!((10.0..20.0).contains(&secs), "{secs} s");
    // Both the bass (below C4) and the pad (above) sound: energy in the
    // first beat (bass + chord) is well above zero on both channels.
    assert!(samples[..9600].iter().any(|x| x.abs() > 0.05));
}

#[test]
fn formats_rates_and_blocks_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s16.wav");
    let o = render(&[
        "--preset",
        root().join("presets/demo.toml").to_str().unwrap(),
        "--midi",
        root().join("presets/demo.mid").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "s16",
        "--rate",
        "44100",
        "--block",
        "7",
        "--tail",
        "0",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (s, spec) = read_wav(&out);
    assert_eq!((spec.bits_per_sample, spec.sample_rate), (16, 44_100));
    assert!(s.iter().any(|x| x.abs() > 0.05));
}

#[test]
fn input_wav_feeds_effect_racks_and_sets_the_length() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&input, spec).unwrap();
    for i in 0..24_000 {
        w.write_sample(((i as f32) * 0.01).sin() * 0.5).unwrap();
    }
    w.finalize().unwrap();
    let preset = dir.path().join("fx.toml");
    std::fs::write(
        &preset,
        "version = 1\nname = \"fx\"\n[[rack]]\nname = \"vocal\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"gain\"\nparams = { gain = -6.0206 }\n",
    )
    .unwrap();
    let out = dir.path().join("out.wav");
    let o = render(&[
        "--preset",
        preset.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (s, _) = read_wav(&out);
    assert!(s.len() / 2 >= 24_000);
    for i in [100usize, 5000, 23_999] {
        let want = ((i as f32) * 0.01).sin() * 0.25;
        assert!((s[2 * i] - want).abs() < 1e-4, "left {i}");
        assert!((s[2 * i + 1] - want).abs() < 1e-4, "right {i}");
    }
}

/// Runs a render that must fail; returns its stderr. Checks the exit code,
/// that stderr is one line, that it mentions `needle`, and that no output
/// file was left behind.
fn must_fail(args: &[&str], out: &Path, needle: &str) -> String {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    let o = render(&full);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "succeeded: {args:?}");
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{stderr} lacks {needle}");
    assert!(!out.exists(), "output left behind for {args:?}");
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".stagerack"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    stderr
}

#[test]
fn bad_inputs_fail_with_one_clear_line_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.wav");
    let demo = root().join("presets/demo.toml");
    let demo = demo.to_str().unwrap();
    let mid = root().join("presets/demo.mid");
    let mid = mid.to_str().unwrap();

    // Missing preset.
    let e = must_fail(
        &["--preset", "/no/such/preset.toml", "--midi", mid],
        &out,
        "/no/such/preset.toml",
    );
    assert!(e.contains("check the path"), "{e}");

    // Malformed preset: file, line and column, and what was expected.
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\nname = \"x\"\n[[rack]]\nname = \"r\"\nkeys = [10, 300]\n",
    )
    .unwrap();
    let e = must_fail(
        &["--preset", bad.to_str().unwrap(), "--midi", mid],
        &out,
        "bad.toml:5:8",
    );
    assert!(e.contains("0 <= low <= high <= 127"), "{e}");
    std::fs::write(&bad, "version = 1\nname = \"x\"\n[[rack\n").unwrap();
    must_fail(&["--preset", bad.to_str().unwrap()], &out, "bad.toml:3:");

    // Unknown built-in.
    std::fs::write(
        &bad,
        "version = 1\nname = \"x\"\n[[rack]]\nname = \"r\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"organ\"\n",
    )
    .unwrap();
    let e = must_fail(
        &["--preset", bad.to_str().unwrap()],
        &out,
        "unknown built-in plugin `organ`",
    );
    assert!(
        e.contains("bad.toml:5:1") && e.contains("synth, gain, probe"),
        "{e}"
    );

    // Missing and malformed MIDI file.
    must_fail(
        &["--preset", demo, "--midi", "/no/such.mid"],
        &out,
        "/no/such.mid",
    );
    let badmid = d.join("bad.mid");
    std::fs::write(&badmid, b"MThd garbage").unwrap();
    let e = must_fail(
        &["--preset", demo, "--midi", badmid.to_str().unwrap()],
        &out,
        "bad.mid",
    );
    assert!(e.contains("not a valid standard MIDI file"), "{e}");

    // Bad input WAV.
    must_fail(
        &["--preset", demo, "--input", badmid.to_str().unwrap()],
        &out,
        "cannot use input",
    );

    // Unwritable output: a missing folder, and a read-only one.
    let nowhere = d.join("missing-folder/out.wav");
    must_fail(
        &["--preset", demo, "--midi", mid],
        &nowhere,
        "missing-folder",
    );
    // Out-of-range options.
    must_fail(&["--preset", demo, "--block", "0"], &out, "--block 0");
    must_fail(&["--preset", demo, "--rate", "12"], &out, "--rate 12");
}

#[test]
fn an_existing_output_survives_a_failed_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keep.wav");
    std::fs::write(&out, b"precious").unwrap();
    let o = render(&[
        "--preset",
        "/no/such.toml",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}

#[test]
fn setlist_render_switches_on_program_change() {
    use midly::num::{u15, u28, u4, u7};
    let dir = tempfile::tempdir().unwrap();
    let probe = |level: f64| {
        format!("version = 1\nname = \"p\"\n[[rack]]\nname = \"p\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\nparams = {{ level = {level} }}\n")
    };
    std::fs::write(dir.path().join("one.toml"), probe(1.0)).unwrap();
    std::fs::write(dir.path().join("two.toml"), probe(0.5)).unwrap();
    let setlist = dir.path().join("set.toml");
    std::fs::write(
        &setlist,
        "version = 1\nname = \"s\"\n[[entry]]\npreset = \"one.toml\"\nprogram = 0\n[[entry]]\npreset = \"two.toml\"\nprogram = 1\n",
    )
    .unwrap();
    // 480 ticks per beat at 120 BPM: one tick = 50 frames at 48 kHz.
    let ev = |delta: u32, message| midly::TrackEvent {
        delta: u28::new(delta),
        kind: midly::TrackEventKind::Midi {
            channel: u4::new(0),
            message,
        },
    };
    let on = |key| midly::MidiMessage::NoteOn {
        key: u7::new(key),
        vel: u7::new(127),
    };
    let track = vec![
        ev(1, on(60)),
        ev(
            1,
            midly::MidiMessage::ProgramChange {
                program: u7::new(1),
            },
        ),
        ev(0, on(61)),
        ev(
            1,
            midly::MidiMessage::ProgramChange {
                program: u7::new(0),
            },
        ),
        ev(0, on(62)),
        midly::TrackEvent {
            delta: u28::new(0),
            kind: midly::TrackEventKind::Meta(midly::MetaMessage::EndOfTrack),
        },
    ];
    let smf = midly::Smf {
        header: midly::Header::new(
            midly::Format::SingleTrack,
            midly::Timing::Metrical(u15::new(480)),
        ),
        tracks: vec![track],
    };
    let mid = dir.path().join("set.mid");
    smf.save(&mid).unwrap();
    let out = dir.path().join("set.wav");
    let o = render(&[
        "--setlist",
        setlist.to_str().unwrap(),
        "--midi",
        mid.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (s, _) = read_wav(&out);
    let left: Vec<f32> = s.iter().step_by(2).copied().collect();
    let hits: Vec<(usize, f32)> = left
        .iter()
        .enumerate()
        .filter(|(_, x)| **x != 0.0)
        .map(|(i, x)| (i, *x))
        .collect();
    assert_eq!(hits, vec![(50, 1.0), (100, 0.5), (150, 1.0)]);
}

#[test]
fn check_lists_what_is_missing() {
    let o = bin()
        .args([
            "check",
            root().join("presets/setlist.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}");
    assert!(
        stdout.contains("demo.toml") && stdout.contains("bells.toml"),
        "{stdout}"
    );
    assert!(stdout.contains("all plugins found"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("missing.toml");
    std::fs::write(
        &p,
        "version = 1\nname = \"m\"\n[[rack]]\nname = \"lead\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.example.not-installed\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"gain\"\n",
    )
    .unwrap();
    let o = bin().args(["check", p.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("com.example.not-installed") && stdout.contains("MISSING"),
        "{stdout}"
    );
    assert!(stdout.contains("Stagerack Gain: ok"), "{stdout}");
    assert!(stdout.contains("1 plugin(s) missing"), "{stdout}");

    // A broken setlist is an error with its line.
    let s = dir.path().join("bad-set.toml");
    std::fs::write(
        &s,
        "version = 1\n[[entry]]\npreset = \"x.toml\"\nprogramme = 3\n",
    )
    .unwrap();
    let o = bin().args(["check", s.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("bad-set.toml:4:1") && stderr.contains("programme"),
        "{stderr}"
    );
}

#[test]
fn a_missing_plugin_is_left_out_with_a_warning_and_the_rest_plays() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        "version = 1\nname = \"m\"\n[[rack]]\nname = \"lead\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.example.not-installed\"\n[[rack]]\nname = \"probe\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"probe\"\n",
    )
    .unwrap();
    let mid = root().join("presets/demo.mid");
    let out = dir.path().join("o.wav");
    let o = render(&[
        "--preset",
        p.to_str().unwrap(),
        "--midi",
        mid.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: rack `lead`") && stderr.contains("com.example.not-installed"),
        "{stderr}"
    );
    let (s, _) = read_wav(&out);
    assert!(s.iter().any(|&x| x > 0.5), "the probe rack played");
}

#[test]
fn a_setlist_naming_a_missing_preset_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("set.toml");
    std::fs::write(
        &s,
        "version = 1\n[[entry]]\npreset = \"gone.toml\"\nprogram = 3\n",
    )
    .unwrap();
    let out = dir.path().join("o.wav");
    let o = render(&[
        "--setlist",
        s.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr.contains("gone.toml") && stderr.contains("check the path"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// A rendered WAV is created like any file the user makes: 0666 less the
/// umask (here 022: 0644), not 0600. Presets are saved through the same
/// temporary file (`stagerack_core::fs::temp_file_in`).
#[cfg(unix)]
#[test]
fn outputs_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    let preset = root().join("presets/demo.toml");
    let midi = root().join("presets/demo.mid");
    let script = format!(
        "umask 022 && exec \"$0\" render --preset {:?} --midi {:?} --out {:?} --quiet",
        preset.display().to_string(),
        midi.display().to_string(),
        out.display().to_string()
    );
    let o = Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_stagerack")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the WAV's mode {mode:o}");
}
