//! [`Vst3Processor`]: the audio-thread half of an activated VST3 plugin.
//! Audio thread: never allocates, never releases a COM object's last
//! reference.

use vst3::Steinberg::kResultOk;
use vst3::Steinberg::Vst as sv;
use vst3::Steinberg::Vst::IAudioProcessorTrait;
use vst3::{ComPtr, ComWrapper};

use super::com::{EventList, ParamChanges};

use super::buses::Buses;
use super::events_out;
use super::instance::plain_to_norm;
use super::{MIDI_CTRLS, NO_PARAM};
use stagerack_core::midi::Event;
use stagerack_core::plugin::{AudioProcessor, Block, ProcessStatus};

/// The audio half of a VST3 instance. Audio thread.
pub(super) struct Vst3Processor {
    pub(super) audio: ComPtr<sv::IAudioProcessor>,
    pub(super) inputs: Buses,
    pub(super) outputs: Buses,
    pub(super) has_events: bool,
    /// The note expressions the plugin takes (`INoteExpressionController`
    /// on bus 0): bit 0 tuning, bit 1 brightness. With any, notes without
    /// an id get one (`channel × 128 + key`) so expressions can name them.
    pub(super) note_expressions: u8,
    pub(super) events_in: ComWrapper<EventList>,
    pub(super) events_out: ComWrapper<EventList>,
    pub(super) params_in: ComWrapper<ParamChanges>,
    pub(super) params_out: ComWrapper<ParamChanges>,
    pub(super) edits: rtrb::Consumer<(u32, f64)>,
    pub(super) to_main: rtrb::Producer<(u32, f64)>,
    pub(super) midi_map: Box<[[u32; MIDI_CTRLS]]>,
    pub(super) steps: Vec<(u32, i32)>,
    pub(super) ctx: sv::ProcessContext,
    pub(super) offline: bool,
    pub(super) max_block: usize,
    /// ProcessContext `systemTime` since activation: a clock made on the
    /// main thread, read on the audio thread without locks or globals.
    pub(super) clock: quanta::Clock,
    pub(super) started: quanta::Instant,
    pub(super) processing: bool,
    /// This block's note events, before they are split into spans
    /// (preallocated, `EVENT_CAPACITY`).
    pub(super) block_events: Vec<sv::Event>,
    /// This block's parameter points `(id, offset, normalized)`, likewise
    /// (preallocated, `PARAM_QUEUES * PARAM_POINTS`).
    pub(super) block_params: Vec<(u32, i32, f64)>,
    /// The aux output buses activated for the engine (bit `i`: bus `i + 1`).
    pub(super) aux_active: u64,
}

// SAFETY: the raw pointers in `inputs`/`outputs` point into buffers this
// struct owns; the COM objects are used by one thread at a time (the one
// that owns the processor); VST3 allows the audio processor interface to be
// called from the audio thread.
unsafe impl Send for Vst3Processor {}

impl Vst3Processor {
    fn add_param(&mut self, id: u32, offset: i32, norm: f64) {
        if self.block_params.len() < self.block_params.capacity() {
            self.block_params.push((id, offset, norm));
        }
        let _ = self.to_main.push((id, norm));
    }

    fn push_event(&mut self, e: sv::Event) {
        if self.block_events.len() < self.block_events.capacity() {
            self.block_events.push(e);
        }
    }

