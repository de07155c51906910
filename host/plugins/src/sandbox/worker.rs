//! A child's one audio thread: it serves every plugin the child hosts
//! (a whole rack with `sandbox = "rack"`), each through its own shared
//! region, and sleeps on the child's doorbell, which the engine rings with
//! each request. One thread per child means one wake-up per buffer for a
//! whole rack, and after answering one plugin it polls briefly for the
//! next (see `anticipate`); the plugins of one rack run one after another
//! in the engine's chain anyway.
//!
//! The child's main thread talks to it through a bounded command queue
//! (processors, regions) and gets back what it gives up (processors to
//! deactivate, regions to unmap) on another, so this thread never frees.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stagerack_core::midi::EventBuffer;
use stagerack_core::plugin::{AudioProcessor, Block, ProcessStatus, Tail, Transport};

use super::anticipate::Anticipation;
use super::child::AudioGuard;
use super::shm::{
    futex_wake, op, ChildPage, SharedPage, SharedRegion, MAX_AUX_OUTPUTS, MAX_EVENTS, MAX_FRAMES,
};
use super::wire::WireEvent;

/// The most plugins one child hosts at once.
pub const MAX_SLOTS: usize = 64;

/// What the child's main thread sends its audio thread.
pub(super) enum ToWorker {
    /// A plugin's region, from `seen` on (requests after that are this
    /// child's to answer).
    Add {
        slot: usize,
        region: Arc<SharedRegion>,
        seen: u32,
    },
    /// An activated processor to call for `slot`.
    Give {
        slot: usize,
        processor: Box<dyn AudioProcessor>,
    },
    /// Hand `slot`'s processor back.
    Take { slot: usize },
    /// Forget `slot` (its region goes back).
    Remove { slot: usize },
    /// End the thread.
    Quit,
}

/// What the audio thread gives back to be dropped or deactivated on the
/// main thread.
pub(super) enum Returned {
    Processor {
        slot: usize,
        processor: Box<dyn AudioProcessor>,
    },
    Region(Arc<SharedRegion>),
}

/// The main thread's handle on the audio thread. Child main thread.
pub(super) struct Worker {
    commands: rtrb::Producer<ToWorker>,
    returned: rtrb::Consumer<Returned>,
    page: Arc<SharedPage<ChildPage>>,
    thread: Option<std::thread::JoinHandle<()>>,
    used: [bool; MAX_SLOTS],
}

