//! Bundle of `Stagerack Editor` (`org.stagerack.test.editor`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::editor::Editor>
);
