//! The rack window's application object: the client, the model, the
//! per-window UI state, and the frame function.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use stagerack_session::control::{Command, ControlClient, PROTOCOL_VERSION};

use crate::frame::{Action, Frame};
use crate::state::{AppState, Level, UndoEntry};
pub use crate::ui_state::{Mode, UiState};
use stagerack_session::runtime::{Runtime, RuntimeEvent};

/// How often the window asks for a status report.
const STATUS_INTERVAL: Duration = Duration::from_millis(500);
/// Repaint at least this often: meters at 30 Hz. Input repaints at once;
/// idle, the window (software GL on many stage PCs) costs half the CPU of
/// 60 Hz, which the audio thread and the plugins get instead.
pub const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// The rack window. Main (UI) thread.
pub struct RackApp {
    client: Box<dyn ControlClient>,
    engine: Option<Rc<RefCell<Runtime>>>,
    /// What the window knows of the engine.
    pub state: AppState,
    pub(crate) ui: UiState,
    mode: Mode,
    last_status: Instant,
    theme_set: bool,
    /// The window title last set (it names the song playing).
    title: String,
    /// The song and file the preset field last followed.
    song_file: Option<(u16, Option<PathBuf>)>,
    quit: Option<Arc<AtomicBool>>,
    was_connected: bool,
    /// The window is full screen for the stage view.
    stage_shown: bool,
    /// The stage view's window was given the monitor's size.
    stage_sized: bool,
}

impl RackApp {
    /// A window speaking to `client`; `engine`, when given, is pumped at the
    /// start of every frame (the in-process case). Sends `hello`, asks for
    /// the state and the plugin list, subscribes to meters. Main thread.
    pub fn new(
        client: Box<dyn ControlClient>,
        engine: Option<Rc<RefCell<Runtime>>>,
        mode: Mode,
        preset_path: PathBuf,
    ) -> Self {
        let mut app = Self {
            client,
            engine,
            state: AppState::default(),
            ui: UiState {
                selected_rack: None,
                selected_plugin: None,
                browser_rack: None,
                browser_search: String::new(),
                scan_asked: false,
                show_messages: false,
                new_rack_name: String::new(),
                preset_path: preset_path.display().to_string(),
                show_help: false,
                show_devices: false,
                device_choice: Default::default(),
                param_text: HashMap::new(),
                typed_text: HashMap::new(),
                slider_origin: None,
                rack_drag_origin: None,
                key_drag: None,
                confirm_remove: None,
                confirm_open: false,
                stage: false,
                stage_notes_max: 0.0,
                stage_notes_offset: 0.0,
                stage_notes_scrolled: None,
                setlist: Default::default(),
            },
            mode,
            last_status: Instant::now(),
            theme_set: false,
            title: String::new(),
            song_file: None,
            quit: None,
            was_connected: true,
            stage_shown: false,
            stage_sized: false,
        };
        app.send(Command::Hello {
            version: PROTOCOL_VERSION,
            client: "stagerack-ui".into(),
        });
        app.send(Command::GetState {});
        app.send(Command::ListPlugins {});
        app.send(Command::Subscribe { meters: true });
        app.send(Command::Status {});
        app
    }

    /// Shows the stage view (full screen) instead of the editor, or not.
    /// Main thread.
    pub fn set_stage(&mut self, on: bool) {
        self.ui.stage = on;
        // A window opened for the stage is full screen already.
        self.stage_shown = on;
    }

    /// Whether the stage view is shown. Main thread.
    pub fn stage(&self) -> bool {
        self.ui.stage
    }

    /// How far the stage view's song notes are scrolled (points from the
    /// top) and how far they can go. Main thread.
    pub fn notes_scroll(&self) -> (f32, f32) {
        (self.ui.stage_notes_offset, self.ui.stage_notes_max)
    }

    /// A flag that closes the window when set (e.g. by SIGINT). Main thread.
    pub fn close_on(&mut self, flag: Arc<AtomicBool>) {
        self.quit = Some(flag);
    }

    /// Sends one command without recording it for undo. Main thread.
    pub fn send(&mut self, command: Command) -> u64 {
        let id = self.client.send(command.clone());
        self.state.sent(id, &command);
        id
    }

    /// Sends an edit and records its inverse (from the snapshot before it)
    /// on the undo stack. Main thread.
    pub fn edit(&mut self, command: Command) {
        let inverse = self
            .state
            .snapshot
            .as_ref()
            .and_then(|s| crate::undo::inverse(s, &command));
        let label = crate::state::describe(&command);
        self.send(command.clone());
        if let Some(undo) = inverse {
            self.push_undo(UndoEntry {
                label,
                redo: vec![command],
                undo,
            });
        }
    }

    pub(crate) fn push_undo(&mut self, entry: UndoEntry) {
        self.state.undo.push(entry);
        self.state.redo.clear();
    }

