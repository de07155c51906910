//! The engine's audio-thread half of a sandboxed plugin: it copies the
//! block into the shared region, wakes the child, waits for its answer up
//! to a deadline and copies the result back. A child that misses the
//! deadline, is not ready or is dead contributes silence for that block
//! (counted); when it answers again its sound fades back in over 5 ms.
//! Audio thread; never allocates, never locks, waits only on the futex and
//! only until the deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stagerack_core::plugin::{
    AudioProcessor, Block, ProcessConfig, ProcessStatus, Tail, WAIT_SHARE,
};

use super::shm::{
    futex_wait, op, ChildPage, Region, SharedPage, SharedRegion, MAX_AUX_OUTPUTS, MAX_EVENTS,
    MAX_FRAMES,
};
use super::wire::WireEvent;
use super::worker::status_from_code;

/// How long an offline render waits for a block: a child this slow is hung.
pub const OFFLINE_DEADLINE: Duration = Duration::from_secs(10);

/// How long the audio thread spins for an answer before it sleeps.
pub const SPIN: Duration = Duration::from_micros(200);

/// How long the engine spins for a child that has not yet taken up the
/// request (a woken thread normally runs within a few microseconds).
pub const SPIN_UNTAKEN: Duration = Duration::from_micros(30);

/// How often an offline render looks whether the child it waits for is
/// still alive.
const OFFLINE_LOOK: Duration = Duration::from_millis(20);

/// True while child process `pid` runs: not exited, killed or gone (an
/// exited child the main thread has not reaped yet counts as dead; it is
/// left for the main thread to reap). Offline waits only: a system call.
fn process_exists(pid: u32) -> bool {
    // SAFETY: siginfo_t is plain data, zero is a valid value; waitid with
    // WNOHANG | WNOWAIT only looks (never blocks, never reaps).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `info` is a valid out-pointer for the call.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: reading the pid field waitid filled in (0: nothing exited).
    rc == 0 && unsafe { info.si_pid() } == 0
}

/// Fade-in after an outage.
pub const FADE_IN: Duration = Duration::from_millis(5);

/// What the audio side tells the main thread about a sandboxed plugin.
#[derive(Debug)]
pub struct SandboxStats {
    base: Instant,
    /// Blocks the child did not answer in time (silence instead).
    pub missed: AtomicU64,
    /// Nanoseconds after `base` of the first block missed since the child
    /// last answered (in time or late); 0 while it answers.
    stalled_since: AtomicU64,
}

impl Default for SandboxStats {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            missed: AtomicU64::new(0),
            stalled_since: AtomicU64::new(0),
        }
    }
}

impl SandboxStats {
    fn now_ns(&self) -> u64 {
        (self.base.elapsed().as_nanos() as u64).max(1)
    }

    /// How long the child has not answered at all (not even late), if it
    /// is silent now. Main thread.
    pub fn stalled_for(&self) -> Option<Duration> {
        match self.stalled_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(Duration::from_nanos(self.now_ns().saturating_sub(since))),
        }
    }

    /// Forgets a stall (a fresh child starts with a clean slate). Main
    /// thread.
    pub fn clear_stall(&self) {
        self.stalled_since.store(0, Ordering::Release);
    }
}

/// See the module doc. Audio thread.
pub struct SandboxedProcessor {
    region: Arc<SharedRegion>,
    /// The child's doorbell, rung after each request.
    page: Arc<SharedPage<ChildPage>>,
    stats: Arc<SandboxStats>,
    generation: u32,
    request: u32,
    /// A request the child has not answered yet: its data is the child's.
    outstanding: bool,
    budget_per_frame: Duration,
    offline: bool,
    fade_len: u32,
    fade_at: u32,
    /// The last block was silence for an outage.
    silent: bool,
    tail: Tail,
    /// The child's count for the last answered block.
    foreign_allocs: u32,
    /// When `start` handed the current block to the child (`process`
    /// collects it, its deadline counted from then).
    started: Option<Instant>,
    /// The engine thread's priority has been told to the child.
    priority_told: bool,
    /// The extra outputs the engine takes (see `ProcessConfig::aux_outputs`).
    aux_wanted: u32,
    /// The extra outputs the child played in the last answered block (0
    /// after an outage: the region is the child's again).
    aux_present: u32,
}

