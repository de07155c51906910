//! A chain of processors run in order, in place, on one stereo buffer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::{is_silent, ProcessorId};
use stagerack_core::midi::{EventBuffer, TimedEvent};
use stagerack_core::plugin::{AudioProcessor, Block, PluginKind, ProcessStatus, Tail, Transport};

/// One slot's health, shared between its plan and the main-thread model.
#[derive(Debug, Default)]
pub struct SlotStatus {
    /// The processor returned an error or panicked and is bypassed.
    pub failed: AtomicBool,
    /// It panicked (as opposed to returning an error).
    pub panicked: AtomicBool,
    /// It produced NaN, infinity or runaway (> +36 dBFS) output.
    pub bad_output: AtomicBool,
    /// The processor is asleep (not being called).
    pub sleeping: AtomicBool,
    /// Blocks actually processed.
    pub processed: AtomicU64,
    /// Nanoseconds spent in the processor's process calls, in total.
    pub cpu_ns: AtomicU64,
    /// The longest single process call since the main thread last took it.
    pub cpu_peak_ns: AtomicU64,
    /// Nanoseconds of its process calls in the latest buffer (for naming
    /// the culprit of an overload).
    pub buffer_ns: AtomicU64,
    /// Allocations and frees it made on the audio thread (real-time
    /// violations), counted instead of aborting.
    pub allocs: AtomicU64,
}

impl SlotStatus {
    /// Records one process call of `ns` nanoseconds with `allocs`
    /// (de)allocations. Audio thread; atomics only.
    #[inline]
    pub(crate) fn record_call(&self, ns: u64, allocs: u32) {
        // The audio thread is the only writer (the main thread only reads,
        // and resets the peak): plain loads and stores, no locked
        // read-modify-write per plugin call. A peak reset racing with a
        // call may be lost; the next interval reports that peak again.
        let add = |a: &AtomicU64, v: u64| a.store(a.load(Ordering::Relaxed) + v, Ordering::Relaxed);
        add(&self.cpu_ns, ns);
        add(&self.buffer_ns, ns);
        add(&self.processed, 1);
        if ns > self.cpu_peak_ns.load(Ordering::Relaxed) {
            self.cpu_peak_ns.store(ns, Ordering::Relaxed);
        }
        if allocs > 0 {
            add(&self.allocs, u64::from(allocs));
        }
    }
}

/// A processor as the main thread hands it to a plan.
pub struct SlotSpec {
    /// Stable id across plans.
    pub id: ProcessorId,
    /// A freshly activated processor, or `None` to take over the running
    /// processor with the same id from the plan being replaced.
    pub processor: Option<Box<dyn AudioProcessor>>,
    /// Instrument or effect.
    pub kind: PluginKind,
    /// Skip this processor (audio passes through unchanged).
    pub bypass: bool,
    /// MPE notes' expressions reach it as the member-channel messages they
    /// came from (MPE as MIDI), whatever it supports.
    pub expressions_as_midi: bool,
    /// Health, shared with the main thread.
    pub status: Arc<SlotStatus>,
}

pub(crate) struct Slot {
    pub(crate) id: ProcessorId,
    pub(crate) processor: Option<Box<dyn AudioProcessor>>,
    kind: PluginKind,
    bypass: bool,
    expressions_as_midi: bool,
    /// What survives a plan swap with the processor.
    pub(crate) state: SlotState,
    pub(crate) status: Arc<SlotStatus>,
    /// Parameter changes from the main thread for the next block.
    pub(crate) params: EventBuffer,
    /// Its processor was started early on this block ([`Chain::start_early`]).
    started: bool,
    /// Asleep, it asked to be woken when [`Chain::asleep`] looked: the next
    /// `run` calls it.
    woken: bool,
    /// Its processor played this chunk (called, no error, sane output):
    /// its extra outputs hold this chunk's audio.
    played: bool,
}

