//! The in-process measurements of `cargo xtask bench` (see
//! xtask/src/bench.rs, which runs them and writes docs/BENCHMARKS.md).
//! Each subcommand prints one JSON line on stdout:
//!
//! - `overhead FRAMES [zam]`: 16 racks × 4 test gains (or ZamComp), CLAP
//!   and VST3, through the engine vs. the same instances' `process` called
//!   directly in a loop.
//! - `peer BLOCK SECONDS`: the VST3 probe playing a fixed note sequence into
//!   two VST3 gains, rendered offline (the peer host renders the same).
//! - `midi NOTES`: MIDI to audio on a private JACK dummy server, native and
//!   steady mode.
//! - `switch`: a setlist switch: frames from trigger to new sound, samples
//!   dropped or repeated, the switch buffer's cost against the median.
//! - `startup PRESET`: `stagerack --preset PRESET` on JACK until its first
//!   processed buffer.
//! - `load PRESET MIDI_OR_HEAVY SECONDS [none|rack|plugin]`: per-buffer DSP
//!   load at 64 frames, the plugins where the last argument says.
//! - `sandbox FRAMES SECONDS [PLUGINS]`: what a rack of PLUGINS (1) gains
//!   in a sandbox process adds per buffer (median, p99, max) called from a
//!   JACK client on a private dummy server, the deadlines it missed beside
//!   JACK's own late callbacks, and what its child's polling cost.
//! - `crash ROUNDS`: crash (SIGSEGV, SIGABRT in `process`) or kill a
//!   sandboxed plugin's child, ROUNDS times each: milliseconds from its
//!   first silent block to the first that sounds again.
//! - `window ROUNDS SECONDS`: the release rack window with its engine on
//!   JACK, idle vs typing into a field: xruns, overloads, DSP peaks.
//! - `threads SECONDS`: 8 heavy racks at 1 and 2 threads, offline and live
//!   on JACK; one heavy rack at 1 and 2 threads offline.

use stagerack_tests::bench::{
    crash, load, midi, overhead, peer, sandbox, startup, switch, threads, window,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let out = match arg(0).as_str() {
        "overhead" => overhead(arg(1).parse().unwrap_or(64), &arg(2)),
        "peer" => peer(arg(1).parse().unwrap_or(64), arg(2).parse().unwrap_or(10.0)),
        "midi" => midi(arg(1).parse().unwrap_or(1000)),
        "switch" => switch(),
        "startup" => startup(&arg(1)),
        "load" => load(&arg(1), &arg(2), arg(3).parse().unwrap_or(60.0), &arg(4)),
        "window" => window(arg(1).parse().unwrap_or(3), arg(2).parse().unwrap_or(15.0)),
        "sandbox" => sandbox(
            arg(1).parse().unwrap_or(64),
            arg(2).parse().unwrap_or(60.0),
            arg(3).parse().unwrap_or(1),
        ),
        "threads" => threads(arg(1).parse().unwrap_or(30.0)),
        "crash" => crash(arg(1).parse().unwrap_or(3)),
        other => {
            eprintln!(
                "unknown bench `{other}`: overhead|peer|midi|switch|startup|load|window|sandbox|crash|threads"
            );
            std::process::exit(2);
        }
    };
    println!("{out}");
}
