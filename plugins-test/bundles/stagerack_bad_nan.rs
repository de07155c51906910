//! Bundle of `Stagerack Bad NaN` (`org.stagerack.test.bad-nan`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::NAN },
        >,
    >
);
