//! Bundle of `Stagerack Tasks` (`org.stagerack.test.tasks`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::tasks::Tasks>
);
