//! Bundle of `Stagerack Bad Activate` (`org.stagerack.test.bad-activate`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::bad::BadActivate>
);
