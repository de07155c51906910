//! The backing-track player's disk side: a file opened and checked on the
//! main thread ([`TrackInfo::open`]), then decoded (symphonia: WAV, FLAC,
//! MP3, Ogg Vorbis), made stereo, resampled to the engine's rate (rubato)
//! and pushed into a lock-free ring by a thread of its own
//! ([`Feeder::start`]); the audio thread only pops from the ring.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rubato::Resampler;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions};
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Seconds of audio the ring holds.
pub(super) const RING_SECONDS: f64 = 4.0;
/// What the ring holds before the first block may play: a track starts
/// with this much decoded, so a slow disk shows as a report, never as a
/// dropout in its first seconds.
const PREFILL_SECONDS: f64 = 1.0;
/// Input frames per resampling step.
const RESAMPLE_CHUNK: usize = 1024;

/// A test hook: milliseconds the decoder sleeps before each packet (a
/// disk too slow to keep up). Read once per track.
pub const STALL_ENV: &str = "STAGERACK_TEST_PLAYER_STALL_MS";

/// What a track file holds, read when the preset loads. Main thread.
#[derive(Clone, Debug)]
pub(super) struct TrackInfo {
    pub(super) path: PathBuf,
}

/// An opened file: its format reader, decoder and track.
struct Opened {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track: u32,
    sample_rate: u32,
    time_base: Option<symphonia::core::units::TimeBase>,
}

fn open(path: &Path) -> Result<Opened, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not a WAV, FLAC, MP3 or Ogg Vorbis file ({e})"))?;
    let format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| "it holds no audio track".to_owned())?;
    let sample_rate = track
        .codec_params
        .sample_rate
        .ok_or_else(|| "its sample rate is not given".to_owned())?;
    let decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("its codec is not supported ({e})"))?;
    let time_base = track.codec_params.time_base;
    Ok(Opened {
        track: track.id,
        format,
        decoder,
        sample_rate,
        time_base,
    })
}

impl TrackInfo {
    /// Opens `path` and decodes its first packet: a missing, unreadable or
    /// undecodable file is an error here, at load, never a dropout later.
    /// Main thread.
    pub(super) fn open(path: &Path) -> Result<TrackInfo, String> {
        let mut opened = open(path)?;
        loop {
            let packet = opened
                .format
                .next_packet()
                .map_err(|e| format!("it holds no audio ({e})"))?;
            if packet.track_id() != opened.track {
                continue;
            }
            opened
                .decoder
                .decode(&packet)
                .map_err(|e| format!("its first audio cannot be decoded ({e})"))?;
            break;
        }
        Ok(TrackInfo {
            path: path.to_owned(),
        })
    }
}

/// The feeding thread's handles, shared with the player. Any thread.
#[derive(Default)]
pub(super) struct FeedState {
    /// Set by the player when it goes: the thread ends.
    pub(super) stop: AtomicBool,
    /// The whole track is in the ring.
    pub(super) done: AtomicBool,
    /// Play it again from the top at its end (the player's `loop`).
    pub(super) looped: AtomicBool,
    /// Why decoding stopped early, if it did (a sentence).
    pub(super) failed: std::sync::Mutex<Option<String>>,
    /// Where the ring is to continue from (frames at the engine's rate
    /// from the track's start), written by the audio thread before it
    /// bumps `seek_gen`.
    pub(super) seek_frame: AtomicU64,
    /// Bumped by the audio thread for each jump (a cue, a restart).
    pub(super) seek_gen: AtomicU64,
    /// The jump the reading thread has stopped pushing for: what the ring
    /// holds now is stale, for the audio thread to drop.
    pub(super) ack_gen: AtomicU64,
    /// The jump whose stale audio the audio thread dropped: the reading
    /// thread pushes from the new place from then on.
    pub(super) flushed_gen: AtomicU64,
}

