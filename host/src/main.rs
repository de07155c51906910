//! The `stagerack` binary: see `stagerack --help`.

use std::process::ExitCode;

use clap::Parser;

// The allocation guard (and plugins' C allocations counted) in this
// process: see `stagerack_engine::install_guard!`.
stagerack::engine::install_guard!();

fn main() -> ExitCode {
    // Panics caught on the audio thread are reported by the main thread;
    // the hook stays quiet there so the callback never blocks on stderr.
    stagerack::engine::audio_thread::install_quiet_panic_hook();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs written to a file or a pipe stay
        // plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    stagerack::cli::run(stagerack::cli::Cli::parse())
}
