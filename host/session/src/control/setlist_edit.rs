//! The setlist the control server edits for its clients (`get_setlist`,
//! `open_setlist`, `edit_setlist`, `save_setlist`).
//!
//! What plays follows what the window shows: an entry's triggers and notes
//! change the playing set at once (a new switch table in the next plan,
//! the snapshot's notes); added, removed and moved entries wait for a save,
//! which then rearranges what plays in place: every preset still in the
//! set keeps its plugins, sound and unsaved edits (the song playing goes on
//! and stays current), added presets are loaded and removed ones unloaded.
//! A save that would remove the song playing is refused. Each edited entry
//! remembers which playing preset it is, so trigger edits reach the right
//! preset while entries are moved around unsaved. Relative paths are in the
//! setlist's folder. Main thread.

use std::path::{Component, Path, PathBuf};

use super::protocol::{SetlistEdit, SetlistView};
use crate::preset::{
    load_preset, load_setlist, parse_setlist, resolve_setlist, save_setlist_atomically,
    LoadedSetlist, PresetError, Setlist, SetlistEntry,
};
use crate::session::{Session, SetlistPlace};
use stagerack_engine::EntryTrigger;

/// The setlist being edited, if what plays is one. Main thread.
#[derive(Debug, Default)]
pub(super) struct SetlistEditor {
    doc: Option<Doc>,
}

#[derive(Debug)]
struct Doc {
    file: PathBuf,
    setlist: Setlist,
    /// Each entry's playing preset (None: added since the last save).
    playing: Vec<Option<u16>>,
    unsaved: bool,
}

impl Doc {
    fn of(loaded: &LoadedSetlist) -> Self {
        Self {
            file: loaded.file.clone(),
            setlist: loaded.setlist.clone(),
            playing: (0..loaded.setlist.entries.len() as u16).map(Some).collect(),
            unsaved: false,
        }
    }

    /// Entries were added, removed or moved since the set was loaded.
    fn pending(&self) -> bool {
        self.playing
            .iter()
            .enumerate()
            .any(|(i, p)| *p != Some(i as u16))
    }
}

impl SetlistEditor {
    /// Edits `loaded`, which plays now. Main thread.
    pub(super) fn open_loaded(&mut self, loaded: &LoadedSetlist) {
        self.doc = Some(Doc::of(loaded));
    }

    /// What plays is no setlist any more (a preset was loaded). Main thread.
    pub(super) fn close(&mut self) {
        self.doc = None;
    }

    /// The setlist as clients show it. Main thread.
    pub(super) fn view(&self) -> Option<SetlistView> {
        self.doc.as_ref().map(|d| SetlistView {
            file: d.file.clone(),
            setlist: d.setlist.clone(),
            playing: d.playing.clone(),
            unsaved: d.unsaved,
            pending: d.pending(),
        })
    }

    /// Reads the setlist at `path` (relative: in the open setlist's folder)
    /// and plays it instead of what plays. Main thread.
    pub(super) fn open(&mut self, path: &Path, session: &mut Session) -> Result<(), String> {
        let path = match &self.doc {
            Some(doc) if path.is_relative() => folder(&doc.file).join(path),
            _ => path.to_owned(),
        };
        let path = path.as_path();
        let loaded = load_setlist(path).map_err(|e| e.to_string())?;
        play(&loaded, session, 0)?;
        tracing::info!("opened setlist {}", path.display());
        self.doc = Some(Doc::of(&loaded));
        Ok(())
    }

    /// Carries out one edit, or refuses it with nothing changed. Main thread.
    pub(super) fn edit(&mut self, edit: SetlistEdit, session: &mut Session) -> Result<(), String> {
        let doc = self.doc.as_mut().ok_or(
            "no setlist is open (what plays is a single preset); open a setlist file first",
        )?;
        let mut setlist = doc.setlist.clone();
        let mut playing = doc.playing.clone();
        apply(&mut setlist, &mut playing, edit, &doc.file)?;
        // The file's own checks (ranges, a program two entries share), with
        // their messages, before anything changes.
        let text = toml::to_string(&setlist).map_err(|e| e.to_string())?;
        parse_setlist(&text, &doc.file).map_err(|e| match e {
            PresetError::Invalid { message, .. } => message,
            other => other.to_string(),
        })?;
        doc.setlist = setlist;
        doc.playing = playing;
        doc.unsaved = true;
        play_triggers(doc, session)
    }

