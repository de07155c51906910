//! VST3 hosting through the `vst3` crate. All VST3 FFI lives in this module.
//!
//! Lifecycle of one instance (steps follow Steinberg's "Audio Processor Call
//! Sequence"):
//!
//! 1. [`load`] (main thread) finds the bundle (`path` hint, `VST3_PATH`,
//!    standard folders), opens it ([`module::Module`]), creates the class's
//!    `IComponent`, `initialize`s it with our host context, creates its
//!    controller (a separate class, or the component itself), initializes
//!    it, connects the two `IConnectionPoint`s to each other directly, gives
//!    the controller our `IComponentHandler`, and syncs the controller with
//!    the component's state.
//! 2. [`PluginInstance::activate`] (main thread) negotiates the buses (stereo
//!    out; stereo or mono in), activates the main audio buses and the event
//!    input bus, calls `setupProcessing` and `setActive(true)`, reads the
//!    MIDI CC mapping, and builds the processor with every buffer and COM
//!    object it will ever need.
//! 3. The processor (audio thread) calls `setProcessing(true)` before its
//!    first `process`, and `setProcessing(false)` in
//!    [`AudioProcessor::stop`]. It never allocates, and never releases the
//!    last reference of a COM object.
//! 4. [`PluginInstance::deactivate`] (main thread) drops the processor and
//!    calls `setActive(false)`. Dropping the instance disconnects and
//!    terminates both halves, then unloads the module.
//!
//! Parameters: stagerack's plain values for a VST3 parameter are its
//! normalized value (0..=1) when it is continuous, and the step index
//! (0..=stepCount) when it has steps. The controller's own
//! `normalizedParamToPlain` is never called (it is a UI-thread function and
//! the processor converts on the audio thread).
//!
//! State: one blob, `SRV3` + version byte + the component stream and the
//! controller stream, each prefixed with its length (u32 little-endian).

mod com;
mod events_out;
mod module;
#[cfg(target_os = "linux")]
mod runloop;
mod view;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::Ordering;

use vst3::Steinberg as sb;
use vst3::Steinberg::kResultOk;
use vst3::Steinberg::Vst as sv;
use vst3::Steinberg::Vst::{
    IAudioProcessorTrait, IComponentTrait, IConnectionPointTrait, IEditControllerTrait,
    IMidiMappingTrait,
};
use vst3::Steinberg::{IPluginBaseTrait, IPluginFactoryTrait};
use vst3::{ComPtr, ComWrapper, Interface};

use self::com::{ComponentHandler, EventList, HostApplication, MemStream, ParamChanges};
use self::module::{bundle_binary, fixed_wstr, hex_to_tuid, ClassEntry, Module};
pub use self::module::{bundles_in, list_vst3_classes, vst3_bundles, vst3_search_paths};
use crate::def::PluginDef;
use stagerack_core::midi::Event;
use stagerack_core::plugin::{
    AudioProcessor, Block, ParamId, ParamInfo, PluginDescriptor, PluginError, PluginInstance,
    ProcessConfig, ProcessStatus, Tail,
};

/// Why a VST3 plugin could not be found, loaded or started. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum Vst3Error {
    /// The bundle folder does not exist.
    #[error("VST3 bundle {} does not exist; fix the plugin's `path` in the preset or install the plugin", bundle.display())]
    MissingBundle {
        /// The bundle looked for.
        bundle: PathBuf,
    },
    /// The bundle has no binary for this platform.
    #[error("VST3 bundle {} has no binary for this platform (expected {}); install the plugin's build for this system", bundle.display(), expected.display())]
    NoBinary {
        /// The bundle.
        bundle: PathBuf,
        /// Where the binary should be.
        expected: PathBuf,
    },
    /// The binary could not be opened or its entry function failed.
    #[error("cannot open VST3 bundle {}: {reason}; reinstall the plugin", bundle.display())]
    Open {
        /// The bundle.
        bundle: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The binary exports no `GetPluginFactory`, or it returned null.
    #[error("VST3 bundle {} has no plugin factory (GetPluginFactory missing or null); it is not a VST3 plugin", bundle.display())]
    NoFactory {
        /// The bundle.
        bundle: PathBuf,
    },
    /// No bundle searched has the class.
    #[error("VST3 class {id}{} was not found in {searched}; install the plugin, set the preset's `path`, or add its folder to VST3_PATH", name.as_ref().map(|n| format!(" (`{n}`)")).unwrap_or_default())]
    ClassNotFound {
        /// The class id asked for.
        id: String,
        /// The preset's display name, if any.
        name: Option<String>,
        /// What was searched.
        searched: String,
    },
    /// The scanner blacklisted the bundle (it crashed, hung or failed when
    /// opened in a child process); it is not loaded in the host.
    #[error("VST3 plugin `{id}`: {} is blacklisted by `stagerack scan` ({reason}); it is not loaded, so it cannot take the show down. Update or remove it, then run `stagerack scan --rescan`", bundle.display())]
    Blacklisted {
        /// The bundle.
        bundle: PathBuf,
        /// The class id asked for.
        id: String,
        /// Why the scanner blacklisted it.
        reason: String,
    },
    /// The id is not 32 hex digits.
    #[error("VST3 id `{id}` must be the class id as 32 hex digits (see `stagerack scan --json`)")]
    BadId {
        /// The id given.
        id: String,
    },
    /// This platform cannot load the bundle.
    #[error("cannot load VST3 bundle {} on this platform: {reason}", bundle.display())]
    Unsupported {
        /// The bundle.
        bundle: PathBuf,
        /// Why.
        reason: String,
    },
    /// A plugin call failed.
    #[error("VST3 plugin `{plugin}` ({}): {call} failed (result {result}); the plugin cannot run in this configuration", bundle.display())]
    Call {
        /// The plugin's name.
        plugin: String,
        /// Its bundle.
        bundle: PathBuf,
        /// The call that failed.
        call: &'static str,
        /// The plugin's result code.
        result: i32,
    },
}

impl Vst3Error {
    fn into_plugin_error(self, plugin: String) -> PluginError {
        match self {
            Vst3Error::Call { .. } => PluginError::Activate {
                plugin,
                reason: self.to_string(),
            },
            _ => PluginError::Other {
                plugin,
                reason: self.to_string(),
            },
        }
    }
}

const STATE_MAGIC: &[u8; 5] = b"SRV3\x01";
/// Most parameters that change in one block.
const PARAM_QUEUES: usize = 128;
/// Most points per parameter per block.
const PARAM_POINTS: usize = 64;
/// Most events per block.
const EVENT_CAPACITY: usize = 1024;
/// Queue capacity between the main thread and the processor.
const EDIT_QUEUE: usize = 1024;
/// MIDI controller slots: CC 0..=127, aftertouch (128), pitch bend (129).
const MIDI_CTRLS: usize = 130;
const NO_PARAM: u32 = u32::MAX;

/// Loads the VST3 class a preset entry names (not yet activated). Main
/// thread.
pub fn load(def: &PluginDef) -> Result<Vst3Instance, PluginError> {
    load_inner(def).map_err(|e| e.into_plugin_error(def.label()))
}

