//! Audio through cpal: ALSA on Linux; WASAPI (and ASIO with the `asio`
//! feature) on Windows; CoreAudio on macOS. MIDI comes from midir inputs
//! (`--midi-in`) placed with the steady/immediate timing of
//! [`super::midi_stream`], stamped against cpal's callback time.
//!
//! A thin backend: the default output device of the chosen host (or the
//! first whose name contains `--connect PATTERN`), stereo f32, the
//! requested `--rate`/`--buffer` or the device's defaults. The engine sits
//! in an [`EngineCell`] so it comes back when the stream is dropped.
//!
//! A device that vanishes (cpal reports it gone, or its callback stops for
//! [`STALL`]) is closed on the main thread and looked for again every
//! second by the same name; when it is back, a new stream plays the same
//! engine and the same MIDI inputs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::jack::EngineCell;
use super::midi_stream::now_ns;
use super::midir_in::{MidiHub, MidiMerge};
use super::{
    available_backends, AudioStream, BackendKind, IoError, StopControl, StreamFormat,
    StreamOptions, StreamState,
};
use stagerack_core::midi::TimedEvent;
use stagerack_engine::alloc_guard::no_alloc;
use stagerack_engine::{Engine, EngineShared};

/// Frames of the preallocated de-interleaving buffers; longer callbacks are
/// processed in pieces of this size.
const SCRATCH: usize = 8192;

/// A running stream whose callback has not run for this long has lost its
/// device (some drivers stop calling without reporting an error).
pub const STALL: Duration = Duration::from_secs(2);

/// How often a lost device is looked for.
const RETRY: Duration = Duration::from_secs(1);

/// Where a stream's MIDI merge goes back when its callback is dropped, so
/// the next stream (after a device came back) reads the same inputs.
type MergeSlot = Arc<Mutex<Option<MidiMerge>>>;
/// The cpal host behind a backend. Main thread.
fn host_for(kind: BackendKind) -> Result<cpal::Host, IoError> {
    let id = match kind {
        #[cfg(any(target_os = "linux", target_os = "freebsd"))]
        BackendKind::Alsa => cpal::HostId::Alsa,
        #[cfg(target_os = "windows")]
        BackendKind::Wasapi => cpal::HostId::Wasapi,
        #[cfg(all(target_os = "windows", feature = "asio"))]
        BackendKind::Asio => cpal::HostId::Asio,
        #[cfg(target_os = "macos")]
        BackendKind::CoreAudio => cpal::HostId::CoreAudio,
        other => {
            return Err(IoError::Option(format!(
                "{other} is not a cpal backend; available: {}",
                available_backends()
            )))
        }
    };
    cpal::host_from_id(id).map_err(|e| {
        IoError::Option(format!(
            "the {kind} audio system is not available ({e}); available backends: {}",
            available_backends()
        ))
    })
}

fn device_name(d: &cpal::Device) -> String {
    d.description()
        .map(|x| x.name().to_owned())
        .unwrap_or_else(|_| "(unnamed)".to_owned())
}

/// The output devices of `kind`'s host, by name, or why there are none.
/// Main thread.
pub fn list_outputs(kind: BackendKind) -> Result<Vec<String>, IoError> {
    let host = host_for(kind)?;
    let devices = host
        .output_devices()
        .map_err(|e| IoError::Option(format!("cannot list {kind} output devices: {e}")))?;
    Ok(devices.map(|d| device_name(&d)).collect())
}

/// A cpal output stream, main-thread side.
pub struct CpalStream {
    kind: BackendKind,
    device: cpal::Device,
    config: cpal::StreamConfig,
    format: StreamFormat,
    stream: Option<cpal::Stream>,
    cell: Arc<EngineCell>,
    stop: Arc<StopControl>,
    hub: Option<MidiHub>,
    merge: MergeSlot,
    last_check: Instant,
    /// The `--connect` pattern the device was chosen by (None: default).
    pattern: Option<String>,
    /// Set by cpal's error callback when the device is gone.
    lost: Arc<AtomicBool>,
    /// The engine's counters (buffers processed), once started.
    shared: Option<Arc<EngineShared>>,
    /// Buffers processed at the last look, and when it changed.
    progress: (u64, Instant),
    /// Why the device is gone, while it is.
    gone: Option<String>,
    last_retry: Instant,
}

