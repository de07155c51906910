//! The engine inside the window's process, and the driver that runs it.
//!
//! [`InProcessEngine`] owns the [`Session`] (main thread), the
//! [`ControlServer`] the window (and, with `--listen`, other clients) talk
//! to, and the driver thread. Its [`InProcessEngine::pump`] is the
//! main-thread pump; the window calls it first in every frame.
//!
//! The driver is a live backend ([`AudioChoice::Live`]: the same
//! `stagerack::io` streams headless mode plays on — JACK, ALSA/WASAPI/
//! CoreAudio through cpal), or [`NullDriver`]: a real-time-paced thread
//! that calls [`Engine::process`] once per period on a monotonic deadline
//! and throws the audio away. The null driver is the fallback for machines
//! without an audio output (with a warning in the window) and what the
//! tests use.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stagerack::control::{ControlServer, DeviceChoice, DeviceHost, LocalClient};
use stagerack::engine::{Engine, EngineConfig, QueueCapacities};
use stagerack::io::{
    available_backends, open_stream, AudioInUse, AudioStream, BackendKind, IoError, StreamOptions,
};
use stagerack::preset::Preset;
use stagerack::session::{Session, SessionError};

/// Frames per period of the null driver (5.3 ms at 48 kHz).
pub const NULL_PERIOD: usize = 256;
/// Sample rate of the null driver.
pub const NULL_RATE: f64 = 48_000.0;

/// The engine's configuration for the null driver. Any thread.
pub fn null_config() -> EngineConfig {
    EngineConfig {
        sample_rate: NULL_RATE,
        max_block: NULL_PERIOD,
        queues: QueueCapacities::default(),
    }
}

/// A driver thread with no audio device: processes one period every
/// `period / rate` seconds on a monotonic clock and discards the output.
/// Created and stopped on the main thread; the thread it starts is the
/// engine's audio thread.
pub struct NullDriver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Engine>>,
}