fn candidate_bundles(def: &PluginDef) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = &def.path {
        if p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("vst3"))
            || !p.is_dir()
        {
            out.push(p.clone());
        } else {
            out.extend(bundles_in(std::slice::from_ref(p)));
        }
    }
    let mut rest = bundles_in(&vst3_search_paths());
    // Bundles named like the plugin first: most presets name it.
    if let Some(name) = &def.name {
        rest.sort_by_key(|b| b.file_stem().is_none_or(|s| s.to_string_lossy() != *name));
    }
    for b in rest {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

fn load_inner(def: &PluginDef) -> Result<Vst3Instance, Vst3Error> {
    let cid = hex_to_tuid(&def.id).ok_or_else(|| Vst3Error::BadId { id: def.id.clone() })?;
    let mut hint_error = None;
    // Like CLAP: a bundle the scanner blacklisted is never opened in this
    // process; named by the preset it is refused with the scanner's reason,
    // found on the search path it is passed over.
    let cache = crate::scan::cache::ScanCache::load();
    for (i, bundle) in candidate_bundles(def).iter().enumerate() {
        let hinted = i == 0 && def.path.is_some();
        if let Some(reason) = cache.blacklisted(bundle) {
            if hinted {
                return Err(Vst3Error::Blacklisted {
                    bundle: bundle.clone(),
                    id: def.id.clone(),
                    reason: reason.to_owned(),
                });
            }
            tracing::debug!("skipping {}: blacklisted ({reason})", bundle.display());
            continue;
        }
        let module = match Module::shared(bundle) {
            Ok(m) => m,
            Err(e) => {
                if hinted {
                    hint_error = Some(e);
                } else {
                    tracing::debug!("skipping {}: {e}", bundle.display());
                }
                continue;
            }
        };
        let classes = module.classes();
        if let Some(class) = classes.iter().find(|c| c.cid == cid) {
            return Vst3Instance::create(module, class.clone());
        }
    }
    if let Some(e) = hint_error {
        return Err(e);
    }
    let mut folders: Vec<String> = def.path.iter().map(|p| p.display().to_string()).collect();
    folders.extend(vst3_search_paths().iter().map(|p| p.display().to_string()));
    Err(Vst3Error::ClassNotFound {
        id: def.id.clone(),
        name: def.name.clone(),
        searched: folders.join(", "),
    })
}

/// The binary a bundle would load on this platform, for diagnostics. Main
/// thread.
pub fn bundle_binary_path(bundle: &Path) -> Result<PathBuf, Vst3Error> {
    bundle_binary(bundle)
}

struct ParamMeta {
    info: ParamInfo,
    steps: i32,
}

/// A loaded VST3 plugin: the main-thread handle. Not `Send`.
pub struct Vst3Instance {
    descriptor: PluginDescriptor,
    host: ComWrapper<HostApplication>,
    handler: ComWrapper<ComponentHandler>,
    component: Option<ComPtr<sv::IComponent>>,
    audio: Option<ComPtr<sv::IAudioProcessor>>,
    controller: Option<ComPtr<sv::IEditController>>,
    separate_controller: bool,
    connection: Option<(ComPtr<sv::IConnectionPoint>, ComPtr<sv::IConnectionPoint>)>,
    params: Vec<ParamMeta>,
    active: bool,
    to_main: Option<rtrb::Consumer<(u32, f64)>>,
    latency: u32,
    restart_requested: bool,
    last_config: Option<ProcessConfig>,
    module: Option<Rc<Module>>,
    /// The open editor (`view.rs`).
    editor: Option<view::Vst3Editor>,
    /// Whether the controller has an editor for this platform's windows
    /// (asked once, by creating and releasing a view).
    editor_support: std::cell::Cell<Option<bool>>,
}

fn check(
    result: sb::tresult,
    call: &'static str,
    plugin: &str,
    bundle: &Path,
) -> Result<(), Vst3Error> {
    if result == kResultOk {
        Ok(())
    } else {
        Err(Vst3Error::Call {
            plugin: plugin.to_owned(),
            bundle: bundle.to_owned(),
            call,
            result,
        })
    }
}

fn host_unknown(host: &ComWrapper<HostApplication>) -> *mut sb::FUnknown {
    host.as_com_ref::<sv::IHostApplication>()
        .map_or(std::ptr::null_mut(), |r| r.as_ptr() as *mut sb::FUnknown)
}

fn create<I: Interface>(module: &Module, cid: &sb::TUID) -> Option<ComPtr<I>> {
    let mut obj: *mut std::ffi::c_void = std::ptr::null_mut();
    // SAFETY: cid and iid point at 16-byte ids; `obj` is a valid out-pointer.
    let r = unsafe {
        module
            .factory()
            .createInstance(cid.as_ptr(), I::IID.as_ptr() as sb::FIDString, &mut obj)
    };
    if r != kResultOk {
        return None;
    }
    // SAFETY: createInstance returns an owned reference of interface I.
    unsafe { ComPtr::from_raw(obj as *mut I) }
}

impl Vst3Instance {
    fn create(module: Rc<Module>, class: ClassEntry) -> Result<Vst3Instance, Vst3Error> {
        let bundle = module.bundle.clone();
        let descriptor = class.descriptor(&bundle);
        let name = descriptor.name.clone();
        let host = ComWrapper::new(HostApplication::new());
        let handler = ComWrapper::new(ComponentHandler::default());
        let host_ctx = host_unknown(&host);
        if let Some(f3) = module.factory().cast::<sb::IPluginFactory3>() {
            use sb::IPluginFactory3Trait;
            // SAFETY: a live host context; the factory may keep a reference.
            unsafe { f3.setHostContext(host_ctx) };
        }
        let component = create::<sv::IComponent>(&module, &class.cid).ok_or(Vst3Error::Call {
            plugin: name.clone(),
            bundle: bundle.clone(),
            call: "createInstance(IComponent)",
            result: vst3::Steinberg::kResultFalse,
        })?;
        let mut inst = Vst3Instance {
            descriptor,
            host,
            handler,
            component: None,
            audio: None,
            controller: None,
            separate_controller: false,
            connection: None,
            params: Vec::new(),
            active: false,
            to_main: None,
            latency: 0,
            restart_requested: false,
            last_config: None,
            module: Some(module.clone()),
            editor: None,
            editor_support: std::cell::Cell::new(None),
        };
        // SAFETY: first call on a fresh component, with our host context.
        check(
            // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
            unsafe { component.initialize(host_ctx) },
            "IComponent::initialize",
            &name,
            &bundle,
        )?;
        inst.component = Some(component.clone());
        inst.audio = Some(
            component
                .cast::<sv::IAudioProcessor>()
                .ok_or(Vst3Error::Call {
                    plugin: name.clone(),
                    bundle: bundle.clone(),
                    call: "queryInterface(IAudioProcessor)",
                    result: vst3::Steinberg::kNoInterface,
                })?,
        );
        // The controller: the component itself, or a separate class.
        if let Some(c) = component.cast::<sv::IEditController>() {
            inst.controller = Some(c);
        } else {
            let mut ccid: sb::TUID = [0; 16];
            // SAFETY: `ccid` is a valid out-buffer.
            if unsafe { component.getControllerClassId(&mut ccid) } == kResultOk {
                if let Some(c) = create::<sv::IEditController>(&module, &ccid) {
                    // SAFETY: first call on a fresh controller.
                    check(
                        // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
                        unsafe { c.initialize(host_ctx) },
                        "IEditController::initialize",
                        &name,
                        &bundle,
                    )?;
                    inst.controller = Some(c);
                    inst.separate_controller = true;
                }
            }
        }
        if let Some(ctrl) = &inst.controller {
            if inst.separate_controller {
                if let (Some(a), Some(b)) = (
                    component.cast::<sv::IConnectionPoint>(),
                    ctrl.cast::<sv::IConnectionPoint>(),
                ) {
                    // SAFETY: both live; each keeps the other as its peer
                    // until `disconnect` in Drop.
                    unsafe {
                        a.connect(b.as_ptr());
                        b.connect(a.as_ptr());
                    }
                    inst.connection = Some((a, b));
                }
            }
            let h = inst
                .handler
                .as_com_ref::<sv::IComponentHandler>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr());
            // SAFETY: a live handler that outlives the controller.
            unsafe { ctrl.setComponentHandler(h) };
            // Sync the controller with the component's initial state.
            let stream = ComWrapper::new(MemStream::default());
            if let Some(s) = stream.to_com_ptr::<sb::IBStream>() {
                // SAFETY: a live stream; main thread.
                if unsafe { component.getState(s.as_ptr()) } == kResultOk {
                    let bytes = stream.bytes();
                    let rs = ComWrapper::new(MemStream::reading(&bytes));
                    if let Some(rs) = rs.to_com_ptr::<sb::IBStream>() {
                        // SAFETY: a live stream; main thread.
                        unsafe { ctrl.setComponentState(rs.as_ptr()) };
                    }
                }
            }
        }
        inst.reread_params();
        Ok(inst)
    }

    fn bundle(&self) -> PathBuf {
        self.module
            .as_ref()
            .map(|m| m.bundle.clone())
            .unwrap_or_default()
    }

    fn reread_params(&mut self) {
        self.params.clear();
        let Some(ctrl) = &self.controller else { return };
        // SAFETY: plain call; main thread.
        let n = unsafe { ctrl.getParameterCount() };
        for i in 0..n.max(0) {
            let mut pi: sv::ParameterInfo = module::zeroed();
            // SAFETY: `pi` is a valid out-struct.
            if unsafe { ctrl.getParameterInfo(i, &mut pi) } != kResultOk {
                continue;
            }
            // Read-only and hidden parameters (meters, DPF's sample-rate
            // parameter) cannot be set by a user or a preset.
            use sv::ParameterInfo_::ParameterFlags_ as pf;
            if pi.flags & (pf::kIsReadOnly | pf::kIsHidden) != 0 {
                continue;
            }
            let steps = pi.stepCount.max(0);
            let scale = if steps > 0 { f64::from(steps) } else { 1.0 };
            let default = if steps > 0 {
                (pi.defaultNormalizedValue * scale).round()
            } else {
                pi.defaultNormalizedValue
            };
            self.params.push(ParamMeta {
                info: ParamInfo {
                    id: pi.id,
                    name: fixed_wstr(&pi.title),
                    min: 0.0,
                    max: scale,
                    default,
                    stepped: steps > 0,
                },
                steps,
            });
        }
    }

    fn meta(&self, id: ParamId) -> Option<&ParamMeta> {
        self.params.iter().find(|p| p.info.id == id)
    }

    fn to_normalized(&self, id: ParamId, plain: f64) -> f64 {
        let steps = self.meta(id).map_or(0, |m| m.steps);
        plain_to_norm(steps, plain)
    }

    fn stream_call(
        &self,
        f: impl FnOnce(*mut sb::IBStream) -> sb::tresult,
    ) -> Result<Vec<u8>, sb::tresult> {
        let stream = ComWrapper::new(MemStream::default());
        let s = stream
            .to_com_ptr::<sb::IBStream>()
            .ok_or(vst3::Steinberg::kNoInterface)?;
        let r = f(s.as_ptr());
        if r == kResultOk {
            Ok(stream.bytes())
        } else {
            Err(r)
        }
    }

    fn bad_state(&self, reason: String) -> PluginError {
        PluginError::BadState {
            plugin: self.descriptor.name.clone(),
            reason,
        }
    }
}

