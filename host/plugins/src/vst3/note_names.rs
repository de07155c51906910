//! The names a VST3 plugin gives keys, for the keyboard strip: its current
//! program's pitch names (`IUnitInfo::getProgramPitchName`, a drum map) and
//! its articulations (`IKeyswitchController` on bus 0, each channel).
//! Main thread.

use stagerack_core::plugin::NoteName;
use vst3::ComPtr;
use vst3::Steinberg::Vst as sv;
use vst3::Steinberg::Vst::{
    IKeyswitchController, IKeyswitchControllerTrait, IUnitInfo, IUnitInfoTrait,
};
use vst3::Steinberg::{kResultOk, kResultTrue};

use super::module::{self, fixed_wstr};

/// The most keyswitches read per channel (a plugin's count is not trusted).
const MAX_KEYSWITCHES: i32 = 128;

/// The names of `ctrl`'s keys: the pitch names of `program` (list id,
/// program index) when it has them, then its keyswitches' titles on each
/// key they cover. Main thread.
pub(super) fn note_names(
    ctrl: &ComPtr<sv::IEditController>,
    program: Option<(i32, i32)>,
) -> Vec<NoteName> {
    let mut names = program.map_or_else(Vec::new, |(list, index)| pitch_names(ctrl, list, index));
    names.extend(keyswitch_names(ctrl));
    names
}

/// A program's pitch names (every channel).
fn pitch_names(ctrl: &ComPtr<sv::IEditController>, list: i32, index: i32) -> Vec<NoteName> {
    let Some(units) = ctrl.cast::<IUnitInfo>() else {
        return Vec::new();
    };
    // SAFETY: plain call on a live controller; main thread.
    if unsafe { units.hasProgramPitchNames(list, index) } != kResultTrue {
        return Vec::new();
    }
    (0..128u8)
        .filter_map(|key| {
            let mut name: sv::String128 = [0; 128];
            // SAFETY: `name` is a valid out-buffer; main thread.
            let r = unsafe { units.getProgramPitchName(list, index, i16::from(key), &mut name) };
            let name = fixed_wstr(&name);
            (r == kResultOk && !name.is_empty()).then_some(NoteName {
                key,
                channel: None,
                name,
            })
        })
        .collect()
}

/// The keyswitches of bus 0, named on every key each covers; one set for
/// every channel when all 16 channels have the same, else per channel.
fn keyswitch_names(ctrl: &ComPtr<sv::IEditController>) -> Vec<NoteName> {
    let Some(switches) = ctrl.cast::<IKeyswitchController>() else {
        return Vec::new();
    };
    let per_channel: Vec<Vec<(u8, String)>> = (0..16i16)
        .map(|channel| {
            // SAFETY: plain call on a live controller; main thread.
            let count = unsafe { switches.getKeyswitchCount(0, channel) };
            let mut keys = Vec::new();
            for index in 0..count.clamp(0, MAX_KEYSWITCHES) {
                let mut info: sv::KeyswitchInfo = module::zeroed();
                // SAFETY: `info` is a valid out-struct; main thread.
                if unsafe { switches.getKeyswitchInfo(0, channel, index, &mut info) } != kResultOk {
                    continue;
                }
                let title = fixed_wstr(&info.title);
                let (low, high) = (
                    info.keyswitchMin.clamp(0, 127),
                    info.keyswitchMax.clamp(0, 127),
                );
                if title.is_empty() || low > high {
                    continue;
                }
                keys.extend((low..=high).map(|k| (k as u8, title.clone())));
            }
            keys
        })
        .collect();
    if per_channel.iter().all(|c| *c == per_channel[0]) {
        return per_channel[0]
            .iter()
            .map(|(key, name)| NoteName {
                key: *key,
                channel: None,
                name: name.clone(),
            })
            .collect();
    }
    per_channel
        .into_iter()
        .enumerate()
        .flat_map(|(channel, keys)| {
            keys.into_iter().map(move |(key, name)| NoteName {
                key,
                channel: Some(channel as u8),
                name,
            })
        })
        .collect()
}
