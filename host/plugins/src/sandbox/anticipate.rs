//! How a child's audio thread waits for the engine's next request while
//! the engine plays live: asleep until just before the next buffer is due,
//! then polling the child's doorbell, so the request is taken up within a
//! microsecond or two instead of after a sleeping thread's wake-up.
//!
//! Why: on a virtual machine (and on laptops with deep idle states) a
//! thread asleep on a futex is woken by an inter-processor interrupt that
//! first has to bring its idle core back: 25-30 us median for the engine's
//! wake-up and the child's answer on the 2-core VM this was measured on
//! (20 000 round trips paced at 64 frames), against about 1 us when the
//! child is already polling. That wake-up was most of what a sandbox added
//! per buffer.
//!
//! The cost is the polling: the thread predicts a buffer's first request
//! from the steady period of the last ones, polls from `lead` before it
//! until `lead` after it, and adapts `lead` (doubled when a request came
//! before the polling began, shrunk slowly while polls find it late).
//!
//! A rack's later plugins need no prediction: their requests follow the
//! previous plugin's answer within microseconds, so after answering a
//! plugin that was followed last time the thread keeps polling for up to
//! [`FOLLOW_WINDOW`] (learned per plugin by the caller: the rack's last
//! plugin, followed by nothing until the next buffer, is not waited after).
//!
//! At most one child of an engine polls ahead of a buffer at a time,
//! holding the engine's poll token (the others sleep as before): two
//! pollers of one real-time priority could not both keep a core, and one
//! left waiting on the engine's own core would answer later than a
//! sleeping thread (tried: a second tier of pollers at the lowest
//! real-time priority made a three-plugin rack twice as slow). The poller
//! yields to any other thread of its priority between looks. Only a
//! real-time child polls (offline renders and demoted children just
//! sleep), and the time it spent polling is counted in the child's page
//! (`ChildPage::poll_ns`).
//!
//! Written here: no crate predicts a driver's period and polls a futex
//! word across processes.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::shm::{futex_wait, ChildPage, SharedPage, TokenPage};

/// How long a thread sleeps at most without a request (it then looks at
/// its commands).
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// A request that comes within this long of the previous answer follows
/// it (the next plugin of a rack's chain); the thread polls this long
/// after answering a plugin that was followed last time.
pub const FOLLOW_WINDOW: Duration = Duration::from_micros(100);

/// Polling starts this long before the predicted request at first.
const LEAD_START: Duration = Duration::from_micros(50);

/// The shortest lead: the engine's own timing wanders more than this.
const LEAD_MIN: Duration = Duration::from_micros(10);

/// The longest lead, whatever the period.
const LEAD_MAX: Duration = Duration::from_micros(200);

/// A poll that found its request within this long was started about
/// right; longer polls shrink the lead.
const LEAD_SLACK: Duration = Duration::from_micros(15);

/// Periods outside this range are not predicted (too short to sleep
/// between, or too long to be a driver's).
const PERIOD_RANGE: (Duration, Duration) = (Duration::from_micros(100), Duration::from_millis(100));

/// Requests at a steady period before the thread starts to predict.
const STEADY_BEFORE_POLLING: u32 = 8;

/// The environment variable that names the engine's poll token to a child
/// (`PID:FD`).
pub const POLL_TOKEN_ENV: &str = "STAGERACK_SANDBOX_POLL_TOKEN";

/// The engine's poll token, made at the first sandbox launch. Main thread.
pub fn engine_token() -> Option<&'static SharedPage<TokenPage>> {
    static TOKEN: OnceLock<Option<SharedPage<TokenPage>>> = OnceLock::new();
    TOKEN
        .get_or_init(|| match SharedPage::create() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("sandbox children will not poll for buffers: {e}");
                None
            }
        })
        .as_ref()
}

/// The token this child takes turns with: its engine's (opened by
/// [`open_child_token`]); without it, none is taken and the child never
/// polls ahead.
static CHILD_TOKEN: OnceLock<SharedPage<TokenPage>> = OnceLock::new();

/// Opens the engine's token named in the environment, if any. The child's
/// main thread, at start.
pub fn open_child_token() {
    let Some(name) = std::env::var_os(POLL_TOKEN_ENV) else {
        return;
    };
    match SharedPage::open(&name.to_string_lossy()) {
        Ok(t) => {
            let _ = CHILD_TOKEN.set(t);
        }
        Err(e) => eprintln!("stagerack sandbox-child: no poll token ({e}); it will not poll"),
    }
}

/// Takes the engine's token for this process, taking it over from a
/// holder that died. False: another child polls (or there is no token).
fn take_token(me: u32) -> bool {
    let Some(word) = CHILD_TOKEN.get().map(|t| &t.get().holder) else {
        return false;
    };
    match word.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => true,
        Err(holder) if holder == me => false,
        Err(holder) => {
            // SAFETY: kill with signal 0 only asks whether the process
            // exists (never blocks, sends nothing).
            let gone = unsafe { libc::kill(holder as libc::pid_t, 0) } != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            gone && word
                .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        }
    }
}

fn give_token_back() {
    if let Some(t) = CHILD_TOKEN.get() {
        t.get().holder.store(0, Ordering::Release);
    }
}

