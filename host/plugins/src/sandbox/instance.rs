//! The engine's main-thread handle of a sandboxed plugin. It forwards every
//! `PluginInstance` call to the child, keeps the plugin's state (captured at
//! load, after each edit and every few seconds while it plays), and
//! supervises the child from the pump: a child that died or stopped
//! answering is killed and relaunched, the plugin re-created there with the
//! state last captured, and the audio side picks it up without a swap
//! (same shared region, a new generation). Main thread.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stagerack_core::editor::{EditorRequest, ParentWindow, PluginEditor};
use stagerack_core::plugin::{
    AudioProcessor, HostContext, NoteName, ParamId, ParamInfo, PluginDescriptor, PluginError,
    PluginInstance, ProcessConfig, ProgramList, RemotePage, Tail,
};

use super::process::{SharedSandbox, CRASH_WINDOW, MAX_CRASHES};
use super::processor::{SandboxStats, SandboxedProcessor};
use super::rpc::{self, Reply, Request, RpcError, WireExtras};
use super::shm::SharedRegion;
use crate::def::PluginDef;

/// A child that has not answered at all (not even late) this long counts
/// as hung: it is killed and relaunched.
pub const STALL_LIMIT: Duration = Duration::from_millis(500);

/// Missed blocks are reported at most this often (with how many since the
/// last report): a plugin too slow for the buffer is named without
/// flooding the log every pump.
pub const MISSED_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// A child that missed nine blocks in ten for this long is demoted to
/// normal priority (a burst of misses on a loaded machine is not enough:
/// demoting a healthy child makes it miss more).
pub const DEMOTE_AFTER: Duration = Duration::from_millis(500);

/// A demoted child is given real-time priority again after it missed
/// fewer than one block in ten for this long.
pub const PROMOTE_AFTER: Duration = Duration::from_secs(3);

/// How often the state of a playing plugin is captured for a relaunch.
pub const CAPTURE_INTERVAL: Duration = Duration::from_secs(3);

/// How often the pump looks after a sandboxed plugin (the child services
/// the plugin's own main-thread work every 10 ms by itself; this is the
/// engine's watch and the plugin's reports). Each look is a round trip on
/// the pipes; measured live, looking every 5 ms made the engine's own
/// audio thread miss more deadlines than looking every 50 ms.
pub const PUMP_INTERVAL: Duration = Duration::from_millis(50);

/// See the module doc. Main thread.
pub struct SandboxedInstance {
    sandbox: SharedSandbox,
    /// The plugin's index in the child (of launch `launch`).
    index: u32,
    launch: u32,
    region: Arc<SharedRegion>,
    stats: Arc<SandboxStats>,
    def: PluginDef,
    descriptor: PluginDescriptor,
    params: Vec<ParamInfo>,
    /// The last state captured, and when.
    state: Option<(Vec<u8>, Instant)>,
    /// An edit since the last capture.
    dirty: bool,
    active: Option<ProcessConfig>,
    needs_restart: bool,
    changes: Vec<(ParamId, f64)>,
    notices: Vec<String>,
    off_reported: bool,
    /// Latency and tail as the child last reported them.
    latency: u32,
    tail: Tail,
    last_pump: Instant,
    /// Missed blocks already reported, and when the last report was.
    missed_reported: (u64, Option<Instant>),
    /// The child can show the plugin's editor.
    has_editor: bool,
    /// The engine's X11 window the editor sits in while it is open: a
    /// relaunched child puts the plugin's GUI back into it.
    editor_window: Option<u64>,
    /// The open editor is the plugin's own floating window, with the
    /// title it was shown with (shown again after a relaunch).
    editor_floating: Option<String>,
    /// The created editor is floating (not yet shown).
    editor_created_floating: bool,
    /// What the plugin asked of its open editor, from the child's pumps.
    editor_requests: Vec<EditorRequest>,
    /// Missed blocks at the last priority watch, and when it was.
    priority_watch: (u64, Instant),
    /// Since when it has missed nine blocks in ten (`.0`), or fewer than
    /// one in ten (`.1`), pump interval after pump interval.
    late_since: (Option<Instant>, Option<Instant>),
    /// Where the plugin sits, as last told (told again to a relaunched
    /// child).
    context: Option<HostContext>,
    /// Key names, voices and programs as last asked, and when: one round
    /// trip serves a snapshot's three questions.
    extras: RefCell<Option<(Instant, WireExtras)>>,
    /// The names of its extra outputs, once the child has told them.
    aux_names: RefCell<Option<Vec<String>>>,
}

