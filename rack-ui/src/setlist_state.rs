//! What the window does with setlist replies: messages when an open or a
//! save went through, and the undo stacks emptied when the racks they
//! name were replaced (an open) or renumbered (a save removing a song).
//! A save never clears "modified": the preset edits still play. Main (UI)
//! thread.

use stagerack_session::control::{Command, SetlistEdit};

use crate::state::{AppState, Level};

/// What the window says when a setlist open or save went through, and
/// what it forgets then. UI thread.
#[derive(Debug)]
pub(crate) struct SetlistNotice {
    /// The message.
    text: String,
    /// An open: what plays was replaced (the undo steps and "modified"
    /// are about racks now gone).
    opened: bool,
    /// A save that removed a song: rack numbers moved (the undo steps
    /// name racks by number).
    renumbered: bool,
}

impl AppState {
    /// Notes an `open_setlist` or `save_setlist` request, to tell the user
    /// when it is done. Main thread.
    pub(crate) fn sent_setlist(&mut self, id: u64, command: &Command) {
        let notice = match command {
            Command::OpenSetlist { path } => SetlistNotice {
                text: format!("setlist opened from {}", path.display()),
                opened: true,
                renumbered: false,
            },
            Command::SaveSetlist { path } => {
                let to = path
                    .clone()
                    .or_else(|| self.setlist.as_ref().map(|s| s.file.clone()))
                    .map_or_else(String::new, |p| format!(" to {}", p.display()));
                // Added, removed or moved entries play in place; racks of a
                // removed song go, so later racks' numbers (which the undo
                // steps name) move. The edits themselves stay.
                let pending = self.setlist.as_ref().is_some_and(|s| s.pending);
                let then = if pending {
                    "; the new order plays (the song playing went on)"
                } else {
                    ""
                };
                let removed = self.setlist.as_ref().is_some_and(|s| {
                    let kept = s.playing.iter().flatten().count();
                    self.snapshot
                        .as_ref()
                        .is_some_and(|x| kept < x.presets.len())
                });
                SetlistNotice {
                    text: format!("setlist saved{to}{then}"),
                    opened: false,
                    renumbered: removed,
                }
            }
            _ => return,
        };
        self.setlist_notices.insert(id, notice);
    }

    /// Request `id` went through: says so if it was a setlist open or save.
    /// Main thread.
    pub(crate) fn setlist_done(&mut self, id: u64) {
        let Some(notice) = self.setlist_notices.remove(&id) else {
            return;
        };
        self.push_message(Level::Info, notice.text);
        if notice.opened {
            // The edits on the stacks were made to racks now gone.
            self.modified = false;
        } else if notice.renumbered {
            // The unsaved preset edits still play ("modified" stays); only
            // the undo steps, which name racks by number, go.
            self.push_message(
                Level::Info,
                "undo history cleared: a removed song's racks are gone, so rack numbers moved \
                 (unsaved preset edits are kept)",
            );
        } else {
            return;
        }
        self.undo.clear();
        self.redo.clear();
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
