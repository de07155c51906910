//! The native JACK backend (the `jack` crate, libjack loaded at run time).
//!
//! One client (`stagerack`, or `--name`) on the server named by
//! `JACK_DEFAULT_SERVER`, with ports `out_L`, `out_R`, `midi_in`, one
//! `midi_in_k` per `--midi-in` pattern (its devices, told apart by racks)
//! and, when audio input is wanted, `in_L`, `in_R`. The JACK process callback decodes
//! the cycle's JACK MIDI events with their in-cycle frames into a
//! preallocated list and calls [`Engine::process`] right there: a note
//! starts on the exact frame it was sent at, with no added latency.
//!
//! If the server goes away (shutdown callback), [`JackStream::maintain`]
//! closes the dead client and tries every second to open a new one with
//! the same name and ports; when it succeeds it restores the connections
//! that existed before, sends all notes off and plays on with the same
//! engine.

use std::collections::BTreeSet;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jack::{
    AsyncClient, AudioIn, AudioOut, Client, ClientOptions, ClientStatus, Control, MidiIn,
    NotificationHandler, Port, PortFlags, ProcessHandler, ProcessScope,
};

use super::midi_stream::{midi_ring, now_ns, MidiProducer, MidiScheduler, ShortMessage, Stamped};
use super::{
    available_backends, AudioStream, BackendKind, IoError, MidiSource, StopControl, StreamFormat,
    StreamOptions, StreamState,
};
use stagerack_core::midi::{Event, TimedEvent};
use stagerack_engine::alloc_guard::no_alloc;
use stagerack_engine::{Engine, EngineShared};

/// JACK's port type name patterns (regular expressions).
const AUDIO_TYPE: &str = "audio";
const MIDI_TYPE: &str = "midi";
/// How many decoded events one cycle holds; more are counted as dropped.
const EVENTS_PER_CYCLE: usize = 1024;
/// How often the main thread checks connections and retries a lost server.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The most `midi_in_k` device ports (one per `--midi-in` pattern).
const MIDI_DEVICE_PORTS: usize = 8;

/// The name of the JACK server this process talks to. Any thread.
pub fn server_name() -> String {
    std::env::var("JACK_DEFAULT_SERVER").unwrap_or_else(|_| "default".to_owned())
}

/// Owns the engine while a JACK client may call it, across client
/// restarts. The audio thread borrows it during a callback; the main thread
/// puts or takes it only while no client is active.
pub(super) struct EngineCell(AtomicPtr<Engine>);

impl EngineCell {
    pub(super) fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }

    /// Stores the engine. Main thread, no active client.
    pub(super) fn put(&self, engine: Engine) {
        let old = self
            .0
            .swap(Box::into_raw(Box::new(engine)), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: a non-null pointer in the cell always comes from
            // `Box::into_raw` above and is owned by the cell; the swap took
            // it out, so this is its only owner.
            drop(unsafe { Box::from_raw(old) });
        }
    }

    /// Takes the engine out. Main thread, no active client.
    pub(super) fn take(&self) -> Option<Engine> {
        let p = self.0.swap(ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            None
        } else {
            // SAFETY: as in `put`: the pointer came from `Box::into_raw` and
            // the swap made us its only owner.
            Some(*unsafe { Box::from_raw(p) })
        }
    }

    /// The engine, for the duration of one callback. Audio thread.
    ///
    /// # Safety
    /// Only the active client's process callback may call this, and the
    /// main thread must not call `put`/`take` while a client is active (it
    /// deactivates and closes the client first). So at most one `&mut`
    /// exists at a time.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn get(&self) -> Option<&mut Engine> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: non-null pointers come from `Box::into_raw` and stay valid
        // until the main thread takes them, which the caller's contract
        // excludes during a callback.
        unsafe { p.as_mut() }
    }
}

