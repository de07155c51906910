//! Bundle of `Stagerack Silent` (`org.stagerack.test.silent`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::silent::Silent>
);
