//! Reporting what plugins did wrong on the audio thread, once each, by
//! name: errors from process, NaN or runaway output (the rack was muted),
//! allocations on the audio thread, and the plugin behind an overload.
//! Main thread.

use std::sync::atomic::Ordering;

use super::Session;

/// Bits of `SlotModel::reported`.
const ERROR: u8 = 1;
const BAD_OUTPUT: u8 = 2;
const ALLOCS: u8 = 4;
const OVERLOAD: u8 = 8;

impl Session {
    /// The plugin whose longest process call since the last look was the
    /// longest of all: "`name` (rack `r`) 195 us". Takes the peaks. Main
    /// thread.
    pub fn heaviest_plugin(&self) -> Option<String> {
        let mut best: Option<(u64, String)> = None;
        for rack in &self.racks {
            for slot in &rack.slots {
                let ns = slot.status.cpu_peak_ns.swap(0, Ordering::Relaxed);
                if ns > 0 && best.as_ref().is_none_or(|(b, _)| ns > *b) {
                    best = Some((
                        ns,
                        format!(
                            "`{}` (rack `{}`) {:.0} us",
                            slot.instance.descriptor().name,
                            rack.name,
                            ns as f64 / 1e3
                        ),
                    ));
                }
            }
        }
        best.map(|(_, s)| s)
    }

    /// New fault reports since the last call (also kept in `warnings`).
    /// Called by the pump. Main thread.
    pub(super) fn report_faults(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        // Offline renders have no deadline: a slow buffer there is no
        // overload.
        let culprit = self
            .handle
            .shared()
            .take_culprit()
            .filter(|_| !self.process.offline);
        for rack in &mut self.racks {
            if rack.status.dc_fault.swap(false, Ordering::Relaxed) {
                out.push(format!(
                    "rack `{}` put out sustained DC (a strong offset for half a second): it is \
                     muted (remove or bypass the plugin at fault to unmute it)",
                    rack.name
                ));
            }
            for slot in &mut rack.slots {
                let st = &slot.status;
                let name = slot.instance.descriptor().name.clone();
                let mut say = |bit: u8, text: String| {
                    if slot.reported & bit == 0 {
                        slot.reported |= bit;
                        out.push(format!("rack `{}`: `{name}` {text}", rack.name));
                    }
                };
                if st.bad_output.load(Ordering::Relaxed) {
                    say(
                        BAD_OUTPUT,
                        "produced NaN, infinite or runaway output: the rack is muted and the \
                         plugin bypassed (remove or replace the plugin to unmute the rack)"
                            .into(),
                    );
                } else if st.failed.load(Ordering::Relaxed) && !st.panicked.load(Ordering::Relaxed)
                {
                    say(
                        ERROR,
                        "returned an error from process: it is bypassed, the rest of the \
                         rack plays"
                            .into(),
                    );
                }
                let allocs = st.allocs.load(Ordering::Relaxed);
                if allocs > 0 {
                    say(
                        ALLOCS,
                        format!(
                            "allocates memory on the audio thread ({allocs} allocations and \
                             frees so far), a real-time violation: it may crackle under load"
                        ),
                    );
                }
                if let Some((id, ns, period)) = culprit {
                    if id == slot.id.0 {
                        say(
                            OVERLOAD,
                            format!(
                                "took {:.0} us of a {:.0} us buffer: the audio overloaded \
                                 (a larger buffer or a lighter plugin helps)",
                                ns as f64 / 1e3,
                                period as f64 / 1e3
                            ),
                        );
                    }
                }
            }
        }
        if self
            .handle
            .shared()
            .worker_priority_refused
            .swap(false, Ordering::Relaxed)
        {
            out.push(
                "the engine's worker threads could not get the audio thread's real-time \
                 priority: racks on them may be late under load (allow real-time \
                 scheduling with `ulimit -r 95` or the `audio` group, or play with \
                 `--threads 1`)"
                    .to_owned(),
            );
        }
        for msg in &out {
            tracing::warn!("{msg}");
            self.warnings.push(msg.clone());
        }
        out
    }
}
