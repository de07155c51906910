//! Bundle of `Stagerack Bad Panic` (`org.stagerack.test.bad-panic`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::PANIC },
        >,
    >
);
