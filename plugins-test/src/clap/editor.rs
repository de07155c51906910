//! `Stagerack Editor` (`org.stagerack.test.editor`): a stereo level with a
//! small GUI of its own, so host tests can open a real plugin editor.
//!
//! The GUI (CLAP `gui` extension, X11 embedded only) is a child window of
//! the host's window, drawn with plain X11 requests over its own
//! connection (x11rb): a dark background ([`BACKGROUND`]) with an orange
//! bar ([`BAR`]) whose width follows the `level` parameter. Its X events
//! are read on a 20 ms host timer (CLAP timer-support). A mouse click in
//! the editor asks the host to resize it to [`LARGE_SIZE`]
//! (`gui.request_resize`), so a test can prove the host follows.
//! `destroy` removes the child window and unregisters the timer.
//!
//! `Floating Editor` (`org.stagerack.test.floating-editor`) is the same
//! plugin with a floating GUI only (`is_api_supported` is true for X11
//! floating and false for embedded): `create` opens a top-level window of
//! its own, titled "Floating Editor" until the host suggests a title
//! (`suggest_title`), `show` maps it, and when the window manager closes
//! it (`WM_DELETE_WINDOW`) the plugin hides it and tells the host
//! (`gui.closed(false)`). A click does not ask for a resize (its window is
//! its own).
//!
//! See `plugins-test/README.md` for the full contract host tests rely on.

use super::common::{write_stereo_port, AtomicF64};
use crate::level_window::LevelWindow;
pub use crate::level_window::{BACKGROUND, BAR, INITIAL_SIZE, LARGE_SIZE};
use clack_extensions::audio_ports::{AudioPortInfoWriter, PluginAudioPorts, PluginAudioPortsImpl};
use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiSize, HostGui, PluginGui, PluginGuiImpl, Window,
};
use clack_extensions::params::{
    ParamDisplayWriter, ParamInfo, ParamInfoFlags, ParamInfoWriter, PluginAudioProcessorParams,
    PluginMainThreadParams, PluginParams,
};
use clack_extensions::timer::{HostTimer, PluginTimer, PluginTimerImpl, TimerId};
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::prelude::*;
use std::cell::RefCell;
use std::ffi::CStr;
use std::fmt::Write as _;

/// CLAP id of the editor plugin.
pub const ID: &str = "org.stagerack.test.editor";
/// Display name of the editor plugin.
pub const NAME: &str = "Stagerack Editor";

/// Param `level`: output factor 0..1 (default 1).
pub const PARAM_LEVEL: ClapId = ClapId::new(0);

/// The extensions both editor plugins offer (one list, two plugin types).
macro_rules! register_extensions {
    ($builder:expr) => {
        $builder
            .register::<PluginAudioPorts>()
            .register::<PluginParams>()
            .register::<PluginGui>()
            .register::<PluginTimer>()
    };
}

/// The plugin type. See the module docs.
pub struct Editor;

/// CLAP id of the bad editor plugin.
pub const BAD_ID: &str = "org.stagerack.test.bad-editor";
/// Display name of the bad editor plugin.
pub const BAD_NAME: &str = "Bad Editor";

/// `Bad Editor`: the same plugin, whose GUI gets its window set-up wrong
/// the way an Xlib-based plugin can: `set_parent` asks Xlib (over its own
/// display) for a window under a parent that does not exist, syncs, and
/// reports success. Xlib's default error handler would end the host's
/// process there; a host must survive, report it, and close the empty
/// editor window.
pub struct BadEditor;

/// CLAP id of the floating editor plugin.
pub const FLOATING_ID: &str = "org.stagerack.test.floating-editor";
/// Display name of the floating editor plugin.
pub const FLOATING_NAME: &str = "Floating Editor";

/// `Floating Editor`: the same plugin with a floating GUI only.
pub struct FloatingEditor;

/// The level, shared by the plugin's threads. Any thread.
pub struct EditorShared {
    level: AtomicF64,
}

impl PluginShared<'_> for EditorShared {}

/// The created GUI: its window once a parent is set. Main thread.
struct Gui {
    window: Option<LevelWindow>,
    size: (u32, u32),
    timer: Option<TimerId>,
}

/// The plugin's main-thread half. Main thread.
pub struct EditorMainThread<'a> {
    shared: &'a EditorShared,
    host: RefCell<HostMainThreadHandle<'a>>,
    gui: RefCell<Option<Gui>>,
    /// `Bad Editor`: set-up through Xlib that fails (see [`BadEditor`]).
    bad: bool,
    /// `Floating Editor`: a window of its own (see [`FloatingEditor`]).
    floating: bool,
}

