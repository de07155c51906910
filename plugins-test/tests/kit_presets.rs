//! `Stagerack Kit`'s presets: its preset-discovery factory (through the
//! bundle's entry, `KitEntry`) and its `preset-load` extension.

use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamRescanFlags,
    PluginParams,
};
use clack_extensions::preset_discovery::prelude::*;
use clack_extensions::preset_discovery::{HostPresetLoadImpl, PluginPresetLoad};
use clack_host::prelude::*;
use stagerack_plugins_test::clap::kit::ID;
use stagerack_plugins_test::clap::kit_presets::{KitEntry, PRESET_DIR_ENV, PROVIDER_ID};
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::path::PathBuf;

fn entry() -> PluginEntry {
    PluginEntry::load_from_clack::<KitEntry>(c"").expect("load entry")
}

fn info() -> HostInfo {
    HostInfo::new("stagerack-plugins-test", "stagerack", "", "0.1").unwrap()
}

fn text(s: Option<&CStr>) -> String {
    s.map_or("-".into(), |s| s.to_string_lossy().into_owned())
}

fn location_text(location: &Location) -> String {
    match location {
        Location::Plugin => "plugin".into(),
        Location::File { path } => format!("file:{}", path.to_string_lossy()),
    }
}

/// Records everything a provider says, one line per call.
#[derive(Default)]
struct Record(Vec<String>);

impl IndexerImpl for Record {
    fn declare_filetype(&mut self, t: FileType) -> Result<(), HostError> {
        self.0.push(format!(
            "filetype {} {}",
            t.name.to_string_lossy(),
            text(t.file_extension)
        ));
        Ok(())
    }

    fn declare_location(&mut self, l: LocationInfo) -> Result<(), HostError> {
        self.0.push(format!(
            "location {} {} {:?}",
            l.name.to_string_lossy(),
            location_text(&l.location),
            l.flags
        ));
        Ok(())
    }

    fn declare_soundpack(&mut self, _: Soundpack) -> Result<(), HostError> {
        self.0.push("soundpack".into());
        Ok(())
    }
}

impl MetadataReceiverImpl for Record {
    fn on_error(&mut self, code: i32, message: Option<&CStr>) {
        self.0.push(format!("error {code} {}", text(message)));
    }
    fn begin_preset(&mut self, name: Option<&CStr>, key: Option<&CStr>) -> Result<(), HostError> {
        self.0.push(format!("preset {} {}", text(name), text(key)));
        Ok(())
    }
    fn add_plugin_id(&mut self, id: UniversalPluginId) {
        self.0.push(format!(
            "plugin {} {}",
            id.abi.to_string_lossy(),
            id.id.to_string_lossy()
        ));
    }
    fn set_soundpack_id(&mut self, _: &CStr) {}
    fn set_flags(&mut self, flags: Flags) {
        self.0.push(format!("flags {flags:?}"));
    }
    fn add_creator(&mut self, _: &CStr) {}
    fn set_description(&mut self, _: &CStr) {}
    fn set_timestamps(&mut self, _: Option<Timestamp>, _: Option<Timestamp>) {}
    fn add_feature(&mut self, _: &CStr) {}
    fn add_extra_info(&mut self, _: &CStr, _: &CStr) {}
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stagerack-kit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn c_path(path: &std::path::Path) -> CString {
    CString::new(path.to_str().unwrap()).unwrap()
}

#[test]
fn the_provider_declares_lists_and_reads_presets() {
    let entry = entry();
    let factory: PresetDiscoveryFactory = entry.get_factory().expect("preset factory");
    let descriptors: Vec<_> = factory
        .provider_descriptors()
        .map(|d| (text(d.id()), text(d.name()), text(d.vendor())))
        .collect();
    assert_eq!(
        descriptors,
        [(
            PROVIDER_ID.to_owned(),
            "Stagerack Kit presets".to_owned(),
            "stagerack".to_owned()
        )]
    );
    let id = CString::new(PROVIDER_ID).unwrap();

    // Without the environment variable: no user location.
    std::env::remove_var(PRESET_DIR_ENV);
    let provider = Provider::instantiate(Record::default(), &entry, &id, &info()).unwrap();
    assert_eq!(
        provider.indexer().0,
        [
            "filetype Kit preset kitpreset",
            "location Factory plugin Flags(IS_FACTORY_CONTENT)",
        ]
    );
    drop(provider);

    let dir = temp_dir("discovery");
    std::env::set_var(PRESET_DIR_ENV, &dir);
    let mut provider = Provider::instantiate(Record::default(), &entry, &id, &info()).unwrap();
    std::env::remove_var(PRESET_DIR_ENV);
    assert_eq!(
        provider.indexer().0,
        [
            "filetype Kit preset kitpreset".to_owned(),
            "location Factory plugin Flags(IS_FACTORY_CONTENT)".to_owned(),
            format!(
                "location User file:{} Flags(IS_USER_CONTENT)",
                dir.display()
            ),
        ]
    );

    let mut got = Record::default();
    provider.get_metadata(Location::Plugin, &mut got);
    let plugin = format!("plugin clap {ID}");
    let factory = "flags Flags(IS_FACTORY_CONTENT)";
    assert_eq!(
        got.0,
        [
            "preset Soft Kit soft",
            &plugin,
            factory,
            "preset Loud Kit loud",
            &plugin,
            factory,
            "preset Dark Kit dark",
            &plugin,
            factory,
        ]
    );

    let warm = dir.join("Warm.kitpreset");
    std::fs::write(&warm, "level=0.4;tone=0.2\n").unwrap();
    let mut got = Record::default();
    provider.get_metadata(
        Location::File {
            path: &c_path(&warm),
        },
        &mut got,
    );
    assert_eq!(
        got.0,
        ["preset Warm -", &plugin, "flags Flags(IS_USER_CONTENT)"]
    );

    let bad = dir.join("Bad.kitpreset");
    std::fs::write(&bad, "level=loud").unwrap();
    let mut got = Record::default();
    provider.get_metadata(
        Location::File {
            path: &c_path(&bad),
        },
        &mut got,
    );
    assert_eq!(got.0.len(), 1, "{:?}", got.0);
    assert!(got.0[0].starts_with("error 0 "), "{:?}", got.0);
    assert!(got.0[0].contains(bad.to_str().unwrap()), "{:?}", got.0);

    let _ = std::fs::remove_dir_all(&dir);
}

struct Shared;
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}
impl HostParamsImplShared for Shared {
    fn request_flush(&self) {}
}

