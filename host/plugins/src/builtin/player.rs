//! `builtin:player`: a backing track (`file = "backing.flac"` on the
//! plugin entry, relative to the preset) played from its start when its
//! song begins: at the sample its preset becomes current (the engine sends
//! its racks a MIDI Start there), on a MIDI Start from the inputs, or, with
//! `note_start = 1`, on the first note-on. MIDI Stop stops it; `loop = 1`
//! plays it again from the top at its end.
//!
//! The file is opened and its first audio decoded when the preset loads
//! (a missing or unreadable file is a load error naming it); a thread
//! decodes and resamples it into a lock-free ring ([`super::player_stream`])
//! ahead of the audio thread, which only pops from it. A disk too slow to
//! keep up leaves gaps of silence, counted and reported by name.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::player_stream::{self, FeedState, TrackInfo};
use super::{ParamSpec, ParamStore};
use stagerack_core::midi::Event;
use stagerack_core::plugin::{
    AudioProcessor, Block, PluginError, ProcessConfig, ProcessStatus, Tail,
};

const LEVEL: u32 = 0;
const NOTE_START: u32 = 1;
const LOOP: u32 = 2;

/// The player's parameters.
pub(super) static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        id: LEVEL,
        name: "level",
        min: 0.0,
        max: 1.0,
        default: 1.0,
        stepped: false,
        unit: "",
    },
    ParamSpec {
        id: NOTE_START,
        name: "note_start",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        stepped: true,
        unit: "",
    },
    ParamSpec {
        id: LOOP,
        name: "loop",
        min: 0.0,
        max: 1.0,
        default: 0.0,
        stepped: true,
        unit: "",
    },
];

/// MIDI Start and Stop.
const START: u8 = 0xFA;
const STOP: u8 = 0xFC;

/// A player's file and what its processors report. Main thread owns it;
/// the counters are shared with the audio thread.
pub(super) struct Track {
    info: TrackInfo,
    /// Frames of silence played because the ring ran dry mid-track.
    gaps: Arc<AtomicU64>,
    /// Gaps already reported.
    reported: u64,
    /// The feeding threads of running processors (their errors).
    feeds: Vec<Arc<FeedState>>,
}

impl Track {
    /// Opens the file (see [`TrackInfo::open`]). Main thread.
    pub(super) fn open(path: &Path) -> Result<Track, PluginError> {
        let info = TrackInfo::open(path).map_err(|reason| PluginError::Other {
            plugin: "Stagerack Player".to_owned(),
            reason: format!(
                "cannot play {}: {reason}; check `file` (relative to the preset's folder)",
                path.display()
            ),
        })?;
        Ok(Track {
            info,
            gaps: Arc::new(AtomicU64::new(0)),
            reported: 0,
            feeds: Vec::new(),
        })
    }

    /// A processor playing the track from its start at the engine's rate:
    /// its reading thread is started and the first second decoded. Main
    /// thread.
    pub(super) fn activate(
        &mut self,
        config: &ProcessConfig,
        store: Arc<ParamStore>,
    ) -> Result<Box<dyn AudioProcessor>, PluginError> {
        let state = Arc::new(FeedState::default());
        let rate = config.sample_rate.round() as u32;
        let ring = player_stream::start(&self.info, rate, state.clone()).map_err(|reason| {
            PluginError::Other {
                plugin: "Stagerack Player".to_owned(),
                reason: format!("cannot play {}: {reason}", self.info.path.display()),
            }
        })?;
        self.feeds.retain(|f| !f.done.load(Ordering::Acquire));
        self.feeds.push(state.clone());
        store.take_dirty();
        state
            .looped
            .store(store.get(LOOP) >= 0.5, Ordering::Relaxed);
        Ok(Box::new(Player {
            level: store.get(LEVEL) as f32,
            note_start: store.get(NOTE_START) >= 0.5,
            looped: store.get(LOOP) >= 0.5,
            store,
            ring: Some(ring),
            state,
            playing: false,
            gaps: self.gaps.clone(),
            offline: config.offline,
        }))
    }

    /// What to tell the user since the last call: gaps a slow disk left, a
    /// file that stopped decoding. Main thread.
    pub(super) fn take_notices(&mut self, out: &mut Vec<String>) {
        let gaps = self.gaps.load(Ordering::Relaxed);
        if gaps > self.reported {
            out.push(format!(
                "the backing track {} could not be read fast enough: {} frames of silence \
                 (a slow or busy disk; copy the file to a local SSD)",
                self.info.path.display(),
                gaps - self.reported
            ));
            self.reported = gaps;
        }
        for feed in &self.feeds {
            if let Some(reason) = feed.failed.lock().ok().and_then(|mut f| f.take()) {
                out.push(format!(
                    "the backing track {} stopped: {reason}",
                    self.info.path.display()
                ));
            }
        }
    }
}

/// The audio side. Audio thread.
struct Player {
    store: Arc<ParamStore>,
    level: f32,
    note_start: bool,
    looped: bool,
    /// The decoded track, ahead of the playhead.
    ring: Option<rtrb::Consumer<f32>>,
    state: Arc<FeedState>,
    playing: bool,
    gaps: Arc<AtomicU64>,
    /// Rendering offline: the render waits for the disk instead of
    /// leaving a gap (a render is exact whatever the disk).
    offline: bool,
}

impl Drop for Player {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
    }
}

impl Player {
    fn apply(&mut self, param: u32, value: f64) {
        let Some(spec) = PARAMS.iter().find(|p| p.id == param) else {
            return;
        };
        let v = spec.clamp(value);
        self.store.publish(param, v);
        match param {
            LEVEL => self.level = v as f32,
            NOTE_START => self.note_start = v >= 0.5,
            _ => self.looped = v >= 0.5,
        }
    }
}

impl AudioProcessor for Player {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.store.take_dirty() {
            self.level = self.store.get(LEVEL) as f32;
            self.note_start = self.store.get(NOTE_START) >= 0.5;
            self.looped = self.store.get(LOOP) >= 0.5;
        }
        self.state.looped.store(self.looped, Ordering::Relaxed);
        let mut events = block.events.iter().peekable();
        let mut gaps = 0u64;
        for i in 0..block.frames {
            while let Some(e) = events.next_if(|e| e.offset as usize <= i) {
                match e.event {
                    Event::Realtime { status: START } => self.playing = true,
                    Event::Realtime { status: STOP } => self.playing = false,
                    Event::NoteOn { .. } if self.note_start => self.playing = true,
                    Event::ParamValue { param, value } => self.apply(param, value),
                    _ => {}
                }
            }
            let (mut l, mut r) = (0.0, 0.0);
            if self.playing && self.offline {
                // Offline, this thread may wait: for the next frame, or the
                // end of the track.
                if let Some(ring) = self.ring.as_ref() {
                    while ring.slots() < 2 && !self.state.done.load(Ordering::Acquire) {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
            }
            if self.playing {
                match self.ring.as_mut().map(|ring| (ring.pop(), ring.pop())) {
                    Some((Ok(a), Ok(b))) => (l, r) = (a, b),
                    _ if self.state.done.load(Ordering::Acquire) => {
                        // The end of the track.
                        self.playing = false;
                    }
                    _ => gaps += 1,
                }
            }
            block.left[i] = l * self.level;
            block.right[i] = r * self.level;
        }
        if gaps > 0 {
            self.gaps.fetch_add(gaps, Ordering::Relaxed);
        }
        ProcessStatus::Continue
    }

    fn tail(&self) -> Tail {
        Tail::Infinite
    }
}
