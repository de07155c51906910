//! The host side of one CLAP instance: what the plugin may call back into.
//!
//! clack splits the host by thread role, and so do we:
//! - [`HostShared`] (`Send + Sync`): `request_*`, log, thread-check,
//!   `params.request_flush`. Only atomics.
//! - [`HostMain`] (main thread, `!Sync`): params rescan/clear, state
//!   mark-dirty, latency/ports changed, timer and fd registrations. Every
//!   entry checks that it really runs on the main thread (a misbehaving
//!   plugin calling from elsewhere is counted and refused, so the `RefCell`s
//!   inside are never touched from two threads).
//! - [`HostAudio`] (audio thread): tail changed, thread-pool requests.
//!
//! clack's own callbacks null-check the host pointer and catch panics. The
//! two extensions whose clack callbacks dereference a plugin pointer without
//! a null check (log's message, timer's out-id) are implemented here by
//! hand: [`SafeHostLog`] and [`SafeHostTimer`].

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clack_extensions::audio_ports::AudioPortType;
use clack_extensions::audio_ports::{AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl};
use clack_extensions::audio_ports_config::{HostAudioPortsConfig, HostAudioPortsConfigImpl};
use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::latency::{HostLatency, HostLatencyImpl};
use clack_extensions::note_name::{HostNoteName, HostNoteNameImpl};
use clack_extensions::note_ports::{
    HostNotePorts, HostNotePortsImpl, NoteDialects, NotePortRescanFlags,
};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamRescanFlags,
};
#[cfg(unix)]
use clack_extensions::posix_fd::{FdFlags, HostPosixFd, HostPosixFdImpl};
use clack_extensions::preset_discovery::prelude::{HostPresetLoad, Location};
use clack_extensions::preset_discovery::HostPresetLoadImpl;
use clack_extensions::remote_controls::{HostRemoteControls, HostRemoteControlsImpl};
use clack_extensions::state::{HostState, HostStateImpl};
use clack_extensions::tail::{HostTail, HostTailImpl};
use clack_extensions::thread_check::{HostThreadCheck, HostThreadCheckImpl};
use clack_extensions::thread_pool::{HostThreadPool, HostThreadPoolImpl};
use clack_extensions::track_info::{HostTrackInfo, HostTrackInfoImpl, TrackInfo, TrackInfoWriter};
use clack_extensions::voice_info::{HostVoiceInfo, HostVoiceInfoImpl};
use clack_host::extensions::prelude::{
    Extension, ExtensionImplementation, HostExtensionSide, HostWrapper, RawExtension,
    RawExtensionImplementation,
};
use clack_host::prelude::*;
use clap_sys::ext::log::{
    clap_host_log, clap_log_severity, CLAP_EXT_LOG, CLAP_LOG_DEBUG, CLAP_LOG_ERROR, CLAP_LOG_FATAL,
    CLAP_LOG_HOST_MISBEHAVING, CLAP_LOG_INFO, CLAP_LOG_PLUGIN_MISBEHAVING, CLAP_LOG_WARNING,
};
use clap_sys::ext::timer_support::{clap_host_timer_support, CLAP_EXT_TIMER_SUPPORT};
use clap_sys::host::clap_host;

thread_local! {
    /// True while this thread is inside a CLAP `process` (or start/stop
    /// processing) call: the CLAP "audio thread" is whichever thread is in
    /// there. `const` initialised: reading it never allocates.
    static IN_AUDIO: Cell<bool> = const { Cell::new(false) };
    /// A per-thread marker whose address identifies the thread without
    /// allocating (`std::thread::current()` may allocate on a foreign
    /// thread such as a JACK callback).
    static THREAD_MARK: u8 = const { 0 };
}

/// An identity for the calling thread, unique among live threads. Any thread.
fn thread_mark() -> usize {
    THREAD_MARK.with(|m| m as *const u8 as usize)
}

/// True while the calling thread is inside a plugin's process call. Any thread.
pub(crate) fn in_audio_thread() -> bool {
    IN_AUDIO.with(Cell::get)
}

/// Marks the calling thread as the audio thread until dropped (RAII, so a
/// panic unwinding through `process` clears it too). Audio thread.
pub(crate) struct AudioThreadScope {
    was: bool,
}

