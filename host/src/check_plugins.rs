//! `stagerack check --plugins [--path DIR]…`: a smoke test of the user's
//! own plugins. Every plugin file is opened by `stagerack check-one FILE`
//! in a child process with a timeout; for each plugin in it the child
//! loads it, plays it through the real engine at 48 kHz/64 frames and at
//! 44.1 kHz/512 (a note for an instrument, noise for an effect), lists its
//! parameters, saves its state, restores it into a fresh instance and saves
//! again, then deactivates and unloads it. The parent prints a table (or
//! JSON) and blacklists files whose plugins crash or hang. Main thread.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::{EngineConfig, QueueCapacities};
use crate::io::offline::{render_offline, OfflineJob};
use crate::midi::file::SampleEvent;
use crate::midi::Event;
use crate::plugin::loader::load_plugin;
use crate::plugin::scan::cache::{Blacklisted, FileKey, ScanCache};
use crate::plugin::scan::child::{plugin_files, scan_one, signal_of};
use crate::plugin::{PluginDescriptor, PluginKind};
use crate::preset::{parse_preset, PluginDef};
use crate::session::Session;

/// Seconds of audio played at each configuration.
const PLAY_SECONDS: f64 = 1.0;
/// A peak under this is silence (-100 dBFS).
const SILENCE: f32 = 1e-5;

/// What the check found for one plugin. Child and parent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PluginVerdict {
    /// The plugin file.
    pub file: PathBuf,
    /// `clap` or `vst3`.
    pub format: String,
    /// The plugin's id.
    pub id: String,
    /// The plugin's name.
    pub name: String,
    /// `ok`, or every problem found, most serious first.
    pub problems: Vec<String>,
    /// Average process time per 64-frame buffer at 48 kHz, microseconds.
    pub cpu_us_per_buffer: Option<f64>,
    /// Parameters listed.
    pub params: Option<usize>,
    /// With `--editors`: "none", "ok (W×H)" or what went wrong opening it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub editor: Option<String>,
}

impl PluginVerdict {
    /// `ok`, or the problems joined. Any thread.
    pub fn result(&self) -> String {
        if self.problems.is_empty() {
            "ok".to_owned()
        } else {
            self.problems.join("; ")
        }
    }
}

/// Options of the parent.
#[derive(Clone, Debug)]
pub struct CheckPluginsOptions {
    /// Folders or plugin files (empty: the standard CLAP and VST3 folders).
    pub paths: Vec<PathBuf>,
    /// The longest one file's checks may take.
    pub timeout: Duration,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Also open and close each plugin's editor.
    pub editors: bool,
    /// The program that answers `check-one FILE` (this binary).
    pub program: PathBuf,
}