impl SandboxedProcessor {
    /// A proxy for the region's plugin, already activated in the child.
    /// Main thread (then moved to the audio thread).
    pub(super) fn new(
        region: Arc<SharedRegion>,
        page: Arc<SharedPage<ChildPage>>,
        stats: Arc<SandboxStats>,
        config: &ProcessConfig,
    ) -> Self {
        let h = region.header();
        Self {
            generation: h.generation.load(Ordering::Acquire),
            request: h.request.load(Ordering::Acquire),
            outstanding: false,
            // Live, a late child costs its own sound for the block and
            // never the callback's deadline.
            budget_per_frame: Duration::from_secs_f64(WAIT_SHARE / config.sample_rate),
            offline: config.offline,
            fade_len: (FADE_IN.as_secs_f64() * config.sample_rate).max(1.0) as u32,
            fade_at: u32::MAX,
            silent: false,
            tail: Tail::None,
            foreign_allocs: 0,
            started: None,
            priority_told: false,
            aux_wanted: (config.aux_outputs & ((1 << MAX_AUX_OUTPUTS) - 1)) as u32,
            aux_present: 0,
            region,
            page,
            stats,
        }
    }

    /// True when the child may be asked now (ready, and not still busy
    /// with an earlier request).
    fn turn_is_ours(&mut self) -> bool {
        let h = self.region.header();
        let g = h.generation.load(Ordering::Acquire);
        if g != self.generation {
            // A relaunched child: an unanswered request died with the old
            // one; the word goes on from where it is.
            self.generation = g;
            self.outstanding = false;
            self.request = h.request.load(Ordering::Acquire);
        }
        if h.ready.load(Ordering::Acquire) == 0 {
            return false;
        }
        if self.outstanding {
            if h.done.load(Ordering::Acquire) != self.request {
                return false;
            }
            self.outstanding = false;
            // It answered, late: alive, not hung. A loaded machine (no
            // real-time scheduling, a build beside) can make a healthy
            // child miss deadline after deadline; killing it for that
            // would cost a crash of the three allowed and fix nothing.
            // Its missed blocks are counted and reported instead.
            self.stats.stalled_since.store(0, Ordering::Release);
        }
        true
    }

    /// Publishes the request prepared in the region and waits for the
    /// answer up to `budget`, never past `limit`. False: missed (the
    /// request stays the child's).
    fn ask(&mut self, operation: u32, budget: Duration, limit: Option<Instant>) -> bool {
        let start = self.publish(operation);
        self.wait(start, budget, limit)
    }

    /// Publishes the request prepared in the region and wakes the child;
    /// returns when.
    fn publish(&mut self, operation: u32) -> Instant {
        // The region is the child's from here: nothing of it is read back
        // until it answers.
        self.aux_present = 0;
        let h = self.region.header();
        h.op.store(operation, Ordering::Relaxed);
        self.request = self.request.wrapping_add(1);
        // SeqCst: ordered before the doorbell's flag check (see `ring`).
        h.request.store(self.request, Ordering::SeqCst);
        self.page.get().ring();
        Instant::now()
    }

