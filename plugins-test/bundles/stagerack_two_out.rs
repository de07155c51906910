//! Bundle of `Stagerack Two Out` (`org.stagerack.test.two-out`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::two_out::TwoOut>
);
