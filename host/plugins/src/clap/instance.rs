//! The main-thread handle of one CLAP plugin instance.

use std::any::Any;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui};
use clack_extensions::latency::PluginLatency;
use clack_extensions::note_ports::{
    NoteDialect, NoteDialects, NotePortInfoBuffer, PluginNotePorts,
};
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
#[cfg(unix)]
use clack_extensions::posix_fd::{FdFlags, PluginPosixFd};
use clack_extensions::preset_discovery::prelude::PluginPresetLoad;
use clack_extensions::remote_controls::{PluginRemoteControls, RemoteControlsPageBuffer};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_extensions::state_context::StateContextType;
use clack_extensions::tail::PluginTail;
use clack_extensions::timer::{PluginTimer, TimerId};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::plugin::PluginInstance as ClackInstance;
use clack_host::prelude::*;

use super::context::{self, ContextExts, ContextState};
use super::host::{ClapShared, ClapState, HostAudio, HostMain, HostShared, StageHost, TaskExec};
use super::processor::{ClapProcessor, NoteMode, PortLayout};
use super::{c_id, ClapError};
use stagerack_core::editor::PluginEditor;
use stagerack_core::plugin::{
    AudioProcessor, HostContext, NoteName, ParamId, ParamInfo, PluginDescriptor, PluginError,
    PluginInstance, ProcessConfig, ProgramList, RemotePage, Tail, MAX_AUX_OUTPUTS,
};

/// The plugin-side extensions the host uses, looked up once after init.
#[derive(Clone, Copy, Default)]
pub(crate) struct Exts {
    pub(crate) params: Option<PluginParams>,
    pub(crate) state: Option<PluginState>,
    pub(crate) latency: Option<PluginLatency>,
    pub(crate) tail: Option<PluginTail>,
    pub(crate) audio_ports: Option<PluginAudioPorts>,
    pub(crate) note_ports: Option<PluginNotePorts>,
    pub(crate) render: Option<PluginRender>,
    pub(crate) timer: Option<PluginTimer>,
    #[cfg(unix)]
    pub(crate) posix_fd: Option<PluginPosixFd>,
    pub(crate) gui: Option<PluginGui>,
}

/// A CLAP plugin instance, on the main thread (`!Send`: clack's instance
/// is not). Implements [`PluginInstance`]. Main thread only.
pub struct ClapInstance {
    descriptor: PluginDescriptor,
    path: PathBuf,
    // A RefCell because clack hands out main-thread plugin handles from
    // `&mut`, and several trait methods take `&self`. Never borrowed across
    // a call back into our own code.
    instance: RefCell<ClackInstance<StageHost>>,
    shared: Arc<ClapShared>,
    ext: Exts,
    params: Vec<ParamInfo>,
    /// Ids of read-only parameters (meters, counters): listed, never set.
    readonly: Vec<ParamId>,
    latency: u32,
    active: bool,
    /// The main-thread end of the active processor's parameter-change
    /// queue.
    param_in: Option<rtrb::Consumer<(u32, f64)>>,
    /// The plugin's GUI was created (`gui.create` succeeded) and not yet
    /// destroyed.
    editor_created: bool,
    /// The created GUI is a floating window of the plugin's own.
    editor_floating: bool,
    /// Presets its providers offer for it (CLAP `preset-discovery`), and
    /// the extension that loads them.
    presets: Vec<super::presets::FactoryPreset>,
    preset_load: Option<PluginPresetLoad>,
    /// The preset last loaded through `load_program`.
    current_preset: Option<usize>,
    /// track-info, param-indication, note-name, voice-info,
    /// audio-ports-config, state-context.
    ctx_ext: ContextExts,
    ctx: ContextState,
}