impl<'a> PluginMainThread<'a, EditorShared> for EditorMainThread<'a> {}

/// The plugin's audio-thread half. Audio thread.
pub struct EditorAudio<'a> {
    shared: &'a EditorShared,
}

/// The `Plugin` impl the editor plugin types share (the same halves).
macro_rules! editor_plugin {
    ($ty:ty) => {
        impl Plugin for $ty {
            type AudioProcessor<'a> = EditorAudio<'a>;
            type Shared<'a> = EditorShared;
            type MainThread<'a> = EditorMainThread<'a>;

            fn declare_extensions(
                builder: &mut PluginExtensions<Self>,
                _shared: Option<&EditorShared>,
            ) {
                register_extensions!(builder);
            }
        }
    };
}

editor_plugin!(Editor);
editor_plugin!(BadEditor);
editor_plugin!(FloatingEditor);

/// A variant of the editor plugin: its id, name and description, and the
/// flag of [`EditorMainThread`] it sets.
macro_rules! editor_variant {
    ($ty:ty, $id:expr, $name:expr, $description:expr, $flag:ident) => {
        impl DefaultPluginFactory for $ty {
            fn get_descriptor() -> PluginDescriptor {
                use clack_plugin::plugin::features::*;
                PluginDescriptor::new($id, $name)
                    .with_vendor("stagerack")
                    .with_version("1.0.0")
                    .with_description($description)
                    .with_features([AUDIO_EFFECT, UTILITY, STEREO])
            }

            fn new_shared(host: HostSharedHandle<'_>) -> Result<EditorShared, PluginError> {
                Editor::new_shared(host)
            }

            fn new_main_thread<'a>(
                host: HostMainThreadHandle<'a>,
                shared: &'a EditorShared,
            ) -> Result<EditorMainThread<'a>, PluginError> {
                let mut main = Editor::new_main_thread(host, shared)?;
                main.$flag = true;
                Ok(main)
            }
        }
    };
}

editor_variant!(
    BadEditor,
    BAD_ID,
    BAD_NAME,
    "Test effect: an editor whose X11 set-up fails",
    bad
);
editor_variant!(
    FloatingEditor,
    FLOATING_ID,
    FLOATING_NAME,
    "Test effect: a level with a floating X11 editor only",
    floating
);

impl DefaultPluginFactory for Editor {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        PluginDescriptor::new(ID, NAME)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test effect: a level with a small X11 editor")
            .with_features([AUDIO_EFFECT, UTILITY, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<EditorShared, PluginError> {
        Ok(EditorShared {
            level: AtomicF64::new(1.0),
        })
    }

    fn new_main_thread<'a>(
        host: HostMainThreadHandle<'a>,
        shared: &'a EditorShared,
    ) -> Result<EditorMainThread<'a>, PluginError> {
        Ok(EditorMainThread {
            shared,
            host: RefCell::new(host),
            gui: RefCell::new(None),
            bad: false,
            floating: false,
        })
    }
}

impl<'a> PluginAudioProcessor<'a, EditorShared, EditorMainThread<'a>> for EditorAudio<'a> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &EditorMainThread<'a>,
        shared: &'a EditorShared,
        _audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self { shared })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        for event in events.input {
            self.shared.apply(event);
        }
        let level = self.shared.level.load() as f32;
        let mut pair = audio
            .port_pair(0)
            .ok_or(PluginError::Message("editor: no audio ports"))?;
        let mut channels = pair
            .channels()
            .map_err(|_| PluginError::Message("editor: bad audio buffers"))?
            .into_f32()
            .ok_or(PluginError::Message("editor: expected f32 buffers"))?;
        for channel in channels.iter_mut() {
            match channel {
                ChannelPair::InputOutput(input, out) => {
                    for (o, i) in out.iter_mut().zip(input.iter()) {
                        *o = i * level;
                    }
                }
                ChannelPair::InPlace(buf) => buf.iter_mut().for_each(|x| *x *= level),
                ChannelPair::OutputOnly(out) => out.fill(0.0),
                ChannelPair::InputOnly(_) => {}
            }
        }
        Ok(ProcessStatus::ContinueIfNotQuiet)
    }
}

impl EditorShared {
    /// Takes a `level` change from a host event. Any thread.
    fn apply(&self, event: &UnknownEvent) {
        if let Some(CoreEventSpace::ParamValue(e)) = event.as_core_event() {
            if e.param_id() == Some(PARAM_LEVEL) {
                self.level.store(e.value().clamp(0.0, 1.0));
            }
        }
    }
}

