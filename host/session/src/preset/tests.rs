use super::*;
use std::path::Path;

const MINIMAL: &str = r#"
version = 1
name = "probe"

[[rack]]
name = "probe"

[[rack.plugin]]
format = "builtin"
id = "probe"
"#;

fn err_of(text: &str) -> (usize, usize, String) {
    match parse_preset(text, Path::new("x.toml")).unwrap_err() {
        PresetError::Invalid {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn minimal_shape_loads() {
    let p = parse_preset(MINIMAL, Path::new("x.toml")).unwrap();
    assert_eq!(p.racks.len(), 1);
    assert_eq!(p.racks[0].plugins[0].id, "probe");
}

#[test]
fn unknown_key_names_line_and_column() {
    let (line, col, msg) = err_of(&MINIMAL.replace(
        "name = \"probe\"\n\n[[rack]]",
        "name = \"probe\"\ncolour = 1\n[[rack]]",
    ));
    assert_eq!((line, col), (4, 1), "{msg}");
    assert!(msg.contains("colour"), "{msg}");
}

#[test]
fn bad_values_say_what_was_expected() {
    let (line, _, msg) = err_of(&MINIMAL.replace(
        "name = \"probe\"\n\n[[rack.plugin]]",
        "name = \"probe\"\nkeys = [70, 60]\n\n[[rack.plugin]]",
    ));
    assert_eq!(line, 7, "{msg}");
    assert!(msg.contains("low <= high"), "{msg}");
    let (_, _, msg) = err_of(&MINIMAL.replace("id = \"probe\"", "id = \"organ\""));
    assert!(msg.contains("organ") && msg.contains("synth"), "{msg}");
    let (line, _, msg) = err_of(&MINIMAL.replace("version = 1", "version = 7"));
    assert_eq!(line, 2);
    assert!(msg.contains("version 7"), "{msg}");
    let (_, _, msg) = err_of(&MINIMAL.replace(
        "name = \"probe\"\n\n[[rack.plugin]]",
        "name = \"probe\"\nchannels = [0]\n\n[[rack.plugin]]",
    ));
    assert!(msg.contains("1 to 16"), "{msg}");
    let (_, _, msg) = err_of(&MINIMAL.replace(
        "name = \"probe\"\n\n[[rack.plugin]]",
        "name = \"probe\"\ntranspose = 60\n\n[[rack.plugin]]",
    ));
    assert!(msg.contains("-48 to 48"), "{msg}");
}

#[test]
fn save_load_save_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let mut p = parse_preset(MINIMAL, Path::new("x.toml")).unwrap();
    p.racks[0].keys = Some([10, 20]);
    p.racks[0].plugins[0].set_state_bytes(b"\x00\x01binary");
    p.racks[0].plugins[0].params.insert("level".into(), 0.5);
    save_atomically(&p, &path).unwrap();
    let first = std::fs::read(&path).unwrap();
    let q = load_preset(&path).unwrap();
    assert_eq!(p, q);
    save_atomically(&q, &path).unwrap();
    assert_eq!(first, std::fs::read(&path).unwrap());
}

#[test]
fn saving_into_a_missing_folder_is_a_clear_error() {
    let p = parse_preset(MINIMAL, Path::new("x.toml")).unwrap();
    let e = save_atomically(&p, Path::new("/nonexistent-dir/p.toml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent-dir/p.toml"), "{e}");
}

#[test]
fn garbage_never_panics() {
    // A small deterministic fuzz: every prefix and some byte flips.
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../presets/demo.toml"
    ))
    .unwrap();
    for cut in 0..base.len() {
        if base.is_char_boundary(cut) {
            let _ = parse_preset(&base[..cut], Path::new("x.toml"));
        }
    }
    let bytes = base.as_bytes();
    let mut seed = 0x2545_f491_u32;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let mut b = bytes.to_vec();
        let i = seed as usize % b.len();
        b[i] = (seed >> 8) as u8;
        if let Ok(text) = std::str::from_utf8(&b) {
            let _ = parse_preset(text, Path::new("x.toml"));
        }
    }
}

#[test]
fn the_shortest_preset_is_named_after_its_file() {
    let text = "version = 1\n[[rack]]\nname = \"keys\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n";
    let p = parse_preset(text, Path::new("/shows/evening.toml")).unwrap();
    assert_eq!(p.name, "evening");
    assert_eq!(p.racks[0].plugins[0].id, "synth");
    // A name given is kept.
    let named = parse_preset(&format!("name = \"gig\"\n{text}"), Path::new("x.toml")).unwrap();
    assert_eq!(named.name, "gig");
}

#[test]
fn an_mpe_zone_and_its_bend_range_load_save_and_are_checked() {
    let text = MINIMAL.replace(
        "name = \"probe\"\n\n[[rack.plugin]]",
        "name = \"probe\"\nmpe = \"upper\"\nmpe_bend_range = 24\n\n[[rack.plugin]]",
    );
    let p = parse_preset(&text, Path::new("x.toml")).unwrap();
    assert_eq!(p.racks[0].mpe, MpeMode::Upper);
    assert_eq!(p.racks[0].mpe_bend_range, Some(24));
    let f = crate::session::filter_of(&p.racks[0]);
    assert_eq!(
        f.mpe,
        Some(stagerack_engine::MpeZone {
            members: 0x7FFF,
            bend_range: 24
        })
    );
    // Saved as written, and a rack without MPE says nothing about it.
    let saved = toml::to_string(&p).unwrap();
    assert!(saved.contains("mpe = \"upper\"") && saved.contains("mpe_bend_range = 24"));
    let plain = toml::to_string(&parse_preset(MINIMAL, Path::new("x.toml")).unwrap()).unwrap();
    assert!(!plain.contains("mpe"), "{plain}");
    let (_, _, msg) = err_of(&text.replace("mpe_bend_range = 24", "mpe_bend_range = 0"));
    assert!(msg.contains("1 to 96"), "{msg}");
    let (_, _, msg) = err_of(&text.replace("\"upper\"", "\"middle\""));
    assert!(msg.contains("middle") && msg.contains("lower"), "{msg}");
}

#[test]
fn mpe_out_and_expressions_are_read_and_checked() {
    let text = MINIMAL.replace(
        "name = \"probe\"\n\n[[rack.plugin]]",
        "name = \"probe\"\nmpe = \"upper\"\nmpe_out = \"lower\"\n\n[[rack.plugin]]\nexpressions = \"midi\"",
    );
    let p = parse_preset(&text, Path::new("x.toml")).unwrap();
    assert_eq!(p.racks[0].mpe_out, Some(MpeSide::Lower));
    assert_eq!(p.racks[0].plugins[0].expressions, Expressions::Midi);
    let (line, _, msg) = err_of(&text.replace("mpe_out = \"lower\"", "mpe_out = \"middle\""));
    assert_eq!(line, 8);
    assert!(msg.contains("lower") && msg.contains("upper"), "{msg}");
    let (_, _, msg) = err_of(&text.replace("expressions = \"midi\"", "expressions = \"osc\""));
    assert!(msg.contains("auto") && msg.contains("midi"), "{msg}");
}
