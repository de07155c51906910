//! The real-time worker pool: racks processed in parallel inside the audio
//! callback, and plugins' own parallel tasks (CLAP `thread-pool`).
//!
//! Threads are made once, on the main thread, before the engine goes to
//! the audio thread. Each buffer the callback thread publishes a dispatch
//! (a borrowed closure over an index range) and takes jobs itself; the
//! workers wake on a futex and take jobs too; the callback thread then
//! waits for the jobs others took (spinning briefly, then on a futex). A
//! job index is claimed with one compare-and-swap on a word that also
//! holds the dispatch's generation and job count, so a thread that read
//! the word of an earlier dispatch can never claim a job of a later one.
//! No lock, no allocation, no queue: the closure lives on the dispatching
//! thread's stack until every job is done.
//!
//! There are two lanes. The racks lane holds the buffer's rack jobs. The
//! tasks lane holds one plugin's `request_exec` at a time: the plugin's
//! thread runs tasks and idle threads (a worker between rack jobs, the
//! callback thread waiting for the racks) take the rest. A second plugin
//! asking while the lane is busy runs its tasks on its own thread: it
//! never waits for another plugin.
//!
//! Written here rather than taken from rayon or a work-stealing crate:
//! those allocate per task and park threads through locks, which the
//! audio callback may not do.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use stagerack_core::futex::{futex_wait, futex_wake};
use stagerack_core::tasks::{register_runner, TaskRunner};

/// How long a waiting dispatcher spins for the other threads' jobs before
/// sleeping on the futex (a wake-up costs about as much again).
const JOIN_SPIN: Duration = Duration::from_micros(50);

/// How long a worker spins for the next dispatch after finishing its jobs
/// before sleeping (at 64 frames the next buffer is 1.3 ms away: sleeping
/// is cheaper than spinning that long).
const WORKER_SPIN: Duration = Duration::from_micros(20);

/// Stack each worker touches at start so a plugin's first deep call does
/// not page-fault on the audio path.
const PREFAULT_STACK: usize = 256 * 1024;

/// Each worker's stack: as much as a driver's audio thread gets (plugins
/// written for other hosts expect it).
const WORKER_STACK: usize = 8 * 1024 * 1024;

/// Threads whose load is metered one by one (the callback thread is 0).
pub const METERED_THREADS: usize = 16;

/// A job: `run(context, index)`; the context is the dispatching closure.
#[derive(Clone, Copy)]
struct Job {
    context: *const (),
    run: unsafe fn(*const (), usize),
}

/// One dispatch at a time: its job, who claimed which index, how many are
/// done.
struct Lane {
    /// generation (32 bits) | next index (16) | job count (16).
    claim: AtomicU64,
    /// Jobs finished in the current dispatch.
    done: AtomicU32,
    /// The dispatcher sleeps on `done` (workers wake it only then).
    joiner_sleeping: AtomicBool,
    /// The current dispatch's job (valid while any of its jobs is claimed
    /// and not done).
    job: UnsafeCell<Option<Job>>,
}

fn pack(generation: u32, next: u16, count: u16) -> u64 {
    (u64::from(generation) << 32) | (u64::from(next) << 16) | u64::from(count)
}

fn unpack(word: u64) -> (u32, u16, u16) {
    ((word >> 32) as u32, (word >> 16) as u16, word as u16)
}

impl Lane {
    fn new() -> Self {
        Self {
            claim: AtomicU64::new(0),
            done: AtomicU32::new(0),
            joiner_sleeping: AtomicBool::new(false),
            job: UnsafeCell::new(None),
        }
    }

