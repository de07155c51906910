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

/// Rendered stereo audio.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rendered {
    /// Left channel.
    pub left: Vec<f32>,
    /// Right channel.
    pub right: Vec<f32>,
}

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
    };
    let mut events: Vec<TimedEvent> = Vec::with_capacity(4096);
    let mut in_l = vec![0.0f32; block];
    let mut in_r = vec![0.0f32; block];
    let mut buf_l = vec![0.0f32; block];
    let mut buf_r = vec![0.0f32; block];
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
        engine.process(&events, input, &mut buf_l[..n], &mut buf_r[..n]);
        out.left.extend_from_slice(&buf_l[..n]);
        out.right.extend_from_slice(&buf_r[..n]);
        if is_silent(&buf_l[..n]) && is_silent(&buf_r[..n]) {
            silent_run += n as u64;
        } else {
            silent_run = 0;
        }
        pos += n as u64;
    }
    out
}
