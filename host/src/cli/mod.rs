//! The `stagerack` command line. Main thread.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::headless::{run_headless, HeadlessOptions};
use crate::io::{BackendKind, NamedChoice, StreamOptions};
use crate::render::{render, RenderOptions, SampleFormat};

/// A command-line parser for a setting the io layer names
/// ([`NamedChoice`]): its names are the possible values. Main thread.
pub fn choice<T: NamedChoice>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(T::all().iter().map(|v| v.name()))
        .map(|name| T::from_name(&name).expect("clap accepted only the possible values"))
}

/// stagerack: a live-performance plugin host.
///
/// Without a subcommand it plays a preset live (headless) until Ctrl-C:
/// `stagerack --preset show.toml [--backend jack]`.
#[derive(Debug, Parser)]
#[command(
    name = "stagerack",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (none: play `--preset` live).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the live (headless) mode.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// Options of the live (headless) mode: `stagerack --preset FILE ...`.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// The preset (TOML) to play live.
    #[arg(long, value_name = "FILE", conflicts_with = "setlist")]
    pub preset: Option<PathBuf>,
    /// A setlist (TOML) to play live: every preset loaded at start,
    /// switched by program change (with bank select), next/previous CC or
    /// trigger notes at the trigger's exact sample.
    #[arg(long, value_name = "FILE")]
    pub setlist: Option<PathBuf>,
    /// The audio backend (default: JACK when a JACK server answers, else
    /// ALSA, on Linux; ASIO if installed, else WASAPI, on Windows;
    /// CoreAudio on macOS).
    #[arg(long, value_parser = choice::<BackendKind>())]
    pub backend: Option<BackendKind>,
    /// Client name shown to other applications (JACK client name).
    #[arg(long, default_value = "stagerack", value_name = "NAME")]
    pub name: String,
    /// Sample rate in Hz (JACK: must match the server's).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Buffer size in frames (JACK: asks the server for it).
    #[arg(long, value_name = "FRAMES")]
    pub buffer: Option<u32>,
    /// Connect the outputs: `auto` (physical playback ports, the default),
    /// `none`, or a port-name regular expression (repeatable).
    #[arg(long, value_name = "auto|none|PATTERN")]
    pub connect: Vec<String>,
    /// Connect MIDI sources: JACK, a port-name regular expression (`all`:
    /// every physical MIDI source); dummy backend, a midir input name
    /// substring (`all`: every input). Repeatable; sources that appear later
    /// are connected when they show up.
    #[arg(long = "midi-in", value_name = "PATTERN")]
    pub midi_in: Vec<String>,
    /// Register stereo audio inputs (in_L, in_R) feeding the racks.
    #[arg(long)]
    pub audio_in: bool,
    /// How MIDI without sample stamps (midir inputs, `--backend dummy`) is
    /// placed: `steady` (one period of latency, no jitter) or `immediate`
    /// (lowest latency, up to a period of jitter). JACK MIDI is always
    /// sample-exact.
    #[arg(long, value_parser = choice::<crate::io::midi_stream::MidiTiming>(), default_value = "steady")]
    pub midi_timing: crate::io::midi_stream::MidiTiming,
    /// JACK only: position MIDI by its in-cycle frame (`frames`, exact) or
    /// by its system-clock time through the steady/immediate path
    /// (`clock`, for measuring that path).
    #[arg(long, value_parser = choice::<crate::io::MidiSource>(), default_value = "frames")]
    pub midi_source: crate::io::MidiSource,
    /// Seconds between status lines.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub status_every: f64,
    /// No status lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Listen for control clients (the rack window, `stagerack-ui
    /// --attach`) on a local socket; without a path, the default one in the
    /// user's runtime folder.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1)]
    pub control: Option<Option<PathBuf>>,
    /// Serve OSC on this UDP port (TouchOSC, Open Stage Control; addresses
    /// in docs/REMOTE.md); 0 picks a free port and prints it.
    #[arg(long, value_name = "PORT")]
    pub osc: Option<u16>,
    /// The address the OSC server binds (default 127.0.0.1: this machine
    /// only; 0.0.0.0: every network).
    #[arg(long, value_name = "ADDR", requires = "osc")]
    pub osc_bind: Option<std::net::IpAddr>,
    /// Serve the web remote (a page for a phone or tablet: setlist, next,
    /// previous, PANIC, meters) on this TCP port; 0 picks a free port and
    /// prints it.
    #[arg(long, value_name = "PORT")]
    pub web: Option<u16>,
    /// The address the web remote binds (default 127.0.0.1: this machine
    /// only). Any other (0.0.0.0: every network) makes every request need
    /// the token printed at start.
    #[arg(long, value_name = "ADDR", requires = "web")]
    pub web_bind: Option<std::net::IpAddr>,
    /// Where plugins run, for every rack of this run (overrides the
    /// preset's `sandbox` settings): `none` (in this process), `rack` (each
    /// rack's chain in a child process), `plugin` (each plugin in its own).
    /// A sandboxed plugin that crashes or hangs is relaunched with its
    /// state while everything else keeps playing.
    #[arg(long, value_name = "none|rack|plugin")]
    pub sandbox: Option<crate::plugin::sandbox::SandboxMode>,
    /// Threads that process racks in parallel, the audio callback's own
    /// counting as one (default: one per core; 1: all on the callback
    /// thread). The output is the same bit for bit at any count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a preset playing a MIDI file to a WAV file, offline.
    Render(RenderArgs),
    /// List the backends, audio devices and MIDI inputs.
    Devices,
    /// List the plugins in folders (default: the CLAP and VST3 search
    /// paths). Each file is opened in a child process; results are cached
    /// and files that crash, hang or fail are blacklisted.
    Scan(ScanArgs),
    /// Check every plugin of one file in this process, printing a JSON
    /// verdict per plugin (what `check --plugins` runs in its children).
    #[command(hide = true)]
    CheckOne {
        /// The .clap file or .vst3 bundle.
        file: PathBuf,
        /// Also open and close each plugin's editor.
        #[arg(long)]
        editors: bool,
    },
    /// Host sandboxed plugins for the engine that started this process
    /// (requests on stdin, audio through shared memory).
    #[command(hide = true)]
    SandboxChild,
    /// Open one plugin file in this process and print its plugins as JSON
    /// (what `scan` runs in its child processes).
    #[command(hide = true)]
    ScanOne {
        /// The .clap file or .vst3 bundle.
        file: PathBuf,
    },
    /// Validate a preset or setlist and try loading every plugin it names;
    /// or, with --plugins, smoke-test every installed plugin.
    Check {
        /// The preset or setlist file.
        #[arg(required_unless_present = "plugins", conflicts_with = "plugins")]
        file: Option<PathBuf>,
        /// Check every plugin in the standard CLAP and VST3 folders (or
        /// --path), each file in a child process with a timeout: load,
        /// activate at 48 kHz/64 and 44.1 kHz/512 frames, play a note (an
        /// instrument) or noise (an effect), save/restore/save its state,
        /// list its parameters, unload. Files that crash or hang are
        /// blacklisted (exit status 1 when any plugin has a problem).
        #[arg(long)]
        plugins: bool,
        /// With --plugins: a folder or plugin file to check instead of the
        /// standard folders; repeat for several.
        #[arg(long, value_name = "DIR", requires = "plugins")]
        path: Vec<PathBuf>,
        /// With --plugins: a JSON array instead of a table.
        #[arg(long, requires = "plugins")]
        json: bool,
        /// With --plugins: also open each plugin's own editor (on the
        /// display in DISPLAY), check it puts its window into ours, and
        /// close it. An editor that fails is a problem; one that crashes
        /// the checker is reported but does not blacklist the file (its
        /// audio may be fine).
        #[arg(long, requires = "plugins")]
        editors: bool,
        /// With --plugins: the longest one plugin file may take, seconds.
        #[arg(
            long,
            default_value_t = 30.0,
            value_name = "SECONDS",
            requires = "plugins"
        )]
        timeout: f64,
        /// Also play the preset offline for a few seconds and report each
        /// plugin's CPU per buffer, allocations on the audio thread, errors
        /// and bad output (exit status 1 when one breaks a rule).
        #[arg(long)]
        rt: bool,
        /// Seconds to play for `--rt`.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
        seconds: f64,
    },
}