    /// One `IAudioProcessor::process` call for frames `start..end` of the
    /// block: the events and parameter points of that span (offsets made
    /// relative to `start`), the bus pointers moved to `start`.
    fn process_span(
        &mut self,
        start: usize,
        end: usize,
        frames: usize,
        transport: &stagerack_core::plugin::Transport,
        out_events: &mut stagerack_core::midi::EventBuffer,
    ) -> bool {
        let (s, e) = (start as i32, end as i32);
        self.events_in.clear();
        self.events_out.clear();
        self.params_in.clear();
        self.params_out.clear();
        for ev in &self.block_events {
            if (s..e).contains(&ev.sampleOffset) || (start == end && ev.sampleOffset == 0) {
                let mut ev = *ev;
                ev.sampleOffset -= s;
                self.events_in.push(ev);
            }
        }
        for &(id, off, v) in &self.block_params {
            if (s..e).contains(&off) || (start == end && off == 0) {
                if let Some((_, q)) = self.params_in.queue(id) {
                    q.add(off - s, v);
                }
            }
        }
        self.inputs.offset(start);
        self.outputs.offset(start);
        for bus in &mut self.inputs.buses {
            bus.silenceFlags = 0;
        }
        for bus in &mut self.outputs.buses {
            bus.silenceFlags = 0;
        }

        // Transport at the span's first frame.
        let t = transport;
        use sv::ProcessContext_::StatesAndFlags_ as sf;
        let mut state = sf::kTempoValid | sf::kContTimeValid | sf::kSystemTimeValid;
        state |= sf::kProjectTimeMusicValid | sf::kTimeSigValid;
        if t.playing {
            state |= sf::kPlaying;
        }
        let pos = t.steady_frames + start as u64;
        self.ctx.state = state;
        self.ctx.tempo = t.tempo;
        self.ctx.projectTimeSamples = pos as i64;
        self.ctx.continousTimeSamples = pos as i64;
        self.ctx.projectTimeMusic = pos as f64 / self.ctx.sampleRate * t.tempo / 60.0;
        self.ctx.systemTime = (self.clock.now() - self.started).as_nanos() as i64;

        let mut data = sv::ProcessData {
            processMode: if self.offline {
                sv::ProcessModes_::kOffline as i32
            } else {
                sv::ProcessModes_::kRealtime as i32
            },
            symbolicSampleSize: sv::SymbolicSampleSizes_::kSample32 as i32,
            numSamples: e - s,
            numInputs: self.inputs.buses.len() as i32,
            numOutputs: self.outputs.buses.len() as i32,
            inputs: self.inputs.buses.as_mut_ptr(),
            outputs: self.outputs.buses.as_mut_ptr(),
            inputParameterChanges: self
                .params_in
                .as_com_ref::<sv::IParameterChanges>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr()),
            outputParameterChanges: self
                .params_out
                .as_com_ref::<sv::IParameterChanges>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr()),
            inputEvents: if self.has_events {
                self.events_in
                    .as_com_ref::<sv::IEventList>()
                    .map_or(std::ptr::null_mut(), |r| r.as_ptr())
            } else {
                std::ptr::null_mut()
            },
            outputEvents: self
                .events_out
                .as_com_ref::<sv::IEventList>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr()),
            processContext: &mut self.ctx,
        };
        // SAFETY: every pointer in `data` points into buffers and objects
        // this processor owns; the bus pointers point `start` frames into
        // buffers of `max_block` >= `end` frames.
        let result = unsafe { self.audio.process(&mut data) };
        self.inputs.offset(0);
        self.outputs.offset(0);
        if result != kResultOk {
            return false;
        }

        // Notes and MIDI the plugin emits go to the next slot.
        for ev in self.events_out.events() {
            let mut ev = *ev;
            ev.sampleOffset = ev.sampleOffset.max(0) + s;
            if let Some(out) = events_out::chain_event(&ev, frames) {
                out_events.push(out);
            }
        }

        // Parameter changes the plugin reports go to its controller.
        for q in self.params_out.used() {
            if let Some(&(_, v)) = q.points().last() {
                // SAFETY: plain read of the queue's id.
                let id = unsafe { sv::IParamValueQueueTrait::getParameterId(q) };
                let _ = self.to_main.push((id, v));
            }
        }
        true
    }

    fn steps_of(&self, id: u32) -> i32 {
        match self.steps.binary_search_by_key(&id, |s| s.0) {
            Ok(i) => self.steps[i].1,
            Err(_) => 0,
        }
    }

    /// The id a note goes to the plugin with: its own, or, when the plugin
    /// takes note expressions and the note has none, one made from its
    /// channel and key (what [`Self::note_expression`] names it by).
    fn note_id(&self, channel: u8, key: u8, note_id: i32) -> i32 {
        if note_id == -1 && self.note_expressions != 0 {
            i32::from(channel & 15) * 128 + i32::from(key & 127)
        } else {
            note_id
        }
    }

    /// An MPE tuning or brightness as the plugin's own note expression,
    /// when it takes that one (VST3 tuning: 0.5 = none, ±120 semitones).
    fn note_expression(&self, event: Event) -> Option<sv::NoteExpressionValueEvent> {
        use stagerack_core::midi::Expression;
        use sv::NoteExpressionTypeIDs_ as nt;
        let Event::NoteExpression {
            channel,
            key,
            note_id,
            expression,
            value,
            ..
        } = event
        else {
            return None;
        };
        let (type_id, value) = match expression {
            Expression::Tuning if self.note_expressions & 1 != 0 => (
                nt::kTuningTypeID,
                (0.5 + f64::from(value) / 240.0).clamp(0.0, 1.0),
            ),
            Expression::Brightness if self.note_expressions & 2 != 0 => {
                (nt::kBrightnessTypeID, f64::from(value).clamp(0.0, 1.0))
            }
            _ => return None,
        };
        (self.has_events).then_some(sv::NoteExpressionValueEvent {
            typeId: type_id,
            noteId: self.note_id(channel, key, note_id),
            value,
        })
    }

    fn note_event(
        &self,
        offset: i32,
        ty: sv::Event_::EventTypes,
        body: sv::Event__type0,
    ) -> sv::Event {
        sv::Event {
            busIndex: 0,
            sampleOffset: offset,
            ppqPosition: 0.0,
            flags: if self.offline {
                0
            } else {
                sv::Event_::EventFlags_::kIsLive as u16
            },
            r#type: ty as u16,
            __field0: body,
        }
    }
}