/// The output device named by `pattern` (substring, any case) or the
/// default one. Main thread.
fn find_device(host: &cpal::Host, pattern: Option<&str>) -> Option<cpal::Device> {
    match pattern {
        Some(p) => host.output_devices().ok().and_then(|mut ds| {
            ds.find(|d| device_name(d).to_lowercase().contains(&p.to_lowercase()))
        }),
        None => host.default_output_device(),
    }
}

impl CpalStream {
    /// Opens the output device (not started yet). No device is one error
    /// listing the devices and backends there are. Main thread.
    pub fn open(kind: BackendKind, options: &StreamOptions) -> Result<CpalStream, IoError> {
        let host = host_for(kind)?;
        let names = list_outputs(kind).unwrap_or_default();
        let pattern = options
            .connect
            .iter()
            .find(|p| p.as_str() != "auto" && p.as_str() != "none");
        let device = find_device(&host, pattern.map(String::as_str));
        let Some(device) = device else {
            return Err(IoError::NoSuchPort {
                what: "audio output device",
                pattern: pattern
                    .cloned()
                    .unwrap_or_else(|| format!("{kind} default")),
                available: if names.is_empty() {
                    format!(
                        "no {kind} output device; other backends: {}",
                        available_backends()
                    )
                } else {
                    names.join(", ")
                },
            });
        };
        let default = device.default_output_config().map_err(|e| {
            IoError::Option(format!(
                "{kind} device `{}` cannot play: {e}; available {kind} devices (pick one with \
                 --connect NAME): {}; other backends: {}",
                device_name(&device),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                },
                available_backends()
            ))
        })?;
        let rate = options.rate.unwrap_or(default.sample_rate());
        let buffer = options.buffer.unwrap_or(256);
        if !(8_000..=384_000).contains(&rate) || !(16..=8192).contains(&buffer) {
            return Err(IoError::Option(format!(
                "--rate {rate} / --buffer {buffer} out of range; use 8000–384000 Hz and 16–8192 \
                 frames"
            )));
        }
        // The preset's outputs decide how many channels are played; the
        // device must have them.
        let wanted = options.output_channels.len().max(2);
        let most = device
            .supported_output_configs()
            .map(|configs| {
                configs
                    .map(|c| usize::from(c.channels()))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
            .max(usize::from(default.channels()));
        if wanted > most {
            return Err(IoError::Option(format!(
                "the preset's outputs use {wanted} channels (the last is `{}`), but {kind} \
                 device `{}` has {most}; move the outputs to channels 1 to {most} or pick \
                 another device with --connect",
                options.output_channels.last().map_or("", String::as_str),
                device_name(&device),
            )));
        }
        let config = cpal::StreamConfig {
            channels: wanted as u16,
            sample_rate: rate,
            buffer_size: cpal::BufferSize::Fixed(buffer),
        };
        let (hub, merge) = if options.midi_in.is_empty() {
            (None, None)
        } else {
            let (h, m) = MidiHub::open(
                &options.midi_in,
                options.midi_timing,
                f64::from(rate),
                buffer,
            )?;
            (Some(h), Some(m))
        };
        Ok(CpalStream {
            kind,
            device,
            config,
            format: StreamFormat {
                sample_rate: rate,
                buffer,
            },
            stream: None,
            cell: Arc::new(EngineCell::new()),
            stop: Arc::new(StopControl::default()),
            hub,
            merge: Arc::new(Mutex::new(merge)),
            last_check: Instant::now(),
            pattern: pattern.cloned(),
            lost: Arc::new(AtomicBool::new(false)),
            shared: None,
            progress: (0, Instant::now()),
            gone: None,
            last_retry: Instant::now(),
        })
    }

    /// Builds and starts a stream on `self.device` calling the engine in
    /// the cell. Main thread.
    fn build(&mut self) -> Result<(), IoError> {
        let shared = self.shared.clone();
        let lost = self.lost.clone();
        lost.store(false, Ordering::Release);
        let merge = self.merge.lock().map(|mut m| m.take()).unwrap_or(None);
        let mut cb = Callback {
            cell: self.cell.clone(),
            stop: self.stop.clone(),
            merge,
            merge_home: self.merge.clone(),
            events: Vec::with_capacity(1024),
            scratch: vec![vec![0.0; SCRATCH]; usize::from(self.config.channels).max(2)],
            channels: usize::from(self.config.channels),
        };
        let stream = self
            .device
            .build_output_stream::<f32, _, _>(
                self.config,
                move |data: &mut [f32], _: &cpal::OutputCallbackInfo| no_alloc(|| cb.run(data)),
                move |e| {
                    // cpal reports xruns and device errors here (not the
                    // audio thread on ALSA).
                    use cpal::ErrorKind as K;
                    if matches!(
                        e.kind(),
                        K::DeviceNotAvailable
                            | K::StreamInvalidated
                            | K::HostUnavailable
                            | K::DeviceChanged
                    ) {
                        lost.store(true, Ordering::Release);
                    } else if let Some(shared) = &shared {
                        shared.xruns.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::warn!("audio stream: {e}");
                },
                None,
            )
            .map_err(|e| {
                IoError::Option(format!(
                    "cannot open a stereo f32 stream at {} Hz, {} frames on {} device `{}`: {e}; \
                     try other --rate/--buffer values",
                    self.format.sample_rate,
                    self.format.buffer,
                    self.kind,
                    device_name(&self.device)
                ))
            })?;
        stream
            .play()
            .map_err(|e| IoError::Option(format!("cannot start the {} stream: {e}", self.kind)))?;
        self.stream = Some(stream);
        self.progress = (self.buffers(), Instant::now());
        Ok(())
    }

    fn buffers(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.buffers.load(Ordering::Relaxed))
    }

    /// Why the running stream's device is gone, if it is. Main thread.
    fn device_gone(&mut self) -> Option<String> {
        if self.lost.load(Ordering::Acquire) {
            return Some(format!(
                "{} device `{}` is gone",
                self.kind,
                device_name(&self.device)
            ));
        }
        let now = self.buffers();
        if now != self.progress.0 {
            self.progress = (now, Instant::now());
            return None;
        }
        (self.progress.1.elapsed() >= STALL).then(|| {
            format!(
                "{} device `{}` stopped calling for {} s",
                self.kind,
                device_name(&self.device),
                STALL.as_secs()
            )
        })
    }

    /// Closes a dead stream; the engine stays in the cell. Main thread.
    fn close_dead_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream.pause();
            // Dropping ends the driver's thread; the callback hands the
            // MIDI merge back on its way out.
            drop(stream);
        }
    }

    /// Looks for the lost device and reopens it. Main thread.
    fn try_reopen(&mut self) -> Result<(), String> {
        let host = host_for(self.kind).map_err(|e| e.to_string())?;
        let device = find_device(&host, self.pattern.as_deref()).ok_or_else(|| {
            format!(
                "{} device `{}` not found",
                self.kind,
                self.pattern.as_deref().unwrap_or("default")
            )
        })?;
        self.device = device;
        self.build().map_err(|e| e.to_string())
    }
}