impl AudioThreadScope {
    /// Enters the audio-thread role. Audio thread.
    pub(crate) fn enter() -> Self {
        Self {
            was: IN_AUDIO.with(|f| f.replace(true)),
        }
    }
}

impl Drop for AudioThreadScope {
    fn drop(&mut self) {
        IN_AUDIO.with(|f| f.set(self.was));
    }
}

/// Lifecycle of an instance, readable from any thread (e.g. the rack window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ClapState {
    /// Created, not activated.
    Inactive = 0,
    /// Activated; not processing (never started, stopped, or asleep).
    ActiveSleeping = 1,
    /// Activated and processing.
    ActiveProcessing = 2,
    /// Failed (start_processing or process returned an error).
    Error = 3,
}

impl ClapState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::ActiveSleeping,
            2 => Self::ActiveProcessing,
            3 => Self::Error,
            _ => Self::Inactive,
        }
    }
}

/// What one instance shares between its threads: atomics only. Any thread.
#[derive(Debug)]
pub struct ClapShared {
    /// "Name (id)", for log lines.
    pub(crate) label: String,
    main_thread: AtomicUsize,
    state: AtomicU8,
    /// `request_restart` was called (deactivate + reactivate on the main thread).
    pub(crate) restart_requested: AtomicBool,
    /// `request_process` was called: wake the plugin if asleep.
    pub(crate) process_requested: AtomicBool,
    /// `request_callback` was called: call `on_main_thread` from the pump.
    pub(crate) callback_requested: AtomicBool,
    /// `params.request_flush` was called.
    pub(crate) flush_requested: AtomicBool,
    /// `latency.changed` was called: reactivate off the audio thread.
    pub(crate) latency_changed: AtomicBool,
    /// `tail.changed` was called: re-read the tail on the audio thread.
    pub(crate) tail_changed: AtomicBool,
    /// `params.rescan` / `params.clear` was called: re-read the parameter list.
    pub(crate) params_rescan: AtomicBool,
    /// Audio or note ports changed: re-read them at the next activation.
    pub(crate) ports_rescan: AtomicBool,
    /// `state.mark_dirty` was called since the last save.
    pub(crate) state_dirty: AtomicBool,
    /// Main-thread host functions the plugin called from another thread.
    pub(crate) host_thread_violations: AtomicU32,
    /// Log messages the plugin sent from the audio thread (dropped there:
    /// formatting them would allocate).
    pub(crate) audio_thread_logs: AtomicU32,
    /// `CLAP_LOG_HOST_MISBEHAVING` messages from the audio thread, counted
    /// (not formatted) until the main thread reports them.
    pub(crate) audio_thread_complaints: AtomicU32,
    /// `CLAP_LOG_HOST_MISBEHAVING` messages from other threads, kept for
    /// the main thread to report. Never locked on the audio thread.
    pub(crate) complaints: std::sync::Mutex<Vec<String>>,
    /// The plugin's tail in frames (`u32::MAX`: infinite), as last read on
    /// the audio thread.
    pub(crate) tail_frames: AtomicU32,
    /// `gui.request_resize` asked for this size.
    pub(crate) editor_resize: stagerack_core::editor::ResizeRequest,
    /// `gui.closed` was called: the plugin closed its editor itself.
    pub(crate) editor_closed: AtomicBool,
    /// What the plugin said went wrong with the last preset it was asked
    /// to load (`preset_load.on_error`). Main thread only.
    pub(crate) preset_error: std::sync::Mutex<Option<String>>,
    /// The plugin's `thread-pool` exec, when it has one (set once after
    /// `init`).
    pub(crate) task_exec: std::sync::OnceLock<TaskExec>,
    /// `thread_pool.request_exec` calls carried out.
    pub(crate) task_requests: std::sync::atomic::AtomicU64,
    /// `note_name.changed` was called: read the names again.
    pub(crate) note_names_changed: AtomicBool,
}

/// A plugin's `clap_plugin_thread_pool.exec` with its instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskExec {
    plugin: *const clap_sys::plugin::clap_plugin,
    exec: unsafe extern "C" fn(*const clap_sys::plugin::clap_plugin, u32),
}

// SAFETY: the CLAP spec has `exec` called from any thread of the host's
// pool while the instance lives; the pointer is only passed back to it.
unsafe impl Send for TaskExec {}
// SAFETY: as above.
unsafe impl Sync for TaskExec {}