/// A slot's processing state: it belongs to the running processor, so a
/// new plan takes it over with the processor as one value (a live edit
/// never wakes a sleeper, revives a failed plugin or restarts a tail).
/// Audio thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SlotState {
    /// Not called until an event or sound arrives.
    pub(crate) sleeping: bool,
    /// Bypassed after an error, a panic or bad output.
    pub(crate) failed: bool,
    /// Frames of tail left since the input went quiet, while the processor
    /// returns [`ProcessStatus::Tail`]; `None` while the input sounds.
    tail_left: Option<u32>,
}

/// Where the audio thread sends caught panics: to the main thread, to be
/// reported and their payloads freed there.
pub(crate) type PanicSink = rtrb::Producer<PanicReport>;

/// A panic caught on the audio thread.
pub struct PanicReport {
    /// The processor that panicked, or none for the engine itself.
    pub processor: Option<ProcessorId>,
    /// The panic payload (freed on the main thread).
    pub payload: Box<dyn std::any::Any + Send>,
}

impl PanicReport {
    /// The panic message, if it was a string. Main thread.
    pub fn message(&self) -> &str {
        if let Some(s) = self.payload.downcast_ref::<&str>() {
            s
        } else if let Some(s) = self.payload.downcast_ref::<String>() {
            s
        } else {
            "(non-string panic payload)"
        }
    }
}

/// Sends a payload home; if the queue is full it is freed here as an
/// exception to the no-free rule (only on a panic path). Audio thread.
pub(crate) fn report_panic(
    sink: &mut PanicSink,
    processor: Option<ProcessorId>,
    payload: Box<dyn std::any::Any + Send>,
) {
    if let Err(rtrb::PushError::Full(report)) = sink.push(PanicReport { processor, payload }) {
        super::alloc_guard::permit_alloc(move || drop(report));
    }
}

/// Where a chain sends the panics it catches. Audio thread (the callback
/// thread or a worker).
pub(crate) trait PanicOut {
    /// Sends (or holds) one caught panic.
    fn caught(&mut self, processor: Option<ProcessorId>, payload: Box<dyn std::any::Any + Send>);
}

impl PanicOut for PanicSink {
    fn caught(&mut self, processor: Option<ProcessorId>, payload: Box<dyn std::any::Any + Send>) {
        report_panic(self, processor, payload);
    }
}

/// Panics caught while a rack ran on a worker thread, held in the rack
/// until the callback thread sends them (the sink has one producer). Room
/// is made on the main thread; a fifth panic in one block is freed on the
/// spot (only on a panic path). Audio thread.
pub(crate) struct PanicStash(Vec<PanicReport>);

impl PanicStash {
    /// Room for a few panics per block. Main thread.
    pub(crate) fn new() -> Self {
        Self(Vec::with_capacity(4))
    }

    /// Sends what it holds to `sink`, in order. Audio thread.
    pub(crate) fn send_to(&mut self, sink: &mut PanicSink) {
        // `drain` never allocates and leaves the room in place.
        for report in self.0.drain(..) {
            report_panic(sink, report.processor, report.payload);
        }
    }
}

impl PanicOut for PanicStash {
    fn caught(&mut self, processor: Option<ProcessorId>, payload: Box<dyn std::any::Any + Send>) {
        let report = PanicReport { processor, payload };
        if self.0.len() < self.0.capacity() {
            self.0.push(report);
        } else {
            super::alloc_guard::permit_alloc(move || drop(report));
        }
    }
}

impl Slot {
    pub(crate) fn new(spec: SlotSpec, event_capacity: usize) -> Self {
        Self {
            id: spec.id,
            processor: spec.processor,
            kind: spec.kind,
            bypass: spec.bypass,
            expressions_as_midi: spec.expressions_as_midi,
            state: SlotState::default(),
            status: spec.status,
            params: EventBuffer::with_capacity(event_capacity),
            started: false,
            woken: false,
            played: false,
        }
    }
}

