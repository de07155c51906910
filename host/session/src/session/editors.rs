//! Plugin editors of a session's slots: opened in baseview windows of this
//! process on request, resized and closed as the plugin asks, closed when
//! the user closes the window, and always destroyed on the plugin's side
//! before its window goes (a plugin whose slot is removed, a preset
//! replaced, the session ended).

use super::edit::EditError;
use super::{Session, SlotModel};
use crate::editor_window::{
    window_system_error_count, window_system_error_since, EditorWindow, ParentWindow,
};
use stagerack_core::plugin::EditorRequest;

/// How long a plugin has to put its GUI into the editor window.
const EMBED_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// An open editor: the plugin's GUI in a window of ours, or a floating
/// window of the plugin's own (a CLAP plugin that offers only those).
/// Main thread.
pub(crate) enum OpenEditor {
    /// In our window.
    Embedded(Box<EditorWindow>),
    /// The plugin's own window, at the size it last gave.
    Floating((u32, u32)),
}

/// An open editor as clients see it. Any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditorInfo {
    /// The native window the plugin is embedded in; `None` for a floating
    /// editor (the plugin's own window).
    pub window: Option<ParentWindow>,
    /// The top-level window around it; `None` for a floating editor.
    pub frame: Option<ParentWindow>,
    /// Its size in logical pixels.
    pub width: u32,
    /// Its height in logical pixels.
    pub height: u32,
}

impl SlotModel {
    /// The open editor's window, if any. Main thread.
    pub fn editor(&self) -> Option<EditorInfo> {
        self.editor.as_ref().map(|open| match open {
            OpenEditor::Embedded(w) => EditorInfo {
                window: Some(w.parent()),
                frame: Some(w.frame()),
                width: w.size().0,
                height: w.size().1,
            },
            OpenEditor::Floating((width, height)) => EditorInfo {
                window: None,
                frame: None,
                width: *width,
                height: *height,
            },
        })
    }

    /// Destroys the plugin's GUI, then our window if it has one. Main
    /// thread.
    pub(super) fn close_editor(&mut self) {
        if let Some(open) = self.editor.take() {
            if let Some(editor) = self.instance.editor() {
                editor.destroy_editor();
            }
            if let OpenEditor::Embedded(window) = open {
                window.close();
            }
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
        stagerack_core::editor::check_display()
            .map_err(|e| EditError::Invalid(format!("{name}: {e}")))?;
        let no_editor = || {
            EditError::Invalid(format!(
                "{name} has no editor of its own that this host can show here; \
                 use the generic parameter panel"
            ))
        };
        if !slot.instance.has_editor() {
            return Err(no_editor());
        }
        let x_errors_before = window_system_error_count();
        let (width, height) = slot
            .instance
            .editor()
            .ok_or_else(no_editor)?
            .create_editor()?;
        let title = format!("{name} — {}", self.racks[r].name);
        let slot = &mut self.racks[r].slots[i];
        if slot.instance.editor().is_some_and(|e| e.is_floating()) {
            return open_floating(slot, &name, &title, (width, height));
        }
        let window = match EditorWindow::open(&title, width, height) {
            Ok(w) => w,
            Err(e) => {
                if let Some(editor) = slot.instance.editor() {
                    editor.destroy_editor();
                }
                return Err(EditError::Invalid(format!("{name}: {e}")));
            }
        };
        // From here the slot owns the window: a failure closes both halves.
        let parent = window.parent();
        slot.editor = Some(OpenEditor::Embedded(Box::new(window)));
        let shown = slot
            .instance
            .editor()
            .ok_or_else(no_editor)
            .and_then(|editor| editor.attach_editor(parent).map_err(EditError::from))
            .and_then(|()| match &slot.editor {
                Some(OpenEditor::Embedded(w)) => w
                    .show()
                    .map_err(|e| EditError::Invalid(format!("{name}: {e}"))),
                _ => Ok(()),
            });
        if let Err(e) = shown {
            slot.close_editor();
            return Err(e);
        }
        // A plugin whose GUI could not be parented (an X error in its
        // window set-up) leaves the window empty: say so, close both halves.
        let embedded = match &slot.editor {
            Some(OpenEditor::Embedded(w)) => w.wait_for_plugin(EMBED_TIMEOUT),
            _ => false,
        };
        if !embedded {
            slot.close_editor();
            let cause = window_system_error_since(x_errors_before)
                .map_or_else(String::new, |e| format!(" (its window system error: {e})"));
            return Err(EditError::Invalid(format!(
                "{name} did not put its editor into the window within {} ms{cause}; \
                 it was closed, the plugin plays on; use the generic parameter panel",
                EMBED_TIMEOUT.as_millis()
            )));
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
            let Some(editor) = slot.instance.editor() else {
                continue;
            };
            editor.take_editor_requests(&mut requests);
            for request in &requests {
                match *request {
                    EditorRequest::Resize(w, h) => {
                        if let Some(OpenEditor::Floating(size)) = slot.editor.as_mut() {
                            // Its own window: nothing of ours to follow.
                            *size = (w, h);
                        }
                        if let Some(OpenEditor::Embedded(window)) = slot.editor.as_mut() {
                            match window.resize(w, h) {
                                Ok(()) => {
                                    if let Some(editor) = slot.instance.editor() {
                                        editor.editor_resized(w, h);
                                    }
                                }
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
            if matches!(&slot.editor, Some(OpenEditor::Embedded(w)) if !w.is_open()) {
                slot.close_editor();
                notes.push(format!("the editor of {name} was closed"));
            }
        }
        self.editors_changed |= !notes.is_empty();
        self.report_x_errors();
        notes
    }

    /// Logs X errors plugins' GUIs raised since the last look, naming the
    /// plugins whose editors are open (the process survives them: see
    /// [`crate::editor_window::x11`]). Main thread.
    fn report_x_errors(&mut self) {
        let count = window_system_error_count();
        if count == self.x_errors_reported {
            return;
        }
        let new = count - self.x_errors_reported;
        self.x_errors_reported = count;
        let open: Vec<String> = self
            .racks
            .iter()
            .flat_map(|r| r.slots.iter())
            .filter(|s| s.editor.is_some())
            .map(|s| s.instance.descriptor().name.clone())
            .collect();
        tracing::warn!(
            "{new} X error(s) from plugin GUIs (open editors: {}); last: {}; the engine plays on",
            if open.is_empty() {
                "none".to_string()
            } else {
                open.join(", ")
            },
            window_system_error_since(0).unwrap_or_default()
        );
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

/// Shows the created floating editor of `slot` (the plugin's own window,
/// titled `title` if it takes the suggestion); on failure destroys it.
/// Main thread.
fn open_floating(
    slot: &mut SlotModel,
    name: &str,
    title: &str,
    size: (u32, u32),
) -> Result<EditorInfo, EditError> {
    let shown = slot
        .instance
        .editor()
        .map_or(Ok(()), |editor| editor.show_floating(title));
    if let Err(e) = shown {
        if let Some(editor) = slot.instance.editor() {
            editor.destroy_editor();
        }
        return Err(e.into());
    }
    slot.editor = Some(OpenEditor::Floating(size));
    tracing::info!(
        "opened the floating editor of {name} ({}×{}, its own window)",
        size.0,
        size.1
    );
    Ok(slot.editor().expect("just opened"))
}