fn plain_to_norm(steps: i32, plain: f64) -> f64 {
    if steps > 0 {
        (plain / f64::from(steps)).clamp(0.0, 1.0)
    } else {
        plain.clamp(0.0, 1.0)
    }
}

fn norm_to_plain(steps: i32, norm: f64) -> f64 {
    if steps > 0 {
        (norm * f64::from(steps)).round()
    } else {
        norm
    }
}

fn speaker_count(arr: sv::SpeakerArrangement) -> usize {
    arr.count_ones() as usize
}

/// One direction's audio buses, preallocated.
struct Buses {
    /// Per bus: its channel buffers.
    data: Vec<Vec<Vec<f32>>>,
    /// Per bus: pointers to its channel buffers.
    ptrs: Vec<Vec<*mut f32>>,
    /// What `ProcessData` points at.
    buses: Vec<sv::AudioBusBuffers>,
}

impl Buses {
    fn new(channels: &[usize], frames: usize) -> Buses {
        let mut data: Vec<Vec<Vec<f32>>> = channels
            .iter()
            .map(|&c| (0..c).map(|_| vec![0.0f32; frames]).collect())
            .collect();
        let mut ptrs: Vec<Vec<*mut f32>> = data
            .iter_mut()
            .map(|bus| bus.iter_mut().map(|ch| ch.as_mut_ptr()).collect())
            .collect();
        let buses = ptrs
            .iter_mut()
            .map(|p| sv::AudioBusBuffers {
                numChannels: p.len() as i32,
                silenceFlags: 0,
                __field0: sv::AudioBusBuffers__type0 {
                    channelBuffers32: p.as_mut_ptr(),
                },
            })
            .collect();
        Buses { data, ptrs, buses }
    }
}

impl Vst3Instance {
    /// A new editor view of the controller, with our frame (None without a
    /// controller or a view for this platform). Main thread.
    fn new_editor(&self) -> Option<view::Vst3Editor> {
        view::Vst3Editor::create(
            self.controller.as_ref()?,
            #[cfg(target_os = "linux")]
            self.host.to_com_ptr::<vst3::Steinberg::Linux::IRunLoop>(),
        )
    }
}

impl PluginInstance for Vst3Instance {
    fn descriptor(&self) -> &PluginDescriptor {
        &self.descriptor
    }

    fn has_editor(&self) -> bool {
        if self.editor.is_some() {
            return true;
        }
        if let Some(known) = self.editor_support.get() {
            return known;
        }
        // Asking means creating a view: not on a machine without a display
        // (a stage PC), where no editor can open anyway.
        if stagerack_core::editor::check_display().is_err() {
            return false;
        }
        let supported = self.new_editor().map(view::Vst3Editor::close).is_some();
        self.editor_support.set(Some(supported));
        supported
    }

    fn create_editor(&mut self) -> Result<(u32, u32), PluginError> {
        let fail = |reason: &str| PluginError::Other {
            plugin: self.descriptor.name.clone(),
            reason: format!("its editor {reason}"),
        };
        if self.editor.is_some() {
            return Err(fail("is open already"));
        }
        let editor = self
            .new_editor()
            .ok_or_else(|| fail("is missing: it has no view for this platform's windows"))?;
        let size = editor.size();
        self.editor = Some(editor);
        Ok(size)
    }

