//! Where a rack's plugins run (`sandbox` in the preset, `--sandbox` on the
//! command line): in the engine, in one child process for the rack, or in
//! a child process each. A sandboxed plugin that crashes or hangs is
//! relaunched by its own pump; what it has to say is reported here, by
//! rack. Main thread.

use stagerack_core::plugin::{PluginError, PluginInstance};
use stagerack_plugins::def::PluginDef;
use stagerack_plugins::loader::load_plugin;
use stagerack_plugins::sandbox::{mode_override, SandboxMode};

use super::Session;
use crate::preset::DEFAULT_SANDBOX;

/// Where the plugins of one chain are loaded. Main thread.
#[derive(Default)]
pub(crate) enum Home {
    /// In the engine's process.
    #[default]
    InProcess,
    /// Each plugin in a child of its own.
    #[cfg(target_os = "linux")]
    OwnChild,
    /// Every plugin of the chain in one child, launched with the first.
    #[cfg(target_os = "linux")]
    Shared {
        /// "rack `pad`", for messages.
        label: String,
        /// The child, once launched.
        sandbox: std::cell::RefCell<Option<stagerack_plugins::sandbox::SharedSandbox>>,
    },
}

impl Home {
    /// Loads `def` here; a sandboxed plugin gets its preset state and
    /// parameter values in the child. Main thread.
    pub(crate) fn load(&self, def: &PluginDef) -> Result<Box<dyn PluginInstance>, PluginError> {
        #[cfg(target_os = "linux")]
        {
            use stagerack_plugins::sandbox::{SandboxProcess, SandboxedInstance};
            let other = |reason: String| PluginError::Other {
                plugin: def.label(),
                reason,
            };
            match self {
                Home::InProcess => {}
                Home::OwnChild => {
                    let sandbox = SandboxProcess::launch(&def.label()).map_err(other)?;
                    return Ok(Box::new(SandboxedInstance::load(def, &sandbox)?));
                }
                Home::Shared { label, sandbox } => {
                    let mut slot = sandbox.borrow_mut();
                    if slot.is_none() {
                        *slot = Some(SandboxProcess::launch(label).map_err(other)?);
                    }
                    let shared = slot.as_ref().expect("launched above");
                    return Ok(Box::new(SandboxedInstance::load(def, shared)?));
                }
            }
        }
        load_plugin(def)
    }

    /// True when [`load`](Self::load) already applied the preset's state.
    pub(crate) fn applies_state(&self) -> bool {
        !matches!(self, Home::InProcess)
    }
}

impl Session {
    /// Where a chain labelled `label` runs: the command line's mode, else
    /// its own setting, else its preset's default. Main thread.
    pub(super) fn home_for(
        &mut self,
        own: Option<SandboxMode>,
        preset_default: Option<SandboxMode>,
        label: &str,
    ) -> Home {
        let mode = mode_override()
            .or(own)
            .or(preset_default)
            .unwrap_or(DEFAULT_SANDBOX);
        #[cfg(target_os = "linux")]
        return match mode {
            SandboxMode::None => Home::InProcess,
            SandboxMode::Plugin => Home::OwnChild,
            SandboxMode::Rack => Home::Shared {
                label: label.to_owned(),
                sandbox: std::cell::RefCell::new(None),
            },
        };
        #[cfg(not(target_os = "linux"))]
        {
            if mode != SandboxMode::None {
                let msg = format!(
                    "{label}: sandbox `{mode}` is not available on this platform yet; its \
                     plugins run in the engine"
                );
                tracing::warn!("{msg}");
                self.warnings.push(msg);
            }
            Home::InProcess
        }
    }

    /// What sandboxed plugins reported since the last pump (a crash and
    /// relaunch), by rack; also kept in the warnings. Main thread.
    pub(super) fn collect_notices(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for rack in &mut self.racks {
            for slot in &mut rack.slots {
                slot.instance.take_notices(&mut buf);
                out.extend(buf.drain(..).map(|n| format!("rack `{}`: {n}", rack.name)));
            }
        }
        for group in &mut self.groups {
            for slot in &mut group.master {
                slot.instance.take_notices(&mut buf);
                out.extend(buf.drain(..).map(|n| format!("master: {n}")));
            }
        }
        for msg in &out {
            tracing::warn!("{msg}");
            self.warnings.push(msg.clone());
        }
        out
    }
}
