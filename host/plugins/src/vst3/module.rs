//! Finding and opening VST3 bundles, and reading their class factories.
//! Main thread only.
//!
//! A bundle is a folder `X.vst3` whose binary sits at
//! - Linux: `Contents/x86_64-linux/X.so` (also `aarch64-linux`), opened with
//!   `dlopen`, then `ModuleEntry(handle)`; `ModuleExit()` before closing;
//! - Windows: `Contents/x86_64-win/X.vst3` (or a legacy single-file
//!   `X.vst3` DLL), with `InitDll()` / `ExitDll()`;
//! - macOS: `Contents/MacOS/X`. macOS needs `BundleEntry(CFBundleRef)`, which
//!   takes a CoreFoundation bundle object; this build does not link
//!   CoreFoundation, so macOS bundles are refused with a clear error.

use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};

use vst3::ComPtr;
use vst3::Steinberg::{
    IPluginFactory, IPluginFactory2, IPluginFactory2Trait, IPluginFactory3, IPluginFactoryTrait,
    PClassInfo, PClassInfo2, PFactoryInfo, TUID,
};

use super::Vst3Error;
use stagerack_core::plugin::{PluginDescriptor, PluginFormat, PluginKind};

/// The category of classes that are audio plugins.
const AUDIO_MODULE_CLASS: &str = "Audio Module Class";

/// The binary inside a bundle for this platform. Main thread.
pub(super) fn bundle_binary(bundle: &Path) -> Result<PathBuf, Vst3Error> {
    crate::discovery::bundle_binary(bundle).map_err(|e| match e {
        crate::discovery::BundleError::Missing => Vst3Error::MissingBundle {
            bundle: bundle.to_owned(),
        },
        crate::discovery::BundleError::NoBinary { expected } => Vst3Error::NoBinary {
            bundle: bundle.to_owned(),
            expected,
        },
    })
}

/// One class an `IPluginFactory` offers.
#[derive(Clone, Debug)]
pub(super) struct ClassEntry {
    /// Its class id.
    pub(super) cid: TUID,
    /// Display name.
    pub(super) name: String,
    /// Vendor (class vendor, else the factory's).
    pub(super) vendor: String,
    /// Subcategories ("Fx|EQ", "Instrument|Synth").
    pub(super) subcategories: String,
}

impl ClassEntry {
    /// Instrument when a subcategory says so.
    pub(super) fn kind(&self) -> PluginKind {
        if self
            .subcategories
            .split('|')
            .any(|s| s.contains("Instrument"))
        {
            PluginKind::Instrument
        } else {
            PluginKind::Effect
        }
    }

    /// The descriptor a preset and the scanner use.
    pub(super) fn descriptor(&self, bundle: &Path) -> PluginDescriptor {
        PluginDescriptor {
            format: PluginFormat::Vst3,
            id: tuid_to_hex(&self.cid),
            name: self.name.clone(),
            vendor: self.vendor.clone(),
            kind: self.kind(),
            path: Some(bundle.to_owned()),
        }
    }
}

/// The class id as 32 hex digits, bytes in memory order. Any thread.
pub(super) fn tuid_to_hex(cid: &TUID) -> String {
    cid.iter().map(|b| format!("{:02X}", *b as u8)).collect()
}

/// Parses 32 hex digits into a class id. Any thread.
pub(super) fn hex_to_tuid(hex: &str) -> Option<TUID> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut out: TUID = [0; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()? as c_char;
    }
    Some(out)
}

/// Reads a fixed-size C string field.
pub(super) fn fixed_cstr(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads a fixed-size UTF-16 string field.
pub(super) fn fixed_wstr(buf: &[u16]) -> String {
    let len = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..len])
}

type ExitFn = unsafe extern "system" fn() -> bool;

/// An opened bundle binary and its factory. Dropping it releases the
/// factory, calls the exit function, then closes the library. Everything
/// created from the factory must be dropped first (instances keep an `Rc`).
/// Main thread.
pub(super) struct Module {
    /// The bundle folder.
    pub(super) bundle: PathBuf,
    factory: Option<ComPtr<IPluginFactory>>,
    exit: Option<ExitFn>,
    library: Option<libloading::Library>,
}

thread_local! {
    /// Modules open on this (the main) thread, by bundle path, so every
    /// instance of a bundle shares one `ModuleEntry`/`ModuleExit` pair:
    /// some plugins (DPF) tear down their globals in `ModuleExit` without
    /// counting.
    static OPEN: std::cell::RefCell<std::collections::HashMap<PathBuf, std::rc::Weak<Module>>> =
        Default::default();
}