    /// Takes back the latest edit. Main thread.
    pub fn undo(&mut self) {
        if let Some(e) = self.state.undo.pop() {
            for c in e.undo.clone() {
                self.send(c);
            }
            self.state.redo.push(e);
        }
    }

    /// Does again the latest undone edit. Main thread.
    pub fn redo(&mut self) {
        if let Some(e) = self.state.redo.pop() {
            for c in e.redo.clone() {
                self.send(c);
            }
            self.state.undo.push(e);
        }
    }

    /// Loads the preset file in the preset field, replacing what plays;
    /// with unsaved edits it asks first (save, discard or cancel). Main
    /// thread.
    pub fn open_preset(&mut self) {
        if self.state.modified {
            self.ui.confirm_open = true;
            return;
        }
        self.open_preset_discarding();
    }

    /// The song's own file, where Save writes it back (the preset field
    /// when the engine does not know it). Main thread.
    fn song_file(&self) -> String {
        self.state
            .snapshot
            .as_ref()
            .and_then(|s| s.files.get(usize::from(s.current)).cloned().flatten())
            .map_or_else(
                || self.ui.preset_path.trim().to_owned(),
                |f| f.display().to_string(),
            )
    }

    /// Loads the preset file in the preset field, whatever was edited.
    /// Main thread.
    pub fn open_preset_discarding(&mut self) {
        self.ui.confirm_open = false;
        let path = self.ui.preset_path.trim().to_owned();
        if path.is_empty() {
            self.state
                .push_message(Level::Error, "type a file name in the preset field to open");
            return;
        }
        self.send(Command::LoadPreset { path: path.into() });
    }

    /// Saves the current preset to the path in the preset field. Main thread.
    pub fn save_preset(&mut self) {
        let path = self.ui.preset_path.trim().to_owned();
        if path.is_empty() {
            self.state
                .push_message(Level::Error, "type a file name in the preset field to save");
            return;
        }
        self.send(Command::SavePreset { path: path.into() });
    }

