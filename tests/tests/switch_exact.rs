//! A setlist switch sounds on the trigger's sample with nothing dropped or
//! repeated: measured as `cargo xtask bench` measures it, checked here for
//! correctness (frames and samples, not time). The speed targets (the
//! engine's overhead) live in `cargo xtask bench`, which fails when one is
//! missed; a test run must pass with a build running beside it.

use stagerack_tests::bench::switch;

#[test]
fn a_setlist_switch_sounds_on_its_sample_and_drops_nothing() {
    let s = switch();
    eprintln!("{s}");
    assert_eq!(s["trigger_to_sound_frames"], 0, "{s}");
    assert_eq!(s["samples_differing_from_the_two_presets_apart"], 0, "{s}");
}
