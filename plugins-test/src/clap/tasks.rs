//! `Stagerack Tasks` (`org.stagerack.test.tasks`): a stereo effect that
//! does its work through the host's thread pool (CLAP `thread-pool`).
//!
//! Each process call copies input to output, then asks the host to run
//! [`TASKS`] tasks (`request_exec`); task `i` halves the samples of the
//! `i`-th slice of the block (and spins [`TASK_SPIN_US`] µs, so idle host
//! threads have time to take a share). So the output is exactly half the
//! input when, and only when, every task ran exactly once. After each
//! `request_exec` the plugin checks every task ran exactly once and counts
//! the distinct threads that ran them. A host without the extension, or
//! one that refuses, gets the tasks run by the plugin itself (as real
//! plugins do), counted as refused.
//!
//! Its state reports ([`TasksReport`]; no parameters): `execs` (requests
//! the host carried out), `bad_execs` (requests after which some task had
//! not run exactly once), `refused` (requests refused or no extension),
//! `most_threads` (the most distinct threads that ran one request's tasks),
//! `thread_violations` (tasks the host's thread-check did not call an audio
//! thread).
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{state_words, write_stereo_port, StateReader, StateWriter};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::state::{PluginState, PluginStateImpl};
use clack_extensions::thread_check::HostThreadCheck;
use clack_extensions::thread_pool::{HostThreadPool, PluginThreadPool, PluginThreadPoolImpl};
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// CLAP id of the tasks plugin.
pub const ID: &str = "org.stagerack.test.tasks";
/// Display name of the tasks plugin.
pub const NAME: &str = "Stagerack Tasks";

/// Tasks per process call.
pub const TASKS: usize = 8;
/// How long each task spins besides its work, in microseconds.
pub const TASK_SPIN_US: u64 = 20;

const STATE_TAG: &[u8; 4] = b"SRT2";

/// What the tasks plugin's state reports (this instance's own counts; a
/// state load does not restore them). Any thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TasksReport {
    /// Requests the host carried out.
    pub execs: u64,
    /// Requests after which some task had not run exactly once.
    pub bad_execs: u64,
    /// Requests refused, or no extension.
    pub refused: u64,
    /// The most distinct threads that ran one request's tasks.
    pub most_threads: u64,
    /// Tasks the host's thread-check did not call an audio thread.
    pub thread_violations: u64,
}

impl TasksReport {
    /// Reads a state the plugin saved; `None` for anything else. Any thread.
    pub fn from_state(state: &[u8]) -> Option<Self> {
        let [execs, bad_execs, refused, most_threads, thread_violations] =
            state_words(state, STATE_TAG)?;
        Some(Self {
            execs,
            bad_execs,
            refused,
            most_threads,
            thread_violations,
        })
    }
}

/// An identity for the calling thread: its kernel id (one system call
/// that never blocks; a thread-local would be allocated by the dynamic
/// loader on its first use in each host thread). Any thread.
fn thread_mark() -> usize {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions.
    return unsafe { libc::gettid() } as usize;
    #[cfg(not(target_os = "linux"))]
    return 1;
}

/// The plugin type. See the module docs.
pub struct Tasks;

/// What the tasks share: the block being processed and the counters. Any
/// thread.
pub struct TasksShared<'a> {
    host: HostSharedHandle<'a>,
    thread_check: Option<HostThreadCheck>,
    left: AtomicPtr<f32>,
    right: AtomicPtr<f32>,
    frames: AtomicUsize,
    runs: [AtomicU32; TASKS],
    ran_on: [AtomicUsize; TASKS],
    execs: AtomicU64,
    bad_execs: AtomicU64,
    refused: AtomicU64,
    most_threads: AtomicU64,
    thread_violations: AtomicU64,
}

impl<'a> PluginShared<'a> for TasksShared<'a> {}

impl TasksShared<'_> {
    /// Task `i`: halves its slice of the current block. A host thread-pool
    /// thread (or the audio thread).
    fn run_task(&self, i: usize) {
        if i >= TASKS {
            return;
        }
        self.runs[i].fetch_add(1, Ordering::Relaxed);
        self.ran_on[i].store(thread_mark(), Ordering::Relaxed);
        if let Some(check) = self.thread_check {
            if !check.is_audio_thread(&self.host).unwrap_or(true) {
                self.thread_violations.fetch_add(1, Ordering::Relaxed);
            }
        }
        let frames = self.frames.load(Ordering::Acquire);
        let (from, to) = (i * frames / TASKS, (i + 1) * frames / TASKS);
        for ptr in [&self.left, &self.right] {
            let p = ptr.load(Ordering::Acquire);
            if p.is_null() {
                continue;
            }
            // SAFETY: the processing thread published a buffer of `frames`
            // samples that stays valid until `request_exec` returns; task
            // `i` alone touches `from..to`.
            let slice = unsafe { std::slice::from_raw_parts_mut(p.add(from), to - from) };
            for x in slice {
                *x *= 0.5;
            }
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(TASK_SPIN_US) {
            std::hint::spin_loop();
        }
    }
}

impl PluginThreadPoolImpl for TasksShared<'_> {
    fn exec(&self, task_index: u32) {
        self.run_task(task_index as usize);
    }
}

/// The main-thread half. Main thread.
pub struct TasksMainThread<'a> {
    shared: &'a TasksShared<'a>,
}

impl<'a> PluginMainThread<'a, TasksShared<'a>> for TasksMainThread<'a> {}