/// The cpal data callback's state. Audio thread.
struct Callback {
    cell: Arc<EngineCell>,
    stop: Arc<StopControl>,
    merge: Option<MidiMerge>,
    merge_home: MergeSlot,
    events: Vec<TimedEvent>,
    /// One de-interleaved buffer per device channel.
    scratch: Vec<Vec<f32>>,
    channels: usize,
}

/// The most device channels played.
const MAX_CHANNELS: usize = 64;

impl Drop for Callback {
    /// Runs when the stream is dropped (the driver's thread ending, not a
    /// callback): gives the MIDI merge back for the next stream.
    fn drop(&mut self) {
        if let Ok(mut home) = self.merge_home.lock() {
            *home = self.merge.take();
        }
    }
}

impl Callback {
    fn run(&mut self, data: &mut [f32]) {
        let now = now_ns();
        // SAFETY: this is the stream's only data callback; the main thread
        // touches the cell only after dropping the stream.
        let Some(engine) = (unsafe { self.cell.get() }) else {
            data.fill(0.0);
            return;
        };
        let ch = self.channels.max(1);
        for piece in data.chunks_mut(SCRATCH * ch) {
            let frames = piece.len() / ch;
            self.events.clear();
            if let Some(m) = self.merge.as_mut() {
                let lost = m.fill(now, frames as u32, &mut self.events);
                let shared = engine.shared();
                shared
                    .midi_events
                    .fetch_add(self.events.len() as u64, Ordering::Relaxed);
                shared
                    .events_dropped
                    .fetch_add(u64::from(lost), Ordering::Relaxed);
            }
            {
                let mut channels: [&mut [f32]; MAX_CHANNELS] = std::array::from_fn(|_| &mut [][..]);
                let count = self.scratch.len().min(MAX_CHANNELS);
                for (slot, buf) in channels.iter_mut().zip(self.scratch.iter_mut()) {
                    *slot = &mut buf[..frames];
                }
                self.stop
                    .run_channels(engine, &self.events, &[], &mut channels[..count]);
            }
            for (i, frame) in piece.chunks_mut(ch).enumerate() {
                for (c, x) in frame.iter_mut().enumerate() {
                    *x = self.scratch.get(c).map_or(0.0, |b| b[i]);
                }
            }
        }
    }
}

