//! Bundle of `Stagerack Arp` (`org.stagerack.test.arp`).
clack_plugin::clack_export_entry!(
    clack_plugin::entry::SinglePluginEntry<stagerack_plugins_test::clap::arp::Arp>
);
