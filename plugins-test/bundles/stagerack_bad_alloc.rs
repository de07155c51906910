//! Bundle of `Stagerack Bad Alloc` (`org.stagerack.test.bad-alloc`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<
        stagerack_plugins_test::clap::misbehave::Misbehave<
            { stagerack_plugins_test::clap::misbehave::ALLOC },
        >,
    >
);
