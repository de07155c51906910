//! Bundle of `Stagerack Gain` (`org.stagerack.test.gain`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::gain::Gain>
);