/// `stagerack check --plugins`: checks every plugin file, prints the
/// result, blacklists crashing and hanging files. Main thread.
pub fn check_plugins(opts: &CheckPluginsOptions) -> ExitCode {
    let dirs = if opts.paths.is_empty() {
        crate::plugin::scan::default_paths()
    } else {
        opts.paths.clone()
    };
    let files = plugin_files(&dirs);
    if files.is_empty() {
        eprintln!(
            "no plugin files in {}",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::FAILURE;
    }
    let mut cache = ScanCache::load();
    let mut verdicts = Vec::new();
    for (n, file) in files.iter().enumerate() {
        if !opts.json {
            eprintln!("[{}/{}] {}", n + 1, files.len(), file.display());
        }
        let (found, broke) = check_file_in_child(file, opts);
        if let (Some(reason), Some(key)) = (broke, FileKey::of(file)) {
            cache.files.remove(file);
            cache
                .blacklist
                .insert(file.clone(), Blacklisted { key, reason });
        }
        verdicts.extend(found);
    }
    if let Err(e) = cache.save() {
        eprintln!("warning: cannot write the scan cache (blacklist): {e}");
    }
    if opts.json {
        match serde_json::to_string_pretty(&verdicts) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: {e}"),
        }
    } else {
        print!("{}", table(&verdicts));
    }
    let bad = verdicts.iter().filter(|v| !v.problems.is_empty()).count();
    if !opts.json {
        println!(
            "{} plugin(s) checked, {} ok, {bad} with problems",
            verdicts.len(),
            verdicts.len() - bad
        );
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The verdicts as a table. Any thread.
pub fn table(verdicts: &[PluginVerdict]) -> String {
    let name_w = verdicts
        .iter()
        .map(|v| v.name.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    // An editor column only when editors were checked (`--editors`).
    let editor_w = verdicts
        .iter()
        .filter_map(|v| v.editor.as_ref().map(|e| e.chars().count()))
        .max()
        .map(|w| w.max(6));
    let editor_cell = |text: &str| editor_w.map_or_else(String::new, |w| format!("{text:<w$}  "));
    let mut s = format!(
        "{:<name_w$}  {:<6}  {:>12}  {}result\n",
        "plugin",
        "format",
        "cpu/buffer",
        editor_cell("editor")
    );
    for v in verdicts {
        let cpu = v
            .cpu_us_per_buffer
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.1} us"));
        s.push_str(&format!(
            "{:<name_w$}  {:<6}  {:>12}  {}{}\n",
            v.name,
            v.format,
            cpu,
            editor_cell(v.editor.as_deref().unwrap_or("-")),
            v.result()
        ));
    }
    s
}

/// Runs `PROGRAM check-one FILE`: the verdicts it printed, and why the
/// file is to be blacklisted when it crashed or hung (its unfinished
/// plugin gets that verdict).
fn check_file_in_child(
    file: &Path,
    opts: &CheckPluginsOptions,
) -> (Vec<PluginVerdict>, Option<String>) {
    let unfinished = |id: &str, name: &str, why: &str| failed(file, id, name, why.to_owned());
    let mut command = Command::new(&opts.program);
    command.arg("check-one").arg(file);
    if opts.editors {
        command.arg("--editors");
    }
    let mut child = match command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let why = format!("the checker could not start ({e})");
            return (vec![unfinished("?", &file_name(file), &why)], None);
        }
    };
    // Lines are read on a thread, so a hung child cannot block us.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= opts.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    // The reader thread ends with the pipe; take what it read.
    let mut lines = Vec::new();
    let end = Instant::now() + Duration::from_secs(2);
    while let Ok(l) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        lines.push(l);
    }
    let mut verdicts = Vec::new();
    let mut current: Option<(String, String)> = None;
    // The plugin whose editor was being opened (its audio verdict given).
    let mut in_editor: Option<PluginVerdict> = None;
    for l in &lines {
        if let Some(rest) = l.strip_prefix("begin ") {
            let (id, name) = rest.split_once('\t').unwrap_or((rest, rest));
            current = Some((id.to_owned(), name.to_owned()));
        } else if let Some(rest) = l.strip_prefix("editor ") {
            in_editor = serde_json::from_str::<PluginVerdict>(rest).ok();
        } else if let Ok(v) = serde_json::from_str::<PluginVerdict>(l) {
            verdicts.push(v);
            current = None;
            in_editor = None;
        }
    }
    if let (Some(mut v), Some(s)) = (in_editor, status.as_ref()) {
        // Its GUI took the checker down: say so, keep its audio verdict,
        // and do not blacklist the file (a stage PC never opens editors).
        if let Some(sig) = signal_of(s) {
            let said = format!("its editor crashed the checker (signal {sig})");
            v.editor = Some(said.clone());
            v.problems.push(said);
            verdicts.push(v);
            return (verdicts, None);
        }
    }
    let why = match status {
        None => Some(format!(
            "hung: no answer within {:.0} s",
            opts.timeout.as_secs_f64()
        )),
        Some(s) => signal_of(&s).map(|sig| format!("crashed (signal {sig})")),
    };
    match (why, current) {
        (Some(why), Some((id, name))) => {
            verdicts.push(unfinished(&id, &name, &why));
            (verdicts, Some(why))
        }
        (Some(why), None) => {
            verdicts.push(unfinished("?", &file_name(file), &why));
            (verdicts, Some(why))
        }
        (None, _) => {
            if verdicts.is_empty() {
                verdicts.push(unfinished(
                    "?",
                    &file_name(file),
                    "no plugin could be read from the file",
                ));
            }
            (verdicts, None)
        }
    }
}

