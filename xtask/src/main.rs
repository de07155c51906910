//! Project commands, run as `cargo xtask <command>`:
//!
//! - `demo-midi`: regenerate `presets/demo.mid`, the phrase the README's
//!   demo render plays.
//! - `bundle-vst3 [--release]`: build the VST3 test plugins into
//!   `target/bundles/vst3/`.

mod bundle_vst3;
mod demo_midi;

use std::path::PathBuf;
use std::process::ExitCode;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one folder below the workspace root")
        .to_owned()
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
        Some("bundle-vst3") => {
            let release = args.iter().any(|a| a == "--release");
            match bundle_vst3::run(&workspace_root(), release) {
                Ok(bundles) => {
                    for b in bundles {
                        eprintln!("bundled {}", b.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: cargo xtask demo-midi | bundle-vst3 [--release]");
            ExitCode::FAILURE
        }
    }
}