    /// Saves to `path` (or the setlist's own file; a relative `path` is in
    /// the setlist's folder). Entries added, removed or moved then play in
    /// place: every preset still in the set keeps its plugins, sound and
    /// unsaved edits, the song playing goes on and stays current; only
    /// added presets are loaded and removed ones unloaded. A save that
    /// would remove the song playing, or write over one of the set's
    /// presets, is refused with nothing written. Main thread.
    pub(super) fn save(
        &mut self,
        path: Option<PathBuf>,
        session: &mut Session,
    ) -> Result<(), String> {
        let doc = self.doc.as_mut().ok_or(
            "no setlist is open (what plays is a single preset); open a setlist file first",
        )?;
        let target = match path {
            Some(p) if p.is_relative() && !p.as_os_str().is_empty() => folder(&doc.file).join(p),
            Some(p) => p,
            None => doc.file.clone(),
        };
        if target.as_os_str().is_empty() || target.is_dir() {
            return Err(format!(
                "`{}` is not a file name; give the setlist file to save to (e.g. set.toml)",
                target.display()
            ));
        }
        if !folder(&target).is_dir() {
            return Err(format!(
                "cannot save the setlist to {}: {} is not a folder; choose a folder you can \
                 write to",
                target.display(),
                folder(&target).display()
            ));
        }
        let dir = folder(&doc.file);
        if let Some(e) = doc
            .setlist
            .entries
            .iter()
            .find(|e| same_file(&dir.join(&e.preset), &target))
        {
            return Err(format!(
                "cannot save the setlist to {}: that is the preset file of entry `{}`, which \
                 the save would overwrite; choose another file name for the setlist (e.g. \
                 set.toml)",
                target.display(),
                e.preset.display()
            ));
        }
        let mut setlist = doc.setlist.clone();
        rebase(&mut setlist, &doc.file, &target);
        // Every preset read and checked before the file is written.
        let loaded = resolve_setlist(setlist.clone(), &target).map_err(|e| e.to_string())?;
        let order = doc.pending().then(|| new_order(doc, &loaded, session));
        // The song playing stays in the set.
        let current = session.current_group();
        if order.as_ref().is_some_and(|o| {
            !o.iter()
                .any(|p| matches!(p, SetlistPlace::Kept(g) if *g == current))
        }) {
            let name = session
                .groups()
                .get(usize::from(current))
                .map_or_else(String::new, |g| g.name.clone());
            return Err(format!(
                "the song playing (`{name}`) was removed from the setlist; a save cannot \
                 take it away while it plays: switch to another song first, then save again \
                 (your edits are kept), or add it back"
            ));
        }
        save_setlist_atomically(&setlist, &target).map_err(|e| match e {
            PresetError::Write { source, .. } => format!(
                "cannot save the setlist to {}: {source}; choose a folder you can write to \
                 (and check the disk has room)",
                target.display()
            ),
            other => other.to_string(),
        })?;
        tracing::info!("saved setlist {}", target.display());
        if let Some(order) = order {
            rearrange(order, &loaded, session)?;
        }
        // Each preset keeps the file it plays from (a preset saved
        // elsewhere since stays saved there).
        *doc = Doc::of(&loaded);
        Ok(())
    }
}