    fn attach_editor(
        &mut self,
        parent: stagerack_core::editor::ParentWindow,
    ) -> Result<(), PluginError> {
        let name = self.descriptor.name.clone();
        let editor = self.editor.as_mut().ok_or_else(|| PluginError::Other {
            plugin: name.clone(),
            reason: "its editor was not created".into(),
        })?;
        editor.attach(parent).map_err(|reason| PluginError::Other {
            plugin: name,
            reason: format!("its editor refused its window: {reason}"),
        })
    }

    fn destroy_editor(&mut self) {
        if let Some(editor) = self.editor.take() {
            editor.close();
        }
    }

    fn take_editor_requests(&mut self, out: &mut Vec<stagerack_core::plugin::EditorRequest>) {
        if let Some((w, h)) = self.editor.as_ref().and_then(view::Vst3Editor::take_resize) {
            out.push(stagerack_core::plugin::EditorRequest::Resize(w, h));
        }
    }

    fn editor_resized(&mut self, width: u32, height: u32) {
        if let Some(editor) = &self.editor {
            editor.resized(width, height);
        }
    }

    fn params(&self) -> Vec<ParamInfo> {
        self.params.iter().map(|p| p.info.clone()).collect()
    }

    fn param_value(&self, id: ParamId) -> Option<f64> {
        let meta = self.meta(id)?;
        let ctrl = self.controller.as_ref()?;
        // SAFETY: plain call; main thread.
        let n = unsafe { ctrl.getParamNormalized(id) };
        Some(norm_to_plain(meta.steps, n))
    }

    fn param_text(&self, id: ParamId, value: f64) -> Option<String> {
        self.meta(id)?;
        let ctrl = self.controller.as_ref()?;
        let mut s: sv::String128 = [0; 128];
        let n = self.to_normalized(id, value);
        // SAFETY: `s` is a valid out-buffer.
        let r = unsafe { ctrl.getParamStringByValue(id, n, &mut s) };
        (r == kResultOk).then(|| fixed_wstr(&s))
    }

    fn set_param(&mut self, id: ParamId, value: f64) -> Result<(), PluginError> {
        if self.meta(id).is_none() {
            return Err(PluginError::UnknownParam {
                plugin: self.descriptor.name.clone(),
                param: id.to_string(),
            });
        }
        let n = self.to_normalized(id, value);
        if let Some(ctrl) = &self.controller {
            // SAFETY: plain call; main thread.
            unsafe { ctrl.setParamNormalized(id, n) };
        }
        if let Ok(mut e) = self.handler.edits.lock() {
            e.push(id, n);
        }
        Ok(())
    }

    fn host_changed_param(&mut self, id: ParamId, value: f64) {
        if self.meta(id).is_none() {
            return;
        }
        let n = self.to_normalized(id, value);
        if let Some(ctrl) = &self.controller {
            // SAFETY: plain call; main thread.
            unsafe { ctrl.setParamNormalized(id, n) };
        }
    }

    fn activate(&mut self, config: &ProcessConfig) -> Result<Box<dyn AudioProcessor>, PluginError> {
        self.activate_inner(config)
            .map_err(|e| e.into_plugin_error(self.descriptor.name.clone()))
    }

    fn deactivate(&mut self, processor: Box<dyn AudioProcessor>) {
        drop(processor);
        if self.active {
            if let Some(c) = &self.component {
                // SAFETY: plain call; main thread; processing has stopped.
                unsafe { c.setActive(0) };
            }
            self.active = false;
        }
        if let Ok(mut e) = self.handler.edits.lock() {
            e.producer = None;
        }
        self.drain_to_main();
        self.to_main = None;
    }

    fn save_state(&mut self) -> Result<Vec<u8>, PluginError> {
        self.flush_pending();
        let comp = self
            .component
            .clone()
            .ok_or_else(|| self.bad_state("no component".into()))?;
        // SAFETY: a live stream for the duration of the call; main thread.
        let cs = self
            .stream_call(|s| unsafe { comp.getState(s) })
            .map_err(|r| self.bad_state(format!("IComponent::getState failed (result {r})")))?;
        let ks = match &self.controller {
            // SAFETY: as above.
            Some(ctrl) => self
                .stream_call(|s| unsafe { ctrl.getState(s) })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(cs.len() + ks.len() + 13);
        out.extend_from_slice(STATE_MAGIC);
        out.extend_from_slice(&(cs.len() as u32).to_le_bytes());
        out.extend_from_slice(&cs);
        out.extend_from_slice(&(ks.len() as u32).to_le_bytes());
        out.extend_from_slice(&ks);
        Ok(out)
    }

    fn load_state(&mut self, state: &[u8]) -> Result<(), PluginError> {
        let (cs, ks) = parse_state(state)
            .ok_or_else(|| self.bad_state("not a stagerack VST3 state blob".into()))?;
        let comp = self
            .component
            .clone()
            .ok_or_else(|| self.bad_state("no component".into()))?;
        let stream =
            |bytes: &[u8]| ComWrapper::new(MemStream::reading(bytes)).to_com_ptr::<sb::IBStream>();
        let s = stream(cs).ok_or_else(|| self.bad_state("stream".into()))?;
        // SAFETY: a live stream; main thread.
        let r = unsafe { comp.setState(s.as_ptr()) };
        if r != kResultOk {
            return Err(self.bad_state(format!("IComponent::setState failed (result {r})")));
        }
        if let Some(ctrl) = &self.controller {
            if let Some(s) = stream(cs) {
                // SAFETY: a live stream; main thread.
                unsafe { ctrl.setComponentState(s.as_ptr()) };
            }
            if !ks.is_empty() {
                if let Some(s) = stream(ks) {
                    // SAFETY: a live stream; main thread.
                    unsafe { ctrl.setState(s.as_ptr()) };
                }
            }
        }
        Ok(())
    }

    fn latency(&self) -> u32 {
        self.latency
    }

    /// True when the plugin asked for a restart since activation
    /// (`restartComponent` with a new latency, kIoChanged or
    /// kReloadComponent).
    fn needs_restart(&self) -> bool {
        self.restart_requested
    }

    fn tail(&self) -> Tail {
        let Some(a) = &self.audio else {
            return Tail::None;
        };
        // SAFETY: plain call; main thread.
        match unsafe { a.getTailSamples() } {
            0 => Tail::None,
            u32::MAX => Tail::Infinite,
            n => Tail::Frames(n),
        }
    }

    fn on_main_thread(&mut self) {
        self.drain_to_main();
        let flags = self.handler.restart.swap(0, Ordering::AcqRel);
        if flags != 0 {
            use sv::RestartFlags_ as rf;
            if flags & (rf::kParamTitlesChanged | rf::kParamValuesChanged) != 0 {
                self.reread_params();
            }
            if flags & (rf::kReloadComponent | rf::kIoChanged) != 0 {
                // New buses or a reload: only a fresh activation applies it.
                self.restart_requested = true;
            }
            if flags & rf::kLatencyChanged != 0 {
                if let Some(a) = &self.audio {
                    // SAFETY: plain call; main thread.
                    let l = unsafe { a.getLatencySamples() };
                    if l != self.latency {
                        self.restart_requested = true;
                        tracing::warn!(
                            "VST3 plugin `{}` changed its latency to {l} frames; it applies at the next activation",
                            self.descriptor.name
                        );
                    }
                }
            }
        }
        #[cfg(target_os = "linux")]
        self.host.run_loop.service();
    }
}

fn parse_state(state: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = state.strip_prefix(STATE_MAGIC.as_slice())?;
    let take = |b: &[u8]| -> Option<(usize, usize)> {
        let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        (b.len() >= 4 + len).then_some((4, 4 + len))
    };
    let (a, b) = take(rest)?;
    let cs = &rest[a..b];
    let rest = &rest[b..];
    let (c, d) = take(rest)?;
    Some((cs, &rest[c..d]))
}

impl Vst3Instance {
    /// Parameter edits made while inactive live only in the controller
    /// until the processor hears them. Before saving state, hand them to
    /// the component with a one-frame process call on silence (VST3 allows
    /// zero frames to flush parameters, but DPF-built plugins ignore the
    /// parameters of such a call). Main thread.
    fn flush_pending(&mut self) {
        if self.active {
            return;
        }
        let pending = self
            .handler
            .edits
            .lock()
            .map(|e| !e.pending.is_empty())
            .unwrap_or(false);
        if !pending {
            return;
        }
        let config = self.last_config.unwrap_or(ProcessConfig {
            sample_rate: 48_000.0,
            min_block: 1,
            max_block: 512,
            offline: true,
        });
        let Ok(mut p) = self.activate_inner(&config) else {
            return;
        };
        let mut out_events = stagerack_core::midi::EventBuffer::with_capacity(0);
        let transport = stagerack_core::plugin::Transport {
            tempo: 120.0,
            playing: false,
            steady_frames: 0,
            sample_rate: config.sample_rate,
        };
        let (mut l, mut r) = ([0.0f32], [0.0f32]);
        let mut block = Block {
            frames: 1,
            left: &mut l,
            right: &mut r,
            events: &[],
            out_events: &mut out_events,
            transport: &transport,
        };
        p.process(&mut block);
        p.stop();
        self.deactivate(p);
    }