impl PluginAudioProcessorParams for EditorAudio<'_> {
    fn flush(&mut self, input: &InputEvents, _output: &mut OutputEvents) {
        for event in input {
            self.shared.apply(event);
        }
    }
}

impl PluginAudioPortsImpl for EditorMainThread<'_> {
    fn count(&self, _is_input: bool) -> u32 {
        1
    }

    fn get(&self, index: u32, _is_input: bool, writer: &mut AudioPortInfoWriter) {
        if index == 0 {
            write_stereo_port(writer);
        }
    }
}

impl PluginMainThreadParams for EditorMainThread<'_> {
    fn count(&self) -> u32 {
        1
    }

    fn get_info(&self, param_index: u32, info: &mut ParamInfoWriter) {
        if param_index == 0 {
            info.set(&ParamInfo {
                id: PARAM_LEVEL,
                flags: ParamInfoFlags::IS_AUTOMATABLE,
                cookie: Default::default(),
                name: b"level",
                module: b"",
                min_value: 0.0,
                max_value: 1.0,
                default_value: 1.0,
            });
        }
    }

    fn get_value(&self, param_id: ClapId) -> Option<f64> {
        (param_id == PARAM_LEVEL).then(|| self.shared.level.load())
    }

    fn value_to_text(
        &self,
        param_id: ClapId,
        value: f64,
        writer: &mut ParamDisplayWriter,
    ) -> std::fmt::Result {
        if param_id == PARAM_LEVEL {
            write!(writer, "{:.0} %", value * 100.0)
        } else {
            Err(std::fmt::Error)
        }
    }

    fn text_to_value(&self, param_id: ClapId, text: &CStr) -> Option<f64> {
        if param_id != PARAM_LEVEL {
            return None;
        }
        let t = text.to_str().ok()?.trim().trim_end_matches('%').trim();
        t.parse::<f64>().ok().map(|v| (v / 100.0).clamp(0.0, 1.0))
    }

    fn flush(&self, input: &InputEvents, _output: &mut OutputEvents) {
        for event in input {
            self.shared.apply(event);
        }
        self.redraw();
    }
}

/// Why an X request failed, as a plugin error.
fn x_error<E: std::error::Error + 'static>(e: E) -> PluginError {
    PluginError::Error(Box::new(e))
}

impl EditorMainThread<'_> {
    /// Draws the level. Main thread.
    fn redraw(&self) {
        let level = self.shared.level.load();
        if let Some(w) = self
            .gui
            .borrow_mut()
            .as_mut()
            .and_then(|g| g.window.as_mut())
        {
            w.draw(level);
        }
    }

    /// Reads the GUI's pending X events: redraws on expose or a new level,
    /// asks the host for the large size on a click. Main thread.
    fn handle_x_events(&self) {
        let level = self.shared.level.load();
        let pending = {
            let gui = self.gui.borrow();
            let Some(w) = gui.as_ref().and_then(|g| g.window.as_ref()) else {
                return;
            };
            let mut p = w.poll();
            p.expose |= w.stale(level);
            p
        };
        let mut expose = pending.expose;
        if pending.close {
            // Closed by the window manager: hidden, and the host told.
            let _ = self.hide();
            let host = self.host.borrow();
            if let Some(gui_ext) = host.get_extension::<HostGui>() {
                gui_ext.closed(&host.shared(), false);
            }
            return;
        }
        if pending.click && !self.floating {
            let host = self.host.borrow();
            if let Some(gui_ext) = host.get_extension::<HostGui>() {
                let (w, h) = LARGE_SIZE;
                if gui_ext.request_resize(&host.shared(), w, h).is_ok() {
                    drop(host);
                    let _ = self.resize_window(w, h);
                    expose = true;
                }
            }
        }
        if expose {
            self.redraw();
        }
    }

    fn resize_window(&self, width: u32, height: u32) -> Result<(), PluginError> {
        let mut gui = self.gui.borrow_mut();
        let gui = gui.as_mut().ok_or(PluginError::Message("no GUI created"))?;
        gui.size = (width, height);
        if let Some(w) = gui.window.as_mut() {
            w.resize(width, height).map_err(x_error)?;
        }
        Ok(())
    }
}

impl PluginTimerImpl for EditorMainThread<'_> {
    fn on_timer(&self, _timer_id: TimerId) {
        self.handle_x_events();
    }
}