/// The saved `loaded` as places in the set as it plays now (`doc`'s): the
/// presets kept, and added ones (a removed preset's file added again is the
/// removed one, kept). Main thread.
fn new_order(doc: &Doc, loaded: &LoadedSetlist, session: &Session) -> Vec<SetlistPlace> {
    let mut free: Vec<u16> = (0..session.groups().len() as u16)
        .filter(|g| !doc.playing.contains(&Some(*g)))
        .collect();
    doc.playing
        .iter()
        .zip(&loaded.paths)
        .zip(&loaded.presets)
        .map(|((playing, path), preset)| match playing {
            Some(g) => SetlistPlace::Kept(*g),
            None => {
                let reused = free.iter().position(|g| {
                    session.groups()[usize::from(*g)]
                        .file
                        .as_deref()
                        .is_some_and(|f| same_file(f, path))
                });
                match reused {
                    Some(i) => SetlistPlace::Kept(free.remove(i)),
                    None => SetlistPlace::Added(Box::new(preset.clone())),
                }
            }
        })
        .collect()
}

/// Plays the saved `loaded` in place of the set as it plays now, as
/// `order` places it. Main thread.
fn rearrange(
    order: Vec<SetlistPlace>,
    loaded: &LoadedSetlist,
    session: &mut Session,
) -> Result<(), String> {
    let added: Vec<bool> = order
        .iter()
        .map(|p| matches!(p, SetlistPlace::Added(_)))
        .collect();
    let rate = session.process_config().sample_rate;
    let before = session.warnings().len();
    session
        .rearrange_setlist(order, loaded.switch_table(rate))
        .map_err(|e| e.to_string())?;
    finish(loaded, session, before, |g| added[g]);
    Ok(())
}

/// `a` and `b` name the same file (through links when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => absolute(a) == absolute(b),
    }
}

/// Replaces what plays with `loaded`, entry `start` current. Main thread.
fn play(loaded: &LoadedSetlist, session: &mut Session, start: u16) -> Result<(), String> {
    let rate = session.process_config().sample_rate;
    let before = session.warnings().len();
    session
        .replace_with_setlist(
            &loaded.presets,
            loaded.switch_table(rate),
            loaded.setlist.neighbours,
            start,
        )
        .map_err(|e| e.to_string())?;
    finish(loaded, session, before, |_| true);
    Ok(())
}

/// After `loaded` went to play: logs the warnings since `before`, records
/// the file of each preset `loaded_now` says was loaded from it, and plays
/// the song notes. Main thread.
fn finish(
    loaded: &LoadedSetlist,
    session: &mut Session,
    before: usize,
    loaded_now: impl Fn(usize) -> bool,
) {
    for w in &session.warnings()[before..] {
        tracing::warn!("{w}");
    }
    for (group, file) in loaded.paths.iter().enumerate() {
        if loaded_now(group) {
            session.set_preset_file(group as u16, Some(file.clone()));
        }
    }
    let s = &loaded.setlist;
    session.set_song_notes(
        s.entries.iter().map(|e| e.notes.clone()).collect(),
        s.triggers.notes_cc,
    );
}

/// The edited triggers and notes, played by the presets the entries are
/// now: an entry added since the save selects nothing yet, a removed one's
/// preset nothing selects. Main thread.
fn play_triggers(doc: &Doc, session: &mut Session) -> Result<(), String> {
    let rate = session.process_config().sample_rate;
    let mut table = doc.setlist.switch_table(rate);
    let groups = session.groups().len();
    let entry_of = |g: usize| doc.playing.iter().position(|p| *p == Some(g as u16));
    let by_entry = std::mem::take(&mut table.entries);
    table.entries = (0..groups)
        .map(|g| {
            entry_of(g)
                .and_then(|i| by_entry.get(i).copied())
                .unwrap_or(EntryTrigger {
                    program: None,
                    bank: None,
                    note: None,
                })
        })
        .collect();
    let notes = (0..groups)
        .map(|g| entry_of(g).map_or_else(String::new, |i| doc.setlist.entries[i].notes.clone()))
        .collect();
    session.set_song_notes(notes, doc.setlist.triggers.notes_cc);
    session.set_switch(table).map_err(|e| e.to_string())
}

