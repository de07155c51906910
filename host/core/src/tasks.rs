//! Plugins' parallel tasks (CLAP `thread-pool`): a plugin's audio thread
//! asks for `count` tasks to run and waits until all have. The engine's
//! worker pool registers itself on every thread it runs plugins on; the
//! plugin hosts (which do not depend on the engine) call [`run_tasks`].
//! Without a registered pool (a serial engine, a sandbox child, another
//! thread) the tasks run on the calling thread, in order.

use std::cell::Cell;

/// Something that runs tasks on several threads: the engine's worker pool.
pub trait TaskRunner: Sync {
    /// Runs `task(i)` for every `i` in `0..count`, each exactly once, and
    /// returns when all are done. Audio thread; never allocates.
    fn run_tasks(&self, count: usize, task: &(dyn Fn(usize) + Sync));
}

thread_local! {
    /// The runner registered on the calling thread.
    static CURRENT: Cell<Option<*const dyn TaskRunner>> = const { Cell::new(None) };
}

/// Runs `task(i)` for every `i` in `0..count`, each exactly once, on the
/// calling thread and any idle thread of the runner registered here;
/// returns when all are done. A plugin's audio thread, inside its process
/// call; never allocates.
pub fn run_tasks(count: usize, task: &(dyn Fn(usize) + Sync)) {
    match CURRENT.with(Cell::get) {
        // SAFETY: whoever registered the runner keeps it alive while it is
        // registered (see `register_runner`).
        Some(runner) => unsafe { &*runner }.run_tasks(count, task),
        None => (0..count).for_each(task),
    }
}

/// Registers `runner` as the calling thread's (None: none), returning the
/// one registered before. Audio thread (the engine's pool threads).
///
/// # Safety
/// The runner must stay alive until it is unregistered from this thread
/// (the previous value put back, or None).
pub unsafe fn register_runner(
    runner: Option<*const dyn TaskRunner>,
) -> Option<*const dyn TaskRunner> {
    CURRENT.with(|c| c.replace(runner))
}