impl TaskExec {
    /// The plugin's thread-pool exec, if it offers the extension. Main
    /// thread, after `init`.
    pub(crate) fn of(plugin: &clack_host::plugin::PluginSharedHandle<'_>) -> Option<Self> {
        let raw = plugin.as_raw();
        let get = raw.get_extension?;
        // SAFETY: `get_extension` of an initialised instance, called with
        // that instance and a NUL-terminated id; the result is null or a
        // `clap_plugin_thread_pool` that lives as long as the instance.
        let ext = unsafe {
            get(
                plugin.as_raw_ptr(),
                clap_sys::ext::thread_pool::CLAP_EXT_THREAD_POOL.as_ptr(),
            )
        } as *const clap_sys::ext::thread_pool::clap_plugin_thread_pool;
        // SAFETY: null-checked; valid for the instance's life (above).
        let exec = unsafe { ext.as_ref() }?.exec?;
        Some(Self {
            plugin: plugin.as_raw_ptr(),
            exec,
        })
    }

    /// Runs task `index`. Any thread of the host's pool, while the
    /// plugin's process call that asked for it runs (the instance lives:
    /// the asking thread waits for every task).
    fn run(&self, index: u32) {
        // SAFETY: as above: `exec` is the instance's own function, called
        // with that instance while it is alive and processing.
        unsafe { (self.exec)(self.plugin, index) };
    }
}

impl ClapShared {
    /// A fresh record; the calling thread becomes the instance's main
    /// thread. Main thread.
    pub(crate) fn new(label: String) -> Self {
        Self {
            label,
            main_thread: AtomicUsize::new(thread_mark()),
            state: AtomicU8::new(ClapState::Inactive as u8),
            restart_requested: AtomicBool::new(false),
            process_requested: AtomicBool::new(false),
            callback_requested: AtomicBool::new(false),
            flush_requested: AtomicBool::new(false),
            latency_changed: AtomicBool::new(false),
            tail_changed: AtomicBool::new(false),
            params_rescan: AtomicBool::new(false),
            ports_rescan: AtomicBool::new(false),
            state_dirty: AtomicBool::new(false),
            host_thread_violations: AtomicU32::new(0),
            audio_thread_logs: AtomicU32::new(0),
            audio_thread_complaints: AtomicU32::new(0),
            complaints: std::sync::Mutex::new(Vec::new()),
            tail_frames: AtomicU32::new(0),
            editor_resize: stagerack_core::editor::ResizeRequest::default(),
            editor_closed: AtomicBool::new(false),
            preset_error: std::sync::Mutex::new(None),
            task_exec: std::sync::OnceLock::new(),
            task_requests: std::sync::atomic::AtomicU64::new(0),
            note_names_changed: AtomicBool::new(false),
        }
    }

    /// CLAP thread-check `is_main_thread`: the thread that created the
    /// instance, and not while it is acting as the audio thread (offline
    /// renders run `process` on the main thread). Any thread; never allocates.
    pub fn is_main_thread(&self) -> bool {
        thread_mark() == self.main_thread.load(Ordering::Relaxed) && !in_audio_thread()
    }

    /// CLAP thread-check `is_audio_thread`: the calling thread is inside
    /// this host's process call. Any thread; never allocates.
    pub fn is_audio_thread(&self) -> bool {
        in_audio_thread()
    }