/// One edit on a copy of the setlist and of each entry's playing preset.
fn apply(
    setlist: &mut Setlist,
    playing: &mut Vec<Option<u16>>,
    edit: SetlistEdit,
    file: &Path,
) -> Result<(), String> {
    let count = setlist.entries.len();
    let check = |index: usize| {
        if index < count {
            Ok(index)
        } else {
            Err(format!(
                "there is no setlist entry {index}; entries are numbered 0 to {}",
                count.saturating_sub(1)
            ))
        }
    };
    match edit {
        SetlistEdit::AddEntry { preset, index } => {
            let at = index.unwrap_or(count);
            if at > count {
                return Err(format!(
                    "cannot add an entry at {at}: the setlist has {count} entries (0 to {count} \
                     are places to add at)"
                ));
            }
            let dir = folder(file);
            let full = dir.join(&preset);
            if !full.is_file() {
                return Err(format!(
                    "preset file {} does not exist; give the path of a preset file, relative \
                     to the setlist's folder {} or absolute",
                    full.display(),
                    dir.display()
                ));
            }
            load_preset(&full).map_err(|e| e.to_string())?;
            let entry = SetlistEntry {
                preset: relative(&full, &dir),
                program: None,
                bank: None,
                note: None,
                notes: String::new(),
            };
            setlist.entries.insert(at, entry);
            playing.insert(at, None);
        }
        SetlistEdit::RemoveEntry { index } => {
            let index = check(index)?;
            if count == 1 {
                return Err(
                    "a setlist needs at least one entry; add another before removing this one"
                        .into(),
                );
            }
            setlist.entries.remove(index);
            playing.remove(index);
        }
        SetlistEdit::MoveEntry { from, to } => {
            let (from, to) = (check(from)?, check(to)?);
            let entry = setlist.entries.remove(from);
            setlist.entries.insert(to, entry);
            let p = playing.remove(from);
            playing.insert(to, p);
        }
        SetlistEdit::SetTriggers {
            index,
            program,
            bank,
            note,
        } => {
            let e = &mut setlist.entries[check(index)?];
            e.program = program;
            e.bank = bank;
            e.note = note;
        }
        SetlistEdit::SetNotes { index, notes } => {
            setlist.entries[check(index)?].notes = notes;
        }
        SetlistEdit::Rename { name } => setlist.name = name,
    }
    Ok(())
}

/// The folder a file is in (`.` for a bare name).
fn folder(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Rewrites the setlist's relative paths (presets, rig) from `from`'s
/// folder to `to`'s.
fn rebase(setlist: &mut Setlist, from: &Path, to: &Path) {
    let (old, new) = (folder(from), folder(to));
    if absolute(&old) == absolute(&new) {
        return;
    }
    for e in &mut setlist.entries {
        e.preset = relative(&old.join(&e.preset), &new);
    }
    if let Some(rig) = &mut setlist.rig {
        *rig = relative(&old.join(&*rig), &new);
    }
}

fn absolute(p: &Path) -> PathBuf {
    let p = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    // `a/../b` as `b`, lexically.
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` as written in a file in `dir`: relative to it (with `..` where
/// needed), or absolute when they share no root.
fn relative(path: &Path, dir: &Path) -> PathBuf {
    let (path, dir) = (absolute(path), absolute(dir));
    let p: Vec<Component> = path.components().collect();
    let d: Vec<Component> = dir.components().collect();
    let common = p.iter().zip(&d).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return path;
    }
    let mut out = PathBuf::new();
    for _ in common..d.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::{Path, PathBuf};

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/a/b/c.toml"), Path::new("/a/b")),
            PathBuf::from("c.toml")
        );
        assert_eq!(
            relative(Path::new("/a/x/c.toml"), Path::new("/a/b")),
            PathBuf::from("../x/c.toml")
        );
        assert_eq!(
            relative(Path::new("/a/b/../c.toml"), Path::new("/a")),
            PathBuf::from("c.toml")
        );
    }
}
