//! Bundle of `Stagerack Synth` (`org.stagerack.test.synth`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::synth::Synth>
);