impl AudioStream for CpalStream {
    fn backend(&self) -> BackendKind {
        self.kind
    }

    fn format(&self) -> StreamFormat {
        self.format
    }

    fn start(&mut self, engine: Engine) -> Result<(), IoError> {
        if self.stream.is_some() {
            return Err(IoError::AlreadyRunning);
        }
        self.shared = Some(engine.shared().clone());
        self.cell.put(engine);
        self.build()
    }

    fn maintain(&mut self) -> StreamState {
        if let Some(hub) = self.hub.as_mut() {
            if self.last_check.elapsed() >= Duration::from_secs(1) {
                self.last_check = Instant::now();
                hub.maintain();
            }
        }
        if self.shared.is_none() {
            return StreamState::Idle;
        }
        if self.gone.is_none() && self.stream.is_some() {
            if let Some(reason) = self.device_gone() {
                tracing::warn!("{reason}; looking for it every second");
                self.close_dead_stream();
                self.gone = Some(reason);
                self.last_retry = Instant::now();
            }
        }
        let Some(reason) = self.gone.clone() else {
            return StreamState::Running;
        };
        if self.last_retry.elapsed() >= RETRY {
            self.last_retry = Instant::now();
            match self.try_reopen() {
                Ok(()) => {
                    tracing::info!(
                        "{} device `{}` is back",
                        self.kind,
                        device_name(&self.device)
                    );
                    self.gone = None;
                    return StreamState::Running;
                }
                Err(why) => tracing::debug!("reopen failed: {why}"),
            }
        }
        StreamState::Reconnecting { reason }
    }

    fn midi_sources(&self) -> Vec<String> {
        self.hub
            .as_ref()
            .map(MidiHub::source_names)
            .unwrap_or_default()
    }

    fn stop(mut self: Box<Self>) -> Option<Engine> {
        if let Some(stream) = self.stream.take() {
            self.stop.request();
            let deadline = Instant::now() + Duration::from_secs(1);
            while !self.stop.is_done() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = stream.pause();
            // Dropping the stream ends its audio thread.
            drop(stream);
        }
        self.cell.take()
    }
}
