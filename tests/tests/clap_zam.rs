//! The CLAP host against third-party plugins: Debian's zam-plugins
//! (DPF-built CLAP effects with parameters and state) in /usr/lib/clap.
//! Everything runs under the allocation guard (debug build).

mod clap_support;

use std::path::Path;

use clap_support::*;
use stagerack::plugin::loader::load_plugin;
use stagerack::plugin::{PluginFormat, PluginKind};
use stagerack::preset::PluginDef;

const ZAM: &str = "/usr/lib/clap";

fn zam_def(name: &str) -> PluginDef {
    let path = Path::new(ZAM).join(format!("{name}.clap"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's zam-plugins (apt-get install zam-plugins)",
        path.display()
    );
    let mut def = PluginDef::builtin("gain");
    def.format = PluginFormat::Clap;
    def.id = format!("com.zamaudio.{name}");
    def.path = Some(path);
    def
}

#[test]
fn zam_plugins_load_and_list_parameters() {
    for name in ["ZamComp", "ZamEQ2", "ZamDelay"] {
        let inst = load_plugin(&zam_def(name)).expect("zam plugin loads");
        let d = inst.descriptor();
        assert_eq!(d.format, PluginFormat::Clap);
        assert_eq!(d.id, format!("com.zamaudio.{name}"));
        assert_eq!(d.name, name);
        assert_eq!(d.kind, PluginKind::Effect);
        let params = inst.params();
        assert!(params.len() >= 3, "{name} has {} params", params.len());
        for p in &params {
            assert!(p.min <= p.default && p.default <= p.max, "{name}: {p:?}");
            let v = inst.param_value(p.id).expect("get_value answers");
            assert!(
                v >= p.min - 1e-9 && v <= p.max + 1e-9,
                "{name}: {} = {v}",
                p.name
            );
            let text = inst.param_text(p.id, v).expect("value_to_text answers");
            assert!(!text.is_empty());
        }
    }
}

#[test]
fn zam_state_round_trips_with_changed_parameters() {
    let def = zam_def("ZamComp");
    let mut a = load_plugin(&def).unwrap();
    let params = a.params();
    let p = params
        .iter()
        .find(|p| !p.stepped && p.max > p.min)
        .expect("a continuous parameter");
    let target = p.min + 0.3 * (p.max - p.min);
    a.set_param(p.id, target).unwrap();
    let got = a.param_value(p.id).unwrap();
    assert!(
        (got - target).abs() < 1e-3 * (p.max - p.min),
        "set {target}, got {got}"
    );
    let state = a.save_state().unwrap();
    assert!(!state.is_empty());

    let mut b = load_plugin(&def).unwrap();
    assert!((b.param_value(p.id).unwrap() - p.default).abs() < 1e-6);
    b.load_state(&state).unwrap();
    let restored = b.param_value(p.id).unwrap();
    assert!(
        (restored - got).abs() < 1e-6,
        "restored {restored}, saved {got}"
    );
    assert_eq!(b.save_state().unwrap(), state);
}

#[test]
fn zam_effects_process_audio_in_a_render() {
    let frames = 48_000;
    let input = sine(frames);
    for name in ["ZamComp", "ZamEQ2", "ZamDelay"] {
        let text = format!(
            "version = 1\nname = \"zam\"\n[[rack]]\nname = \"fx\"\n[[rack.plugin]]\nformat = \"clap\"\nid = \"com.zamaudio.{name}\"\npath = \"{ZAM}/{name}.clap\"\n"
        );
        let p = preset(&text);
        for block in [64usize, 512] {
            let (mut s, mut e) = session(&p, block);
            assert!(s.warnings.is_empty(), "{name}: {:?}", s.warnings);
            let out = render(
                &mut s,
                &mut e,
                &[],
                Some([&input, &input]),
                block,
                frames as u64,
            );
            s.shutdown(e);
            assert_eq!(out.left.len(), frames);
            assert!(out.left.iter().chain(&out.right).all(|x| x.is_finite()));
            let pk = peak(&out.left[frames / 2..]);
            assert!(pk > 0.01, "{name} at block {block}: output peak {pk}");
            assert!(pk < 4.0, "{name} at block {block}: output peak {pk}");
        }
    }
}

#[test]
fn zam_search_path_finds_a_plugin_without_a_path_hint() {
    let mut def = zam_def("ZamEQ2");
    def.path = None;
    let inst = load_plugin(&def).expect("found in /usr/lib/clap");
    assert_eq!(inst.descriptor().name, "ZamEQ2");
}