impl Drop for EngineCell {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// The ports of one client.
struct Ports {
    midi_in: Port<MidiIn>,
    /// One port per `--midi-in` pattern (`midi_in_1`…): the devices that
    /// pattern matched, told apart from each other (`TimedEvent::source`
    /// k + 1) so racks can listen to some only.
    midi_devices: Vec<Port<MidiIn>>,
    /// One port per output channel (`StreamOptions::output_channels`).
    outs: Vec<Port<AudioOut>>,
    /// One port per input channel: `in_L`/`in_R` with `--audio-in`, or
    /// the show's `[[input]]` channels.
    ins: Vec<Port<AudioIn>>,
}

/// The most output ports a client registers.
const MAX_OUTPUT_PORTS: usize = 64;

/// The JACK process callback's state. Audio thread.
struct JackProcess {
    cell: Arc<EngineCell>,
    ports: Ports,
    events: Vec<TimedEvent>,
    stop: Arc<StopControl>,
    shared: Arc<EngineShared>,
    /// Send all notes off in the first cycle (after a reconnect: note-offs
    /// sent while the server was down were lost).
    notes_off_first: bool,
    /// `--midi-source clock`: events go through the system-clock path.
    clock: Option<ClockPath>,
    /// See `JackStream::release_notes`.
    release_notes: Arc<AtomicBool>,
}

/// The system-clock MIDI path inside the JACK callback (`--midi-source
/// clock`): each event is stamped with its time on [`now_ns`]'s clock
/// (the cycle's start from JACK plus its frame) and placed by a
/// [`MidiScheduler`], as a byte-stream device's would be.
struct ClockPath {
    producer: MidiProducer,
    scheduler: MidiScheduler,
    /// `now_ns() − jack_get_time() × 1000`: both are CLOCK_MONOTONIC.
    offset_ns: i64,
}

impl ProcessHandler for JackProcess {
    fn process(&mut self, client: &Client, ps: &ProcessScope) -> Control {
        no_alloc(|| self.cycle(client, ps));
        Control::Continue
    }

    fn buffer_size(&mut self, _: &Client, size: jack::Frames) -> Control {
        // Nothing to reallocate: the engine splits buffers longer than the
        // plan's block, and the event list does not depend on the size.
        tracing::debug!("JACK buffer size is now {size} frames");
        Control::Continue
    }
}

impl JackProcess {
    /// One JACK cycle. Audio thread; never allocates.
    #[inline]
    fn cycle(&mut self, client: &Client, ps: &ProcessScope) {
        let now = now_ns();
        self.events.clear();
        if self.release_notes.swap(false, Ordering::AcqRel) {
            // A keyboard vanished with keys down: sustain off and all notes
            // off on every channel, as its note-offs never come.
            for channel in 0..16u8 {
                for (controller, value) in [(64u8, 0u8), (123, 0)] {
                    if self.events.len() < self.events.capacity() {
                        self.events.push(TimedEvent::new(
                            0,
                            Event::ControlChange {
                                channel,
                                controller,
                                value,
                            },
                        ));
                    }
                }
            }
        }
        let mut received = 0u64;
        let mut dropped = 0u64;
        if let Some(clock) = self.clock.as_mut() {
            // JACK's own filtered clock of this cycle: start and period.
            let (cycle_start, period_ns) = ps.cycle_times().map_or(
                (
                    now as i64,
                    f64::from(ps.n_frames()) / f64::from(client.sample_rate()) * 1e9,
                ),
                |t| {
                    (
                        t.current_usecs as i64 * 1000 + clock.offset_ns,
                        f64::from(t.period_usecs) * 1000.0,
                    )
                },
            );
            for raw in self.ports.midi_in.iter(ps) {
                received += 1;
                if raw.bytes.is_empty() || raw.bytes.len() > 3 {
                    continue;
                }
                let mut bytes = [0u8; 3];
                bytes[..raw.bytes.len()].copy_from_slice(raw.bytes);
                // The event's time on JACK's smoothed frame clock, as a
                // device stamping on arrival would see it.
                let frame = ps.last_frame_time().wrapping_add(raw.time);
                let at = client.frames_to_time(frame) as i64 * 1000 + clock.offset_ns;
                clock.producer.push(Stamped {
                    time_ns: at.max(0) as u64,
                    message: ShortMessage {
                        bytes,
                        len: raw.bytes.len() as u8,
                    },
                });
            }
            // The buffer's time: JACK's own cycle start (as a cpal backend
            // would pass its callback timestamp), not this callback's
            // scheduling-delayed entry time.
            dropped += u64::from(clock.scheduler.fill_driver_clock(
                cycle_start.max(0) as u64,
                period_ns,
                ps.n_frames(),
                &mut self.events,
            ));
        }
        if self.clock.is_none() {
            let ports = std::iter::once(&self.ports.midi_in).chain(&self.ports.midi_devices);
            for (source, port) in ports.enumerate() {
                for raw in port.iter(ps) {
                    received += 1;
                    if let Some(event) = Event::from_midi(raw.bytes) {
                        // Never grow the list on this thread.
                        if self.events.len() < self.events.capacity() {
                            self.events
                                .push(TimedEvent::new(raw.time, event).from_source(source as u8));
                        } else {
                            dropped += 1;
                        }
                    }
                }
            }
            if !self.ports.midi_devices.is_empty() {
                // Several ports: merge them in time order (stable, in place).
                sort_by_offset(&mut self.events);
            }
        }
        if received > 0 {
            self.shared
                .midi_events
                .fetch_add(received, Ordering::Relaxed);
        }
        if dropped > 0 {
            self.shared
                .events_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
        let mut inputs: [&[f32]; MAX_OUTPUT_PORTS] = [&[]; MAX_OUTPUT_PORTS];
        let in_count = self.ports.ins.len().min(MAX_OUTPUT_PORTS);
        for (slot, port) in inputs.iter_mut().zip(self.ports.ins.iter()) {
            *slot = port.as_slice(ps);
        }
        let inputs = &inputs[..in_count];
        // Every output port's buffer, in channel order, on the stack.
        let mut channels: [&mut [f32]; MAX_OUTPUT_PORTS] = std::array::from_fn(|_| &mut [][..]);
        let count = self.ports.outs.len().min(MAX_OUTPUT_PORTS);
        for (slot, port) in channels.iter_mut().zip(self.ports.outs.iter_mut()) {
            *slot = port.as_mut_slice(ps);
        }
        let channels = &mut channels[..count];
        // SAFETY: this is the active client's process callback; the main
        // thread touches the cell only with no client active.
        match unsafe { self.cell.get() } {
            Some(engine) => {
                if std::mem::take(&mut self.notes_off_first) {
                    engine.request_panic();
                }
                self.stop
                    .run_channels(engine, &self.events, inputs, channels);
            }
            None => {
                for c in channels.iter_mut() {
                    c.fill(0.0);
                }
            }
        }
    }
}

/// JACK notifications: atomics only (the shutdown callback must be
/// async-signal-safe).
struct JackNotify {
    shared: Arc<EngineShared>,
    gone: Arc<AtomicBool>,
    rate: u32,
    rate_changed: Arc<AtomicBool>,
    /// `CLIENT:midi_in`, the prefix of our MIDI input ports.
    midi_in_prefix: String,
    /// See [`JackStream::release_notes`].
    release_notes: Arc<AtomicBool>,
}

impl NotificationHandler for JackNotify {
    unsafe fn shutdown(&mut self, _status: ClientStatus, _reason: &str) {
        self.gone.store(true, Ordering::Release);
    }