/// The verdict of a plugin (or a file) the checks could not run on.
fn failed(file: &Path, id: &str, name: &str, why: String) -> PluginVerdict {
    let vst3 = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("vst3"));
    PluginVerdict {
        file: file.to_owned(),
        format: if vst3 { "vst3" } else { "clap" }.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
        problems: vec![why],
        cpu_us_per_buffer: None,
        params: None,
        editor: None,
    }
}

fn file_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `stagerack check-one FILE`: checks every plugin in the file here,
/// printing `begin ID<TAB>NAME` before each and its verdict as one JSON
/// line after (flushed, so a crash names the plugin). Main thread of the
/// child.
pub fn run_check_one(file: &Path, editors: bool) -> ExitCode {
    use std::io::Write;
    let answer = scan_one(file);
    if let Some(e) = answer.error {
        let v = failed(file, "?", &file_name(file), format!("failed to load: {e}"));
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        return ExitCode::FAILURE;
    }
    for d in &answer.plugins {
        println!("begin {}\t{}", d.id, d.name);
        let _ = std::io::stdout().flush();
        let mut v = check_plugin(d, file);
        if editors && v.problems.iter().all(|p| !p.starts_with("failed to load")) {
            // The audio verdict first, so a GUI that crashes us loses
            // nothing else.
            println!("editor {}", serde_json::to_string(&v).unwrap_or_default());
            let _ = std::io::stdout().flush();
            let (said, problem) = check_editor(d, file);
            v.editor = Some(said);
            v.problems.extend(problem);
        }
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        let _ = std::io::stdout().flush();
    }
    ExitCode::SUCCESS
}

/// Opens the plugin's editor in a one-rack session, as the window would,
/// and closes it: what to show in the editor column, and the problem when
/// it failed. Main thread of the child.
fn check_editor(d: &PluginDescriptor, file: &Path) -> (String, Option<String>) {
    if let Err(e) = crate::editor::check_display() {
        let said = format!("not checked: {e}");
        return (said.clone(), Some(format!("editor {said}")));
    }
    let text = format!(
        "version = 1\nname = \"check\"\n[[rack]]\nname = \"check\"\n[[rack.plugin]]\n\
         format = \"{}\"\nid = \"{}\"\npath = {:?}\n",
        d.format,
        d.id,
        file.display().to_string()
    );
    let config = EngineConfig {
        sample_rate: 48_000.0,
        max_block: 64,
        queues: QueueCapacities::default(),
    };
    let preset = match parse_preset(&text, Path::new("check.toml")) {
        Ok(p) => p,
        Err(e) => {
            return (
                "not checked".into(),
                Some(format!("editor not checked: {e}")),
            )
        }
    };
    let (mut session, engine) = match Session::new(&preset, config, true) {
        Ok(s) => s,
        Err(e) => {
            return (
                "not checked".into(),
                Some(format!("editor not checked: {e}")),
            )
        }
    };
    let verdict = match session.open_editor(0, 0) {
        Ok(info) => {
            let _ = session.close_editor(0, 0);
            (format!("ok ({}×{})", info.width, info.height), None)
        }
        Err(e) => {
            let e = e.to_string();
            if e.contains("has no editor") {
                ("none".to_owned(), None)
            } else {
                ("failed".to_owned(), Some(format!("editor: {e}")))
            }
        }
    };
    session.shutdown(engine);
    verdict
}

