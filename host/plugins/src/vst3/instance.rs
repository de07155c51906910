//! [`Vst3Instance`]: the main-thread half of a VST3 plugin (component and
//! controller, parameters, state, activation, editor). Main thread.

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

use super::com::{ComponentHandler, EventList, HostApplication, MemStream, ParamChanges};
use super::module::{fixed_wstr, ClassEntry, Module};

use super::buses::{speaker_count, Buses};
use super::error::Vst3Error;
use super::processor::Vst3Processor;
use super::{module, view};
use super::{
    EDIT_QUEUE, EVENT_CAPACITY, MIDI_CTRLS, NO_PARAM, PARAM_POINTS, PARAM_QUEUES, STATE_MAGIC,
};
use stagerack_core::editor::PluginEditor;
use stagerack_core::plugin::{
    AudioProcessor, Block, NoteName, ParamId, ParamInfo, PluginDescriptor, PluginError,
    PluginInstance, ProcessConfig, ProgramList, RemotePage, Tail, MAX_AUX_OUTPUTS,
};

struct ParamMeta {
    info: ParamInfo,
    steps: i32,
    /// Hidden (`kIsHidden`): not listed, but settable (a hidden
    /// program-change parameter selects programs).
    hidden: bool,
    /// The `IUnitInfo` unit it belongs to, and whether the host may
    /// automate it (for the knobs' pages).
    paged: super::units::PagedParam,
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
    /// The program-change parameter (`kIsProgramChange`) and its steps.
    program_param: Option<(u32, i32)>,
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
    pub(super) fn create(module: Rc<Module>, class: ClassEntry) -> Result<Vst3Instance, Vst3Error> {
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
            program_param: None,
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
        self.program_param = None;
        let Some(ctrl) = &self.controller else { return };
        // SAFETY: plain call; main thread.
        let n = unsafe { ctrl.getParameterCount() };
        for i in 0..n.max(0) {
            let mut pi: sv::ParameterInfo = module::zeroed();
            // SAFETY: `pi` is a valid out-struct.
            if unsafe { ctrl.getParameterInfo(i, &mut pi) } != kResultOk {
                continue;
            }
            // Hidden parameters (DPF's sample-rate parameter) are not for
            // people; read-only ones (meters) are listed as outputs, which
            // nobody and no preset can set.
            use sv::ParameterInfo_::ParameterFlags_ as pf;
            let program_change = pi.flags & pf::kIsProgramChange != 0;
            let hidden = pi.flags & pf::kIsHidden != 0;
            if hidden && !program_change {
                continue;
            }
            let steps = pi.stepCount.max(0);
            let scale = if steps > 0 { f64::from(steps) } else { 1.0 };
            let default = if steps > 0 {
                (pi.defaultNormalizedValue * scale).round()
            } else {
                pi.defaultNormalizedValue
            };
            if program_change && steps > 0 {
                self.program_param = Some((pi.id, steps));
            }
            self.params.push(ParamMeta {
                info: ParamInfo {
                    id: pi.id,
                    name: fixed_wstr(&pi.title),
                    min: 0.0,
                    max: scale,
                    default,
                    stepped: steps > 0,
                    read_only: pi.flags & pf::kIsReadOnly != 0,
                    automatable: pi.flags & pf::kCanAutomate != 0,
                },
                steps,
                hidden,
                paged: super::units::PagedParam {
                    id: pi.id,
                    unit: pi.unitId,
                    automatable: pi.flags & pf::kCanAutomate != 0
                        && pi.flags & pf::kIsReadOnly == 0
                        && !hidden,
                },
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

pub(super) fn plain_to_norm(steps: i32, plain: f64) -> f64 {
    if steps > 0 {
        (plain / f64::from(steps)).clamp(0.0, 1.0)
    } else {
        plain.clamp(0.0, 1.0)
    }
}

pub(super) fn norm_to_plain(steps: i32, norm: f64) -> f64 {
    if steps > 0 {
        (norm * f64::from(steps)).round()
    } else {
        norm
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

    fn editor(&mut self) -> Option<&mut dyn PluginEditor> {
        Some(self)
    }

    fn params(&self) -> Vec<ParamInfo> {
        self.params
            .iter()
            .filter(|p| !p.hidden)
            .map(|p| p.info.clone())
            .collect()
    }

    fn note_names(&self) -> Vec<NoteName> {
        let Some(ctrl) = self.controller.as_ref() else {
            return Vec::new();
        };
        // The pitch names are the current program's.
        let program = self.program_param.and_then(|(param, steps)| {
            let (list, _) = super::programs::program_list(ctrl, steps)?;
            let index = self.param_value(param)?.round() as i32;
            Some((list, index))
        });
        super::note_names::note_names(ctrl, program)
    }

    fn remote_pages(&self) -> Vec<RemotePage> {
        let Some(ctrl) = self.controller.as_ref() else {
            return Vec::new();
        };
        let params: Vec<super::units::PagedParam> = self.params.iter().map(|p| p.paged).collect();
        super::units::remote_pages(ctrl, &params)
    }

    fn programs(&self) -> Option<ProgramList> {
        let (param, steps) = self.program_param?;
        let ctrl = self.controller.as_ref()?;
        Some(ProgramList {
            param: Some(param),
            names: super::programs::names(ctrl, param, steps),
        })
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
        // Our own blob, or a `.vstpreset` file as any VST3 host writes it.
        let (cs, ks) = if super::preset_file::is_vstpreset(state) {
            let p = super::preset_file::parse(state)
                .map_err(|e| self.bad_state(format!("a bad .vstpreset: {e}")))?;
            if !p.class_id.eq_ignore_ascii_case(&self.descriptor.id) {
                return Err(self.bad_state(format!(
                    "the .vstpreset was saved from class {}, not this plugin ({}): \
                     choose a preset of this plugin",
                    p.class_id, self.descriptor.id
                )));
            }
            if let Some((list, data)) = p.program {
                self.load_program_data(list, data)?;
            }
            (p.component, p.controller)
        } else {
            parse_state(state).ok_or_else(|| {
                self.bad_state("neither a stagerack VST3 state nor a .vstpreset".into())
            })?
        };
        let comp = self
            .component
            .clone()
            .ok_or_else(|| self.bad_state("no component".into()))?;
        let stream =
            |bytes: &[u8]| ComWrapper::new(MemStream::reading(bytes)).to_com_ptr::<sb::IBStream>();
        // A component that saved nothing has nothing to restore. DPF-built
        // plugins without parameters (zam-plugins' ZamAutoSat) save one NUL
        // (an empty string) and then fail to read it back (JUCE ignores
        // the failure): give them nothing instead of refusing the preset.
        if cs.is_empty() || cs == [0] {
            return Ok(());
        }
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

    fn aux_outputs(&self) -> Vec<String> {
        use sv::BusDirections_::kOutput;
        use sv::MediaTypes_::kAudio;
        let Some(comp) = self.component.as_ref() else {
            return Vec::new();
        };
        // SAFETY: a plain call on a live component, on the main thread.
        let n = unsafe { comp.getBusCount(kAudio as i32, kOutput as i32) }.max(0) as usize;
        (1..n.min(MAX_AUX_OUTPUTS + 1))
            .map(|bus| {
                let mut info: sv::BusInfo = module::zeroed();
                // SAFETY: valid out-struct, on the main thread.
                let r = unsafe {
                    comp.getBusInfo(kAudio as i32, kOutput as i32, bus as i32, &mut info)
                };
                let name = fixed_wstr(&info.name);
                if r != kResultOk || name.is_empty() {
                    format!("Output {}", bus + 1)
                } else {
                    name
                }
            })
            .collect()
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

impl Vst3Instance {
    /// The note expressions the controller offers on bus 0, channel 0
    /// (`INoteExpressionController`): bit 0 tuning, bit 1 brightness.
    /// Main thread.
    fn note_expressions(&self) -> u8 {
        use sv::INoteExpressionControllerTrait as _;
        use sv::NoteExpressionTypeIDs_ as nt;
        let Some(ctrl) = self
            .controller
            .as_ref()
            .and_then(|c| c.cast::<sv::INoteExpressionController>())
        else {
            return 0;
        };
        // SAFETY: plain call on a live controller; main thread.
        let count = unsafe { ctrl.getNoteExpressionCount(0, 0) };
        let mut bits = 0;
        for index in 0..count.clamp(0, 64) {
            let mut info: sv::NoteExpressionTypeInfo = module::zeroed();
            // SAFETY: `info` is a valid out-struct; main thread.
            if unsafe { ctrl.getNoteExpressionInfo(0, 0, index, &mut info) } != kResultOk {
                continue;
            }
            bits |= match info.typeId {
                nt::kTuningTypeID => 1,
                nt::kBrightnessTypeID => 2,
                _ => 0,
            };
        }
        bits
    }

    /// Gives a `.vstpreset`'s program data (`Prog` chunk) of program list
    /// `list` to the component's `IProgramListData`, for the current
    /// program (the program-change parameter's, else the first), then tells
    /// the controller the component's new state. Main thread.
    fn load_program_data(&mut self, list: i32, data: &[u8]) -> Result<(), PluginError> {
        use sv::IProgramListDataTrait as _;
        let comp = self
            .component
            .clone()
            .ok_or_else(|| self.bad_state("no component".into()))?;
        let Some(programs) = comp.cast::<sv::IProgramListData>() else {
            return Err(self.bad_state(format!(
                "the .vstpreset holds program data (list {list}), and the plugin takes none \
                 (no IProgramListData): choose a preset saved with its state"
            )));
        };
        // SAFETY: plain call on a live component; main thread.
        if unsafe { programs.programDataSupported(list) } != vst3::Steinberg::kResultTrue {
            return Err(self.bad_state(format!(
                "the .vstpreset holds program data for list {list}, which the plugin does \
                 not take"
            )));
        }
        let index = self
            .program_param
            .and_then(|(param, _)| self.param_value(param))
            .map_or(0, |v| v.round() as i32);
        let stream = ComWrapper::new(MemStream::reading(data))
            .to_com_ptr::<sb::IBStream>()
            .ok_or_else(|| self.bad_state("stream".into()))?;
        // SAFETY: a live stream; main thread.
        let r = unsafe { programs.setProgramData(list, index, stream.as_ptr()) };
        if r != kResultOk {
            return Err(self.bad_state(format!(
                "IProgramListData::setProgramData failed (list {list}, program {index}, result \
                 {r})"
            )));
        }
        // The controller follows the component, as after a state load.
        if let Some(ctrl) = self.controller.clone() {
            // SAFETY: a live stream for the duration of the call.
            if let Ok(cs) = self.stream_call(|s| unsafe { comp.getState(s) }) {
                if let Some(s) =
                    ComWrapper::new(MemStream::reading(&cs)).to_com_ptr::<sb::IBStream>()
                {
                    // SAFETY: a live stream; main thread.
                    unsafe { ctrl.setComponentState(s.as_ptr()) };
                }
            }
        }
        Ok(())
    }
}

impl PluginEditor for Vst3Instance {
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
}

pub(super) fn parse_state(state: &[u8]) -> Option<(&[u8], &[u8])> {
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
            aux_outputs: 0,
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
            wait_until: None,
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
        // Aux output buses: active when the engine takes them, else as the
        // plugin has them by default (a drum plugin then plays everything
        // on its main bus, as in a DAW where the user enabled no aux).
        let mut aux_active = 0u64;
        for bus in 1..n_out.min(MAX_AUX_OUTPUTS + 1) {
            let wanted = config.aux_outputs & (1 << (bus - 1)) != 0;
            let mut info: sv::BusInfo = module::zeroed();
            // SAFETY: valid out-struct; main thread, component inactive.
            unsafe { comp.getBusInfo(kAudio as i32, kOutput as i32, bus as i32, &mut info) };
            let default_active = info.flags & sv::BusInfo_::BusFlags_::kDefaultActive != 0;
            if wanted || !default_active {
                // SAFETY: a plain call on a live component, inactive, on
                // the main thread.
                unsafe {
                    comp.activateBus(kAudio as i32, kOutput as i32, bus as i32, u8::from(wanted))
                };
            }
            if wanted {
                aux_active |= 1 << (bus - 1);
            }
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
            note_expressions: self.note_expressions(),
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
            block_events: Vec::with_capacity(EVENT_CAPACITY),
            block_params: Vec::with_capacity(PARAM_QUEUES * PARAM_POINTS),
            aux_active,
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
