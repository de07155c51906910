//! Racks on a worker pool render bit for bit what one thread renders:
//! `stagerack render --threads 1/2/4` (and sandboxed racks at 2 and 4)
//! with CLAP, VST3 and built-in
//! plugins, and a setlist switching presets mid-song while the old one's
//! notes ring out. The mix runs after every rack in a fixed order, so the
//! thread that happened to run a rack can never show in the output.

mod vst3_common;

use std::path::Path;
use std::process::Command;

use midly::num::{u15, u28, u4, u7};

/// Renders `what` (`--preset FILE` or `--setlist FILE`) playing `midi` on
/// `threads` threads; returns the WAV's bytes.
fn render(what: [&str; 2], midi: &Path, out: &Path, threads: usize) -> Vec<u8> {
    render_with(what, &[], midi, out, threads)
}

/// [`render`] with `extra` arguments.
fn render_with(
    what: [&str; 2],
    extra: &[&str],
    midi: &Path,
    out: &Path,
    threads: usize,
) -> Vec<u8> {
    let result = Command::new(stagerack_tests::stagerack_bin())
        .env("RUST_LOG", "info")
        .args(["render", "--quiet", "--threads", &threads.to_string()])
        .args(extra)
        .args(what)
        .arg("--midi")
        .arg(midi)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run stagerack render");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "render --threads {threads} failed: {stderr}"
    );
    assert!(
        stderr.contains(&format!("racks run on {threads} threads")),
        "render --threads {threads} did not run on that many threads: {stderr}"
    );
    assert!(
        !stderr.contains("left out") && !stderr.contains("panicked"),
        "render --threads {threads} lost a plugin: {stderr}"
    );
    assert!(
        !extra.contains(&"--sandbox") || stderr.contains("sandbox process"),
        "render {extra:?} ran no sandbox process: {stderr}"
    );
    std::fs::read(out).expect("read the rendered WAV")
}

/// Samples above -60 dBFS in a WAV's bytes.
fn loud_samples(path: &Path) -> usize {
    hound::WavReader::open(path)
        .unwrap()
        .into_samples::<f32>()
        .map(Result::unwrap)
        .filter(|x| x.abs() > 1e-3)
        .count()
}

/// Renders at 1, 2 and 4 threads and asserts every render is the first.
fn assert_identical_at_every_thread_count(what: [&str; 2], midi: &Path, dir: &Path) {
    let one = dir.join("threads-1.wav");
    let reference = render(what, midi, &one, 1);
    let loud = loud_samples(&one);
    assert!(
        loud > 48_000,
        "the one-thread render is nearly silent ({loud} loud samples)"
    );
    for threads in [2, 4] {
        let out = dir.join(format!("threads-{threads}.wav"));
        let got = render(what, midi, &out, threads);
        assert!(
            got == reference,
            "render --threads {threads} differs from --threads 1 ({} loud samples against {loud})",
            loud_samples(&out)
        );
    }
}

#[test]
fn clap_vst3_and_builtin_racks_render_bit_identically_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let synth = stagerack_tests::clap_bundle("stagerack-synth");
    let gain = stagerack_tests::clap_bundle("stagerack-gain");
    let probe = vst3_common::own_bundle("Stagerack VST3 Probe");
    let vgain = vst3_common::own_bundle("Stagerack VST3 Gain");
    let probe_id = vst3_common::class_of(&probe).id;
    let vgain_id = vst3_common::class_of(&vgain).id;
    // Six racks, more than threads: each thread takes several.
    let mut preset = String::from("version = 1\nname = \"threads\"\n");
    for copy in 0..2 {
        preset += &format!(
            r#"
[[rack]]
name = "clap{copy}"
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
name = "vst3{copy}"
[[rack.plugin]]
format = "vst3"
id = "{probe_id}"
path = "{probe}"
[[rack.plugin]]
format = "vst3"
id = "{vgain_id}"
path = "{vgain}"

[[rack]]
name = "builtin{copy}"
pan = -0.5
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
    }
    let path = dir.path().join("threads.toml");
    std::fs::write(&path, preset).unwrap();
    let midi = stagerack_tests::workspace_root().join("presets/demo.mid");
    let what = ["--preset", path.to_str().unwrap()];
    assert_identical_at_every_thread_count(what, &midi, dir.path());
    // Sandboxed racks (a child process each, started before the other
    // racks run and joined with them) at 2 and 4 threads: the same bytes
    // as every plugin in process on one thread.
    let reference = std::fs::read(dir.path().join("threads-1.wav")).unwrap();
    for threads in [2, 4] {
        let out = dir.path().join(format!("sandboxed-{threads}.wav"));
        let got = render_with(what, &["--sandbox", "rack"], &midi, &out, threads);
        assert!(
            got == reference,
            "render --sandbox rack --threads {threads} differs from in process on one thread"
        );
    }
}

#[test]
fn a_setlist_switching_while_notes_ring_renders_bit_identically_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    // The example setlist (demo: three racks; bells), switched by program
    // change while chords of the first song still ring.
    let setlist = stagerack_tests::workspace_root().join("presets/setlist.toml");
    let ev = |delta: u32, message| midly::TrackEvent {
        delta: u28::new(delta),
        kind: midly::TrackEventKind::Midi {
            channel: u4::new(0),
            message,
        },
    };
    let on = |key| midly::MidiMessage::NoteOn {
        key: u7::new(key),
        vel: u7::new(100),
    };
    let off = |key| midly::MidiMessage::NoteOff {
        key: u7::new(key),
        vel: u7::new(0),
    };
    let program = |p| midly::MidiMessage::ProgramChange {
        program: u7::new(p),
    };
    // 480 ticks a beat at 120 BPM.
    let mut track = Vec::new();
    for (song, keys) in [(0u8, [40u8, 64, 67]), (1, [72, 76, 79]), (0, [43, 62, 71])] {
        track.push(ev(120, program(song)));
        for k in keys {
            track.push(ev(0, on(k)));
        }
        track.push(ev(720, off(keys[0])));
        track.push(ev(0, off(keys[1])));
        track.push(ev(0, off(keys[2])));
    }
    track.push(midly::TrackEvent {
        delta: u28::new(1920),
        kind: midly::TrackEventKind::Meta(midly::MetaMessage::EndOfTrack),
    });
    let smf = midly::Smf {
        header: midly::Header::new(
            midly::Format::SingleTrack,
            midly::Timing::Metrical(u15::new(480)),
        ),
        tracks: vec![track],
    };
    let midi = dir.path().join("switching.mid");
    smf.save(&midi).unwrap();
    assert_identical_at_every_thread_count(
        ["--setlist", setlist.to_str().unwrap()],
        &midi,
        dir.path(),
    );
}
