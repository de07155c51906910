//! The memory one sandboxed plugin and the engine share: a block's audio
//! and events in, the processed audio and events out, and two futex words
//! (one per direction) that wake the other side. Linux: a memfd mapped by
//! both processes (the child opens it through `/proc/<engine>/fd/<fd>`, so
//! a relaunched child maps the very same memory and the engine's audio
//! thread never has to swap anything).
//!
//! Written here rather than taken from a crate: the shared-memory crates
//! (shared_memory, memmap2) map files but know nothing of futexes across
//! processes, and the futex crates are thin wrappers around the two
//! syscalls below. Other platforms (designed in docs/ARCHITECTURE.md):
//! a named section plus two auto-reset events on Windows, a mach shared
//! region plus semaphores on macOS, behind this same type.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::wire::WireEvent;
pub use stagerack_core::plugin::MAX_AUX_OUTPUTS;

/// Frames of audio per channel the region holds: the longest block a
/// sandboxed plugin may be activated for.
pub const MAX_FRAMES: usize = 8192;

/// Events each way per block.
pub const MAX_EVENTS: usize = 1024;

/// What the engine asks of the child for one request.
pub mod op {
    /// Process one block.
    pub const PROCESS: u32 = 1;
    /// `AudioProcessor::stop`.
    pub const STOP: u32 = 2;
    /// `AudioProcessor::reset`.
    pub const RESET: u32 = 3;
}

/// The fixed part of the region. Both sides are the same binary, so the
/// `repr(C)` layout is the same on both; anything the child writes that the
/// engine interprets (counts, statuses, events) is range-checked on read,
/// since a plugin scribbling over memory in the child may have written it.
#[repr(C)]
pub struct Header {
    /// Futex word the engine bumps to ask for one request (see [`op`]).
    pub request: AtomicU32,
    /// Futex word the child sets to `request`'s value when it has answered.
    pub done: AtomicU32,
    /// The request the child's audio thread took up (set before it works
    /// on it): the engine spins for an answer only while the child is
    /// working, and sleeps at once when it has not even woken (its thread
    /// waiting for a core the spinning engine thread would hold).
    pub taken: AtomicU32,
    /// Bumped by the engine's main thread each time a (re)launched child
    /// has activated the plugin: the audio side forgets a request the old
    /// child never answered.
    pub generation: AtomicU32,
    /// Nonzero while a child has an activated processor to call.
    pub ready: AtomicU32,
    /// The request's operation ([`op`]).
    pub op: AtomicU32,
    /// Frames in the block.
    pub frames: AtomicU32,
    /// Events in.
    pub events_in: AtomicU32,
    /// Events out (written by the child).
    pub events_out: AtomicU32,
    /// The processor's `ProcessStatus` as a code (written by the child).
    pub status: AtomicU32,
    /// The processor's tail as a code: 0 none, 1 frames, 2 infinite.
    pub tail_kind: AtomicU32,
    /// Frames of tail when `tail_kind` is 1.
    pub tail_frames: AtomicU32,
    /// Nonzero once when the plugin asked to be woken.
    pub wake_requested: AtomicU32,
    /// Transport: tempo in bits of an f64.
    pub tempo_bits: AtomicU64,
    /// Transport: steady frames.
    pub steady_frames: AtomicU64,
    /// Transport: sample rate in bits of an f64.
    pub sample_rate_bits: AtomicU64,
    /// Transport: nonzero while playing.
    pub playing: AtomicU32,
    /// The child's process id (written by the child when it maps).
    pub child_pid: AtomicU32,
    /// Allocations and frees the plugin made in its last process call, on
    /// the child's audio thread.
    pub allocs: AtomicU32,
    /// The engine audio thread's real-time priority (0: not real-time),
    /// written by the engine once; the child's audio thread runs one
    /// below, so it can never take the CPU from the engine.
    pub engine_priority: AtomicU32,
    /// Set by the engine's main thread while the child misses most of its
    /// deadlines: its audio thread then runs at normal priority, so a
    /// plugin that cannot keep up never holds a core at real-time priority
    /// (where the kernel's real-time throttling would stall the engine's
    /// own threads with it).
    pub demoted: AtomicU32,
    /// The extra outputs the engine takes (bit `i`: extra output `i`),
    /// written by the engine with each block.
    pub aux_wanted: AtomicU32,
    /// The extra outputs the child copied into [`Region::aux`] for the
    /// block it answered (written by the child).
    pub aux_present: AtomicU32,
}