impl Module {
    /// The open module of a bundle, opening it if nobody holds it. Main
    /// thread.
    pub(super) fn shared(bundle: &Path) -> Result<std::rc::Rc<Module>, Vst3Error> {
        let key = bundle.to_owned();
        if let Some(m) = OPEN.with(|o| o.borrow().get(&key).and_then(std::rc::Weak::upgrade)) {
            return Ok(m);
        }
        let m = std::rc::Rc::new(Module::open(bundle)?);
        OPEN.with(|o| {
            let mut o = o.borrow_mut();
            o.retain(|_, w| w.strong_count() > 0);
            o.insert(key, std::rc::Rc::downgrade(&m));
        });
        Ok(m)
    }

    /// Opens the bundle's binary, runs its entry function and gets the
    /// factory. Main thread.
    pub(super) fn open(bundle: &Path) -> Result<Module, Vst3Error> {
        let binary = bundle_binary(bundle)?;
        if cfg!(target_os = "macos") {
            return Err(Vst3Error::Unsupported {
                bundle: bundle.to_owned(),
                reason:
                    "macOS bundles need BundleEntry(CFBundleRef), which this build does not provide"
                        .into(),
            });
        }
        let open_err = |e: libloading::Error| Vst3Error::Open {
            bundle: bundle.to_owned(),
            reason: e.to_string(),
        };
        #[cfg(unix)]
        let (library, handle) = {
            use libloading::os::unix;
            // SAFETY: loading a plugin runs its initialisers; that is the
            // point of a plugin host. The path is a file inside the bundle.
            let lib =
                unsafe { unix::Library::open(Some(&binary), unix::RTLD_NOW | unix::RTLD_LOCAL) }
                    .map_err(open_err)?;
            let handle = lib.into_raw();
            // SAFETY: `handle` came from `into_raw` just above.
            let lib = unsafe { unix::Library::from_raw(handle) };
            (libloading::Library::from(lib), handle)
        };
        #[cfg(not(unix))]
        let (library, handle) = {
            // SAFETY: loading a plugin runs its initialisers; that is the
            // point of a plugin host. The path is a file inside the bundle.
            let lib = unsafe { libloading::Library::new(&binary) }.map_err(open_err)?;
            (lib, std::ptr::null_mut::<c_void>())
        };
        let exit = Self::enter(&library, bundle, handle)?;
        let get_factory = {
            // SAFETY: `GetPluginFactory` has this signature in every VST3
            // module (pluginterfaces/base/ipluginbase.h).
            let sym = unsafe {
                library.get::<unsafe extern "system" fn() -> *mut IPluginFactory>(
                    b"GetPluginFactory\0",
                )
            };
            match sym {
                Ok(f) => *f,
                Err(_) => {
                    if let Some(exit) = exit {
                        // SAFETY: the entry function succeeded; balance it.
                        unsafe { exit() };
                    }
                    return Err(Vst3Error::NoFactory {
                        bundle: bundle.to_owned(),
                    });
                }
            }
        };
        // SAFETY: the module is initialised; the returned pointer carries a
        // reference we now own (rule 2 of com-scrape-types).
        let factory = unsafe { ComPtr::from_raw(get_factory()) };
        let Some(factory) = factory else {
            if let Some(exit) = exit {
                // SAFETY: the entry function succeeded; balance it.
                unsafe { exit() };
            }
            return Err(Vst3Error::NoFactory {
                bundle: bundle.to_owned(),
            });
        };
        Ok(Module {
            bundle: bundle.to_owned(),
            factory: Some(factory),
            exit,
            library: Some(library),
        })
    }

    #[cfg(target_os = "linux")]
    fn enter(
        library: &libloading::Library,
        bundle: &Path,
        handle: *mut c_void,
    ) -> Result<Option<ExitFn>, Vst3Error> {
        type EntryFn = unsafe extern "system" fn(*mut c_void) -> bool;
        // SAFETY: the documented Linux entry point signature.
        let entry = unsafe { library.get::<EntryFn>(b"ModuleEntry\0") }
            .ok()
            .map(|f| *f);
        // SAFETY: the documented Linux exit point signature.
        let exit = unsafe { library.get::<ExitFn>(b"ModuleExit\0") }
            .ok()
            .map(|f| *f);
        if let Some(entry) = entry {
            // SAFETY: called once per open, before any other call.
            if !unsafe { entry(handle) } {
                return Err(Vst3Error::Open {
                    bundle: bundle.to_owned(),
                    reason: "ModuleEntry returned false".into(),
                });
            }
        }
        Ok(exit)
    }

