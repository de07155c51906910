//! How a child's audio thread waits for the engine's next request while
//! the engine plays live: asleep until just before the next buffer is due,
//! then polling the request word, so the request is taken up within a
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
//! The cost is the polling: the thread predicts the next request from the
//! steady period of the last ones, polls from `lead` before it until `lead`
//! after it, and adapts `lead` (doubled when a request came before the
//! polling began, shrunk slowly while polls find it late).
//!
//! At most one thread of all an engine's children polls at a time,
//! holding the engine's [`PollToken`] (the others sleep as before): two
//! pollers of one real-time priority could not both keep a core, and one
//! left waiting on the engine's own core would answer later than a
//! sleeping thread (tried: a second tier of pollers at the lowest
//! real-time priority made a three-plugin rack twice as slow). The poller
//! yields to any other thread of its priority between looks. Only a
//! real-time child polls (offline renders and demoted children just
//! sleep), and the time it spent polling is counted in the region
//! (`Header::poll_ns`).
//!
//! Written here: no crate predicts a driver's period and polls a futex
//! word across processes.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::shm::{futex_wait, Header, ShmError};

/// How long a thread sleeps at most without a request (it then looks at
/// its commands).
pub const IDLE_WAIT: Duration = Duration::from_millis(100);

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

/// The environment variable that tells a child where its engine's
/// [`PollToken`] is (`PID:FD`).
pub const POLL_TOKEN_ENV: &str = "STAGERACK_SANDBOX_POLL_TOKEN";

/// The word that lets one thread of all an engine's sandbox children poll
/// at a time: 0 free, else the holder's process id (a holder that died
/// holding it is taken over). A memfd page the engine makes once and its
/// children open through `/proc/<engine>/fd/<fd>`.
pub struct PollToken {
    file: File,
    word: NonNull<AtomicU32>,
}

// SAFETY: the mapping is shared memory holding one atomic word, valid
// until drop; it is only ever used through `&AtomicU32`.
unsafe impl Send for PollToken {}
// SAFETY: as above.
unsafe impl Sync for PollToken {}

const TOKEN_LEN: usize = 4096;

impl PollToken {
    /// Makes the engine's token. Main thread.
    pub fn create() -> Result<PollToken, ShmError> {
        // SAFETY: a valid NUL-terminated name and flags; checked below.
        let fd = unsafe { libc::memfd_create(c"stagerack-poll".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(ShmError::last("memfd_create"));
        }
        // SAFETY: `fd` was just returned open and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(TOKEN_LEN as u64)
            .map_err(|source| ShmError::Sys {
                call: "ftruncate",
                source,
            })?;
        Self::map(file)
    }

    /// Opens the token named by `PID:FD` (see [`POLL_TOKEN_ENV`]). A
    /// child's main thread, at start.
    pub fn open(name: &str) -> Result<PollToken, ShmError> {
        let bad = || ShmError::Sys {
            call: "parse PID:FD",
            source: std::io::Error::other(format!("`{name}` is not PID:FD")),
        };
        let (pid, fd) = name.split_once(':').ok_or_else(bad)?;
        let (pid, fd) = (
            pid.parse::<u32>().map_err(|_| bad())?,
            fd.parse::<i32>().map_err(|_| bad())?,
        );
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/fd/{fd}"))
            .map_err(|source| ShmError::Sys {
                call: "open /proc/PID/fd",
                source,
            })?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) != TOKEN_LEN as u64 {
            return Err(ShmError::Sys {
                call: "size check",
                source: std::io::Error::other("not a poll token"),
            });
        }
        Self::map(file)
    }

    fn map(file: File) -> Result<PollToken, ShmError> {
        // SAFETY: maps the whole (page-sized) file shared read-write; the
        // result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                TOKEN_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(ShmError::last("mmap"));
        }
        Ok(PollToken {
            file,
            word: NonNull::new(ptr.cast()).ok_or_else(|| ShmError::last("mmap"))?,
        })
    }

    /// `PID:FD` for a child's [`POLL_TOKEN_ENV`]. Main thread.
    pub fn name(&self) -> String {
        format!("{}:{}", std::process::id(), self.file.as_raw_fd())
    }

    /// The word. Any thread.
    pub fn word(&self) -> &AtomicU32 {
        // SAFETY: the mapping is valid for the life of self, page-aligned,
        // and holds nothing but this word.
        unsafe { self.word.as_ref() }
    }
}

impl Drop for PollToken {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `map` mapped.
        unsafe {
            libc::munmap(self.word.as_ptr().cast(), TOKEN_LEN);
        }
    }
}