/// What one child process and its engine share besides each plugin's
/// region: the doorbell the child's one audio thread sleeps on (the engine
/// rings it after each request, for whichever of the child's plugins), and
/// what anticipating the engine costs (see `anticipate`).
#[repr(C)]
pub struct ChildPage {
    /// Futex word bumped with every request to any of the child's plugins
    /// (and by the child's main thread with each command to its audio
    /// thread).
    pub bell: AtomicU32,
    /// Nonzero while the child's audio thread polls `bell`: the engine then
    /// skips the wake-up system call.
    pub polling: AtomicU32,
    /// Nanoseconds the child's audio thread has spent polling, in all.
    pub poll_ns: AtomicU64,
    /// Requests the child's audio thread found while polling (taken up
    /// without a wake-up), in all.
    pub polled_requests: AtomicU64,
}

impl ChildPage {
    /// Rings the doorbell after a request or command was published: bumps
    /// `bell` and wakes the child's audio thread unless it polls (SeqCst
    /// pairs with its `polling` flag: either this sees the flag or the
    /// thread sees the bell move before it sleeps). Never blocks. Any
    /// thread (the engine's audio thread, the child's main thread).
    pub fn ring(&self) {
        self.bell.fetch_add(1, Ordering::SeqCst);
        if self.polling.load(Ordering::SeqCst) == 0 {
            futex_wake(&self.bell);
        }
    }
}

/// The word that lets one thread of all an engine's sandbox children poll
/// at a time (see `anticipate`).
#[repr(C)]
pub struct TokenPage {
    /// 0 free, else the holder's process id.
    pub holder: AtomicU32,
}

/// One page of atomics shared between the engine and its children: a
/// memfd the engine makes and a child opens through
/// `/proc/<engine>/fd/<fd>`, named to it as `PID:FD` in an environment
/// variable. `T` is a `repr(C)` struct of atomics only (zero is a valid
/// value of each).
pub struct SharedPage<T> {
    file: File,
    ptr: NonNull<T>,
}

// SAFETY: the mapping is shared memory holding atomics only, valid until
// drop; it is only ever used through `&T`.
unsafe impl<T: Sync> Send for SharedPage<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for SharedPage<T> {}

const PAGE_LEN: usize = 4096;

impl<T> SharedPage<T> {
    /// Makes a zeroed page. Main thread.
    pub fn create() -> Result<SharedPage<T>, ShmError> {
        const { assert!(std::mem::size_of::<T>() <= PAGE_LEN) };
        // SAFETY: a valid NUL-terminated name and flags; checked below.
        let fd = unsafe { libc::memfd_create(c"stagerack-page".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(sys("memfd_create"));
        }
        // SAFETY: `fd` was just returned open and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(PAGE_LEN as u64)
            .map_err(|source| ShmError::Sys {
                call: "ftruncate",
                source,
            })?;
        Self::map(file)
    }

    /// Opens the page named `PID:FD` ([`SharedPage::name`] in the
    /// engine). A child's main thread, at start.
    pub fn open(name: &str) -> Result<SharedPage<T>, ShmError> {
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
        if file.metadata().map(|m| m.len()).unwrap_or(0) != PAGE_LEN as u64 {
            return Err(ShmError::Sys {
                call: "size check",
                source: std::io::Error::other("not a shared page"),
            });
        }
        Self::map(file)
    }

    fn map(file: File) -> Result<SharedPage<T>, ShmError> {
        // SAFETY: maps the whole page-sized file shared read-write; the
        // result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(sys("mmap"));
        }
        // SAFETY: within what was just mapped; refused without the
        // privilege, which is fine (touched every block).
        unsafe { libc::mlock(ptr, PAGE_LEN) };
        Ok(SharedPage {
            file,
            ptr: NonNull::new(ptr.cast()).ok_or_else(|| sys("mmap"))?,
        })
    }

    /// `PID:FD` for a child's environment. Main thread.
    pub fn name(&self) -> String {
        format!("{}:{}", std::process::id(), self.file.as_raw_fd())
    }

    /// The atomics. Any thread.
    pub fn get(&self) -> &T {
        // SAFETY: the mapping is valid for the life of self, page-aligned,
        // zero-initialised, and T is atomics only.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Drop for SharedPage<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `map` mapped.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), PAGE_LEN);
        }
    }
}

/// The whole region.
#[repr(C)]
pub struct Region {
    /// Control words.
    pub header: Header,
    /// Left channel, in and out.
    pub left: [f32; MAX_FRAMES],
    /// Right channel, in and out.
    pub right: [f32; MAX_FRAMES],
    /// Events into the plugin.
    pub events_in: [WireEvent; MAX_EVENTS],
    /// Events the plugin put out.
    pub events_out: [WireEvent; MAX_EVENTS],
    /// The plugin's extra outputs (left, right per output), out only.
    pub aux: [[f32; MAX_FRAMES]; 2 * MAX_AUX_OUTPUTS],
}

