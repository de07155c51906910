//! Bundle of `Stagerack Bad Latency` (`org.stagerack.test.bad-latency`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::LATENCY },
        >,
    >
);
