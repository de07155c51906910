//! Bundle of `Stagerack Probe` (`org.stagerack.test.probe`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::probe::Probe>
);