impl PluginGuiImpl for EditorMainThread<'_> {
    fn is_api_supported(&self, configuration: GuiConfiguration) -> bool {
        configuration.api_type == GuiApiType::X11 && configuration.is_floating == self.floating
    }

    fn get_preferred_api(&self) -> Option<GuiConfiguration<'_>> {
        Some(GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: self.floating,
        })
    }

    fn create(&self, configuration: GuiConfiguration) -> Result<(), PluginError> {
        if !self.is_api_supported(configuration) {
            return Err(PluginError::Message(if self.floating {
                "only floating X11 editors"
            } else {
                "only embedded X11 editors"
            }));
        }
        if self.gui.borrow().is_some() {
            return Err(PluginError::Message("the GUI exists already"));
        }
        // A floating GUI's window is its own, made now.
        let window = if self.floating {
            Some(LevelWindow::open_top_level(INITIAL_SIZE, FLOATING_NAME).map_err(x_error)?)
        } else {
            None
        };
        let host = self.host.borrow();
        let timer = host
            .get_extension::<HostTimer>()
            .and_then(|t| t.register_timer(&host, 20).ok());
        *self.gui.borrow_mut() = Some(Gui {
            window,
            size: INITIAL_SIZE,
            timer,
        });
        Ok(())
    }

    fn suggest_title(&self, title: &str) {
        if let Some(w) = self.gui.borrow().as_ref().and_then(|g| g.window.as_ref()) {
            let _ = w.set_title(title);
        }
    }

    fn destroy(&self) {
        let Some(gui) = self.gui.borrow_mut().take() else {
            return;
        };
        drop(gui.window);
        if let Some(timer) = gui.timer {
            let host = self.host.borrow();
            if let Some(t) = host.get_extension::<HostTimer>() {
                let _ = t.unregister_timer(&host, timer);
            }
        }
    }

    fn set_scale(&self, _scale: f64) -> Result<(), PluginError> {
        Ok(())
    }

    fn get_size(&self) -> Option<GuiSize> {
        let gui = self.gui.borrow();
        let (width, height) = gui.as_ref().map_or(INITIAL_SIZE, |g| g.size);
        Some(GuiSize { width, height })
    }

    fn set_size(&self, size: GuiSize) -> Result<(), PluginError> {
        self.resize_window(size.width, size.height)?;
        self.redraw();
        Ok(())
    }

    fn set_parent(&self, window: Window) -> Result<(), PluginError> {
        if self.floating {
            return Err(PluginError::Message("floating only"));
        }
        let parent = window
            .as_x11_handle()
            .ok_or(PluginError::Message("not an X11 window"))?;
        if self.bad {
            xlib_window_under_no_parent();
            return Ok(());
        }
        let mut gui = self.gui.borrow_mut();
        let gui = gui.as_mut().ok_or(PluginError::Message("no GUI created"))?;
        gui.window = Some(LevelWindow::open(parent as u32, gui.size).map_err(x_error)?);
        Ok(())
    }

    fn set_transient(&self, _window: Window) -> Result<(), PluginError> {
        if self.floating {
            Ok(())
        } else {
            Err(PluginError::Message("embedded only"))
        }
    }

    fn show(&self) -> Result<(), PluginError> {
        if self.bad {
            return Ok(());
        }
        {
            let gui = self.gui.borrow();
            let w = gui
                .as_ref()
                .and_then(|g| g.window.as_ref())
                .ok_or(PluginError::Message("no parent set"))?;
            w.set_visible(true).map_err(x_error)?;
        }
        self.redraw();
        Ok(())
    }

    fn hide(&self) -> Result<(), PluginError> {
        let gui = self.gui.borrow();
        if let Some(w) = gui.as_ref().and_then(|g| g.window.as_ref()) {
            w.set_visible(false).map_err(x_error)?;
        }
        Ok(())
    }
}

/// `Bad Editor`'s window set-up: over a display of its own, Xlib is asked
/// for a window whose parent does not exist (`BadWindow`), then synced so
/// the error is delivered now, to whichever error handler the process has.
fn xlib_window_under_no_parent() {
    let Ok(xlib) = x11_dl::xlib::Xlib::open() else {
        return;
    };
    // SAFETY: plain Xlib calls on a display this function opened and
    // closes; a null display (no X server) is checked.
    unsafe {
        let display = (xlib.XOpenDisplay)(std::ptr::null());
        if display.is_null() {
            return;
        }
        const NO_SUCH_WINDOW: u64 = 0x1;
        (xlib.XCreateSimpleWindow)(display, NO_SUCH_WINDOW, 0, 0, 100, 100, 0, 0, 0);
        (xlib.XSync)(display, 0);
        (xlib.XCloseDisplay)(display);
    }
}
