//! Bundle of `Stagerack Bad Init` (`org.stagerack.test.bad-init`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::bad::BadInit>
);
