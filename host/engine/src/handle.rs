//! Creating an engine, and its main-thread handle.

use std::sync::Arc;

use super::chain::PanicReport;
use super::process::Engine;
use super::shared::EngineShared;
use super::{Plan, ProcessorId};
use stagerack_core::plugin::ParamId;

/// Capacities of every queue between the main and the audio thread, in one
/// place. All queues are bounded; a full queue refuses, never blocks.
#[derive(Clone, Copy, Debug)]
pub struct QueueCapacities {
    /// Plans waiting to be swapped in.
    pub plans: usize,
    /// Retired plans waiting to be dropped on the main thread.
    pub retired: usize,
    /// Parameter changes waiting for the next buffer.
    pub params: usize,
    /// Caught panics waiting to be reported.
    pub panics: usize,
    /// Events per rack per block.
    pub events_per_block: usize,
}

impl Default for QueueCapacities {
    fn default() -> Self {
        Self {
            plans: 16,
            retired: 8,
            params: 1024,
            panics: 32,
            events_per_block: 1024,
        }
    }
}

/// What an engine is created for.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Frames per second.
    pub sample_rate: f64,
    /// Largest block a plan processes at once; drivers may call `process`
    /// with more frames, which the engine splits.
    pub max_block: usize,
    /// Queue sizes.
    pub queues: QueueCapacities,
}

/// A parameter change from the main thread, applied at the start of the
/// next buffer as a sample-stamped event at offset 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamChange {
    /// The processor it is for.
    pub processor: ProcessorId,
    /// The parameter.
    pub param: ParamId,
    /// Plain value.
    pub value: f64,
}

/// The main thread's side of an engine: sends plans and parameter changes,
/// receives retired plans and caught panics. Main thread.
pub struct EngineHandle {
    config: EngineConfig,
    plans: rtrb::Producer<Box<Plan>>,
    retired: rtrb::Consumer<Box<Plan>>,
    params: rtrb::Producer<ParamChange>,
    panics: rtrb::Consumer<PanicReport>,
    shared: Arc<EngineShared>,
}

/// Creates an engine: the handle stays on the main thread, the [`Engine`]
/// goes to whichever thread runs the driver callback. Main thread.
pub fn new_engine(config: EngineConfig) -> (EngineHandle, Engine) {
    let q = config.queues;
    let (plans_tx, plans_rx) = rtrb::RingBuffer::new(q.plans.max(1));
    let (retired_tx, retired_rx) = rtrb::RingBuffer::new(q.retired.max(1));
    let (params_tx, params_rx) = rtrb::RingBuffer::new(q.params.max(1));
    let (panics_tx, panics_rx) = rtrb::RingBuffer::new(q.panics.max(1));
    let shared = Arc::new(EngineShared::default());
    (
        EngineHandle {
            config,
            plans: plans_tx,
            retired: retired_rx,
            params: params_tx,
            panics: panics_rx,
            shared: shared.clone(),
        },
        Engine::new(config, plans_rx, retired_tx, params_rx, panics_tx, shared),
    )
}

impl EngineHandle {
    /// The configuration the engine was created with. Main thread.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Meters and counters. Any thread (through a clone of the Arc).
    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }

    /// Queues a plan for the next buffer boundary. A full queue gives the
    /// plan back (the audio thread is not running or far behind). Main thread.
    pub fn send_plan(&mut self, plan: Box<Plan>) -> Result<(), Box<Plan>> {
        self.plans.push(plan).map_err(|rtrb::PushError::Full(p)| p)
    }

    /// Queues a parameter change for the next buffer; a full queue gives it
    /// back. Main thread.
    pub fn send_param(&mut self, change: ParamChange) -> Result<(), ParamChange> {
        self.params
            .push(change)
            .map_err(|rtrb::PushError::Full(c)| c)
    }

    /// Switches the master safety limiter (0 dBFS brick wall) on or off;
    /// NaN and infinities are removed either way. Main thread.
    pub fn set_safety_limiter(&self, on: bool) {
        self.shared
            .safety_limiter_off
            .store(!on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes one plan the audio thread has finished with. Main thread.
    pub fn take_retired(&mut self) -> Option<Box<Plan>> {
        self.retired.pop().ok()
    }

    /// Takes one panic caught on the audio thread. Main thread.
    pub fn take_panic(&mut self) -> Option<PanicReport> {
        self.panics.pop().ok()
    }

    /// Plans sent but not yet swapped in. Main thread.
    pub fn plans_pending(&self) -> usize {
        self.plans.buffer().capacity() - self.plans.slots()
    }
}
