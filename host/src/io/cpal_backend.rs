//! Audio through cpal: ALSA on Linux; WASAPI (and ASIO with the `asio`
//! feature) on Windows; CoreAudio on macOS. MIDI comes from midir inputs
//! (`--midi-in`) placed with the steady/immediate timing of
//! [`super::midi_stream`], stamped against cpal's callback time.
//!
//! A thin backend: the default output device of the chosen host (or the
//! first whose name contains `--connect PATTERN`), stereo f32, the
//! requested `--rate`/`--buffer` or the device's defaults. The engine sits
//! in an [`EngineCell`] so it comes back when the stream is dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::jack::EngineCell;
use super::midi_stream::now_ns;
use super::midir_in::{MidiHub, MidiMerge};
use super::{
    available_backends, AudioStream, BackendKind, IoError, StopControl, StreamFormat,
    StreamOptions, StreamState,
};
use crate::engine::alloc_guard::no_alloc;
use crate::engine::Engine;
use crate::midi::TimedEvent;

/// Frames of the preallocated de-interleaving buffers; longer callbacks are
/// processed in pieces of this size.
const SCRATCH: usize = 8192;

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
    merge: Option<MidiMerge>,
    last_check: Instant,
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
        let device = match pattern {
            Some(p) => host.output_devices().ok().and_then(|mut ds| {
                ds.find(|d| device_name(d).to_lowercase().contains(&p.to_lowercase()))
            }),
            None => host.default_output_device(),
        };
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
        let config = cpal::StreamConfig {
            channels: 2,
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
            merge,
            last_check: Instant::now(),
        })
    }
}

/// The cpal data callback's state. Audio thread.
struct Callback {
    cell: Arc<EngineCell>,
    stop: Arc<StopControl>,
    merge: Option<MidiMerge>,
    events: Vec<TimedEvent>,
    left: Vec<f32>,
    right: Vec<f32>,
    channels: usize,
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
            let (l, r) = (&mut self.left[..frames], &mut self.right[..frames]);
            self.stop.run(engine, &self.events, None, l, r);
            for (i, frame) in piece.chunks_mut(ch).enumerate() {
                for (c, x) in frame.iter_mut().enumerate() {
                    *x = match c {
                        0 => l[i],
                        1 => r[i],
                        _ => 0.0,
                    };
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
        let shared = engine.shared().clone();
        self.cell.put(engine);
        let mut cb = Callback {
            cell: self.cell.clone(),
            stop: self.stop.clone(),
            merge: self.merge.take(),
            events: Vec::with_capacity(1024),
            left: vec![0.0; SCRATCH],
            right: vec![0.0; SCRATCH],
            channels: usize::from(self.config.channels),
        };
        let stream = self
            .device
            .build_output_stream::<f32, _, _>(
                self.config,
                move |data: &mut [f32], _: &cpal::OutputCallbackInfo| no_alloc(|| cb.run(data)),
                move |e| {
                    // cpal reports xruns and device errors here (not the
                    // audio thread on ALSA); count them.
                    shared.xruns.fetch_add(1, Ordering::Relaxed);
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
        Ok(())
    }

    fn maintain(&mut self) -> StreamState {
        if let Some(hub) = self.hub.as_mut() {
            if self.last_check.elapsed() >= Duration::from_secs(1) {
                self.last_check = Instant::now();
                hub.maintain();
            }
        }
        if self.stream.is_some() {
            StreamState::Running
        } else {
            StreamState::Idle
        }
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