impl Worker {
    /// Starts the audio thread on the child's page. Child main thread.
    pub fn start(page: Arc<SharedPage<ChildPage>>, guard: AudioGuard) -> Result<Worker, String> {
        // Every slot can have a command or two in flight.
        let (commands, cmd_rx) = rtrb::RingBuffer::new(4 * MAX_SLOTS);
        let (back_tx, returned) = rtrb::RingBuffer::new(4 * MAX_SLOTS);
        // Tests make the thread start late, as a loaded machine does.
        let late = std::env::var("STAGERACK_TEST_SANDBOX_THREAD_DELAY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis);
        let thread_page = page.clone();
        let thread = std::thread::Builder::new()
            .name("stagerack-sandbox-audio".into())
            .spawn(move || {
                if let Some(late) = late {
                    std::thread::sleep(late);
                }
                audio_thread(thread_page.get(), cmd_rx, back_tx, guard)
            })
            .map_err(|e| format!("cannot start the sandbox's audio thread: {e}"))?;
        Ok(Worker {
            commands,
            returned,
            page,
            thread: Some(thread),
            used: [false; MAX_SLOTS],
        })
    }

    fn send(&mut self, command: ToWorker) -> Result<(), ToWorker> {
        let pushed = self.commands.push(command).map_err(|e| match e {
            rtrb::PushError::Full(c) => c,
        });
        self.page.get().ring();
        pushed
    }

    /// Hands `region` to the audio thread; returns its slot. Child main
    /// thread.
    pub fn add(&mut self, region: Arc<SharedRegion>, seen: u32) -> Result<usize, String> {
        self.drop_returned();
        let slot = self
            .used
            .iter()
            .position(|u| !u)
            .ok_or_else(|| format!("a sandbox hosts at most {MAX_SLOTS} plugins"))?;
        self.send(ToWorker::Add { slot, region, seen })
            .map_err(|_| "the sandbox's audio thread is not listening".to_owned())?;
        self.used[slot] = true;
        Ok(slot)
    }

    /// Gives `slot` an activated processor; hands it back if the thread
    /// cannot take it. Child main thread.
    pub fn give(
        &mut self,
        slot: usize,
        processor: Box<dyn AudioProcessor>,
    ) -> Result<(), Box<dyn AudioProcessor>> {
        match self.send(ToWorker::Give { slot, processor }) {
            Ok(()) => Ok(()),
            Err(ToWorker::Give { processor, .. }) => Err(processor),
            Err(_) => unreachable!("send hands back what it was given"),
        }
    }

    /// Takes `slot`'s processor back (waiting up to a second). Child main
    /// thread.
    pub fn take(&mut self, slot: usize) -> Option<Box<dyn AudioProcessor>> {
        self.send(ToWorker::Take { slot }).ok()?;
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            match self.returned.pop() {
                Ok(Returned::Processor { slot: s, processor }) if s == slot => {
                    return Some(processor);
                }
                // Another slot's (never asked for meanwhile) or a region:
                // dropped here, on the main thread.
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        None
    }

    /// Forgets `slot` (its processor taken first). Child main thread.
    pub fn remove(&mut self, slot: usize) {
        if self.send(ToWorker::Remove { slot }).is_ok() {
            self.used[slot] = false;
        }
    }

    /// Drops what the audio thread gave back. Child main thread.
    pub fn drop_returned(&mut self) {
        while let Ok(r) = self.returned.pop() {
            match r {
                // Never asked for: nothing to deactivate it for (its
                // instance is gone).
                Returned::Processor { processor, .. } => drop(processor),
                Returned::Region(region) => drop(region),
            }
        }
    }

    /// Ends the audio thread. Child main thread.
    pub fn stop(&mut self) {
        let _ = self.send(ToWorker::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.drop_returned();
    }
}

/// One plugin the audio thread serves.
struct Slot {
    region: Arc<SharedRegion>,
    seen: u32,
    processor: Option<Box<dyn AudioProcessor>>,
    /// Last time, another request came within `FOLLOW_WINDOW` of this
    /// plugin's answer (it is not its rack's last): wait for it.
    followed: bool,
}

/// True while the engine has any of the child's plugins demoted.
fn demoted(slots: &[Option<Slot>]) -> bool {
    slots
        .iter()
        .flatten()
        .any(|s| s.region.header().demoted.load(Ordering::Relaxed) != 0)
}

/// The audio thread: serves every slot's requests, then waits on the
/// doorbell.
fn audio_thread(
    page: &ChildPage,
    mut commands: rtrb::Consumer<ToWorker>,
    mut back: rtrb::Producer<Returned>,
    guard: AudioGuard,
) {
    let mut slots: Vec<Option<Slot>> = (0..MAX_SLOTS).map(|_| None).collect();
    // The engine tells its audio thread's priority with its first block;
    // this thread follows it, one below (normal priority until then, or
    // for an engine that is not real-time, as offline, or while the engine
    // has one of its plugins demoted for missing most of its deadlines).
    let mut priority = 0u32;
    // Real-time (promoted at the engine's priority): the engine plays
    // live, and this thread may poll for its next buffer.
    let mut realtime = false;
    let mut anticipation = Anticipation::default();
    let mut events = EventBuffer::with_capacity(MAX_EVENTS);
    let mut out_events = EventBuffer::with_capacity(MAX_EVENTS);
    // The last answer: which slot, and when.
    let mut answered: Option<(usize, Instant)> = None;
    loop {
        // Read before looking at the slots: a request made after the look
        // has moved it, so the wait below returns at once.
        let rung = page.bell.load(Ordering::SeqCst);
        while let Ok(cmd) = commands.pop() {
            match cmd {
                ToWorker::Add { slot, region, seen } => {
                    slots[slot] = Some(Slot {
                        region,
                        seen,
                        processor: None,
                        followed: true,
                    });
                }
                ToWorker::Give { slot, processor } => {
                    if let Some(s) = slots[slot].as_mut() {
                        s.processor = Some(processor);
                    } else {
                        // Never added: straight back (capacity covers it).
                        let _ = back.push(Returned::Processor { slot, processor });
                    }
                }
                ToWorker::Take { slot } => {
                    if let Some(processor) = slots[slot].as_mut().and_then(|s| s.processor.take()) {
                        let _ = back.push(Returned::Processor { slot, processor });
                    }
                }
                ToWorker::Remove { slot } => {
                    if let Some(s) = slots[slot].take() {
                        if let Some(processor) = s.processor {
                            let _ = back.push(Returned::Processor { slot, processor });
                        }
                        let _ = back.push(Returned::Region(s.region));
                    }
                    if answered.is_some_and(|(a, _)| a == slot) {
                        answered = None;
                    }
                }
                ToWorker::Quit => return,
            }
        }
        let mut served = None;
        let any_demoted = demoted(&slots);
        for (index, s) in slots.iter_mut().enumerate() {
            let Some(s) = s.as_mut() else { continue };
            let h = s.region.header();
            let request = h.request.load(Ordering::Acquire);
            if request == s.seen {
                continue;
            }
            s.seen = request;
            h.taken.store(request, Ordering::Release);
            let now = Instant::now();
            let followed =
                answered.is_some_and(|(_, at)| now - at < super::anticipate::FOLLOW_WINDOW);
            if !followed {
                anticipation.took(now);
            }
            // One thread for all the child's plugins: demoted while any of
            // them is (else its priority would flip with every request).
            let wanted = if any_demoted {
                0
            } else {
                h.engine_priority.load(Ordering::Relaxed)
            };
            if wanted != priority {
                priority = wanted;
                if wanted > 1 {
                    realtime =
                        stagerack_core::realtime::promote_current_thread_to(wanted as i32 - 1)
                            .is_ok();
                } else {
                    realtime = false;
                    stagerack_core::realtime::demote_current_thread();
                }
            }
            if let Some(p) = s.processor.as_mut() {
                (guard.no_alloc)(&mut || {
                    answer(&s.region, p.as_mut(), &mut events, &mut out_events, guard);
                });
            } else {
                h.events_out.store(0, Ordering::Relaxed);
                h.status
                    .store(status_code(ProcessStatus::Error), Ordering::Relaxed);
            }
            h.done.store(request, Ordering::Release);
            futex_wake(&h.done);
            served = Some((index, followed));
            break;
        }
        if let Some((index, followed)) = served {
            // The previous answer was followed by this request or not.
            if let Some((prev, _)) = answered {
                if let Some(s) = slots[prev].as_mut() {
                    s.followed = followed;
                }
            }
            let at = Instant::now();
            answered = Some((index, at));
            // Another of this rack's plugins comes next: wait for its
            // request (or a command).
            if realtime && slots[index].as_ref().is_some_and(|s| s.followed) {
                let arrived = || {
                    !commands.is_empty()
                        || slots
                            .iter()
                            .flatten()
                            .any(|s| s.region.header().request.load(Ordering::SeqCst) != s.seen)
                };
                if !anticipation.follow(page, at, arrived) {
                    if let Some(s) = slots[index].as_mut() {
                        s.followed = false;
                    }
                }
            }
            continue;
        }
        anticipation.wait(page, rung, realtime);
    }
}

/// Runs one request on the processor, the turn held.
fn answer(
    region: &SharedRegion,
    p: &mut dyn AudioProcessor,
    events: &mut EventBuffer,
    out_events: &mut EventBuffer,
    guard: AudioGuard,
) {
    let h = region.header();
    let status = match h.op.load(Ordering::Relaxed) {
        op::PROCESS => {
            let frames = (h.frames.load(Ordering::Relaxed) as usize).min(MAX_FRAMES);
            // SAFETY: the engine published this request (Acquire above)
            // and waits for `done` before touching the data again: the
            // turn is ours.
            let data = unsafe { region.data() };
            events.clear();
            let n = (h.events_in.load(Ordering::Relaxed) as usize).min(MAX_EVENTS);
            for w in &data.events_in[..n] {
                if let Some(e) = w.decode(frames as u32) {
                    events.push(e);
                }
            }
            out_events.clear();
            let transport = Transport {
                tempo: f64::from_bits(h.tempo_bits.load(Ordering::Relaxed)),
                playing: h.playing.load(Ordering::Relaxed) != 0,
                steady_frames: h.steady_frames.load(Ordering::Relaxed),
                sample_rate: f64::from_bits(h.sample_rate_bits.load(Ordering::Relaxed)),
                wait_until: None,
            };
            let (left, right) = (&mut data.left[..frames], &mut data.right[..frames]);
            let mut status = ProcessStatus::Error;
            let allocs = (guard.count_allocs)(&mut || {
                status = catch_unwind(AssertUnwindSafe(|| {
                    p.process(&mut Block {
                        frames,
                        left: &mut *left,
                        right: &mut *right,
                        events: events.as_slice(),
                        out_events: &mut *out_events,
                        transport: &transport,
                    })
                }))
                .unwrap_or(ProcessStatus::Error);
            });
            h.allocs.store(allocs, Ordering::Relaxed);
            // The extra outputs the engine takes, when the plugin played
            // them (read back by `SandboxedProcessor::aux_output`).
            let wanted = h.aux_wanted.load(Ordering::Relaxed);
            let mut present = 0u32;
            for port in (0..MAX_AUX_OUTPUTS).filter(|i| wanted & (1 << i) != 0) {
                let played = catch_unwind(AssertUnwindSafe(|| {
                    let (l, r) = p.aux_output(port, frames)?;
                    let n = frames.min(l.len()).min(r.len());
                    let [al, ar] = data.aux.get_disjoint_mut([2 * port, 2 * port + 1]).ok()?;
                    al[..n].copy_from_slice(&l[..n]);
                    ar[..n].copy_from_slice(&r[..n]);
                    al[n..frames].fill(0.0);
                    ar[n..frames].fill(0.0);
                    Some(())
                }));
                if matches!(played, Ok(Some(()))) {
                    present |= 1 << port;
                }
            }
            h.aux_present.store(present, Ordering::Relaxed);
            let m = out_events.len().min(MAX_EVENTS);
            for (w, e) in data.events_out.iter_mut().zip(out_events.as_slice()) {
                *w = WireEvent::encode(e);
            }
            h.events_out.store(m as u32, Ordering::Relaxed);
            status
        }
        op::STOP => {
            let _ = catch_unwind(AssertUnwindSafe(|| p.stop()));
            h.events_out.store(0, Ordering::Relaxed);
            ProcessStatus::Continue
        }
        op::RESET => {
            let _ = catch_unwind(AssertUnwindSafe(|| p.reset()));
            h.events_out.store(0, Ordering::Relaxed);
            ProcessStatus::Continue
        }
        _ => ProcessStatus::Error,
    };
    let (kind, frames) = match p.tail() {
        Tail::None => (0, 0),
        Tail::Frames(n) => (1, n),
        Tail::Infinite => (2, 0),
    };
    h.tail_kind.store(kind, Ordering::Relaxed);
    h.tail_frames.store(frames, Ordering::Relaxed);
    if p.wake_requested() {
        h.wake_requested.store(1, Ordering::Relaxed);
    }
    h.status.store(status_code(status), Ordering::Relaxed);
}

/// A status as a number in the region.
pub(super) fn status_code(s: ProcessStatus) -> u32 {
    match s {
        ProcessStatus::Continue => 0,
        ProcessStatus::ContinueIfNotQuiet => 1,
        ProcessStatus::Tail => 2,
        ProcessStatus::Sleep => 3,
        ProcessStatus::Error => 4,
    }
}

/// The status a number in the region stands for (garbage: an error).
pub(super) fn status_from_code(c: u32) -> ProcessStatus {
    match c {
        0 => ProcessStatus::Continue,
        1 => ProcessStatus::ContinueIfNotQuiet,
        2 => ProcessStatus::Tail,
        3 => ProcessStatus::Sleep,
        _ => ProcessStatus::Error,
    }
}
