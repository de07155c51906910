//! Third-party VST3 plugins (Debian's zam-plugins, built with DPF) through
//! the real loader: classes, parameters, audio under the allocation guard,
//! state round trip.

mod vst3_common;
use std::path::Path;

use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{PluginFormat, PluginKind};
use stagerack::session::Session;
use vst3_common::*;

const ZAM: &str = "/usr/lib/vst3";

fn zam(name: &str) -> std::path::PathBuf {
    let b = Path::new(ZAM).join(format!("{name}.vst3"));
    assert!(
        b.exists(),
        "{} is missing; install Debian's zam-plugins (`apt-get install zam-plugins`)",
        b.display()
    );
    b
}

#[test]
fn zam_bundles_list_their_audio_classes() {
    let _main = main_thread_lock();
    for name in ["ZamComp", "ZamEQ2", "ZamDelay"] {
        let d = class_of(&zam(name));
        assert_eq!(d.format, PluginFormat::Vst3);
        assert_eq!(d.id.len(), 32, "{d:?}");
        assert_eq!(d.kind, PluginKind::Effect, "{d:?}");
        assert!(d.name.contains("Zam"), "{d:?}");
    }
}

#[test]
fn zam_plugins_list_params_and_round_trip_state() {
    let _main = main_thread_lock();
    let bundle = zam("ZamComp");
    let d = class_of(&bundle);
    let def = preset(&vst3_preset(&d.id, &bundle, "")).racks[0].plugins[0].clone();
    let mut inst = load_plugin(&def).expect("ZamComp loads");
    let params = inst.params();
    assert!(params.len() >= 5, "{params:?}");
    let p = params
        .iter()
        .find(|p| !p.stepped)
        .expect("a continuous parameter")
        .clone();
    assert!(inst.param_text(p.id, p.default).is_some());
    inst.set_param(p.id, 0.25).unwrap();
    let v = inst.param_value(p.id).unwrap();
    assert!((v - 0.25).abs() < 1e-6, "{v}");
    let state = inst.save_state().unwrap();
    let mut fresh = load_plugin(&def).unwrap();
    fresh.load_state(&state).unwrap();
    let v2 = fresh.param_value(p.id).unwrap();
    assert!((v2 - 0.25).abs() < 1e-4, "restored {v2}");
    assert_eq!(fresh.save_state().unwrap(), state);
}

#[test]
fn zam_effects_process_audio_under_the_allocation_guard() {
    let _main = main_thread_lock();
    let (l, r) = test_signal(48_000);
    for (name, block) in [("ZamComp", 64usize), ("ZamEQ2", 7), ("ZamDelay", 512)] {
        let bundle = zam(name);
        let d = class_of(&bundle);
        let (mut session, mut engine) = Session::new(
            &preset(&vst3_preset(&d.id, &bundle, "")),
            config(block),
            true,
        )
        .unwrap();
        assert!(session.warnings().is_empty(), "{:?}", session.warnings());
        let out = render(
            &mut engine,
            &mut session,
            &[],
            Some([&l, &r]),
            block,
            48_000,
        );
        assert!(out.left.iter().chain(&out.right).all(|s| s.is_finite()));
        let energy: f32 = out.left.iter().map(|s| s * s).sum();
        assert!(
            energy > 1.0,
            "{name} at block {block}: output energy {energy}"
        );
        session.shutdown(engine);
    }
}

/// ZamComp's gain-reduction meter is an output (VST3 `kIsReadOnly`): listed
/// read-only for clients (the window shows it, offers no slider), setting it
/// and MIDI-learning it are refused by name; the knobs stay settable.
#[test]
fn zamcomp_meters_are_read_only_outputs() {
    let _main = main_thread_lock();
    let bundle = zam("ZamComp");
    let d = class_of(&bundle);
    let p = preset(&vst3_preset(&d.id, &bundle, ""));
    let (mut session, engine) = Session::new(&p, config(64), true).unwrap();
    stagerack_tests::assert_first_plugin_has_a_read_only_meter(&mut session);
    session.shutdown(engine);
}

/// ZamComp's factory programs (a DPF plugin: a `kIsProgramChange`
/// parameter whose value strings name them): listed, and picked in a
/// preset by name or by number; a program it does not have is a warning
/// naming the ones it has, and the plugin still plays.
#[test]
fn zamcomp_factory_programs_are_listed_and_picked_by_name_or_number() {
    let _main = main_thread_lock();
    let zam = Path::new("/usr/lib/vst3/ZamComp.vst3");
    let id = class_of(zam).id;
    let session_with = |program: &str| {
        let text = vst3_preset(&id, zam, program);
        Session::new(&preset(&text), config(64), true).unwrap()
    };
    let (mut s, e) = session_with("");
    let list = s
        .plugin_mut(0, 0)
        .unwrap()
        .programs()
        .expect("ZamComp has factory programs");
    assert!(list.names.len() >= 2, "{:?}", list.names);
    assert!(list.names.iter().all(|n| !n.is_empty()), "{:?}", list.names);
    let snap = stagerack::control::snapshot(&s);
    assert_eq!(snap.racks[0].plugins[0].programs, list.names);
    let threshold = |inst: &mut dyn stagerack::plugin::PluginInstance| {
        let p = inst
            .params()
            .into_iter()
            .find(|p| p.name == "Threshold")
            .expect("a Threshold parameter");
        inst.param_value(p.id)
    };
    let zero_threshold = threshold(s.plugin_mut(0, 0).unwrap());
    Session::shutdown(s, e);

    let last = list.names.len() - 1;
    for (program, want) in [
        (format!("program = \"{}\"", list.names[last]), last as f64),
        ("program = 1".to_owned(), 1.0),
    ] {
        let (mut s, e) = session_with(&program);
        assert!(s.warnings().is_empty(), "{program}: {:?}", s.warnings());
        let inst = s.plugin_mut(0, 0).unwrap();
        let value = inst.param_value(list.param.expect("a program-change parameter"));
        assert_eq!(value, Some(want), "{program}");
        // The program's own settings reached the plugin's parameters.
        assert_ne!(threshold(inst), zero_threshold, "{program}");
        Session::shutdown(s, e);
    }

    let (s, e) = session_with("program = \"No Such Program\"");
    let warnings = s.warnings().join("\n");
    assert!(
        warnings.contains("has no program `No Such Program`; its programs:")
            && warnings.contains(&list.names[0]),
        "{warnings}"
    );
    assert_eq!(s.racks()[0].slots.len(), 1, "the plugin still plays");
    Session::shutdown(s, e);
}