    /// Claims and runs one job of the current dispatch, adding its time
    /// to `busy` before it counts as done (so the dispatcher reads it with
    /// the buffer's); false when none is left to claim. Any pool thread.
    fn run_one(&self, busy: &AtomicU64) -> bool {
        loop {
            let word = self.claim.load(Ordering::Acquire);
            let (g, next, count) = unpack(word);
            if next >= count {
                return false;
            }
            if self
                .claim
                .compare_exchange_weak(
                    word,
                    pack(g, next + 1, count),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            // SAFETY: a job of this dispatch is claimed and not done: the
            // dispatcher keeps `job` and its context alive until `done`
            // counts it (the generation in the word means the claim is of
            // the dispatch that published this job).
            let job = unsafe { *self.job.get() };
            let started = Instant::now();
            if let Some(job) = job {
                // SAFETY: `run` is the trampoline made for this context's
                // type.
                unsafe { (job.run)(job.context, usize::from(next)) };
            }
            busy.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let finished = self.done.fetch_add(1, Ordering::SeqCst) + 1;
            if finished == u32::from(count) && self.joiner_sleeping.load(Ordering::SeqCst) {
                futex_wake(&self.done);
            }
            return true;
        }
    }

    /// Publishes `count` jobs of `job` as dispatch `generation`. The
    /// lane's dispatcher only, with no job of its previous dispatch
    /// outstanding.
    fn publish<F: Fn(usize) + Sync>(&self, generation: u32, count: u16, job: &F) {
        unsafe fn trampoline<F: Fn(usize)>(context: *const (), index: usize) {
            // SAFETY: `context` is the `&F` published below, alive until
            // every job is done.
            let f = unsafe { &*(context as *const F) };
            f(index);
        }
        // SAFETY: no job of the previous dispatch is outstanding (its
        // dispatcher returned only after `done` counted all of them), so
        // no thread reads `job` now.
        unsafe {
            *self.job.get() = Some(Job {
                context: job as *const F as *const (),
                run: trampoline::<F>,
            });
        }
        self.done.store(0, Ordering::Relaxed);
        self.claim
            .store(pack(generation, 0, count), Ordering::Release);
    }

    /// Waits until all `count` jobs are done, running jobs of `help`
    /// meanwhile (the tasks lane, while waiting for racks). The lane's
    /// dispatcher only.
    fn join(&self, count: u16, help: Option<&Lane>, busy: &AtomicU64) {
        let start = Instant::now();
        loop {
            let done = self.done.load(Ordering::Acquire);
            if done >= u32::from(count) {
                break;
            }
            if help.is_some_and(|lane| lane.run_one(busy)) {
                continue;
            }
            if start.elapsed() < JOIN_SPIN {
                std::hint::spin_loop();
            } else {
                self.joiner_sleeping.store(true, Ordering::SeqCst);
                // Bounded by the jobs themselves: every claimed job ends.
                // A short timeout: a task published meanwhile gets help.
                futex_wait(&self.done, done, Duration::from_micros(200));
                self.joiner_sleeping.store(false, Ordering::SeqCst);
            }
        }
        // SAFETY: every job is done: nothing reads `job` until the next
        // dispatch writes it.
        unsafe { *self.job.get() = None };
    }
}

struct Pool {
    /// Bumped per dispatch (either lane); workers sleep on it.
    wake: AtomicU32,
    /// Workers asleep on `wake` (a dispatch wakes them only then).
    sleepers: AtomicU32,
    racks: Lane,
    tasks: Lane,
    /// A plugin holds the tasks lane.
    tasks_busy: AtomicBool,
    tasks_generation: AtomicU32,
    /// The callback thread's real-time priority, told at the first
    /// dispatch (0: not real-time); workers follow it.
    priority: AtomicI32,
    /// A worker could not get real-time priority (for the main thread to
    /// report).
    refused: AtomicBool,
    /// Nanoseconds each thread spent in jobs since the callback took them
    /// (index 0: the callback thread, which counts itself).
    busy_ns: [AtomicU64; METERED_THREADS],
    quit: AtomicBool,
}

// SAFETY: each lane's `job` is written only by that lane's dispatcher
// while no job of its previous dispatch is outstanding, and read by
// another thread only after it claimed a job of the current dispatch
// through `claim` (Acquire, pairing with the Release that published it).
unsafe impl Sync for Pool {}
// SAFETY: as above; the raw context pointers are only dereferenced under
// that protocol, whichever thread holds the `Arc`.
unsafe impl Send for Pool {}

impl Pool {
    /// Wakes the workers for a new dispatch. Dispatcher.
    fn wake_workers(&self) {
        self.wake.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            futex_wake(&self.wake);
        }
    }
}

/// The pool is registered (`stagerack_core::tasks`) on every thread that
/// runs racks: a worker always, the callback thread while dispatching. A
/// plugin's tasks run on its own thread and any idle pool thread.
impl TaskRunner for Pool {
    fn run_tasks(&self, count: usize, task: &(dyn Fn(usize) + Sync)) {
        if count <= 1 || self.tasks_busy.swap(true, Ordering::Acquire) {
            (0..count).for_each(task);
            return;
        }
        let shared = count.min(usize::from(u16::MAX));
        let g = self.tasks_generation.fetch_add(1, Ordering::Relaxed) + 1;
        // A local, not a temporary in the call: the published job points at
        // it until `join` below, and a temporary's stack slot is gone (and
        // reused) at the end of its statement, which crashed the workers.
        let job = |i: usize| task(i);
        self.tasks.publish(g, shared as u16, &job);
        self.wake_workers();
        // This thread's own share is timed by its rack's job already; the
        // helpers time theirs where they run them.
        let uncounted = AtomicU64::new(0);
        while self.tasks.run_one(&uncounted) {}
        self.tasks.join(shared as u16, None, &uncounted);
        // Indices past what one dispatch holds (u16::MAX), if any, here.
        (shared..count).for_each(task);
        self.tasks_busy.store(false, Ordering::Release);
    }
}

