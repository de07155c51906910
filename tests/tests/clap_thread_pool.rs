//! CLAP `thread-pool` (#15): `Stagerack Tasks` (plugins-test/src/clap/
//! tasks.rs) halves its input in tasks it hands to the host with
//! `request_exec`. At one thread the tasks run on the plugin's own thread;
//! at several, idle threads of the engine's pool take some. Either way
//! every task runs exactly once per request (the plugin checks), the host
//! never refuses inside process, each task runs as the audio thread, and
//! the output is exactly half the synth's, bit for bit at any thread
//! count. Two racks asking at the same time each get all their tasks run.

mod clap_support;

use clap_support::*;
use stagerack::midi::file::SampleEvent;
use stagerack::midi::Event;
use stagerack_plugins_test::clap::tasks::TasksReport;

const FRAMES: u64 = 24_000;
const BLOCK: usize = 64;

/// `racks` racks of the built-in synth, each followed by the tasks plugin
/// when `tasks`.
fn preset_text(racks: usize, tasks: bool) -> String {
    let mut text = String::from("version = 1\nname = \"tasks\"\n");
    for r in 0..racks {
        text += &format!(
            "[[rack]]\nname = \"r{r}\"\n[[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n"
        );
        if tasks {
            text += &format!(
                "[[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.tasks\"\npath = \"{}\"\n",
                bundle("stagerack-tasks").display()
            );
        }
    }
    text
}

fn notes() -> Vec<SampleEvent> {
    [(0, 60), (100, 64), (5_000, 67)]
        .iter()
        .map(|&(frame, key)| SampleEvent {
            frame,
            event: Event::NoteOn {
                channel: 0,
                key,
                velocity: 0.8,
                note_id: -1,
            },
        })
        .collect()
}

/// Renders at `threads`; returns (left, right, each tasks plugin's
/// counters [execs, bad, refused, most threads, thread violations]).
fn play(racks: usize, tasks: bool, threads: usize) -> (Vec<f32>, Vec<f32>, Vec<[f64; 5]>) {
    let (mut s, mut e) = session(&preset(&preset_text(racks, tasks)), BLOCK);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    e.use_threads(threads).unwrap();
    let out = render(&mut s, &mut e, &notes(), None, BLOCK, FRAMES);
    let counters = (0..s.racks().len())
        .filter_map(|rack| {
            let state = s.plugin_mut(rack, 1)?.save_state().expect("its state");
            let r = TasksReport::from_state(&state).expect("the tasks plugin's state");
            Some(
                [
                    r.execs,
                    r.bad_execs,
                    r.refused,
                    r.most_threads,
                    r.thread_violations,
                ]
                .map(|c| c as f64),
            )
        })
        .collect();
    s.shutdown(e);
    (out.left, out.right, counters)
}

#[test]
fn every_task_runs_exactly_once_at_one_thread_and_at_several() {
    let blocks = (FRAMES / BLOCK as u64) as f64;
    let (dry_l, dry_r, _) = play(1, false, 1);
    let half = |v: &[f32]| v.iter().map(|x| x * 0.5).collect::<Vec<_>>();
    let mut renders = Vec::new();
    for threads in [1, 2, 4] {
        let (l, r, counters) = play(1, true, threads);
        let [execs, bad, refused, most, violations] = counters[0];
        assert_eq!(execs, blocks, "{threads} threads: one request per block");
        assert_eq!(
            bad, 0.0,
            "{threads} threads: a task did not run exactly once"
        );
        assert_eq!(refused, 0.0, "{threads} threads: a request was refused");
        assert_eq!(
            violations, 0.0,
            "{threads} threads: a task ran as not the audio thread"
        );
        if threads == 1 {
            assert_eq!(most, 1.0, "one thread: every task on the plugin's own");
        } else {
            assert!(
                most >= 2.0,
                "{threads} threads: no idle thread ever took a task ({most})"
            );
        }
        assert!(dry_l.iter().any(|x| x.abs() > 0.01), "the synth plays");
        assert_eq!(l, half(&dry_l), "{threads} threads: left is half the synth");
        assert_eq!(
            r,
            half(&dry_r),
            "{threads} threads: right is half the synth"
        );
        renders.push((l, r));
    }
    assert!(renders.windows(2).all(|w| w[0] == w[1]));
}

/// Two racks whose plugins ask at the same time: each request still runs
/// every task exactly once (the second runs its own while the pool's task
/// lane is busy), and the output is the same as at one thread.
#[test]
fn two_plugins_asking_at_once_each_get_every_task_run() {
    let (l1, r1, _) = play(2, true, 1);
    let (l4, r4, counters) = play(2, true, 4);
    assert_eq!(counters.len(), 2);
    for c in &counters {
        assert!(c[0] > 0.0, "requests carried out: {c:?}");
        assert_eq!(c[1], 0.0, "a task did not run exactly once: {c:?}");
        assert_eq!(c[2], 0.0, "refused: {c:?}");
    }
    assert_eq!(l1, l4);
    assert_eq!(r1, r4);
}
