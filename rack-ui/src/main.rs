//! `stagerack-ui`: the rack window.
//!
//! The window is a client of the engine's control protocol (see the rack
//! window issue); neither exists yet. Until then this binary says so and
//! points to what works today, instead of pretending to be a window.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "stagerack-ui {}: the rack window is not built yet. \
         Render a preset with `stagerack render --preset presets/demo.toml --midi presets/demo.mid --out demo.wav`.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