/// Registers `pool` as the calling thread's task runner until dropped.
struct RunnerScope(Option<*const dyn TaskRunner>);

impl RunnerScope {
    fn enter(pool: &Arc<Pool>) -> Self {
        let runner: *const Pool = Arc::as_ptr(pool);
        let runner = runner as *const dyn TaskRunner;
        // SAFETY: the scope ends (and puts the previous runner back)
        // before the pool can go: the callback thread holds it in `run`,
        // a worker holds its `Arc` for its whole life.
        Self(unsafe { register_runner(Some(runner)) })
    }
}

impl Drop for RunnerScope {
    fn drop(&mut self) {
        // SAFETY: the previous runner is alive (its own scope is outer).
        unsafe { register_runner(self.0) };
    }
}

/// The thread count every session's engine uses (`--threads`); 0 until
/// set: one per core.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets how many threads run racks in engines made from now on, the
/// driver's callback thread counting as one (1: serial). Main thread, at
/// start (`--threads N`).
pub fn set_threads(threads: usize) {
    THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// The thread count engines use: what [`set_threads`] set, else one per
/// core. Any thread.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// See the module doc. Made on the main thread; `run` is called on the
/// audio thread.
pub struct WorkerPool {
    pool: Arc<Pool>,
    threads: Vec<JoinHandle<()>>,
    generation: u32,
    priority_told: bool,
    caller_takes_jobs: bool,
    /// Nanoseconds the dispatching thread waited for others' jobs since
    /// the last take.
    waited_ns: u64,
}

impl WorkerPool {
    /// A pool of `workers` threads besides the callback thread (0: every
    /// job runs on the caller). Main thread.
    pub fn new(workers: usize) -> std::io::Result<Self> {
        let pool = Arc::new(Pool {
            wake: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
            racks: Lane::new(),
            tasks: Lane::new(),
            tasks_busy: AtomicBool::new(false),
            tasks_generation: AtomicU32::new(0),
            priority: AtomicI32::new(0),
            refused: AtomicBool::new(false),
            busy_ns: std::array::from_fn(|_| AtomicU64::new(0)),
            quit: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(workers);
        for n in 0..workers {
            let pool = pool.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("stagerack-worker-{}", n + 1))
                    .stack_size(WORKER_STACK)
                    .spawn(move || worker(pool, (n + 1).min(METERED_THREADS - 1)))?,
            );
        }
        Ok(Self {
            pool,
            threads,
            generation: 0,
            priority_told: false,
            caller_takes_jobs: true,
            waited_ns: 0,
        })
    }

    /// Threads that take jobs, the caller counted. Any thread.
    pub fn threads(&self) -> usize {
        self.threads.len() + 1
    }

    /// True (once) when a worker could not get real-time priority. Audio
    /// or main thread.
    pub fn take_refused(&self) -> bool {
        self.pool.refused.load(Ordering::Relaxed) && self.pool.refused.swap(false, Ordering::AcqRel)
    }

    /// With false, the dispatching thread only waits: every rack job runs
    /// on a worker (tests and benchmarks that must know where a rack ran).
    /// Main thread, before the engine goes to the audio thread.
    pub fn set_caller_takes_jobs(&mut self, takes: bool) {
        self.caller_takes_jobs = takes || self.threads.is_empty();
    }

    /// Nanoseconds worker `i` (1..threads) spent in jobs since the last
    /// call, reset. Audio thread, between dispatches.
    pub fn take_busy_ns(&self, i: usize) -> u64 {
        self.pool
            .busy_ns
            .get(i)
            .map_or(0, |b| b.swap(0, Ordering::Relaxed))
    }

    /// Nanoseconds the dispatching thread waited for the workers' jobs
    /// since the last call, reset. Audio thread.
    pub fn take_waited_ns(&mut self) -> u64 {
        self.pool.busy_ns[0].store(0, Ordering::Relaxed);
        std::mem::take(&mut self.waited_ns)
    }

    /// Runs `job(i)` for every `i` in `0..count`, each exactly once, on
    /// this thread and the workers; returns when all are done. Audio
    /// thread; never allocates. `job` must not panic (catch inside).
    pub fn run<F: Fn(usize) + Sync>(&mut self, count: usize, job: &F) {
        if !self.priority_told && !self.threads.is_empty() {
            // Once: the callback thread's priority, for the workers to
            // take (one non-blocking system call), and a wake-up so they
            // take it now, whatever the first dispatch holds.
            self.priority_told = true;
            let p = stagerack_core::realtime::current_thread_priority().unwrap_or(0);
            self.pool.priority.store(p.max(0), Ordering::Relaxed);
            self.pool.wake_workers();
        }
        let _runner = RunnerScope::enter(&self.pool);
        if self.threads.is_empty() || (count <= 1 && self.caller_takes_jobs) {
            (0..count).for_each(job);
        } else {
            self.dispatch(count, job);
        }
    }

    fn dispatch<F: Fn(usize) + Sync>(&mut self, count: usize, job: &F) {
        let count = count.min(usize::from(u16::MAX)) as u16;
        self.generation = self.generation.wrapping_add(1);
        let pool = &*self.pool;
        pool.racks.publish(self.generation, count, job);
        pool.wake_workers();
        if self.caller_takes_jobs {
            while pool.racks.run_one(&pool.busy_ns[0]) {}
        }
        let waiting = Instant::now();
        pool.racks.join(count, Some(&pool.tasks), &pool.busy_ns[0]);
        self.waited_ns += waiting.elapsed().as_nanos() as u64;
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.pool.quit.store(true, Ordering::SeqCst);
        self.pool.wake.fetch_add(1, Ordering::SeqCst);
        futex_wake(&self.pool.wake);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A worker thread: waits for dispatches and takes jobs, tasks first (a
/// plugin waits for them inside its rack's job).
fn worker(pool: Arc<Pool>, meter: usize) {
    prefault_stack();
    let _ftz = super::denormals::DenormalGuard::new();
    let _scope = super::audio_thread::AudioCallbackScope::enter();
    let _runner = RunnerScope::enter(&pool);
    let mut my_priority = 0;
    // Not the current value: a dispatch published before this thread got
    // here must still find it (wake-ups are only ever added).
    let mut seen = 0;
    loop {
        let spin_from = Instant::now();
        let mut now = pool.wake.load(Ordering::Acquire);
        while now == seen && !pool.quit.load(Ordering::Acquire) {
            if spin_from.elapsed() < WORKER_SPIN {
                std::hint::spin_loop();
            } else {
                pool.sleepers.fetch_add(1, Ordering::SeqCst);
                futex_wait(&pool.wake, seen, Duration::from_secs(1));
                pool.sleepers.fetch_sub(1, Ordering::SeqCst);
            }
            now = pool.wake.load(Ordering::Acquire);
        }
        if pool.quit.load(Ordering::Acquire) {
            return;
        }
        seen = now;
        let busy = &pool.busy_ns[meter];
        loop {
            // Before every job, not once per wake-up: a worker still here
            // when the next dispatch is published takes its jobs without
            // sleeping, and must run them at the priority told. (Outside
            // the allocation guard: a refusal's message is formatted.)
            let told = pool.priority.load(Ordering::Relaxed);
            if told != my_priority {
                my_priority = told;
                if told > 0 && stagerack_core::realtime::promote_current_thread_to(told).is_err() {
                    pool.refused.store(true, Ordering::Release);
                }
            }
            // Jobs catch their own panics; this is the last net, so a
            // worker never dies with a job claimed and a dispatcher
            // waiting on it.
            let ran = catch_unwind(AssertUnwindSafe(|| {
                super::alloc_guard::no_alloc(|| {
                    pool.tasks.run_one(busy) || pool.racks.run_one(busy)
                })
            }))
            .unwrap_or(true);
            if !ran {
                break;
            }
        }
    }
}

/// Touches the stack a worker may use, so its pages are mapped before the
/// first buffer.
#[inline(never)]
fn prefault_stack() {
    let mut buf = [0u8; PREFAULT_STACK];
    for i in (0..PREFAULT_STACK).step_by(4096) {
        // SAFETY: in bounds; volatile so the writes are not optimised out.
        unsafe { std::ptr::write_volatile(buf.as_mut_ptr().add(i), 1) };
    }
    std::hint::black_box(&buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_exactly_once_at_any_thread_count() {
        for workers in [0, 1, 3] {
            let mut pool = WorkerPool::new(workers).unwrap();
            let counts: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
            for round in 0..2000 {
                let n = 1 + round % 37;
                pool.run(n, &|i| {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
            }
            let expected: Vec<usize> = (0..37)
                .map(|i| (0..2000).filter(|r| i < 1 + r % 37).count())
                .collect();
            let got: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            assert_eq!(got, expected, "{workers} workers");
        }
    }

    /// Spins `us` microseconds (long enough for a sleeping worker to wake
    /// and take a share).
    fn busy(us: u64) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(us) {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn jobs_run_on_several_threads() {
        let mut pool = WorkerPool::new(1).unwrap();
        let on_worker = AtomicUsize::new(0);
        let me = std::thread::current().id();
        for _ in 0..200 {
            pool.run(8, &|_| {
                if std::thread::current().id() != me {
                    on_worker.fetch_add(1, Ordering::Relaxed);
                }
                busy(100);
            });
        }
        assert!(
            on_worker.load(Ordering::Relaxed) > 0,
            "no job ever ran on the worker"
        );
    }

    #[test]
    fn a_caller_that_takes_no_jobs_leaves_every_job_to_the_workers() {
        let mut pool = WorkerPool::new(2).unwrap();
        pool.set_caller_takes_jobs(false);
        let me = std::thread::current().id();
        let here = AtomicUsize::new(0);
        for n in [1, 2, 5] {
            pool.run(n, &|_| {
                if std::thread::current().id() == me {
                    here.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        assert_eq!(here.load(Ordering::Relaxed), 0);
    }

    /// A plugin's tasks (`run_tasks` inside a rack job) each run exactly
    /// once, at one thread and at several, also when two racks ask at the
    /// same time (the second runs its own), and idle threads help.
    #[test]
    fn plugin_tasks_run_exactly_once_and_idle_threads_help() {
        for workers in [0, 1, 3] {
            let mut pool = WorkerPool::new(workers).unwrap();
            let racks = 3;
            let tasks = 16;
            let counts: Vec<AtomicUsize> =
                (0..racks * tasks).map(|_| AtomicUsize::new(0)).collect();
            let helped = AtomicUsize::new(0);
            for _ in 0..300 {
                pool.run(racks, &|r| {
                    let me = std::thread::current().id();
                    stagerack_core::tasks::run_tasks(tasks, &|t| {
                        counts[r * tasks + t].fetch_add(1, Ordering::Relaxed);
                        if std::thread::current().id() != me {
                            helped.fetch_add(1, Ordering::Relaxed);
                        }
                        busy(20);
                    });
                });
            }
            let got: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            assert_eq!(got, vec![300; racks * tasks], "{workers} workers");
            if workers > 0 {
                assert!(
                    helped.load(Ordering::Relaxed) > 0,
                    "{workers} workers: no task ever ran on another thread"
                );
            }
        }
        // Outside any pool: in order, here.
        let next = AtomicUsize::new(0);
        let order: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(9)).collect();
        stagerack_core::tasks::run_tasks(4, &|t| {
            order[next.fetch_add(1, Ordering::Relaxed)].store(t, Ordering::Relaxed)
        });
        let got: Vec<usize> = order.iter().map(|o| o.load(Ordering::Relaxed)).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
    }

    /// Workers take the callback thread's real-time priority; one the
    /// system refuses is reported (once).
    #[test]
    fn workers_follow_the_callback_priority_or_report_a_refusal() {
        let handle = std::thread::spawn(|| {
            stagerack_core::realtime::promote_current_thread_to(5)
                .expect("this test needs real-time scheduling (CAP_SYS_NICE or rtprio)");
            let mut pool = WorkerPool::new(1).unwrap();
            pool.set_caller_takes_jobs(false);
            let seen = AtomicI32::new(-1);
            pool.run(1, &|_| {
                seen.store(
                    stagerack_core::realtime::current_thread_priority().unwrap_or(0),
                    Ordering::Relaxed,
                )
            });
            assert_eq!(seen.load(Ordering::Relaxed), 5, "the worker's priority");
            assert!(!pool.take_refused());
            // A priority the system refuses (out of SCHED_FIFO's range).
            pool.pool.priority.store(1000, Ordering::Relaxed);
            pool.run(1, &|_| {});
            assert!(pool.take_refused(), "the refusal is reported");
            assert!(!pool.take_refused(), "once");
        });
        handle.join().unwrap();
    }
}