    /// Waits for the answer to the request published at `start`, up to
    /// `budget` from then and never past `limit`. False: missed (the
    /// request stays the child's).
    fn wait(&mut self, start: Instant, budget: Duration, limit: Option<Instant>) -> bool {
        let h = self.region.header();
        let deadline = limit.map_or(start + budget, |l| l.min(start + budget));
        loop {
            let done = h.done.load(Ordering::Acquire);
            if done == self.request {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.outstanding = true;
                return false;
            }
            // The answer usually comes within tens of microseconds: spin
            // for it first (a sleeping thread's own wake-up would add as
            // much again), then sleep on the futex until the deadline.
            // Spinning only helps while the child works on another core:
            // one that has not taken the request up after a short while is
            // waiting for a core (a loaded machine, or a busy neighbour in
            // its process), maybe the one this thread holds, so sleep.
            let waited = now - start;
            let working = h.taken.load(Ordering::Acquire) == self.request;
            if waited < SPIN && (working || waited < SPIN_UNTAKEN) {
                std::hint::spin_loop();
                continue;
            }
            if self.offline {
                // Offline there is time to look: a child that died with
                // the request is not waited for until the deadline.
                let pid = h.child_pid.load(Ordering::Acquire);
                if pid != 0 && !process_exists(pid) {
                    self.outstanding = true;
                    return false;
                }
                futex_wait(&h.done, done, (deadline - now).min(OFFLINE_LOOK));
            } else {
                futex_wait(&h.done, done, deadline - now);
            }
        }
    }

    /// Copies a block's audio, events and transport into the region (the
    /// turn is ours).
    fn write_block(&mut self, block: &Block<'_>) {
        let frames = block.frames.min(MAX_FRAMES);
        let h = self.region.header();
        if !self.priority_told {
            // Once, on the engine's audio thread: its priority, for the
            // child to run just below it (one non-blocking system call).
            self.priority_told = true;
            let p = stagerack_core::realtime::current_thread_priority().unwrap_or(0);
            h.engine_priority.store(p.max(0) as u32, Ordering::Relaxed);
        }
        // SAFETY: the child answered every earlier request (or was
        // replaced): until the request is published, the data is ours.
        let data = unsafe { self.region.data() };
        data.left[..frames].copy_from_slice(&block.left[..frames]);
        data.right[..frames].copy_from_slice(&block.right[..frames]);
        let n = block.events.len().min(MAX_EVENTS);
        for (w, e) in data.events_in.iter_mut().zip(block.events) {
            *w = WireEvent::encode(e);
        }
        h.events_in.store(n as u32, Ordering::Relaxed);
        h.frames.store(frames as u32, Ordering::Relaxed);
        h.aux_wanted.store(self.aux_wanted, Ordering::Relaxed);
        let t = block.transport;
        h.tempo_bits.store(t.tempo.to_bits(), Ordering::Relaxed);
        h.playing.store(u32::from(t.playing), Ordering::Relaxed);
        h.steady_frames.store(t.steady_frames, Ordering::Relaxed);
        h.sample_rate_bits
            .store(t.sample_rate.to_bits(), Ordering::Relaxed);
    }

