//! Bundle of `Stagerack Kit` (`org.stagerack.test.kit`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::kit::Kit>
);
