//! `cargo bench -p stagerack --bench engine`: the cost of `process` for 16
//! racks × 4 `builtin:gain` at 64 frames / 48 kHz, fed with noise so no
//! processor sleeps. The per-buffer time divided by the 1333 µs period is
//! the engine's share of the budget (see docs/BENCHMARKS.md).

// The allocation guard in this test binary (see `install_guard!`).
stagerack::engine::install_guard!();

use stagerack::engine::{EngineConfig, QueueCapacities};
use stagerack::preset::{PluginDef, Preset, RackDef};
use stagerack::session::Session;

fn main() {
    divan::main();
}

fn heavy_preset(racks: usize, per_rack: usize) -> Preset {
    Preset {
        outputs: Vec::new(),
        inputs: Vec::new(),
        rig: None,
        rig_lists: None,
        version: 1,
        name: "bench".into(),
        tempo: None,
        racks: (0..racks)
            .map(|i| {
                RackDef::new(
                    &format!("rack {i}"),
                    (0..per_rack).map(|_| PluginDef::builtin("gain")).collect(),
                )
            })
            .collect(),
        master: None,
    }
}

#[divan::bench(args = [64, 512])]
fn process_16x4_gain(bencher: divan::Bencher, frames: usize) {
    let config = EngineConfig {
        sample_rate: 48_000.0,
        max_block: frames,
        queues: QueueCapacities::default(),
    };
    let (session, mut engine) = Session::new(&heavy_preset(16, 4), config, false).unwrap();
    let mut seed = 1u32;
    let noise: Vec<f32> = (0..frames)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.5 - 0.25
        })
        .collect();
    let mut l = vec![0.0f32; frames];
    let mut r = vec![0.0f32; frames];
    // First call swaps the plan in.
    engine.process(&[], Some([&noise, &noise]), &mut l, &mut r);
    bencher.bench_local(|| {
        engine.process(&[], Some([&noise, &noise]), &mut l, &mut r);
        divan::black_box(l[0]);
    });
    session.shutdown(engine);
}
