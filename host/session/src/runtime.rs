//! The one runtime every live front end drives: the stage PC's headless
//! loop (`stagerack --preset/--setlist`) and the rack window with its
//! engine in the same process (`stagerack-ui`), and the one way every front
//! end, offline `render` included, turns a show file into a session.
//!
//! 1. [`LoadedShow::load`] reads a preset or a setlist (every file checked
//!    before any device opens).
//! 2. [`Runtime::start`] opens the audio driver chosen by an
//!    [`AudioChoice`] (a live backend, or the `dummy` backend: real-time
//!    paced, no sound), builds the session for the driver's format and
//!    hands the engine to it.
//! 3. The owner of the main thread calls [`Runtime::pump`] regularly: the
//!    session's pump, every control client's commands (device changes
//!    included), stream maintenance (reconnects, MIDI hot-plug) and MIDI
//!    source routing; it returns what a front end tells its user
//!    ([`RuntimeEvent`]).
//! 4. [`Runtime::shutdown`] releases every note, lets the tails fade, stops
//!    the driver and deactivates every plugin on the main thread.
//!
//! Main thread only: the session holds plugin main-thread handles.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use stagerack_engine::EngineConfig;
pub use stagerack_engine::{set_threads, threads};
use stagerack_engine::{Engine, QueueCapacities};
use stagerack_io::{
    available_backends, open_stream, AudioInUse, AudioStream, IoError, StreamState,
};

use crate::control::{ControlServer, DeviceChoice, DeviceHost, LocalClient};

// What a front end names to start a runtime or a session, and the process
// set-up its binary does (the allocation guard, the quiet panic hook), so
// a front end needs this layer only.
use crate::preset::{load_preset, load_setlist, LoadedSetlist, Preset, PresetError};
use crate::session::{Session, SessionError};
pub use stagerack_engine::audio_thread::install_quiet_panic_hook;
pub use stagerack_engine::install_guard;
pub use stagerack_io::{BackendKind, NamedChoice, StreamOptions};
/// What `scan-one FILE` runs in a front end's binary (the child of a
/// background scan).
pub use stagerack_plugins::scan::child::run_scan_one;

/// What `sandbox-child` runs in a front end's binary (the child a sandboxed
/// rack or plugin lives in), its audio threads under the engine's
/// allocation guard like the engine's own. Returns the exit code. Main
/// thread.
#[cfg(target_os = "linux")]
pub fn run_sandbox_child() -> std::process::ExitCode {
    use stagerack_engine::alloc_guard::{count_allocs, no_alloc};
    use stagerack_plugins::sandbox::child::{run, AudioGuard};
    let code = run(AudioGuard {
        count_allocs: |f| count_allocs(f).1,
        no_alloc: |f| no_alloc(f),
    });
    std::process::ExitCode::from(code.clamp(0, 255) as u8)
}

/// What a show plays: a preset or a setlist file. Main thread.
#[derive(Clone, Debug)]
pub enum Show {
    /// One preset.
    Preset(PathBuf),
    /// A setlist: its presets switched by MIDI triggers (program change,
    /// next/previous CC, notes) at the trigger's exact sample.
    Setlist(PathBuf),
}

/// A show read from disk. Main thread.
#[derive(Clone, Debug)]
pub struct LoadedShow {
    /// Each preset, in setlist order (one for a plain preset).
    pub presets: Vec<Preset>,
    /// The setlist, when the show is one.
    pub setlist: Option<LoadedSetlist>,
    /// Each preset's file, in order, where known.
    pub files: Vec<PathBuf>,
}

impl LoadedShow {
    /// The name of each driver channel the show plays, in channel order:
    /// its first preset's `[[output]]` ports (`FOH_L`, `FOH_R`, …; a
    /// channel no output uses is `ch5`), or `out_L`, `out_R`. Main thread.
    pub fn output_channels(&self) -> Vec<String> {
        let outputs = self.presets.first().map_or(&[][..], |p| p.stage_outputs());
        if outputs.is_empty() {
            return StreamOptions::default().output_channels;
        }
        channel_names(
            outputs.iter().map(|o| (&o.channels[..], o.channel_names())),
            "ch",
        )
    }