    /// The instance's lifecycle state. Any thread.
    pub fn state(&self) -> ClapState {
        ClapState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(crate) fn set_state(&self, s: ClapState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// What the plugin said about the host misbehaving since the last call,
    /// one sentence each: the messages it logged on other threads, then a
    /// count of those it logged on the audio thread. Main thread.
    pub fn take_complaints(&self, out: &mut Vec<String>) {
        if let Ok(mut kept) = self.complaints.lock() {
            out.extend(
                kept.drain(..)
                    .map(|text| format!("{} says the host misbehaves: {text}", self.label)),
            );
        }
        let on_audio = self.audio_thread_complaints.swap(0, Ordering::Relaxed);
        if on_audio > 0 {
            out.push(format!(
                "{} said {on_audio} time(s) on the audio thread that the host misbehaves \
                 (its messages are not formatted there)",
                self.label
            ));
        }
    }

    /// Main-thread host functions called from another thread. Any thread.
    pub fn host_thread_violations(&self) -> u32 {
        self.host_thread_violations.load(Ordering::Relaxed)
    }

    /// Counts and reports a main-thread host call made elsewhere; returns
    /// true when the caller is on the main thread. Any thread.
    fn check_main(&self, what: &str) -> bool {
        if self.is_main_thread() {
            return true;
        }
        self.host_thread_violations.fetch_add(1, Ordering::Relaxed);
        if !in_audio_thread() {
            tracing::warn!(
                "{} called the main-thread host function `{what}` from another thread; refused",
                self.label
            );
        }
        false
    }
}

/// The clack host type for every stagerack CLAP instance.
pub(crate) struct StageHost;

/// Shared (any-thread) host handler.
pub(crate) struct HostShared {
    pub(crate) shared: Arc<ClapShared>,
}

/// Main-thread host handler: registrations the pump services.
pub(crate) struct HostMain {
    pub(crate) shared: Arc<ClapShared>,
    /// Every rack name the plugin was given, the current one last. Never
    /// shrunk: `track_info.get` lends the current one for as long as the
    /// host lives (renames are rare; a few bytes each).
    pub(crate) track_names: RefCell<Vec<Box<[u8]>>>,
    timers: RefCell<Vec<Timer>>,
    next_timer: Cell<u32>,
    #[cfg(unix)]
    fds: RefCell<Vec<(i32, FdFlags)>>,
}

/// Audio-thread host handler.
pub(crate) struct HostAudio {
    pub(crate) shared: Arc<ClapShared>,
}

#[derive(Clone, Copy, Debug)]
struct Timer {
    id: u32,
    period: Duration,
    due: Instant,
}

impl HostMain {
    pub(crate) fn new(shared: Arc<ClapShared>) -> Self {
        Self {
            shared,
            track_names: RefCell::new(Vec::new()),
            timers: RefCell::new(Vec::new()),
            next_timer: Cell::new(1),
            #[cfg(unix)]
            fds: RefCell::new(Vec::new()),
        }
    }

    /// Ids of the timers due at `now`, rescheduled. Main thread.
    pub(crate) fn take_due_timers(&self, now: Instant) -> Vec<u32> {
        let mut due = Vec::new();
        for t in self.timers.borrow_mut().iter_mut() {
            if t.due <= now {
                due.push(t.id);
                t.due = now + t.period;
            }
        }
        due
    }

    /// When the next timer fires, if any. Main thread.
    pub(crate) fn next_timer_due(&self) -> Option<Instant> {
        self.timers.borrow().iter().map(|t| t.due).min()
    }

    /// Number of registered timers. Main thread.
    pub(crate) fn timer_count(&self) -> usize {
        self.timers.borrow().len()
    }

    /// The registered file descriptors and the events wanted. Main thread.
    #[cfg(unix)]
    pub(crate) fn fds(&self) -> Vec<(i32, FdFlags)> {
        self.fds.borrow().clone()
    }

    fn register_timer_checked(&self, period_ms: u32) -> Option<u32> {
        if !self.shared.check_main("timer_support.register_timer") {
            return None;
        }
        let id = self.next_timer.get();
        self.next_timer.set(id.wrapping_add(1).max(1));
        // Periods under 10 ms are raised to 10 ms (the spec allows it).
        let period = Duration::from_millis(u64::from(period_ms.max(10)));
        self.timers.borrow_mut().push(Timer {
            id,
            period,
            due: Instant::now() + period,
        });
        Some(id)
    }

    fn unregister_timer_checked(&self, id: u32) -> bool {
        if !self.shared.check_main("timer_support.unregister_timer") {
            return false;
        }
        let mut timers = self.timers.borrow_mut();
        let before = timers.len();
        timers.retain(|t| t.id != id);
        timers.len() != before
    }
}

impl<'a> SharedHandler<'a> for HostShared {
    fn request_restart(&self) {
        self.shared.restart_requested.store(true, Ordering::Release);
    }

    fn request_process(&self) {
        self.shared.process_requested.store(true, Ordering::Release);
    }

    fn request_callback(&self) {
        self.shared
            .callback_requested
            .store(true, Ordering::Release);
    }
}

impl MainThreadHandler<'_> for HostMain {}

/// CLAP `track-info`: the rack's name, a stereo track.
impl HostTrackInfoImpl for HostMain {
    fn get<'a>(&'a self, writer: &mut TrackInfoWriter<'_, 'a>) {
        let Some(current) = self
            .track_names
            .borrow()
            .last()
            .map(|n| &**n as *const [u8])
        else {
            return;
        };
        // SAFETY: the boxes in `track_names` are never removed or changed
        // while `self` lives, and a box's bytes stay put when the list
        // grows: the pointer is valid for `'a`.
        let name: &'a [u8] = unsafe { &*current };
        writer.set(
            &TrackInfo::new()
                .with_name(Some(name))
                .with_audio_channels(Some(AudioPortType::STEREO), 2),
        );
    }
}

/// CLAP `note-name`: the names are read again when next asked for.
impl HostNoteNameImpl for HostMain {
    fn changed(&self) {
        if self.shared.check_main("note_name.changed") {
            self.shared
                .note_names_changed
                .store(true, Ordering::Release);
        }
    }
}

/// CLAP `preset-load`: a failure's message is kept for the load that
/// asked; a loaded preset needs nothing (the host asked for it).
impl HostPresetLoadImpl for HostMain {
    fn on_error(
        &self,
        location: Location,
        load_key: Option<&CStr>,
        os_error: i32,
        message: Option<&CStr>,
    ) {
        // A main-thread call: refused (and counted) elsewhere, so the
        // lock below is never taken on the audio thread.
        if !self.shared.check_main("preset_load.on_error") {
            return;
        }
        let what = match (location, load_key) {
            (Location::File { path }, _) => path.to_string_lossy().into_owned(),
            (Location::Plugin, Some(key)) => format!("its preset `{}`", key.to_string_lossy()),
            (Location::Plugin, None) => "its preset".into(),
        };
        let why = message.map_or_else(|| "no reason given".into(), CStr::to_string_lossy);
        let os = if os_error != 0 {
            format!(" (OS error {os_error})")
        } else {
            String::new()
        };
        if let Ok(mut e) = self.shared.preset_error.lock() {
            *e = Some(format!("{what}: {why}{os}"));
        }
    }

