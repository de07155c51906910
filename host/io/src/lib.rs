//! Audio and MIDI drivers. Every driver calls [`stagerack_engine::Engine::process`].
//!
//! - [`offline`]: faster than real time over a list of events (`stagerack
//!   render`, tests).
//! - Live backends behind one trait, [`AudioStream`], chosen at run time by
//!   a [`BackendKind`] value (`--backend jack|dummy`):
//!   - [`jack`]: a native JACK client; MIDI comes from its own JACK MIDI port
//!     with each event's in-cycle frame, and the engine runs inside the JACK
//!     process callback (no added latency, no jitter).
//!   - [`dummy`]: no device; a timer thread drives the engine and discards
//!     the output (headless runs on machines without audio, tests).
//!
//! Lifecycle of a live stream (main thread): [`open_stream`] connects to the
//! device and reports its [`StreamFormat`]; the session is built for that
//! format; [`AudioStream::start`] hands the [`Engine`] to the audio thread;
//! [`AudioStream::maintain`] runs regularly from the main loop (reconnects,
//! MIDI hot-plug); [`AudioStream::stop`] fades out, sends all notes off and
//! gives the engine back for `Session::shutdown` (session layer).

pub mod cpal_backend;
pub mod dummy;
pub mod jack;
pub mod midi_stream;
pub mod midir_in;
pub mod offline;
/// Real-time scheduling (moved to the core layer, which sandbox children
/// share).
pub use stagerack_core::realtime;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use stagerack_engine::Engine;

/// Which live backend to use. A value chosen at run time (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A native JACK client (JACK2 or PipeWire's JACK). The server is the one
    /// named by `JACK_DEFAULT_SERVER` (or the default server).
    Jack,
    /// ALSA through cpal (Linux): the default output device, or the first
    /// whose name contains `--connect NAME`; MIDI from midir inputs.
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    Alsa,
    /// WASAPI through cpal (Windows).
    #[cfg(target_os = "windows")]
    Wasapi,
    /// ASIO through cpal (Windows, built with `--features asio`; cpal finds
    /// the Steinberg SDK through CPAL_ASIO_DIR).
    #[cfg(all(target_os = "windows", feature = "asio"))]
    Asio,
    /// CoreAudio through cpal (macOS).
    #[cfg(target_os = "macos")]
    CoreAudio,
    /// No device: a timer thread runs the engine at `--rate`/`--buffer` and
    /// discards the output; MIDI from midir inputs (`--midi-in`). For
    /// machines without audio, and tests.
    Dummy,
}

/// A setting chosen by name (on a command line, in a file): every value
/// and its name, so front ends build their own parsers. Any thread.
pub trait NamedChoice: Sized + Copy + Send + Sync + 'static {
    /// Every value.
    fn all() -> &'static [Self];

    /// The value's name.
    fn name(self) -> &'static str;

    /// The value named `name` (ASCII case ignored).
    fn from_name(name: &str) -> Option<Self> {
        Self::all()
            .iter()
            .copied()
            .find(|v| v.name().eq_ignore_ascii_case(name))
    }
}

impl NamedChoice for BackendKind {
    fn all() -> &'static [Self] {
        Self::ALL
    }

    fn name(self) -> &'static str {
        BackendKind::name(self)
    }
}

impl NamedChoice for MidiSource {
    fn all() -> &'static [Self] {
        &[MidiSource::Frames, MidiSource::Clock]
    }

    fn name(self) -> &'static str {
        match self {
            MidiSource::Frames => "frames",
            MidiSource::Clock => "clock",
        }
    }
}

impl NamedChoice for midi_stream::MidiTiming {
    fn all() -> &'static [Self] {
        &[Self::Steady, Self::Immediate]
    }

    fn name(self) -> &'static str {
        match self {
            Self::Steady => "steady",
            Self::Immediate => "immediate",
        }
    }
}

