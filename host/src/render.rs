//! `stagerack render`: a preset and a MIDI file to a WAV file, offline,
//! through the same `process` as the live path.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::engine::{EngineConfig, QueueCapacities};
use crate::io::offline::{render_offline, OfflineJob, Rendered};
use crate::midi::file::{read_midi_file, MidiFileError};
use crate::preset::PresetError;
use crate::session::SessionError;
use stagerack_session::runtime::{LoadedShow, Show};

/// Sample format of the written WAV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleFormat {
    /// 32-bit float (default; lossless for the engine's output).
    F32,
    /// 24-bit integer.
    S24,
    /// 16-bit integer.
    S16,
}

/// What to render. Main thread.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// The preset (or use `setlist`).
    pub preset: Option<PathBuf>,
    /// A setlist: every preset loaded, switched by the MIDI file's triggers.
    pub setlist: Option<PathBuf>,
    /// The MIDI file (events of all tracks, on their exact samples).
    pub midi: Option<PathBuf>,
    /// The WAV to write.
    pub out: PathBuf,
    /// Frames per second.
    pub sample_rate: u32,
    /// Frames per `process` call.
    pub block: usize,
    /// Longest tail after the content, in seconds.
    pub tail_seconds: f64,
    /// Output sample format.
    pub format: SampleFormat,
    /// A WAV fed into the racks' audio inputs.
    pub input: Option<PathBuf>,
    /// Show a progress bar when the render takes longer than a second.
    pub progress: bool,
}

/// Why a render failed. Each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The preset is missing or invalid.
    #[error(transparent)]
    Preset(#[from] PresetError),
    /// The MIDI file is missing or invalid.
    #[error(transparent)]
    Midi(#[from] MidiFileError),
    /// The session could not start.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The input WAV is missing or unusable.
    #[error("cannot use input {path}: {reason}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the fix.
        reason: String,
    },
    /// The output could not be written.
    #[error("cannot write {path}: {reason}; choose a writable path")]
    Output {
        /// The file.
        path: PathBuf,
        /// The OS or encoder error.
        reason: String,
    },
    /// An option is out of range.
    #[error("{0}")]
    Option(String),
}

/// What a render produced. Main thread.
#[derive(Clone, Debug)]
pub struct RenderSummary {
    /// Frames written.
    pub frames: u64,
    /// Highest absolute sample.
    pub peak: f32,
    /// Warnings from loading the preset.
    pub warnings: Vec<String>,
    /// Panics caught on the audio thread.
    pub panics: Vec<String>,
}

