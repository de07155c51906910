//! The CLAP extensions that tell a plugin where it sits and let it tell
//! the host what it is: `track-info` (the rack's name), `param-indication`
//! (which parameters a controller is mapped to), `note-name` (drum-map
//! names for the keyboard strip), `voice-info` (polyphony),
//! `audio-ports-config` (a stereo configuration picked before the first
//! activation) and `state-context` (presets are saved as projects).
//! Main thread only.

use std::cell::RefCell;
use std::ffi::CString;

use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::note_name::{NoteNameBuffer, PluginNoteName};
use clack_extensions::param_indication::PluginParamIndication;
use clack_extensions::state_context::PluginStateContext;
use clack_extensions::track_info::PluginTrackInfo;
use clack_extensions::voice_info::PluginVoiceInfo;
use clack_host::prelude::*;
use clack_host::utils::ClapId;

use stagerack_core::plugin::{HostContext, NoteName, PluginKind};

/// The context extensions a plugin offers, looked up once after init.
#[derive(Clone, Copy, Default)]
pub(crate) struct ContextExts {
    pub(crate) track_info: Option<PluginTrackInfo>,
    pub(crate) param_indication: Option<PluginParamIndication>,
    pub(crate) note_name: Option<PluginNoteName>,
    pub(crate) voice_info: Option<PluginVoiceInfo>,
    pub(crate) ports_config: Option<PluginAudioPortsConfig>,
    pub(crate) state_context: Option<PluginStateContext>,
}

impl ContextExts {
    /// Looks them up. Main thread, after init.
    pub(crate) fn of(plugin: &PluginSharedHandle<'_>) -> Self {
        Self {
            track_info: plugin.get_extension(),
            param_indication: plugin.get_extension(),
            note_name: plugin.get_extension(),
            voice_info: plugin.get_extension(),
            ports_config: plugin.get_extension(),
            state_context: plugin.get_extension(),
        }
    }
}

/// What the host last told the plugin and read from it.
#[derive(Default)]
pub(crate) struct ContextState {
    /// The context the plugin was last told (None: never).
    told: Option<HostContext>,
    /// The plugin's note names, read again after `note_name.changed`.
    note_names: RefCell<Option<Vec<NoteName>>>,
}

impl ContextState {
    /// Forgets the cached note names (the plugin said they changed).
    pub(crate) fn note_names_changed(&self) {
        *self.note_names.borrow_mut() = None;
    }
}

/// The rack name to answer `track_info.get` with from now on, when it is
/// new (set it in the host before [`tell`]). Main thread.
pub(crate) fn new_track_name(state: &ContextState, context: &HostContext) -> Option<Vec<u8>> {
    renamed(state, context).then(|| context.rack.bytes().filter(|b| *b != 0).collect())
}

/// The rack's name differs from what the plugin was last told (or it was
/// never told).
fn renamed(state: &ContextState, context: &HostContext) -> bool {
    state.told.as_ref().is_none_or(|t| t.rack != context.rack)
}

/// Tells the plugin its context: `track_info.changed` when the rack's name
/// is new (the host answers `get` with it already, see
/// [`new_track_name`]), and the parameter mappings that changed since last
/// time. Main thread.
pub(crate) fn tell(
    exts: &ContextExts,
    state: &mut ContextState,
    plugin: &PluginMainThreadHandle<'_>,
    context: &HostContext,
) {
    let renamed = renamed(state, context);
    let before = state.told.take().unwrap_or_default();
    if renamed {
        if let Some(track) = exts.track_info {
            track.changed(plugin);
        }
    }
    if let Some(ind) = exts.param_indication {
        for (id, label) in &context.mapped {
            let unchanged = before.mapped.iter().any(|(p, l)| p == id && l == label);
            let (Some(cid), false) = (ClapId::from_raw(*id), unchanged) else {
                continue;
            };
            let label = CString::new(label.replace('\0', "")).unwrap_or_default();
            let description =
                CString::new(format!("mapped in stagerack: {}", label.to_string_lossy()))
                    .unwrap_or_default();
            ind.set_mapping(plugin, cid, true, None, Some(&label), Some(&description));
        }
        for (id, _) in &before.mapped {
            if context.mapped.iter().any(|(p, _)| p == id) {
                continue;
            }
            if let Some(cid) = ClapId::from_raw(*id) {
                ind.set_mapping(plugin, cid, false, None, None, None);
            }
        }
    }
    state.told = Some(context.clone());
}

/// The plugin's note names (cached until it says they changed). Main
/// thread.
pub(crate) fn note_names(
    exts: &ContextExts,
    state: &ContextState,
    plugin: &PluginMainThreadHandle<'_>,
) -> Vec<NoteName> {
    let Some(ext) = exts.note_name else {
        return Vec::new();
    };
    if let Some(names) = state.note_names.borrow().as_ref() {
        return names.clone();
    }
    let mut buf = NoteNameBuffer::new();
    // A drum map names at most every key of every channel.
    let count = ext.count(plugin).min(128 * 16);
    let names: Vec<NoteName> = (0..count as u32)
        .filter_map(|i| {
            let n = ext.get(plugin, i, &mut buf)?;
            let key = *n.key.as_specific()?;
            Some(NoteName {
                key: u8::try_from(key).ok().filter(|k| *k < 128)?,
                channel: n.channel.as_specific().and_then(|c| u8::try_from(*c).ok()),
                name: String::from_utf8_lossy(n.name).trim().to_owned(),
            })
        })
        .filter(|n| !n.name.is_empty())
        .collect();
    *state.note_names.borrow_mut() = Some(names.clone());
    names
}

/// The plugin's voice capacity. Main thread.
pub(crate) fn voice_capacity(
    exts: &ContextExts,
    plugin: &PluginMainThreadHandle<'_>,
) -> Option<u32> {
    exts.voice_info?
        .get(plugin)
        .map(|v| v.voice_capacity)
        .filter(|n| *n > 0)
}

/// Before the first activation: when the plugin's main output is not
/// stereo and it offers a configuration whose main output (and, for an
/// effect, main input) is, selects that one. Returns its name when it
/// selected one. Main thread, the plugin inactive.
pub(crate) fn pick_stereo_config(
    exts: &ContextExts,
    plugin: &mut PluginMainThreadHandle<'_>,
    kind: PluginKind,
    main_output_channels: Option<u32>,
) -> Option<String> {
    let ext = exts.ports_config?;
    if main_output_channels == Some(2) {
        return None;
    }
    let mut buf = AudioPortsConfigBuffer::default();
    let count = ext.count(plugin).min(256);
    let (id, name) = (0..count).find_map(|i| {
        let c = ext.get(plugin, i, &mut buf)?;
        let out_stereo = c.main_output.is_some_and(|p| p.channel_count == 2);
        let in_ok =
            kind == PluginKind::Instrument || c.main_input.is_some_and(|p| p.channel_count == 2);
        (out_stereo && in_ok).then(|| (c.id, String::from_utf8_lossy(c.name).into_owned()))
    })?;
    ext.select(plugin, id).ok()?;
    Some(name)
}
