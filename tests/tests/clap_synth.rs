//! The CLAP synth from disk through sessions: notes with ids, note-offs and
//! the output independent of the block size.

mod clap_support;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

#[test]
fn synth_output_does_not_depend_on_the_block_size() {
    let p = preset(&format!(
        "version = 1\nname = \"s\"\n[[rack]]\nname = \"synth\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.synth\"\npath = \"{}\"\nparams = {{ release = 0.05 }}\n",
        bundle("stagerack-synth").display()
    ));
    let on = |frame, key| SampleEvent {
        frame,
        event: Event::NoteOn {
            channel: 0,
            key,
            velocity: 0.8,
            note_id: -1,
        },
    };
    let off = |frame, key| SampleEvent {
        frame,
        event: Event::NoteOff {
            channel: 0,
            key,
            velocity: 0.0,
            note_id: -1,
        },
    };
    let events = [
        on(0, 60),
        on(65, 64),
        off(1000, 60),
        on(1001, 67),
        off(3000, 64),
        off(3001, 67),
    ];
    let mut reference: Option<Vec<f32>> = None;
    for block in [1usize, 7, 64, 512] {
        let (mut s, mut e) = session(&p, block);
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
        let out = render(&mut s, &mut e, &events, None, block, 8000);
        s.shutdown(e);
        assert!(
            out.left[..65].iter().any(|x| x.abs() > 0.01),
            "sounds at once"
        );
        assert_eq!(out.left, out.right);
        // 50 ms release after the last note-off at 3001: silent by 5500.
        assert!(
            peak(&out.left[5500..]) < 1e-6,
            "block {block}: rings too long"
        );
        match &reference {
            None => reference = Some(out.left),
            Some(r) => assert_eq!(r, &out.left, "block {block} differs from block 1"),
        }
    }
}
