//! `builtin:player`: a backing track (`file = "backing.flac"` on the
//! plugin entry, relative to the preset) played from its start when its
//! song begins: at the sample its preset becomes current (the engine sends
//! its racks a MIDI Start there), on a MIDI Start from the inputs, or, with
//! `note_start = 1`, on a note-on while it is stopped; each Start plays it
//! from the top again. MIDI Stop stops it, Continue goes on from there;
//! `loop = 1` plays it again from the top at its end. Cue points (`cues =
//! [32.5, 61.0]` seconds on its entry) start it there on the key
//! `cue_note` and the ones above it, sample-exactly: the first second after
//! each cue (and after the top) is decoded in memory at activation, and
//! plays while the reading thread moves to the place.
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
const CUE_NOTE: u32 = 3;

/// What each cue (and the top) keeps decoded in memory: enough for the
/// reading thread to move there and refill the ring on a busy disk.
const CUE_SECONDS: f64 = 1.0;

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
    ParamSpec {
        id: CUE_NOTE,
        name: "cue_note",
        min: -1.0,
        max: 127.0,
        default: -1.0,
        stepped: true,
        unit: "",
    },
];

/// MIDI Start, Continue and Stop.
const START: u8 = 0xFA;
const CONTINUE: u8 = 0xFB;
const STOP: u8 = 0xFC;

/// A place the track can start from at once: its first stretch decoded.
struct Cue {
    /// Frames from the track's start, at the engine's rate.
    start: u64,
    /// Interleaved stereo from there (shorter when the track ends first).
    audio: Vec<f32>,
}

/// Where the next frame comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The ring the reading thread fills.
    Ring,
    /// Cue `index`'s memory, at frame `at`.
    Cue { index: usize, at: usize },
}

/// A player's file and what its processors report. Main thread owns it;
/// the counters are shared with the audio thread.
pub(super) struct Track {
    info: TrackInfo,
    /// Cue points, seconds from the start.
    cues: Vec<f64>,
    /// Frames of silence played because the ring ran dry mid-track.
    gaps: Arc<AtomicU64>,
    /// Gaps already reported.
    reported: u64,
    /// The feeding threads of running processors (their errors).
    feeds: Vec<Arc<FeedState>>,
}

