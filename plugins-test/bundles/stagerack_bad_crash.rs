//! Bundle of `Stagerack Bad Crash` (`org.stagerack.test.bad-crash`), built into
//! `target/bundles/clap-unsafe/`: it crashes when loaded.
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::misbehave::BadCrash>
);