/// How long [`SandboxedInstance`]'s answer about key names, voices and
/// programs is taken as current.
const EXTRAS_FRESH: Duration = Duration::from_millis(100);

fn format_error(e: impl std::fmt::Display) -> PluginError {
    PluginError::Format(e.to_string().into())
}

impl SandboxedInstance {
    /// Loads `def` into `sandbox`'s child. Main thread.
    pub fn load(def: &PluginDef, sandbox: &SharedSandbox) -> Result<Self, PluginError> {
        let region = Arc::new(SharedRegion::create().map_err(format_error)?);
        let (index, descriptor, has_editor) = load_into(def, sandbox, &region)?;
        let launch = sandbox.borrow().launch_number();
        let mut me = SandboxedInstance {
            sandbox: sandbox.clone(),
            index,
            launch,
            region,
            stats: Arc::new(SandboxStats::default()),
            def: def.clone(),
            descriptor,
            params: Vec::new(),
            state: None,
            dirty: true,
            active: None,
            needs_restart: false,
            changes: Vec::new(),
            notices: Vec::new(),
            off_reported: false,
            latency: 0,
            tail: Tail::None,
            last_pump: Instant::now(),
            missed_reported: (0, None),
            has_editor,
            editor_window: None,
            editor_floating: None,
            editor_created_floating: false,
            editor_requests: Vec::new(),
            priority_watch: (0, Instant::now()),
            late_since: (None, None),
            context: None,
            extras: RefCell::new(None),
            aux_names: RefCell::new(None),
        };
        me.params = match me.ask(Request::Params { index })? {
            Reply::Params { params } => params,
            other => return Err(unexpected(&other)),
        };
        me.capture();
        me.refresh_info();
        Ok(me)
    }

    /// Blocks the child did not answer in time since load (silence
    /// instead). Main thread.
    pub fn missed_blocks(&self) -> u64 {
        self.stats.missed.load(Ordering::Relaxed)
    }

    /// How long the child's audio thread has spent polling for the
    /// engine's next buffer since it was launched (see
    /// `sandbox::anticipate`). Main thread.
    pub fn poll_time(&self) -> Duration {
        let sandbox = self.sandbox.borrow();
        Duration::from_nanos(sandbox.page().get().poll_ns.load(Ordering::Relaxed))
    }

    /// Requests the child took up while polling for them (no wake-up
    /// needed), for any of its plugins, since it was launched. Main thread.
    pub fn polled_requests(&self) -> u64 {
        let sandbox = self.sandbox.borrow();
        sandbox.page().get().polled_requests.load(Ordering::Relaxed)
    }

    fn ask(&mut self, request: Request) -> Result<Reply, PluginError> {
        if self.launch != self.sandbox.borrow().launch_number() {
            return Err(format_error(RpcError::Gone(
                "it is being relaunched".into(),
            )));
        }
        let reply = self.sandbox.borrow_mut().ask(&request).map_err(|e| {
            // The child is gone or hung (and killed): the audio side stops
            // asking it until a relaunched one is ready.
            self.region.header().ready.store(0, Ordering::Release);
            PluginError::Other {
                plugin: self.descriptor_name(),
                reason: format!("{e}"),
            }
        })?;
        match reply {
            Reply::Err { message } => Err(PluginError::Other {
                plugin: self.descriptor_name(),
                reason: message,
            }),
            other => Ok(other),
        }
    }

