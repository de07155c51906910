//! Bundle of `Stagerack Tail` (`org.stagerack.test.tail`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::tail::Tail>
);