impl ClapInstance {
    /// Instantiates plugin `descriptor.id` from a loaded entry (calls the
    /// plugin's `init`). Main thread.
    pub fn new(
        entry: PluginEntry,
        descriptor: PluginDescriptor,
        path: &Path,
    ) -> Result<Self, ClapError> {
        let label = format!("{} ({})", descriptor.name, descriptor.id);
        let shared = Arc::new(ClapShared::new(label));
        let host_info = HostInfo::new("stagerack", "stagerack", "", env!("CARGO_PKG_VERSION"))
            .expect("host info strings contain no NUL byte");
        let cid = c_id(&descriptor.id, path)?;
        let (s1, s2) = (shared.clone(), shared.clone());
        let instance = ClackInstance::<StageHost>::new(
            move |_| HostShared { shared: s1 },
            move |_| HostMain::new(s2),
            &entry,
            &cid,
            &host_info,
        )
        .map_err(|e| ClapError::Init {
            path: path.to_owned(),
            id: descriptor.id.clone(),
            reason: e.to_string(),
        })?;
        let h = instance.plugin_shared_handle();
        if let Some(exec) = TaskExec::of(&h) {
            let _ = shared.task_exec.set(exec);
        }
        let ctx_ext = ContextExts::of(&h);
        let preset_load: Option<PluginPresetLoad> = h.get_extension();
        // Only worth asking the providers when the plugin can load what
        // they list.
        let presets = if preset_load.is_some() {
            super::presets::discover(&entry, &descriptor.id, &host_info)
        } else {
            Vec::new()
        };
        let ext = Exts {
            params: h.get_extension(),
            state: h.get_extension(),
            latency: h.get_extension(),
            tail: h.get_extension(),
            audio_ports: h.get_extension(),
            note_ports: h.get_extension(),
            render: h.get_extension(),
            timer: h.get_extension(),
            #[cfg(unix)]
            posix_fd: h.get_extension(),
            gui: h.get_extension(),
        };
        let mut me = Self {
            descriptor,
            path: path.to_owned(),
            instance: RefCell::new(instance),
            shared,
            ext,
            params: Vec::new(),
            readonly: Vec::new(),
            latency: 0,
            active: false,
            param_in: None,
            editor_created: false,
            editor_floating: false,
            presets,
            preset_load,
            current_preset: None,
            ctx_ext,
            ctx: ContextState::default(),
        };
        (me.params, me.readonly) = me.scan_params();
        let main_out = me.port_layout().outputs.first().copied();
        let kind = me.descriptor.kind;
        if let Some(name) = context::pick_stereo_config(
            &me.ctx_ext,
            &mut me.instance.get_mut().plugin_handle(),
            kind,
            main_out,
        ) {
            tracing::info!(
                "{}: picked its stereo configuration `{name}`",
                me.shared.label
            );
        }
        Ok(me)
    }

    /// The atomics shared with the audio thread: state, requests, counters.
    /// Main thread (the Arc may be cloned to any thread).
    pub fn shared(&self) -> &Arc<ClapShared> {
        &self.shared
    }

    /// The instance's lifecycle state. Main thread.
    pub fn state(&self) -> ClapState {
        self.shared.state()
    }