/// The slots of a rack or of the master section, with their event scratch.
pub(crate) struct Chain {
    pub(crate) slots: Vec<Slot>,
    /// Events entering the current slot.
    cur: EventBuffer,
    /// Events the current slot emits.
    out: EventBuffer,
    /// Panics caught since the owner last took the count.
    pub(crate) panics_caught: u32,
    /// A slot produced NaN, infinite or runaway output since the plan last
    /// looked (the rack is muted for it).
    pub(crate) bad_output: bool,
    /// Scratch for merging.
    tmp: EventBuffer,
    /// MIDI-to-parameter mappings into this chain's slots.
    pub(crate) mappings: Vec<super::ParamMapping>,
    /// Its remote-controls pages and the rack status holding the current
    /// one.
    paging: Option<(super::RemotePaging, Arc<crate::RackStatus>)>,
    /// What its plugins emitted this chunk (not what they were given),
    /// kept only when another rack takes its MIDI (`midi_from`).
    midi_out: Option<EventBuffer>,
}

/// The events a slot gets this block: the chain's, with its own parameter
/// changes first on each sample, and its MPE expressions turned back into
/// member-channel messages when it takes them as MIDI (one message per
/// channel and sample: several notes held on one member channel share
/// it). `tmp` is scratch. Audio thread.
fn slot_events<'a>(
    params: &EventBuffer,
    expressions_as_midi: bool,
    cur: &'a EventBuffer,
    tmp: &'a mut EventBuffer,
) -> &'a [TimedEvent] {
    if params.is_empty() && !expressions_as_midi {
        return cur.as_slice();
    }
    merge_into(params.as_slice(), cur.as_slice(), tmp);
    if expressions_as_midi {
        tmp.retain_map(|e, kept| {
            let Some(event) = e.event.expression_as_message() else {
                return Some(e);
            };
            let sent = kept
                .iter()
                .rev()
                .take_while(|k| k.offset == e.offset)
                .any(|k| k.event == event);
            (!sent).then_some(TimedEvent { event, ..e })
        });
    }
    tmp.as_slice()
}

/// True when every extra output of `processor` was silent in its last
/// block (or it has none). Audio thread.
fn aux_silent(processor: &dyn AudioProcessor, frames: usize) -> bool {
    (0..stagerack_core::plugin::MAX_AUX_OUTPUTS)
        .filter_map(|port| processor.aux_output(port, frames))
        .all(|(l, r)| is_silent(l) && is_silent(r))
}

/// Merges two offset-sorted lists into `dst` (stable: `a` before `b` on
/// equal offsets). Audio thread.
fn merge_into(a: &[TimedEvent], b: &[TimedEvent], dst: &mut EventBuffer) {
    dst.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a[i].offset <= b[j].offset);
        if take_a {
            dst.push(a[i]);
            i += 1;
        } else {
            dst.push(b[j]);
            j += 1;
        }
    }
}

impl Chain {
    pub(crate) fn new(specs: Vec<SlotSpec>, event_capacity: usize) -> Self {
        Self {
            slots: specs
                .into_iter()
                .map(|s| Slot::new(s, event_capacity))
                .collect(),
            cur: EventBuffer::with_capacity(event_capacity),
            out: EventBuffer::with_capacity(event_capacity),
            tmp: EventBuffer::with_capacity(event_capacity),
            panics_caught: 0,
            bad_output: false,
            mappings: Vec::new(),
            paging: None,
            midi_out: None,
        }
    }

    /// The same chain keeping what its plugins emit each chunk, for a rack
    /// that takes its MIDI (see [`midi_out`](Self::midi_out)). Main thread.
    pub(crate) fn keeping_midi_out(self, event_capacity: usize) -> Self {
        Self {
            midi_out: Some(EventBuffer::with_capacity(event_capacity)),
            ..self
        }
    }