    fn sample_rate(&mut self, _: &Client, srate: jack::Frames) -> Control {
        if srate != self.rate {
            self.rate_changed.store(true, Ordering::Release);
        }
        Control::Continue
    }

    fn xrun(&mut self, _: &Client) -> Control {
        self.shared.xruns.fetch_add(1, Ordering::Relaxed);
        Control::Continue
    }

    /// A connection into one of our MIDI inputs went away (a keyboard
    /// unplugged, its client quit, or the user disconnected it): its
    /// note-offs will never come, so the next cycle releases every note.
    /// JACK reports it here at once, however briefly the source was
    /// connected. Notification thread (not real-time).
    fn ports_connected(&mut self, c: &Client, a: jack::PortId, b: jack::PortId, connected: bool) {
        if connected {
            return;
        }
        let ours = [a, b].into_iter().any(|id| {
            c.port_by_id(id)
                .and_then(|p| p.name().ok())
                .is_some_and(|n| n.starts_with(&self.midi_in_prefix))
        });
        if ours {
            tracing::warn!("a MIDI source was disconnected: releasing every note it may have held");
            self.release_notes.store(true, Ordering::Release);
        }
    }
}

/// A client opened but not activated yet.
struct Opened {
    client: Client,
    ports: Ports,
}

/// A JACK stream, main-thread side. See the module docs.
pub struct JackStream {
    options: StreamOptions,
    format: StreamFormat,
    opened: Option<Opened>,
    active: Option<AsyncClient<JackNotify, JackProcess>>,
    cell: Arc<EngineCell>,
    stop: Arc<StopControl>,
    gone: Arc<AtomicBool>,
    rate_changed: Arc<AtomicBool>,
    shared: Option<Arc<EngineShared>>,
    /// Connections to keep: (our port, their port), full names.
    wanted: BTreeSet<(String, String)>,
    /// Their ports of `wanted` that did not exist at the last check.
    missing: BTreeSet<String>,
    /// Ports already connected because a `--midi-in` pattern matched them.
    matched_midi: BTreeSet<String>,
    state: StreamState,
    last_check: Instant,
    /// Set when a MIDI source feeding `midi_in` vanished: the next cycle
    /// releases every note (its note-offs will never come).
    release_notes: Arc<AtomicBool>,
}

fn jack_err(e: jack::Error) -> IoError {
    IoError::Jack(e.to_string())
}

/// Opens a client named `options.name` and registers its ports. Main thread.
fn open_client(options: &StreamOptions) -> Result<Opened, IoError> {
    jack::set_logger(jack::LoggerType::None);
    // Not USE_EXACT_NAME: JACK2 then reports a taken name as a generic
    // server error. Open with whatever name JACK gives and compare.
    let (client, _status) =
        Client::new(&options.name, ClientOptions::NO_START_SERVER).map_err(|e| match e {
            jack::Error::ClientError(s) if s.contains(ClientStatus::NAME_NOT_UNIQUE) => {
                IoError::JackNameTaken(options.name.clone())
            }
            jack::Error::ClientError(_) if name_in_use(&options.name) => {
                IoError::JackNameTaken(options.name.clone())
            }
            jack::Error::ClientError(s) => IoError::JackServer {
                server: server_name(),
                status: format!("{s:?}"),
                available: available_backends(),
            },
            jack::Error::LibraryError(m) => IoError::JackServer {
                server: server_name(),
                status: format!(
                    "libjack could not be loaded: {m}; install it (Debian: apt-get install \
                 libjack-jackd2-0)"
                ),
                available: available_backends(),
            },
            other => jack_err(other),
        })?;
    if client.name() != options.name {
        return Err(IoError::JackNameTaken(options.name.clone()));
    }
    let reg = |e: jack::Error| IoError::Jack(format!("cannot register a port: {e}"));
    let mut midi_devices = Vec::new();
    for k in 1..=options.midi_in.len().min(MIDI_DEVICE_PORTS) {
        midi_devices.push(
            client
                .register_port(&format!("midi_in_{k}"), MidiIn::default())
                .map_err(reg)?,
        );
    }
    let ports = Ports {
        midi_devices,
        midi_in: client
            .register_port("midi_in", MidiIn::default())
            .map_err(reg)?,
        outs: options
            .output_channels
            .iter()
            .take(MAX_OUTPUT_PORTS)
            .map(|name| client.register_port(name, AudioOut::default()))
            .collect::<Result<_, _>>()
            .map_err(reg)?,
        ins: input_port_names(options)
            .iter()
            .take(MAX_OUTPUT_PORTS)
            .map(|name| client.register_port(name, AudioIn::default()))
            .collect::<Result<_, _>>()
            .map_err(reg)?,
    };
    Ok(Opened { client, ports })
}

impl JackStream {
    /// Connects to the JACK server and registers the ports (not active yet).
    /// `--buffer` asks the server for that buffer size; `--rate` must match
    /// the server's. Main thread.
    pub fn open(options: &StreamOptions) -> Result<JackStream, IoError> {
        if options.name.is_empty() || options.name.contains(':') {
            return Err(IoError::Option(format!(
                "--name `{}` is not a valid JACK client name; use a non-empty name without `:`",
                options.name
            )));
        }
        let opened = open_client(options)?;
        if let Some(b) = options.buffer {
            if !(1..=8192).contains(&b) || !b.is_power_of_two() {
                return Err(IoError::Option(format!(
                    "--buffer {b} is not a JACK buffer size; use a power of two from 16 to 8192"
                )));
            }
            if opened.client.buffer_size() != b {
                opened.client.set_buffer_size(b).map_err(|e| {
                    IoError::Jack(format!("the server refused buffer size {b}: {e}"))
                })?;
            }
        }
        let rate = opened.client.sample_rate();
        if let Some(r) = options.rate {
            if r != rate {
                return Err(IoError::RateMismatch {
                    server: rate,
                    requested: r,
                });
            }
        }
        let format = StreamFormat {
            sample_rate: rate,
            buffer: opened.client.buffer_size(),
        };
        Ok(JackStream {
            options: options.clone(),
            format,
            opened: Some(opened),
            active: None,
            cell: Arc::new(EngineCell::new()),
            stop: Arc::new(StopControl::default()),
            gone: Arc::new(AtomicBool::new(false)),
            rate_changed: Arc::new(AtomicBool::new(false)),
            shared: None,
            wanted: BTreeSet::new(),
            missing: BTreeSet::new(),
            matched_midi: BTreeSet::new(),
            state: StreamState::Idle,
            last_check: Instant::now(),
            release_notes: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Our ports' full names.
    fn our_ports(&self) -> Vec<String> {
        let mut names: Vec<String> = vec!["midi_in".to_owned()];
        names.extend(self.options.output_channels.iter().cloned());
        names.extend(input_port_names(&self.options));
        names.extend((1..=self.device_ports()).map(|k| format!("midi_in_{k}")));
        names
            .into_iter()
            .map(|p| format!("{}:{p}", self.options.name))
            .collect()
    }

    /// How many `midi_in_k` ports this client has.
    fn device_ports(&self) -> usize {
        self.options.midi_in.len().min(MIDI_DEVICE_PORTS)
    }

    /// Activates `opened` with the engine in the cell. Main thread.
    fn activate(&mut self, opened: Opened, notes_off_first: bool) -> Result<(), IoError> {
        let Some(shared) = self.shared.clone() else {
            return Err(IoError::Jack("no engine to run".to_owned()));
        };
        self.gone.store(false, Ordering::Release);
        self.rate_changed.store(false, Ordering::Release);
        let notify = JackNotify {
            shared: shared.clone(),
            gone: self.gone.clone(),
            rate: self.format.sample_rate,
            rate_changed: self.rate_changed.clone(),
            midi_in_prefix: format!("{}:midi_in", opened.client.name()),
            release_notes: self.release_notes.clone(),
        };
        let clock = (self.options.midi_source == MidiSource::Clock).then(|| {
            let (producer, ring) = midi_ring(EVENTS_PER_CYCLE, 64);
            ClockPath {
                producer,
                scheduler: MidiScheduler::new(
                    ring,
                    self.options.midi_timing,
                    f64::from(self.format.sample_rate),
                    self.format.buffer,
                ),
                offset_ns: now_ns() as i64 - opened.client.time() as i64 * 1000,
            }
        });
        let process = JackProcess {
            cell: self.cell.clone(),
            ports: opened.ports,
            events: Vec::with_capacity(EVENTS_PER_CYCLE),
            stop: self.stop.clone(),
            shared,
            notes_off_first,
            clock,
            release_notes: self.release_notes.clone(),
        };
        let active = opened
            .client
            .activate_async(notify, process)
            .map_err(|e| IoError::Jack(format!("cannot activate the client: {e}")))?;
        self.active = Some(active);
        self.state = StreamState::Running;
        Ok(())
    }

    /// Makes the connections asked for on the command line. `strict`: a
    /// pattern matching nothing is an error (first start), else a warning.
    fn connect_requested(&mut self, strict: bool) -> Result<(), IoError> {
        let Some(active) = self.active.as_ref() else {
            return Ok(());
        };
        let client = active.as_client();
        let name = self.options.name.clone();
        let outs: Vec<String> = self
            .options
            .output_channels
            .iter()
            .map(|c| format!("{name}:{c}"))
            .collect();
        for pattern in &self.options.connect {
            let targets = match pattern.as_str() {
                "none" => continue,
                "auto" => client.ports(
                    None,
                    Some(AUDIO_TYPE),
                    PortFlags::IS_INPUT | PortFlags::IS_PHYSICAL,
                ),
                p => client.ports(Some(p), Some(AUDIO_TYPE), PortFlags::IS_INPUT),
            };
            let targets: Vec<String> = targets
                .into_iter()
                .filter(|t| !t.starts_with(&format!("{name}:")))
                .collect();
            if targets.is_empty() {
                let available = client
                    .ports(None, Some(AUDIO_TYPE), PortFlags::IS_INPUT)
                    .into_iter()
                    .filter(|t| !t.starts_with(&format!("{name}:")))
                    .collect::<Vec<_>>();
                let err = IoError::NoSuchPort {
                    what: "--connect",
                    pattern: pattern.clone(),
                    available: list_or_none(&available),
                };
                if strict && pattern != "auto" {
                    return Err(err);
                }
                tracing::warn!("{err}");
                continue;
            }
            // One target: every channel to it; more: channel k to the
            // k-th (the last taking the rest).
            for (i, out) in outs.iter().enumerate() {
                let t = &targets[i.min(targets.len() - 1)];
                connect(client, out, t);
                self.wanted.insert((out.clone(), t.clone()));
            }
        }
        self.connect_midi_patterns(true);
        Ok(())
    }

    /// Connects MIDI sources matching `--midi-in` that are not yet matched.
    fn connect_midi_patterns(&mut self, report_empty: bool) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        let client = active.as_client();
        let mut now_matched = BTreeSet::new();
        for (k, pattern) in self.options.midi_in.iter().enumerate() {
            // Pattern k's devices go to their own port (the first eight
            // patterns; further ones share `midi_in`).
            let ours = if k < MIDI_DEVICE_PORTS {
                format!("{}:midi_in_{}", self.options.name, k + 1)
            } else {
                format!("{}:midi_in", self.options.name)
            };
            let sources = if pattern == "all" {
                client.ports(
                    None,
                    Some(MIDI_TYPE),
                    PortFlags::IS_OUTPUT | PortFlags::IS_PHYSICAL,
                )
            } else {
                client.ports(Some(pattern), Some(MIDI_TYPE), PortFlags::IS_OUTPUT)
            };
            if sources.is_empty() && report_empty {
                let available = client.ports(None, Some(MIDI_TYPE), PortFlags::IS_OUTPUT);
                tracing::warn!(
                    "--midi-in `{pattern}` matches no MIDI source yet (it is connected when it \
                     appears); available: {}",
                    list_or_none(&available)
                );
            }
            for s in sources {
                if self.matched_midi.contains(&s) {
                    now_matched.insert(s);
                } else if connect(client, &s, &ours) {
                    self.wanted.insert((ours.clone(), s.clone()));
                    now_matched.insert(s);
                }
                // Refused (its client not active yet): tried again at the
                // next check.
            }
        }
        // Forget sources that vanished, so a replugged one is connected again.
        self.matched_midi = now_matched;
    }

    /// Restores `wanted` connections whose other port exists. Main thread.
    fn restore_wanted(&mut self) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        let client = active.as_client();
        let mut missing = BTreeSet::new();
        for (ours, theirs) in &self.wanted {
            if client.port_by_name(theirs).is_none() {
                missing.insert(theirs.clone());
                continue;
            }
            let made = if is_output(ours, &self.options.output_channels) {
                connect(client, ours, theirs)
            } else {
                connect(client, theirs, ours)
            };
            if !made {
                // Its client may not be active yet: try again at the next
                // check, as for a port that is not back yet.
                missing.insert(theirs.clone());
            }
        }
        self.missing = missing;
    }

    /// Brings `wanted` up to date with the live graph: new connections are
    /// added, ones the user removed are dropped, and ports that came back
    /// are reconnected. Main thread.
    fn track_connections(&mut self) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        let client = active.as_client();
        let mut live = BTreeSet::new();
        for ours in self.our_ports() {
            if let Some(p) = client.port_by_name(&ours) {
                for theirs in p.get_connections() {
                    live.insert((ours.clone(), theirs));
                }
            }
        }
        let mut missing = BTreeSet::new();
        let mut keep = BTreeSet::new();
        for (ours, theirs) in &self.wanted {
            if live.contains(&(ours.clone(), theirs.clone())) {
                keep.insert((ours.clone(), theirs.clone()));
            } else if client.port_by_name(theirs).is_none() {
                // Gone for now (unplugged, client restarting): keep wanting it.
                missing.insert(theirs.clone());
                keep.insert((ours.clone(), theirs.clone()));
            } else if self.missing.contains(theirs) {
                // It came back (or could not be connected last time):
                // reconnect, and try again next time if JACK refuses.
                let made = if is_output(ours, &self.options.output_channels) {
                    connect(client, ours, theirs)
                } else {
                    connect(client, theirs, ours)
                };
                if !made {
                    missing.insert(theirs.clone());
                }
                keep.insert((ours.clone(), theirs.clone()));
            }
            // Else it exists and was present before: the user disconnected it.
        }
        // A MIDI source that was feeding us is gone: its held keys would
        // sound forever.
        let midi_lost = self.wanted.iter().any(|(ours, theirs)| {
            ours.contains(":midi_in")
                && missing.contains(theirs)
                && !self.missing.contains(theirs)
                && client.port_by_name(theirs).is_none()
        });
        if midi_lost {
            tracing::warn!("a MIDI source vanished: releasing every note it may have held");
            self.release_notes.store(true, Ordering::Release);
        }
        keep.extend(live);
        self.wanted = keep;
        self.missing = missing;
    }