    fn loaded(&self, _location: Location, _load_key: Option<&CStr>) {}
}

/// CLAP `remote-controls`: the pages are read again at the next plan and
/// whenever shown; a suggested page is the plugin's wish, the player's
/// knobs decide.
impl HostRemoteControlsImpl for HostMain {
    fn changed(&self) {}

    fn suggest_page(&self, _page_id: ClapId) {}
}

/// CLAP `voice-info`: the capacity is read whenever shown.
impl HostVoiceInfoImpl for HostMain {
    fn changed(&self) {}
}

/// CLAP `audio-ports-config`: the ports are read again at the next
/// activation.
impl HostAudioPortsConfigImpl for HostMain {
    fn rescan(&self) {
        if self.shared.check_main("audio_ports_config.rescan") {
            self.shared.ports_rescan.store(true, Ordering::Release);
        }
    }
}

impl AudioProcessorHandler<'_> for HostAudio {}

/// CLAP `thread-pool`: the plugin's tasks run on its own thread and any
/// idle thread of the engine's worker pool (`core::tasks::run_tasks`); without
/// a pool (`--threads 1`, a sandbox child) they run here in order. Each
/// task runs as the audio thread (thread-check says so). Refused outside
/// the plugin's process call, as the spec asks.
impl HostThreadPoolImpl for HostAudio {
    fn request_exec(&mut self, task_count: u32) -> Result<(), HostError> {
        if !in_audio_thread() {
            return Err(HostError::Message(
                "thread_pool.request_exec outside the process call",
            ));
        }
        let Some(exec) = self.shared.task_exec.get().copied() else {
            return Err(HostError::Message("the plugin has no thread-pool exec"));
        };
        stagerack_core::tasks::run_tasks(task_count as usize, &|i| {
            let _audio = AudioThreadScope::enter();
            exec.run(i as u32);
        });
        self.shared.task_requests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl HostHandlers for StageHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMain;
    type AudioProcessor<'a> = HostAudio;

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<SafeHostLog>()
            .register::<HostThreadCheck>()
            .register::<HostParams>()
            .register::<HostState>()
            .register::<HostLatency>()
            .register::<HostTail>()
            .register::<HostAudioPorts>()
            .register::<HostNotePorts>()
            .register::<SafeHostTimer>()
            .register::<HostGui>()
            .register::<HostThreadPool>()
            .register::<HostTrackInfo>()
            .register::<HostNoteName>()
            .register::<HostVoiceInfo>()
            .register::<HostAudioPortsConfig>()
            .register::<HostPresetLoad>()
            .register::<HostRemoteControls>();
        #[cfg(unix)]
        builder.register::<HostPosixFd>();
    }
}

impl HostGuiImpl for HostShared {
    fn resize_hints_changed(&self) {}

