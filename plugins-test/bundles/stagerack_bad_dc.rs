//! Bundle of `Stagerack Bad DC` (`org.stagerack.test.bad-dc`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::DC },
        >,
    >
);