impl BackendKind {
    /// Every backend compiled into this binary. Any thread.
    pub const ALL: &'static [BackendKind] = &[
        BackendKind::Jack,
        #[cfg(any(target_os = "linux", target_os = "freebsd"))]
        BackendKind::Alsa,
        #[cfg(target_os = "windows")]
        BackendKind::Wasapi,
        #[cfg(all(target_os = "windows", feature = "asio"))]
        BackendKind::Asio,
        #[cfg(target_os = "macos")]
        BackendKind::CoreAudio,
        BackendKind::Dummy,
    ];

    /// The backend used when `--backend` is not given: ASIO when built in
    /// and a driver is installed, else WASAPI, on Windows; CoreAudio on
    /// macOS; JACK on Linux when a JACK server (or PipeWire's JACK)
    /// answers, else ALSA. Main thread (it may open a probe JACK client).
    pub fn platform_default() -> BackendKind {
        #[cfg(all(target_os = "windows", feature = "asio"))]
        if cpal::host_from_id(cpal::HostId::Asio)
            .ok()
            .and_then(|h| cpal::traits::HostTrait::default_output_device(&h))
            .is_some()
        {
            return BackendKind::Asio;
        }
        #[cfg(target_os = "windows")]
        return BackendKind::Wasapi;
        #[cfg(target_os = "macos")]
        return BackendKind::CoreAudio;
        #[cfg(any(target_os = "linux", target_os = "freebsd"))]
        return if jack::server_answers() {
            BackendKind::Jack
        } else {
            BackendKind::Alsa
        };
        #[allow(unreachable_code)]
        BackendKind::Jack
    }

    /// The name used on the command line. Any thread.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Jack => "jack",
            #[cfg(any(target_os = "linux", target_os = "freebsd"))]
            BackendKind::Alsa => "alsa",
            #[cfg(target_os = "windows")]
            BackendKind::Wasapi => "wasapi",
            #[cfg(all(target_os = "windows", feature = "asio"))]
            BackendKind::Asio => "asio",
            #[cfg(target_os = "macos")]
            BackendKind::CoreAudio => "core-audio",
            BackendKind::Dummy => "dummy",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a live stream is asked for. Main thread.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Client name (JACK) shown to other applications.
    pub name: String,
    /// Requested sample rate; JACK uses the server's (a different request is
    /// an error naming the server's rate).
    pub rate: Option<u32>,
    /// Requested buffer size in frames; JACK asks the server to change its
    /// buffer size to it.
    pub buffer: Option<u32>,
    /// Where to connect the outputs: `auto` (the physical playback ports),
    /// `none`, or a port-name regular expression (first two matches get left
    /// and right). Several may be given.
    pub connect: Vec<String>,
    /// MIDI sources to connect to the MIDI input, as port-name regular
    /// expressions; `all` takes every physical MIDI source. Ports that
    /// appear later (hot-plug) are connected when they show up.
    pub midi_in: Vec<String>,
    /// Register stereo audio inputs (`in_L`, `in_R`) feeding the racks
    /// (when the show names no `[[input]]`).
    pub audio_in: bool,
    /// The name of each input channel (JACK: one port each), in channel
    /// order, from the show's `[[input]]` list (`vocal`, `guitar_L`, …);
    /// empty: `in_L`/`in_R` with `audio_in`, else none.
    pub input_channels: Vec<String>,
    /// The name of each output channel the engine writes, in channel
    /// order (JACK registers one port of each name; a device must have
    /// that many channels): `out_L`, `out_R` without `[[output]]`, else
    /// `FOH_L`, `FOH_R`, `IEM_L`, … as the preset's outputs say.
    pub output_channels: Vec<String>,
    /// How MIDI without in-cycle frames (midir inputs) is placed in the
    /// buffers.
    pub midi_timing: midi_stream::MidiTiming,
    /// Where JACK MIDI events get their position: their in-cycle frame
    /// (default), or their time on the system clock placed like a midir
    /// input's (`--midi-timing`); the latter exists to measure the steady
    /// path on real callbacks.
    pub midi_source: MidiSource,
}

/// How the JACK backend positions its MIDI (`--midi-source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MidiSource {
    /// The event's in-cycle frame: sample-exact, no added latency.
    #[default]
    Frames,
    /// The event's time on the system clock, placed through the
    /// delay-locked loop like a byte-stream device (`--midi-timing`).
    Clock,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            name: "stagerack".to_owned(),
            rate: None,
            buffer: None,
            connect: vec!["auto".to_owned()],
            midi_in: Vec::new(),
            audio_in: false,
            input_channels: Vec::new(),
            output_channels: vec!["out_L".to_owned(), "out_R".to_owned()],
            midi_timing: midi_stream::MidiTiming::Steady,
            midi_source: MidiSource::Frames,
        }
    }
}

/// The format a stream runs at, decided by the device. Main thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFormat {
    /// Frames per second.
    pub sample_rate: u32,
    /// Frames per driver callback (may change later; the engine splits
    /// buffers longer than the plan's block).
    pub buffer: u32,
}

