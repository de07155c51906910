//! A VST3 plugin's pages of main controls for a rack's knobs: one page per
//! `IUnitInfo` unit (other than the root) that holds automatable
//! parameters, eight to a page, named after the unit, its parent unit as
//! the section. Without such units it has no pages of its own (the rack
//! pages through its automatable parameters eight at a time). Main thread.

use stagerack_core::plugin::{ParamId, RemotePage};
use vst3::ComPtr;
use vst3::Steinberg::kResultOk;
use vst3::Steinberg::Vst as sv;
use vst3::Steinberg::Vst::{IUnitInfo, IUnitInfoTrait};

use super::module::{self, fixed_wstr};

/// The most units read (a plugin's count is not trusted).
const MAX_UNITS: i32 = 1024;

/// A parameter as the pages need it: its id, unit and whether the host
/// may automate it (`kCanAutomate`, not read-only, not hidden).
#[derive(Clone, Copy, Debug)]
pub(super) struct PagedParam {
    pub(super) id: ParamId,
    pub(super) unit: i32,
    pub(super) automatable: bool,
}

/// A unit: id, parent id, name.
type Unit = (i32, i32, String);

/// The pages of `ctrl`'s parameters `params` (in its order). Main thread.
pub(super) fn remote_pages(
    ctrl: &ComPtr<sv::IEditController>,
    params: &[PagedParam],
) -> Vec<RemotePage> {
    let automatable: Vec<PagedParam> = params.iter().copied().filter(|p| p.automatable).collect();
    let units = read_units(ctrl);
    let mut pages = Vec::new();
    for (id, parent, name) in units.iter().filter(|u| u.0 != sv::kRootUnitId) {
        let own: Vec<ParamId> = automatable
            .iter()
            .filter(|p| p.unit == *id)
            .map(|p| p.id)
            .collect();
        let section = units
            .iter()
            .find(|u| u.0 == *parent && u.0 != sv::kRootUnitId)
            .map_or_else(String::new, |u| u.2.clone());
        for (i, chunk) in own.chunks(8).enumerate() {
            let name = if i == 0 {
                name.clone()
            } else {
                format!("{name} {}", i + 1)
            };
            pages.push(page(section.clone(), name, chunk));
        }
    }
    pages
}

fn page(section: String, name: String, ids: &[ParamId]) -> RemotePage {
    let mut params = [None; 8];
    for (slot, id) in params.iter_mut().zip(ids) {
        *slot = Some(*id);
    }
    RemotePage {
        section,
        name,
        params,
    }
}

/// Every unit the controller describes (none without `IUnitInfo`).
fn read_units(ctrl: &ComPtr<sv::IEditController>) -> Vec<Unit> {
    let Some(units) = ctrl.cast::<IUnitInfo>() else {
        return Vec::new();
    };
    // SAFETY: plain call on a live controller; main thread.
    let count = unsafe { units.getUnitCount() }.clamp(0, MAX_UNITS);
    (0..count)
        .filter_map(|i| {
            let mut info: sv::UnitInfo = module::zeroed();
            // SAFETY: `info` is a valid out-struct; main thread.
            let r = unsafe { units.getUnitInfo(i, &mut info) };
            (r == kResultOk).then(|| (info.id, info.parentUnitId, fixed_wstr(&info.name)))
        })
        .collect()
}