/// Arguments of `stagerack scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// A folder (or .clap file) to scan; repeat for several. Without it,
    /// CLAP_PATH and the standard CLAP folders are scanned.
    #[arg(long, value_name = "DIR")]
    pub path: Vec<PathBuf>,
    /// Print a JSON array (format, id, name, vendor, kind, path) instead of
    /// a table.
    #[arg(long)]
    pub json: bool,
    /// Open blacklisted files again (after updating or removing a plugin).
    #[arg(long)]
    pub rescan: bool,
    /// List the blacklisted files with the reason, and nothing else.
    #[arg(long)]
    pub blacklist: bool,
    /// Seconds a plugin file may take to open before it counts as hung.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
}

/// Arguments of `stagerack render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The preset (TOML) to play.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "setlist",
        conflicts_with = "setlist"
    )]
    pub preset: Option<PathBuf>,
    /// A setlist (TOML) to play: all its presets loaded, switched by the
    /// MIDI file's program changes and other triggers.
    #[arg(long, value_name = "FILE")]
    pub setlist: Option<PathBuf>,
    /// The MIDI file to play (all tracks, tempo map honoured).
    #[arg(long, value_name = "FILE.mid")]
    pub midi: Option<PathBuf>,
    /// The WAV file to write (replaced atomically).
    #[arg(long, value_name = "FILE.wav")]
    pub out: PathBuf,
    /// Sample rate in Hz.
    #[arg(long, default_value_t = 48_000, value_name = "HZ")]
    pub rate: u32,
    /// Frames per processed block.
    #[arg(long, default_value_t = 64, value_name = "FRAMES")]
    pub block: usize,
    /// Longest tail to render after the MIDI and input end, in seconds
    /// (rendering stops earlier once the output is silent for 0.5 s).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub tail: f64,
    /// Output sample format.
    #[arg(long, value_enum, default_value_t = SampleFormat::F32)]
    pub format: SampleFormat,
    /// A WAV fed into the racks' audio inputs (effect racks, re-amping).
    #[arg(long, value_name = "FILE.wav")]
    pub input: Option<PathBuf>,
    /// No progress bar and no summary line.
    #[arg(long, short)]
    pub quiet: bool,
    /// Where plugins run, for every rack of this run (overrides the
    /// preset's `sandbox` settings): `none` (in this process), `rack` (each
    /// rack's chain in a child process), `plugin` (each plugin in its own).
    /// A sandboxed plugin that crashes or hangs is relaunched with its
    /// state while everything else keeps playing.
    #[arg(long, value_name = "none|rack|plugin")]
    pub sandbox: Option<crate::plugin::sandbox::SandboxMode>,
    /// Threads that process racks in parallel, the audio callback's own
    /// counting as one (default: one per core; 1: all on the callback
    /// thread). The output is the same bit for bit at any count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

