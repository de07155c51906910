//! What a view draws from and what it asks for. The views get a [`Frame`]:
//! the engine's state as the window knows it (read-only), the window's own
//! state (theirs to change), where the engine runs; they return what the
//! user asked for as [`Action`]s, which the app carries out after drawing
//! (send a command, record an undo step, undo, …). So the views know
//! nothing of the app, the client or the engine. UI thread.

use stagerack_session::control::Command;

use crate::state::{AppState, Level, UndoEntry};
use crate::ui_state::{Mode, UiState};

/// Something the user asked for in a frame. UI thread.
#[derive(Debug)]
pub enum Action {
    /// Send this command as it is (not recorded for undo).
    Send(Command),
    /// Send this edit and record its inverse for undo.
    Edit(Command),
    /// Record this undo step (the commands were sent already).
    PushUndo(UndoEntry),
    /// Take back the latest edit.
    Undo,
    /// Do again the latest undone edit.
    Redo,
    /// All notes off everywhere.
    Panic,
    /// Load the preset file named in the preset field (asks first when
    /// there are unsaved edits).
    OpenPreset,
    /// Load it, dropping unsaved edits.
    OpenPresetDiscarding,
    /// Save the edits to the song's own file, then load it.
    SaveThenOpen,
    /// Save to the preset file named in the preset field.
    SavePreset,
    /// Show a message in the window's list.
    Message(Level, String),
    /// Empty the window's message list.
    ClearMessages,
    /// Turn the stage view's trouble lights off; these failed plugins
    /// count as seen.
    AcknowledgeLights(Vec<String>),
}

/// One frame's view of the window: what the views draw from and where
/// their requests go. UI thread.
pub struct Frame<'a> {
    /// What the window knows of the engine.
    pub state: &'a AppState,
    /// The window's own state.
    pub ui: &'a mut UiState,
    mode: &'a Mode,
    audio_output: Option<String>,
    connected: bool,
    actions: Vec<Action>,
}

impl<'a> Frame<'a> {
    /// A frame over the app's state. UI thread.
    pub fn new(
        state: &'a AppState,
        ui: &'a mut UiState,
        mode: &'a Mode,
        audio_output: Option<String>,
        connected: bool,
    ) -> Self {
        Self {
            state,
            ui,
            mode,
            audio_output,
            connected,
            actions: Vec::new(),
        }
    }

    /// What the views asked for, in order. UI thread.
    pub fn into_actions(self) -> Vec<Action> {
        self.actions
    }

    /// Where the engine runs. UI thread.
    pub fn mode(&self) -> &Mode {
        self.mode
    }

    /// Where the in-process engine's audio goes (None when attached).
    /// UI thread.
    pub fn audio_output(&self) -> Option<String> {
        self.audio_output.clone()
    }

    /// Whether the engine is still reachable. UI thread.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Sends a command without recording it for undo. UI thread.
    pub fn send(&mut self, command: Command) {
        self.actions.push(Action::Send(command));
    }

    /// Sends an edit and records its inverse for undo. UI thread.
    pub fn edit(&mut self, command: Command) {
        self.actions.push(Action::Edit(command));
    }

    /// Records an undo step whose commands were sent already. UI thread.
    pub fn push_undo(&mut self, entry: UndoEntry) {
        self.actions.push(Action::PushUndo(entry));
    }

    /// Takes back the latest edit. UI thread.
    pub fn undo(&mut self) {
        self.actions.push(Action::Undo);
    }

    /// Does again the latest undone edit. UI thread.
    pub fn redo(&mut self) {
        self.actions.push(Action::Redo);
    }

    /// All notes off everywhere. UI thread.
    pub fn panic(&mut self) {
        self.actions.push(Action::Panic);
    }

    /// Loads the preset file in the preset field. UI thread.
    pub fn open_preset(&mut self) {
        self.actions.push(Action::OpenPreset);
    }

    /// Answers "unsaved edits" by dropping them and opening. UI thread.
    pub fn open_preset_discarding(&mut self) {
        self.actions.push(Action::OpenPresetDiscarding);
    }

    /// Answers "unsaved edits" by saving them first, then opening. UI
    /// thread.
    pub fn save_then_open(&mut self) {
        self.actions.push(Action::SaveThenOpen);
    }

    /// Saves to the preset file in the preset field. UI thread.
    pub fn save_preset(&mut self) {
        self.actions.push(Action::SavePreset);
    }

    /// Empties the window's message list. UI thread.
    pub fn clear_messages(&mut self) {
        self.actions.push(Action::ClearMessages);
    }

    /// Turns the stage view's trouble lights off (`failed`: the plugins
    /// failed now, acknowledged with them). UI thread.
    pub fn acknowledge_lights(&mut self, failed: Vec<String>) {
        self.actions.push(Action::AcknowledgeLights(failed));
    }

    /// Shows a message in the window's list. UI thread.
    pub fn message(&mut self, level: Level, text: impl Into<String>) {
        self.actions.push(Action::Message(level, text.into()));
    }
}