    /// Names of the CLAP extensions the plugin provides that this host
    /// uses ("params", "state", ...). Main thread.
    pub fn extensions(&self) -> Vec<&'static str> {
        let e = &self.ext;
        let mut out = Vec::new();
        let mut add = |present: bool, name| {
            if present {
                out.push(name);
            }
        };
        add(e.params.is_some(), "params");
        add(e.state.is_some(), "state");
        add(e.latency.is_some(), "latency");
        add(e.tail.is_some(), "tail");
        add(e.audio_ports.is_some(), "audio-ports");
        add(e.note_ports.is_some(), "note-ports");
        add(e.render.is_some(), "render");
        add(e.timer.is_some(), "timer-support");
        #[cfg(unix)]
        add(e.posix_fd.is_some(), "posix-fd-support");
        out
    }

    /// The file it was loaded from. Main thread.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the plugin marked its state dirty since the last save.
    /// Main thread.
    pub fn state_dirty(&self) -> bool {
        self.shared.state_dirty.load(Ordering::Acquire)
    }

    /// Number of timers the plugin has registered. Main thread.
    pub fn timer_count(&self) -> usize {
        self.instance
            .borrow()
            .access_handler(|h: &HostMain| h.timer_count())
    }

    /// When the earliest registered timer is due, for the pump's sleep.
    /// Main thread.
    pub fn next_timer_due(&self) -> Option<Instant> {
        self.instance
            .borrow()
            .access_handler(|h: &HostMain| h.next_timer_due())
    }

    fn err(&self, reason: impl Into<String>) -> PluginError {
        PluginError::Other {
            plugin: self.descriptor.name.clone(),
            reason: reason.into(),
        }
    }

    /// The parameter list, and the ids of the read-only ones. Main thread.
    fn scan_params(&self) -> (Vec<ParamInfo>, Vec<ParamId>) {
        let Some(p) = self.ext.params else {
            return (Vec::new(), Vec::new());
        };
        let mut readonly = Vec::new();
        let mut inst = self.instance.borrow_mut();
        let handle = inst.plugin_handle();
        let mut buf = ParamInfoBuffer::new();
        let mut out = Vec::new();
        for i in 0..p.count(&handle) {
            if let Some(info) = p.get_info(&handle, i, &mut buf) {
                if info.flags.contains(ParamInfoFlags::IS_READONLY) {
                    readonly.push(info.id.get());
                }
                out.push(ParamInfo {
                    id: info.id.get(),
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    stepped: info.flags.contains(ParamInfoFlags::IS_STEPPED),
                    read_only: info.flags.contains(ParamInfoFlags::IS_READONLY),
                    automatable: info.flags.contains(ParamInfoFlags::IS_AUTOMATABLE),
                });
            }
        }
        (out, readonly)
    }

    /// Channel counts of each input and output audio port (main port first).
    fn port_layout(&self) -> PortLayout {
        let Some(ap) = self.ext.audio_ports else {
            return PortLayout::default();
        };
        let mut inst = self.instance.borrow_mut();
        let handle = inst.plugin_handle();
        let mut buf = AudioPortInfoBuffer::new();
        let mut read = |is_input: bool| -> Vec<u32> {
            (0..ap.count(&handle, is_input))
                .map(|i| {
                    ap.get(&handle, i, is_input, &mut buf)
                        .map_or(0, |info| info.channel_count)
                })
                .collect()
        };
        PortLayout {
            inputs: read(true),
            outputs: read(false),
        }
    }

    /// The names of the output ports after the main one (at most
    /// [`MAX_AUX_OUTPUTS`]). Main thread.
    fn aux_output_names(&self) -> Vec<String> {
        let Some(ap) = self.ext.audio_ports else {
            return Vec::new();
        };
        let mut inst = self.instance.borrow_mut();
        let handle = inst.plugin_handle();
        let mut buf = AudioPortInfoBuffer::new();
        (1..ap.count(&handle, false))
            .take(MAX_AUX_OUTPUTS)
            .map(|i| {
                ap.get(&handle, i, false, &mut buf).map_or_else(
                    || format!("Output {}", i + 1),
                    |info| String::from_utf8_lossy(info.name).into_owned(),
                )
            })
            .collect()
    }

    /// How notes go to the plugin's first note input port.
    fn note_mode(&self) -> NoteMode {
        let Some(np) = self.ext.note_ports else {
            return NoteMode::None;
        };
        let mut inst = self.instance.borrow_mut();
        let handle = inst.plugin_handle();
        if np.count(&handle, true) == 0 {
            return NoteMode::None;
        }
        let mut buf = NotePortInfoBuffer::new();
        let Some(info) = np.get(&handle, 0, true, &mut buf) else {
            return NoteMode::None;
        };
        let supported = info.supported_dialects;
        let notes_as_clap = match info.preferred_dialect {
            Some(NoteDialect::Clap) => true,
            Some(NoteDialect::Midi | NoteDialect::MidiMpe) => false,
            _ => supported.contains(NoteDialects::CLAP),
        };
        NoteMode::Port {
            notes_as_clap: notes_as_clap && supported.contains(NoteDialects::CLAP)
                || !supported.intersects(NoteDialects::MIDI | NoteDialects::MIDI_MPE),
            midi: supported.intersects(NoteDialects::MIDI | NoteDialects::MIDI_MPE),
        }
    }

    /// Runs due timers and ready file descriptors. Main thread.
    fn service_timers_and_fds(&mut self) {
        let inst = self.instance.get_mut();
        if let Some(timer) = self.ext.timer {
            let due = inst.access_handler(|h: &HostMain| h.take_due_timers(Instant::now()));
            for id in due {
                timer.on_timer(&inst.plugin_handle(), TimerId(id));
            }
        }
        #[cfg(unix)]
        if let Some(fd_ext) = self.ext.posix_fd {
            let fds = inst.access_handler(|h: &HostMain| h.fds());
            if fds.is_empty() {
                return;
            }
            for (fd, flags) in ready_fds(&fds) {
                fd_ext.on_fd(&inst.plugin_handle(), fd, flags);
            }
        }
    }
}

/// The windowing API this platform's floating editors use (a plugin that
/// offers no embedded GUI opens a window of its own).
fn floating_gui() -> Option<GuiConfiguration<'static>> {
    platform_gui().map(|c| GuiConfiguration {
        is_floating: true,
        ..c
    })
}

