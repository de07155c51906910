//! stagerack's own test plugins. The CLAP and VST3 plugins arrive with the
//! hosting issues; `cargo xtask bundle` will build them into
//! `target/bundles/`.