/// Starts decoding `track` for an engine at `rate` into a new ring; returns
/// its consumer once the first second is in it (or the whole track).
/// Main thread (activation).
pub(super) fn start(
    track: &TrackInfo,
    rate: u32,
    state: Arc<FeedState>,
) -> Result<rtrb::Consumer<f32>, String> {
    let capacity = (RING_SECONDS * f64::from(rate)) as usize * 2;
    let (producer, consumer) = rtrb::RingBuffer::new(capacity);
    let stall_ms: u64 = std::env::var(STALL_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let opened = open(&track.path)?;
    let pushed = Arc::new(AtomicU64::new(0));
    {
        let state = state.clone();
        let pushed = pushed.clone();
        let path = track.path.clone();
        std::thread::Builder::new()
            .name("stagerack-player".into())
            .spawn(move || read(path, opened, rate, producer, &state, &pushed, stall_ms))
            .map_err(|e| format!("cannot start its reading thread ({e})"))?;
    }
    // Prefill, bounded: a stalled disk must not hang the load.
    let want = (PREFILL_SECONDS * f64::from(rate)) as u64 * 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pushed.load(Ordering::Acquire) < want
        && !state.done.load(Ordering::Acquire)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(consumer)
}

/// The reading thread: feeds the ring from the top, again and again while
/// it loops; on a jump (`seek_gen`) it stops, lets the audio thread drop
/// what is stale, and goes on from the new place. It waits at the end for
/// a jump (a restart) until the player goes.
fn read(
    path: PathBuf,
    first: Opened,
    rate: u32,
    mut producer: rtrb::Producer<f32>,
    state: &FeedState,
    pushed: &AtomicU64,
    stall_ms: u64,
) {
    let mut opened = Some(first);
    let mut from = 0u64;
    let mut gen = 0u64;
    loop {
        let file = match opened.take() {
            Some(f) => Ok(f),
            None => open(&path),
        };
        let result = file.and_then(|f| {
            decode(f, rate, from, stall_ms, |l, r| {
                push_ring(&mut producer, l, r, state, pushed, gen)
            })
        });
        if state.stop.load(Ordering::Acquire) {
            break;
        }
        if state.seek_gen.load(Ordering::Acquire) == gen {
            // The end of the track (or of what could be read).
            if let Err(e) = result {
                if let Ok(mut f) = state.failed.lock() {
                    *f = Some(e);
                }
            } else if state.looped.load(Ordering::Relaxed) {
                from = 0;
                continue;
            }
            state.done.store(true, Ordering::Release);
            while state.seek_gen.load(Ordering::Acquire) == gen {
                if state.stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        // A jump: nothing more is pushed from the old place; the audio
        // thread drops what the ring holds, then the new place follows.
        gen = state.seek_gen.load(Ordering::Acquire);
        from = state.seek_frame.load(Ordering::Acquire);
        state.done.store(false, Ordering::Release);
        state.ack_gen.store(gen, Ordering::Release);
        while state.flushed_gen.load(Ordering::Acquire) < gen
            && state.seek_gen.load(Ordering::Acquire) == gen
        {
            if state.stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Pushes stereo frames into the ring, waiting for room; false when the
/// player went or jumped elsewhere (a newer `seek_gen` than `gen`).
fn push_ring(
    producer: &mut rtrb::Producer<f32>,
    l: &[f32],
    r: &[f32],
    state: &FeedState,
    pushed: &AtomicU64,
    gen: u64,
) -> bool {
    for (a, b) in l.iter().zip(r) {
        while producer.slots() < 2 {
            if state.stop.load(Ordering::Acquire) || state.seek_gen.load(Ordering::Acquire) != gen {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if state.seek_gen.load(Ordering::Relaxed) != gen {
            return false;
        }
        let _ = producer.push(*a);
        let _ = producer.push(*b);
        pushed.fetch_add(2, Ordering::Release);
    }
    true
}

/// Decodes `frames` frames at `rate` from frame `from` (engine rate) of
/// `track`, interleaved stereo: a cue's first stretch, kept in memory so
/// the cue starts on its sample while the reading thread moves there.
/// Fewer when the track ends first. Main thread (activation).
pub(super) fn decode_span(
    track: &TrackInfo,
    rate: u32,
    from: u64,
    frames: usize,
) -> Result<Vec<f32>, String> {
    let mut out = Vec::with_capacity(frames * 2);
    decode(open(&track.path)?, rate, from, 0, |l, r| {
        for (a, b) in l.iter().zip(r) {
            if out.len() >= frames * 2 {
                return false;
            }
            out.push(*a);
            out.push(*b);
        }
        out.len() < frames * 2
    })?;
    Ok(out)
}

/// Source frames to skip to reach `from` (engine-rate frames): the format
/// reader is moved close to it when it can seek, the rest is decoded and
/// dropped.
fn seek_to(opened: &mut Opened, rate: u32, from: u64) -> u64 {
    use symphonia::core::formats::{SeekMode, SeekTo};
    let target = (from as f64 * f64::from(opened.sample_rate) / f64::from(rate)).round() as u64;
    if target == 0 {
        return 0;
    }
    let Some(tb) = opened.time_base else {
        return target;
    };
    let seconds = target as f64 / f64::from(opened.sample_rate);
    let ts = tb.calc_timestamp(symphonia::core::units::Time::from(seconds));
    match opened.format.seek(
        SeekMode::Accurate,
        SeekTo::TimeStamp {
            ts,
            track_id: opened.track,
        },
    ) {
        Ok(seeked) => {
            opened.decoder.reset();
            let ahead = tb.calc_time(seeked.actual_ts);
            let at = ((ahead.seconds as f64 + ahead.frac) * f64::from(opened.sample_rate)).round()
                as u64;
            target.saturating_sub(at)
        }
        // Cannot seek: decode from the top and drop up to the place.
        Err(_) => target,
    }
}

/// Decodes, makes stereo, resamples and hands `sink` the frames from
/// engine-rate frame `from` on, until the end or until `sink` says stop
/// (false).
fn decode(
    mut opened: Opened,
    rate: u32,
    from: u64,
    stall_ms: u64,
    mut sink: impl FnMut(&[f32], &[f32]) -> bool,
) -> Result<(), String> {
    let mut drop_source = seek_to(&mut opened, rate, from);
    let mut resampler = if opened.sample_rate == rate {
        None
    } else {
        Some(
            rubato::FftFixedIn::<f32>::new(
                opened.sample_rate as usize,
                rate as usize,
                RESAMPLE_CHUNK,
                2,
                2,
            )
            .map_err(|e| {
                format!(
                    "cannot resample {} Hz to {rate} Hz ({e})",
                    opened.sample_rate
                )
            })?,
        )
    };
    // The resampler's own delay: dropped, so the track starts on time.
    let mut skip = resampler.as_ref().map_or(0, |r| r.output_delay());
    let mut pending: [Vec<f32>; 2] = [Vec::new(), Vec::new()];
    let mut push = |l: &[f32], r: &[f32], skip: &mut usize| -> bool {
        let drop = (*skip).min(l.len());
        *skip -= drop;
        sink(&l[drop..], &r[drop..])
    };
    loop {
        if stall_ms > 0 {
            std::thread::sleep(Duration::from_millis(stall_ms));
        }
        let packet = match opened.format.next_packet() {
            Ok(p) => p,
            Err(symphonia::core::errors::Error::IoError(e))
                if e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                break
            }
            Err(e) => return Err(format!("reading stopped ({e})")),
        };
        if packet.track_id() != opened.track {
            continue;
        }
        let decoded = match opened.decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet: skipped, as players do.
            Err(symphonia::core::errors::Error::DecodeError(_)) => continue,
            Err(e) => return Err(format!("decoding stopped ({e})")),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let mut samples = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        samples.copy_interleaved_ref(decoded);
        // Mono on both sides; beyond two channels, the first two.
        let frames = samples.samples().chunks(channels);
        let (mut l, mut r): (Vec<f32>, Vec<f32>) = frames
            .map(|f| (f[0], if channels > 1 { f[1] } else { f[0] }))
            .unzip();
        // Up to the place a jump asked for.
        let dropped = (drop_source as usize).min(l.len());
        drop_source -= dropped as u64;
        l.drain(..dropped);
        r.drain(..dropped);
        match resampler.as_mut() {
            None => {
                if !push(&l, &r, &mut skip) {
                    return Ok(());
                }
            }
            Some(rs) => {
                pending[0].extend_from_slice(&l);
                pending[1].extend_from_slice(&r);
                while pending[0].len() >= rs.input_frames_next() {
                    let n = rs.input_frames_next();
                    let input = [&pending[0][..n], &pending[1][..n]];
                    let out = rs.process(&input, None).map_err(|e| e.to_string())?;
                    pending[0].drain(..n);
                    pending[1].drain(..n);
                    if !push(&out[0], &out[1], &mut skip) {
                        return Ok(());
                    }
                }
            }
        }
    }
    if let Some(rs) = resampler.as_mut() {
        // The rest, then the resampler's delay worth of tail.
        let rest = [&pending[0][..], &pending[1][..]];
        let out = rs
            .process_partial(Some(&rest), None)
            .map_err(|e| e.to_string())?;
        if !push(&out[0], &out[1], &mut skip) {
            return Ok(());
        }
        let out = rs
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| e.to_string())?;
        push(&out[0], &out[1], &mut skip);
    }
    Ok(())
}