/// The windowing API this platform's editors embed with.
fn platform_gui() -> Option<GuiConfiguration<'static>> {
    let api_type = if cfg!(target_os = "windows") {
        GuiApiType::WIN32
    } else if cfg!(target_os = "macos") {
        GuiApiType::COCOA
    } else if cfg!(unix) {
        GuiApiType::X11
    } else {
        return None;
    };
    Some(GuiConfiguration {
        api_type,
        is_floating: false,
    })
}

/// Which of `fds` are ready for the events asked, without waiting (poll(2)
/// with a zero timeout). Main thread.
#[cfg(unix)]
fn ready_fds(fds: &[(i32, FdFlags)]) -> Vec<(i32, FdFlags)> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, flags)| libc::pollfd {
            fd,
            events: (if flags.contains(FdFlags::READ) {
                libc::POLLIN
            } else {
                0
            }) | (if flags.contains(FdFlags::WRITE) {
                libc::POLLOUT
            } else {
                0
            }),
            revents: 0,
        })
        .collect();
    if polls.is_empty() {
        return Vec::new();
    }
    // SAFETY: `polls` is a valid array of `polls.len()` pollfd structs; a
    // zero timeout never blocks.
    let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 0) };
    if n <= 0 {
        return Vec::new();
    }
    polls
        .iter()
        .filter(|p| p.revents != 0)
        .map(|p| {
            let mut flags = FdFlags::empty();
            if p.revents & libc::POLLIN != 0 {
                flags |= FdFlags::READ;
            }
            if p.revents & libc::POLLOUT != 0 {
                flags |= FdFlags::WRITE;
            }
            if p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                flags |= FdFlags::ERROR;
            }
            (p.fd, flags)
        })
        .collect()
}

impl PluginInstance for ClapInstance {
    fn descriptor(&self) -> &PluginDescriptor {
        &self.descriptor
    }

    fn set_host_context(&mut self, host_context: &HostContext) {
        let inst = self.instance.get_mut();
        if let Some(name) = context::new_track_name(&self.ctx, host_context) {
            inst.access_handler(|h: &HostMain| {
                h.track_names.borrow_mut().push(name.into_boxed_slice())
            });
        }
        context::tell(
            &self.ctx_ext,
            &mut self.ctx,
            &inst.plugin_handle(),
            host_context,
        );
    }

    fn note_names(&self) -> Vec<NoteName> {
        if self.shared.note_names_changed.swap(false, Ordering::AcqRel) {
            self.ctx.note_names_changed();
        }
        let mut inst = self.instance.borrow_mut();
        context::note_names(&self.ctx_ext, &self.ctx, &inst.plugin_handle())
    }

    fn voice_capacity(&self) -> Option<u32> {
        let mut inst = self.instance.borrow_mut();
        context::voice_capacity(&self.ctx_ext, &inst.plugin_handle())
    }

    fn programs(&self) -> Option<ProgramList> {
        (!self.presets.is_empty()).then(|| ProgramList {
            param: None,
            names: self.presets.iter().map(|p| p.name.clone()).collect(),
        })
    }

    fn load_program(&mut self, index: usize) -> Result<(), PluginError> {
        let name = self.descriptor.name.clone();
        let fail = |reason: String| PluginError::Other {
            plugin: name.clone(),
            reason,
        };
        let (Some(ext), Some(preset)) = (self.preset_load, self.presets.get(index)) else {
            return Err(fail(format!("it has no preset {}", index + 1)));
        };
        if let Ok(mut e) = self.shared.preset_error.lock() {
            *e = None;
        }
        let plugin = self.instance.get_mut().plugin_handle();
        match ext.load_from_location(&plugin, preset.location(), preset.load_key.as_deref()) {
            Ok(()) => {
                self.current_preset = Some(index);
                Ok(())
            }
            Err(_) => {
                let why = self
                    .shared
                    .preset_error
                    .lock()
                    .ok()
                    .and_then(|mut e| e.take())
                    .unwrap_or_else(|| "no reason given".into());
                Err(fail(format!(
                    "it could not load its preset `{}`: {why}",
                    preset.name
                )))
            }
        }
    }

    fn current_program(&self) -> Option<usize> {
        self.current_preset
    }

