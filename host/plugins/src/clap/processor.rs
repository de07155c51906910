//! The audio-thread half of a CLAP instance.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use clack_extensions::tail::{PluginTail, TailLength};
use clack_host::events::event_types::{
    MidiEvent, NoteChokeEvent, NoteExpressionEvent, NoteExpressionType, NoteOffEvent, NoteOnEvent,
    ParamValueEvent, TransportEvent, TransportFlags,
};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::events::EventFlags;
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

use super::host::{AudioThreadScope, ClapShared, ClapState, StageHost};
use stagerack_core::midi::{Event, Expression, TimedEvent};
use stagerack_core::plugin::{
    AudioProcessor, Block, ProcessConfig, ProcessStatus, Tail, Transport,
};

/// Channel counts of a plugin's audio ports, main port first. Main thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct PortLayout {
    pub(crate) inputs: Vec<u32>,
    pub(crate) outputs: Vec<u32>,
}

/// How notes and MIDI reach the plugin. Main thread decides, audio thread uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoteMode {
    /// No note input port: note and MIDI events are not sent.
    None,
    /// Note port 0.
    Port {
        /// Send notes as CLAP note events (else as MIDI).
        notes_as_clap: bool,
        /// The port takes MIDI (CC, pitch bend, pressure, program change).
        midi: bool,
    },
}

/// Events per block the plugin's input list holds without allocating.
const EVENT_CAPACITY: usize = 1024 + 64;

/// Channels a port may have beyond which we give it silence-only buffers
/// anyway (no plugin has more; bounds preallocation).
const MAX_CHANNELS: u32 = 64;

/// An activated CLAP plugin on the audio thread. `Send`, used by one thread
/// at a time; every buffer is allocated on the main thread in
/// [`ClapInstance::activate`](super::ClapInstance).
pub struct ClapProcessor {
    proc: Option<PluginAudioProcessor<StageHost>>,
    shared: Arc<ClapShared>,
    in_ports: AudioPorts,
    out_ports: AudioPorts,
    in_bufs: Vec<Vec<Vec<f32>>>,
    out_bufs: Vec<Vec<Vec<f32>>>,
    in_events: EventBuffer,
    out_events: EventBuffer,
    notes: NoteMode,
    tail_ext: Option<PluginTail>,
    tail: Tail,
    tail_known: bool,
    failed: bool,
    max_block: usize,
    /// Parameter changes the plugin reports in its output events, to the
    /// main thread (`take_param_changes`).
    param_out: rtrb::Producer<(u32, f64)>,
}

impl ClapProcessor {
    /// Wraps a freshly activated (stopped) processor; allocates every
    /// buffer. Main thread.
    pub(crate) fn new(
        stopped: StoppedPluginAudioProcessor<StageHost>,
        layout: PortLayout,
        notes: NoteMode,
        config: &ProcessConfig,
        shared: Arc<ClapShared>,
        tail_ext: Option<PluginTail>,
        param_out: rtrb::Producer<(u32, f64)>,
    ) -> Self {
        let n = config.max_block.max(1) as usize;
        let alloc = |ports: &[u32]| -> Vec<Vec<Vec<f32>>> {
            ports
                .iter()
                .map(|&c| (0..c.min(MAX_CHANNELS)).map(|_| vec![0.0f32; n]).collect())
                .collect()
        };
        let in_bufs = alloc(&layout.inputs);
        let out_bufs = alloc(&layout.outputs);
        let channels = |b: &Vec<Vec<Vec<f32>>>| b.iter().map(Vec::len).sum::<usize>();
        Self {
            proc: Some(PluginAudioProcessor::Stopped(stopped)),
            in_ports: AudioPorts::with_capacity(channels(&in_bufs), in_bufs.len()),
            out_ports: AudioPorts::with_capacity(channels(&out_bufs), out_bufs.len()),
            in_bufs,
            out_bufs,
            in_events: EventBuffer::with_capacity(EVENT_CAPACITY),
            out_events: EventBuffer::with_capacity(EVENT_CAPACITY),
            notes,
            shared,
            tail_ext,
            tail: Tail::None,
            tail_known: false,
            failed: false,
            max_block: n,
            param_out,
        }
    }