    /// Accepted when a positive size; the pump resizes the window.
    fn request_resize(&self, new_size: GuiSize) -> Result<(), HostError> {
        if self
            .shared
            .editor_resize
            .ask(new_size.width, new_size.height)
        {
            Ok(())
        } else {
            Err(HostError::Message("an editor needs a size above 0×0"))
        }
    }

    /// Editors are shown while open; nothing else to do.
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }

    /// Hiding an embedded editor means closing its window here.
    fn request_hide(&self) -> Result<(), HostError> {
        self.shared.editor_closed.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn closed(&self, _was_destroyed: bool) {
        self.shared.editor_closed.store(true, Ordering::Relaxed);
    }
}

impl HostThreadCheckImpl for HostShared {
    fn is_main_thread(&self) -> bool {
        self.shared.is_main_thread()
    }

    fn is_audio_thread(&self) -> bool {
        self.shared.is_audio_thread()
    }
}

impl HostParamsImplShared for HostShared {
    fn request_flush(&self) {
        self.shared.flush_requested.store(true, Ordering::Release);
    }
}

impl HostParamsImplMainThread for HostMain {
    fn rescan(&self, _flags: ParamRescanFlags) {
        if self.shared.check_main("params.rescan") {
            self.shared.params_rescan.store(true, Ordering::Release);
        }
    }

    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {
        // We keep no per-parameter automation or modulation to clear; the
        // cached list is refreshed in case the parameter went away.
        if self.shared.check_main("params.clear") {
            self.shared.params_rescan.store(true, Ordering::Release);
        }
    }
}

impl HostStateImpl for HostMain {
    fn mark_dirty(&self) {
        if self.shared.check_main("state.mark_dirty") {
            self.shared.state_dirty.store(true, Ordering::Release);
        }
    }
}

impl HostLatencyImpl for HostMain {
    fn changed(&self) {
        if self.shared.check_main("latency.changed") {
            self.shared.latency_changed.store(true, Ordering::Release);
        }
    }
}

impl HostTailImpl for HostAudio {
    fn changed(&mut self) {
        self.shared.tail_changed.store(true, Ordering::Release);
    }
}

impl HostAudioPortsImpl for HostMain {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        // Any change is picked up at the next activation.
        true
    }

    fn rescan(&self, _flags: AudioPortRescanFlags) {
        if self.shared.check_main("audio_ports.rescan") {
            self.shared.ports_rescan.store(true, Ordering::Release);
        }
    }
}

impl HostNotePortsImpl for HostMain {
    fn supported_dialects(&self) -> NoteDialects {
        NoteDialects::CLAP | NoteDialects::MIDI
    }

    fn rescan(&self, _flags: NotePortRescanFlags) {
        if self.shared.check_main("note_ports.rescan") {
            self.shared.ports_rescan.store(true, Ordering::Release);
        }
    }
}

#[cfg(unix)]
impl HostPosixFdImpl for HostMain {
    fn register_fd(&self, fd: i32, flags: FdFlags) -> Result<(), HostError> {
        if !self.shared.check_main("posix_fd_support.register_fd") {
            return Err(HostError::Message("register_fd called off the main thread"));
        }
        let mut fds = self.fds.borrow_mut();
        if fds.iter().any(|(f, _)| *f == fd) {
            return Err(HostError::Message("fd already registered"));
        }
        fds.push((fd, flags));
        Ok(())
    }

    fn modify_fd(&self, fd: i32, flags: FdFlags) -> Result<(), HostError> {
        if !self.shared.check_main("posix_fd_support.modify_fd") {
            return Err(HostError::Message("modify_fd called off the main thread"));
        }
        match self.fds.borrow_mut().iter_mut().find(|(f, _)| *f == fd) {
            Some(entry) => {
                entry.1 = flags;
                Ok(())
            }
            None => Err(HostError::Message("fd not registered")),
        }
    }

