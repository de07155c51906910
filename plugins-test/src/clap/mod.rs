//! CLAP test plugins (ids `org.stagerack.test.*`).
//!
//! Each submodule defines a plugin type implementing
//! [`clack_plugin::prelude::DefaultPluginFactory`], so a host test can load it
//! in-process with `PluginEntry::load_from_clack::<SinglePluginEntry<T>>()`
//! and a bundle file exports it with `clack_export_entry!`. The exception
//! is [`kit_presets`]: the presets of [`kit`] and the entry its bundle
//! exports ([`kit_presets::KitEntry`], which adds a preset-discovery
//! factory).

pub mod arp;
pub mod bad;
pub mod common;
pub mod crash_on_note;
#[cfg(target_os = "linux")]
pub mod editor;
pub mod gain;
pub mod kit;
pub mod kit_presets;
pub mod misbehave;
pub mod probe;
pub mod silent;
pub mod synth;
pub mod tail;
pub mod tasks;
pub mod two_out;