    fn remote_pages(&self) -> Vec<RemotePage> {
        let mut inst = self.instance.borrow_mut();
        let plugin = inst.plugin_handle();
        let Some(ext) = plugin.get_extension::<PluginRemoteControls>() else {
            return Vec::new();
        };
        let mut buffer = RemoteControlsPageBuffer::new();
        (0..ext.count(&plugin).min(256))
            .filter_map(|i| {
                let page = ext.get(&plugin, i, &mut buffer)?;
                Some(RemotePage {
                    section: String::from_utf8_lossy(page.section_name).into_owned(),
                    name: String::from_utf8_lossy(page.page_name).into_owned(),
                    params: page.param_ids.map(|id| id.map(|id| id.get())),
                })
            })
            .collect()
    }

    fn has_editor(&self) -> bool {
        let (Some(gui), Some(embedded), Some(floating)) =
            (self.ext.gui, platform_gui(), floating_gui())
        else {
            return false;
        };
        let mut inst = self.instance.borrow_mut();
        let plugin = inst.plugin_handle();
        gui.is_api_supported(&plugin, embedded) || gui.is_api_supported(&plugin, floating)
    }

    fn editor(&mut self) -> Option<&mut dyn PluginEditor> {
        Some(self)
    }

    fn params(&self) -> Vec<ParamInfo> {
        self.params.clone()
    }

    fn param_value(&self, id: ParamId) -> Option<f64> {
        let p = self.ext.params?;
        let cid = ClapId::from_raw(id)?;
        let mut inst = self.instance.borrow_mut();
        p.get_value(&inst.plugin_handle(), cid)
    }

