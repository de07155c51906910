//! stagerack's plugin formats, on top of the core layer's format-neutral
//! traits: built-in processors, CLAP (clack-host), VST3 (the `vst3` crate),
//! the preset's plugin reference ([`def::PluginDef`]) and its loader, and
//! the out-of-process scanner with its cache and blacklist, and sandbox
//! processes that host plugins apart from the engine.
//!
//! All FFI of a format lives in its own module; every callback from C
//! null-checks its pointers and runs inside `catch_unwind`.

pub mod builtin;
pub mod clap;
pub mod def;
pub mod discovery;
pub mod loader;
pub mod sandbox;
pub mod scan;
mod stereo;
pub mod vst3;
#[cfg(target_os = "linux")]
pub mod x11_errors;

// This crate's unit tests run under the allocation guard too.
#[cfg(test)]
stagerack_engine::install_guard!();
