//! The offline driver: runs the engine faster than real time over a list of
//! events stamped with absolute frames, block by block, exactly like a live
//! driver would (same `process`, same block sizes).

use stagerack_core::midi::file::SampleEvent;
use stagerack_core::midi::TimedEvent;
use stagerack_engine::{is_silent, Engine};

/// What to render offline.
pub struct OfflineJob<'a> {
    /// Events at absolute frames, sorted by frame.
    pub events: &'a [SampleEvent],
    /// Stereo input fed to the racks (shorter input is padded with silence).
    pub input: Option<[&'a [f32]; 2]>,
    /// Frames per `process` call.
    pub block: usize,
    /// Render at least this many frames (the content).
    pub min_frames: u64,
    /// After the content, render at most this many more frames of tail.
    pub max_tail_frames: u64,
    /// The tail ends once the output stayed silent this many frames.
    pub silence_frames: u64,
}

/// Rendered audio: the driver's first two channels (the main output's
/// left and right without `[[output]]`), and any further channels the
/// preset's outputs use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Channel 1.
    pub left: Vec<f32>,
    /// Channel 2.
    pub right: Vec<f32>,
    /// Channels 3 and up, as long as `left`.
    pub more: Vec<Vec<f32>>,
}

impl Rendered {
    /// Channel `index` (0-based), if rendered. Any thread.
    pub fn channel(&self, index: usize) -> Option<&[f32]> {
        match index {
            0 => Some(&self.left),
            1 => Some(&self.right),
            n => self.more.get(n - 2).map(Vec::as_slice),
        }
    }

    /// How many channels were rendered (at least 2). Any thread.
    pub fn channels(&self) -> usize {
        2 + self.more.len()
    }
}

/// The most channels an offline render writes.
pub const MAX_RENDER_CHANNELS: usize = 64;

/// Renders `job` through `engine`. Before each block, `before_block` runs
/// with the block's first frame: the main-thread work of a live run (pump,
/// plan changes) happens there. Runs on the calling thread, which plays the
/// audio thread's role during `process`.
pub fn render_offline(
    engine: &mut Engine,
    job: &OfflineJob<'_>,
    mut before_block: impl FnMut(u64),
) -> Rendered {
    let block = job.block.max(1);
    let capacity = (job.min_frames + job.silence_frames) as usize + block;
    let mut out = Rendered {
        left: Vec::with_capacity(capacity),
        right: Vec::with_capacity(capacity),
        more: Vec::new(),
    };
    let mut events: Vec<TimedEvent> = Vec::with_capacity(4096);
    let mut in_l = vec![0.0f32; block];
    let mut in_r = vec![0.0f32; block];
    // Every channel a plan can reach; what the plan uses is kept.
    let mut bufs = vec![vec![0.0f32; block]; MAX_RENDER_CHANNELS];
    let mut next_event = 0usize;
    let mut pos: u64 = 0;
    let mut silent_run: u64 = 0;
    let hard_end = job.min_frames + job.max_tail_frames;
    loop {
        let in_content = pos < job.min_frames;
        if !in_content && (pos >= hard_end || silent_run >= job.silence_frames) {
            break;
        }
        // In the content, never cross its end so the tail starts on time.
        let n = if in_content {
            block.min((job.min_frames - pos) as usize)
        } else {
            block.min((hard_end - pos) as usize)
        };
        before_block(pos);
        events.clear();
        while next_event < job.events.len() && job.events[next_event].frame < pos + n as u64 {
            let e = job.events[next_event];
            events.push(TimedEvent::new(e.frame.saturating_sub(pos) as u32, e.event));
            next_event += 1;
        }
        let input = job.input.map(|[l, r]| {
            for (i, (a, b)) in in_l[..n].iter_mut().zip(in_r[..n].iter_mut()).enumerate() {
                let at = pos as usize + i;
                *a = l.get(at).copied().unwrap_or(0.0);
                *b = r.get(at).copied().unwrap_or(0.0);
            }
            [&in_l[..n], &in_r[..n]]
        });
        let mut channels: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..n]).collect();
        let inputs = input.map(|[l, r]| [l, r]);
        engine.process_channels(
            &events,
            inputs.as_ref().map_or(&[][..], |i| &i[..]),
            &mut channels,
        );
        let used = (engine
            .shared()
            .output_channels
            .load(std::sync::atomic::Ordering::Relaxed) as usize)
            .clamp(2, MAX_RENDER_CHANNELS);
        out.left.extend_from_slice(&bufs[0][..n]);
        out.right.extend_from_slice(&bufs[1][..n]);
        while out.more.len() < used - 2 {
            // A channel the plan reaches from now on: silent before.
            out.more.push(vec![0.0; out.left.len() - n]);
        }
        for (c, buf) in out.more.iter_mut().zip(&bufs[2..]) {
            c.extend_from_slice(&buf[..n]);
        }
        if bufs[..used].iter().all(|b| is_silent(&b[..n])) {
            silent_run += n as u64;
        } else {
            silent_run = 0;
        }
        pos += n as u64;
    }
    out
}