impl AudioProcessor for Vst3Processor {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        let frames = block.frames.min(self.max_block);
        if !self.processing {
            // SAFETY: plain call on the audio thread, after setActive.
            unsafe { self.audio.setProcessing(1) };
            self.processing = true;
        }
        self.block_events.clear();
        self.block_params.clear();
        while let Ok((id, v)) = self.edits.pop() {
            if self.block_params.len() < self.block_params.capacity() {
                self.block_params.push((id, 0, v));
            }
        }
        use sv::Event_::EventTypes_ as et;
        for ev in block.events {
            let offset = (ev.offset as usize).min(frames.saturating_sub(1)) as i32;
            if let Some(x) = self.note_expression(ev.event) {
                let e = self.note_event(
                    offset,
                    et::kNoteExpressionValueEvent,
                    sv::Event__type0 {
                        noteExpressionValue: x,
                    },
                );
                self.push_event(e);
                continue;
            }
            match as_legacy_midi(ev.event) {
                Event::NoteOn {
                    channel,
                    key,
                    velocity,
                    note_id,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kNoteOnEvent,
                        sv::Event__type0 {
                            noteOn: sv::NoteOnEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                tuning: 0.0,
                                velocity,
                                length: 0,
                                noteId: self.note_id(channel, key, note_id),
                            },
                        },
                    );
                    self.push_event(e);
                }
                Event::NoteOff {
                    channel,
                    key,
                    velocity,
                    note_id,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kNoteOffEvent,
                        sv::Event__type0 {
                            noteOff: sv::NoteOffEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                velocity,
                                noteId: self.note_id(channel, key, note_id),
                                tuning: 0.0,
                            },
                        },
                    );
                    self.push_event(e);
                }
                Event::NoteChoke {
                    channel,
                    key,
                    note_id,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kNoteOffEvent,
                        sv::Event__type0 {
                            noteOff: sv::NoteOffEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                velocity: 0.0,
                                noteId: self.note_id(channel, key, note_id),
                                tuning: 0.0,
                            },
                        },
                    );
                    self.push_event(e);
                }
                Event::PolyPressure {
                    channel,
                    key,
                    value,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kPolyPressureEvent,
                        sv::Event__type0 {
                            polyPressure: sv::PolyPressureEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                pressure: f32::from(value) / 127.0,
                                noteId: -1,
                            },
                        },
                    );
                    self.push_event(e);
                }
                Event::ControlChange {
                    channel,
                    controller,
                    value,
                } => {
                    let id =
                        self.midi_map[usize::from(channel & 15)][usize::from(controller & 127)];
                    if id != NO_PARAM {
                        self.add_param(id, offset, f64::from(value) / 127.0);
                    }
                }
                Event::ChannelPressure { channel, value } => {
                    let id = self.midi_map[usize::from(channel & 15)][128];
                    if id != NO_PARAM {
                        self.add_param(id, offset, f64::from(value) / 127.0);
                    }
                }
                Event::PitchBend { channel, value } => {
                    let id = self.midi_map[usize::from(channel & 15)][129];
                    if id != NO_PARAM {
                        self.add_param(id, offset, f64::from(value) / 16383.0);
                    }
                }
                Event::ParamValue { param, value } => {
                    let n = plain_to_norm(self.steps_of(param), value);
                    self.add_param(param, offset, n);
                }
                _ => {}
            }
        }

        // Audio in: the rack's stereo into the main input bus.
        if let Some(main) = self.inputs.data.first_mut() {
            crate::stereo::stereo_to_port(main, &block.left[..frames], &block.right[..frames]);
        }

        // One process call per span that starts at a note event, so every
        // event reaches the plugin at sampleOffset 0 (a block without
        // events, or with events only at 0, is one call as before). The
        // VST3 SDK's own sample instruments (mda JX10/DX10/Piano/EPiano:
        // SampleAccurateBaseProcessor slicing by 16 frames) lose every
        // event whose offset is a non-zero multiple of 16, which left them
        // silent at 128+ frame blocks; the `Stagerack VST3 Sliced Probe`
        // test plugin keeps that contract guarded without the SDK.
        let mut start = 0usize;
        loop {
            let end = self
                .block_events
                .iter()
                .map(|e| e.sampleOffset.max(0) as usize)
                .filter(|&o| o > start)
                .min()
                .unwrap_or(frames)
                .min(frames);
            if !self.process_span(start, end, frames, block.transport, block.out_events) {
                // As for CLAP: the failed block is silent, the chain bypasses
                // the plugin from now on and reports it by name.
                block.left[..frames].fill(0.0);
                block.right[..frames].fill(0.0);
                return ProcessStatus::Error;
            }
            if end >= frames {
                break;
            }
            start = end;
        }

        // Audio out: the main output bus back into the rack.
        crate::stereo::port_to_stereo(
            self.outputs.data.first().map(Vec::as_slice),
            &mut block.left[..frames],
            &mut block.right[..frames],
        );
        let _ = &self.inputs.ptrs;
        let _ = &self.outputs.ptrs;
        ProcessStatus::Continue
    }

    fn aux_output(&self, port: usize, frames: usize) -> Option<(&[f32], &[f32])> {
        if port >= 64 || self.aux_active & (1 << port) == 0 {
            return None;
        }
        let frames = frames.min(self.max_block);
        match self.outputs.data.get(port + 1)?.as_slice() {
            [] => None,
            [mono] => Some((&mono[..frames], &mono[..frames])),
            [l, r, ..] => Some((&l[..frames], &r[..frames])),
        }
    }

    /// VST3 has no "reset" call; leaving and re-entering the processing
    /// state (`setProcessing(false)`, then `true` before the next block) is
    /// where plugins clear their voices and delay lines.
    fn reset(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.processing {
            // SAFETY: plain call on the audio thread.
            unsafe { self.audio.setProcessing(0) };
            self.processing = false;
        }
    }
}