    fn descriptor_name(&self) -> String {
        self.descriptor.name.clone()
    }

    /// Saves the plugin's state for a relaunch.
    fn capture(&mut self) {
        if let Ok(Reply::State { state }) = self.ask(Request::SaveState { index: self.index }) {
            if let Ok(bytes) = rpc::decode_state(&state) {
                self.state = Some((bytes, Instant::now()));
                self.dirty = false;
            }
        }
    }

    /// Watches the child; relaunches it and this plugin in it when needed.
    fn supervise(&mut self) {
        // The sound stopped when the child first missed a block, which is
        // before the pump noticed the death.
        let silent_since = self.stats.stalled_for().map(|d| Instant::now() - d);
        let mut sb = self.sandbox.borrow_mut();
        if sb.launch_number() == self.launch && sb.check_alive() && self.active.is_some() {
            if let Some(stall) = self.stats.stalled_for() {
                if stall >= STALL_LIMIT {
                    sb.kill(&format!(
                        "stopped answering (no sound for {} ms)",
                        stall.as_millis()
                    ));
                }
            }
        }
        if sb.death().is_some() || sb.launch_number() != self.launch {
            self.region.header().ready.store(0, Ordering::Release);
        }
        if sb.is_off() {
            if !self.off_reported {
                self.off_reported = true;
                let why = sb.death().map(|(_, w)| w.clone()).unwrap_or_default();
                self.notices.push(format!(
                    "plugin `{}` {why}: {MAX_CRASHES} crashes within {} s, it stays off \
                     (remove or replace it; loading the preset again tries it again)",
                    self.descriptor.name,
                    CRASH_WINDOW.as_secs()
                ));
            }
            return;
        }
        let died = sb
            .death()
            .cloned()
            .map(|(at, why)| (silent_since.map_or(at, |s| s.min(at)), why));
        // Dead (whoever noticed, whichever launch this plugin was in, a
        // failed revive included): launch a fresh child.
        if died.is_some() {
            if let Err(e) = sb.relaunch() {
                self.notices
                    .push(format!("plugin `{}`: {e}", self.descriptor.name));
                return;
            }
        }
        if sb.launch_number() == self.launch {
            return;
        }
        drop(sb);
        self.revive(died);
    }

    /// Names the plugin when its child missed blocks since the last report
    /// (at most every [`MISSED_REPORT_INTERVAL`]).
    fn report_missed(&mut self) {
        let missed = self.missed_blocks();
        let (reported, at) = self.missed_reported;
        if missed <= reported || at.is_some_and(|t| t.elapsed() < MISSED_REPORT_INTERVAL) {
            return;
        }
        let since = at.map_or_else(
            || "since it was loaded".to_owned(),
            |t| format!("in the last {} s", t.elapsed().as_secs()),
        );
        self.notices.push(format!(
            "plugin `{}` missed {} blocks {since} (silence instead: its sandbox answered \
             after the deadline; a larger buffer, or fewer plugins on this core, gives it \
             more time)",
            self.descriptor.name,
            missed - reported
        ));
        self.missed_reported = (missed, Some(Instant::now()));
    }