    fn unregister_fd(&self, fd: i32) -> Result<(), HostError> {
        if !self.shared.check_main("posix_fd_support.unregister_fd") {
            return Err(HostError::Message(
                "unregister_fd called off the main thread",
            ));
        }
        let mut fds = self.fds.borrow_mut();
        let before = fds.len();
        fds.retain(|(f, _)| *f != fd);
        if fds.len() == before {
            Err(HostError::Message("fd not registered"))
        } else {
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Hand-written host extensions (log, timer): every pointer from the plugin
// is null-checked and everything runs inside `catch_unwind`.

/// Complaints (`CLAP_LOG_HOST_MISBEHAVING`) kept per instance between two
/// reports; more are still logged.
const MAX_KEPT_COMPLAINTS: usize = 16;

/// Host `clap.log`, with the message pointer checked and audio-thread
/// messages counted instead of formatted (formatting allocates). A plugin
/// saying the host misbehaves is kept for [`ClapShared::take_complaints`],
/// which the session turns into a warning naming plugin and rack.
#[derive(Clone, Copy)]
pub(crate) struct SafeHostLog(#[allow(dead_code)] RawExtension<HostExtensionSide, clap_host_log>);

// SAFETY: the identifier is CLAP's log extension and the struct pointed to
// is a `clap_host_log`, matching the host side of that extension.
unsafe impl Extension for SafeHostLog {
    const IDENTIFIERS: &'static [&'static CStr] = &[CLAP_EXT_LOG];
    type ExtensionSide = HostExtensionSide;

    unsafe fn from_raw(raw: RawExtension<Self::ExtensionSide>) -> Self {
        // SAFETY: the caller guarantees the pointer is a `clap_host_log`.
        Self(unsafe { raw.cast() })
    }
}

// SAFETY: `IMPLEMENTATION` is a valid, 'static `clap_host_log` whose
// function expects a host created with `StageHost`.
unsafe impl ExtensionImplementation<StageHost> for SafeHostLog {
    const IMPLEMENTATION: RawExtensionImplementation =
        RawExtensionImplementation::new(&clap_host_log {
            log: Some(host_log),
        });
}

unsafe extern "C" fn host_log(
    host: *const clap_host,
    severity: clap_log_severity,
    msg: *const c_char,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() {
            return;
        }
        // SAFETY: `host` is non-null and is the `clap_host` we gave this
        // plugin; `HostWrapper::handle` checks its host_data and catches
        // panics.
        unsafe {
            HostWrapper::<StageHost>::handle(host, |w| {
                let shared = &w.shared().shared;
                if in_audio_thread() {
                    shared.audio_thread_logs.fetch_add(1, Ordering::Relaxed);
                    if severity == CLAP_LOG_HOST_MISBEHAVING {
                        shared
                            .audio_thread_complaints
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                if msg.is_null() {
                    tracing::warn!("{} logged a null message", shared.label);
                    return Ok(());
                }
                // (Inside the unsafe block above.) `msg` is non-null, and the
                // plugin promises a NUL-terminated string valid for the
                // duration of this call.
                let text = CStr::from_ptr(msg).to_string_lossy();
                let who = &shared.label;
                match severity {
                    CLAP_LOG_DEBUG => tracing::debug!("{who}: {text}"),
                    CLAP_LOG_INFO => tracing::info!("{who}: {text}"),
                    CLAP_LOG_WARNING => tracing::warn!("{who}: {text}"),
                    CLAP_LOG_ERROR | CLAP_LOG_FATAL => tracing::error!("{who}: {text}"),
                    CLAP_LOG_HOST_MISBEHAVING => {
                        tracing::error!("{who} says the host misbehaves: {text}");
                        if let Ok(mut kept) = shared.complaints.lock() {
                            // A plugin repeating itself is told once per kind.
                            if kept.len() < MAX_KEPT_COMPLAINTS && !kept.iter().any(|k| *k == text)
                            {
                                kept.push(text.into_owned());
                            }
                        }
                    }
                    CLAP_LOG_PLUGIN_MISBEHAVING => {
                        tracing::warn!("{who} misbehaves: {text}")
                    }
                    _ => tracing::info!("{who}: {text}"),
                }
                Ok(())
            });
        }
    }));
}

/// Host `clap.timer-support`, with the out-pointer checked.
#[derive(Clone, Copy)]
pub(crate) struct SafeHostTimer(
    #[allow(dead_code)] RawExtension<HostExtensionSide, clap_host_timer_support>,
);

// SAFETY: the identifier is CLAP's timer-support extension and the struct
// pointed to is a `clap_host_timer_support`.
unsafe impl Extension for SafeHostTimer {
    const IDENTIFIERS: &'static [&'static CStr] = &[CLAP_EXT_TIMER_SUPPORT];
    type ExtensionSide = HostExtensionSide;

    unsafe fn from_raw(raw: RawExtension<Self::ExtensionSide>) -> Self {
        // SAFETY: the caller guarantees the pointer is a `clap_host_timer_support`.
        Self(unsafe { raw.cast() })
    }
}

// SAFETY: `IMPLEMENTATION` is a valid, 'static `clap_host_timer_support`
// whose functions expect a host created with `StageHost`.
unsafe impl ExtensionImplementation<StageHost> for SafeHostTimer {
    const IMPLEMENTATION: RawExtensionImplementation =
        RawExtensionImplementation::new(&clap_host_timer_support {
            register_timer: Some(host_register_timer),
            unregister_timer: Some(host_unregister_timer),
        });
}

unsafe extern "C" fn host_register_timer(
    host: *const clap_host,
    period_ms: u32,
    timer_id: *mut u32,
) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() || timer_id.is_null() {
            return false;
        }
        // SAFETY: `host` is our non-null `clap_host`; the wrapper checks
        // host_data and catches panics.
        let id = unsafe {
            HostWrapper::<StageHost>::handle_main_thread(host, |m| {
                Ok(m.register_timer_checked(period_ms))
            })
        }
        .flatten();
        // SAFETY: `timer_id` is non-null and points to the plugin's u32.
        unsafe { *timer_id = id.unwrap_or(u32::MAX) };
        id.is_some()
    }))
    .unwrap_or(false)
}