    /// The name of each driver input channel the show's first preset's
    /// `[[input]]` list uses, in channel order (`vocal`, …; a channel no
    /// input uses is `in3`); empty without `[[input]]`. Main thread.
    pub fn input_channels(&self) -> Vec<String> {
        let inputs = self.presets.first().map_or(&[][..], |p| p.stage_inputs());
        channel_names(
            inputs.iter().map(|i| (&i.channels[..], i.channel_names())),
            "in",
        )
    }

    /// Reads and checks the show's files. Main thread.
    pub fn load(show: &Show) -> Result<Self, PresetError> {
        Ok(match show {
            Show::Preset(p) => Self {
                files: vec![p.clone()],
                ..Self::preset(load_preset(p)?)
            },
            Show::Setlist(p) => {
                let setlist = load_setlist(p)?;
                Self {
                    presets: setlist.presets.clone(),
                    files: setlist.paths.clone(),
                    setlist: Some(setlist),
                }
            }
        })
    }

    /// A show of one preset already read. Main thread.
    pub fn preset(preset: Preset) -> Self {
        Self {
            presets: vec![preset],
            setlist: None,
            files: Vec::new(),
        }
    }

    /// Builds the session (every preset, the setlist's switch table and
    /// neighbour loading) for `config`; `offline` for renders. Main thread.
    pub fn session(
        &self,
        config: EngineConfig,
        offline: bool,
    ) -> Result<(Session, Engine), SessionError> {
        let switch = self
            .setlist
            .as_ref()
            .map(|s| s.switch_table(config.sample_rate))
            .unwrap_or_default();
        let keep = self.setlist.as_ref().and_then(|s| s.setlist.neighbours);
        let (mut session, engine) =
            Session::with_setlist(&self.presets, switch, config, offline, keep)?;
        if let Some(s) = &self.setlist {
            session.set_song_notes(
                s.setlist.entries.iter().map(|e| e.notes.clone()).collect(),
                s.setlist.triggers.notes_cc,
            );
        }
        Ok((session, engine))
    }

    /// "setlist `gig` (3 presets, starting with `demo`)" or "`demo`".
    /// Main thread.
    pub fn describe(&self) -> String {
        let first = self.presets.first().map_or("", |p| p.name.as_str());
        match &self.setlist {
            Some(s) => format!(
                "setlist `{}` ({} presets, starting with `{first}`)",
                s.setlist.name,
                self.presets.len()
            ),
            None => format!("`{first}`"),
        }
    }
}

/// The name of each driver channel (1-based numbers in `lists`, each with
/// its names), in channel order up to the highest used; a channel none
/// names is `{unused}{n}`. Main thread.
fn channel_names<'a>(
    lists: impl Iterator<Item = (&'a [u16], Vec<String>)>,
    unused: &str,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (channels, list) in lists {
        for (channel, name) in channels.iter().zip(list) {
            let at = usize::from(*channel).max(1) - 1;
            while names.len() <= at {
                names.push(format!("{unused}{}", names.len() + 1));
            }
            names[at] = name;
        }
    }
    names
}

/// Frames per period of the device-less driver (5.3 ms at 48 kHz).
pub const NO_DEVICE_PERIOD: u32 = 256;
/// Sample rate of the device-less driver.
pub const NO_DEVICE_RATE: u32 = 48_000;

/// Where the engine's audio goes. Main thread.
#[derive(Clone, Debug)]
pub enum AudioChoice {
    /// No device: the `dummy` backend at [`NO_DEVICE_RATE`] /
    /// [`NO_DEVICE_PERIOD`] (tests, machines without audio).
    NoDevice,
    /// A live backend: `backend` (None: the platform default, falling back
    /// to no device with a warning when no output can be opened; a named
    /// backend that cannot open is an error) with these options.
    Live {
        /// The backend, or None for the platform default.
        backend: Option<BackendKind>,
        /// Device options.
        options: StreamOptions,
    },
}