    /// Demotes the child's audio thread to normal priority when it has
    /// missed nine blocks in ten for [`DEMOTE_AFTER`] (a plugin too heavy
    /// for the buffer, or runaway): at real-time priority it would hold a
    /// core however late it is, beside the engine's and the driver's own
    /// threads (sandbox_live's slow scenario, two cores: 1600-2000 xruns in
    /// 4 s before, about half after). Real-time again once it has missed
    /// fewer than one block in ten for [`PROMOTE_AFTER`]. A burst of misses
    /// is not enough: demoting a healthy child on a loaded machine made it
    /// miss more (`bench sandbox 64 30`: 1583 misses when one half-missed
    /// pump interval demoted, 183 with this rule).
    fn watch_priority(&mut self) {
        let missed = self.missed_blocks();
        let (before, since) = std::mem::replace(&mut self.priority_watch, (missed, Instant::now()));
        let Some(config) = self.active else {
            return;
        };
        let h = self.region.header();
        let demoted = h.demoted.load(Ordering::Relaxed) != 0;
        let block = f64::from(config.max_block) / config.sample_rate;
        let share = (missed - before) as f64 * block / since.elapsed().as_secs_f64().max(1e-3);
        let now = Instant::now();
        let (late, clean) = &mut self.late_since;
        if share >= 0.9 {
            late.get_or_insert(now);
            *clean = None;
        } else if share < 0.1 {
            clean.get_or_insert(now);
            *late = None;
        } else {
            (*late, *clean) = (None, None);
        }
        if !demoted && late.is_some_and(|t| t.elapsed() >= DEMOTE_AFTER) {
            h.demoted.store(1, Ordering::Relaxed);
            self.notices.push(format!(
                "plugin `{}` missed most of its blocks: its sandbox runs at normal priority \
                 until it keeps up for {} s, so it cannot take the CPU from the other racks",
                self.descriptor.name,
                PROMOTE_AFTER.as_secs()
            ));
        } else if demoted && clean.is_some_and(|t| t.elapsed() >= PROMOTE_AFTER) {
            h.demoted.store(0, Ordering::Relaxed);
            tracing::info!(
                "plugin `{}` keeps up again: its sandbox is back at real-time priority",
                self.descriptor.name
            );
        }
    }

    /// Loads this plugin into the relaunched child with its last state.
    fn revive(&mut self, died: Option<(Instant, String)>) {
        let region = self.region.clone();
        let h = region.header();
        h.ready.store(0, Ordering::Release);
        // A new child starts at the priority the engine tells it.
        h.demoted.store(0, Ordering::Relaxed);
        self.late_since = (None, None);
        let mut def = self.def.clone();
        if let Some((bytes, _)) = &self.state {
            def.state = Some(rpc::encode_state(bytes));
            def.params.clear();
        }
        let result = load_into(&def, &self.sandbox, &self.region).and_then(|(index, ..)| {
            self.index = index;
            self.launch = self.sandbox.borrow().launch_number();
            if let Some(config) = self.active {
                self.ask(Request::Activate {
                    index,
                    config: (&config).into(),
                })?;
            }
            Ok(())
        });
        let (since, why) = died.unwrap_or_else(|| (Instant::now(), "was relaunched".into()));
        match result {
            Ok(()) => {
                self.stats.clear_stall();
                // The blocks lost to the death are this report's, not a
                // slow plugin's.
                self.missed_reported.0 = self.missed_blocks();
                if self.active.is_some() {
                    h.generation.fetch_add(1, Ordering::AcqRel);
                    h.ready.store(1, Ordering::Release);
                }
                let age = self
                    .state
                    .as_ref()
                    .map(|(_, at)| format!("its state from {} s ago", at.elapsed().as_secs()))
                    .unwrap_or_else(|| "its preset state".into());
                self.notices.push(format!(
                    "plugin `{}` {why}, back in {} ms with {age}",
                    self.descriptor.name,
                    since.elapsed().as_millis()
                ));
                if let Some(context) = self.context.clone() {
                    self.set_host_context(&context);
                }
                self.reopen_editor();
            }
            Err(e) => {
                // Counted as a crash of the new child: three and it is off.
                self.sandbox
                    .borrow_mut()
                    .kill(&format!("could not be relaunched: {e}"));
            }
        }
    }
}