    fn param_text(&self, id: ParamId, value: f64) -> Option<String> {
        let p = self.ext.params?;
        let cid = ClapId::from_raw(id)?;
        let mut inst = self.instance.borrow_mut();
        let mut buf = [0u8; 256];
        let text = p
            .value_to_text(&inst.plugin_handle(), cid, value, &mut buf)
            .ok()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    fn set_param(&mut self, id: ParamId, value: f64) -> Result<(), PluginError> {
        let Some(p) = self.ext.params else {
            return Err(PluginError::UnknownParam {
                plugin: self.descriptor.name.clone(),
                param: id.to_string(),
            });
        };
        let Some(cid) = ClapId::from_raw(id).filter(|_| self.params.iter().any(|p| p.id == id))
        else {
            return Err(PluginError::UnknownParam {
                plugin: self.descriptor.name.clone(),
                param: id.to_string(),
            });
        };
        if self.readonly.contains(&id) {
            return Err(self.err(format!("parameter {id} is read-only")));
        }
        let mut input = EventBuffer::with_capacity(1);
        input.push(&ParamValueEvent::new(0, cid, Pckn::match_all(), value));
        let mut output = EventBuffer::with_capacity(16);
        let inst = self.instance.get_mut();
        let Some(mut handle) = inst.inactive_plugin_handle() else {
            return Err(
                self.err("is active: change its parameters through the engine's parameter queue")
            );
        };
        p.flush(&mut handle, &input.as_input(), &mut output.as_output());
        Ok(())
    }

    fn activate(&mut self, config: &ProcessConfig) -> Result<Box<dyn AudioProcessor>, PluginError> {
        if self.active {
            return Err(PluginError::Activate {
                plugin: self.descriptor.name.clone(),
                reason: "already active".into(),
            });
        }
        if let Some(render) = self.ext.render {
            let mode = if config.offline {
                RenderMode::Offline
            } else {
                RenderMode::Realtime
            };
            if render
                .set(&self.instance.get_mut().plugin_handle(), mode)
                .is_err()
            {
                tracing::debug!("{} refused render mode {mode:?}", self.shared.label);
            }
        }
        let layout = self.port_layout();
        let notes = self.note_mode();
        self.shared.ports_rescan.store(false, Ordering::Release);
        let audio_config = PluginAudioConfiguration {
            sample_rate: config.sample_rate,
            min_frames_count: config.min_block.max(1),
            max_frames_count: config.max_block.max(1),
        };
        let s = self.shared.clone();
        let stopped = self
            .instance
            .get_mut()
            .activate(move |_, _| HostAudio { shared: s }, audio_config)
            .map_err(|e| ClapError::Activate {
                path: self.path.clone(),
                id: self.descriptor.id.clone(),
                rate: config.sample_rate,
                min: audio_config.min_frames_count,
                max: audio_config.max_frames_count,
                reason: e.to_string(),
            })?;
        self.active = true;
        self.shared
            .restart_requested
            .store(false, Ordering::Release);
        self.shared.latency_changed.store(false, Ordering::Release);
        self.latency = match self.ext.latency {
            Some(l) => l.get(&self.instance.get_mut().plugin_handle()),
            None => 0,
        };
        self.shared.set_state(ClapState::ActiveSleeping);
        let (param_out, param_in) =
            rtrb::RingBuffer::new(stagerack_core::plugin::PARAM_OUT_CAPACITY);
        self.param_in = Some(param_in);
        Ok(Box::new(ClapProcessor::new(
            stopped,
            layout,
            notes,
            config,
            self.shared.clone(),
            self.ext.tail,
            param_out,
        )))
    }

    fn deactivate(&mut self, processor: Box<dyn AudioProcessor>) {
        let any: Box<dyn Any> = processor;
        let processor = match any.downcast::<ClapProcessor>() {
            Ok(p) => p,
            Err(_) => {
                tracing::error!(
                    "{}: asked to deactivate with a processor that is not its own; ignored",
                    self.shared.label
                );
                return;
            }
        };
        let inst = self.instance.get_mut();
        if !processor.belongs_to(inst) {
            tracing::error!(
                "{}: asked to deactivate with another instance's processor; ignored",
                self.shared.label
            );
            return;
        }
        let stopped = processor.into_stopped();
        inst.deactivate(stopped);
        self.active = false;
        self.shared.set_state(ClapState::Inactive);
    }

    fn save_state(&mut self) -> Result<Vec<u8>, PluginError> {
        let Some(state) = self.ext.state else {
            // No state extension: the parameter values are the state.
            let values: Vec<(ParamId, f64)> = self
                .params
                .iter()
                .filter(|p| !self.readonly.contains(&p.id))
                .filter_map(|p| Some((p.id, self.param_value(p.id)?)))
                .collect();
            self.shared.state_dirty.store(false, Ordering::Release);
            return Ok(encode_param_state(&values));
        };
        let mut bytes = Vec::new();
        // A preset file is a project: a plugin with state-context is told so.
        let handle = &self.instance.get_mut().plugin_handle();
        let saved = match self.ctx_ext.state_context {
            Some(ctx) => ctx.save(handle, &mut bytes, StateContextType::ForProject),
            None => state.save(handle, &mut bytes),
        };
        saved.map_err(|e| self.err(format!("could not save its state: {e}")))?;
        self.shared.state_dirty.store(false, Ordering::Release);
        Ok(bytes)
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        if let Some(values) = decode_param_state(bytes) {
            for (id, value) in values {
                if self.params.iter().any(|p| p.id == id) {
                    self.set_param(id, value)?;
                }
            }
            return Ok(());
        }
        let Some(state) = self.ext.state else {
            if bytes.is_empty() {
                return Ok(());
            }
            return Err(PluginError::BadState {
                plugin: self.descriptor.name.clone(),
                reason: "it has no state extension and the blob is not a parameter list".into(),
            });
        };
        let mut reader = bytes;
        let handle = &self.instance.get_mut().plugin_handle();
        let loaded = match self.ctx_ext.state_context {
            Some(ctx) => ctx.load(handle, &mut reader, StateContextType::ForProject),
            None => state.load(handle, &mut reader),
        };
        loaded.map_err(|e| PluginError::BadState {
            plugin: self.descriptor.name.clone(),
            reason: e.to_string(),
        })?;
        (self.params, self.readonly) = self.scan_params();
        Ok(())
    }

    fn aux_outputs(&self) -> Vec<String> {
        self.aux_output_names()
    }

    fn latency(&self) -> u32 {
        self.latency
    }

    fn tail(&self) -> Tail {
        match self.shared.tail_frames.load(Ordering::Relaxed) {
            0 => Tail::None,
            u32::MAX => Tail::Infinite,
            n => Tail::Frames(n),
        }
    }

    fn needs_restart(&self) -> bool {
        self.shared.restart_requested.load(Ordering::Acquire)
            || self.shared.latency_changed.load(Ordering::Acquire)
    }

    fn take_param_changes(&mut self, out: &mut Vec<(ParamId, f64)>) {
        if let Some(rx) = self.param_in.as_mut() {
            while let Ok(change) = rx.pop() {
                out.push(change);
            }
        }
    }

    fn take_notices(&mut self, out: &mut Vec<String>) {
        self.shared.take_complaints(out);
    }

    fn on_main_thread(&mut self) {
        if self.shared.callback_requested.swap(false, Ordering::AcqRel) {
            self.instance.get_mut().call_on_main_thread_callback();
        }
        self.service_timers_and_fds();
        if self.shared.params_rescan.swap(false, Ordering::AcqRel) {
            (self.params, self.readonly) = self.scan_params();
        }
        if !self.active && self.shared.flush_requested.swap(false, Ordering::AcqRel) {
            // An inactive plugin asked for a flush: give it one, empty.
            if let Some(p) = self.ext.params {
                let input = EventBuffer::new();
                let mut output = EventBuffer::with_capacity(16);
                if let Some(mut h) = self.instance.get_mut().inactive_plugin_handle() {
                    p.flush(&mut h, &input.as_input(), &mut output.as_output());
                }
            }
        }
    }
}

impl PluginEditor for ClapInstance {
    fn create_editor(&mut self) -> Result<(u32, u32), PluginError> {
        let fail = |reason: &str| PluginError::Other {
            plugin: self.descriptor.name.clone(),
            reason: format!("its editor {reason}"),
        };
        let (Some(gui), Some(embedded), Some(floating)) =
            (self.ext.gui, platform_gui(), floating_gui())
        else {
            return Err(fail("is missing: it has no GUI this host can embed here"));
        };
        if self.editor_created {
            return Err(fail("is open already"));
        }
        let inst = self.instance.get_mut();
        let plugin = inst.plugin_handle();
        // Embedded when the plugin can (the host's window, closed with the
        // plugin); else its own floating window.
        let config = if gui.is_api_supported(&plugin, embedded) {
            embedded
        } else if gui.is_api_supported(&plugin, floating) {
            floating
        } else {
            return Err(fail("does not support this platform's windows"));
        };
        gui.create(&plugin, config)
            .map_err(|_| fail("could not be created (gui.create failed)"))?;
        self.editor_created = true;
        self.editor_floating = config.is_floating;
        // Logical pixels on X11 per CLAP; a refused scale is fine.
        let _ = gui.set_scale(&plugin, 1.0);
        let size = gui.get_size(&plugin);
        let _ = self.shared.editor_resize.take();
        self.shared.editor_closed.store(false, Ordering::Relaxed);
        Ok(size.map_or((400, 300), |s| (s.width.max(1), s.height.max(1))))
    }
    fn attach_editor(
        &mut self,
        parent: stagerack_core::editor::ParentWindow,
    ) -> Result<(), PluginError> {
        use clack_extensions::gui::Window;
        let name = self.descriptor.name.clone();
        let fail = |reason: &str| PluginError::Other {
            plugin: name.clone(),
            reason: format!("its editor {reason}"),
        };
        let Some(gui) = self.ext.gui.filter(|_| self.editor_created) else {
            return Err(fail("was not created"));
        };
        let inst = self.instance.get_mut();
        let plugin = inst.plugin_handle();
        // SAFETY: the handle is a live native window of the kind named; the
        // host keeps it open until after `destroy_editor` (the session
        // closes the window only then).
        unsafe {
            let window = match parent {
                stagerack_core::editor::ParentWindow::X11(id) => Window::from_x11_handle(id as _),
                stagerack_core::editor::ParentWindow::Win32(h) => {
                    Window::from_win32_hwnd(h as *mut _)
                }
                stagerack_core::editor::ParentWindow::Cocoa(v) => {
                    Window::from_cocoa_nsview(v as *mut _)
                }
            };
            gui.set_parent(&plugin, window)
        }
        .map_err(|_| fail("refused its window (gui.set_parent failed)"))?;
        gui.show(&plugin)
            .map_err(|_| fail("could not be shown (gui.show failed)"))?;
        Ok(())
    }
    fn is_floating(&self) -> bool {
        self.editor_created && self.editor_floating
    }

