//! The audio-thread side of the engine and its one `process` function.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::alloc_guard::no_alloc;
use super::chain::{report_panic, PanicReport};
use super::denormals::DenormalGuard;
use super::handle::{EngineConfig, ParamChange};
use super::shared::EngineShared;
use super::{peak, Plan};
use stagerack_core::midi::{Event, TimedEvent};
use stagerack_core::plugin::{Transport, WAIT_SHARE};

/// The audio thread's engine. Owned by the driver callback; see
/// [`Engine::process`].
pub struct Engine {
    config: EngineConfig,
    plan: Option<Box<Plan>>,
    plans: rtrb::Consumer<Box<Plan>>,
    retired: rtrb::Producer<Box<Plan>>,
    params: rtrb::Consumer<ParamChange>,
    panics: rtrb::Producer<PanicReport>,
    shared: Arc<EngineShared>,
    /// A retired plan that found the return queue full; sent first next time.
    unsent: Option<Box<Plan>>,
    steady_frames: u64,
    panic_requested: bool,
    switch: super::switch::SwitchState,
    /// The numbering of the groups `switch.current` is in (the last
    /// regroup's epoch; see `PlanBuilder::regroup`).
    group_epoch: u32,
    /// One safety limiter per output (made here, so a plan with more
    /// outputs never allocates one on the audio thread).
    limiters: Vec<super::safety::SafetyLimiter>,
    clock: super::clock::MidiClock,
    /// Times each plugin call (see `Chain::process`): made here on the main
    /// thread, read on the audio thread with no lock, global or
    /// thread-local state (quanta's `Instant::now` goes through both).
    plugin_clock: quanta::Clock,
    /// Threads besides the callback's that run racks (none: serial).
    workers: Option<super::workers::WorkerPool>,
}

impl Engine {
    pub(super) fn new(
        config: EngineConfig,
        plans: rtrb::Consumer<Box<Plan>>,
        retired: rtrb::Producer<Box<Plan>>,
        params: rtrb::Consumer<ParamChange>,
        panics: rtrb::Producer<PanicReport>,
        shared: Arc<EngineShared>,
    ) -> Self {
        Self {
            config,
            plan: None,
            plans,
            retired,
            params,
            panics,
            shared,
            unsent: None,
            steady_frames: 0,
            panic_requested: false,
            switch: Default::default(),
            group_epoch: 0,
            limiters: (0..super::plan::MAX_OUTPUTS)
                .map(|_| super::safety::SafetyLimiter::new(config.sample_rate))
                .collect(),
            clock: super::clock::MidiClock::new(config.sample_rate),
            plugin_clock: quanta::Clock::new(),
            workers: None,
        }
    }

    /// Runs racks on `threads` threads in all, the driver's callback
    /// thread counting as one (1: serial, as without a pool). The output is
    /// the same bit for bit at any count. Main thread, before the engine
    /// goes to the audio thread.
    pub fn use_threads(&mut self, threads: usize) -> std::io::Result<()> {
        // The old pool's threads end before the new pool's start.
        self.workers = None;
        self.workers = match threads {
            0 | 1 => None,
            n => Some(super::workers::WorkerPool::new(n - 1)?),
        };
        self.shared
            .threads
            .store(self.threads() as u32, Ordering::Relaxed);
        Ok(())
    }

    /// Threads that run racks, the callback thread counted. Any thread.
    pub fn threads(&self) -> usize {
        self.workers.as_ref().map_or(1, |w| w.threads())
    }

    /// Every rack job goes to a worker thread; the callback thread only
    /// waits for them (tests that must know a rack ran on a worker). Main
    /// thread, after [`Engine::use_threads`] with 2 or more.
    #[doc(hidden)]
    pub fn racks_on_workers_only(&mut self) {
        if let Some(pool) = self.workers.as_mut() {
            pool.set_caller_takes_jobs(false);
        }
    }