/// The audio-thread half. Audio thread.
pub struct TasksAudio<'a> {
    host: HostAudioProcessorHandle<'a>,
    pool: Option<HostThreadPool>,
    shared: &'a TasksShared<'a>,
}

impl Plugin for Tasks {
    type AudioProcessor<'a> = TasksAudio<'a>;
    type Shared<'a> = TasksShared<'a>;
    type MainThread<'a> = TasksMainThread<'a>;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&TasksShared>) {
        builder
            .register::<PluginAudioPorts>()
            .register::<PluginState>()
            .register::<PluginThreadPool>();
    }
}

impl DefaultPluginFactory for Tasks {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin: halves its input in tasks on the host's thread pool")
            .with_features([AUDIO_EFFECT, UTILITY, STEREO])
    }

    fn new_shared(host: HostSharedHandle<'_>) -> Result<TasksShared<'_>, PluginError> {
        Ok(TasksShared {
            host,
            thread_check: host.get_extension(),
            left: AtomicPtr::new(std::ptr::null_mut()),
            right: AtomicPtr::new(std::ptr::null_mut()),
            frames: AtomicUsize::new(0),
            runs: std::array::from_fn(|_| AtomicU32::new(0)),
            ran_on: std::array::from_fn(|_| AtomicUsize::new(0)),
            execs: AtomicU64::new(0),
            bad_execs: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            most_threads: AtomicU64::new(0),
            thread_violations: AtomicU64::new(0),
        })
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        shared: &'a TasksShared<'a>,
    ) -> Result<TasksMainThread<'a>, PluginError> {
        Ok(TasksMainThread { shared })
    }
}

impl<'a> PluginAudioProcessor<'a, TasksShared<'a>, TasksMainThread<'a>> for TasksAudio<'a> {
    fn activate(
        host: HostAudioProcessorHandle<'a>,
        _main_thread: &TasksMainThread<'a>,
        shared: &'a TasksShared<'a>,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        let pool = host.shared().get_extension();
        Ok(Self { host, pool, shared })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        _events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        let frames = audio.frames_count() as usize;
        let mut pair = audio
            .port_pair(0)
            .ok_or(PluginError::Message("tasks: no audio ports"))?;
        let mut channels = pair
            .channels()
            .map_err(|_| PluginError::Message("tasks: bad audio buffers"))?
            .into_f32()
            .ok_or(PluginError::Message("tasks: expected f32 buffers"))?;
        let mut outs: [*mut f32; 2] = [std::ptr::null_mut(); 2];
        for (pair, out) in channels.iter_mut().zip(outs.iter_mut()) {
            *out = match pair {
                ChannelPair::InputOnly(_) => std::ptr::null_mut(),
                ChannelPair::OutputOnly(buf) => {
                    buf.fill(0.0);
                    buf.as_mut_ptr()
                }
                ChannelPair::InPlace(buf) => buf.as_mut_ptr(),
                ChannelPair::InputOutput(input, buf) => {
                    buf.copy_from_slice(input);
                    buf.as_mut_ptr()
                }
            };
        }
        let s = self.shared;
        s.left.store(outs[0], Ordering::Release);
        s.right.store(outs[1], Ordering::Release);
        s.frames.store(frames, Ordering::Release);
        for r in &s.runs {
            r.store(0, Ordering::Relaxed);
        }
        let done = match self.pool {
            Some(pool) => pool.request_exec(&mut self.host, TASKS as u32).is_ok(),
            None => false,
        };
        if done {
            s.execs.fetch_add(1, Ordering::Relaxed);
            if s.runs.iter().any(|r| r.load(Ordering::Relaxed) != 1) {
                s.bad_execs.fetch_add(1, Ordering::Relaxed);
            }
            let mut marks = [0usize; TASKS];
            let mut distinct = 0;
            for m in &s.ran_on {
                let m = m.load(Ordering::Relaxed);
                if !marks[..distinct].contains(&m) {
                    marks[distinct] = m;
                    distinct += 1;
                }
            }
            s.most_threads.fetch_max(distinct as u64, Ordering::Relaxed);
        } else {
            s.refused.fetch_add(1, Ordering::Relaxed);
            for r in &s.runs {
                r.store(0, Ordering::Relaxed);
            }
            (0..TASKS).for_each(|i| s.run_task(i));
        }
        s.left.store(std::ptr::null_mut(), Ordering::Release);
        s.right.store(std::ptr::null_mut(), Ordering::Release);
        Ok(ProcessStatus::ContinueIfNotQuiet)
    }
}

impl PluginAudioPortsImpl for TasksMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, _is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginStateImpl for TasksMainThread<'_> {
    /// Saves this instance's counts (tag `SRT2`; read with
    /// [`TasksReport::from_state`]).
    fn save(&self, output: &mut OutputStream) -> Result<(), PluginError> {
        let s = self.shared;
        let mut w = StateWriter::new(output, STATE_TAG)?;
        for counter in [
            &s.execs,
            &s.bad_execs,
            &s.refused,
            &s.most_threads,
            &s.thread_violations,
        ] {
            w.u64(counter.load(Ordering::Relaxed))?;
        }
        Ok(())
    }

    /// Checks the state is this plugin's; the counts describe the instance
    /// that saved it and are not restored.
    fn load(&self, input: &mut InputStream) -> Result<(), PluginError> {
        let mut r = StateReader::new(input, STATE_TAG)?;
        for _ in 0..5 {
            r.u64()?;
        }
        Ok(())
    }
}