impl StreamFormat {
    /// The largest block to build plans for: the buffer, but at least 1024
    /// frames so a later buffer-size increase rarely needs splitting.
    /// Main thread.
    pub fn max_block(&self) -> usize {
        (self.buffer as usize).clamp(1024, 8192)
    }
}

/// Where a live stream stands, as seen by the main loop. Main thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Created, engine not handed over yet.
    Idle,
    /// The driver calls the engine.
    Running,
    /// The device or server went away; the stream retries every second.
    Reconnecting {
        /// Why it went away, for the log.
        reason: String,
    },
    /// Stopped for good (after `stop` or a failure it cannot recover from).
    Failed {
        /// What went wrong, with the fix.
        reason: String,
    },
}

impl std::fmt::Display for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamState::Idle => f.write_str("idle"),
            StreamState::Running => f.write_str("running"),
            StreamState::Reconnecting { reason } => write!(f, "{reason}; reconnecting"),
            StreamState::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// Why a live stream could not open or start. Each message names what is
/// available and the fix. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The JACK server is not running (or not reachable).
    #[error(
        "cannot connect to the JACK server `{server}` ({status}); start it (e.g. `jackd -d alsa` \
         or `jackd -d dummy`), set JACK_DEFAULT_SERVER to the right server name, or pick another \
         backend: {available}"
    )]
    JackServer {
        /// The server name tried.
        server: String,
        /// JACK's status bits.
        status: String,
        /// The backends available.
        available: String,
    },
    /// Another JACK client already has this name.
    #[error("a JACK client named `{0}` already exists on this server; pass --name OTHER")]
    JackNameTaken(String),
    /// A JACK call failed.
    #[error("JACK: {0}")]
    Jack(String),
    /// The server runs at another rate than requested.
    #[error(
        "the JACK server runs at {server} Hz but --rate {requested} was asked; drop --rate or \
         restart the server at {requested} Hz"
    )]
    RateMismatch {
        /// The server's rate.
        server: u32,
        /// The requested rate.
        requested: u32,
    },
    /// A `--connect` or `--midi-in` pattern matched nothing.
    #[error("{what} `{pattern}` matches no port; available: {available}")]
    NoSuchPort {
        /// Which option.
        what: &'static str,
        /// The pattern given.
        pattern: String,
        /// The ports that exist.
        available: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    Option(String),
    /// The stream has no engine to start with or already runs.
    #[error("the stream is already running")]
    AlreadyRunning,
}

/// A live audio stream, main-thread side. One implementation per backend.
pub trait AudioStream {
    /// The backend behind this stream. Main thread.
    fn backend(&self) -> BackendKind;
    /// The format the device runs at. Main thread.
    fn format(&self) -> StreamFormat;
    /// Hands the engine to the audio thread and starts calling it. On error
    /// the stream keeps the engine; [`AudioStream::stop`] gives it back.
    /// Main thread.
    fn start(&mut self, engine: Engine) -> Result<(), IoError>;
    /// Regular main-thread upkeep (about every 10–100 ms): notices a lost
    /// server and reconnects, connects hot-plugged MIDI sources. Returns the
    /// current state. Main thread.
    fn maintain(&mut self) -> StreamState;
    /// Fades out, sends all notes off, stops the driver and gives the engine
    /// back (None only if the engine was lost with a crashed driver).
    /// Main thread.
    fn stop(self: Box<Self>) -> Option<Engine>;

