//! Plugin editors of a session's slots: opened in baseview windows of this
//! process on request, resized and closed as the plugin asks, closed when
//! the user closes the window, and always destroyed on the plugin's side
//! before its window goes (a plugin whose slot is removed, a preset
//! replaced, the session ended).

use super::edit::EditError;
use super::{Session, SlotModel};
use crate::editor::{EditorWindow, ParentWindow};
use crate::plugin::EditorRequest;

/// An open editor as clients see it. Any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditorInfo {
    /// The native window the plugin is embedded in.
    pub window: ParentWindow,
    /// Its size in logical pixels.
    pub width: u32,
    /// Its height in logical pixels.
    pub height: u32,
}

impl SlotModel {
    /// The open editor's window, if any. Main thread.
    pub fn editor(&self) -> Option<EditorInfo> {
        self.editor.as_ref().map(|w| EditorInfo {
            window: w.parent(),
            width: w.size().0,
            height: w.size().1,
        })
    }

    /// Destroys the plugin's GUI, then its window. Main thread.
    pub(super) fn close_editor(&mut self) {
        if let Some(window) = self.editor.take() {
            self.instance.destroy_editor();
            window.close();
        }
    }
}

impl Session {
    /// Opens the plugin's own editor in a window of this process, or
    /// answers the open one. Fails with a message naming the plugin when it
    /// has no editor, or naming the display when there is none. Main thread.
    pub fn open_editor(&mut self, rack: usize, index: usize) -> Result<EditorInfo, EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        let slot = &mut self.racks[r].slots[i];
        if let Some(info) = slot.editor() {
            return Ok(info);
        }
        let name = slot.instance.descriptor().name.clone();
        crate::editor::check_display().map_err(|e| EditError::Invalid(format!("{name}: {e}")))?;
        if !slot.instance.has_editor() {
            return Err(EditError::Invalid(format!(
                "{name} has no editor of its own that this host can show here; \
                 use the generic parameter panel"
            )));
        }
        let (width, height) = slot.instance.create_editor()?;
        let title = format!("{name} — {}", self.racks[r].name);
        let slot = &mut self.racks[r].slots[i];
        let window = match EditorWindow::open(&title, width, height) {
            Ok(w) => w,
            Err(e) => {
                slot.instance.destroy_editor();
                return Err(EditError::Invalid(format!("{name}: {e}")));
            }
        };
        // From here the slot owns the window: a failure closes both halves.
        let parent = window.parent();
        slot.editor = Some(window);
        let shown = slot
            .instance
            .attach_editor(parent)
            .map_err(EditError::from)
            .and_then(|()| match &slot.editor {
                Some(w) => w
                    .show()
                    .map_err(|e| EditError::Invalid(format!("{name}: {e}"))),
                None => Ok(()),
            });
        if let Err(e) = shown {
            slot.close_editor();
            return Err(e);
        }
        tracing::info!("opened the editor of {name} ({width}×{height})");
        Ok(slot.editor().expect("just opened"))
    }

    /// Closes the plugin's editor (nothing to do when none is open).
    /// Main thread.
    pub fn close_editor(&mut self, rack: usize, index: usize) -> Result<(), EditError> {
        let (r, i) = self.slot_index(rack, index)?;
        self.racks[r].slots[i].close_editor();
        Ok(())
    }

    /// Follows what open editors' plugins asked (resize, close) and
    /// notices windows the user closed. Returns a line per editor closed
    /// that way, for clients. Main thread.
    pub(super) fn service_editors(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut requests = Vec::new();
        for slot in self
            .racks
            .iter_mut()
            .flat_map(|r| r.slots.iter_mut())
            .filter(|s| s.editor.is_some())
        {
            let name = slot.instance.descriptor().name.clone();
            requests.clear();
            slot.instance.take_editor_requests(&mut requests);
            for request in &requests {
                match *request {
                    EditorRequest::Resize(w, h) => {
                        if let Some(window) = slot.editor.as_mut() {
                            match window.resize(w, h) {
                                Ok(()) => slot.instance.editor_resized(w, h),
                                Err(e) => {
                                    tracing::warn!("{name}: editor resize to {w}×{h} failed: {e}")
                                }
                            }
                        }
                    }
                    EditorRequest::Closed => {
                        slot.close_editor();
                        notes.push(format!("{name} closed its editor"));
                    }
                }
            }
            if slot.editor.as_ref().is_some_and(|w| !w.is_open()) {
                slot.close_editor();
                notes.push(format!("the editor of {name} was closed"));
            }
        }
        self.editors_changed |= !notes.is_empty();
        notes
    }

    /// True once after an editor closed without a client asking (its user
    /// closed the window, or its plugin closed it). Main thread.
    pub fn take_editors_changed(&mut self) -> bool {
        std::mem::take(&mut self.editors_changed)
    }

    /// Closes every open editor (the session ends). Main thread.
    pub(super) fn close_all_editors(&mut self) {
        for slot in self
            .racks
            .iter_mut()
            .flat_map(|r| r.slots.iter_mut())
            .chain(self.groups.iter_mut().flat_map(|g| g.master.iter_mut()))
        {
            slot.close_editor();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close_all_editors();
    }
}