impl SandboxedInstance {
    /// Puts the plugin's GUI back into the engine's editor window after a
    /// relaunch (the old child's windows died with it).
    fn reopen_editor(&mut self) {
        if self.editor_window.is_none() && self.editor_floating.is_none() {
            return;
        }
        let reopened = match self.ask(Request::CreateEditor { index: self.index }) {
            Ok(Reply::EditorSize { width, height, .. }) => {
                let shown = match (self.editor_window, self.editor_floating.clone()) {
                    (Some(window), _) => self.ask(Request::AttachEditor {
                        index: self.index,
                        window,
                    }),
                    (None, Some(title)) => self.ask(Request::ShowFloating {
                        index: self.index,
                        title,
                    }),
                    (None, None) => Ok(Reply::Ok),
                };
                shown.map(|_| (width, height))
            }
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(e),
        };
        match reopened {
            // The window follows the size the new GUI came up at.
            Ok((width, height)) => self
                .editor_requests
                .push(EditorRequest::Resize(width, height)),
            Err(e) => {
                self.editor_window = None;
                self.editor_floating = None;
                self.editor_requests.push(EditorRequest::Closed);
                self.notices.push(format!(
                    "plugin `{}`: its editor could not be opened again after the relaunch \
                     ({e}); open it again from the rack",
                    self.descriptor.name
                ));
            }
        }
    }
}

impl PluginEditor for SandboxedInstance {
    fn create_editor(&mut self) -> Result<(u32, u32), PluginError> {
        match self.ask(Request::CreateEditor { index: self.index })? {
            Reply::EditorSize {
                width,
                height,
                floating,
            } => {
                self.editor_created_floating = floating;
                Ok((width, height))
            }
            other => Err(unexpected(&other)),
        }
    }

    fn is_floating(&self) -> bool {
        self.editor_created_floating
    }

    fn show_floating(&mut self, title: &str) -> Result<(), PluginError> {
        self.ask(Request::ShowFloating {
            index: self.index,
            title: title.to_owned(),
        })?;
        self.editor_floating = Some(title.to_owned());
        Ok(())
    }

    fn attach_editor(&mut self, parent: ParentWindow) -> Result<(), PluginError> {
        let ParentWindow::X11(window) = parent else {
            return Err(format_error(
                "a sandboxed plugin's editor embeds in X11 windows only",
            ));
        };
        self.ask(Request::AttachEditor {
            index: self.index,
            window,
        })?;
        self.editor_window = Some(window);
        Ok(())
    }

    fn destroy_editor(&mut self) {
        self.editor_window = None;
        self.editor_floating = None;
        self.editor_created_floating = false;
        self.editor_requests.clear();
        let _ = self.ask(Request::DestroyEditor { index: self.index });
    }

    fn editor_resized(&mut self, width: u32, height: u32) {
        let _ = self.ask(Request::EditorResized {
            index: self.index,
            width,
            height,
        });
    }

    fn take_editor_requests(&mut self, out: &mut Vec<EditorRequest>) {
        out.append(&mut self.editor_requests);
    }
}

fn unexpected(reply: &Reply) -> PluginError {
    format_error(format!("the sandbox answered out of turn: {reply:?}"))
}

/// Asks `sandbox`'s child to load `def` on `region`.
fn load_into(
    def: &PluginDef,
    sandbox: &SharedSandbox,
    region: &SharedRegion,
) -> Result<(u32, PluginDescriptor, bool), PluginError> {
    let reply = sandbox
        .borrow_mut()
        .ask(&Request::Load {
            def: Box::new(PluginDef {
                file: def.file_path(),
                ..def.clone()
            }),
            pid: std::process::id(),
            fd: region.raw_fd(),
        })
        .map_err(|e| PluginError::Other {
            plugin: def.label(),
            reason: format!("in its sandbox: {e}"),
        })?;
    match reply {
        Reply::Loaded {
            index,
            descriptor,
            has_editor,
        } => Ok((index, descriptor, has_editor)),
        Reply::Err { message } => Err(format_error(message)),
        other => Err(unexpected(&other)),
    }
}

impl PluginInstance for SandboxedInstance {
    fn descriptor(&self) -> &PluginDescriptor {
        &self.descriptor
    }