/// Every check of one plugin. Main thread.
fn check_plugin(d: &PluginDescriptor, file: &Path) -> PluginVerdict {
    let mut v = PluginVerdict {
        file: file.to_owned(),
        format: d.format.to_string(),
        id: d.id.clone(),
        name: d.name.clone(),
        problems: Vec::new(),
        cpu_us_per_buffer: None,
        params: None,
        editor: None,
    };
    let def = PluginDef {
        format: d.format,
        id: d.id.clone(),
        name: None,
        path: Some(file.to_owned()),
        state: None,
        params: Default::default(),
        bypass: false,
        vstpreset: None,
        vstpreset_bytes: None,
        program: None,
        expressions: Default::default(),
        file: None,
        file_base: None,
        cues: Vec::new(),
        outputs: Default::default(),
    };
    let instrument = d.kind == PluginKind::Instrument;
    // Each configuration's problems; one seen in both is said once, one
    // seen in only one names its configuration.
    let configs = [(48_000.0, 64usize), (44_100.0, 512)];
    let mut seen: Vec<Vec<String>> = Vec::new();
    for (rate, block) in configs {
        match play(&def, instrument, rate, block) {
            Ok(p) => {
                if block == 64 {
                    v.cpu_us_per_buffer = p.cpu_us_per_buffer;
                    v.params = Some(p.params);
                    v.problems.extend(p.state_problem);
                }
                seen.push(p.problems);
            }
            Err(e) => {
                v.problems.push(e);
                return v;
            }
        }
    }
    for (k, problems) in seen.iter().enumerate() {
        for problem in problems {
            let everywhere = seen.iter().all(|other| other.contains(problem));
            let said = if everywhere {
                problem.clone()
            } else {
                let (rate, block) = configs[k];
                format!("{problem} (at {} Hz, {block} frames)", rate as u32)
            };
            if !v.problems.contains(&said) {
                v.problems.push(said);
            }
        }
    }
    v
}

/// What one configuration showed.
struct Played {
    problems: Vec<String>,
    cpu_us_per_buffer: Option<f64>,
    params: usize,
    state_problem: Option<String>,
}

