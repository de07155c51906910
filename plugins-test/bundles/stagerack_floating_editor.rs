//! Bundle of `Floating Editor` (`org.stagerack.test.floating-editor`; its
//! GUI is X11, so the bundle exports it on Linux only).
#[cfg(target_os = "linux")]
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::editor::FloatingEditor>
);
