//! stagerack's own test plugins.
//!
//! - [`clap`]: CLAP plugins written with `clack-plugin`. Each plugin lives in
//!   this library; the `bundles/*.rs` files (built as `cdylib` examples) each
//!   export one plugin's `clap_entry`, and `cargo xtask bundle` copies them to
//!   `target/bundles/clap/<name>.clap`. See `plugins-test/README.md` for the
//!   ids, parameters and behaviour of every plugin.
//!
//! - [`level_window`]: the X11 editor window the test plugins with a GUI
//!   draw (Linux).
//!
//! Every plugin is deterministic: no randomness and no clock, so two renders
//! of the same input are bit-identical.

pub mod clap;
#[cfg(target_os = "linux")]
pub mod level_window;