/// The engine's token, made at the first sandbox launch. Main thread.
pub fn engine_token() -> Option<&'static PollToken> {
    static TOKEN: OnceLock<Option<PollToken>> = OnceLock::new();
    TOKEN
        .get_or_init(|| match PollToken::create() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("sandbox children will not poll for buffers: {e}");
                None
            }
        })
        .as_ref()
}

/// The token this child's threads take turns with: its engine's, from
/// [`POLL_TOKEN_ENV`] (opened by [`open_child_token`]); without it, one
/// private to this process.
static CHILD_TOKEN: OnceLock<PollToken> = OnceLock::new();

/// A token private to this process, for a child started without its
/// engine's.
static PRIVATE_TOKEN: AtomicU32 = AtomicU32::new(0);

/// Opens the engine's token named in the environment, if any. The child's
/// main thread, at start.
pub fn open_child_token() {
    let Some(name) = std::env::var_os(POLL_TOKEN_ENV) else {
        return;
    };
    match PollToken::open(&name.to_string_lossy()) {
        Ok(t) => {
            let _ = CHILD_TOKEN.set(t);
        }
        Err(e) => eprintln!("stagerack sandbox-child: no poll token ({e}); threads poll alone"),
    }
}

fn token() -> &'static AtomicU32 {
    CHILD_TOKEN.get().map_or(&PRIVATE_TOKEN, PollToken::word)
}

/// Takes the token for this process, taking it over from a holder that
/// died. False: another live thread polls.
fn take_token(me: u32) -> bool {
    let word = token();
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

/// One audio thread's prediction of the engine's next request. Child audio
/// thread only.
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
    /// When the next request is due, once requests come at a steady
    /// period.
    fn due(&self) -> Option<(Instant, Duration)> {
        let period = self.period?;
        if self.steady < STEADY_BEFORE_POLLING || period < PERIOD_RANGE.0 || period > PERIOD_RANGE.1
        {
            return None;
        }
        Some((self.last_request? + period, period))
    }

    /// Notes a request taken up at `now`. Child audio thread.
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

    /// The lead polling starts with now (for tests and reports).
    pub fn lead(&self) -> Duration {
        self.lead
    }

    /// Waits until `header.request` may have moved on from `seen`: a
    /// request, any wake-up (the main thread's commands come with one) or
    /// [`IDLE_WAIT`]. The caller looks at the word. `polling` is false for
    /// a thread that must only sleep (not real-time). Child audio thread.
    pub fn wait(&mut self, header: &Header, seen: u32, polling: bool) {
        let Some((due, period)) = self.due().filter(|_| polling) else {
            futex_wait(&header.request, seen, IDLE_WAIT);
            return;
        };
        let lead = self.lead;
        let poll_from = due.checked_sub(lead).unwrap_or(due);
        let poll_until = due + lead;
        let now = Instant::now();
        if now >= poll_until {
            // The request is late by more than the lead: the engine
            // stopped or changed its period. Sleep until it comes.
            futex_wait(&header.request, seen, IDLE_WAIT);
            return;
        }
        if now < poll_from {
            futex_wait(&header.request, seen, poll_from - now);
            if header.request.load(Ordering::Acquire) != seen {
                // Woken by the request before polling began: start earlier.
                self.lead = (lead * 2).min(LEAD_MAX).min(period / 8).max(LEAD_MIN);
                return;
            }
            if Instant::now() < poll_from {
                // Another wake-up (a command): the caller looks and comes
                // back.
                return;
            }
        }
        if !take_token(std::process::id()) {
            // Another thread polls: sleep as before.
            futex_wait(&header.request, seen, IDLE_WAIT);
            return;
        }
        // SeqCst pairs with the engine's store of the request and its load
        // of `polling`: either it sees the flag (and skips the wake-up
        // system call) or this thread sees the request before it sleeps.
        header.polling.store(1, Ordering::SeqCst);
        let started = Instant::now();
        let mut found = false;
        loop {
            if header.request.load(Ordering::SeqCst) != seen {
                found = true;
                break;
            }
            if Instant::now() >= poll_until {
                break;
            }
            // SAFETY: sched_yield takes no arguments and cannot fail in a
            // way that matters here: it lets another thread of this
            // priority on this core run between looks.
            unsafe {
                libc::sched_yield();
            }
        }
        header.polling.store(0, Ordering::SeqCst);
        token().store(0, Ordering::Release);
        let polled = started.elapsed();
        header
            .poll_ns
            .fetch_add(polled.as_nanos() as u64, Ordering::Relaxed);
        if found {
            header.polled_requests.fetch_add(1, Ordering::Relaxed);
            if polled > LEAD_SLACK {
                self.lead = (lead * 31 / 32).max(LEAD_MIN);
            }
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
