//! A sandbox child whose audio thread starts late (as on a loaded
//! machine) still answers the engine's very first block. The thread used
//! to read the request word when it started: starting after the engine
//! had already asked, it took that request for an old one, never answered
//! it, and the block was lost after the 10 s offline wait (a live engine
//! would have judged the healthy child hung). Seen as a flake of
//! `sandbox_offline` beside CPU hogs; here the delay is forced.

mod clap_support;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

#[test]
fn a_late_starting_sandbox_thread_answers_the_first_block() {
    // The only test in this binary: the variable reaches the children.
    std::env::set_var("STAGERACK_TEST_SANDBOX_THREAD_DELAY_MS", "300");
    stagerack::plugin::sandbox::set_child_program(stagerack_tests::stagerack_bin());
    let p = preset(&format!(
        "version = 1\nname = \"late\"\n[[rack]]\nname = \"r\"\nsandbox = \"plugin\"\n\
         [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.probe\"\npath = \"{}\"\n",
        bundle("stagerack-probe").display()
    ));
    let (mut s, mut e) = session(&p, 64);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let note = SampleEvent {
        frame: 9,
        event: Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    };
    let started = std::time::Instant::now();
    // `render` fails on any report, "missed a block" included.
    let out = render(&mut s, &mut e, &[note], None, 64, 128);
    let took = started.elapsed();
    s.shutdown(e);
    assert!(
        out.left[9] > 0.0,
        "the first block's note is missing: {:?}",
        &out.left[..16]
    );
    assert!(
        took < std::time::Duration::from_secs(5),
        "the first block waited {took:?} for the child"
    );
}
