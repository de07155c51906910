//! Bundle of `Stagerack Bad Hang` (`org.stagerack.test.bad-hang`), built into
//! `target/bundles/clap-unsafe/`: it hangs when loaded.
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::misbehave::BadHang>
);