    fn drain_to_main(&mut self) {
        let (Some(rx), Some(ctrl)) = (&mut self.to_main, &self.controller) else {
            return;
        };
        while let Ok((id, v)) = rx.pop() {
            // SAFETY: plain call; main thread.
            unsafe { ctrl.setParamNormalized(id, v) };
        }
    }

    fn activate_inner(
        &mut self,
        config: &ProcessConfig,
    ) -> Result<Box<dyn AudioProcessor>, Vst3Error> {
        self.last_config = Some(*config);
        let name = self.descriptor.name.clone();
        let bundle = self.bundle();
        let comp = self.component.clone().expect("component lives until drop");
        let audio = self.audio.clone().expect("processor lives until drop");
        use sv::BusDirections_::{kInput, kOutput};
        use sv::MediaTypes_::{kAudio, kEvent};
        // SAFETY (all calls below): plain calls on live objects with valid
        // out-pointers, on the main thread, in the documented order.
        // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
        let n_in = unsafe { comp.getBusCount(kAudio as i32, kInput as i32) }.max(0) as usize;
        // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
        let n_out = unsafe { comp.getBusCount(kAudio as i32, kOutput as i32) }.max(0) as usize;
        // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
        let n_ev = unsafe { comp.getBusCount(kEvent as i32, kInput as i32) }.max(0);
        let current = |dir: i32, i: usize| {
            let mut arr: sv::SpeakerArrangement = 0;
            // SAFETY: valid out-pointer.
            if unsafe { audio.getBusArrangement(dir, i as i32, &mut arr) } == kResultOk {
                arr
            } else {
                let mut info: sv::BusInfo = module::zeroed();
                // SAFETY: valid out-struct.
                unsafe { comp.getBusInfo(kAudio as i32, dir, i as i32, &mut info) };
                match info.channelCount {
                    1 => sv::SpeakerArr::kMono,
                    2 => sv::SpeakerArr::kStereo,
                    n => (1u64 << n.clamp(0, 63)) - 1,
                }
            }
        };
        let mut ins: Vec<sv::SpeakerArrangement> =
            (0..n_in).map(|i| current(kInput as i32, i)).collect();
        let mut outs: Vec<sv::SpeakerArrangement> =
            (0..n_out).map(|i| current(kOutput as i32, i)).collect();
        let mut want_in = ins.clone();
        let mut want_out = outs.clone();
        if let Some(a) = want_out.first_mut() {
            *a = sv::SpeakerArr::kStereo;
        }
        if let Some(a) = want_in.first_mut() {
            if *a != sv::SpeakerArr::kMono {
                *a = sv::SpeakerArr::kStereo;
            }
        }
        // SAFETY: arrays of the stated lengths.
        let r = unsafe {
            audio.setBusArrangements(
                want_in.as_mut_ptr(),
                n_in as i32,
                want_out.as_mut_ptr(),
                n_out as i32,
            )
        };
        if r == kResultOk {
            ins = want_in;
            outs = want_out;
        } else {
            // The plugin keeps its own layout; read what it settled on.
            ins = (0..n_in).map(|i| current(kInput as i32, i)).collect();
            outs = (0..n_out).map(|i| current(kOutput as i32, i)).collect();
            let _ = (&mut ins, &mut outs);
        }
        if n_in > 0 {
            // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
            unsafe { comp.activateBus(kAudio as i32, kInput as i32, 0, 1) };
        }
        if n_out > 0 {
            // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
            unsafe { comp.activateBus(kAudio as i32, kOutput as i32, 0, 1) };
        }
        if n_ev > 0 {
            // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
            unsafe { comp.activateBus(kEvent as i32, kInput as i32, 0, 1) };
        }
        // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
        let r = unsafe { audio.canProcessSampleSize(sv::SymbolicSampleSizes_::kSample32 as i32) };
        check(r, "canProcessSampleSize(32-bit)", &name, &bundle)?;
        let max_block = config.max_block.max(1) as usize;
        let mut setup = sv::ProcessSetup {
            processMode: if config.offline {
                sv::ProcessModes_::kOffline as i32
            } else {
                sv::ProcessModes_::kRealtime as i32
            },
            symbolicSampleSize: sv::SymbolicSampleSizes_::kSample32 as i32,
            maxSamplesPerBlock: max_block as i32,
            sampleRate: config.sample_rate,
        };
        check(
            // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
            unsafe { audio.setupProcessing(&mut setup) },
            "setupProcessing",
            &name,
            &bundle,
        )?;
        check(
            // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
            unsafe { comp.setActive(1) },
            "setActive(true)",
            &name,
            &bundle,
        )?;
        self.active = true;
        // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
        self.latency = unsafe { audio.getLatencySamples() };
        self.restart_requested = false;

        // MIDI CC / aftertouch / pitch bend → parameter table.
        let mut midi_map = vec![[NO_PARAM; MIDI_CTRLS]; 16].into_boxed_slice();
        if let Some(mm) = self
            .controller
            .as_ref()
            .and_then(|c| c.cast::<sv::IMidiMapping>())
        {
            for (ch, row) in midi_map.iter_mut().enumerate() {
                for (cc, slot) in row.iter_mut().enumerate() {
                    let mut id: sv::ParamID = 0;
                    // SAFETY: a plain call on live objects with valid (out-)pointers, on the main thread, in the documented order.
                    if unsafe { mm.getMidiControllerAssignment(0, ch as i16, cc as i16, &mut id) }
                        == kResultOk
                    {
                        *slot = id;
                    }
                }
            }
        }
        let mut steps: Vec<(u32, i32)> = self.params.iter().map(|p| (p.info.id, p.steps)).collect();
        steps.sort_unstable();

        // Queues both ways.
        let (edit_tx, edit_rx) = rtrb::RingBuffer::new(EDIT_QUEUE);
        let (main_tx, main_rx) = rtrb::RingBuffer::new(EDIT_QUEUE);
        if let Ok(mut e) = self.handler.edits.lock() {
            let mut tx = edit_tx;
            for (id, v) in e.pending.drain(..) {
                let _ = tx.push((id, v));
            }
            e.producer = Some(tx);
        }
        self.to_main = Some(main_rx);

        let in_ch: Vec<usize> = ins.iter().map(|&a| speaker_count(a)).collect();
        let out_ch: Vec<usize> = outs.iter().map(|&a| speaker_count(a)).collect();
        let events_in = ComWrapper::new(EventList::with_capacity(EVENT_CAPACITY));
        let events_out = ComWrapper::new(EventList::with_capacity(EVENT_CAPACITY));
        let params_in = ComWrapper::new(ParamChanges::new(PARAM_QUEUES, PARAM_POINTS));
        let params_out = ComWrapper::new(ParamChanges::new(PARAM_QUEUES, PARAM_POINTS));
        let mut ctx: sv::ProcessContext = module::zeroed();
        ctx.sampleRate = config.sample_rate;
        ctx.timeSigNumerator = 4;
        ctx.timeSigDenominator = 4;
        let clock = quanta::Clock::new();
        Ok(Box::new(Vst3Processor {
            audio,
            inputs: Buses::new(&in_ch, max_block),
            outputs: Buses::new(&out_ch, max_block),
            has_events: n_ev > 0,
            events_in,
            events_out,
            params_in,
            params_out,
            edits: edit_rx,
            to_main: main_tx,
            midi_map,
            steps,
            ctx,
            offline: config.offline,
            max_block,
            started: clock.now(),
            clock,
            processing: false,
        }))
    }
}

impl Drop for Vst3Instance {
    fn drop(&mut self) {
        // The view goes before the controller does.
        self.destroy_editor();
        if self.active {
            if let Some(c) = &self.component {
                // SAFETY: plain call; main thread.
                unsafe { c.setActive(0) };
            }
        }
        if let Some((a, b)) = self.connection.take() {
            // SAFETY: the pair connected in `create`.
            unsafe {
                a.disconnect(b.as_ptr());
                b.disconnect(a.as_ptr());
            }
        }
        #[cfg(target_os = "linux")]
        self.host.run_loop.clear();
        if let Some(ctrl) = self.controller.take() {
            // SAFETY: plain calls; main thread; last use of the controller.
            unsafe {
                ctrl.setComponentHandler(std::ptr::null_mut());
                if self.separate_controller {
                    ctrl.terminate();
                }
            }
        }
        self.audio = None;
        if let Some(c) = self.component.take() {
            // SAFETY: last use of the component.
            unsafe { c.terminate() };
        }
        // Now nothing from the module is alive: unload it.
        self.module = None;
    }
}

/// The audio half of a VST3 instance. Audio thread.
struct Vst3Processor {
    audio: ComPtr<sv::IAudioProcessor>,
    inputs: Buses,
    outputs: Buses,
    has_events: bool,
    events_in: ComWrapper<EventList>,
    events_out: ComWrapper<EventList>,
    params_in: ComWrapper<ParamChanges>,
    params_out: ComWrapper<ParamChanges>,
    edits: rtrb::Consumer<(u32, f64)>,
    to_main: rtrb::Producer<(u32, f64)>,
    midi_map: Box<[[u32; MIDI_CTRLS]]>,
    steps: Vec<(u32, i32)>,
    ctx: sv::ProcessContext,
    offline: bool,
    max_block: usize,
    /// ProcessContext `systemTime` since activation: a clock made on the
    /// main thread, read on the audio thread without locks or globals.
    clock: quanta::Clock,
    started: quanta::Instant,
    processing: bool,
}

// SAFETY: the raw pointers in `inputs`/`outputs` point into buffers this
// struct owns; the COM objects are used by one thread at a time (the one
// that owns the processor); VST3 allows the audio processor interface to be
// called from the audio thread.
unsafe impl Send for Vst3Processor {}

impl Vst3Processor {
    fn add_param(&mut self, id: u32, offset: i32, norm: f64) {
        if let Some((_, q)) = self.params_in.queue(id) {
            q.add(offset, norm);
        }
        let _ = self.to_main.push((id, norm));
    }

