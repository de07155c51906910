//! Saving setlists as presets are saved: atomically (a temporary file
//! renamed over the old one, never half written), stably (save, load, save
//! again gives the same bytes) and keeping a hand-written file's comments
//! and layout where nothing changed, each entry's comments moving with it
//! when entries are reordered.

use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item};

use super::save::{merge_table, write_atomically};
use super::{PresetError, Setlist};

/// The text a save of `setlist` writes over `old` (the file as it is, if
/// any): `old`'s comments and layout where the two agree, else the plain
/// serialisation. Main thread.
pub fn setlist_text(setlist: &Setlist, old: Option<&str>) -> Result<String, String> {
    let fresh = toml::to_string_pretty(setlist).map_err(|e| e.to_string())?;
    Ok(old
        .and_then(|old| merge_setlist(old, &fresh))
        .unwrap_or(fresh))
}

/// Writes `setlist` to `path` atomically (see [`setlist_text`] for what
/// it keeps of the old file). On error the old file is untouched. Main
/// thread.
pub fn save_setlist_atomically(setlist: &Setlist, path: &Path) -> Result<(), PresetError> {
    let write_error = |source| PresetError::Write {
        path: path.to_owned(),
        source,
    };
    let old = std::fs::read_to_string(path).ok();
    let text =
        setlist_text(setlist, old.as_deref()).map_err(|e| write_error(std::io::Error::other(e)))?;
    write_atomically(path, text.as_bytes()).map_err(write_error)
}

/// `fresh` (a whole setlist as TOML) written over `old`: each fresh entry
/// takes the old table of the same preset (the first not yet taken) with
/// its comments, in the fresh order; then every value is merged as for
/// presets. None when `old` is not TOML.
fn merge_setlist(old: &str, fresh: &str) -> Option<String> {
    let mut doc: DocumentMut = old.parse().ok()?;
    let new: DocumentMut = fresh.parse().ok()?;
    let new_entries = new.get("entry").and_then(Item::as_array_of_tables);
    if let (Some(new_entries), Some(old_entries)) = (
        new_entries,
        doc.get("entry").and_then(Item::as_array_of_tables),
    ) {
        let mut taken = vec![false; old_entries.len()];
        // The places in the file the old entries took, for the new order.
        let mut places: Vec<isize> = old_entries.iter().filter_map(|t| t.position()).collect();
        places.sort_unstable();
        let mut ordered = ArrayOfTables::new();
        for n in new_entries.iter() {
            let preset = n.get("preset").and_then(Item::as_str);
            let same = old_entries.iter().enumerate().position(|(i, o)| {
                !taken[i] && preset.is_some() && o.get("preset").and_then(Item::as_str) == preset
            });
            let mut table = match same {
                Some(i) => {
                    taken[i] = true;
                    old_entries.get(i).cloned().unwrap_or_default()
                }
                None => n.clone(),
            };
            merge_table(&mut table, n);
            let last = places.last().copied().unwrap_or(isize::MAX / 2);
            let place = places.get(ordered.len()).copied().unwrap_or(last + 1);
            if ordered.len() >= places.len() {
                places.push(place);
            }
            table.set_position(Some(place));
            ordered.push(table);
        }
        doc.insert("entry", Item::ArrayOfTables(ordered));
    }
    merge_table(doc.as_table_mut(), new.as_table());
    Some(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::setlist_text;
    use crate::preset::parse_setlist;
    use std::path::Path;

    const HAND: &str = "# Friday's set\nversion = 1\nname = \"friday\"\n\n\
                        # the opener\n[[entry]]\npreset = \"a.toml\"\nprogram = 1 # pad\n\n\
                        [[entry]]\npreset = \"b.toml\"\nprogram = 2\nnotes = \"\"\"\nVerse: C G\nChorus: F\"\"\"\n";

    #[test]
    fn moved_entries_keep_their_comments_and_a_second_save_is_the_same() {
        let mut s = parse_setlist(HAND, Path::new("set.toml")).unwrap();
        s.entries.swap(0, 1);
        s.entries[1].bank = Some(3);
        let once = setlist_text(&s, Some(HAND)).unwrap();
        assert!(once.starts_with("# Friday's set\n"), "{once}");
        let b = once.find("b.toml").unwrap();
        let a = once.find("# the opener").unwrap();
        assert!(b < a, "entry a moved with its comment:\n{once}");
        assert!(once.contains("program = 1 # pad"), "{once}");
        assert!(once.contains("bank = 3"), "{once}");
        let back = parse_setlist(&once, Path::new("set.toml")).unwrap();
        assert_eq!(back, s);
        assert_eq!(setlist_text(&back, Some(&once)).unwrap(), once);
    }

    #[test]
    fn a_fresh_save_reads_back_the_same_and_is_stable() {
        let mut s = parse_setlist(HAND, Path::new("set.toml")).unwrap();
        s.entries[0].notes = "Intro: 4 bars\n\"quiet\"\n".into();
        let once = setlist_text(&s, None).unwrap();
        let back = parse_setlist(&once, Path::new("set.toml")).unwrap();
        assert_eq!(back, s);
        assert_eq!(setlist_text(&back, Some(&once)).unwrap(), once);
        assert!(!once.contains("[triggers]"), "{once}");
    }
}
