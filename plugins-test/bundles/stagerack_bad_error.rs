//! Bundle of `Stagerack Bad Error` (`org.stagerack.test.bad-error`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::ERROR },
        >,
    >
);