    /// The MIDI input device behind each `TimedEvent::source` index (empty
    /// names for unused indices); an empty list when the backend merges its
    /// MIDI into one input (JACK's `midi_in`). Main thread.
    fn midi_sources(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Opens a live stream on `kind` (connects to the device, does not start
/// the audio yet). Main thread.
pub fn open_stream(
    kind: BackendKind,
    options: &StreamOptions,
) -> Result<Box<dyn AudioStream>, IoError> {
    match kind {
        BackendKind::Jack => Ok(Box::new(jack::JackStream::open(options)?)),
        BackendKind::Dummy => Ok(Box::new(dummy::DummyStream::open(options)?)),
        #[allow(unreachable_patterns)]
        other => Ok(Box::new(cpal_backend::CpalStream::open(other, options)?)),
    }
}

/// The backends as a list for error messages: `jack, dummy`. Any thread.
pub fn available_backends() -> String {
    BackendKind::ALL
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One output device a client may pick: `--connect NAME` on `backend`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutputDevice {
    /// The backend's command-line name (`jack`, `alsa`...).
    pub backend: String,
    /// The device (cpal) or playback port (JACK).
    pub name: String,
}

/// One MIDI source a client may pick: `--midi-in NAME` on `backend`
/// (`jack` for JACK MIDI ports; `midir` for the device inputs every other
/// backend reads).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MidiSourceName {
    /// `jack` or `midir`.
    pub backend: String,
    /// Port or device name.
    pub name: String,
}

/// Every backend, output device and MIDI source there is now, for device
/// settings (the rack window). Main thread.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceInventory {
    /// Backends compiled in (command-line names).
    pub backends: Vec<String>,
    /// Output devices by backend.
    pub outputs: Vec<OutputDevice>,
    /// MIDI sources.
    pub midi_inputs: Vec<MidiSourceName>,
}

/// What the engine plays on now.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudioInUse {
    /// Backend name, or `none` (no device: silent).
    pub backend: String,
    /// The `--connect` values in force.
    pub connect: Vec<String>,
    /// The `--midi-in` values in force.
    pub midi_in: Vec<String>,
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Frames per buffer.
    pub buffer: u32,
}

/// Lists every backend's devices and MIDI sources (opens a probe JACK
/// client, asks ALSA/WASAPI/CoreAudio). Main thread; takes some
/// milliseconds.
pub fn device_inventory() -> DeviceInventory {
    let mut inv = DeviceInventory {
        backends: BackendKind::ALL
            .iter()
            .map(|b| b.name().to_owned())
            .collect(),
        ..DeviceInventory::default()
    };
    if let Some((playback, midi)) = jack::list_ports() {
        let entry = |name| OutputDevice {
            backend: "jack".to_owned(),
            name,
        };
        inv.outputs.extend(playback.into_iter().map(entry));
        inv.midi_inputs
            .extend(midi.into_iter().map(|name| MidiSourceName {
                backend: "jack".to_owned(),
                name,
            }));
    }
    for kind in BackendKind::ALL
        .iter()
        .filter(|k| !matches!(k, BackendKind::Jack | BackendKind::Dummy))
    {
        for name in cpal_backend::list_outputs(*kind).unwrap_or_default() {
            inv.outputs.push(OutputDevice {
                backend: kind.name().to_owned(),
                name,
            });
        }
    }
    for name in midir_in::list_inputs().unwrap_or_default() {
        inv.midi_inputs.push(MidiSourceName {
            backend: "midir".to_owned(),
            name,
        });
    }
    inv
}

/// What `stagerack devices` prints: every backend, its devices and MIDI
/// inputs. Main thread.
pub fn describe_devices() -> String {
    let mut out = format!("backends: {}\n", available_backends());
    out.push_str(&jack::describe());
    for kind in BackendKind::ALL
        .iter()
        .filter(|k| !matches!(k, BackendKind::Jack | BackendKind::Dummy))
    {
        match cpal_backend::list_outputs(*kind) {
            Ok(names) if names.is_empty() => {
                out.push_str(&format!("{kind}: no output device\n"));
            }
            Ok(names) => {
                out.push_str(&format!("{kind} output devices (--connect NAME):\n"));
                for n in names {
                    out.push_str(&format!("    {n}\n"));
                }
            }
            Err(e) => out.push_str(&format!("{kind}: {e}\n")),
        }
    }
    out.push_str("dummy: always available (no device; output discarded; MIDI from midir)\n");
    match midir_in::list_inputs() {
        Ok(names) if names.is_empty() => out.push_str("midir MIDI inputs: none\n"),
        Ok(names) => {
            out.push_str("midir MIDI inputs (--midi-in with --backend dummy):\n");
            for n in names {
                out.push_str(&format!("    {n}\n"));
            }
        }
        Err(e) => out.push_str(&format!("midir MIDI inputs: {e}\n")),
    }
    out
}

/// The stop handshake between the main thread and a driver callback:
/// atomics only.
///
/// 1. The main thread calls [`StopControl::request`].
/// 2. The next callback processes normally and fades its output to zero.
/// 3. The callback after that asks the engine for all notes off, processes
///    (so plugins see the note-offs), outputs silence and marks the stop
///    done; every later callback outputs silence without calling the engine.
/// 4. The main thread, seeing [`StopControl::is_done`], stops the driver.
#[derive(Debug, Default)]
pub struct StopControl {
    requested: AtomicBool,
    done: AtomicBool,
    /// 0 = playing, 1 = faded, 2 = done (audio thread's own progress).
    stage: AtomicU64,
}

/// What the callback should do with this buffer. Audio thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopStage {
    /// Process normally.
    Play,
    /// Process, then fade the output to zero over this buffer.
    FadeOut,
    /// Request all notes off, process, then output silence.
    NotesOff,
    /// Output silence; the engine is not called.
    Silent,
}