/// Polls until `ready` or `until`, with `page.polling` set so the engine
/// skips the wake-up. True: ready.
fn poll(page: &ChildPage, until: Instant, mut ready: impl FnMut() -> bool) -> bool {
    // SeqCst pairs with the engine's bump of the bell and its load of
    // `polling`: either it sees the flag (and skips the wake-up system
    // call) or this thread sees the bell move (`ready` loads it SeqCst, or
    // the request word the engine stored before it) before it sleeps.
    page.polling.store(1, Ordering::SeqCst);
    let started = Instant::now();
    let mut found = false;
    loop {
        if ready() {
            found = true;
            break;
        }
        if Instant::now() >= until {
            break;
        }
        // SAFETY: sched_yield takes no arguments: it lets another thread
        // of this priority on this core run between looks.
        unsafe {
            libc::sched_yield();
        }
    }
    page.polling.store(0, Ordering::SeqCst);
    page.poll_ns
        .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    if found {
        page.polled_requests.fetch_add(1, Ordering::Relaxed);
    }
    found
}

/// A child audio thread's prediction of the engine's next buffer. Child
/// audio thread only.
#[derive(Debug)]
pub struct Anticipation {
    last_request: Option<Instant>,
    period: Option<Duration>,
    steady: u32,
    lead: Duration,
}

impl Default for Anticipation {
    fn default() -> Self {
        Self {
            last_request: None,
            period: None,
            steady: 0,
            lead: LEAD_START,
        }
    }
}

impl Anticipation {
    /// When the next buffer's first request is due, once they come at a
    /// steady period.
    fn due(&self) -> Option<(Instant, Duration)> {
        let period = self.period?;
        if self.steady < STEADY_BEFORE_POLLING || period < PERIOD_RANGE.0 || period > PERIOD_RANGE.1
        {
            return None;
        }
        Some((self.last_request? + period, period))
    }

    /// Notes a buffer's first request taken up at `now` (not one that
    /// followed another's answer). Child audio thread.
    pub fn took(&mut self, now: Instant) {
        if let Some(last) = self.last_request {
            let interval = now - last;
            match self.period {
                Some(p) if interval > p * 3 / 4 && interval < p * 5 / 4 => {
                    self.period = Some((p * 7 + interval) / 8);
                    self.steady = self.steady.saturating_add(1);
                }
                _ => {
                    self.period = Some(interval);
                    self.steady = 0;
                }
            }
        }
        self.last_request = Some(now);
    }

    /// Polls for the request that follows an answer until `arrived` says
    /// it did, up to [`FOLLOW_WINDOW`] after `answered`. True: it did.
    /// Child audio thread.
    pub fn follow(
        &mut self,
        page: &ChildPage,
        answered: Instant,
        arrived: impl FnMut() -> bool,
    ) -> bool {
        poll(page, answered + FOLLOW_WINDOW, arrived)
    }

    /// Waits until `page.bell` may have moved on from `rung`: a request,
    /// a command from the main thread or [`IDLE_WAIT`]. The caller looks.
    /// `polling` is false for a thread that must only sleep (not
    /// real-time). Child audio thread.
    pub fn wait(&mut self, page: &ChildPage, rung: u32, polling: bool) {
        let Some((due, period)) = self.due().filter(|_| polling) else {
            futex_wait(&page.bell, rung, IDLE_WAIT);
            return;
        };
        let lead = self.lead;
        let poll_from = due.checked_sub(lead).unwrap_or(due);
        let poll_until = due + lead;
        let now = Instant::now();
        if now >= poll_until {
            // The request is late by more than the lead: the engine
            // stopped or changed its period. Sleep until it comes.
            futex_wait(&page.bell, rung, IDLE_WAIT);
            return;
        }
        if now < poll_from {
            futex_wait(&page.bell, rung, poll_from - now);
            if page.bell.load(Ordering::Acquire) != rung {
                // Rung before polling began: start earlier.
                self.lead = (lead * 2).min(LEAD_MAX).min(period / 8).max(LEAD_MIN);
                return;
            }
            if Instant::now() < poll_from {
                return;
            }
        }
        if !take_token(std::process::id()) {
            // Another child polls: sleep as before.
            futex_wait(&page.bell, rung, IDLE_WAIT);
            return;
        }
        let started = Instant::now();
        // SeqCst pairs with the engine's bump of the bell (see `poll`).
        let found = poll(page, poll_until, || {
            page.bell.load(Ordering::SeqCst) != rung
        });
        give_token_back();
        if found && started.elapsed() > LEAD_SLACK {
            self.lead = (lead * 31 / 32).max(LEAD_MIN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicts_only_a_steady_period_in_range() {
        let mut a = Anticipation::default();
        let t0 = Instant::now();
        let period = Duration::from_micros(1333);
        for k in 0..=STEADY_BEFORE_POLLING + 1 {
            assert!(a.due().is_none(), "no prediction after {k} requests");
            a.took(t0 + period * k);
        }
        let (due, p) = a.due().expect("steady now");
        assert_eq!(p, period);
        assert_eq!(due, t0 + period * (STEADY_BEFORE_POLLING + 2));
        // A long gap (the engine stopped) starts over.
        a.took(t0 + period * 100);
        assert!(a.due().is_none());
        // Back-to-back offline requests are never predicted.
        let mut b = Anticipation::default();
        for k in 0..20 {
            b.took(t0 + Duration::from_micros(20) * k);
        }
        assert!(b.due().is_none());
    }
}
