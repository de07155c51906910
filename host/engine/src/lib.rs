//! The real-time side: plans, the one `process` function every driver
//! calls, the queues between main and audio thread, and the meters.
//!
//! Thread roles:
//! - [`EngineHandle`] lives on the **main thread**: it sends plans and
//!   parameter changes, receives retired plans and caught panics.
//! - [`Engine`] lives on the **audio thread** (the driver callback): its
//!   [`Engine::process`] never allocates, frees, locks or blocks.
//! - [`EngineShared`] (meters, counters; atomics only) is read by anyone.

pub mod alloc_guard;
pub mod audio_thread;
mod chain;
pub mod clock;
mod denormals;
mod handle;
mod malloc_count;
mod mapping;
mod plan;
mod process;
mod route;
pub mod safety;
mod shared;
mod switch;
mod workers;

// This crate's own unit tests run under the allocation guard too (binaries
// install it in their own crate with `install_guard!`).
#[cfg(test)]
crate::install_guard!();

/// What `install_guard!` expands to needs from here.
#[doc(hidden)]
pub mod __private {
    #[cfg(unix)]
    pub use libc;
}

pub use chain::{SlotSpec, SlotStatus};
pub use handle::{new_engine, EngineConfig, EngineHandle, ParamChange, QueueCapacities};
pub use mapping::{MapCurve, MapSource, ParamMapping, RemotePaging};
pub use plan::{
    AuxSpec, GroupSpec, OutputSpec, Plan, PlanBuilder, RackInput, RackSpec, SendSpec, MAX_OUTPUTS,
};
pub use process::Engine;
pub use route::{MidiFilter, MpeZone, ZoneSide, BLOCKED, IDENTITY};
pub use shared::{EngineShared, RackStatus, StatusSnapshot};
pub use switch::{EntryTrigger, SwitchTable};
pub use workers::{set_threads, threads, WorkerPool, METERED_THREADS};

/// Identifies a processor across plans, so a new plan can take over the
/// running processor of the old one. Assigned by the main thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessorId(pub u64);

/// Identifies a rack across plans (held notes follow it). Main thread assigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RackId(pub u64);

impl RackId {
    /// An id no rack is given: a `midi_from` naming no rack points here
    /// (and the rack gets no MIDI). Any thread.
    pub const NONE: RackId = RackId(u64::MAX);
}

/// Below this absolute level a buffer counts as silent (about -144 dBFS,
/// under the least significant bit of 24-bit audio).
pub const SILENCE: f32 = 6.0e-8;

/// True when every sample of `buf` is below [`SILENCE`]. Audio thread.
#[inline]
pub fn is_silent(buf: &[f32]) -> bool {
    buf.iter().all(|x| x.abs() < SILENCE)
}

/// Lanes of the per-buffer reductions below: independent accumulators the
/// compiler turns into SIMD registers (a plain `fold` over the buffer is one
/// serial dependency chain, ~4 cycles per sample, and these run for every
/// rack on every buffer).
const LANES: usize = 8;

/// Largest absolute sample of `buf` (0 for an empty slice; NaN ignored).
/// Audio thread.
#[inline]
pub fn peak(buf: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = buf.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            let v = x.abs();
            *a = if v > *a { v } else { *a };
        }
    }
    let m = rest.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    acc.iter().fold(m, |m, a| m.max(*a))
}

/// Sum of the samples of `buf` (summed in [`LANES`] interleaved partial
/// sums, so the result may differ from a left-to-right sum in the last
/// bits). Audio thread.
#[inline]
pub fn sum(buf: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = buf.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + rest
}