    /// True when `other` has the same slots (by id) with the same bypass
    /// flags, in the same order. Audio thread.
    pub(crate) fn same_slots(&self, other: &Chain) -> bool {
        self.slots.len() == other.slots.len()
            && self
                .slots
                .iter()
                .zip(&other.slots)
                .all(|(a, b)| a.id == b.id && a.bypass == b.bypass)
    }

    /// Empties what [`midi_out`](Self::midi_out) holds (a chain that does
    /// not run this chunk emits nothing). Audio thread.
    pub(crate) fn forget_midi_out(&mut self) {
        if let Some(out) = self.midi_out.as_mut() {
            out.clear();
        }
    }

    /// The events its plugins emitted in the last [`run`](Self::run) of
    /// this chunk, sorted by offset (empty when the chain did not run, or
    /// when it was not built [`keeping_midi_out`](Self::keeping_midi_out)).
    /// Audio thread.
    pub(crate) fn midi_out(&self) -> &[TimedEvent] {
        self.midi_out.as_ref().map_or(&[], EventBuffer::as_slice)
    }

    /// The same chain with remote-controls pages. Main thread.
    pub(crate) fn with_paging(
        self,
        paging: Option<(super::RemotePaging, Arc<crate::RackStatus>)>,
    ) -> Self {
        Self { paging, ..self }
    }

    /// A chain with MIDI-to-parameter mappings. Main thread.
    pub(crate) fn with_mappings(
        specs: Vec<SlotSpec>,
        event_capacity: usize,
        mappings: Vec<super::ParamMapping>,
    ) -> Self {
        Self {
            mappings,
            ..Self::new(specs, event_capacity)
        }
    }

    /// Runs every slot in order on `left`/`right` in place. `events` go to
    /// the first slot; each slot's output events are merged into what the
    /// next one receives. Returns the number of events lost to full lists.
    /// Audio thread.
    pub(crate) fn process(
        &mut self,
        left: &mut [f32],
        right: &mut [f32],
        events: &[TimedEvent],
        transport: &Transport,
        panics: &mut PanicSink,
        clock: &quanta::Clock,
    ) -> u32 {
        self.prepare(events);
        self.run(left, right, transport, panics, clock)
    }

    /// Takes the block's events for the first slot, and turns mapped
    /// controllers among them into parameter changes. Audio thread.
    pub(crate) fn prepare(&mut self, events: &[TimedEvent]) {
        let Chain {
            slots,
            cur,
            mappings,
            paging,
            midi_out,
            ..
        } = self;
        cur.clear();
        if let Some(out) = midi_out.as_mut() {
            out.clear();
        }
        for slot in slots.iter_mut() {
            slot.played = false;
        }
        let mut page = paging
            .as_ref()
            .map_or(0, |(_, status)| status.remote_page.load(Ordering::Relaxed));
        for e in events {
            cur.push(*e);
            // A page controller turns the knobs' page from this sample on.
            if let Some((p, status)) = paging.as_ref() {
                if let Some(turned) = p.turn(page, &e.event) {
                    page = turned;
                    status.remote_page.store(page, Ordering::Relaxed);
                }
            }
            // Mapped controllers become parameter changes on their sample
            // (after any queued changes, which sit at offset 0); a knob
            // only on its page.
            for m in mappings.iter().filter(|m| m.page.is_none_or(|p| p == page)) {
                if let (Some(value), Some(slot)) = (m.value_for(e), slots.get_mut(m.slot)) {
                    slot.params.push(TimedEvent::new(
                        e.offset,
                        stagerack_core::midi::Event::ParamValue {
                            param: m.param,
                            value,
                        },
                    ));
                }
            }
        }
    }