    fn params(&self) -> Vec<ParamInfo> {
        self.params.clone()
    }

    fn param_value(&self, id: ParamId) -> Option<f64> {
        if self.launch != self.sandbox.borrow().launch_number() {
            return None;
        }
        match self.sandbox.borrow_mut().ask(&Request::ParamValue {
            index: self.index,
            id,
        }) {
            Ok(Reply::Value { value }) => value,
            _ => None,
        }
    }

    fn param_text(&self, id: ParamId, value: f64) -> Option<String> {
        if self.launch != self.sandbox.borrow().launch_number() {
            return None;
        }
        match self.sandbox.borrow_mut().ask(&Request::ParamText {
            index: self.index,
            id,
            value,
        }) {
            Ok(Reply::Text { text }) => text,
            _ => None,
        }
    }

    fn set_param(&mut self, id: ParamId, value: f64) -> Result<(), PluginError> {
        self.ask(Request::SetParam {
            index: self.index,
            id,
            value,
        })?;
        self.dirty = true;
        Ok(())
    }

    fn activate(&mut self, config: &ProcessConfig) -> Result<Box<dyn AudioProcessor>, PluginError> {
        self.ask(Request::Activate {
            index: self.index,
            config: config.into(),
        })?;
        self.active = Some(*config);
        self.refresh_info();
        let h = self.region.header();
        h.generation.fetch_add(1, Ordering::AcqRel);
        h.ready.store(1, Ordering::Release);
        self.stats.clear_stall();
        Ok(Box::new(SandboxedProcessor::new(
            self.region.clone(),
            self.sandbox.borrow().page().clone(),
            self.stats.clone(),
            config,
        )))
    }

    fn deactivate(&mut self, processor: Box<dyn AudioProcessor>) {
        drop(processor);
        self.region.header().ready.store(0, Ordering::Release);
        self.active = None;
        self.needs_restart = false;
        let _ = self.ask(Request::Deactivate { index: self.index });
    }

    fn save_state(&mut self) -> Result<Vec<u8>, PluginError> {
        match self.ask(Request::SaveState { index: self.index })? {
            Reply::State { state } => {
                let bytes = rpc::decode_state(&state).map_err(format_error)?;
                self.state = Some((bytes.clone(), Instant::now()));
                self.dirty = false;
                Ok(bytes)
            }
            other => Err(unexpected(&other)),
        }
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError> {
        self.ask(Request::LoadState {
            index: self.index,
            state: rpc::encode_state(state),
        })?;
        self.dirty = true;
        self.refresh_info();
        Ok(())
    }

    fn latency(&self) -> u32 {
        self.latency
    }

    fn tail(&self) -> Tail {
        self.tail
    }

    fn on_main_thread(&mut self) {
        if self.last_pump.elapsed() < PUMP_INTERVAL {
            return;
        }
        self.last_pump = Instant::now();
        self.supervise();
        self.report_missed();
        self.watch_priority();
        if self.launch != self.sandbox.borrow().launch_number() {
            return;
        }
        if let Ok(Reply::Pumped {
            needs_restart,
            changes,
            latency,
            tail,
            editor,
            notices,
        }) = self.ask(Request::Pump { index: self.index })
        {
            if self.editor_window.is_some() || self.editor_floating.is_some() {
                self.editor_requests
                    .extend(editor.into_iter().map(EditorRequest::from));
            }
            self.notices.extend(notices);
            self.latency = latency;
            self.tail = rpc::tail_from_wire(tail);
            self.needs_restart |= needs_restart;
            if !changes.is_empty() {
                self.dirty = true;
            }
            self.changes.extend(changes);
        }
        let stale = self
            .state
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= CAPTURE_INTERVAL);
        if self.dirty || (self.active.is_some() && stale) {
            self.capture();
        }
    }

    fn needs_restart(&self) -> bool {
        self.needs_restart
    }