/// Why the region could not be made or mapped.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call failed.
    #[error("shared memory for a sandboxed plugin: {call} failed: {source}")]
    Sys {
        /// Which call.
        call: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

fn sys(call: &'static str) -> ShmError {
    ShmError::Sys {
        call,
        source: std::io::Error::last_os_error(),
    }
}

/// One mapping of a [`Region`]; unmapped on drop. Both the engine (which
/// creates it) and the child (which opens it) hold one.
pub struct SharedRegion {
    /// The memfd (the engine's; the child's is its own open of it).
    file: File,
    ptr: NonNull<Region>,
}

// SAFETY: the mapping is plain shared memory; every field both sides touch
// concurrently is an atomic, and the audio buffers are handed back and forth
// by the request/done protocol (Release on publish, Acquire on read), so only
// one side touches them at a time. The pointer stays valid until drop.
unsafe impl Send for SharedRegion {}
// SAFETY: as above; `&SharedRegion` only gives out atomics and raw access
// that the protocol serialises.
unsafe impl Sync for SharedRegion {}

impl SharedRegion {
    /// Makes a fresh zeroed region (memfd, not inherited by children). Main
    /// thread.
    pub fn create() -> Result<SharedRegion, ShmError> {
        // SAFETY: a valid NUL-terminated name and flags; the return value is
        // checked.
        let fd = unsafe { libc::memfd_create(c"stagerack-sandbox".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(sys("memfd_create"));
        }
        // SAFETY: `fd` was just returned open and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(std::mem::size_of::<Region>() as u64)
            .map_err(|source| ShmError::Sys {
                call: "ftruncate",
                source,
            })?;
        Self::map(file)
    }

    /// Opens the region the engine process `pid` holds as descriptor `fd`.
    /// The child's main thread, at start.
    pub fn open(pid: u32, fd: i32) -> Result<SharedRegion, ShmError> {
        let path = format!("/proc/{pid}/fd/{fd}");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| ShmError::Sys {
                call: "open /proc/PID/fd",
                source,
            })?;
        let len = file
            .metadata()
            .map_err(|source| ShmError::Sys {
                call: "fstat",
                source,
            })?
            .len();
        if len != std::mem::size_of::<Region>() as u64 {
            return Err(ShmError::Sys {
                call: "size check",
                source: std::io::Error::other(format!(
                    "the region is {len} bytes, this build expects {}: engine and child are \
                     different builds",
                    std::mem::size_of::<Region>()
                )),
            });
        }
        Self::map(file)
    }

    fn map(file: File) -> Result<SharedRegion, ShmError> {
        // SAFETY: maps the whole file, shared, read-write; the result is
        // checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Region>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(sys("mmap"));
        }
        // Keep the pages resident: a page fault on the audio thread is a
        // blocking wait on the disk. Refused without the privilege, which is
        // fine (the region is small and touched every block). The part every
        // block uses first, on its own, so a locked-memory limit too small
        // for the extra outputs' room (15 stereo pairs, touched only by a
        // plugin whose extra outputs are routed) still locks it.
        let main = std::mem::offset_of!(Region, aux);
        // SAFETY: both ranges lie within what was just mapped.
        unsafe {
            libc::mlock(ptr, main);
            libc::mlock(
                ptr.cast::<u8>().add(main).cast(),
                std::mem::size_of::<Region>() - main,
            );
        }
        Ok(SharedRegion {
            file,
            ptr: NonNull::new(ptr.cast()).ok_or_else(|| sys("mmap"))?,
        })
    }

    /// The descriptor a child opens through `/proc`. Main thread.
    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// The control words. Any thread.
    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is valid for the life of self, and Header is
        // all atomics.
        unsafe { &(*self.ptr.as_ptr()).header }
    }

    /// The data part, for the side that holds the turn (the engine between
    /// `done` and the next `request`, the child between `request` and its
    /// `done`).
    ///
    /// # Safety
    /// The caller holds the turn and no other reference from this mapping
    /// is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn data(&self) -> &mut Region {
        // SAFETY: forwarded to the caller (see the doc).
        unsafe { &mut *self.ptr.as_ptr() }
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `map` mapped.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), std::mem::size_of::<Region>());
        }
    }
}

pub use stagerack_core::futex::{futex_wait, futex_wake};
