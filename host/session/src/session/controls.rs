//! A rack's bank of hardware knobs on "the current page of a plugin's main
//! controls" (`[rack.controls]`): each page's knobs become mappings tagged
//! with that page, the page count and page controllers go to the plan, and
//! the current page lives in the rack's status (turned by the audio
//! thread, shown by clients). Main thread.

use std::sync::atomic::Ordering;

use stagerack_core::plugin::{PluginInstance, RemotePage};
use stagerack_engine::{MapCurve, MapSource, ParamMapping, RemotePaging, SlotSpec};

use super::{RackModel, SlotModel};

/// The most pages a rack's knobs page through (the page is one byte).
const MAX_PAGES: usize = 255;

/// What the knobs are on now, for clients. Main thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnobsNow {
    /// The plugin's index in the chain.
    pub plugin: usize,
    /// The current page (0-based) and how many there are.
    pub page: usize,
    /// Pages.
    pub pages: usize,
    /// The current page's name ("Section / Page" when it has a section).
    pub page_name: String,
    /// Each knob's parameter name ("" for a knob with none).
    pub knobs: Vec<String>,
}

/// The pages a plugin's knobs go through: its own pages (CLAP
/// remote-controls, VST3 `IUnitInfo` units), else its automatable
/// parameters eight at a time ("Parameters 1", …; a VST3 plugin's first
/// eight `kCanAutomate` ones first). Main thread.
pub fn pages_of(instance: &dyn PluginInstance) -> Vec<RemotePage> {
    let own = instance.remote_pages();
    if !own.is_empty() {
        return own;
    }
    let params: Vec<_> = instance
        .params()
        .into_iter()
        .filter(|p| p.automatable && !p.read_only)
        .collect();
    params
        .chunks(8)
        .enumerate()
        .map(|(i, chunk)| {
            let mut params = [None; 8];
            for (slot, p) in params.iter_mut().zip(chunk) {
                *slot = Some(p.id);
            }
            RemotePage {
                section: String::new(),
                name: format!("Parameters {}", i + 1),
                params,
            }
        })
        .collect()
}

/// The slot a rack's knobs follow: the preset's `plugin`, else the first
/// with pages of its own, else the first.
fn controlled(rack: &RackModel) -> Option<&SlotModel> {
    let controls = rack.def.controls.as_ref()?;
    match controls.plugin {
        Some(index) => rack.slots.iter().find(|s| s.def_index == index),
        None => rack
            .slots
            .iter()
            .find(|s| !s.instance.remote_pages().is_empty())
            .or_else(|| rack.slots.first()),
    }
}

/// Adds the knob mappings of every page of the rack's controlled plugin to
/// `out` and returns the paging, when the rack has knobs and the plugin
/// plays (`specs`: the slots in the plan). Main thread.
pub(super) fn knobs_for(
    rack: &RackModel,
    specs: &[SlotSpec],
    out: &mut Vec<ParamMapping>,
) -> Option<RemotePaging> {
    let controls = rack.def.controls.as_ref()?;
    let slot = controlled(rack)?;
    let position = specs.iter().position(|spec| spec.id == slot.id)?;
    let params = slot.instance.params();
    let pages = pages_of(slot.instance.as_ref());
    for (page, p) in pages.iter().enumerate().take(MAX_PAGES) {
        for (&cc, id) in controls.cc.iter().zip(p.params) {
            let Some(info) = id.and_then(|id| params.iter().find(|q| q.id == id)) else {
                continue;
            };
            out.push(ParamMapping {
                source: MapSource::Cc(cc),
                slot: position,
                param: info.id,
                min: info.min,
                max: info.max,
                curve: MapCurve::Linear,
                page: Some(page as u8),
            });
        }
    }
    let count = pages.len().min(MAX_PAGES);
    // A page beyond what the plugin has now (its pages changed) is its last.
    let status = &rack.status.remote_page;
    if usize::from(status.load(Ordering::Relaxed)) >= count {
        status.store(count.saturating_sub(1) as u8, Ordering::Relaxed);
    }
    (count > 0).then_some(RemotePaging {
        pages: count as u8,
        next: controls.next_page,
        previous: controls.previous_page,
    })
}

/// What the rack's knobs are on now, when it has knobs. Main thread.
pub fn knobs_now(rack: &RackModel) -> Option<KnobsNow> {
    rack.def.controls.as_ref()?;
    let slot = controlled(rack)?;
    let pages = pages_of(slot.instance.as_ref());
    let page = usize::from(rack.status.remote_page.load(Ordering::Relaxed));
    let current = pages.get(page)?;
    let params = slot.instance.params();
    Some(KnobsNow {
        plugin: slot.def_index,
        page,
        pages: pages.len(),
        page_name: if current.section.is_empty() {
            current.name.clone()
        } else {
            format!("{} / {}", current.section, current.name)
        },
        knobs: current
            .params
            .iter()
            .take(rack.def.controls.as_ref().map_or(8, |c| c.cc.len()))
            .map(|id| {
                id.and_then(|id| params.iter().find(|p| p.id == id))
                    .map_or_else(String::new, |p| p.name.clone())
            })
            .collect(),
    })
}
