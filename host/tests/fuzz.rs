//! Bad input, fuzzed (bounded, in every test run): the MIDI byte-stream
//! parser, MIDI file loading, the preset and setlist parsers and the
//! control-protocol decoder never panic, whatever they are fed, and give
//! a clear error (naming the file where there is one). Inputs are random
//! bytes and mutations (flips, cuts, splices) of the seed corpus in
//! `host/tests/corpus/` and `presets/`. proptest records any failure in
//! `host/tests/fuzz.proptest-regressions`, which is committed and replayed
//! first on every run: each crash found stays a regression test.

// The allocation guard in this test binary (see `install_guard!`).
stagerack::engine::install_guard!();

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use stagerack::control::Request;
use stagerack::io::midi_stream::MidiParser;
use stagerack::midi::file::parse_midi_bytes;
use stagerack::midi::Event;
use stagerack::preset::{parse_preset, parse_setlist};

fn corpus(dir: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = vec![root.join("tests/corpus").join(dir)];
    if dir == "preset" || dir == "setlist" || dir == "midi_file" {
        dirs.push(root.join("../presets"));
    }
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let wanted = match dir {
                "preset" | "setlist" => f.extension().is_some_and(|e| e == "toml"),
                "midi_file" => f.extension().is_some_and(|e| e == "mid"),
                _ => true,
            };
            if wanted {
                if let Ok(b) = std::fs::read(&f) {
                    out.push(b);
                }
            }
        }
    }
    assert!(!out.is_empty(), "no seed corpus for {dir}");
    out
}

/// Random bytes, or a seed with flipped bytes, a cut and a spliced-in run.
fn fuzzed(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (
            0..n,
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            any::<prop::sample::Index>(),
            proptest::collection::vec(any::<u8>(), 0..16),
            any::<prop::sample::Index>(),
        )
            .prop_map(move |(i, flips, cut, splice, at)| {
                let mut b = seeds[i].clone();
                if b.is_empty() {
                    return splice;
                }
                for (pos, byte) in flips {
                    let p = pos.index(b.len());
                    b[p] = byte;
                }
                let at = at.index(b.len());
                b.splice(at..at, splice);
                let keep = b.len() - cut.index(b.len() / 4 + 1);
                b.truncate(keep);
                b
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_midi_stream_parser_takes_any_bytes(bytes in fuzzed(corpus("midi_stream"))) {
        let mut p = MidiParser::new();
        for b in bytes {
            if let Some(m) = p.push(b) {
                let s = m.as_slice();
                prop_assert!(!s.is_empty() && s.len() <= 3);
                prop_assert!(s[0] >= 0x80, "a message starts with a status byte");
                prop_assert!(s[1..].iter().all(|d| *d < 0x80), "data bytes are 7-bit");
                let _ = Event::from_midi(s);
            }
        }
    }

    #[test]
    fn midi_files_load_or_fail_clearly(bytes in fuzzed(corpus("midi_file"))) {
        match parse_midi_bytes(&bytes, 48_000.0) {
            Ok(events) => prop_assert!(events.windows(2).all(|w| w[0].frame <= w[1].frame)),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn presets_parse_or_fail_naming_the_file(bytes in fuzzed(corpus("preset"))) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_preset(&text, Path::new("fuzzed.toml")) {
            prop_assert!(e.to_string().contains("fuzzed.toml"), "{}", e);
        }
    }

    #[test]
    fn setlists_parse_or_fail_naming_the_file(bytes in fuzzed(corpus("setlist"))) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_setlist(&text, Path::new("fuzzed-set.toml")) {
            prop_assert!(e.to_string().contains("fuzzed-set.toml"), "{}", e);
        }
    }

    #[test]
    fn the_control_decoder_takes_any_message(bytes in fuzzed(corpus("control"))) {
        for line in bytes.split(|b| *b == b'\n') {
            // Decoded or refused; never a panic.
            let _ = serde_json::from_slice::<Request>(line);
        }
    }
}
