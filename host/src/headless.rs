//! Headless mode: `stagerack --preset FILE`. Plays a preset on a live
//! backend until SIGINT or SIGTERM, then stops cleanly:
//!
//! 1. open the backend (its sample rate and buffer size decide the engine's);
//! 2. build the session for that format and hand the engine to the driver;
//! 3. loop on the main thread: sleep a few milliseconds, `Session::pump`,
//!    `AudioStream::maintain` (reconnects, MIDI hot-plug), a status line
//!    every few seconds;
//! 4. on a signal: the driver fades out and sends all notes off, stops, and
//!    gives the engine back; `Session::shutdown` deactivates every plugin
//!    here on the main thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{EngineConfig, QueueCapacities, StatusSnapshot};
use crate::io::{open_stream, BackendKind, IoError, StreamOptions, StreamState};
use crate::preset::{load_preset, load_setlist, PresetError};
use crate::session::{Session, SessionError};

/// What a stage PC plays. Main thread.
#[derive(Clone, Debug)]
pub enum Show {
    /// One preset.
    Preset(PathBuf),
    /// A setlist: every preset loaded and activated at start, switched by
    /// its MIDI triggers (program change, next/previous CC, notes) at the
    /// trigger's exact sample.
    Setlist(PathBuf),
}

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
}

/// Why headless mode could not run. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum HeadlessError {
    /// The preset is missing or invalid.
    #[error(transparent)]
    Preset(#[from] PresetError),
    /// The control socket could not be opened.
    #[error("{0}; pass another path with --control PATH")]
    Control(String),
    /// The backend could not open or start.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The session could not start.
    #[error(transparent)]
    Session(#[from] SessionError),
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
    format!(
        "dsp {:.1}% avg {:.1}% peak, xruns {}, overloads {}, midi {} events, out peak {:.1} dBFS{state}",
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
    let (presets, setlist) = match &opts.show {
        Show::Preset(p) => (vec![load_preset(p)?], None),
        Show::Setlist(p) => {
            let loaded = load_setlist(p)?;
            let presets = loaded.presets.clone();
            (presets, Some(loaded))
        }
    };
    let mut stream = open_stream(opts.backend, &opts.stream)?;
    let format = stream.format();
    let rate = f64::from(format.sample_rate);
    let config = EngineConfig {
        sample_rate: rate,
        max_block: format.max_block(),
        queues: QueueCapacities::default(),
    };
    let switch = setlist
        .as_ref()
        .map(|s| s.switch_table(rate))
        .unwrap_or_default();
    let keep = setlist.as_ref().and_then(|s| s.setlist.neighbours);
    let (mut session, engine) = Session::with_setlist(&presets, switch, config, false, keep)?;
    for w in &session.warnings {
        eprintln!("warning: {w}");
    }
    let shared = session.handle().shared().clone();
    let mut control = crate::control::ControlServer::new();
    #[cfg(unix)]
    if let Some(path) = &opts.control {
        if let Err(e) = control.listen(path) {
            if let Some(engine) = stream.stop() {
                session.shutdown(engine);
            }
            return Err(HeadlessError::Control(format!(
                "cannot listen on {}: {e}",
                path.display()
            )));
        }
        eprintln!("stagerack: control socket {}", path.display());
    }
    if let Err(e) = stream.start(engine) {
        if let Some(engine) = stream.stop() {
            session.shutdown(engine);
        }
        return Err(e.into());
    }
    let what = match &setlist {
        Some(s) => format!(
            "setlist `{}` ({} presets, starting with `{}`)",
            s.setlist.name,
            presets.len(),
            presets[0].name
        ),
        None => format!("`{}`", presets[0].name),
    };
    eprintln!(
        "stagerack: playing {what} on {} as `{}` ({} Hz, {} frames); Ctrl-C stops",
        opts.backend, opts.stream.name, format.sample_rate, format.buffer
    );
    let mut current = session.current_group();
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
        for p in session.pump() {
            eprintln!("error: {p}");
        }
        control.poll(&mut session);
        let group = session.current_group();
        if group != current {
            current = group;
            let name = session
                .groups
                .get(usize::from(group))
                .map_or("?", |g| g.name.as_str());
            eprintln!(
                "stagerack: now playing `{name}` (setlist entry {} of {})",
                usize::from(group) + 1,
                session.groups.len()
            );
        }
        let now = stream.maintain();
        // Racks with device patterns follow the inputs as they come and go.
        if let Err(e) = session.set_midi_sources(stream.midi_sources()) {
            tracing::warn!("MIDI inputs changed but the racks could not be re-routed yet: {e}");
        }
        if now != state {
            match &now {
                StreamState::Running => eprintln!("stagerack: audio running again"),
                StreamState::Reconnecting { reason } => {
                    eprintln!("stagerack: {reason}; reconnecting every second")
                }
                StreamState::Failed { reason } => eprintln!("stagerack: audio failed: {reason}"),
                StreamState::Idle => {}
            }
            state = now;
        }
        if !opts.quiet && last_status.elapsed() >= opts.status_every {
            last_status = Instant::now();
            let clock = shared
                .clock_bpm()
                .map(|bpm| format!(", MIDI clock {bpm:.1} BPM"))
                .unwrap_or_default();
            let heaviest = session
                .heaviest_plugin()
                .map(|h| format!(", heaviest plugin {h}"))
                .unwrap_or_default();
            let clock = format!("{clock}{heaviest}");
            eprintln!(
                "stagerack: {}{clock}",
                status_line(&shared.snapshot(), &state)
            );
        }
    }
    eprintln!("stagerack: stopping");
    match stream.stop() {
        Some(engine) => session.shutdown(engine),
        None => {
            tracing::error!("the audio engine was lost with its driver; plugins not deactivated")
        }
    }
    eprintln!("stagerack: stopped");
    Ok(())
}
