//! `stagerack check --rt PRESET`: plays the preset offline for a few
//! seconds (a chord pattern on every channel) through the real engine and
//! reports, per plugin, what it costs and what it did wrong on the audio
//! thread: CPU per buffer (average and worst, as a share of the period),
//! allocations the host saw, errors and panics, bad output (NaN, runaway,
//! DC), latency. Main thread.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::engine::{EngineConfig, QueueCapacities};
use crate::io::offline::{render_offline, OfflineJob};
use crate::midi::file::SampleEvent;
use crate::midi::Event;
use crate::preset::{load_preset, PresetError};
use crate::session::{Session, SessionError};

/// Why the check could not run. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum CheckRtError {
    /// The preset is missing or invalid.
    #[error(transparent)]
    Preset(#[from] PresetError),
    /// The engine could not start.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// The report: printable lines and the number of violations found.
#[derive(Debug, Default)]
pub struct RtReport {
    /// A header and one line per plugin.
    pub lines: Vec<String>,
    /// Plugins that broke a rule (allocated, failed, bad output, or took
    /// over half the period per buffer on average).
    pub violations: usize,
}

/// Plays `path` for `seconds` at 48 kHz in 64-frame buffers and reports.
/// Main thread.
pub fn check_rt(path: &Path, seconds: f64) -> Result<RtReport, CheckRtError> {
    let preset = load_preset(path)?;
    let rate = 48_000.0;
    let block = 64usize;
    let config = EngineConfig {
        sample_rate: rate,
        max_block: block,
        queues: QueueCapacities::default(),
    };
    let (mut session, mut engine) = Session::new(&preset, config, true)?;
    let frames = (seconds.clamp(0.1, 600.0) * rate) as u64;
    let events = workload(frames, rate);
    let mut notes = Vec::new();
    let out = render_offline(
        &mut engine,
        &OfflineJob {
            events: &events,
            input: None,
            block,
            min_frames: frames,
            max_tail_frames: 0,
            silence_frames: 0,
        },
        |_| notes.extend(session.pump()),
    );
    notes.extend(session.pump());
    let period_ns = block as f64 / rate * 1e9;
    let mut report = RtReport::default();
    report.lines.push(format!(
        "{}: {:.1} s at 48 kHz, {block}-frame buffers ({:.0} us); output peak {:.2}",
        path.display(),
        frames as f64 / rate,
        period_ns / 1e3,
        out.left
            .iter()
            .chain(&out.right)
            .fold(0.0f32, |m, x| m.max(x.abs()))
    ));
    for rack in session.racks() {
        for slot in &rack.slots {
            let st = &slot.status;
            let calls = st.processed.load(Ordering::Relaxed).max(1);
            let avg = st.cpu_ns.load(Ordering::Relaxed) as f64 / calls as f64;
            let worst = st.cpu_peak_ns.load(Ordering::Relaxed) as f64;
            let allocs = st.allocs.load(Ordering::Relaxed);
            let mut faults = Vec::new();
            if st.panicked.load(Ordering::Relaxed) {
                faults.push("panicked".to_owned());
            } else if st.failed.load(Ordering::Relaxed) && !st.bad_output.load(Ordering::Relaxed) {
                faults.push("process error".to_owned());
            }
            if st.bad_output.load(Ordering::Relaxed) {
                faults.push("NaN/infinite/runaway output".to_owned());
            }
            if allocs > 0 {
                faults.push(format!("{allocs} allocations/frees on the audio thread"));
            }
            // On average (a single slow buffer may be the machine, not the
            // plugin: the worst one is shown either way).
            if avg > 0.5 * period_ns {
                faults.push("takes over half the period per buffer on average".to_owned());
            }
            if !faults.is_empty() {
                report.violations += 1;
            }
            report.lines.push(format!(
                "  rack `{}`: {:<28} cpu avg {:>6.2}% max {:>7.2}% of the period, latency {} \
                 frames: {}",
                rack.name,
                slot.instance.descriptor().name,
                100.0 * avg / period_ns,
                100.0 * worst / period_ns,
                slot.instance.latency(),
                if faults.is_empty() {
                    "ok".to_owned()
                } else {
                    faults.join(", ")
                }
            ));
        }
        if rack.status.fault_muted.load(Ordering::Relaxed) {
            report.violations += 1;
            report
                .lines
                .push(format!("  rack `{}` was muted for a fault", rack.name));
        }
    }
    for n in notes {
        report.lines.push(format!("  reported: {n}"));
    }
    session.shutdown(engine);
    Ok(report)
}

/// A chord every half second on every channel, held for a quarter second.
fn workload(frames: u64, rate: f64) -> Vec<SampleEvent> {
    let step = (rate / 2.0) as u64;
    let mut events = Vec::new();
    let mut t = 0;
    while t < frames {
        for channel in 0..16u8 {
            for key in [48u8, 55, 60, 64, 67] {
                events.push(SampleEvent {
                    frame: t,
                    event: Event::NoteOn {
                        channel,
                        key,
                        velocity: 0.8,
                        note_id: -1,
                    },
                });
                events.push(SampleEvent {
                    frame: t + step / 2,
                    event: Event::NoteOff {
                        channel,
                        key,
                        velocity: 0.5,
                        note_id: -1,
                    },
                });
            }
        }
        t += step;
    }
    events.sort_by_key(|e| e.frame);
    events
}
