//! Bundle of `Stagerack Kit` (`org.stagerack.test.kit`): its plugin factory
//! and its preset-discovery factory.
clack_plugin::clack_export_entry!(stagerack_plugins_test::clap::kit_presets::KitEntry);
