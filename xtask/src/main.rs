//! Project commands, run as `cargo xtask <command>`:
//!
//! - `demo-midi`: regenerate `presets/demo.mid`, the phrase the README's
//!   demo render plays.
//! - `bundle [--release]`: build every CLAP test plugin of `plugins-test`
//!   and copy each to `target/bundles/clap/<name>.clap` (debug profile
//!   unless `--release`, so it matches what `cargo test` builds); prints the
//!   bundle paths, one per line, on stdout.
//! - `bundle-vst3 [--release]`: build the VST3 test plugins into
//!   `target/bundles/vst3/`.
//! - `bench`: every benchmark (release build): host overhead, pedalboard,
//!   MIDI timing on JACK, switching, scanning, start-up, load; prints the
//!   table and writes `docs/BENCHMARKS.md` (see `src/bench.rs`).
//! - `validate [--clap-validator DIR] [--vst3-sdk DIR]`: builds the formats'
//!   public validators from checkouts you provide and runs them over every
//!   test bundle (see `src/validate.rs`, docs/VALIDATORS.md).

mod bench;
mod bundle;
mod bundle_vst3;
mod demo_midi;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_owned()
}

fn release_flag(args: &[String], command: &str) -> Option<bool> {
    match args {
        [] => Some(false),
        [flag] if flag == "--release" => Some(true),
        _ => {
            eprintln!("usage: cargo xtask {command} [--release]");
            None
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo-midi") => {
            let path = workspace_root().join("presets/demo.mid");
            match demo_midi::write(&path) {
                Ok(()) => {
                    eprintln!("wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        Some("bundle") => {
            let Some(release) = release_flag(&args[1..], "bundle") else {
                return ExitCode::FAILURE;
            };
            match bundle::run(&workspace_root(), release) {
                Ok(paths) => {
                    for path in paths {
                        println!("{}", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("bundle-vst3") => {
            let Some(release) = release_flag(&args[1..], "bundle-vst3") else {
                return ExitCode::FAILURE;
            };
            match bundle_vst3::run(&workspace_root(), release) {
                Ok(bundles) => {
                    for b in bundles {
                        println!("{}", b.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("bench") => match bench::run(&workspace_root()) {
            Ok((report, missed)) => {
                println!("{report}");
                eprintln!("wrote docs/BENCHMARKS.md");
                for m in &missed {
                    eprintln!("target missed: {m}");
                }
                if missed.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Some("validate") => {
            let sources = match validate::Sources::from_args(&args[1..]) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match validate::run(&workspace_root(), &sources) {
                Ok((table, all_as_expected)) => {
                    println!("{table}");
                    if all_as_expected {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!("some plugins did not behave as expected (UNEXPECTED above)");
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!(
                "usage: cargo xtask demo-midi | bundle [--release] | bundle-vst3 [--release] | bench | validate [--clap-validator DIR] [--vst3-sdk DIR]"
            );
            ExitCode::FAILURE
        }
    }
}
