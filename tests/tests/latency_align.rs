//! Layered racks and their latency: shown per rack, and aligned to the
//! slowest one when the preset asks (off by default).

mod clap_support;
use clap_support::*;

use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;

fn layered(align: bool) -> String {
    let gain = bundle("stagerack-gain");
    format!(
        r#"
version = 1
name = "layers"
[[rack]]
name = "slow"
[[rack.plugin]]
format = "builtin"
id = "probe"
params = {{ level = 0.5 }}
[[rack.plugin]]
format = "clap"
id = "org.stagerack.test.gain"
path = "{g}"
params = {{ latency = 480 }}
[[rack]]
name = "fast"
[[rack.plugin]]
format = "builtin"
id = "probe"
params = {{ level = 0.25 }}
[master]
align_latency = {align}
"#,
        g = gain.display()
    )
}

fn hits(align: bool) -> (Vec<(usize, f32)>, Vec<u32>) {
    let (mut s, mut e) = session(&preset(&layered(align)), 64);
    let on = SampleEvent {
        frame: 100,
        event: Event::NoteOn {
            channel: 0,
            key: 60,
            velocity: 1.0,
            note_id: -1,
        },
    };
    let out = render(&mut s, &mut e, &[on], None, 64, 2048);
    let latencies = s.racks().iter().map(|r| r.latency()).collect();
    let snap = stagerack::control::snapshot(&s);
    assert_eq!(snap.racks[0].latency, 480);
    s.shutdown(e);
    let hits = out
        .left
        .iter()
        .enumerate()
        .filter(|(_, x)| x.abs() > 1e-6)
        .map(|(i, x)| (i, *x))
        .collect();
    (hits, latencies)
}

#[test]
fn racks_report_their_latency_and_align_only_when_asked() {
    let (plain, latencies) = hits(false);
    assert_eq!(latencies, vec![480, 0]);
    // Off by default: the fast rack sounds at once, the slow one 480 later.
    assert_eq!(plain, vec![(100, 0.25), (580, 0.5)]);
    // Aligned: the fast rack waits for the slow one; both land together.
    let (aligned, _) = hits(true);
    assert_eq!(aligned, vec![(580, 0.75)]);
}