    fn steps_of(&self, id: u32) -> i32 {
        match self.steps.binary_search_by_key(&id, |s| s.0) {
            Ok(i) => self.steps[i].1,
            Err(_) => 0,
        }
    }

    fn note_event(
        &self,
        offset: i32,
        ty: sv::Event_::EventTypes,
        body: sv::Event__type0,
    ) -> sv::Event {
        sv::Event {
            busIndex: 0,
            sampleOffset: offset,
            ppqPosition: 0.0,
            flags: if self.offline {
                0
            } else {
                sv::Event_::EventFlags_::kIsLive as u16
            },
            r#type: ty as u16,
            __field0: body,
        }
    }
}

impl AudioProcessor for Vst3Processor {
    fn process(&mut self, block: &mut Block<'_>) -> ProcessStatus {
        let frames = block.frames.min(self.max_block);
        if !self.processing {
            // SAFETY: plain call on the audio thread, after setActive.
            unsafe { self.audio.setProcessing(1) };
            self.processing = true;
        }
        self.events_in.clear();
        self.events_out.clear();
        self.params_in.clear();
        self.params_out.clear();
        while let Ok((id, v)) = self.edits.pop() {
            if let Some((_, q)) = self.params_in.queue(id) {
                q.add(0, v);
            }
        }
        use sv::Event_::EventTypes_ as et;
        for ev in block.events {
            let offset = (ev.offset as usize).min(frames.saturating_sub(1)) as i32;
            match ev.event {
                Event::NoteOn {
                    channel,
                    key,
                    velocity,
                    note_id,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kNoteOnEvent,
                        sv::Event__type0 {
                            noteOn: sv::NoteOnEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                tuning: 0.0,
                                velocity,
                                length: 0,
                                noteId: note_id,
                            },
                        },
                    );
                    self.events_in.push(e);
                }
                Event::NoteOff {
                    channel,
                    key,
                    velocity,
                    note_id,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kNoteOffEvent,
                        sv::Event__type0 {
                            noteOff: sv::NoteOffEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                velocity,
                                noteId: note_id,
                                tuning: 0.0,
                            },
                        },
                    );
                    self.events_in.push(e);
                }
                Event::NoteChoke {
                    channel,
                    key,
                    note_id,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kNoteOffEvent,
                        sv::Event__type0 {
                            noteOff: sv::NoteOffEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                velocity: 0.0,
                                noteId: note_id,
                                tuning: 0.0,
                            },
                        },
                    );
                    self.events_in.push(e);
                }
                Event::PolyPressure {
                    channel,
                    key,
                    value,
                } if self.has_events => {
                    let e = self.note_event(
                        offset,
                        et::kPolyPressureEvent,
                        sv::Event__type0 {
                            polyPressure: sv::PolyPressureEvent {
                                channel: i16::from(channel),
                                pitch: i16::from(key),
                                pressure: f32::from(value) / 127.0,
                                noteId: -1,
                            },
                        },
                    );
                    self.events_in.push(e);
                }
                Event::ControlChange {
                    channel,
                    controller,
                    value,
                } => {
                    let id =
                        self.midi_map[usize::from(channel & 15)][usize::from(controller & 127)];
                    if id != NO_PARAM {
                        self.add_param(id, offset, f64::from(value) / 127.0);
                    }
                }
                Event::ChannelPressure { channel, value } => {
                    let id = self.midi_map[usize::from(channel & 15)][128];
                    if id != NO_PARAM {
                        self.add_param(id, offset, f64::from(value) / 127.0);
                    }
                }
                Event::PitchBend { channel, value } => {
                    let id = self.midi_map[usize::from(channel & 15)][129];
                    if id != NO_PARAM {
                        self.add_param(id, offset, f64::from(value) / 16383.0);
                    }
                }
                Event::ParamValue { param, value } => {
                    let n = plain_to_norm(self.steps_of(param), value);
                    self.add_param(param, offset, n);
                }
                _ => {}
            }
        }

        // Audio in.
        if let Some(main) = self.inputs.data.first_mut() {
            match main.len() {
                0 => {}
                1 => {
                    for ((d, l), r) in main[0][..frames]
                        .iter_mut()
                        .zip(block.left[..frames].iter())
                        .zip(block.right[..frames].iter())
                    {
                        *d = 0.5 * (l + r);
                    }
                }
                _ => {
                    main[0][..frames].copy_from_slice(&block.left[..frames]);
                    main[1][..frames].copy_from_slice(&block.right[..frames]);
                }
            }
        }
        for bus in &mut self.inputs.buses {
            bus.silenceFlags = 0;
        }
        for bus in &mut self.outputs.buses {
            bus.silenceFlags = 0;
        }

        // Transport.
        let t = block.transport;
        use sv::ProcessContext_::StatesAndFlags_ as sf;
        let mut state = sf::kTempoValid | sf::kContTimeValid | sf::kSystemTimeValid;
        state |= sf::kProjectTimeMusicValid | sf::kTimeSigValid;
        if t.playing {
            state |= sf::kPlaying;
        }
        self.ctx.state = state;
        self.ctx.tempo = t.tempo;
        self.ctx.projectTimeSamples = t.steady_frames as i64;
        self.ctx.continousTimeSamples = t.steady_frames as i64;
        self.ctx.projectTimeMusic = t.steady_frames as f64 / self.ctx.sampleRate * t.tempo / 60.0;
        self.ctx.systemTime = (self.clock.now() - self.started).as_nanos() as i64;

        let mut data = sv::ProcessData {
            processMode: if self.offline {
                sv::ProcessModes_::kOffline as i32
            } else {
                sv::ProcessModes_::kRealtime as i32
            },
            symbolicSampleSize: sv::SymbolicSampleSizes_::kSample32 as i32,
            numSamples: frames as i32,
            numInputs: self.inputs.buses.len() as i32,
            numOutputs: self.outputs.buses.len() as i32,
            inputs: self.inputs.buses.as_mut_ptr(),
            outputs: self.outputs.buses.as_mut_ptr(),
            inputParameterChanges: self
                .params_in
                .as_com_ref::<sv::IParameterChanges>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr()),
            outputParameterChanges: self
                .params_out
                .as_com_ref::<sv::IParameterChanges>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr()),
            inputEvents: if self.has_events {
                self.events_in
                    .as_com_ref::<sv::IEventList>()
                    .map_or(std::ptr::null_mut(), |r| r.as_ptr())
            } else {
                std::ptr::null_mut()
            },
            outputEvents: self
                .events_out
                .as_com_ref::<sv::IEventList>()
                .map_or(std::ptr::null_mut(), |r| r.as_ptr()),
            processContext: &mut self.ctx,
        };
        // SAFETY: every pointer in `data` points into buffers and objects
        // this processor owns, sized for `max_block` ≥ `frames`.
        let result = unsafe { self.audio.process(&mut data) };
        if result != kResultOk {
            // As for CLAP: the failed block is silent, the chain bypasses
            // the plugin from now on and reports it by name.
            block.left[..frames].fill(0.0);
            block.right[..frames].fill(0.0);
            return ProcessStatus::Error;
        }

        // Notes and MIDI the plugin emits go to the next slot.
        for e in self.events_out.events() {
            if let Some(ev) = events_out::chain_event(e, frames) {
                block.out_events.push(ev);
            }
        }

        // Parameter changes the plugin reports go to its controller.
        for q in self.params_out.used() {
            if let Some(&(_, v)) = q.points().last() {
                // SAFETY: plain read of the queue's id.
                let id = unsafe { sv::IParamValueQueueTrait::getParameterId(q) };
                let _ = self.to_main.push((id, v));
            }
        }

        // Audio out.
        match self.outputs.data.first() {
            Some(main) if main.len() >= 2 => {
                block.left[..frames].copy_from_slice(&main[0][..frames]);
                block.right[..frames].copy_from_slice(&main[1][..frames]);
            }
            Some(main) if main.len() == 1 => {
                block.left[..frames].copy_from_slice(&main[0][..frames]);
                block.right[..frames].copy_from_slice(&main[0][..frames]);
            }
            _ => {
                block.left[..frames].fill(0.0);
                block.right[..frames].fill(0.0);
            }
        }
        let _ = &self.inputs.ptrs;
        let _ = &self.outputs.ptrs;
        ProcessStatus::Continue
    }

    /// VST3 has no "reset" call; leaving and re-entering the processing
    /// state (`setProcessing(false)`, then `true` before the next block) is
    /// where plugins clear their voices and delay lines.
    fn reset(&mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.processing {
            // SAFETY: plain call on the audio thread.
            unsafe { self.audio.setProcessing(0) };
            self.processing = false;
        }
    }
}