/// Runs the command line; returns the process exit code. Main thread.
pub fn run(cli: Cli) -> ExitCode {
    let Some(command) = cli.command else {
        return run_live(cli.live);
    };
    match command {
        Command::Devices => {
            print!("{}", crate::io::describe_devices());
            ExitCode::SUCCESS
        }
        Command::Scan(a) => scan(&a),
        Command::ScanOne { file } => crate::plugin::scan::child::run_scan_one(&file),
        Command::SandboxChild => run_sandbox_child(),
        Command::Check {
            plugins: true,
            path,
            json,
            editors,
            timeout,
            ..
        } => {
            if !(timeout.is_finite() && (0.1..=3600.0).contains(&timeout)) {
                eprintln!("error: --timeout {timeout} is out of range; use 0.1 to 3600 seconds");
                return ExitCode::from(2);
            }
            let Ok(program) = std::env::current_exe() else {
                eprintln!("error: cannot find this program to run the checks");
                return ExitCode::FAILURE;
            };
            crate::check_plugins::check_plugins(&crate::check_plugins::CheckPluginsOptions {
                paths: path,
                timeout: std::time::Duration::from_secs_f64(timeout),
                json,
                editors,
                program,
            })
        }
        Command::CheckOne { file, editors } => crate::check_plugins::run_check_one(&file, editors),
        Command::Check {
            file: Some(file),
            rt: true,
            seconds,
            ..
        } => match crate::check_rt::check_rt(&file, seconds) {
            Ok(report) => {
                for line in &report.lines {
                    println!("{line}");
                }
                if report.violations == 0 {
                    println!("no real-time violations");
                    ExitCode::SUCCESS
                } else {
                    println!("{} plugin(s) broke the real-time rules", report.violations);
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Check { file: None, .. } => {
            eprintln!("error: name a preset or setlist file, or pass --plugins");
            ExitCode::from(2)
        }
        Command::Check {
            file: Some(file), ..
        } => match crate::check::check_file(&file) {
            Ok(report) => {
                for line in &report.lines {
                    println!("{line}");
                }
                if report.problems == 0 {
                    println!("all plugins found");
                    ExitCode::SUCCESS
                } else {
                    println!("{} plugin(s) missing or broken", report.problems);
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Render(a) => {
            if let Some(mode) = a.sandbox {
                crate::plugin::sandbox::set_mode_override(mode);
            }
            if let Some(n) = a.threads {
                crate::engine::set_threads(usize::from(n));
            }
            let opts = RenderOptions {
                preset: a.preset,
                setlist: a.setlist,
                midi: a.midi,
                out: a.out,
                sample_rate: a.rate,
                block: a.block,
                tail_seconds: a.tail,
                format: a.format,
                input: a.input,
                progress: !a.quiet,
            };
            match render(&opts) {
                Ok(summary) => {
                    for w in &summary.warnings {
                        eprintln!("warning: {w}");
                    }
                    for p in &summary.panics {
                        eprintln!("error: {p}");
                    }
                    if !a.quiet {
                        let peak_db = 20.0 * f64::from(summary.peak.max(1e-12)).log10();
                        eprintln!(
                            "wrote {}: {:.2} s, peak {:.1} dBFS",
                            opts.out.display(),
                            summary.frames as f64 / f64::from(opts.sample_rate),
                            peak_db
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `stagerack sandbox-child`: hosts plugins for an engine. Main thread.
fn run_sandbox_child() -> ExitCode {
    #[cfg(target_os = "linux")]
    return crate::runtime::run_sandbox_child();
    #[cfg(not(target_os = "linux"))]
    {
        eprintln!("error: plugin sandboxes are not implemented on this platform yet");
        ExitCode::FAILURE
    }
}

/// `stagerack --preset FILE ...`: plays live until SIGINT/SIGTERM. Main thread.
fn run_live(a: LiveArgs) -> ExitCode {
    if let Some(mode) = a.sandbox {
        crate::plugin::sandbox::set_mode_override(mode);
    }
    if let Some(n) = a.threads {
        crate::engine::set_threads(usize::from(n));
    }
    let show = match (a.preset, a.setlist) {
        (Some(p), _) => crate::headless::Show::Preset(p),
        (None, Some(s)) => crate::headless::Show::Setlist(s),
        (None, None) => {
            eprintln!(
                "error: nothing to do; play a preset live with `stagerack --preset FILE` (or a \
                 setlist with `--setlist FILE`), render with `stagerack render`, list devices \
                 with `stagerack devices` (see --help)"
            );
            return ExitCode::from(2);
        }
    };
    if !(a.status_every.is_finite() && (0.1..=3600.0).contains(&a.status_every)) {
        eprintln!(
            "error: --status-every {} is out of range; use 0.1 to 3600 seconds",
            a.status_every
        );
        return ExitCode::from(2);
    }
    let defaults = StreamOptions::default();
    let opts = HeadlessOptions {
        show,
        backend: a.backend.unwrap_or_else(BackendKind::platform_default),
        stream: StreamOptions {
            name: a.name,
            rate: a.rate,
            buffer: a.buffer,
            connect: if a.connect.is_empty() {
                defaults.connect
            } else {
                a.connect
            },
            midi_in: a.midi_in,
            audio_in: a.audio_in,
            midi_timing: a.midi_timing,
            midi_source: a.midi_source,
            // Set from the show's outputs when the runtime starts.
            output_channels: defaults.output_channels,
            input_channels: defaults.input_channels,
        },
        quiet: a.quiet,
        status_every: std::time::Duration::from_secs_f64(a.status_every),
        control: a
            .control
            .map(|p| p.unwrap_or_else(crate::control::default_socket_path)),
        remote: crate::control::RemoteOptions {
            osc: a
                .osc
                .map(|port| crate::control::Listen::new(port, a.osc_bind)),
            web: a
                .web
                .map(|port| crate::control::Listen::new(port, a.web_bind)),
        },
    };
    match run_headless(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scan(a: &ScanArgs) -> ExitCode {
    use crate::plugin::scan::{cache::ScanCache, child};
    let mut cache = ScanCache::load();
    if a.blacklist {
        if cache.blacklist.is_empty() {
            println!("no blacklisted plugin files");
        }
        for (file, b) in &cache.blacklist {
            println!("{}\t{}", file.display(), b.reason);
        }
        return ExitCode::SUCCESS;
    }
    if !(a.timeout.is_finite() && (0.1..=600.0).contains(&a.timeout)) {
        eprintln!(
            "error: --timeout {} is out of range; use 0.1 to 600 seconds",
            a.timeout
        );
        return ExitCode::from(2);
    }
    let dirs = if a.path.is_empty() {
        crate::plugin::scan::default_paths()
    } else {
        a.path.clone()
    };
    let Ok(program) = std::env::current_exe() else {
        eprintln!("error: cannot find this program to run the scanner");
        return ExitCode::FAILURE;
    };
    let opts = child::ScanOptions {
        timeout: std::time::Duration::from_secs_f64(a.timeout),
        rescan: a.rescan,
        program,
    };
    let files = child::plugin_files(&dirs);
    // A progress bar on a terminal, once the scan has taken a second.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(files.len() as u64),
        indicatif::ProgressDrawTarget::hidden(),
    );
    let started = std::time::Instant::now();
    let report = child::scan_files(&files, &opts, &mut cache, |f| {
        if started.elapsed().as_secs() >= 1 && bar.is_hidden() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        bar.set_message(f.display().to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    if let Err(e) = cache.save() {
        eprintln!(
            "warning: cannot write the scan cache {}: {e}",
            crate::plugin::scan::cache::cache_file().display()
        );
    }
    for (file, why) in &report.blacklisted {
        eprintln!(
            "warning: blacklisted {}: {why} (`stagerack scan --rescan` tries it again)",
            file.display()
        );
    }
    eprintln!(
        "scanned {} files: {} from the cache, {} opened in a child process, {} blacklisted",
        files.len(),
        report.from_cache,
        report.opened,
        report.blacklisted.len()
    );
    let report = crate::plugin::scan::ScanReport {
        plugins: report.plugins,
        failures: Vec::new(),
    };
    if a.json {
        match serde_json::to_string_pretty(&report.plugins) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot write JSON: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        for p in &report.plugins {
            let kind = match p.kind {
                crate::plugin::PluginKind::Instrument => "instrument",
                crate::plugin::PluginKind::Effect => "effect",
            };
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                p.format,
                p.id,
                p.name,
                p.vendor,
                kind,
                p.path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
        if report.plugins.is_empty() {
            eprintln!(
                "no plugins found in {}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    ExitCode::SUCCESS
}