/// Plays the plugin alone in a rack through the engine, offline. Err: it
/// could not be loaded or activated.
fn play(def: &PluginDef, instrument: bool, rate: f64, block: usize) -> Result<Played, String> {
    let text = format!(
        "version = 1\nname = \"check\"\n[[rack]]\nname = \"check\"\n[[rack.plugin]]\nformat = \"{}\"\nid = {}\npath = {}\n",
        def.format,
        toml_string(&def.id),
        toml_string(&def.path.as_deref().unwrap_or(Path::new("")).display().to_string()),
    );
    let preset = parse_preset(&text, Path::new("check.toml")).map_err(|e| e.to_string())?;
    let config = EngineConfig {
        sample_rate: rate,
        max_block: block,
        queues: QueueCapacities::default(),
    };
    let (mut session, mut engine) =
        Session::new(&preset, config, true).map_err(|e| e.to_string())?;
    if session.racks().first().is_none_or(|r| r.slots.is_empty()) {
        let why = session.warnings().join("; ");
        session.shutdown(engine);
        return Err(format!("failed to load: {why}"));
    }
    let frames = (PLAY_SECONDS * rate) as u64;
    let events = if instrument {
        vec![
            SampleEvent {
                frame: 0,
                event: Event::NoteOn {
                    channel: 0,
                    key: 60,
                    velocity: 0.8,
                    note_id: -1,
                },
            },
            SampleEvent {
                frame: frames / 2,
                event: Event::NoteOff {
                    channel: 0,
                    key: 60,
                    velocity: 0.5,
                    note_id: -1,
                },
            },
        ]
    } else {
        Vec::new()
    };
    let noise = noise(frames as usize);
    let out = render_offline(
        &mut engine,
        &OfflineJob {
            events: &events,
            input: (!instrument).then_some([&noise[..], &noise[..]]),
            block,
            min_frames: frames,
            max_tail_frames: 0,
            silence_frames: 0,
        },
        |_| {
            session.pump();
        },
    );
    let mut problems = Vec::new();
    let rack = &session.racks()[0];
    let slot = &rack.slots[0];
    let st = &slot.status;
    if st.panicked.load(Ordering::Relaxed) {
        problems.push("panicked in process".to_owned());
    } else if st.failed.load(Ordering::Relaxed) && !st.bad_output.load(Ordering::Relaxed) {
        problems.push("process returned an error".to_owned());
    }
    if st.bad_output.load(Ordering::Relaxed) {
        problems.push("NaN, infinite or runaway output".to_owned());
    }
    if rack.status.dc_fault.load(Ordering::Relaxed) {
        problems.push("DC offset in its output".to_owned());
    }
    if st.allocs.load(Ordering::Relaxed) > 0 {
        problems.push("allocates in process (a real-time violation)".to_owned());
    }
    let st_calls = st.processed.load(Ordering::Relaxed);
    let calls = st_calls.max(1);
    let avg_ns = st.cpu_ns.load(Ordering::Relaxed) as f64 / calls as f64;
    let period_ns = block as f64 / rate * 1e9;
    // Only a plugin slower than real time is judged here (a busy machine
    // cannot make a fine plugin look that slow); the table shows every
    // plugin's cost for people to weigh.
    if avg_ns > period_ns {
        problems.push(format!(
            "cannot keep up in real time ({:.0} % of the period per buffer)",
            100.0 * avg_ns / period_ns
        ));
    }
    let peak = out
        .left
        .iter()
        .chain(&out.right)
        .fold(0.0f32, |m, x| m.max(x.abs()));
    let failed = st.failed.load(Ordering::Relaxed) || st.panicked.load(Ordering::Relaxed);
    if instrument && peak < SILENCE && !failed {
        problems.push("silent instrument (a held note gave no sound)".to_owned());
    }
    let latency = slot.instance.latency();
    if f64::from(latency) > rate {
        problems.push(format!(
            "reports a latency of {latency} frames (over a second)"
        ));
    }
    // What the session had to say while loading, activating and playing it
    // (a failed activation, a plugin that asked for a restart, …), when
    // the checks above found nothing (they would say it twice).
    if problems.is_empty() {
        problems.extend(session.warnings().iter().map(|w| format!("warning: {w}")));
    }
    let params = slot.instance.params().len();
    let state_problem = if block == 64 {
        state_round_trip(&mut session, def)
    } else {
        None
    };
    session.shutdown(engine);
    Ok(Played {
        problems,
        // None when it never processed (bypassed at activation).
        cpu_us_per_buffer: (st_calls > 0).then_some(avg_ns / 1e3),
        params,
        state_problem,
    })
}

/// Saves the state, restores it into a fresh instance and saves again:
/// the two saves must be equal. A problem in words, or None.
fn state_round_trip(session: &mut Session, def: &PluginDef) -> Option<String> {
    let plugin = session.plugin_mut(0, 0)?;
    let first = match plugin.save_state() {
        Ok(s) => s,
        Err(e) => return Some(format!("state cannot be saved: {e}")),
    };
    let mut fresh = match load_plugin(def) {
        Ok(p) => p,
        Err(e) => return Some(format!("a second instance failed to load: {e}")),
    };
    if let Err(e) = fresh.load_state(&first) {
        return Some(format!("its own state is refused on restore: {e}"));
    }
    match fresh.save_state() {
        Ok(second) if second == first => None,
        Ok(_) => Some("state not reproducible (saved, restored and saved again: differs)".into()),
        Err(e) => Some(format!("state cannot be saved after a restore: {e}")),
    }
}

/// White noise at -12 dBFS (a fixed sequence: every run feeds the same).
fn noise(frames: usize) -> Vec<f32> {
    let mut x: u32 = 0x1234_5678;
    (0..frames)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 * 2.0 - 1.0) * 0.25
        })
        .collect()
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