/// Renders to memory (no file written). Main thread.
pub fn render_to_memory(opts: &RenderOptions) -> Result<(Rendered, RenderSummary), RenderError> {
    if !(8_000..=384_000).contains(&opts.sample_rate) {
        return Err(RenderError::Option(format!(
            "--rate {} is out of range; use 8000 to 384000",
            opts.sample_rate
        )));
    }
    if !(1..=8192).contains(&opts.block) {
        return Err(RenderError::Option(format!(
            "--block {} is out of range; use 1 to 8192",
            opts.block
        )));
    }
    if !(opts.tail_seconds.is_finite() && (0.0..=3600.0).contains(&opts.tail_seconds)) {
        return Err(RenderError::Option(format!(
            "--tail {} is out of range; use 0 to 3600 seconds",
            opts.tail_seconds
        )));
    }
    let rate = f64::from(opts.sample_rate);
    let show = match (&opts.preset, &opts.setlist) {
        (Some(p), None) => Show::Preset(p.clone()),
        (None, Some(s)) => Show::Setlist(s.clone()),
        _ => {
            return Err(RenderError::Option(
                "give exactly one of --preset FILE or --setlist FILE".into(),
            ))
        }
    };
    let show = LoadedShow::load(&show)?;
    let events = match &opts.midi {
        Some(m) => read_midi_file(m, rate)?,
        None => Vec::new(),
    };
    let input = opts
        .input
        .as_ref()
        .map(|p| read_input(p, opts.sample_rate))
        .transpose()?;
    let config = EngineConfig {
        sample_rate: rate,
        max_block: opts.block,
        queues: QueueCapacities::default(),
    };
    let (mut session, mut engine) = show.session(config, true)?;
    let content = events
        .last()
        .map_or(0, |e| e.frame + 1)
        .max(input.as_ref().map_or(0, |(l, _)| l.len() as u64));
    let job = OfflineJob {
        events: &events,
        input: input.as_ref().map(|(l, r)| [l.as_slice(), r.as_slice()]),
        block: opts.block,
        min_frames: content,
        max_tail_frames: (opts.tail_seconds * rate) as u64,
        silence_frames: (0.5 * rate) as u64,
    };
    let started = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut panics = Vec::new();
    let rendered = render_offline(&mut engine, &job, |frame| {
        panics.extend(session.pump());
        if opts.progress && frame % 8192 < opts.block as u64 {
            if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
                let b = indicatif::ProgressBar::new(content.max(1));
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "rendering {bar:40} {percent:>3}% {elapsed} (then the tail)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar = Some(b);
            }
            if let Some(b) = &bar {
                b.set_position(frame.min(content));
            }
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    panics.extend(session.pump());
    let warnings = session.warnings().to_vec();
    session.shutdown(engine);
    let peak = (0..rendered.channels())
        .filter_map(|c| rendered.channel(c))
        .flatten()
        .fold(0.0f32, |m, x| m.max(x.abs()));
    let summary = RenderSummary {
        frames: rendered.left.len() as u64,
        peak,
        warnings,
        panics,
    };
    Ok((rendered, summary))
}

/// Renders and writes the WAV atomically: on any error no file (and no
/// partial file) is left at `opts.out`. Main thread.
pub fn render(opts: &RenderOptions) -> Result<RenderSummary, RenderError> {
    let out_err = |reason: String| RenderError::Output {
        path: opts.out.clone(),
        reason,
    };
    let dir = match opts.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(out_err(format!("folder {} does not exist", dir.display())));
    }
    // Fail early on an unwritable folder, before minutes of rendering.
    let tmp = stagerack_core::fs::temp_file_in(&dir, ".stagerack-render-", ".wav")
        .map_err(|e| out_err(e.to_string()))?;
    let (audio, summary) = render_to_memory(opts)?;
    write_wav(tmp.path(), &audio, opts.sample_rate, opts.format).map_err(&out_err)?;
    tmp.persist(&opts.out)
        .map_err(|e| out_err(e.error.to_string()))?;
    Ok(summary)
}

/// Writes rendered audio as a WAV file: two channels, or as many as the
/// preset's outputs use. Main thread.
pub fn write_wav(
    path: &Path,
    audio: &Rendered,
    rate: u32,
    format: SampleFormat,
) -> Result<(), String> {
    let (bits, sample_format) = match format {
        SampleFormat::F32 => (32, hound::SampleFormat::Float),
        SampleFormat::S24 => (24, hound::SampleFormat::Int),
        SampleFormat::S16 => (16, hound::SampleFormat::Int),
    };
    let channels = audio.channels();
    let spec = hound::WavSpec {
        channels: channels as u16,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| e.to_string())?;
    let scale = |x: f32, bits: u32| {
        let max = ((1i64 << (bits - 1)) - 1) as f32;
        (x.clamp(-1.0, 1.0) * max).round() as i32
    };
    let columns: Vec<&[f32]> = (0..channels).filter_map(|c| audio.channel(c)).collect();
    for frame in 0..audio.left.len() {
        for x in columns.iter().map(|c| c.get(frame).copied().unwrap_or(0.0)) {
            match format {
                SampleFormat::F32 => w.write_sample(x),
                SampleFormat::S24 => w.write_sample(scale(x, 24)),
                SampleFormat::S16 => w.write_sample(scale(x, 16) as i16),
            }
            .map_err(|e| e.to_string())?;
        }
    }
    w.finalize().map_err(|e| e.to_string())
}

/// Reads a WAV as stereo f32 at `rate` (mono is doubled). Main thread.
pub fn read_input(path: &Path, rate: u32) -> Result<(Vec<f32>, Vec<f32>), RenderError> {
    let err = |reason: String| RenderError::Input {
        path: path.to_owned(),
        reason,
    };
    let mut r = hound::WavReader::open(path)
        .map_err(|e| err(format!("{e}; pass a readable PCM or float WAV file")))?;
    let spec = r.spec();
    if spec.sample_rate != rate {
        return Err(err(format!(
            "it is {} Hz but the render runs at {rate} Hz; pass --rate {}",
            spec.sample_rate, spec.sample_rate
        )));
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?,
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 / full))
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        }
    };
    let ch = usize::from(spec.channels.max(1));
    let frames = samples.len() / ch;
    let mut left = Vec::with_capacity(frames);
    let mut right = Vec::with_capacity(frames);
    for f in samples.chunks_exact(ch) {
        left.push(f[0]);
        right.push(if ch > 1 { f[1] } else { f[0] });
    }
    Ok((left, right))
}
