//! The benchmark targets that hold on any machine, checked in every test
//! run with the measurements `cargo xtask bench` reports (here in the test
//! build, which is slower than release): the engine's overhead around the
//! plugins stays under 1 % of a 64-frame period, and a setlist switch
//! sounds on the trigger's sample with nothing dropped or repeated.

use stagerack_tests::bench::{overhead, switch};

/// One test, so the two measurements never run at the same time.
#[test]
fn overhead_and_switching_meet_their_targets() {
    engine_overhead_around_64_plugins_is_under_1_percent_of_the_period();
    a_setlist_switch_sounds_on_its_sample_and_drops_nothing();
}

fn engine_overhead_around_64_plugins_is_under_1_percent_of_the_period() {
    let o = overhead(64, "");
    eprintln!("{o}");
    // The fastest of 15 alternating rounds of each: a busy neighbour only
    // adds time, so these are the costs without interference.
    let pct = o["overhead_min_pct_of_period"].as_f64().unwrap();
    let ratio = o["ratio_min"].as_f64().unwrap();
    assert!(pct < 1.0, "engine overhead {pct:.2} % of the period: {o}");
    // Far above the ~1.2–1.25 measured here, so that only a real
    // regression (not a noisy neighbour) trips it.
    assert!(ratio < 1.6, "engine / direct = {ratio:.2}: {o}");
}

fn a_setlist_switch_sounds_on_its_sample_and_drops_nothing() {
    let s = switch();
    eprintln!("{s}");
    assert_eq!(s["trigger_to_sound_frames"], 0, "{s}");
    assert_eq!(s["samples_differing_from_the_two_presets_apart"], 0, "{s}");
}