#[derive(Default)]
struct Main {
    calls: RefCell<Vec<String>>,
}
impl MainThreadHandler<'_> for Main {}
impl HostParamsImplMainThread for Main {
    fn rescan(&self, flags: ParamRescanFlags) {
        self.calls.borrow_mut().push(format!("rescan {flags:?}"));
    }
    fn clear(&self, _: ClapId, _: ParamClearFlags) {}
}
impl HostPresetLoadImpl for Main {
    fn on_error(&self, location: Location, key: Option<&CStr>, code: i32, message: Option<&CStr>) {
        self.calls.borrow_mut().push(format!(
            "on_error {} {} {code} {}",
            location_text(&location),
            text(key),
            text(message)
        ));
    }
    fn loaded(&self, location: Location, key: Option<&CStr>) {
        self.calls
            .borrow_mut()
            .push(format!("loaded {} {}", location_text(&location), text(key)));
    }
}

struct Host;
impl HostHandlers for Host {
    type Shared<'a> = Shared;
    type MainThread<'a> = Main;
    type AudioProcessor<'a> = ();
    fn declare_extensions(builder: &mut HostExtensions<Self>, _: &Shared) {
        builder
            .register::<HostParams>()
            .register::<HostPresetLoad>();
    }
}

#[test]
fn preset_load_sets_the_values_and_tells_the_host() {
    let entry = entry();
    let id = CString::new(ID).unwrap();
    let mut instance =
        PluginInstance::<Host>::new(|_| Shared, |_| Main::default(), &entry, &id, &info()).unwrap();
    let handle = instance.plugin_handle();
    let load = handle
        .get_extension::<PluginPresetLoad>()
        .expect("preset-load");
    let params = handle.get_extension::<PluginParams>().unwrap();
    let values = |instance: &mut PluginInstance<Host>| {
        let h = instance.plugin_handle();
        (
            params.get_value(&h, ClapId::new(0)).unwrap(),
            params.get_value(&h, ClapId::new(1)).unwrap(),
        )
    };
    let calls =
        |instance: &mut PluginInstance<Host>| instance.access_handler(|m: &Main| m.calls.take());

    for (key, level, tone) in [("soft", 0.3, 0.5), ("loud", 1.0, 0.5), ("dark", 0.8, 0.1)] {
        let key = CString::new(key).unwrap();
        let h = instance.plugin_handle();
        assert!(load
            .load_from_location(&h, Location::Plugin, Some(&key))
            .is_ok());
        assert_eq!(values(&mut instance), (level, tone));
        assert_eq!(
            calls(&mut instance),
            [
                "rescan ParamRescanFlags(VALUES)".to_owned(),
                format!("loaded plugin {}", key.to_string_lossy()),
            ]
        );
    }

    let h = instance.plugin_handle();
    assert!(load
        .load_from_location(&h, Location::Plugin, Some(c"nope"))
        .is_err());
    assert_eq!(values(&mut instance), (0.8, 0.1));
    let got = calls(&mut instance);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("on_error plugin nope 0 "), "{got:?}");
    assert!(got[0].contains("\"nope\""), "{got:?}");

    let dir = temp_dir("load");
    let file = dir.join("Warm.kitpreset");
    std::fs::write(&file, " level=0.4;tone=0.2\n").unwrap();
    let path = c_path(&file);
    let h = instance.plugin_handle();
    assert!(load
        .load_from_location(&h, Location::File { path: &path }, None)
        .is_ok());
    assert_eq!(values(&mut instance), (0.4, 0.2));
    assert_eq!(
        calls(&mut instance),
        [
            "rescan ParamRescanFlags(VALUES)".to_owned(),
            format!("loaded file:{} -", file.display()),
        ]
    );

    let missing_file = dir.join("Missing.kitpreset");
    let enoent = std::fs::read(&missing_file)
        .unwrap_err()
        .raw_os_error()
        .unwrap();
    let missing = c_path(&missing_file);
    let h = instance.plugin_handle();
    assert!(load
        .load_from_location(&h, Location::File { path: &missing }, None)
        .is_err());
    let got = calls(&mut instance);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!(
            "on_error file:{} - {} ",
            missing.to_string_lossy(),
            enoent
        )),
        "{got:?}"
    );
    assert!(got[0].contains("Missing.kitpreset"), "{got:?}");
    assert_eq!(values(&mut instance), (0.4, 0.2));
    let _ = std::fs::remove_dir_all(&dir);
}
