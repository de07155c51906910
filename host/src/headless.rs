//! Headless mode: `stagerack --preset FILE` (or `--setlist FILE`). Plays a
//! show on a live backend until SIGINT or SIGTERM, then stops cleanly. The
//! work is the session layer's [`Runtime`], the same one the rack window
//! drives; this module is the stage PC's main loop around it:
//!
//! 1. read the show (every file checked before any device opens), start the
//!    runtime on the backend (its rate and buffer size decide the engine's);
//! 2. loop on the main thread: sleep a few milliseconds, `Runtime::pump`
//!    (session, control clients, reconnects, MIDI hot-plug), say what it
//!    reports, a status line every few seconds;
//! 3. on a signal: `Runtime::shutdown` releases every note, lets the tails
//!    fade, stops the driver and deactivates every plugin here on the main
//!    thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::{RemoteError, RemoteOptions, Remotes};
use crate::engine::StatusSnapshot;
use crate::io::{BackendKind, StreamOptions, StreamState};
use crate::preset::PresetError;
pub use stagerack_session::runtime::Show;
use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime, RuntimeError, RuntimeEvent};

/// What to play and how. Main thread.
#[derive(Clone, Debug)]
pub struct HeadlessOptions {
    /// The preset or setlist.
    pub show: Show,
    /// The live backend.
    pub backend: BackendKind,
    /// Device options.
    pub stream: StreamOptions,
    /// No status lines.
    pub quiet: bool,
    /// Seconds between status lines.
    pub status_every: Duration,
    /// Serve the control protocol on this local socket.
    pub control: Option<PathBuf>,
    /// The OSC server and web remote to open (`--osc`, `--web`).
    pub remote: RemoteOptions,
}

/// Why headless mode could not run. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    /// The preset is missing or invalid.
    #[error(transparent)]
    Preset(#[from] PresetError),
    /// The backend, the session or the control socket could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The OSC server or the web remote could not start.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The signal handlers could not be installed.
    #[error("cannot install the SIGINT/SIGTERM handlers: {0}")]
    Signals(std::io::Error),
}

/// How long the main loop sleeps between pumps.
const TICK: Duration = Duration::from_millis(10);

/// One status line from a snapshot. Main thread.
pub fn status_line(s: &StatusSnapshot, state: &StreamState) -> String {
    let peak_db = 20.0 * f64::from(s.output_peak.max(1e-12)).log10();
    let state = match state {
        StreamState::Running => String::new(),
        StreamState::Idle => " [idle]".to_owned(),
        StreamState::Reconnecting { reason } => format!(" [reconnecting: {reason}]"),
        StreamState::Failed { reason } => format!(" [failed: {reason}]"),
    };
    // Each rack thread's peak, when racks run on more than one.
    let threads = match s.thread_loads() {
        [_] => String::new(),
        loads => format!(
            " (threads {}%)",
            loads
                .iter()
                .map(|l| format!("{:.0}", l * 100.0))
                .collect::<Vec<_>>()
                .join("/")
        ),
    };
    format!(
        "dsp {:.1}% avg {:.1}% peak{threads}, xruns {}, overloads {}, midi {} events, out peak {:.1} dBFS{state}",
        s.dsp_average * 100.0,
        s.dsp_peak * 100.0,
        s.xruns,
        s.overloads,
        s.midi_events,
        peak_db
    )
}

/// Runs headless mode until SIGINT/SIGTERM. Main thread.
pub fn run_headless(opts: &HeadlessOptions) -> Result<(), HeadlessError> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping ends the process at once.
        signal_hook::flag::register_conditional_shutdown(sig, 1, term.clone())
            .map_err(HeadlessError::Signals)?;
        signal_hook::flag::register(sig, term.clone()).map_err(HeadlessError::Signals)?;
    }
    // Every file is read (and checked) before any device opens.
    let show = LoadedShow::load(&opts.show)?;
    let audio = AudioChoice::Live {
        backend: Some(opts.backend),
        options: opts.stream.clone(),
    };
    let mut runtime = Runtime::start(&show, &audio)?;
    // This binary answers `scan-one`: clients may ask for a plugin scan.
    if let Ok(me) = std::env::current_exe() {
        runtime.set_scanner(me);
    }
    let Some(session) = runtime.session() else {
        unreachable!("a started runtime has its session");
    };
    for w in session.warnings() {
        eprintln!("warning: {w}");
    }
    let shared = session.shared().clone();
    #[cfg(unix)]
    if let Some(path) = &opts.control {
        runtime.listen(path)?;
        eprintln!("stagerack: control socket {}", path.display());
    }
    // The remote servers' threads speak to the control server as
    // in-process clients, through a connector (the client it came from is
    // not needed: dropped, it closes).
    let remotes = Remotes::start(&opts.remote, &runtime.connect().connector())?;
    for line in remotes.describe() {
        eprintln!("stagerack: {line}");
    }
    let format = runtime.audio_in_use();
    eprintln!(
        "stagerack: playing {} on {} as `{}` ({} Hz, {} frames); Ctrl-C stops",
        show.describe(),
        opts.backend,
        opts.stream.name,
        format.sample_rate,
        format.buffer
    );
    tracing::info!("running");
    let mut last_status = Instant::now();
    shared.snapshot();
    let mut state = StreamState::Running;
    let mut first_buffer = false;
    while !term.load(Ordering::Acquire) {
        if first_buffer {
            std::thread::sleep(TICK);
        } else if shared.buffers.load(Ordering::Relaxed) > 0 {
            // Start-up time is measured to this line (`cargo xtask bench`).
            first_buffer = true;
            eprintln!("stagerack: first buffer processed");
        } else {
            // Until the driver's first callback: look often.
            std::thread::sleep(Duration::from_micros(500));
        }
        for event in runtime.pump() {
            match event {
                RuntimeEvent::Error(e) => eprintln!("error: {e}"),
                RuntimeEvent::NowPlaying { name, index, count } => eprintln!(
                    "stagerack: now playing `{name}` (setlist entry {} of {count})",
                    index + 1
                ),
                RuntimeEvent::Audio(now) => {
                    match &now {
                        StreamState::Running => eprintln!("stagerack: audio running again"),
                        StreamState::Reconnecting { reason } => {
                            eprintln!("stagerack: {reason}; reconnecting every second")
                        }
                        StreamState::Failed { reason } => {
                            eprintln!("stagerack: audio failed: {reason}")
                        }
                        StreamState::Idle => {}
                    }
                    state = now;
                }
            }
        }
        if !opts.quiet && last_status.elapsed() >= opts.status_every {
            last_status = Instant::now();
            let clock = shared
                .clock_bpm()
                .map(|bpm| format!(", MIDI clock {bpm:.1} BPM"))
                .unwrap_or_default();
            let heaviest = runtime
                .session()
                .and_then(|s| s.heaviest_plugin())
                .map(|h| format!(", heaviest plugin {h}"))
                .unwrap_or_default();
            eprintln!(
                "stagerack: {}{clock}{heaviest}{}",
                status_line(&shared.snapshot(), &state),
                remotes.status()
            );
        }
    }
    eprintln!("stagerack: stopping");
    drop(remotes);
    runtime.shutdown();
    eprintln!("stagerack: stopped");
    Ok(())
}