    fn show_floating(&mut self, title: &str) -> Result<(), PluginError> {
        let name = self.descriptor.name.clone();
        let fail = |reason: &str| PluginError::Other {
            plugin: name.clone(),
            reason: format!("its editor {reason}"),
        };
        let Some(gui) = self.ext.gui.filter(|_| self.is_floating()) else {
            return Err(fail("is not an open floating window"));
        };
        let plugin = self.instance.get_mut().plugin_handle();
        // A title with a NUL in it is cut there.
        let title = std::ffi::CString::new(title.split('\0').next().unwrap_or_default())
            .unwrap_or_default();
        gui.suggest_title(&plugin, &title);
        gui.show(&plugin)
            .map_err(|_| fail("could not be shown (gui.show failed)"))
    }

    fn destroy_editor(&mut self) {
        if !self.editor_created {
            return;
        }
        self.editor_created = false;
        self.editor_floating = false;
        if let Some(gui) = self.ext.gui {
            let inst = self.instance.get_mut();
            let plugin = inst.plugin_handle();
            let _ = gui.hide(&plugin);
            gui.destroy(&plugin);
        }
    }
    fn take_editor_requests(&mut self, out: &mut Vec<stagerack_core::plugin::EditorRequest>) {
        if !self.editor_created {
            return;
        }
        if let Some((w, h)) = self.shared.editor_resize.take() {
            out.push(stagerack_core::plugin::EditorRequest::Resize(w, h));
        }
        if self.shared.editor_closed.swap(false, Ordering::Relaxed) {
            out.push(stagerack_core::plugin::EditorRequest::Closed);
        }
    }
}

impl Drop for ClapInstance {
    fn drop(&mut self) {
        // CLAP: the GUI goes before the plugin does.
        self.destroy_editor();
        if self.active {
            // The processor never came back (e.g. the engine was dropped
            // without shutdown); clack keeps the instance alive until the
            // processor is gone. Nothing more can be done safely here.
            tracing::warn!(
                "{} dropped while active; its processor was not returned",
                self.shared.label
            );
        }
    }
}

/// Marks a state blob that stagerack wrote itself for a plugin without the
/// CLAP state extension: the parameter values.
const PARAM_STATE_MAGIC: &[u8] = b"stagerack-clap-params\0";

/// `MAGIC, count: u32 LE, count × (id: u32 LE, value: f64 LE)`.
fn encode_param_state(values: &[(ParamId, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PARAM_STATE_MAGIC.len() + 4 + values.len() * 12);
    out.extend_from_slice(PARAM_STATE_MAGIC);
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for (id, v) in values {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn decode_param_state(bytes: &[u8]) -> Option<Vec<(ParamId, f64)>> {
    let rest = bytes.strip_prefix(PARAM_STATE_MAGIC)?;
    let (count, mut rest) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    let mut out = Vec::with_capacity(count.min(rest.len() / 12));
    for _ in 0..count {
        let (id, r) = rest.split_first_chunk::<4>()?;
        let (v, r) = r.split_first_chunk::<8>()?;
        out.push((u32::from_le_bytes(*id), f64::from_le_bytes(*v)));
        rest = r;
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn ready_fds_reports_readable_and_writable_descriptors() {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [r, w] = fds;
        let both = [(r, FdFlags::READ), (w, FdFlags::WRITE)];
        // Nothing to read yet; the write end is writable.
        assert_eq!(ready_fds(&both), vec![(w, FdFlags::WRITE)]);
        // SAFETY: `w` is our pipe's write end; one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(w, b"x".as_ptr().cast(), 1) }, 1);
        assert_eq!(ready_fds(&[(r, FdFlags::READ)]), vec![(r, FdFlags::READ)]);
        // SAFETY: closing the descriptors this test opened.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
        assert!(ready_fds(&[]).is_empty());
    }

    /// The thread roles are in the types: the processor may move to the
    /// audio thread, the instance may not leave the main thread.
    #[test]
    fn thread_roles_are_typed() {
        fn is_send<T: Send>() {}
        is_send::<super::super::ClapProcessor>();
        is_send::<Arc<ClapShared>>();
        // Resolves only while `ClapInstance: !Send` (with both impls
        // applicable, the `_` below would be ambiguous and fail to compile).
        trait AmbiguousIfSend<A> {
            fn check() {}
        }
        impl<T: ?Sized> AmbiguousIfSend<()> for T {}
        impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
        <ClapInstance as AmbiguousIfSend<_>>::check();
    }

    #[test]
    fn param_state_round_trips_and_rejects_garbage() {
        let v = vec![(0, 1.5), (7, -3.25), (u32::MAX - 1, 0.0)];
        let b = encode_param_state(&v);
        assert_eq!(decode_param_state(&b), Some(v));
        assert_eq!(decode_param_state(b"other plugin state"), None);
        assert_eq!(decode_param_state(&b[..b.len() - 1]), None);
    }
}