/// The processor must be able to move to the audio thread (compile-time
/// check); the instance holds an `Rc<Module>` and so stays `!Send`.
#[allow(dead_code)]
fn assert_processor_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Vst3Processor>();
}

/// Creates the VST3 instance a preset names, as a trait object. Main thread.
pub fn load_boxed(def: &PluginDef) -> Result<Box<dyn PluginInstance>, PluginError> {
    Ok(Box::new(load(def)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_ids_round_trip_through_hex() {
        let hex = "0123456789ABCDEF0123456789abcdef";
        let t = hex_to_tuid(hex).unwrap();
        assert_eq!(module::tuid_to_hex(&t), hex.to_uppercase());
        assert!(hex_to_tuid("xyz").is_none());
    }

    #[test]
    fn state_blobs_parse_back() {
        let mut blob = STATE_MAGIC.to_vec();
        blob.extend_from_slice(&3u32.to_le_bytes());
        blob.extend_from_slice(b"abc");
        blob.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_state(&blob), Some((&b"abc"[..], &b""[..])));
        assert_eq!(parse_state(b"SRV3\x01\xff\xff\xff\xff"), None);
        assert_eq!(parse_state(b"nope"), None);
    }

    #[test]
    fn stepped_params_map_to_step_indices() {
        assert_eq!(plain_to_norm(4, 2.0), 0.5);
        assert_eq!(norm_to_plain(4, 0.5), 2.0);
        assert_eq!(plain_to_norm(0, 0.25), 0.25);
        assert_eq!(norm_to_plain(0, 0.25), 0.25);
    }

    #[test]
    fn component_handler_queues_edits_and_keeps_restart_flags() {
        let h = ComWrapper::new(ComponentHandler::default());
        let p = h.to_com_ptr::<sv::IComponentHandler>().unwrap();
        // SAFETY: calls through our own live COM object.
        unsafe {
            use sv::IComponentHandlerTrait;
            assert_eq!(p.beginEdit(3), kResultOk);
            assert_eq!(p.performEdit(3, 0.25), kResultOk);
            assert_eq!(p.performEdit(3, 0.5), kResultOk);
            assert_eq!(p.performEdit(4, 2.0), kResultOk);
            assert_eq!(p.endEdit(3), kResultOk);
            assert_eq!(
                p.restartComponent(sv::RestartFlags_::kLatencyChanged),
                kResultOk
            );
        }
        assert_eq!(h.edits.lock().unwrap().pending, vec![(3, 0.5), (4, 1.0)]);
        assert_eq!(
            h.restart.load(Ordering::Acquire),
            sv::RestartFlags_::kLatencyChanged
        );
        // While active, edits go to the processor's queue.
        let (tx, mut rx) = rtrb::RingBuffer::new(4);
        h.edits.lock().unwrap().producer = Some(tx);
        // SAFETY: as above.
        unsafe {
            use sv::IComponentHandlerTrait;
            p.performEdit(9, 0.75);
        }
        assert_eq!(rx.pop(), Ok((9, 0.75)));
    }

    #[test]
    fn memory_streams_read_write_seek_and_tell() {
        use sb::IBStreamTrait;
        let s = ComWrapper::new(MemStream::default());
        let p = s.to_com_ptr::<sb::IBStream>().unwrap();
        let mut data = *b"hello world";
        let (mut n, mut pos) = (0, 0i64);
        // SAFETY: calls through our own live COM object with valid buffers.
        unsafe {
            assert_eq!(p.write(data.as_mut_ptr().cast(), 11, &mut n), kResultOk);
            assert_eq!(n, 11);
            assert_eq!(
                p.seek(
                    6,
                    sb::IBStream_::IStreamSeekMode_::kIBSeekSet as i32,
                    &mut pos
                ),
                kResultOk
            );
            let mut buf = [0u8; 16];
            assert_eq!(p.read(buf.as_mut_ptr().cast(), 16, &mut n), kResultOk);
            assert_eq!(&buf[..n as usize], b"world");
            assert_eq!(p.tell(&mut pos), kResultOk);
            assert_eq!(pos, 11);
            assert_eq!(
                p.seek(
                    -5,
                    sb::IBStream_::IStreamSeekMode_::kIBSeekEnd as i32,
                    &mut pos
                ),
                kResultOk
            );
            assert_eq!(pos, 6);
            assert_ne!(
                p.seek(
                    -1,
                    sb::IBStream_::IStreamSeekMode_::kIBSeekSet as i32,
                    &mut pos
                ),
                kResultOk
            );
        }
        assert_eq!(s.bytes(), b"hello world");
    }

    #[test]
    fn host_context_names_itself_and_makes_messages() {
        use sv::{IAttributeListTrait, IHostApplicationTrait, IMessageTrait};
        let host = ComWrapper::new(HostApplication::new());
        let p = host.to_com_ptr::<sv::IHostApplication>().unwrap();
        let mut name: sv::String128 = [0; 128];
        // SAFETY: calls through our own live COM objects with valid buffers.
        unsafe {
            assert_eq!(p.getName(&mut name), kResultOk);
            assert_eq!(fixed_wstr(&name), "stagerack");
            let mut iid = sv::IMessage::IID;
            let mut obj = std::ptr::null_mut();
            let tuid = iid.as_mut_ptr() as *mut sb::TUID;
            assert_eq!(p.createInstance(tuid, tuid, &mut obj), kResultOk);
            let msg = ComPtr::from_raw(obj as *mut sv::IMessage).unwrap();
            msg.setMessageID(c"ping".as_ptr());
            assert_eq!(std::ffi::CStr::from_ptr(msg.getMessageID()), c"ping");
            let attrs = vst3::ComRef::from_raw(msg.getAttributes()).unwrap();
            assert_eq!(attrs.setInt(c"n".as_ptr(), 42), kResultOk);
            let mut v = 0;
            assert_eq!(attrs.getInt(c"n".as_ptr(), &mut v), kResultOk);
            assert_eq!(v, 42);
            let bytes = [1u8, 2, 3];
            assert_eq!(
                attrs.setBinary(c"b".as_ptr(), bytes.as_ptr().cast(), 3),
                kResultOk
            );
            let (mut ptr, mut len) = (std::ptr::null(), 0);
            assert_eq!(
                attrs.getBinary(c"b".as_ptr(), &mut ptr, &mut len),
                kResultOk
            );
            assert_eq!(
                std::slice::from_raw_parts(ptr as *const u8, len as usize),
                &bytes
            );
            // Unknown classes are refused, not crashed on.
            let mut other = [7u8; 16];
            let t = other.as_mut_ptr() as *mut sb::TUID;
            assert_ne!(p.createInstance(t, t, &mut obj), kResultOk);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn run_loop_calls_timers_from_the_main_thread_pump() {
        use std::sync::atomic::AtomicU32;
        use vst3::Class;
        use vst3::Steinberg::Linux::{IRunLoop, IRunLoopTrait, ITimerHandler, ITimerHandlerTrait};
        struct Ticker(AtomicU32);
        impl Class for Ticker {
            type Interfaces = (ITimerHandler,);
        }
        impl ITimerHandlerTrait for Ticker {
            unsafe fn onTimer(&self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let host = ComWrapper::new(HostApplication::new());
        let unknown = host.to_com_ptr::<sv::IHostApplication>().unwrap();
        // Plugins find the run loop by querying the host context.
        let rl = unknown
            .cast::<IRunLoop>()
            .expect("host context offers IRunLoop");
        let ticker = ComWrapper::new(Ticker(AtomicU32::new(0)));
        let t = ticker.to_com_ptr::<ITimerHandler>().unwrap();
        // SAFETY: calls through live COM objects.
        unsafe { assert_eq!(rl.registerTimer(t.as_ptr(), 1), kResultOk) };
        std::thread::sleep(std::time::Duration::from_millis(5));
        host.run_loop.service();
        assert_eq!(ticker.0.load(Ordering::Relaxed), 1);
        // SAFETY: as above.
        unsafe { assert_eq!(rl.unregisterTimer(t.as_ptr()), kResultOk) };
        std::thread::sleep(std::time::Duration::from_millis(5));
        host.run_loop.service();
        assert_eq!(ticker.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn missing_bundle_names_the_path() {
        let e = bundle_binary(Path::new("/nonexistent/Foo.vst3")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/Foo.vst3"), "{e}");
    }
}