    /// Silence for this block; `stalled` when the child is to blame.
    fn outage(&mut self, block: &mut Block<'_>, stalled: bool) -> ProcessStatus {
        block.left[..block.frames].fill(0.0);
        block.right[..block.frames].fill(0.0);
        self.aux_present = 0;
        self.silent = true;
        if stalled {
            self.stats.missed.fetch_add(1, Ordering::Relaxed);
            let _ = self.stats.stalled_since.compare_exchange(
                0,
                self.stats.now_ns(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        ProcessStatus::Continue
    }

    fn budget(&self, frames: usize) -> Duration {
        if self.offline {
            OFFLINE_DEADLINE
        } else {
            self.budget_per_frame * frames as u32
        }
    }
}

impl AudioProcessor for SandboxedProcessor {
    fn start(&mut self, block: &mut Block<'_>) -> bool {
        if self.started.is_some() || !self.turn_is_ours() {
            return false;
        }
        self.write_block(block);
        self.started = Some(self.publish(op::PROCESS));
        true
    }

    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        let frames = block.frames.min(MAX_FRAMES);
        // Live, every wait of the buffer ends by the engine's limit too:
        // the rack's later plugins, or other racks' sandboxes, behind one
        // that stalled do not each wait their own share of the period.
        let limit = block.transport.wait_until.filter(|_| !self.offline);
        let answered = match self.started.take() {
            // Started early with this very block: collect it.
            Some(at) => self.wait(at, self.budget(frames), limit),
            None => {
                if !self.turn_is_ours() {
                    let stalled = self.outstanding;
                    return self.outage(block, stalled);
                }
                self.write_block(block);
                self.ask(op::PROCESS, self.budget(frames), limit)
            }
        };
        if !answered {
            return self.outage(block, true);
        }
        self.stats.stalled_since.store(0, Ordering::Release);
        let h = self.region.header();
        // SAFETY: the child set `done` (Acquire in `ask`): the turn is back.
        let data = unsafe { self.region.data() };
        block.left[..frames].copy_from_slice(&data.left[..frames]);
        block.right[..frames].copy_from_slice(&data.right[..frames]);
        let m = (h.events_out.load(Ordering::Relaxed) as usize).min(MAX_EVENTS);
        for w in &data.events_out[..m] {
            if let Some(e) = w.decode(frames as u32) {
                block.out_events.push(e);
            }
        }
        self.foreign_allocs = h.allocs.load(Ordering::Relaxed);
        self.tail = match h.tail_kind.load(Ordering::Relaxed) {
            1 => Tail::Frames(h.tail_frames.load(Ordering::Relaxed)),
            2 => Tail::Infinite,
            _ => Tail::None,
        };
        if self.silent {
            self.silent = false;
            self.fade_at = 0;
        }
        // Only outputs asked for count (the child's word is range-checked).
        self.aux_present = h.aux_present.load(Ordering::Relaxed) & self.aux_wanted;
        if self.fade_at < self.fade_len {
            let from = self.fade_at;
            for i in 0..frames {
                let g = (self.fade_at as f32 / self.fade_len as f32).min(1.0);
                block.left[i] *= g;
                block.right[i] *= g;
                self.fade_at = self.fade_at.saturating_add(1);
            }
            // The extra outputs fade in with the main one.
            for port in (0..MAX_AUX_OUTPUTS).filter(|p| self.aux_present & (1 << p) != 0) {
                for channel in &mut data.aux[2 * port..2 * port + 2] {
                    for (i, x) in channel[..frames].iter_mut().enumerate() {
                        *x *= ((from as usize + i) as f32 / self.fade_len as f32).min(1.0);
                    }
                }
            }
        }
        status_from_code(h.status.load(Ordering::Relaxed))
    }

    fn stop(&mut self) {
        if let Some(at) = self.started.take() {
            let budget = self.budget(self.fade_len as usize);
            self.wait(at, budget, None);
        }
        if self.turn_is_ours() {
            let budget = self.budget(self.fade_len as usize);
            self.ask(op::STOP, budget, None);
        }
    }

    fn reset(&mut self) {
        if let Some(at) = self.started.take() {
            let budget = self.budget(self.fade_len as usize);
            self.wait(at, budget, None);
        }
        if self.turn_is_ours() {
            let budget = self.budget(self.fade_len as usize);
            self.ask(op::RESET, budget, None);
        }
    }

    fn tail(&self) -> Tail {
        self.tail
    }

    fn take_foreign_allocs(&mut self) -> u32 {
        std::mem::take(&mut self.foreign_allocs)
    }

    fn aux_output(&self, port: usize, frames: usize) -> Option<(&[f32], &[f32])> {
        if port >= MAX_AUX_OUTPUTS || self.aux_present & (1 << port) == 0 {
            return None;
        }
        let frames = frames.min(MAX_FRAMES);
        // SAFETY: `aux_present` is nonzero only from an answered block to
        // the next request (`publish` clears it, an outage too): the turn
        // is ours, and no other reference into the region is alive.
        let data: &Region = unsafe { self.region.data() };
        Some((
            &data.aux[2 * port][..frames],
            &data.aux[2 * port + 1][..frames],
        ))
    }

    fn wake_requested(&mut self) -> bool {
        self.region
            .header()
            .wake_requested
            .swap(0, Ordering::AcqRel)
            != 0
    }
}