    fn host_changed_param(&mut self, id: ParamId, value: f64) {
        self.dirty = true;
        let _ = self.ask(Request::HostChangedParam {
            index: self.index,
            id,
            value,
        });
    }

    fn take_param_changes(&mut self, out: &mut Vec<(ParamId, f64)>) {
        out.append(&mut self.changes);
    }

    fn take_notices(&mut self, out: &mut Vec<String>) {
        out.append(&mut self.notices);
    }

    fn has_editor(&self) -> bool {
        self.has_editor
    }

    fn set_host_context(&mut self, context: &HostContext) {
        self.context = Some(context.clone());
        let _ = self.ask(Request::SetHostContext {
            index: self.index,
            rack: context.rack.clone(),
            mapped: context.mapped.clone(),
        });
    }

    fn note_names(&self) -> Vec<NoteName> {
        self.extras()
            .note_names
            .into_iter()
            .map(|(key, channel, name)| NoteName { key, channel, name })
            .collect()
    }

    fn aux_outputs(&self) -> Vec<String> {
        // A plugin's outputs do not change while it lives: kept from the
        // first answer, so a commit while the child is away (relaunching)
        // routes them as before.
        if let Some(names) = &*self.aux_names.borrow() {
            return names.clone();
        }
        if self.launch != self.sandbox.borrow().launch_number() {
            return Vec::new();
        }
        let names = self.extras().aux_outputs;
        if !names.is_empty() {
            *self.aux_names.borrow_mut() = Some(names.clone());
        }
        names
    }

    fn voice_capacity(&self) -> Option<u32> {
        self.extras().voices
    }

    fn programs(&self) -> Option<ProgramList> {
        self.extras()
            .programs
            .map(|(param, names)| ProgramList { param, names })
    }

    fn load_program(&mut self, index: usize) -> Result<(), PluginError> {
        self.ask(Request::LoadProgram {
            index: self.index,
            program: index,
        })?;
        self.dirty = true;
        *self.extras.borrow_mut() = None;
        Ok(())
    }

    fn current_program(&self) -> Option<usize> {
        self.extras().current_program
    }

    fn remote_pages(&self) -> Vec<RemotePage> {
        self.extras()
            .remote_pages
            .into_iter()
            .map(|(section, name, params)| RemotePage {
                section,
                name,
                params,
            })
            .collect()
    }

    fn editor(&mut self) -> Option<&mut dyn PluginEditor> {
        if self.has_editor {
            Some(self)
        } else {
            None
        }
    }
}

impl SandboxedInstance {
    /// The plugin's key names, voices and programs (asked at most every
    /// [`EXTRAS_FRESH`]; nothing while the child is away).
    fn extras(&self) -> WireExtras {
        if let Some((at, extras)) = &*self.extras.borrow() {
            if at.elapsed() < EXTRAS_FRESH {
                return extras.clone();
            }
        }
        if self.launch != self.sandbox.borrow().launch_number() {
            return WireExtras::default();
        }
        let extras = match self
            .sandbox
            .borrow_mut()
            .ask(&Request::Extras { index: self.index })
        {
            Ok(Reply::Extras(extras)) => extras,
            _ => WireExtras::default(),
        };
        *self.extras.borrow_mut() = Some((Instant::now(), extras.clone()));
        extras
    }

    /// Asks the child for latency and tail now.
    fn refresh_info(&mut self) {
        if let Ok(Reply::Info { latency, tail }) = self.ask(Request::Info { index: self.index }) {
            self.latency = latency;
            self.tail = rpc::tail_from_wire(tail);
        }
    }
}

impl Drop for SandboxedInstance {
    fn drop(&mut self) {
        self.region.header().ready.store(0, Ordering::Release);
        if self.launch == self.sandbox.borrow().launch_number() {
            let _ = self
                .sandbox
                .borrow_mut()
                .ask(&Request::Unload { index: self.index });
        }
    }
}