impl NullDriver {
    /// Starts the audio thread with `engine`. Main thread.
    pub fn start(mut engine: Engine, rate: f64, period: usize) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stagerack-null-driver".into())
            .spawn(move || {
                // Preallocated once; `process` never allocates.
                let mut left = vec![0.0f32; period];
                let mut right = vec![0.0f32; period];
                let step = Duration::from_secs_f64(period as f64 / rate);
                let mut deadline = Instant::now();
                while !stop_flag.load(Ordering::Acquire) {
                    engine.process(&[], None, &mut left, &mut right);
                    deadline += step;
                    let now = Instant::now();
                    if deadline > now {
                        std::thread::sleep(deadline - now);
                    } else if now - deadline > step * 4 {
                        // Far behind (a stalled machine): start afresh
                        // rather than racing to catch up.
                        deadline = now;
                    }
                }
                engine
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread at its next period and gives the engine back.
    /// Main thread.
    pub fn stop(mut self) -> Option<Engine> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for NullDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Why the in-process engine could not start. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The preset's plugins could not be set up.
    #[error("the engine could not start: {0}")]
    Session(#[from] SessionError),
    /// The driver thread could not be created.
    #[error("the audio driver thread could not start: {0}")]
    Driver(std::io::Error),
    /// The chosen audio backend could not open or start.
    #[error("{0}")]
    Audio(#[from] IoError),
    /// The control socket could not be opened.
    #[error("cannot listen on the control socket {path}: {source}")]
    Listen {
        /// The socket path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the in-process engine's audio goes. Main thread.
#[derive(Clone, Debug)]
pub enum AudioChoice {
    /// No device: the null driver (tests, machines without audio).
    Null,
    /// A live backend: `backend` (None: the platform default — JACK when a
    /// server answers, else ALSA on Linux; falls back to the null driver
    /// with a warning when no output can be opened) with these options.
    Live {
        /// The backend, or None for the platform default.
        backend: Option<BackendKind>,
        /// Device options, as for `stagerack --preset`.
        options: StreamOptions,
    },
}

/// The thread calling the engine.
enum Driver {
    Null(NullDriver),
    Live(Box<dyn AudioStream>),
}

impl Driver {
    /// Stops the driver and gives the engine back. Main thread.
    fn stop(self) -> Option<Engine> {
        match self {
            Driver::Null(d) => d.stop(),
            Driver::Live(s) => s.stop(),
        }
    }
}

/// Why a driver could not take the engine: the reason, and the engine back
/// (None only if a crashed driver lost it).
type NotStarted = Box<(String, Option<Engine>)>;

/// Opens `kind` with `options` and starts it with `engine`, refusing a
/// device whose sample rate is not `rate` (0: any). Main thread.
fn start_live(
    kind: BackendKind,
    options: &StreamOptions,
    engine: Engine,
    rate: u32,
) -> Result<(Driver, AudioInUse), NotStarted> {
    let mut stream = match open_stream(kind, options) {
        Ok(s) => s,
        Err(e) => return Err(Box::new((e.to_string(), Some(engine)))),
    };
    let format = stream.format();
    if rate != 0 && format.sample_rate != rate {
        return Err(Box::new((
            format!(
                "{kind} runs at {} Hz and the engine at {rate} Hz; restart stagerack-ui with \
                 --backend {kind} --rate {}",
                format.sample_rate, format.sample_rate
            ),
            Some(engine),
        )));
    }
    if let Err(e) = stream.start(engine) {
        return Err(Box::new((e.to_string(), stream.stop())));
    }
    let in_use = AudioInUse {
        backend: kind.name().to_owned(),
        connect: options.connect.clone(),
        midi_in: options.midi_in.clone(),
        sample_rate: format.sample_rate,
        buffer: format.buffer,
    };
    Ok((Driver::Live(stream), in_use))
}

/// Starts the null driver with `engine`. Main thread.
fn start_null(engine: Engine, rate: f64) -> Result<(Driver, AudioInUse), HostError> {
    let driver = NullDriver::start(engine, rate, NULL_PERIOD).map_err(HostError::Driver)?;
    let in_use = AudioInUse {
        backend: "none".to_owned(),
        sample_rate: rate as u32,
        buffer: NULL_PERIOD as u32,
        ..AudioInUse::default()
    };
    Ok((Driver::Null(driver), in_use))
}

/// The driver and what it plays on; moves the engine between devices for
/// `select_devices`. Main thread.
struct AudioHost {
    driver: Option<Driver>,
    in_use: AudioInUse,
    /// The live backend and options in use (None: the null driver).
    live: Option<(BackendKind, StreamOptions)>,
    /// Client name for new streams.
    name: String,
}

impl AudioHost {
    /// `jack (48000 Hz, 64 frames)` or `no audio device (...)`.
    fn describe(&self) -> String {
        if self.live.is_none() {
            format!(
                "no audio device ({} Hz, {} frames)",
                self.in_use.sample_rate, self.in_use.buffer
            )
        } else {
            format!(
                "{} ({} Hz, {} frames)",
                self.in_use.backend, self.in_use.sample_rate, self.in_use.buffer
            )
        }
    }

    /// Puts `engine` back where it was (or on the null driver). Main thread.
    fn restore(&mut self, engine: Engine, rate: u32) -> String {
        if let Some((kind, options)) = self.live.clone() {
            match start_live(kind, &options, engine, rate).map_err(|e| *e) {
                Ok((driver, in_use)) => {
                    self.driver = Some(driver);
                    self.in_use = in_use;
                    return format!("still playing on {}", self.describe());
                }
                Err((why, Some(engine))) => return self.fall_back(engine, rate, &why),
                Err((why, None)) => return format!("the engine was lost with its driver: {why}"),
            }
        }
        self.fall_back(engine, rate, "")
    }

    fn fall_back(&mut self, engine: Engine, rate: u32, why: &str) -> String {
        match start_null(engine, f64::from(rate)) {
            Ok((driver, in_use)) => {
                self.driver = Some(driver);
                self.in_use = in_use;
                self.live = None;
                format!("{why}; the engine runs without sound now")
            }
            Err(e) => format!("{why}; {e}"),
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
        let kind = <BackendKind as stagerack::io::NamedChoice>::from_name(&choice.backend)
            .ok_or_else(|| {
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
            ..defaults
        };
        // The old driver lets go first (a JACK client name, a device can
        // be held by one stream only); a short fade, all notes off.
        let engine = self
            .driver
            .take()
            .and_then(Driver::stop)
            .ok_or("the audio driver ended abnormally; restart stagerack-ui")?;
        match start_live(kind, &options, engine, rate).map_err(|e| *e) {
            Ok((driver, in_use)) => {
                self.driver = Some(driver);
                self.in_use = in_use.clone();
                self.live = Some((kind, options));
                Ok(in_use)
            }
            Err((why, Some(engine))) => {
                let now = self.restore(engine, rate);
                Err(format!("cannot play on {kind}: {why}; {now}"))
            }
            Err((why, None)) => Err(format!(
                "cannot play on {kind}: {why}; the engine was lost with the driver, restart \
                 stagerack-ui"
            )),
        }
    }
}

/// The engine running in this process: session, control server and
/// driver. Main thread only (the session holds plugin main-thread handles).
pub struct InProcessEngine {
    session: Option<Session>,
    server: ControlServer,
    audio: AudioHost,
}

impl InProcessEngine {
    /// Builds the session from `preset` and starts the null driver.
    /// Main thread.
    pub fn start(preset: &Preset) -> Result<Self, HostError> {
        Self::start_with(preset, &AudioChoice::Null)
    }

    /// Builds the session from `preset` and starts the driver `audio`
    /// chooses. An explicitly named backend that cannot open is an error;
    /// the platform default falls back to the null driver with a warning
    /// the window shows. Main thread.
    pub fn start_with(preset: &Preset, audio: &AudioChoice) -> Result<Self, HostError> {
        let mut fallback = None;
        let mut name = StreamOptions::default().name;
        if let AudioChoice::Live { backend, options } = audio {
            name = options.name.clone();
            let kind = backend.unwrap_or_else(BackendKind::platform_default);
            match open_stream(kind, options) {
                Ok(stream) => return Self::start_on(preset, stream, kind, options),
                Err(e) if backend.is_some() => return Err(e.into()),
                Err(e) => {
                    fallback = Some(format!(
                        "no audio output ({e}); the engine runs without sound — start a JACK \
                         server or pass --backend/--connect"
                    ))
                }
            }
        }
        let config = null_config();
        let (mut session, engine) = Session::new(preset, config, false)?;
        if let Some(w) = fallback {
            tracing::warn!("{w}");
            session.warnings.push(w);
        }
        let (driver, in_use) = start_null(engine, config.sample_rate)?;
        Ok(Self {
            session: Some(session),
            server: ControlServer::new(),
            audio: AudioHost {
                driver: Some(driver),
                in_use,
                live: None,
                name,
            },
        })
    }

    /// The session for the stream's format, the engine handed to it.
    fn start_on(
        preset: &Preset,
        mut stream: Box<dyn AudioStream>,
        kind: BackendKind,
        options: &StreamOptions,
    ) -> Result<Self, HostError> {
        let format = stream.format();
        let config = EngineConfig {
            sample_rate: f64::from(format.sample_rate),
            max_block: format.max_block(),
            queues: QueueCapacities::default(),
        };
        let (session, engine) = Session::new(preset, config, false)?;
        if let Err(e) = stream.start(engine) {
            if let Some(engine) = stream.stop() {
                session.shutdown(engine);
            }
            return Err(e.into());
        }
        let audio = AudioHost {
            driver: Some(Driver::Live(stream)),
            in_use: AudioInUse {
                backend: kind.name().to_owned(),
                connect: options.connect.clone(),
                midi_in: options.midi_in.clone(),
                sample_rate: format.sample_rate,
                buffer: format.buffer,
            },
            live: Some((kind, options.clone())),
            name: options.name.clone(),
        };
        tracing::info!("playing on {}", audio.describe());
        Ok(Self {
            session: Some(session),
            server: ControlServer::new(),
            audio,
        })
    }

    /// Where the audio goes: backend, rate and buffer. Main thread.
    pub fn output(&self) -> String {
        self.audio.describe()
    }

    /// Opens the control socket at `path` for other clients. Main thread.
    pub fn listen(&mut self, path: &Path) -> Result<(), HostError> {
        self.server
            .listen(path)
            .map_err(|source| HostError::Listen {
                path: path.to_owned(),
                source,
            })
    }

    /// A client in this process (the window). Main thread.
    pub fn connect(&mut self) -> LocalClient {
        self.server.connect_local()
    }

    /// The main-thread pump: returned plans and plugin requests first,
    /// then every client's waiting commands (device selection included).
    /// Never blocks. Main thread.
    pub fn pump(&mut self) {
        if let Some(session) = self.session.as_mut() {
            session.pump();
            self.server.poll_with(session, Some(&mut self.audio));
        }
        if let Some(Driver::Live(stream)) = self.audio.driver.as_mut() {
            // Reconnects a lost server or device, connects hot-plugged MIDI.
            stream.maintain();
            if let Some(session) = self.session.as_mut() {
                if let Err(e) = session.set_midi_sources(stream.midi_sources()) {
                    tracing::warn!("MIDI inputs changed; racks not re-routed yet: {e}");
                }
            }
        }
    }

    /// Buffers the driver has processed so far. Main thread.
    pub fn buffers(&mut self) -> u64 {
        self.session
            .as_mut()
            .map(|s| {
                s.handle()
                    .shared()
                    .buffers
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .unwrap_or(0)
    }

    /// Ends the engine gently: all notes off, a short tail so releases
    /// fade instead of stopping mid-waveform, then the driver stops and
    /// every plugin is deactivated on this thread. Main thread.
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
        match self.audio.driver.take().and_then(Driver::stop) {
            Some(engine) => session.shutdown(engine),
            None => tracing::error!(
                "the driver thread ended abnormally; plugins dropped without deactivation"
            ),
        }
    }
}

impl Drop for InProcessEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
