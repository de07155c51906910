//! The `stagerack` command line. Main thread.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::render::{render, RenderOptions, SampleFormat};

/// stagerack: a live-performance plugin host.
#[derive(Debug, Parser)]
#[command(name = "stagerack", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a preset playing a MIDI file to a WAV file, offline.
    Render(RenderArgs),
    /// List the plugins found in folders (default: the CLAP search path).
    Scan(ScanArgs),
    /// Validate a preset or setlist and try loading every plugin it names.
    Check {
        /// The preset or setlist file.
        file: PathBuf,
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
}

/// Runs the command line; returns the process exit code. Main thread.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Scan(a) => scan(&a),
        Command::Check { file } => match crate::check::check_file(&file) {
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

fn scan(a: &ScanArgs) -> ExitCode {
    let dirs = if a.path.is_empty() {
        crate::plugin::scan::default_paths()
    } else {
        a.path.clone()
    };
    let report = crate::plugin::scan::scan_paths(&dirs);
    for (file, why) in &report.failures {
        eprintln!("warning: skipped {}: {why}", file.display());
    }
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