    /// Meters and counters.
    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }

    /// Frames processed since the engine started. Audio thread.
    pub fn steady_frames(&self) -> u64 {
        self.steady_frames
    }

    /// Asks for all notes off and every processor reset at the next buffer.
    /// Audio thread (drivers forward a panic control here).
    pub fn request_panic(&mut self) {
        self.panic_requested = true;
    }

    /// Processes one driver buffer into a stereo pair (the plan's first
    /// output; see [`process_channels`](Self::process_channels)). Audio
    /// thread; never allocates, frees, locks or blocks.
    pub fn process(
        &mut self,
        events: &[TimedEvent],
        input: Option<[&[f32]; 2]>,
        left: &mut [f32],
        right: &mut [f32],
    ) {
        let frames = left.len().min(right.len());
        let inputs = input.map(|[l, r]| [l, r]);
        self.process_channels(
            events,
            inputs.as_ref().map_or(&[][..], |i| &i[..]),
            &mut [&mut left[..frames], &mut right[..frames]],
        );
    }

    /// Processes one driver buffer. Audio thread; never allocates, frees,
    /// locks or blocks.
    ///
    /// - `events`: the buffer's MIDI, sorted by offset; offsets are frames
    ///   from the start of this buffer (offsets past the end are clamped to
    ///   the last frame).
    /// - `inputs`: the driver's input channels (none: silence), each at
    ///   least the buffer's length; racks take the first two, or the ones
    ///   their `[[input]]` names.
    /// - `channels`: the driver's output channels, all of the buffer's
    ///   length (the first one's); the plan's outputs say which goes where
    ///   (without `[[output]]`, 0 and 1 are left and right). Channels no
    ///   output uses are silence; an output whose channels are not there
    ///   is not heard.
    ///
    /// A pending plan is swapped in first (at this buffer boundary); the
    /// buffer is split into chunks of the plan's `max_block` if longer. A
    /// panic anywhere inside is caught: the buffer is silenced, counted and
    /// the payload sent to the main thread.
    pub fn process_channels(
        &mut self,
        events: &[TimedEvent],
        inputs: &[&[f32]],
        channels: &mut [&mut [f32]],
    ) {
        let started = Instant::now();
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        if let Some(plan) = self.plan.as_ref() {
            plan.begin_buffer();
        }
        let _ftz = DenormalGuard::new();
        let _scope = super::audio_thread::AudioCallbackScope::enter();
        no_alloc(|| {
            let result = catch_unwind(AssertUnwindSafe(|| {
                self.process_inner(events, inputs, channels, frames, started)
            }));
            if let Err(payload) = result {
                for c in channels.iter_mut() {
                    c.fill(0.0);
                }
                self.shared.panics.fetch_add(1, Ordering::Relaxed);
                report_panic(&mut self.panics, None, payload);
            }
        });
        // The meters show the first output's channels.
        let main = self
            .plan
            .as_ref()
            .map_or(super::plan::OutputSpec::MAIN, |p| p.outputs[0]);
        let level = |c: Option<&&mut [f32]>| c.map_or(0.0, |c| peak(&c[..frames]));
        let main_left = level(channels.get(main.left));
        let main_right = level(channels.get(main.right.unwrap_or(main.left)));
        self.steady_frames += frames as u64;
        self.shared.buffers.fetch_add(1, Ordering::Relaxed);
        self.shared
            .frames
            .fetch_add(frames as u64, Ordering::Relaxed);
        self.shared.peak_left.raise(main_left);
        self.shared.peak_right.raise(main_right);
        if frames > 0 {
            let period = frames as f64 / self.config.sample_rate;
            let elapsed = started.elapsed().as_secs_f64();
            let load = elapsed / period;
            self.shared.record_load(load as f32);
            match self.workers.as_mut() {
                Some(pool) => {
                    // The callback thread: all but its waits for others;
                    // each worker: its time in jobs.
                    let waited = pool.take_waited_ns() as f64 * 1e-9;
                    self.shared
                        .record_thread_load(0, ((elapsed - waited) / period) as f32);
                    for i in 1..pool.threads() {
                        let busy = pool.take_busy_ns(i) as f64 * 1e-9;
                        self.shared.record_thread_load(i, (busy / period) as f32);
                    }
                    if pool.take_refused() {
                        self.shared
                            .worker_priority_refused
                            .store(true, Ordering::Relaxed);
                    }
                }
                None => self.shared.record_thread_load(0, load as f32),
            }
            if load > 1.0 {
                // An overload: name the plugin that took the most.
                if let Some((id, ns)) = self.plan.as_ref().and_then(|p| p.heaviest()) {
                    self.shared.record_culprit(id.0, ns, (period * 1e9) as u64);
                }
            }
        }
    }

    /// Takes the engine apart after the driver stopped calling `process`:
    /// stops the running processors (this thread now stands in for the
    /// audio thread, which has ended) and returns every plan it held or had
    /// queued, for deactivation. Driver thread after its last callback, or
    /// the main thread once the driver has stopped.
    pub fn into_plans(mut self) -> Vec<Box<Plan>> {
        let mut out = Vec::new();
        if let Some(mut plan) = self.plan.take() {
            plan.stop_all(&mut self.panics);
            out.push(plan);
        }
        out.extend(self.unsent.take());
        while let Ok(plan) = self.plans.pop() {
            out.push(plan);
        }
        out
    }

    fn receive_plans(&mut self) {
        // Send home a plan that could not go last time, before taking more.
        if let Some(old) = self.unsent.take() {
            if let Err(rtrb::PushError::Full(old)) = self.retired.push(old) {
                self.unsent = Some(old);
                return;
            }
        }
        while let Ok(mut next) = self.plans.pop() {
            // What the new plan's outputs reach (for offline renders):
            // worked out once per swap, not every buffer.
            self.shared
                .output_channels
                .store(next.channels_needed() as u32, Ordering::Relaxed);
            if let Some(mut old) = self.plan.take() {
                let missing = next.take_over(&mut old);
                if let Some((map, epoch)) = &next.regroup {
                    // The playing group keeps playing under its new number.
                    if let Some(&g) = map.get(usize::from(self.switch.current)) {
                        if g != u16::MAX {
                            self.switch.current = g;
                        }
                    }
                    self.group_epoch = *epoch;
                    let current = u32::from(self.switch.current);
                    self.shared.current_group.store(current, Ordering::Relaxed);
                    self.shared.current_group_epoch.store(
                        u64::from(self.group_epoch) << 32 | u64::from(current),
                        Ordering::Relaxed,
                    );
                }
                if missing > 0 {
                    // A main-thread bookkeeping error; those slots stay silent.
                    self.shared
                        .missing_processors
                        .fetch_add(u64::from(missing), Ordering::Relaxed);
                }
                old.stop_all(&mut self.panics);
                if let Err(rtrb::PushError::Full(old)) = self.retired.push(old) {
                    self.shared.retire_stalls.fetch_add(1, Ordering::Relaxed);
                    self.unsent = Some(old);
                    self.plan = Some(next);
                    self.shared.plans_swapped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            self.plan = Some(next);
            self.shared.plans_swapped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn drain_params(&mut self) {
        let Some(plan) = self.plan.as_mut() else {
            // Nothing to apply them to; drop them (they are plain values).
            while self.params.pop().is_ok() {}
            return;
        };
        while let Ok(change) = self.params.pop() {
            let slot = plan
                .racks
                .iter_mut()
                .flat_map(|r| r.chain.slots.iter_mut())
                .chain(
                    plan.groups
                        .iter_mut()
                        .flat_map(|g| g.master.slots.iter_mut()),
                )
                .find(|s| s.id == change.processor);
            if let Some(slot) = slot {
                slot.params.push(TimedEvent::new(
                    0,
                    Event::ParamValue {
                        param: change.param,
                        value: change.value,
                    },
                ));
            }
        }
    }

    fn process_inner(
        &mut self,
        events: &[TimedEvent],
        inputs: &[&[f32]],
        channels: &mut [&mut [f32]],
        frames: usize,
        started: Instant,
    ) {
        self.receive_plans();
        self.drain_params();
        // The last controller moved, for MIDI learn on the main thread;
        // clock ticks and transport bytes for the clock follower.
        for e in events {
            match e.event {
                Event::ControlChange {
                    channel,
                    controller,
                    value,
                } => {
                    self.shared.record_controller(channel, controller);
                    self.shared.record_notes_scroll(controller, value);
                    // All sound off / all notes off.
                    if controller == 120 || controller == 123 {
                        self.shared.keys.release_all();
                    }
                }
                Event::NoteOn { key, .. } => self.shared.keys.press(key),
                Event::NoteOff { key, .. } => self.shared.keys.release(key),
                Event::Realtime { status } => self
                    .clock
                    .receive(status, self.steady_frames + u64::from(e.offset)),
                _ => {}
            }
        }
        self.clock.expire(self.steady_frames);
        let clock_tempo = self.clock.tempo();
        if let Some(bpm) = clock_tempo {
            self.shared
                .clock_tempo
                .store(bpm.to_bits(), Ordering::Relaxed);
        } else {
            self.shared.clock_tempo.store(0, Ordering::Relaxed);
        }
        let Some(plan) = self.plan.as_mut() else {
            for c in channels.iter_mut() {
                c.fill(0.0);
            }
            return;
        };
        let asked = self.shared.panic_request.swap(false, Ordering::Acquire);
        if std::mem::take(&mut self.panic_requested) || asked {
            self.shared.keys.release_all();
            plan.reset_all(&mut self.panics);
        }
        plan.clock_tempo = clock_tempo;
        let transport = Transport {
            tempo: plan.tempo_of(self.switch.current),
            playing: self.clock.playing(),
            steady_frames: self.steady_frames,
            sample_rate: plan.sample_rate,
            // Every wait of this buffer ends by then, whatever its chunk
            // and however many sandboxes are late (offline processors wait
            // as long as it takes, whatever this says).
            wait_until: Some(
                started + Duration::from_secs_f64(frames as f64 / plan.sample_rate * WAIT_SHARE),
            ),
        };
        let max = plan.max_block;
        let mut start = 0usize;
        let mut ev = 0usize;
        let mut dropped = 0u32;
        while start < frames {
            let end = (start + max).min(frames);
            // Events whose offset falls in [start, end); late ones are clamped
            // into the last chunk.
            let first = ev;
            while ev < events.len() && ((events[ev].offset as usize) < end || end == frames) {
                ev += 1;
            }
            let transport = Transport {
                steady_frames: transport.steady_frames + start as u64,
                ..transport
            };
            let mut out = super::plan::ChunkOut {
                channels: &mut *channels,
                start,
                end,
                limiters: &mut self.limiters,
                limiter_off: self.shared.safety_limiter_off.load(Ordering::Relaxed),
                limited: 0,
            };
            dropped += plan.process_chunk(
                &events[first..ev],
                start as u32,
                inputs,
                &mut out,
                &transport,
                &mut self.switch,
                &mut self.panics,
                &self.plugin_clock,
                self.workers.as_mut(),
            );
            if out.limited > 0 {
                self.shared
                    .limited_frames
                    .fetch_add(u64::from(out.limited), Ordering::Relaxed);
            }
            start = end;
        }
        let current = u32::from(self.switch.current);
        self.shared.current_group_epoch.store(
            u64::from(self.group_epoch) << 32 | u64::from(current),
            Ordering::Relaxed,
        );
        if self.shared.current_group.swap(current, Ordering::Relaxed) != current {
            self.shared.switches.fetch_add(1, Ordering::Relaxed);
        }
        let caught = std::mem::take(&mut plan.panics_caught);
        if caught > 0 {
            self.shared
                .panics
                .fetch_add(u64::from(caught), Ordering::Relaxed);
        }
        if dropped > 0 {
            self.shared
                .events_dropped
                .fetch_add(u64::from(dropped), Ordering::Relaxed);
        }
    }
}
