//! VST3 factory programs: the program-change parameter (`kIsProgramChange`)
//! and the names of its programs, from the controller's `IUnitInfo` program
//! list when it has one, else from the parameter's own value strings (what
//! DPF-built plugins such as zam-plugins offer). Main thread.

use vst3::ComPtr;
use vst3::Steinberg::kResultOk;
use vst3::Steinberg::Vst as sv;
use vst3::Steinberg::Vst::{IEditControllerTrait, IUnitInfo, IUnitInfoTrait};

use super::module::{self, fixed_wstr};

/// The program names of the program-change parameter `param` with `steps`
/// steps (`steps + 1` programs). Main thread.
pub(super) fn names(ctrl: &ComPtr<sv::IEditController>, param: u32, steps: i32) -> Vec<String> {
    if let Some((_, names)) = program_list(ctrl, steps) {
        return names;
    }
    let count = steps.max(0) + 1;
    (0..count.min(1024))
        .map(|i| {
            let mut s: sv::String128 = [0; 128];
            let n = if steps > 0 {
                f64::from(i) / f64::from(steps)
            } else {
                0.0
            };
            // SAFETY: `s` is a valid out-buffer; main thread.
            let r = unsafe { ctrl.getParamStringByValue(param, n, &mut s) };
            if r == kResultOk && s[0] != 0 {
                fixed_wstr(&s)
            } else {
                format!("Program {}", i + 1)
            }
        })
        .collect()
}

/// The controller's `IUnitInfo` program list of `steps + 1` programs, all
/// named: its id and the names. Main thread.
pub(super) fn program_list(
    ctrl: &ComPtr<sv::IEditController>,
    steps: i32,
) -> Option<(i32, Vec<String>)> {
    let count = steps.max(0) + 1;
    let units = ctrl.cast::<IUnitInfo>()?;
    // SAFETY: plain calls on a live controller; `info` and `name` are
    // valid out-structs. Main thread.
    let lists = unsafe { units.getProgramListCount() };
    for l in 0..lists.clamp(0, 64) {
        let mut info: sv::ProgramListInfo = module::zeroed();
        // SAFETY: as above.
        if unsafe { units.getProgramListInfo(l, &mut info) } != kResultOk
            || info.programCount != count
        {
            continue;
        }
        let names: Vec<String> = (0..count.min(1024))
            .map(|i| {
                let mut name: sv::String128 = [0; 128];
                // SAFETY: as above.
                let r = unsafe { units.getProgramName(info.id, i, &mut name) };
                if r == kResultOk {
                    fixed_wstr(&name)
                } else {
                    String::new()
                }
            })
            .collect();
        if names.iter().all(|n| !n.is_empty()) {
            return Some((info.id, names));
        }
    }
    None
}