    /// The server went away: close the dead client, keep the engine.
    fn lose(&mut self, reason: &str) {
        tracing::warn!(
            "{reason}; retrying every {} s to reconnect to `{}`",
            CHECK_EVERY.as_secs(),
            server_name()
        );
        if let Some(active) = self.active.take() {
            // Deactivating a client whose server died fails harmlessly; the
            // client is closed either way and its thread has ended.
            if let Err(e) = active.deactivate() {
                tracing::debug!("closing the dead JACK client: {e}");
            }
        }
        self.missing = self.wanted.iter().map(|(_, t)| t.clone()).collect();
        self.matched_midi.clear();
        self.state = StreamState::Reconnecting {
            reason: reason.to_owned(),
        };
    }

    /// One reconnection attempt.
    fn try_reconnect(&mut self) {
        let opened = match open_client(&self.options) {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!("JACK not back yet: {e}");
                return;
            }
        };
        let rate = opened.client.sample_rate();
        if rate != self.format.sample_rate {
            tracing::error!(
                "the JACK server is back at {rate} Hz but this session runs at {} Hz; restart \
                 the server at {} Hz or restart stagerack",
                self.format.sample_rate,
                self.format.sample_rate
            );
            return;
        }
        self.format.buffer = opened.client.buffer_size();
        match self.activate(opened, true) {
            Ok(()) => {
                self.restore_wanted();
                if let Err(e) = self.connect_requested(false) {
                    tracing::warn!("{e}");
                }
                tracing::info!("reconnected to the JACK server `{}`", server_name());
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

/// True when a JACK server (JACK2 or PipeWire's JACK) answers on the
/// server `JACK_DEFAULT_SERVER` names, without starting one. Main thread.
pub fn server_answers() -> bool {
    jack::set_logger(jack::LoggerType::None);
    let probe = format!("stagerack-probe-{}", std::process::id());
    Client::new(&probe, ClientOptions::NO_START_SERVER).is_ok()
}

/// True when the server is up and a client called `name` exists (JACK2
/// refuses a taken name with a generic server error). Main thread.
fn name_in_use(name: &str) -> bool {
    let probe = format!("stagerack-probe-{}", std::process::id());
    match Client::new(&probe, ClientOptions::NO_START_SERVER) {
        Ok((c, _)) => c.uuid_of_client_by_name(name).is_some(),
        Err(e) => {
            tracing::debug!("cannot probe for client `{name}`: {e}");
            false
        }
    }
}

/// The audio input ports a client registers: the show's `[[input]]`
/// channels, else `in_L`/`in_R` with `--audio-in`, else none.
fn input_port_names(options: &StreamOptions) -> Vec<String> {
    if !options.input_channels.is_empty() {
        options.input_channels.clone()
    } else if options.audio_in {
        vec!["in_L".to_owned(), "in_R".to_owned()]
    } else {
        Vec::new()
    }
}

/// True when `ours` (a full port name of this client) is one of its
/// output channels.
fn is_output(ours: &str, output_channels: &[String]) -> bool {
    ours.rsplit(':')
        .next()
        .is_some_and(|s| output_channels.iter().any(|c| c == s))
}

/// Stable insertion sort by offset: no allocation, and the lists are short
/// and mostly sorted already. Audio thread.
fn sort_by_offset(events: &mut [TimedEvent]) {
    for i in 1..events.len() {
        let mut j = i;
        while j > 0 && events[j - 1].offset > events[j].offset {
            events.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Connects two ports; false (logged) when JACK refused, e.g. because the
/// other client is not active yet.
fn connect(client: &Client, from: &str, to: &str) -> bool {
    match client.connect_ports_by_name(from, to) {
        Ok(()) | Err(jack::Error::PortAlreadyConnected(..)) => true,
        Err(e) => {
            tracing::warn!("cannot connect {from} to {to}: {e}");
            false
        }
    }
}

fn list_or_none(ports: &[String]) -> String {
    if ports.is_empty() {
        "none".to_owned()
    } else {
        ports.join(", ")
    }
}

impl AudioStream for JackStream {
    fn backend(&self) -> BackendKind {
        BackendKind::Jack
    }

    fn format(&self) -> StreamFormat {
        self.format
    }

    fn start(&mut self, engine: Engine) -> Result<(), IoError> {
        if self.active.is_some() {
            return Err(IoError::AlreadyRunning);
        }
        let Some(opened) = self.opened.take() else {
            return Err(IoError::AlreadyRunning);
        };
        self.shared = Some(engine.shared().clone());
        self.stop.reset();
        self.cell.put(engine);
        self.activate(opened, false)?;
        self.connect_requested(true)?;
        self.last_check = Instant::now();
        Ok(())
    }

    fn maintain(&mut self) -> StreamState {
        match &self.state {
            StreamState::Running => {
                if self.gone.load(Ordering::Acquire) {
                    self.lose("the JACK server shut down");
                    self.last_check = Instant::now();
                } else if self.last_check.elapsed() >= CHECK_EVERY {
                    self.last_check = Instant::now();
                    if self.rate_changed.swap(false, Ordering::AcqRel) {
                        tracing::error!(
                            "the JACK server changed its sample rate; this session runs at {} \
                             Hz (pitch and timing are off until the server runs at that rate)",
                            self.format.sample_rate
                        );
                    }
                    self.track_connections();
                    self.connect_midi_patterns(false);
                    if let Some(a) = &self.active {
                        self.format.buffer = a.as_client().buffer_size();
                    }
                }
            }
            StreamState::Reconnecting { .. } => {
                if self.last_check.elapsed() >= CHECK_EVERY {
                    self.last_check = Instant::now();
                    self.try_reconnect();
                }
            }
            StreamState::Idle | StreamState::Failed { .. } => {}
        }
        self.state.clone()
    }

    fn midi_sources(&self) -> Vec<String> {
        let n = self.device_ports();
        let Some(active) = self.active.as_ref().filter(|_| n > 0) else {
            return Vec::new();
        };
        let client = active.as_client();
        // Source 0 is `midi_in` (whatever is connected by hand, merged);
        // source k is `midi_in_k`, named by the devices connected to it.
        let mut names = vec![String::new()];
        for k in 1..=n {
            let port = format!("{}:midi_in_{k}", self.options.name);
            let connected = client
                .port_by_name(&port)
                .map(|p| p.get_connections())
                .unwrap_or_default();
            names.push(connected.join(" + "));
        }
        names
    }

    fn stop(mut self: Box<Self>) -> Option<Engine> {
        if let Some(active) = self.active.take() {
            if !self.gone.load(Ordering::Acquire) {
                self.stop.request();
                let deadline = Instant::now() + Duration::from_secs(1);
                while !self.stop.is_done()
                    && !self.gone.load(Ordering::Acquire)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            if let Err(e) = active.deactivate() {
                tracing::debug!("deactivating the JACK client: {e}");
            }
        }
        self.state = StreamState::Failed {
            reason: "stopped".to_owned(),
        };
        // No client is active any more: the engine can leave the cell.
        self.cell.take()
    }
}

/// The JACK server's physical playback ports and every MIDI source (for
/// `--connect` and `--midi-in`), or None when no server answers. Main
/// thread.
pub fn list_ports() -> Option<(Vec<String>, Vec<String>)> {
    jack::set_logger(jack::LoggerType::None);
    let probe = format!("stagerack-probe-{}", std::process::id());
    let (client, _) = Client::new(&probe, ClientOptions::NO_START_SERVER).ok()?;
    let physical = PortFlags::IS_PHYSICAL;
    let playback = client.ports(None, Some(AUDIO_TYPE), PortFlags::IS_INPUT | physical);
    // Every MIDI source, hardware or not: a keyboard behind a2jmidid or a
    // software instrument is as much a source as a physical port.
    let midi = client.ports(None, Some(MIDI_TYPE), PortFlags::IS_OUTPUT);
    Some((playback, midi))
}

/// What `stagerack devices` shows for JACK: the server, its format and its
/// ports, or why it is not reachable. Main thread.
pub fn describe() -> String {
    jack::set_logger(jack::LoggerType::None);
    let mut out = String::new();
    let server = server_name();
    match Client::new(
        "stagerack-devices",
        ClientOptions::NO_START_SERVER | ClientOptions::USE_EXACT_NAME,
    ) {
        Err(e) => {
            out.push_str(&format!(
                "jack: server `{server}` not reachable ({e}); start jackd or set \
                 JACK_DEFAULT_SERVER\n"
            ));
        }
        Ok((client, _)) => {
            out.push_str(&format!(
                "jack: server `{server}` running at {} Hz, {} frames per buffer\n",
                client.sample_rate(),
                client.buffer_size()
            ));
            let sections = [
                (
                    "audio playback (--connect)",
                    AUDIO_TYPE,
                    PortFlags::IS_INPUT,
                ),
                ("audio capture", AUDIO_TYPE, PortFlags::IS_OUTPUT),
                ("MIDI sources (--midi-in)", MIDI_TYPE, PortFlags::IS_OUTPUT),
            ];
            for (title, ty, flags) in sections {
                out.push_str(&format!("  {title}:\n"));
                let ports: Vec<String> = client
                    .ports(None, Some(ty), flags)
                    .into_iter()
                    .filter(|p| !p.starts_with("stagerack-devices:"))
                    .collect();
                if ports.is_empty() {
                    out.push_str("    (none)\n");
                }
                for p in ports {
                    out.push_str(&format!("    {p}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_cell_round_trip() {
        let config = stagerack_engine::EngineConfig {
            sample_rate: 48_000.0,
            max_block: 64,
            queues: stagerack_engine::QueueCapacities::default(),
        };
        let (_handle, engine) = stagerack_engine::new_engine(config);
        let cell = EngineCell::new();
        assert!(cell.take().is_none());
        cell.put(engine);
        // SAFETY: no client is active in this test; one borrow at a time.
        let frames = unsafe { cell.get() }.map(|e| e.steady_frames());
        assert_eq!(frames, Some(0));
        assert!(cell.take().is_some());
        assert!(cell.take().is_none());
    }

    #[test]
    fn outputs_are_told_apart_from_inputs() {
        let outs = ["out_L".to_owned(), "out_R".to_owned(), "IEM_L".to_owned()];
        assert!(is_output("stagerack:out_L", &outs));
        assert!(is_output("x:out_R", &outs));
        assert!(is_output("x:IEM_L", &outs));
        assert!(!is_output("stagerack:midi_in", &outs));
        assert!(!is_output("stagerack:in_L", &outs));
    }
}