impl Track {
    /// Opens the file (see [`TrackInfo::open`]) with its cue points
    /// (seconds). Main thread.
    pub(super) fn open(path: &Path, cues: &[f64]) -> Result<Track, PluginError> {
        let info = TrackInfo::open(path).map_err(|reason| PluginError::Other {
            plugin: "Stagerack Player".to_owned(),
            reason: format!(
                "cannot play {}: {reason}; check `file` (relative to the preset's folder)",
                path.display()
            ),
        })?;
        Ok(Track {
            info,
            cues: cues.to_vec(),
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
        // The top, then each cue: its first second, decoded now.
        let frames = (CUE_SECONDS * f64::from(rate)) as usize;
        let mut cues = Vec::with_capacity(self.cues.len() + 1);
        for (i, seconds) in std::iter::once(0.0)
            .chain(self.cues.iter().copied())
            .enumerate()
        {
            let start = (seconds * f64::from(rate)).round() as u64;
            let audio =
                player_stream::decode_span(&self.info, rate, start, frames).map_err(|reason| {
                    PluginError::Other {
                        plugin: "Stagerack Player".to_owned(),
                        reason: format!("cannot play {}: {reason}", self.info.path.display()),
                    }
                })?;
            if audio.is_empty() && i > 0 {
                return Err(PluginError::Other {
                    plugin: "Stagerack Player".to_owned(),
                    reason: format!(
                        "cue {i} ({seconds} s) is past the end of {}; check `cues`",
                        self.info.path.display()
                    ),
                });
            }
            cues.push(Cue { start, audio });
        }
        self.feeds.retain(|f| !f.stop.load(Ordering::Acquire));
        self.feeds.push(state.clone());
        store.take_dirty();
        state
            .looped
            .store(store.get(LOOP) >= 0.5, Ordering::Relaxed);
        Ok(Box::new(Player {
            level: store.get(LEVEL) as f32,
            note_start: store.get(NOTE_START) >= 0.5,
            looped: store.get(LOOP) >= 0.5,
            cue_note: store.get(CUE_NOTE).round() as i32,
            store,
            ring: Some(ring),
            state,
            playing: false,
            cues,
            source: Source::Ring,
            gen: 0,
            fresh: true,
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
    /// The key of the first cue (-1: none).
    cue_note: i32,
    /// The top and each cue, decoded from there.
    cues: Vec<Cue>,
    /// Where the next frame comes from.
    source: Source,
    /// The latest jump (see [`FeedState::seek_gen`]).
    gen: u64,
    /// Nothing played since activation: the ring starts at the top.
    fresh: bool,
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
            CUE_NOTE => self.cue_note = v.round() as i32,
            _ => self.looped = v >= 0.5,
        }
    }

    /// Plays from cue `index` (0: the top) on this frame: from its memory
    /// while the reading thread moves there. Audio thread.
    fn jump(&mut self, index: usize) {
        self.playing = true;
        if index == 0 && self.fresh {
            // The ring holds the top already.
            return;
        }
        let Some(cue) = self.cues.get(index) else {
            return;
        };
        self.fresh = false;
        self.source = Source::Cue { index, at: 0 };
        self.gen += 1;
        let after = cue.start + (cue.audio.len() / 2) as u64;
        self.state.seek_frame.store(after, Ordering::Release);
        self.state.seek_gen.store(self.gen, Ordering::Release);
    }

    /// Drops what the ring holds from before the latest jump, once the
    /// reading thread has stopped pushing it; true when the ring holds
    /// audio of the latest jump only. Audio thread; never blocks.
    fn ring_current(&mut self) -> bool {
        if self.state.flushed_gen.load(Ordering::Acquire) == self.gen {
            return true;
        }
        if self.state.ack_gen.load(Ordering::Acquire) != self.gen {
            return false;
        }
        if let Some(ring) = self.ring.as_mut() {
            let stale = ring.slots();
            if let Ok(chunk) = ring.read_chunk(stale) {
                chunk.commit_all();
            }
        }
        self.state.flushed_gen.store(self.gen, Ordering::Release);
        true
    }

    /// The next frame from the ring; `None` for a gap. Offline it waits
    /// for the disk. Audio thread.
    fn next_from_ring(&mut self) -> Option<(f32, f32)> {
        if self.offline {
            // Offline this thread may wait: for the jump to be taken up,
            // for the next frame, or for the end of the track.
            while !self.ring_current() {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            if let Some(ring) = self.ring.as_ref() {
                while ring.slots() < 2 && !self.state.done.load(Ordering::Acquire) {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        } else if !self.ring_current() {
            return None;
        }
        match self.ring.as_mut().map(|ring| (ring.pop(), ring.pop())) {
            Some((Ok(a), Ok(b))) => Some((a, b)),
            _ if self.state.done.load(Ordering::Acquire) => {
                // The end of the track.
                self.playing = false;
                Some((0.0, 0.0))
            }
            _ => None,
        }
    }
}

impl AudioProcessor for Player {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        if self.store.take_dirty() {
            self.level = self.store.get(LEVEL) as f32;
            self.note_start = self.store.get(NOTE_START) >= 0.5;
            self.looped = self.store.get(LOOP) >= 0.5;
            self.cue_note = self.store.get(CUE_NOTE).round() as i32;
        }
        self.state.looped.store(self.looped, Ordering::Relaxed);
        let mut events = block.events.iter().peekable();
        let mut gaps = 0u64;
        for i in 0..block.frames {
            while let Some(e) = events.next_if(|e| e.offset as usize <= i) {
                match e.event {
                    Event::Realtime { status: START } => self.jump(0),
                    Event::Realtime { status: CONTINUE } => self.playing = true,
                    Event::Realtime { status: STOP } => self.playing = false,
                    Event::NoteOn { key, .. }
                        if self.cue_note >= 0
                            && i32::from(key) >= self.cue_note
                            && ((i32::from(key) - self.cue_note) as usize)
                                < self.cues.len() - 1 =>
                    {
                        self.jump(1 + (i32::from(key) - self.cue_note) as usize);
                    }
                    Event::NoteOn { .. } if self.note_start && !self.playing => self.jump(0),
                    Event::ParamValue { param, value } => self.apply(param, value),
                    _ => {}
                }
            }
            let (mut l, mut r) = (0.0, 0.0);
            if self.playing {
                self.fresh = false;
                if let Source::Cue { index, at } = self.source {
                    let audio = &self.cues[index].audio;
                    if 2 * at + 1 < audio.len() {
                        (l, r) = (audio[2 * at], audio[2 * at + 1]);
                        self.source = Source::Cue { index, at: at + 1 };
                    } else {
                        // Its memory played: the ring goes on from there.
                        self.source = Source::Ring;
                    }
                }
                if self.source == Source::Ring {
                    match self.next_from_ring() {
                        Some(frame) => (l, r) = frame,
                        None => gaps += 1,
                    }
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
