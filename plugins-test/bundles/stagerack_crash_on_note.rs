//! Bundle of `Stagerack Crash On Note` (`org.stagerack.test.crash-on-note`),
//! built into `target/bundles/clap-unsafe/`: it crashes, aborts or hangs on
//! trigger notes.
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::crash_on_note::CrashOnNote,
    >
);
