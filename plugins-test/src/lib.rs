//! stagerack's own test plugins.
//!
//! - [`clap`]: CLAP plugins written with `clack-plugin`. Each plugin lives in
//!   this library; the `bundles/*.rs` files (built as `cdylib` examples) each
//!   export one plugin's `clap_entry`, and `cargo xtask bundle` copies them to
//!   `target/bundles/clap/<name>.clap`. See `plugins-test/README.md` for the
//!   ids, parameters and behaviour of every plugin.
//!
//! Every plugin is deterministic: no randomness and no clock, so two renders
//! of the same input are bit-identical.

pub mod clap;
