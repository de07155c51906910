//! What the window does with setlist replies: messages when an open or a
//! save went through, and the undo stacks emptied when the racks they
//! name were replaced. Main (UI) thread.

use stagerack_session::control::{Command, SetlistEdit};

use crate::state::{AppState, Level};

impl AppState {
    /// Notes an `open_setlist` or `save_setlist` request, to tell the user
    /// when it is done. Main thread.
    pub(crate) fn sent_setlist(&mut self, id: u64, command: &Command) {
        let notice = match command {
            Command::OpenSetlist { path } => {
                (format!("setlist opened from {}", path.display()), true)
            }
            Command::SaveSetlist { path } => {
                let to = path
                    .clone()
                    .or_else(|| self.setlist.as_ref().map(|s| s.file.clone()))
                    .map_or_else(String::new, |p| format!(" to {}", p.display()));
                // Added, removed or moved entries: the set is reloaded.
                let reload = self.setlist.as_ref().is_some_and(|s| s.pending);
                let then = if reload {
                    "; the set was reloaded with its new entries"
                } else {
                    ""
                };
                (format!("setlist saved{to}{then}"), reload)
            }
            _ => return,
        };
        self.setlist_notices.insert(id, notice);
    }

    /// Request `id` went through: says so if it was a setlist open or save.
    /// Main thread.
    pub(crate) fn setlist_done(&mut self, id: u64) {
        let Some((text, replaced)) = self.setlist_notices.remove(&id) else {
            return;
        };
        self.push_message(Level::Info, text);
        if replaced {
            // The edits on the stacks were made to racks now gone.
            self.modified = false;
            self.undo.clear();
            self.redo.clear();
        }
    }
}

/// A setlist edit, for messages. Main thread.
pub fn describe_edit(edit: &SetlistEdit) -> String {
    match edit {
        SetlistEdit::AddEntry { preset, .. } => format!("add {} to the setlist", preset.display()),
        SetlistEdit::RemoveEntry { index } => format!("remove setlist entry {}", index + 1),
        SetlistEdit::MoveEntry { from, to } => {
            format!("move setlist entry {} to {}", from + 1, to + 1)
        }
        SetlistEdit::SetTriggers { index, .. } => {
            format!("set the triggers of setlist entry {}", index + 1)
        }
        SetlistEdit::SetNotes { index, .. } => {
            format!("set the notes of setlist entry {}", index + 1)
        }
        SetlistEdit::Rename { .. } => "rename the setlist".into(),
    }
}