    /// True when this processor was activated from `instance`. Main thread.
    pub(crate) fn belongs_to(&self, instance: &PluginInstance<StageHost>) -> bool {
        self.proc.as_ref().is_some_and(|p| p.matches(instance))
    }

    /// Gives back clack's stopped processor for deactivation. If the engine
    /// never stopped it, it is stopped here (logged: that call belongs on
    /// the audio thread). Main thread.
    pub(crate) fn into_stopped(mut self: Box<Self>) -> StoppedPluginAudioProcessor<StageHost> {
        let proc = self
            .proc
            .take()
            .expect("a ClapProcessor always holds its clack processor until deactivation");
        if proc.is_started() {
            tracing::warn!(
                "{} was still processing when deactivated; stopping it on the main thread",
                self.shared.label
            );
        }
        proc.into_stopped()
    }

    /// The shared atomics. Any thread.
    pub fn shared(&self) -> &Arc<ClapShared> {
        &self.shared
    }
}

fn transport_event(t: &Transport) -> TransportEvent {
    let seconds = t.steady_frames as f64 / t.sample_rate.max(1.0);
    let beats = seconds * t.tempo / 60.0;
    let bar = (beats / 4.0).floor();
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if t.playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_float(seconds),
        tempo: t.tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_int(0),
        loop_end_beats: BeatTime::from_int(0),
        loop_start_seconds: SecondsTime::from_int(0),
        loop_end_seconds: SecondsTime::from_int(0),
        bar_start: BeatTime::from_float(bar * 4.0),
        bar_number: bar as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// Converts one of our events into the plugin's input list. Never allocates
/// (the list was sized on the main thread). Audio thread.
fn push_event(buf: &mut EventBuffer, e: &TimedEvent, notes: NoteMode) {
    let t = e.offset;
    let pckn = |channel: u8, key: u8, note_id: i32| {
        Pckn::from_raw(0, i16::from(channel), i16::from(key), note_id.max(-1))
    };
    if let Event::ParamValue { param, value } = e.event {
        if let Some(id) = ClapId::from_raw(param) {
            buf.push(&ParamValueEvent::new(t, id, Pckn::match_all(), value));
        }
        return;
    }
    let NoteMode::Port {
        notes_as_clap,
        midi,
    } = notes
    else {
        return;
    };
    if notes_as_clap {
        match e.event {
            Event::NoteOn {
                channel,
                key,
                velocity,
                note_id,
            } => {
                buf.push(&NoteOnEvent::new(
                    t,
                    pckn(channel, key, note_id),
                    f64::from(velocity),
                ));
                return;
            }
            Event::NoteOff {
                channel,
                key,
                velocity,
                note_id,
            } => {
                buf.push(&NoteOffEvent::new(
                    t,
                    pckn(channel, key, note_id),
                    f64::from(velocity),
                ));
                return;
            }
            Event::NoteChoke {
                channel,
                key,
                note_id,
            } => {
                buf.push(&NoteChokeEvent::new(t, pckn(channel, key, note_id)));
                return;
            }
            // An MPE note's expression, to a plugin whose note port
            // prefers CLAP events: a CLAP note expression by channel and
            // key (tuning in semitones, pressure and brightness 0..1).
            Event::NoteExpression {
                channel,
                key,
                note_id,
                expression,
                value,
                ..
            } => {
                let kind = match expression {
                    Expression::Tuning => NoteExpressionType::Tuning,
                    Expression::Pressure => NoteExpressionType::Pressure,
                    Expression::Brightness => NoteExpressionType::Brightness,
                };
                buf.push(&NoteExpressionEvent::new(
                    t,
                    pckn(channel, key, note_id),
                    kind,
                    f64::from(value),
                ));
                return;
            }
            // A plugin that takes no MIDI hears polyphonic aftertouch as
            // its note's pressure expression (0..1), by channel and key.
            Event::PolyPressure {
                channel,
                key,
                value,
            } if !midi => {
                buf.push(&NoteExpressionEvent::new(
                    t,
                    pckn(channel, key, -1),
                    NoteExpressionType::Pressure,
                    f64::from(value) / 127.0,
                ));
                return;
            }
            _ => {}
        }
    }
    let is_note = matches!(
        e.event,
        Event::NoteOn { .. } | Event::NoteOff { .. } | Event::NoteChoke { .. }
    );
    if midi || is_note {
        if let Some((bytes, _len)) = e.event.to_midi() {
            buf.push(&MidiEvent::new(t, 0, bytes));
        }
    }
}

/// Converts one of the plugin's output events into ours; `None` for kinds
/// we don't pass on. Audio thread.
fn pull_event(ev: &UnknownEvent, frames: u32) -> Option<TimedEvent> {
    let offset = ev.header().time().min(frames.saturating_sub(1));
    let ch = |c: i16| u8::try_from(c).ok().filter(|c| *c < 16);
    let key = |k: i16| u8::try_from(k).ok().filter(|k| *k < 128);
    let event = match ev.as_core_event()? {
        CoreEventSpace::NoteOn(e) => {
            let p = e.pckn();
            Event::NoteOn {
                channel: ch(p.raw_channel())?,
                key: key(p.raw_key())?,
                velocity: e.velocity().clamp(0.0, 1.0) as f32,
                note_id: p.raw_note_id(),
            }
        }
        CoreEventSpace::NoteOff(e) => {
            let p = e.pckn();
            Event::NoteOff {
                channel: ch(p.raw_channel())?,
                key: key(p.raw_key())?,
                velocity: e.velocity().clamp(0.0, 1.0) as f32,
                note_id: p.raw_note_id(),
            }
        }
        CoreEventSpace::NoteChoke(e) => {
            let p = e.pckn();
            Event::NoteChoke {
                channel: ch(p.raw_channel())?,
                key: key(p.raw_key())?,
                note_id: p.raw_note_id(),
            }
        }
        CoreEventSpace::Midi(e) => Event::from_midi(&e.data())?,
        _ => return None,
    };
    Some(TimedEvent::new(offset, event))
}

impl AudioProcessor for ClapProcessor {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        let _audio = AudioThreadScope::enter();
        let Self {
            proc,
            shared,
            in_ports,
            out_ports,
            in_bufs,
            out_bufs,
            in_events,
            out_events,
            notes,
            tail_ext,
            tail,
            tail_known,
            failed,
            max_block,
            param_out,
        } = self;
        if *failed {
            return ProcessStatus::Error;
        }
        let frames = block.frames.min(*max_block);
        let Some(proc) = proc.as_mut() else {
            return ProcessStatus::Error;
        };
        let Ok(started) = proc.ensure_processing_started() else {
            *failed = true;
            shared.set_state(ClapState::Error);
            return ProcessStatus::Error;
        };

        // Audio in: the rack's stereo into the main input port; other
        // input ports silent.
        for (pi, port) in in_bufs.iter_mut().enumerate() {
            if pi == 0 {
                crate::stereo::stereo_to_port(port, &block.left[..frames], &block.right[..frames]);
            } else {
                for ch in port.iter_mut() {
                    ch[..frames].fill(0.0);
                }
            }
        }

        // This call answers any pending flush request.
        shared.flush_requested.store(false, Ordering::Relaxed);
        in_events.clear();
        out_events.clear();
        for e in block.events {
            if (e.offset as usize) < frames {
                push_event(in_events, e, *notes);
            }
        }
        let transport = transport_event(block.transport);

        let inputs = if in_bufs.is_empty() {
            // No input port: an empty list that still carries the block
            // length, so a plugin without any audio port (a note effect)
            // gets real frame counts.
            // SAFETY: there are no buffer structs to be valid, and
            // `frames` is within every (zero) channel buffer.
            unsafe { InputAudioBuffers::from_raw_buffers(&[], frames as u32) }
        } else {
            in_ports.with_input_buffers(in_bufs.iter_mut().map(|port| {
                AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_input_only(
                        port.iter_mut()
                            .map(|ch| InputChannel::variable(&mut ch[..frames])),
                    ),
                }
            }))
        };
        let mut outputs =
            out_ports.with_output_buffers(out_bufs.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    port.iter_mut().map(|ch| &mut ch[..frames]),
                ),
            }));
        let result = started.process(
            &inputs,
            &mut outputs,
            &in_events.as_input(),
            &mut out_events.as_output(),
            Some(block.transport.steady_frames),
            Some(&transport),
        );

        if !*tail_known || shared.tail_changed.swap(false, Ordering::AcqRel) {
            *tail_known = true;
            *tail = match tail_ext.map(|t| t.get(&started.plugin_handle())) {
                None | Some(TailLength::Finite(0)) => Tail::None,
                Some(TailLength::Finite(n)) => Tail::Frames(n),
                Some(TailLength::Infinite) => Tail::Infinite,
            };
            let raw = match *tail {
                Tail::None => 0,
                Tail::Frames(n) => n.min(u32::MAX - 1),
                Tail::Infinite => u32::MAX,
            };
            shared.tail_frames.store(raw, Ordering::Relaxed);
        }

        // Audio out: the main output port back into the rack.
        crate::stereo::port_to_stereo(
            out_bufs.first().map(Vec::as_slice),
            &mut block.left[..frames],
            &mut block.right[..frames],
        );

        for ev in out_events.iter() {
            if let Some(CoreEventSpace::ParamValue(p)) = ev.as_core_event() {
                // The plugin moved one of its own parameters: for the
                // main thread (displays, the saved preset), not for the
                // next plugin. A full queue drops it; never blocks.
                if let Some(id) = p.param_id() {
                    let _ = param_out.push((id.get(), p.value()));
                }
                continue;
            }
            if let Some(e) = pull_event(ev, frames as u32) {
                block.out_events.push(e);
            }
        }

        match result {
            Ok(s) => {
                let status = match s {
                    clack_host::prelude::ProcessStatus::Continue => ProcessStatus::Continue,
                    clack_host::prelude::ProcessStatus::ContinueIfNotQuiet => {
                        ProcessStatus::ContinueIfNotQuiet
                    }
                    clack_host::prelude::ProcessStatus::Tail => ProcessStatus::Tail,
                    clack_host::prelude::ProcessStatus::Sleep => ProcessStatus::Sleep,
                };
                shared.set_state(if status == ProcessStatus::Sleep {
                    ClapState::ActiveSleeping
                } else {
                    ClapState::ActiveProcessing
                });
                status
            }
            Err(_) => {
                *failed = true;
                shared.set_state(ClapState::Error);
                block.left[..frames].fill(0.0);
                block.right[..frames].fill(0.0);
                ProcessStatus::Error
            }
        }
    }

    fn stop(&mut self) {
        let _audio = AudioThreadScope::enter();
        if let Some(p) = self.proc.as_mut() {
            if p.is_started() {
                p.ensure_processing_stopped();
            }
        }
        if !self.failed {
            self.shared.set_state(ClapState::ActiveSleeping);
        }
    }

    fn reset(&mut self) {
        let _audio = AudioThreadScope::enter();
        if let Some(p) = self.proc.as_mut() {
            p.reset();
        }
    }

    fn tail(&self) -> Tail {
        self.tail
    }

    fn aux_output(&self, port: usize, frames: usize) -> Option<(&[f32], &[f32])> {
        let frames = frames.min(self.max_block);
        match self.out_bufs.get(port + 1)?.as_slice() {
            [] => None,
            [mono] => Some((&mono[..frames], &mono[..frames])),
            [l, r, ..] => Some((&l[..frames], &r[..frames])),
        }
    }

    fn wake_requested(&mut self) -> bool {
        // `request_process`, or `params.request_flush` while active: both
        // are answered by a process call (which flushes parameters too).
        let process = self.shared.process_requested.swap(false, Ordering::AcqRel);
        let flush = self.shared.flush_requested.swap(false, Ordering::AcqRel);
        process || flush
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(buf: &EventBuffer) -> Vec<&'static str> {
        buf.iter()
            .map(|e| match e.as_core_event() {
                Some(CoreEventSpace::NoteOn(_)) => "note-on",
                Some(CoreEventSpace::NoteOff(_)) => "note-off",
                Some(CoreEventSpace::NoteChoke(_)) => "choke",
                Some(CoreEventSpace::Midi(_)) => "midi",
                Some(CoreEventSpace::ParamValue(_)) => "param",
                _ => "other",
            })
            .collect()
    }

    fn all_events() -> Vec<TimedEvent> {
        [
            Event::NoteOn {
                channel: 2,
                key: 60,
                velocity: 0.5,
                note_id: 7,
            },
            Event::NoteOff {
                channel: 2,
                key: 60,
                velocity: 0.25,
                note_id: 7,
            },
            Event::NoteChoke {
                channel: 2,
                key: 61,
                note_id: -1,
            },
            Event::ControlChange {
                channel: 0,
                controller: 64,
                value: 127,
            },
            Event::PitchBend {
                channel: 0,
                value: 9000,
            },
            Event::ProgramChange {
                channel: 0,
                program: 5,
            },
            Event::ParamValue {
                param: 3,
                value: 0.5,
            },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, e)| TimedEvent::new(i as u32, e))
        .collect()
    }

    #[test]
    fn notes_follow_the_preferred_dialect() {
        let mut buf = EventBuffer::with_capacity(16);
        let clap = NoteMode::Port {
            notes_as_clap: true,
            midi: true,
        };
        for e in &all_events() {
            push_event(&mut buf, e, clap);
        }
        assert_eq!(
            kinds(&buf),
            ["note-on", "note-off", "choke", "midi", "midi", "midi", "param"]
        );
        let Some(CoreEventSpace::NoteOn(on)) = buf.get(0).unwrap().as_core_event() else {
            panic!("note-on expected");
        };
        assert_eq!(on.pckn().raw_channel(), 2);
        assert_eq!(on.pckn().raw_key(), 60);
        assert_eq!(on.pckn().raw_note_id(), 7);
        assert_eq!(on.velocity(), 0.5);

        buf.clear();
        let midi = NoteMode::Port {
            notes_as_clap: false,
            midi: true,
        };
        for e in &all_events() {
            push_event(&mut buf, e, midi);
        }
        assert_eq!(
            kinds(&buf),
            ["midi", "midi", "midi", "midi", "midi", "midi", "param"]
        );
        let Some(CoreEventSpace::Midi(m)) = buf.get(4).unwrap().as_core_event() else {
            panic!("midi expected");
        };
        assert_eq!(m.data(), [0xE0, (9000 & 0x7F) as u8, (9000 >> 7) as u8]);
        assert_eq!(buf.get(4).unwrap().header().time(), 4);

        // CLAP-only port: MIDI-only messages are dropped; no note port: only
        // parameters get through.
        buf.clear();
        let clap_only = NoteMode::Port {
            notes_as_clap: true,
            midi: false,
        };
        for e in &all_events() {
            push_event(&mut buf, e, clap_only);
        }
        assert_eq!(kinds(&buf), ["note-on", "note-off", "choke", "param"]);
        buf.clear();
        for e in &all_events() {
            push_event(&mut buf, e, NoteMode::None);
        }
        assert_eq!(kinds(&buf), ["param"]);
    }

    /// Polyphonic aftertouch (#16): MIDI to a plugin that takes MIDI; to a
    /// CLAP-only note port, the note's pressure expression by channel and
    /// key.
    #[test]
    fn poly_pressure_reaches_a_clap_only_plugin_as_note_pressure() {
        let pressure = TimedEvent::new(
            9,
            Event::PolyPressure {
                channel: 3,
                key: 64,
                value: 127,
            },
        );
        let mut buf = EventBuffer::with_capacity(4);
        let clap_only = NoteMode::Port {
            notes_as_clap: true,
            midi: false,
        };
        push_event(&mut buf, &pressure, clap_only);
        let Some(CoreEventSpace::NoteExpression(e)) = buf.get(0).unwrap().as_core_event() else {
            panic!("a note expression expected");
        };
        assert_eq!(e.expression_type(), Some(NoteExpressionType::Pressure));
        assert_eq!((e.pckn().raw_channel(), e.pckn().raw_key()), (3, 64));
        assert_eq!(e.pckn().raw_note_id(), -1, "any note on that key");
        assert_eq!(e.value(), 1.0);
        assert_eq!(buf.get(0).unwrap().header().time(), 9);

        buf.clear();
        let both = NoteMode::Port {
            notes_as_clap: true,
            midi: true,
        };
        push_event(&mut buf, &pressure, both);
        let Some(CoreEventSpace::Midi(m)) = buf.get(0).unwrap().as_core_event() else {
            panic!("MIDI expected");
        };
        assert_eq!(m.data(), [0xA3, 64, 127]);
    }

    #[test]
    fn an_mpe_expression_goes_as_a_clap_note_expression_or_as_its_midi() {
        let tuning = TimedEvent::new(
            5,
            Event::NoteExpression {
                channel: 2,
                key: 62,
                note_id: -1,
                expression: Expression::Tuning,
                value: 24.0,
                midi: 12288,
            },
        );
        let mut buf = EventBuffer::with_capacity(4);
        let prefers_clap = NoteMode::Port {
            notes_as_clap: true,
            midi: true,
        };
        push_event(&mut buf, &tuning, prefers_clap);
        let Some(CoreEventSpace::NoteExpression(e)) = buf.get(0).unwrap().as_core_event() else {
            panic!("a note expression expected");
        };
        assert_eq!(e.expression_type(), Some(NoteExpressionType::Tuning));
        assert_eq!((e.pckn().raw_channel(), e.pckn().raw_key()), (2, 62));
        assert_eq!(e.value(), 24.0);
        assert_eq!(buf.get(0).unwrap().header().time(), 5);

        // A plugin that takes MPE as MIDI gets the member channel's bend.
        buf.clear();
        let prefers_midi = NoteMode::Port {
            notes_as_clap: false,
            midi: true,
        };
        push_event(&mut buf, &tuning, prefers_midi);
        let Some(CoreEventSpace::Midi(m)) = buf.get(0).unwrap().as_core_event() else {
            panic!("MIDI expected");
        };
        assert_eq!(m.data(), [0xE2, 0, 96]);
    }

    #[test]
    fn plugin_output_notes_and_midi_come_back_as_events() {
        let mut buf = EventBuffer::with_capacity(16);
        buf.push(&NoteOnEvent::new(3, Pckn::from_raw(0, 1, 64, 9), 0.75));
        buf.push(&MidiEvent::new(5, 0, [0xB3, 7, 100]));
        buf.push(&NoteOffEvent::new(70, Pckn::from_raw(0, 1, 64, 9), 0.0));
        // A wildcard channel cannot become one of our events.
        buf.push(&NoteOnEvent::new(4, Pckn::from_raw(0, -1, 64, -1), 1.0));
        let got: Vec<TimedEvent> = buf.iter().filter_map(|e| pull_event(e, 64)).collect();
        assert_eq!(
            got,
            vec![
                TimedEvent::new(
                    3,
                    Event::NoteOn {
                        channel: 1,
                        key: 64,
                        velocity: 0.75,
                        note_id: 9
                    }
                ),
                TimedEvent::new(
                    5,
                    Event::ControlChange {
                        channel: 3,
                        controller: 7,
                        value: 100
                    }
                ),
                // Late events are clamped into the block.
                TimedEvent::new(
                    63,
                    Event::NoteOff {
                        channel: 1,
                        key: 64,
                        velocity: 0.0,
                        note_id: 9
                    }
                ),
            ]
        );
    }

    #[test]
    fn transport_carries_tempo_playing_and_position() {
        let t = Transport {
            tempo: 90.0,
            playing: true,
            steady_frames: 96_000,
            sample_rate: 48_000.0,
            wait_until: None,
        };
        let e = transport_event(&t);
        assert_eq!(e.tempo, 90.0);
        assert!(e.flags.contains(TransportFlags::IS_PLAYING));
        assert!(e.flags.contains(TransportFlags::HAS_TEMPO));
        assert!((e.song_pos_seconds.to_float() - 2.0).abs() < 1e-9);
        assert!((e.song_pos_beats.to_float() - 3.0).abs() < 1e-9);
        let stopped = transport_event(&Transport {
            playing: false,
            ..t
        });
        assert!(!stopped.flags.contains(TransportFlags::IS_PLAYING));
    }
}