    #[cfg(target_os = "windows")]
    fn enter(
        library: &libloading::Library,
        bundle: &Path,
        _handle: *mut c_void,
    ) -> Result<Option<ExitFn>, Vst3Error> {
        // SAFETY: the documented Windows entry point signature.
        let entry = unsafe { library.get::<ExitFn>(b"InitDll\0") }
            .ok()
            .map(|f| *f);
        // SAFETY: the documented Windows exit point signature.
        let exit = unsafe { library.get::<ExitFn>(b"ExitDll\0") }
            .ok()
            .map(|f| *f);
        if let Some(entry) = entry {
            // SAFETY: called once per open, before any other call.
            if !unsafe { entry() } {
                return Err(Vst3Error::Open {
                    bundle: bundle.to_owned(),
                    reason: "InitDll returned false".into(),
                });
            }
        }
        Ok(exit)
    }

    #[cfg(not(any(target_os = "linux", target_os = "windows")))]
    fn enter(
        _library: &libloading::Library,
        _bundle: &Path,
        _handle: *mut c_void,
    ) -> Result<Option<ExitFn>, Vst3Error> {
        Ok(None)
    }

    /// The factory. Main thread.
    pub(super) fn factory(&self) -> &ComPtr<IPluginFactory> {
        self.factory
            .as_ref()
            .expect("the factory lives until the module is dropped")
    }

    /// The factory's audio classes. Main thread.
    pub(super) fn classes(&self) -> Vec<ClassEntry> {
        let factory = self.factory();
        let mut finfo: PFactoryInfo = zeroed();
        // SAFETY: `finfo` is a valid out-struct.
        let factory_vendor =
            if unsafe { factory.getFactoryInfo(&mut finfo) } == vst3::Steinberg::kResultOk {
                fixed_cstr(&finfo.vendor)
            } else {
                String::new()
            };
        let f2 = factory.cast::<IPluginFactory2>();
        let f3 = factory.cast::<IPluginFactory3>();
        // SAFETY: plain call on a live factory.
        let count = unsafe { factory.countClasses() };
        let mut out = Vec::new();
        for i in 0..count.max(0) {
            let mut info: PClassInfo = zeroed();
            // SAFETY: `info` is a valid out-struct.
            if unsafe { factory.getClassInfo(i, &mut info) } != vst3::Steinberg::kResultOk {
                continue;
            }
            if fixed_cstr(&info.category) != AUDIO_MODULE_CLASS {
                continue;
            }
            let mut entry = ClassEntry {
                cid: info.cid,
                name: fixed_cstr(&info.name),
                vendor: factory_vendor.clone(),
                subcategories: String::new(),
            };
            if let Some(f2) = &f2 {
                let mut info2: PClassInfo2 = zeroed();
                // SAFETY: `info2` is a valid out-struct.
                if unsafe { f2.getClassInfo2(i, &mut info2) } == vst3::Steinberg::kResultOk {
                    entry.subcategories = fixed_cstr(&info2.subCategories);
                    let vendor = fixed_cstr(&info2.vendor);
                    if !vendor.is_empty() {
                        entry.vendor = vendor;
                    }
                }
            }
            if let Some(f3) = &f3 {
                use vst3::Steinberg::IPluginFactory3Trait;
                let mut infow: vst3::Steinberg::PClassInfoW = zeroed();
                // SAFETY: `infow` is a valid out-struct.
                if unsafe { f3.getClassInfoUnicode(i, &mut infow) } == vst3::Steinberg::kResultOk {
                    let name = fixed_wstr(&infow.name);
                    if !name.is_empty() {
                        entry.name = name;
                    }
                }
            }
            out.push(entry);
        }
        out
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        self.factory = None;
        if let Some(exit) = self.exit {
            // SAFETY: the entry function ran in `open`; nothing from the
            // module is alive any more (instances hold an `Rc<Module>`).
            unsafe { exit() };
        }
        self.library = None;
    }
}

/// A zeroed plain-data struct from the bindings (all fields are integers,
/// floats, arrays or raw pointers, for which zero is valid).
pub(super) fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for `#[repr(C)]` plain-data binding structs.
    unsafe { std::mem::zeroed() }
}

/// Lists the audio classes of one bundle, as a scanner would. Loads the
/// binary, reads the factory and closes it again. Main thread (or a scanner
/// child process).
pub fn list_vst3_classes(bundle: &Path) -> Result<Vec<PluginDescriptor>, Vst3Error> {
    let module = Module::shared(bundle)?;
    Ok(module
        .classes()
        .iter()
        .map(|c| c.descriptor(bundle))
        .collect())
}