/// The processor must be able to move to the audio thread (compile-time
/// check); the instance holds an `Rc<Module>` and so stays `!Send`.
#[allow(dead_code)]
fn assert_processor_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Vst3Processor>();
}

/// An MPE note expression as the member-channel message it came from
/// (pitch bend and CC 74 reach the plugin through its `IMidiMapping`,
/// pressure as the note's poly pressure), which is how VST3 plugins take
/// MPE; every other event as it is. Audio thread.
fn as_legacy_midi(event: Event) -> Event {
    use stagerack_core::midi::Expression;
    match event {
        Event::NoteExpression {
            channel,
            key,
            expression,
            midi,
            ..
        } => match expression {
            Expression::Tuning => Event::PitchBend {
                channel,
                value: midi.min(16383),
            },
            Expression::Pressure => Event::PolyPressure {
                channel,
                key,
                value: midi.min(127) as u8,
            },
            Expression::Brightness => Event::ControlChange {
                channel,
                controller: 74,
                value: midi.min(127) as u8,
            },
        },
        other => other,
    }
}

#[cfg(test)]
mod mpe_tests {
    use super::*;
    use stagerack_core::midi::Expression;

    #[test]
    fn mpe_expressions_reach_vst3_as_their_member_channel_messages() {
        let e = |expression, midi| Event::NoteExpression {
            channel: 4,
            key: 61,
            note_id: -1,
            expression,
            value: 0.0,
            midi,
        };
        assert_eq!(
            as_legacy_midi(e(Expression::Tuning, 9000)),
            Event::PitchBend {
                channel: 4,
                value: 9000
            }
        );
        assert_eq!(
            as_legacy_midi(e(Expression::Pressure, 100)),
            Event::PolyPressure {
                channel: 4,
                key: 61,
                value: 100
            }
        );
        assert_eq!(
            as_legacy_midi(e(Expression::Brightness, 7)),
            Event::ControlChange {
                channel: 4,
                controller: 74,
                value: 7
            }
        );
    }
}