unsafe extern "C" fn host_unregister_timer(host: *const clap_host, timer_id: u32) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        if host.is_null() {
            return false;
        }
        // SAFETY: `host` is our non-null `clap_host`; the wrapper checks
        // host_data and catches panics.
        unsafe {
            HostWrapper::<StageHost>::handle_main_thread(host, |m| {
                Ok(m.unregister_timer_checked(timer_id))
            })
        }
        .unwrap_or(false)
    }))
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_check_is_truthful() {
        let shared = Arc::new(ClapShared::new("test".into()));
        assert!(shared.is_main_thread());
        assert!(!shared.is_audio_thread());
        {
            let _scope = AudioThreadScope::enter();
            assert!(shared.is_audio_thread());
            // The main thread acting as the audio thread (offline render)
            // is not the main thread for the plugin's purposes.
            assert!(!shared.is_main_thread());
        }
        assert!(shared.is_main_thread());
        let s = shared.clone();
        std::thread::spawn(move || {
            assert!(!s.is_main_thread());
            assert!(!s.is_audio_thread());
            let _scope = AudioThreadScope::enter();
            assert!(s.is_audio_thread());
            assert!(!s.is_main_thread());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn main_thread_host_calls_from_elsewhere_are_refused_and_counted() {
        let shared = Arc::new(ClapShared::new("test".into()));
        let main = HostMain::new(shared.clone());
        assert!(main.register_timer_checked(5).is_some());
        assert_eq!(shared.host_thread_violations(), 0);
        {
            let _scope = AudioThreadScope::enter();
            assert!(main.register_timer_checked(5).is_none());
        }
        assert_eq!(shared.host_thread_violations(), 1);
        assert_eq!(main.timer_count(), 1);
        let s = shared.clone();
        std::thread::spawn(move || {
            assert!(!s.check_main("test"));
        })
        .join()
        .unwrap();
        assert_eq!(shared.host_thread_violations(), 2);
    }

    #[test]
    fn timers_come_due_and_reschedule() {
        let shared = Arc::new(ClapShared::new("test".into()));
        let main = HostMain::new(shared);
        let id = main.register_timer_checked(10).unwrap();
        let t0 = Instant::now();
        assert!(main.take_due_timers(t0).is_empty());
        let later = t0 + Duration::from_millis(20);
        assert_eq!(main.take_due_timers(later), vec![id]);
        assert!(main.take_due_timers(later).is_empty());
        assert!(main.next_timer_due().unwrap() > later);
        assert!(main.unregister_timer_checked(id));
        assert!(!main.unregister_timer_checked(id));
        assert_eq!(main.timer_count(), 0);
    }
}
