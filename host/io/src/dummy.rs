//! The `dummy` backend: no device. A timer thread calls the engine once per
//! buffer period and discards the output, so a headless run works (and can
//! be tested) on a machine without audio. MIDI comes from midir inputs
//! (`--midi-in`), placed with the steady/immediate timing of
//! [`super::midi_stream`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::midi_stream::now_ns;
use super::midir_in::{MidiHub, MidiMerge};
use super::{AudioStream, BackendKind, IoError, StopControl, StreamFormat, StreamOptions};
use stagerack_core::midi::TimedEvent;
use stagerack_engine::alloc_guard::no_alloc;
use stagerack_engine::Engine;

/// A running (or idle) dummy stream. Main thread.
pub struct DummyStream {
    format: StreamFormat,
    engine: Option<Engine>,
    thread: Option<JoinHandle<Engine>>,
    quit: Arc<AtomicBool>,
    stop: Arc<StopControl>,
    hub: Option<MidiHub>,
    merge: Option<MidiMerge>,
    last_check: Instant,
}

impl DummyStream {
    /// Opens a dummy stream at `--rate` (default 48000) and `--buffer`
    /// (default 64). Main thread.
    pub fn open(options: &StreamOptions) -> Result<DummyStream, IoError> {
        let rate = options.rate.unwrap_or(48_000);
        let buffer = options.buffer.unwrap_or(64);
        if !(8_000..=384_000).contains(&rate) {
            return Err(IoError::Option(format!(
                "--rate {rate} is out of range; use 8000 to 384000"
            )));
        }
        if !(1..=8192).contains(&buffer) {
            return Err(IoError::Option(format!(
                "--buffer {buffer} is out of range; use 1 to 8192"
            )));
        }
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
        Ok(DummyStream {
            hub,
            merge,
            last_check: Instant::now(),
            format: StreamFormat {
                sample_rate: rate,
                buffer,
            },
            engine: None,
            thread: None,
            quit: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(StopControl::default()),
        })
    }
}

impl AudioStream for DummyStream {
    fn backend(&self) -> BackendKind {
        BackendKind::Dummy
    }

    fn format(&self) -> StreamFormat {
        self.format
    }

    fn start(&mut self, mut engine: Engine) -> Result<(), IoError> {
        if self.thread.is_some() {
            self.engine = Some(engine);
            return Err(IoError::AlreadyRunning);
        }
        let frames = self.format.buffer as usize;
        let period = Duration::from_secs_f64(frames as f64 / f64::from(self.format.sample_rate));
        let quit = self.quit.clone();
        let stop = self.stop.clone();
        let mut merge = self.merge.take();
        let spawned = std::thread::Builder::new()
            .name("stagerack-dummy-audio".to_owned())
            .spawn(move || {
                // Real-time like a driver's thread: the window's drawing
                // and other processes cannot take the CPU from it.
                if let Err(e) = crate::realtime::promote_current_thread() {
                    tracing::warn!("the dummy audio thread runs at normal priority: {e}");
                }
                let mut left = vec![0.0f32; frames];
                let mut right = vec![0.0f32; frames];
                let mut events: Vec<TimedEvent> = Vec::with_capacity(1024);
                let mut next = Instant::now();
                while !quit.load(Ordering::Acquire) {
                    no_alloc(|| {
                        if let Some(m) = merge.as_mut() {
                            let lost = m.fill(now_ns(), frames as u32, &mut events);
                            if lost > 0 {
                                engine
                                    .shared()
                                    .events_dropped
                                    .fetch_add(u64::from(lost), Ordering::Relaxed);
                            }
                            engine
                                .shared()
                                .midi_events
                                .fetch_add(events.len() as u64, Ordering::Relaxed);
                        }
                        stop.run(&mut engine, &events, None, &mut left, &mut right)
                    });
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else if now - next > period * 4 {
                        // Far behind (machine suspended, debugger): count it
                        // as an xrun and resynchronise instead of racing.
                        engine
                            .shared()
                            .xruns
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        next = now;
                    }
                }
                engine
            });
        match spawned {
            Ok(handle) => {
                self.thread = Some(handle);
                Ok(())
            }
            Err(e) => Err(IoError::Option(format!(
                "cannot start the dummy audio thread: {e}"
            ))),
        }
    }

    fn maintain(&mut self) -> super::StreamState {
        if let Some(hub) = self.hub.as_mut() {
            if self.last_check.elapsed() >= Duration::from_secs(1) {
                self.last_check = Instant::now();
                hub.maintain();
            }
        }
        if self.thread.is_some() {
            super::StreamState::Running
        } else {
            super::StreamState::Idle
        }
    }

    fn midi_sources(&self) -> Vec<String> {
        self.hub
            .as_ref()
            .map(MidiHub::source_names)
            .unwrap_or_default()
    }

    fn stop(mut self: Box<Self>) -> Option<Engine> {
        let Some(thread) = self.thread.take() else {
            return self.engine.take();
        };
        self.stop.request();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.stop.is_done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.quit.store(true, Ordering::Release);
        match thread.join() {
            Ok(engine) => Some(engine),
            Err(_) => {
                tracing::error!("the dummy audio thread panicked; its engine is lost");
                None
            }
        }
    }
}