    /// Does what a view asked for. Main thread.
    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Send(command) => {
                self.send(command);
            }
            Action::Edit(command) => self.edit(command),
            Action::PushUndo(entry) => self.push_undo(entry),
            Action::Undo => self.undo(),
            Action::Redo => self.redo(),
            Action::Panic => self.panic(),
            Action::OpenPreset => self.open_preset(),
            Action::OpenPresetDiscarding => self.open_preset_discarding(),
            Action::SaveThenOpen => {
                // The edits go to the song's own file, then the field's
                // file is opened (the server takes them in this order).
                let song = self.song_file();
                if !song.is_empty() {
                    self.send(Command::SavePreset { path: song.into() });
                }
                self.open_preset_discarding();
            }
            Action::SavePreset => self.save_preset(),
            Action::Message(level, text) => self.state.push_message(level, text),
            Action::AcknowledgeLights(failed) => self.state.stage.lights.acknowledge(failed),
            Action::ClearMessages => self.state.messages.clear(),
        }
    }

    /// All notes off everywhere. Main thread.
    pub fn panic(&mut self) {
        self.send(Command::Panic {});
        self.state.push_message(Level::Info, "panic: all notes off");
    }

    /// Runs the in-process pump (if any) and takes in every waiting reply.
    /// Main thread; called first in every frame.
    pub fn poll(&mut self) {
        if let Some(engine) = &self.engine {
            for event in engine.borrow_mut().pump() {
                match event {
                    RuntimeEvent::Error(e) => self.state.push_message(Level::Error, e),
                    // The song itself arrives with the state clients are sent.
                    RuntimeEvent::NowPlaying { .. } => {}
                    RuntimeEvent::Audio(state) => self
                        .state
                        .push_message(Level::Warning, format!("audio: {state}")),
                }
            }
        }
        while let Some(reply) = self.client.try_recv() {
            self.state.apply(reply);
        }
        self.follow_song_file();
        let connected = self.client.connected();
        if self.was_connected && !connected {
            self.state.push_message(
                Level::Error,
                "the engine closed the connection; restart it and attach again",
            );
        }
        self.was_connected = connected;
        if self.last_status.elapsed() >= STATUS_INTERVAL && connected {
            self.last_status = Instant::now();
            self.send(Command::Status {});
        }
    }

    /// Points the preset field (where Save writes, Open reads) at the
    /// playing song's own file whenever the song or its file changes; what
    /// the user typed there stays until then. Main thread.
    fn follow_song_file(&mut self) {
        let Some(s) = &self.state.snapshot else {
            return;
        };
        let file = s.files.get(usize::from(s.current)).cloned().flatten();
        let now = Some((s.current, file));
        if now != self.song_file {
            if let Some((_, Some(f))) = &now {
                self.ui.preset_path = f.display().to_string();
            }
            self.song_file = now;
        }
    }

    /// Puts `path` in the preset field (what Open reads, Save writes).
    /// Main thread.
    pub fn set_preset_path(&mut self, path: &str) {
        self.ui.preset_path = path.to_owned();
    }

    /// The preset field: where Save writes and Open reads. Main thread.
    pub fn preset_path(&self) -> &str {
        &self.ui.preset_path
    }

    /// Whether the engine is still reachable. Main thread.
    pub fn connected(&self) -> bool {
        self.client.connected()
    }

    /// Where the in-process engine's audio goes (None when attached).
    pub(crate) fn audio_output(&self) -> Option<String> {
        self.engine.as_ref().map(|e| e.borrow().output())
    }

    /// One frame: pump, shortcuts, then every panel. Main thread.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if !self.theme_set {
            crate::theme::apply(&ctx);
            self.theme_set = true;
        }
        self.poll();
        if self.ui.show_devices && std::mem::take(&mut self.state.devices_stale) {
            self.send(Command::ListDevices {});
        }
        if self
            .quit
            .as_ref()
            .is_some_and(|q| q.load(Ordering::Relaxed))
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        // The title follows the song in the same frame the state arrives.
        let file = self
            .state
            .snapshot
            .as_ref()
            .and_then(|s| s.files.get(usize::from(s.current)).cloned().flatten())
            .and_then(|f| f.file_name().map(|n| format!(" - {}", n.to_string_lossy())))
            .unwrap_or_default();
        let marker = if self.state.modified { " *" } else { "" };
        let title = format!("stagerack - {}{file}{marker}", self.state.song_label());
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
        self.shortcuts(&ctx);
        let output = self.audio_output();
        let connected = self.client.connected();
        let mut frame = Frame::new(&self.state, &mut self.ui, &self.mode, output, connected);
        crate::views::draw(&mut frame, ui);
        for action in frame.into_actions() {
            self.carry_out(action);
        }
        if let Some(value) = self.ui.stage_notes_scrolled.take() {
            self.state.stage.notes_scroll = Some((value, false));
        }
        if self.ui.stage != self.stage_shown {
            // Full screen for the stage, back to a window for editing.
            self.stage_shown = self.ui.stage;
            self.stage_sized = false;
            ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(self.ui.stage));
            if !self.ui.stage {
                ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(egui::vec2(1280.0, 800.0)));
            }
        }
        if self.ui.stage && !self.stage_sized {
            // Without a window manager (a kiosk stage PC, Xvfb) nobody acts
            // on the full-screen request: the window takes the monitor's
            // size itself, once it is known.
            let (monitor, inner) =
                ctx.input(|i| (i.viewport().monitor_size, i.viewport().inner_rect));
            if let Some(monitor) = monitor.filter(|m| m.x > 0.0 && m.y > 0.0) {
                self.stage_sized = true;
                if inner.is_none_or(|r| (r.size() - monitor).length() > 1.0) {
                    ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(egui::pos2(
                        0.0, 0.0,
                    )));
                    ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(monitor));
                }
            }
        }
        ctx.request_repaint_after(FRAME_INTERVAL);
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let typing = ctx.memory(|m| m.focused().is_some());
        let redo = ctx.input_mut(|i| {
            i.consume_shortcut(&KeyboardShortcut::new(
                Modifiers::COMMAND | Modifiers::SHIFT,
                Key::Z,
            )) || i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Y))
        });
        if redo {
            self.redo();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::Z)))
        {
            self.undo();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::S)))
        {
            self.save_preset();
        }
        if ctx.input_mut(|i| i.consume_shortcut(&KeyboardShortcut::new(Modifiers::COMMAND, Key::O)))
        {
            self.open_preset();
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::F1)) {
            self.ui.show_help = !self.ui.show_help;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::F11)) {
            self.ui.stage = !self.ui.stage;
        }
        if !typing {
            if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Space)) {
                self.panic();
            }
            // On stage, the arrows step through the set too (a page-turner
            // pedal sends arrows or page keys); Esc goes back to editing.
            let stage = self.ui.stage;
            let next = ctx.input_mut(|i| {
                i.consume_key(Modifiers::NONE, Key::PageDown)
                    || (stage && i.consume_key(Modifiers::NONE, Key::ArrowRight))
            });
            if next {
                self.send(Command::SetlistNext {});
            }
            let previous = ctx.input_mut(|i| {
                i.consume_key(Modifiers::NONE, Key::PageUp)
                    || (stage && i.consume_key(Modifiers::NONE, Key::ArrowLeft))
            });
            if previous {
                self.send(Command::SetlistPrevious {});
            }
            if stage && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
                self.ui.stage = false;
            }
        }
    }
}

impl eframe::App for RackApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }

    fn clear_color(&self, _visuals: &egui::Visuals) -> [f32; 4] {
        crate::theme::BACKGROUND.to_normalized_gamma_f32()
    }
}
