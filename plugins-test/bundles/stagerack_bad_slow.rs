//! Bundle of `Stagerack Bad Slow` (`org.stagerack.test.bad-slow`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::SLOW },
        >,
    >
);