/// Why the runtime could not start. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The show's plugins could not be set up.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The chosen audio backend could not open or start.
    #[error(transparent)]
    Audio(#[from] IoError),
    /// The control socket could not be opened.
    #[error("cannot listen on the control socket {}: {source}; pass another path", path.display())]
    Listen {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What happened in a pump that a front end tells its user. Main thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// A plugin or the engine reported an error (a caught panic, …).
    Error(String),
    /// The setlist moved to another preset (a MIDI trigger, a client).
    NowPlaying {
        /// The preset's name.
        name: String,
        /// Its index in the setlist.
        index: usize,
        /// How many presets the setlist has.
        count: usize,
    },
    /// The audio stream changed state (lost, reconnecting, running again).
    Audio(StreamState),
}

/// The running driver and what it plays on; moves the engine between
/// devices for `select_devices`. Main thread.
struct AudioHost {
    stream: Option<Box<dyn AudioStream>>,
    in_use: AudioInUse,
    /// The device options in use (for a restore after a failed change).
    kind: BackendKind,
    options: StreamOptions,
    /// Playing on no device (the `dummy` backend as a stand-in, not chosen
    /// by name): reported as backend `none`.
    no_device: bool,
    /// Client name for new streams.
    name: String,
}

/// Why a stream could not take the engine: the reason, and the engine back
/// (None only if a crashed driver lost it).
type NotStarted = Box<(String, Option<Engine>)>;

/// The options of the device-less driver, named `name`.
fn no_device_options(name: &str) -> StreamOptions {
    StreamOptions {
        name: name.to_owned(),
        rate: Some(NO_DEVICE_RATE),
        buffer: Some(NO_DEVICE_PERIOD),
        connect: vec!["none".to_owned()],
        ..StreamOptions::default()
    }
}

/// What `stream` (of `kind`, opened with `options`) plays on; `none` for
/// no device.
fn in_use_of(
    stream: &dyn AudioStream,
    kind: BackendKind,
    options: &StreamOptions,
    no_device: bool,
) -> AudioInUse {
    let format = stream.format();
    AudioInUse {
        backend: if no_device {
            "none".to_owned()
        } else {
            kind.name().to_owned()
        },
        connect: options.connect.clone(),
        midi_in: options.midi_in.clone(),
        sample_rate: format.sample_rate,
        buffer: format.buffer,
    }
}

/// Opens `kind` with `options` and starts it with `engine`, refusing a
/// device whose sample rate is not `rate`. Main thread.
fn start_stream(
    kind: BackendKind,
    options: &StreamOptions,
    engine: Engine,
    rate: u32,
) -> Result<Box<dyn AudioStream>, NotStarted> {
    let mut stream = match open_stream(kind, options) {
        Ok(s) => s,
        Err(e) => return Err(Box::new((e.to_string(), Some(engine)))),
    };
    let format = stream.format();
    if format.sample_rate != rate {
        return Err(Box::new((
            format!(
                "{kind} runs at {} Hz and the engine at {rate} Hz; restart with --backend {kind} \
                 --rate {}",
                format.sample_rate, format.sample_rate
            ),
            Some(engine),
        )));
    }
    if let Err(e) = stream.start(engine) {
        return Err(Box::new((e.to_string(), stream.stop())));
    }
    Ok(stream)
}

impl AudioHost {
    /// `jack (48000 Hz, 64 frames)` or `no audio device (…)`. Main thread.
    fn describe(&self) -> String {
        let what = if self.no_device {
            "no audio device"
        } else {
            self.in_use.backend.as_str()
        };
        format!(
            "{what} ({} Hz, {} frames)",
            self.in_use.sample_rate, self.in_use.buffer
        )
    }

    /// Starts `engine` on `kind` with `options` (as the stand-in for no
    /// device when `no_device`), or says why not. Main thread.
    fn try_start(
        &mut self,
        kind: BackendKind,
        options: StreamOptions,
        engine: Engine,
        rate: u32,
        no_device: bool,
    ) -> Result<(), NotStarted> {
        let stream = start_stream(kind, &options, engine, rate)?;
        self.in_use = in_use_of(stream.as_ref(), kind, &options, no_device);
        self.stream = Some(stream);
        self.kind = kind;
        self.options = options;
        self.no_device = no_device;
        Ok(())
    }

    /// Puts `engine` back where it was, else on no device. Main thread.
    fn restore(&mut self, engine: Engine, rate: u32) -> String {
        let (kind, options, no_device) = (self.kind, self.options.clone(), self.no_device);
        let engine = match self
            .try_start(kind, options, engine, rate, no_device)
            .map_err(|e| *e)
        {
            Ok(()) => return format!("still playing on {}", self.describe()),
            Err((_, Some(engine))) => engine,
            Err((why, None)) => return format!("the engine was lost with its driver: {why}"),
        };
        let options = StreamOptions {
            output_channels: self.options.output_channels.clone(),
            ..no_device_options(&self.name)
        };
        match self.try_start(BackendKind::Dummy, options, engine, rate, true) {
            Ok(()) => "the engine runs without sound now".to_owned(),
            Err(e) => format!("the engine could not restart: {}", e.0),
        }
    }
}

impl DeviceHost for AudioHost {
    fn in_use(&self) -> AudioInUse {
        self.in_use.clone()
    }

    fn select(
        &mut self,
        choice: &DeviceChoice,
        session: &mut Session,
    ) -> Result<AudioInUse, String> {
        let kind = BackendKind::from_name(&choice.backend).ok_or_else(|| {
            format!(
                "unknown backend `{}`; available: {}",
                choice.backend,
                available_backends()
            )
        })?;
        let rate = session.process_config().sample_rate as u32;
        let defaults = StreamOptions::default();
        let options = StreamOptions {
            name: self.name.clone(),
            rate: Some(rate),
            buffer: choice.buffer,
            connect: if choice.connect.is_empty() {
                defaults.connect.clone()
            } else {
                choice.connect.clone()
            },
            midi_in: choice.midi_in.clone(),
            output_channels: self.options.output_channels.clone(),
            input_channels: self.options.input_channels.clone(),
            audio_in: self.options.audio_in,
            ..defaults
        };
        // The old driver lets go first (a JACK client name, a device can
        // be held by one stream only); a short fade, all notes off.
        let engine = self
            .stream
            .take()
            .and_then(|s| s.stop())
            .ok_or("the audio driver ended abnormally; restart stagerack")?;
        match self
            .try_start(kind, options, engine, rate, false)
            .map_err(|e| *e)
        {
            Ok(()) => Ok(self.in_use.clone()),
            Err((why, Some(engine))) => {
                let now = self.restore(engine, rate);
                Err(format!("cannot play on {kind}: {why}; {now}"))
            }
            Err((why, None)) => Err(format!(
                "cannot play on {kind}: {why}; the engine was lost with the driver, restart \
                 stagerack"
            )),
        }
    }
}

/// A show playing live: session, control server and audio driver. Main
/// thread only.
pub struct Runtime {
    session: Option<Session>,
    server: ControlServer,
    audio: AudioHost,
    /// The setlist entry the last pump saw playing.
    group: u16,
    /// The stream state the last pump saw.
    state: StreamState,
}

impl Runtime {
    /// Opens the driver `audio` chooses, builds the session for its format
    /// and starts playing `show`. Main thread.
    pub fn start(show: &LoadedShow, audio: &AudioChoice) -> Result<Self, RuntimeError> {
        let (kind, mut options, fallback) = match audio {
            AudioChoice::NoDevice => (
                BackendKind::Dummy,
                no_device_options(&StreamOptions::default().name),
                None,
            ),
            AudioChoice::Live { backend, options } => {
                let kind = backend.unwrap_or_else(BackendKind::platform_default);
                (kind, options.clone(), backend.is_none().then_some(()))
            }
        };
        options.output_channels = show.output_channels();
        options.input_channels = show.input_channels();
        let mut warning = None;
        let mut no_device = matches!(audio, AudioChoice::NoDevice);
        let (kind, options, mut stream) = match open_stream(kind, &options) {
            Ok(stream) => (kind, options, stream),
            Err(e) if fallback.is_none() => return Err(e.into()),
            Err(e) => {
                warning = Some(format!(
                    "no audio output ({e}); the engine runs without sound — start a JACK \
                     server or pass --backend/--connect"
                ));
                let options = StreamOptions {
                    output_channels: options.output_channels.clone(),
                    ..no_device_options(&options.name)
                };
                let stream = open_stream(BackendKind::Dummy, &options)?;
                no_device = true;
                (BackendKind::Dummy, options, stream)
            }
        };
        let format = stream.format();
        let config = EngineConfig {
            sample_rate: f64::from(format.sample_rate),
            max_block: format.max_block(),
            queues: QueueCapacities::default(),
        };
        let (mut session, engine) = show.session(config, false)?;
        for (group, file) in show.files.iter().enumerate() {
            session.set_preset_file(group as u16, Some(file.clone()));
        }
        if let Some(w) = warning {
            tracing::warn!("{w}");
            session.push_warning(w);
        }
        if let Err(e) = stream.start(engine) {
            if let Some(engine) = stream.stop() {
                session.shutdown(engine);
            }
            return Err(e.into());
        }
        let audio = AudioHost {
            in_use: in_use_of(stream.as_ref(), kind, &options, no_device),
            stream: Some(stream),
            kind,
            no_device,
            name: options.name.clone(),
            options,
        };
        tracing::info!("playing on {}", audio.describe());
        let mut server = ControlServer::new();
        if let Some(setlist) = &show.setlist {
            server.set_setlist(setlist);
        }
        Ok(Self {
            group: session.current_group(),
            session: Some(session),
            server,
            audio,
            state: StreamState::Running,
        })
    }

    /// Where the audio goes: `jack (48000 Hz, 64 frames)`. Main thread.
    pub fn output(&self) -> String {
        self.audio.describe()
    }

    /// The backend, rate and buffer in use. Main thread.
    pub fn audio_in_use(&self) -> &AudioInUse {
        &self.audio.in_use
    }

    /// Opens the control socket at `path` for other clients. Main thread.
    pub fn listen(&mut self, path: &Path) -> Result<(), RuntimeError> {
        self.server
            .listen(path)
            .map_err(|source| RuntimeError::Listen {
                path: path.to_owned(),
                source,
            })
    }

    /// Lets clients ask for a background plugin scan, each file opened by
    /// `program scan-one FILE` (the running `stagerack` or `stagerack-ui`).
    /// Main thread.
    pub fn set_scanner(&mut self, program: PathBuf) {
        self.server.set_scanner(program);
    }

    /// A client in this process (the window). Main thread.
    pub fn connect(&mut self) -> LocalClient {
        self.server.connect_local()
    }

    /// The session, to read (status lines, warnings); `None` after
    /// [`shutdown`](Self::shutdown). Main thread.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The main-thread pump: returned plans and plugin requests first,
    /// then every client's waiting commands (device selection included),
    /// stream maintenance and MIDI routing. Never blocks. Main thread.
    pub fn pump(&mut self) -> Vec<RuntimeEvent> {
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        let mut events: Vec<RuntimeEvent> = session
            .pump()
            .into_iter()
            .map(RuntimeEvent::Error)
            .collect();
        if !events.is_empty() {
            // A plugin failed or went away: every client sees it marked.
            self.server.broadcast_state(session);
        }
        self.server.poll_with(session, Some(&mut self.audio));
        let group = session.current_group();
        if group != self.group {
            self.group = group;
            events.push(RuntimeEvent::NowPlaying {
                name: session
                    .groups()
                    .get(usize::from(group))
                    .map_or_else(|| "?".to_owned(), |g| g.name.clone()),
                index: usize::from(group),
                count: session.groups().len(),
            });
        }
        if let Some(stream) = self.audio.stream.as_mut() {
            // Reconnects a lost server or device, connects hot-plugged MIDI.
            let state = stream.maintain();
            // Racks with device patterns follow the inputs as they come and go.
            if let Err(e) = session.set_midi_sources(stream.midi_sources()) {
                tracing::warn!("MIDI inputs changed but the racks could not be re-routed yet: {e}");
            }
            if state != self.state {
                self.state = state.clone();
                events.push(RuntimeEvent::Audio(state));
            }
        }
        events
    }

    /// Buffers the driver has processed so far. Main thread.
    pub fn buffers(&self) -> u64 {
        self.session.as_ref().map_or(0, |s| {
            s.shared()
                .buffers
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Ends the show gently: all notes off, a short tail so releases fade
    /// instead of stopping mid-waveform, then the driver stops and every
    /// plugin is deactivated on this thread. Main thread.
    pub fn shutdown(&mut self) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        session.panic();
        let until = Instant::now() + Duration::from_millis(120);
        while Instant::now() < until {
            session.pump();
            self.server.poll(&mut session);
            std::thread::sleep(Duration::from_millis(5));
        }
        match self.audio.stream.take().and_then(|s| s.stop()) {
            Some(engine) => session.shutdown(engine),
            None => tracing::error!(
                "the audio engine was lost with its driver; plugins dropped without deactivation"
            ),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}
