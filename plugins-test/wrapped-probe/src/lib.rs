//! `Stagerack Wrapped Probe`: the CLAP test plugin `Stagerack Probe`
//! (`org.stagerack.test.probe`, see `plugins-test/README.md`) exported both
//! as CLAP (`clap_entry`) and, through the free-audio `clap-wrapper` (C++),
//! as VST3 (`GetPluginFactory`, `ModuleEntry`, `ModuleExit`). The VST3 class
//! is the CLAP plugin seen through the wrapper, so it is a second,
//! independent VST3 implementation for the host's tests.
//!
//! Bundled by `cargo xtask bundle-vst3` as
//! `target/bundles/vst3/Stagerack Wrapped Probe.vst3`.

clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::probe::Probe>
);

clap_wrapper::export_vst3!();