    /// Hands the block prepared by [`prepare`](Self::prepare) to the
    /// chain's first active plugin now when it can work elsewhere (a
    /// sandbox child), so it runs while the engine processes other racks;
    /// [`run`](Self::run) collects it. `left`/`right` are the chain's
    /// input. Audio thread.
    pub(crate) fn start_early(
        &mut self,
        left: &mut [f32],
        right: &mut [f32],
        transport: &Transport,
    ) {
        let frames = left.len();
        let Chain {
            slots,
            cur,
            out,
            tmp,
            ..
        } = self;
        let Some(slot) = slots
            .iter_mut()
            .find(|s| s.processor.is_some() && !s.bypass && !s.state.failed)
        else {
            return;
        };
        let Some(processor) = slot.processor.as_mut() else {
            return;
        };
        let slot_events = slot_events(&slot.params, slot.expressions_as_midi, cur, tmp);
        let input_silent =
            slot.kind == PluginKind::Instrument || (is_silent(left) && is_silent(right));
        if slot.state.sleeping && slot_events.is_empty() && input_silent {
            // Asleep: `run` decides (a wake request included) as usual.
            return;
        }
        out.clear();
        // Plugin code, guarded as in `run`: its allocations counted, a panic
        // caught (then it is not started; `run` calls it as usual).
        let (started, allocs) = super::alloc_guard::count_allocs(|| {
            catch_unwind(AssertUnwindSafe(|| {
                processor.start(&mut Block {
                    frames,
                    left: &mut *left,
                    right: &mut *right,
                    events: slot_events,
                    out_events: &mut *out,
                    transport,
                })
            }))
        });
        slot.started = started.unwrap_or(false);
        if allocs > 0 {
            slot.status
                .allocs
                .fetch_add(u64::from(allocs), Ordering::Relaxed);
        }
    }

    /// True when every plugin of the chain is asleep (or bypassed, failed
    /// or absent) and nothing would wake one this chunk on silent input:
    /// no events, no parameter changes, no wake request (one found here is
    /// kept for the next [`run`](Self::run)). Then `run` would call no
    /// plugin and leave silence. Audio thread, after
    /// [`prepare`](Self::prepare).
    pub(crate) fn asleep(&mut self) -> bool {
        if !self.cur.is_empty() {
            return false;
        }
        for slot in &mut self.slots {
            let Some(processor) = slot.processor.as_mut() else {
                continue;
            };
            if slot.bypass || slot.state.failed {
                continue;
            }
            if !slot.state.sleeping || !slot.params.is_empty() || slot.started || slot.woken {
                return false;
            }
            if processor.wake_requested() {
                slot.woken = true;
                return false;
            }
        }
        true
    }

