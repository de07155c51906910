//! Atomic saving: a preset file is never half written, and a hand-written
//! one keeps its comments and layout where nothing changed.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table};

use super::{Preset, PresetError};

/// Serialises `preset` and replaces `path` atomically: the text goes to a
/// temporary file in the same folder, is flushed to disk, then renamed over
/// the old file (and the folder synced). A crash or a full disk at any
/// point leaves either the old file or the new one, never a mix. Saving the
/// same preset twice gives the same bytes.
///
/// When `path` holds a preset already, the new text is merged into it
/// ([`merge_into`]): every value that did not change keeps its place, its
/// comments and its layout (`keys = [0, 59]` on one line, an inline
/// `params = { cutoff = 900 }`); changed values are written in place, new
/// ones appended, gone ones removed. Main thread.
pub fn save_atomically(preset: &Preset, path: &Path) -> Result<(), PresetError> {
    let fresh = toml::to_string_pretty(preset).map_err(|e| PresetError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let text = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| merge_into(&old, &fresh))
        .unwrap_or(fresh);
    write_atomically(path, text.as_bytes()).map_err(|source| PresetError::Write {
        path: path.to_owned(),
        source,
    })
}

pub use stagerack_core::fs::write_atomically;

/// `fresh` (a whole preset as TOML) written over `old` (the file as it is):
/// the result reads as `fresh` and looks like `old` wherever the two agree.
/// None when `old` is not TOML (it is then replaced whole). Main thread.
pub fn merge_into(old: &str, fresh: &str) -> Option<String> {
    let mut doc: DocumentMut = old.parse().ok()?;
    let new: DocumentMut = fresh.parse().ok()?;
    merge_table(doc.as_table_mut(), new.as_table());
    Some(doc.to_string())
}

/// Writes `new`'s keys over `old`'s (see [`merge_into`]). Main thread.
pub(super) fn merge_table(old: &mut Table, new: &Table) {
    let gone: Vec<String> = old
        .iter()
        .map(|(k, _)| k.to_owned())
        .filter(|k| !new.contains_key(k))
        .collect();
    for k in gone {
        old.remove(&k);
    }
    for (k, n) in new.iter() {
        match old.get_mut(k) {
            Some(o) => merge_item(o, n),
            None => {
                old.insert(k, n.clone());
            }
        }
    }
}

fn merge_item(old: &mut Item, new: &Item) {
    match (&mut *old, new) {
        (Item::Table(o), Item::Table(n)) => return merge_table(o, n),
        (Item::ArrayOfTables(o), Item::ArrayOfTables(n)) => {
            while o.len() > n.len() {
                o.remove(o.len() - 1);
            }
            for (i, t) in n.iter().enumerate() {
                match o.get_mut(i) {
                    Some(existing) => merge_table(existing, t),
                    None => o.push(t.clone()),
                }
            }
            return;
        }
        _ => {}
    }
    if same_value(old, new) {
        return;
    }
    match (&*old, new) {
        // The old file wrote it inline (`params = { … }`): keep it inline.
        (Item::Value(_), Item::Table(_)) => {
            if let Ok(v) = new.clone().into_value() {
                *old = Item::Value(v);
            }
        }
        _ => *old = new.clone(),
    }
}

/// Whether two items hold the same data however they are written (an
/// array over one line or four, 900 or 900.0, an inline or a plain table).
fn same_value(a: &Item, b: &Item) -> bool {
    match (data(a), data(b)) {
        (Some(a), Some(b)) => same(&a, &b),
        _ => false,
    }
}

/// An item's data, read back through the plain TOML parser.
fn data(item: &Item) -> Option<toml::Value> {
    let value = item.clone().into_value().ok()?;
    let table: toml::Table = toml::from_str(&format!("x = {value}")).ok()?;
    table.get("x").cloned()
}

fn same(a: &toml::Value, b: &toml::Value) -> bool {
    use toml::Value as V;
    match (a, b) {
        (V::Integer(x), V::Float(y)) | (V::Float(y), V::Integer(x)) => (*x as f64) == *y,
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (V::Table(x), V::Table(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::merge_into;

    const HAND: &str = "# The keys rack, as I wrote it.\nversion = 1\nname = \"hand\"\n\n\
                        [[rack]]\nname = \"keys\" # the left hand\nkeys = [0, 59]\n\n\
                        [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\
                        params = { cutoff = 900 } # warm\n";

    #[test]
    fn unchanged_values_keep_their_comments_and_layout() {
        // What a save of that preset writes, unchanged.
        let fresh = "version = 1\nname = \"hand\"\n\n[[rack]]\nname = \"keys\"\nkeys = [\n    0,\n    59,\n]\n\n\
                     [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\n[rack.plugin.params]\ncutoff = 900.0\n";
        assert_eq!(merge_into(HAND, fresh).unwrap(), HAND);
    }

    #[test]
    fn changed_values_are_written_in_place_and_the_rest_kept() {
        let fresh = "version = 1\nname = \"hand\"\n\n[[rack]]\nname = \"keys\"\nkeys = [0, 64]\ngain_db = -3.0\n\n\
                     [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\n[rack.plugin.params]\ncutoff = 1200.0\n";
        let merged = merge_into(HAND, fresh).unwrap();
        assert!(
            merged.starts_with("# The keys rack, as I wrote it.\n"),
            "{merged}"
        );
        assert!(
            merged.contains("name = \"keys\" # the left hand"),
            "{merged}"
        );
        assert!(merged.contains("keys = [0, 64]"), "{merged}");
        assert!(merged.contains("gain_db = -3.0"), "{merged}");
        assert!(merged.contains("params = { cutoff = 1200.0 }"), "{merged}");
        let back: toml::Table = toml::from_str(&merged).unwrap();
        let expected: toml::Table = toml::from_str(fresh).unwrap();
        assert_eq!(back, expected, "it reads as the new preset");
    }

    #[test]
    fn removed_racks_and_keys_go() {
        let fresh = "version = 1\nname = \"hand\"\n";
        let merged = merge_into(HAND, fresh).unwrap();
        assert!(
            !merged.contains("[[rack]]") && !merged.contains("synth"),
            "{merged}"
        );
        assert!(merged.starts_with("# The keys rack"), "{merged}");
    }
}
