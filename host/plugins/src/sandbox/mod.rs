//! Plugins in sandbox processes: a plugin that segfaults, aborts or hangs
//! takes only its own child process down; the engine plays on, relaunches
//! the child and brings the plugin back with its state.
//!
//! - [`shm`]: the memory engine and child share, and the futex wake-ups.
//! - [`wire`]: events as checked plain bytes in that memory.
//! - [`rpc`]: the main threads' conversation (JSON lines on pipes).
//! - [`process`]: one child process, launched, watched and relaunched.
//! - [`instance`] / [`processor`]: the engine's two halves of a sandboxed
//!   plugin (`PluginInstance` on the main thread, `AudioProcessor` on the
//!   audio thread).
//! - [`anticipate`]: how a child's audio thread waits for the engine's
//!   next buffer live (asleep, then polling just before it is due).
//! - [`worker`]: a child's one audio thread, serving all its plugins.
//! - [`child`]: what `stagerack sandbox-child` runs.
//!
//! Linux only for now; the Windows and macOS designs are in
//! docs/ARCHITECTURE.md.

#[cfg(target_os = "linux")]
pub mod anticipate;
#[cfg(target_os = "linux")]
pub mod child;
#[cfg(target_os = "linux")]
pub mod instance;
#[cfg(target_os = "linux")]
pub mod process;
#[cfg(target_os = "linux")]
pub mod processor;
#[cfg(target_os = "linux")]
pub mod rpc;
#[cfg(target_os = "linux")]
pub mod shm;
pub mod wire;
#[cfg(target_os = "linux")]
pub mod worker;

use serde::{Deserialize, Serialize};

#[cfg(target_os = "linux")]
pub use instance::SandboxedInstance;
#[cfg(target_os = "linux")]
pub use process::{set_child_program, SandboxProcess, SharedSandbox};

/// Where a rack's plugins run. Any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// In the engine's own process (a crash ends the show).
    #[default]
    None,
    /// The rack's whole chain in one child process.
    Rack,
    /// Each plugin in a child process of its own.
    Plugin,
}

/// `--sandbox` for the whole run: 0 none set, else mode + 1.
static OVERRIDE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Makes every rack of this process's sessions use `mode`, whatever their
/// presets say (the command line's `--sandbox`). Main thread, at start.
pub fn set_mode_override(mode: SandboxMode) {
    OVERRIDE.store(mode as u8 + 1, std::sync::atomic::Ordering::Relaxed);
}

/// The mode [`set_mode_override`] set, if any. Any thread.
pub fn mode_override() -> Option<SandboxMode> {
    match OVERRIDE.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Some(SandboxMode::None),
        2 => Some(SandboxMode::Rack),
        3 => Some(SandboxMode::Plugin),
        _ => None,
    }
}

impl std::str::FromStr for SandboxMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(SandboxMode::None),
            "rack" => Ok(SandboxMode::Rack),
            "plugin" => Ok(SandboxMode::Plugin),
            other => Err(format!(
                "unknown sandbox mode `{other}`; expected none, rack or plugin"
            )),
        }
    }
}

impl std::fmt::Display for SandboxMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SandboxMode::None => "none",
            SandboxMode::Rack => "rack",
            SandboxMode::Plugin => "plugin",
        })
    }
}