    /// Runs every slot in order on `left`/`right` in place (after
    /// [`prepare`](Self::prepare), and [`start_early`](Self::start_early)
    /// if any). Returns the number of events lost to full lists. Audio
    /// thread.
    pub(crate) fn run(
        &mut self,
        left: &mut [f32],
        right: &mut [f32],
        transport: &Transport,
        panics: &mut impl PanicOut,
        clock: &quanta::Clock,
    ) -> u32 {
        let frames = left.len();
        let Chain {
            slots,
            cur,
            out,
            tmp,
            panics_caught,
            bad_output,
            midi_out,
            ..
        } = self;
        // One clock read per plugin: each call is timed from the previous
        // one's end (the few host checks between two plugins count with
        // the next one). The clock is the engine's quanta TSC clock (~10 ns
        // a read against ~40 ns for `std::time::Instant` here): with two
        // std reads per plugin, timing cost more than a small plugin's work.
        let mut last_clock = clock.now();
        for slot in slots.iter_mut() {
            let Some(processor) = slot.processor.as_mut() else {
                slot.params.clear();
                continue;
            };
            if slot.bypass || slot.state.failed {
                slot.params.clear();
                continue;
            }
            // This slot's own parameter changes join the chain's events; on
            // the same sample they come first, so a note there hears them.
            let slot_events = slot_events(&slot.params, slot.expressions_as_midi, cur, tmp);
            let input_silent =
                slot.kind == PluginKind::Instrument || (is_silent(left) && is_silent(right));
            // A processor started early is collected whatever else.
            let started = std::mem::take(&mut slot.started);
            let woken = std::mem::take(&mut slot.woken);
            if !started
                && !woken
                && slot.state.sleeping
                && slot_events.is_empty()
                && input_silent
                && !processor.wake_requested()
            {
                if slot.kind == PluginKind::Instrument {
                    left.fill(0.0);
                    right.fill(0.0);
                }
                slot.params.clear();
                continue;
            }
            out.clear();
            // Plugin code: timed, and its allocations counted (reported by
            // name) rather than fatal; the host's own code stays guarded.
            let started = last_clock;
            let (result, allocs) = super::alloc_guard::count_allocs(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    processor.process(&mut Block {
                        frames,
                        left: &mut *left,
                        right: &mut *right,
                        events: slot_events,
                        out_events: &mut *out,
                        transport,
                    })
                }))
            });
            last_clock = clock.now();
            let allocs = allocs.saturating_add(processor.take_foreign_allocs());
            slot.status
                .record_call((last_clock - started).as_nanos() as u64, allocs);
            slot.params.clear();
            let status = match result {
                Ok(status) => status,
                Err(payload) => {
                    *panics_caught += 1;
                    slot.status.panicked.store(true, Ordering::Relaxed);
                    panics.caught(Some(slot.id), payload);
                    left.fill(0.0);
                    right.fill(0.0);
                    ProcessStatus::Error
                }
            };
            // NaN, infinity or runaway output never leaves a slot: the slot
            // is silenced for this block, bypassed from now on and reported.
            let status =
                if status != ProcessStatus::Error && !super::safety::output_is_sane(left, right) {
                    slot.status.bad_output.store(true, Ordering::Relaxed);
                    *bad_output = true;
                    left.fill(0.0);
                    right.fill(0.0);
                    ProcessStatus::Error
                } else {
                    status
                };
            // A tail is counted from the first quiet block (no events, silent
            // input) for as long as the processor reports.
            let quiet_in = input_silent && slot_events.is_empty();
            if !quiet_in || status != ProcessStatus::Tail {
                slot.state.tail_left = None;
            }
            // Quiet: silent on every output, its extra ones included (a
            // drum sampler's kick ringing on its own pair keeps it awake).
            let quiet = || is_silent(left) && is_silent(right) && aux_silent(&**processor, frames);
            let sleeping = match status {
                ProcessStatus::Continue => false,
                ProcessStatus::Sleep => true,
                ProcessStatus::ContinueIfNotQuiet => quiet(),
                ProcessStatus::Tail if !quiet_in => false,
                ProcessStatus::Tail => match processor.tail() {
                    Tail::Frames(n) => {
                        let left_frames = slot.state.tail_left.get_or_insert(n);
                        *left_frames = left_frames.saturating_sub(frames as u32);
                        *left_frames == 0
                    }
                    Tail::Infinite => false,
                    // No tail length reported: run while it still sounds.
                    Tail::None => quiet(),
                },
                ProcessStatus::Error => {
                    slot.state.failed = true;
                    slot.status.failed.store(true, Ordering::Relaxed);
                    false
                }
            };
            slot.played = status != ProcessStatus::Error;
            if sleeping != slot.state.sleeping {
                slot.state.sleeping = sleeping;
                slot.status.sleeping.store(sleeping, Ordering::Relaxed);
            }
            if !out.is_empty() {
                merge_into(cur.as_slice(), out.as_slice(), tmp);
                std::mem::swap(cur, tmp);
                if let Some(kept) = midi_out.as_mut() {
                    merge_into(kept.as_slice(), out.as_slice(), tmp);
                    std::mem::swap(kept, tmp);
                }
            }
        }
        let kept_dropped = midi_out.as_mut().map_or(0, EventBuffer::take_dropped);
        cur.take_dropped() + out.take_dropped() + tmp.take_dropped() + kept_dropped
    }

    /// What extra output `port` of the processor in slot `slot` played in
    /// this chunk's [`run`](Self::run): `None` when it did not play
    /// (asleep, bypassed, failed, absent) or has no such output. Audio
    /// thread.
    pub(crate) fn aux_output(
        &self,
        slot: usize,
        port: usize,
        frames: usize,
    ) -> Option<(&[f32], &[f32])> {
        let slot = self.slots.get(slot).filter(|s| s.played)?;
        let (l, r) = slot.processor.as_ref()?.aux_output(port, frames)?;
        (l.len() >= frames && r.len() >= frames).then(|| (&l[..frames], &r[..frames]))
    }

    /// Stops every processor still here (it is leaving the audio thread).
    /// Audio thread.
    pub(crate) fn stop_all(&mut self, panics: &mut PanicSink) {
        for slot in &mut self.slots {
            if let Some(p) = slot.processor.as_mut() {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| p.stop())) {
                    report_panic(panics, Some(slot.id), payload);
                }
            }
        }
    }

    /// Silences every processor (panic button). Audio thread.
    pub(crate) fn reset_all(&mut self, panics: &mut PanicSink) {
        for slot in &mut self.slots {
            if let Some(p) = slot.processor.as_mut() {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| p.reset())) {
                    report_panic(panics, Some(slot.id), payload);
                }
            }
        }
    }

    /// Moves the running processor with `id` and its state out of this
    /// chain. Audio thread.
    pub(crate) fn take_processor(
        &mut self,
        id: ProcessorId,
    ) -> Option<(Box<dyn AudioProcessor>, SlotState)> {
        let slot = self.slots.iter_mut().find(|s| s.id == id)?;
        let p = slot.processor.take()?;
        Some((p, slot.state))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;
    use stagerack_core::midi::Event;

    /// Returns `status` every block, reports `tail`, counts its calls and
    /// wakes up once when `wake` is set.
    struct Fake {
        status: ProcessStatus,
        tail: Tail,
        calls: Arc<AtomicU32>,
        wake: Arc<AtomicBool>,
    }

    impl AudioProcessor for Fake {
        fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
            self.calls.fetch_add(1, Ordering::Relaxed);
            block.left.fill(0.0);
            block.right.fill(0.0);
            self.status
        }
        fn tail(&self) -> Tail {
            self.tail
        }
        fn wake_requested(&mut self) -> bool {
            self.wake.swap(false, Ordering::Relaxed)
        }
    }

    fn chain_with(status: ProcessStatus, tail: Tail) -> (Chain, Arc<AtomicU32>, Arc<AtomicBool>) {
        let calls = Arc::new(AtomicU32::new(0));
        let wake = Arc::new(AtomicBool::new(false));
        let spec = SlotSpec {
            id: ProcessorId(1),
            processor: Some(Box::new(Fake {
                status,
                tail,
                calls: calls.clone(),
                wake: wake.clone(),
            })),
            kind: PluginKind::Effect,
            bypass: false,
            expressions_as_midi: false,
            status: Arc::new(SlotStatus::default()),
        };
        (Chain::new(vec![spec], 16), calls, wake)
    }

    fn run(chain: &mut Chain, events: &[TimedEvent], sink: &mut PanicSink) {
        let mut l = [0.0f32; 64];
        let mut r = [0.0f32; 64];
        let t = Transport {
            tempo: 120.0,
            playing: true,
            steady_frames: 0,
            sample_rate: 48_000.0,
            wait_until: None,
        };
        chain.process(&mut l, &mut r, events, &t, sink, &quanta::Clock::new());
    }

    fn note() -> TimedEvent {
        TimedEvent::new(
            0,
            Event::NoteOn {
                channel: 0,
                key: 60,
                velocity: 1.0,
                note_id: -1,
            },
        )
    }

    #[test]
    fn tail_runs_for_the_reported_frames_after_input_goes_quiet() {
        let (mut sink, _rx) = rtrb::RingBuffer::<PanicReport>::new(4);
        let (mut chain, calls, _) = chain_with(ProcessStatus::Tail, Tail::Frames(200));
        run(&mut chain, &[note()], &mut sink);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        // 200 frames of tail in 64-frame blocks: 4 more blocks, then sleep.
        for _ in 0..10 {
            run(&mut chain, &[], &mut sink);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 5);
        assert!(chain.slots[0].state.sleeping);
        // An event wakes it and restarts the count.
        run(&mut chain, &[note()], &mut sink);
        for _ in 0..10 {
            run(&mut chain, &[], &mut sink);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn infinite_tail_never_sleeps() {
        let (mut sink, _rx) = rtrb::RingBuffer::<PanicReport>::new(4);
        let (mut chain, calls, _) = chain_with(ProcessStatus::Tail, Tail::Infinite);
        for _ in 0..20 {
            run(&mut chain, &[], &mut sink);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn a_sleeping_processor_wakes_when_it_asks() {
        let (mut sink, _rx) = rtrb::RingBuffer::<PanicReport>::new(4);
        let (mut chain, calls, wake) = chain_with(ProcessStatus::Sleep, Tail::None);
        for _ in 0..5 {
            run(&mut chain, &[], &mut sink);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        wake.store(true, Ordering::Relaxed);
        for _ in 0..5 {
            run(&mut chain, &[], &mut sink);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

    /// Keeps the events it is given.
    struct Recorder(Arc<std::sync::Mutex<Vec<TimedEvent>>>);

    impl AudioProcessor for Recorder {
        fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
            super::super::alloc_guard::permit_alloc(|| {
                self.0.lock().unwrap().extend_from_slice(block.events);
            });
            ProcessStatus::Continue
        }
    }

    #[test]
    fn expressions_as_midi_reach_a_slot_as_member_channel_messages_once_per_channel() {
        let (mut sink, _rx) = rtrb::RingBuffer::<PanicReport>::new(4);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let spec = |id, as_midi| SlotSpec {
            id: ProcessorId(id),
            processor: Some(Box::new(Recorder(seen.clone()))),
            kind: PluginKind::Instrument,
            bypass: false,
            expressions_as_midi: as_midi,
            status: Arc::new(SlotStatus::default()),
        };
        let expression = |key, expression, value, midi| {
            TimedEvent::new(
                5,
                Event::NoteExpression {
                    channel: 3,
                    key,
                    note_id: -1,
                    expression,
                    value,
                    midi,
                },
            )
        };
        use stagerack_core::midi::Expression;
        // Two notes held on member channel 3 share its bend; its pressure.
        let events = [
            note(),
            expression(60, Expression::Tuning, 2.0, 8192 + 341),
            expression(64, Expression::Tuning, 2.0, 8192 + 341),
            expression(60, Expression::Pressure, 0.5, 64),
        ];
        let mut as_midi = Chain::new(vec![spec(1, true)], 16);
        run(&mut as_midi, &events, &mut sink);
        let got: Vec<Event> = seen.lock().unwrap().drain(..).map(|e| e.event).collect();
        assert_eq!(
            got,
            vec![
                note().event,
                Event::PitchBend {
                    channel: 3,
                    value: 8192 + 341
                },
                Event::ChannelPressure {
                    channel: 3,
                    value: 64
                },
            ]
        );
        // Without the override the slot gets the expressions themselves.
        let mut auto = Chain::new(vec![spec(2, false)], 16);
        run(&mut auto, &events, &mut sink);
        let got: Vec<TimedEvent> = seen.lock().unwrap().drain(..).collect();
        assert_eq!(got, events);
    }
}
