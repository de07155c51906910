//! Cross-check against another VST3 host: pedalboard (Spotify's JUCE-based
//! Python host). The same input goes through the same plugin at the same
//! block size in pedalboard and in stagerack; the outputs must agree to
//! 1e-6 per sample (after aligning any latency both report).
//!
//! pedalboard lives in a venv under `target/pedalboard-venv`, created here
//! when missing. If it cannot be created the test fails with the command
//! that fixes it.

mod vst3_common;
use std::path::{Path, PathBuf};
use std::process::Command;

use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::ProcessConfig;
use stagerack::session::Session;
use vst3_common::*;

const PEDALBOARD: &str = "pedalboard==0.9.26";
const RATE: usize = 48_000;

fn run_ok(cmd: &mut Command) -> Result<(), String> {
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The venv's python with pedalboard importable; creates it when missing.
fn pedalboard_python() -> PathBuf {
    let venv = workspace_root().join("target/pedalboard-venv");
    let py = venv.join("bin/python");
    let works =
        |py: &Path| run_ok(Command::new(py).args(["-c", "import pedalboard, numpy"])).is_ok();
    // One test at a time makes the venv: another one finding a half-made
    // venv (python there, pip not yet) would fail, as it did on a clean
    // checkout. The lock is released when the file closes.
    std::fs::create_dir_all(workspace_root().join("target")).unwrap();
    let lock = std::fs::File::create(workspace_root().join("target/pedalboard-venv.lock"))
        .expect("the venv's lock file");
    // (flock: File::lock is newer than the project's minimum Rust.)
    // SAFETY: flock on the open file's own descriptor, which lives until
    // the end of this function; it only waits for the other holder.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "the venv's lock");
    if py.exists() && works(&py) {
        return py;
    }
    let fix = format!(
        "python3 -m venv {v} && {v}/bin/pip install {PEDALBOARD} numpy",
        v = venv.display()
    );
    // No pip: never made, or made only partly (a run killed midway).
    if !venv.join("bin/pip").exists() {
        if let Err(e) = run_ok(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        ) {
            panic!(
                "cannot create the pedalboard venv ({e}).\nFix: `sudo apt-get install python3-venv` (Debian/Ubuntu), then `{fix}`"
            );
        }
    }
    if let Err(e) =
        run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", PEDALBOARD, "numpy"]))
    {
        panic!("cannot install pedalboard into the venv ({e}).\nFix: `{fix}` (needs network access to PyPI)");
    }
    assert!(
        works(&py),
        "pedalboard still not importable; run `{fix}` by hand"
    );
    py
}

fn write_planar(path: &Path, channels: &[&[f32]]) {
    let mut bytes = Vec::new();
    for ch in channels {
        for s in *ch {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn read_planar(path: &Path, channels: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let all: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let n = all.len() / channels;
    all.chunks(n).map(<[f32]>::to_vec).collect()
}

/// Runs tests/pedalboard/render.py; returns (channels, reported latency).
fn pedalboard_render(args: &[&str], out: &Path) -> (Vec<Vec<f32>>, usize) {
    let py = pedalboard_python();
    let script = workspace_root().join("tests/pedalboard/render.py");
    let o = Command::new(&py)
        .arg(&script)
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .expect("run render.py");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "render.py {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let field = |k: &str| -> usize {
        let at = line
            .find(&format!("\"{k}\": "))
            .unwrap_or_else(|| panic!("{k} in {line}"));
        line[at + k.len() + 4..]
            .split([',', '}'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (read_planar(out, field("channels")), field("latency"))
}

fn stagerack_latency(id: &str, bundle: &Path, block: usize) -> usize {
    let def = preset(&vst3_preset(id, bundle, "")).racks[0].plugins[0].clone();
    let mut inst = load_plugin(&def).unwrap();
    let p = inst
        .activate(&ProcessConfig {
            sample_rate: RATE as f64,
            min_block: 1,
            max_block: block as u32,
            offline: true,
            aux_outputs: 0,
        })
        .unwrap();
    let l = inst.latency() as usize;
    inst.deactivate(p);
    l
}

fn compare(name: &str, ours: &[f32], theirs: &[f32], ours_lat: usize, their_lat: usize) -> f32 {
    // pedalboard removes the latency it reports; stagerack does not.
    assert_eq!(ours_lat, their_lat, "{name}: latency differs");
    let n = theirs.len().min(ours.len() - ours_lat);
    assert!(n > RATE / 2, "{name}: only {n} frames to compare");
    let mut worst = (0.0f32, 0usize);
    for i in 0..n {
        let d = (ours[i + ours_lat] - theirs[i]).abs();
        if d > worst.0 {
            worst = (d, i);
        }
    }
    assert!(
        worst.0 <= 1e-6,
        "{name}: sample {} differs by {} (stagerack {}, pedalboard {})",
        worst.1,
        worst.0,
        ours[worst.1 + ours_lat],
        theirs[worst.1]
    );
    let energy: f32 = theirs.iter().map(|s| s * s).sum();
    assert!(energy > 1.0, "{name}: silent output proves nothing");
    worst.0
}

fn check_effect(bundle: &Path, mono: bool, gain: f32, block: usize, params: &[(&str, f64)]) {
    let d = class_of(bundle);
    let (l, r) = test_signal(RATE);
    let (l, r): (Vec<f32>, Vec<f32>) = if mono {
        let x: Vec<f32> = l.iter().map(|s| s * gain).collect();
        (x.clone(), x)
    } else {
        (
            l.iter().map(|s| s * gain).collect(),
            r.iter().map(|s| s * gain).collect(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.f32");
    let chans: Vec<&[f32]> = if mono { vec![&l] } else { vec![&l, &r] };
    write_planar(&input, &chans);
    let channels = chans.len().to_string();
    let block_s = block.to_string();
    let mut args = vec![
        bundle.to_str().unwrap().to_owned(),
        "--input".into(),
        input.to_str().unwrap().to_owned(),
        "--channels".into(),
        channels,
        "--block".into(),
        block_s,
    ];
    let mut extra = String::new();
    for (k, v) in params {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
        extra.push_str(&format!("{k} = {v}\n"));
    }
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("[rack.plugin.params]\n{extra}")
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (theirs, their_lat) = pedalboard_render(&args, &dir.path().join("out.f32"));
    let ours_lat = stagerack_latency(&d.id, bundle, block);
    let (mut session, mut engine) = Session::new(
        &preset(&vst3_preset(&d.id, bundle, &extra)),
        config(block),
        true,
    )
    .unwrap();
    assert!(session.warnings().is_empty(), "{:?}", session.warnings());
    // Compare the plugins' and hosts' reading of VST3, not our safety stage:
    // some test signals drive these effects above full scale.
    session.handle().set_safety_limiter(false);
    let out = render(
        &mut engine,
        &mut session,
        &[],
        Some([&l, &r]),
        block,
        RATE as u64,
    );
    session.shutdown(engine);
    let name = format!("{} at block {block}", d.name);
    let wl = compare(&name, &out.left, &theirs[0], ours_lat, their_lat);
    let theirs_r = theirs.get(1).unwrap_or(&theirs[0]);
    let wr = compare(&name, &out.right, theirs_r, ours_lat, their_lat);
    eprintln!(
        "{name}: max |stagerack - pedalboard| = {} (L), {} (R), latency {ours_lat}",
        wl, wr
    );
}

#[test]
fn zam_plugins_render_like_pedalboard() {
    let _main = main_thread_lock();
    let zam = |n: &str| PathBuf::from(format!("/usr/lib/vst3/{n}.vst3"));
    // Loud enough that the compressors work.
    check_effect(&zam("ZamComp"), true, 2.0, 64, &[]);
    check_effect(&zam("ZamCompX2"), false, 2.0, 64, &[]);
    check_effect(&zam("ZamEQ2"), true, 1.0, 512, &[]);
    // A saturator at an odd block size. (Not ZamTube: pedalboard's own
    // ZamTube renders differ from run to run by up to 1.9e-4 from the
    // second block on, about one run in ten, so it is no reference.)
    check_effect(&zam("ZamAutoSat"), true, 1.0, 7, &[]);
    check_effect(&zam("ZamGateX2"), false, 1.0, 64, &[]);
    // A look-ahead limiter: reports 480 frames of latency.
    check_effect(&zam("ZaMaximX2"), false, 2.0, 64, &[]);
}

#[test]
fn our_gain_renders_like_pedalboard() {
    let _main = main_thread_lock();
    let gain = own_bundle("Stagerack VST3 Gain");
    check_effect(&gain, false, 1.0, 64, &[]);
    // -24 dB: normalized 0.5.
    check_effect(&gain, false, 4.0, 7, &[("gain", 0.5)]);
}

#[test]
fn our_probe_renders_like_pedalboard() {
    let _main = main_thread_lock();
    let bundle = own_bundle("Stagerack VST3 Probe");
    let d = class_of(&bundle);
    let notes: Vec<(u64, u8)> = [0u64, 1, 63, 64, 65, 1000, 30_000]
        .iter()
        .enumerate()
        .map(|(i, &f)| (f, 30 + 13 * i as u8))
        .collect();
    let spec: Vec<String> = notes.iter().map(|(f, v)| format!("{f}:60:{v}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let (theirs, _) = pedalboard_render(
        &[
            bundle.to_str().unwrap(),
            "--notes",
            &spec.join(","),
            "--frames",
            &RATE.to_string(),
            "--block",
            "64",
        ],
        &dir.path().join("out.f32"),
    );
    let (mut session, mut engine) =
        Session::new(&preset(&vst3_preset(&d.id, &bundle, "")), config(64), true).unwrap();
    let events: Vec<_> = notes.iter().map(|&(f, v)| note_on(f, 60, v)).collect();
    let out = render(&mut engine, &mut session, &events, None, 64, RATE as u64);
    session.shutdown(engine);
    let n = theirs[0].len().min(out.left.len());
    for (i, (a, b)) in out.left[..n].iter().zip(&theirs[0][..n]).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6,
            "probe sample {i}: stagerack {a} pedalboard {b}"
        );
    }
    let hits = (0..n).filter(|&i| theirs[0][i] != 0.0).count();
    assert_eq!(hits, notes.len(), "pedalboard saw every note");
}

/// A `.vstpreset` another host saved (pedalboard: ZamComp with threshold
/// -30 dB and ratio 8) loads in stagerack through a preset's `vstpreset`
/// key, relative to the preset's folder: the plugin shows those values.
/// One of another plugin is refused by name.
#[test]
fn a_vstpreset_saved_by_pedalboard_loads() {
    let dir = tempfile::tempdir().unwrap();
    let zam = Path::new("/usr/lib/vst3/ZamComp.vst3");
    assert!(
        zam.exists(),
        "zam-plugins missing: run scripts/ensure-deps test"
    );
    let out = Command::new(pedalboard_python())
        .arg(workspace_root().join("tests/pedalboard/vstpreset.py"))
        .arg(zam)
        .args(["--set", "threshold_db=-30", "--set", "ratio=8"])
        .arg("--output")
        .arg(dir.path().join("comp.vstpreset"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pedalboard: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = class_of(zam).id;
    let preset_text = format!(
        "version = 1\nname = \"p\"\n[[rack]]\nname = \"comp\"\n[[rack.plugin]]\n\
         format = \"vst3\"\nid = \"{id}\"\npath = \"{}\"\nvstpreset = \"comp.vstpreset\"\n",
        zam.display()
    );
    let preset_path = dir.path().join("show.toml");
    std::fs::write(&preset_path, &preset_text).unwrap();
    let preset = stagerack::preset::load_preset(&preset_path).unwrap();
    let config = stagerack::engine::EngineConfig {
        sample_rate: RATE as f64,
        max_block: 64,
        queues: Default::default(),
    };
    let (mut s, e) = Session::new(&preset, config, true).unwrap();
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let inst = s.plugin_mut(0, 0).unwrap();
    let text_of = |name: &str| {
        let p = inst
            .params()
            .into_iter()
            .find(|p| p.name.to_lowercase().starts_with(name))
            .unwrap_or_else(|| panic!("no parameter `{name}`"));
        let v = inst.param_value(p.id).unwrap();
        inst.param_text(p.id, v).unwrap()
    };
    let (threshold, ratio) = (text_of("threshold"), text_of("ratio"));
    assert!(threshold.starts_with("-30"), "threshold {threshold}");
    assert!(ratio.starts_with('8'), "ratio {ratio}");
    Session::shutdown(s, e);

    // The same file named by another plugin is refused, naming both.
    let probe = own_bundle("Stagerack VST3 Probe");
    let other = preset_text
        .replace(&id, &class_of(&probe).id)
        .replace(&zam.display().to_string(), &probe.display().to_string());
    std::fs::write(&preset_path, other).unwrap();
    let preset = stagerack::preset::load_preset(&preset_path).unwrap();
    let (s, e) = Session::new(&preset, config, true).unwrap();
    let warnings = s.warnings().join("\n");
    assert!(
        warnings.contains(".vstpreset was saved from class") && warnings.contains(&id),
        "{warnings}"
    );
    Session::shutdown(s, e);
}