impl StopControl {
    /// Asks the callback to stop. Main thread.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
    }

    /// True once the callback has faded out and sent notes off. Main thread.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Rearms for a new start. Main thread, with no callback running.
    pub fn reset(&self) {
        self.requested.store(false, Ordering::Release);
        self.done.store(false, Ordering::Release);
        self.stage.store(0, Ordering::Relaxed);
    }

    /// What this buffer must do; advances the handshake. Audio thread.
    #[inline]
    pub fn next_stage(&self) -> StopStage {
        if !self.requested.load(Ordering::Acquire) {
            return StopStage::Play;
        }
        match self.stage.load(Ordering::Relaxed) {
            0 => {
                self.stage.store(1, Ordering::Relaxed);
                StopStage::FadeOut
            }
            1 => {
                self.stage.store(2, Ordering::Relaxed);
                StopStage::NotesOff
            }
            _ => StopStage::Silent,
        }
    }

    /// Runs one buffer through `engine` according to the stop handshake,
    /// into a stereo pair. Audio thread.
    #[inline]
    pub fn run(
        &self,
        engine: &mut Engine,
        events: &[stagerack_core::midi::TimedEvent],
        input: Option<[&[f32]; 2]>,
        left: &mut [f32],
        right: &mut [f32],
    ) {
        let n = left.len().min(right.len());
        let inputs = input.map(|[l, r]| [l, r]);
        self.run_channels(
            engine,
            events,
            inputs.as_ref().map_or(&[][..], |i| &i[..]),
            &mut [&mut left[..n], &mut right[..n]],
        );
    }

    /// Runs one buffer through `engine` according to the stop handshake,
    /// into the driver's output channels (see
    /// [`Engine::process_channels`]). Audio thread.
    #[inline]
    pub fn run_channels(
        &self,
        engine: &mut Engine,
        events: &[stagerack_core::midi::TimedEvent],
        inputs: &[&[f32]],
        channels: &mut [&mut [f32]],
    ) {
        match self.next_stage() {
            StopStage::Play => engine.process_channels(events, inputs, channels),
            StopStage::FadeOut => {
                engine.process_channels(events, inputs, channels);
                for c in channels.iter_mut() {
                    let step = 1.0 / c.len().max(1) as f32;
                    for (i, x) in c.iter_mut().enumerate() {
                        *x *= 1.0 - (i + 1) as f32 * step;
                    }
                }
            }
            StopStage::NotesOff => {
                engine.request_panic();
                engine.process_channels(&[], inputs, channels);
                for c in channels.iter_mut() {
                    c.fill(0.0);
                }
                self.done.store(true, Ordering::Release);
            }
            StopStage::Silent => {
                for c in channels.iter_mut() {
                    c.fill(0.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagerack_engine::{new_engine, EngineConfig, QueueCapacities};

    #[test]
    fn stop_handshake_fades_then_sends_notes_off_then_stays_silent() {
        let stop = StopControl::default();
        assert_eq!(stop.next_stage(), StopStage::Play);
        stop.request();
        assert!(!stop.is_done());
        let (_handle, mut engine) = new_engine(EngineConfig {
            sample_rate: 48_000.0,
            max_block: 64,
            queues: QueueCapacities::default(),
        });
        let mut l = vec![1.0f32; 64];
        let mut r = vec![1.0f32; 64];
        // Fade-out buffer: the engine (no plan yet) writes silence.
        stop.run(&mut engine, &[], None, &mut l, &mut r);
        assert!(!stop.is_done());
        stop.run(&mut engine, &[], None, &mut l, &mut r);
        assert!(stop.is_done(), "notes off sent in the second buffer");
        let before = engine.steady_frames();
        l.fill(1.0);
        stop.run(&mut engine, &[], None, &mut l, &mut r);
        assert_eq!(
            engine.steady_frames(),
            before,
            "the engine is not called any more"
        );
        assert!(l.iter().chain(r.iter()).all(|x| *x == 0.0));
        stop.reset();
        assert_eq!(stop.next_stage(), StopStage::Play);
    }
}

// This crate's unit tests run under the allocation guard too.
#[cfg(test)]
stagerack_engine::install_guard!();
