//! The OSC address space: what one incoming OSC message asks for, as a
//! control-protocol [`Command`] or an OSC-only request (subscribe, status).
//! Pure functions of the message and the latest state; the OSC thread
//! calls them.

use rosc::{OscMessage, OscType};

use crate::control::protocol::{Command, RackEdit, Snapshot};

/// Every address starts with this.
pub const PREFIX: &str = "/stagerack";

/// What one OSC message asks for. OSC thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A control-protocol command, answered `/stagerack/ok` or
    /// `/stagerack/error`.
    Command(Box<Command>),
    /// Send feedback to the sender's address, or to its IP at `port`.
    Subscribe {
        /// The port feedback goes to (None: the port it came from).
        port: Option<u16>,
    },
    /// Stop feedback to the sender's address (or its IP at `port`).
    Unsubscribe {
        /// As for `Subscribe`.
        port: Option<u16>,
    },
    /// Answer `/stagerack/status` with the server's counters.
    Status,
}

/// Reads one message. `state` (the latest snapshot, when one arrived)
/// resolves rack, plugin and parameter names. The error says what was
/// wrong with it, for the `/stagerack/error` reply. OSC thread.
pub fn parse(msg: &OscMessage, state: Option<&Snapshot>) -> Result<Action, String> {
    let Some(rest) = msg.addr.strip_prefix(PREFIX) else {
        return Err(format!(
            "`{}` is not a stagerack address (they start with {PREFIX}/)",
            msg.addr
        ));
    };
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let cmd = |c| Ok(Action::Command(Box::new(c)));
    match parts.as_slice() {
        ["next"] => cmd(Command::SetlistNext {}),
        ["previous"] => cmd(Command::SetlistPrevious {}),
        ["panic"] => cmd(Command::Panic {}),
        ["entry"] => {
            let index = int_arg(msg, 0)?;
            let index = u16::try_from(index)
                .map_err(|_| format!("entry {index} is out of range; entries count from 0"))?;
            cmd(Command::SetlistSelect { index })
        }
        ["subscribe"] => Ok(Action::Subscribe {
            port: port_arg(msg)?,
        }),
        ["unsubscribe"] => Ok(Action::Unsubscribe {
            port: port_arg(msg)?,
        }),
        ["status"] => Ok(Action::Status),
        ["rack", name, "gain"] => {
            let gain_db = float_arg(msg, 0)?;
            if !gain_db.is_finite() || !(-120.0..=24.0).contains(&gain_db) {
                return Err(format!("gain {gain_db} dB is out of range; use -120 to 24"));
            }
            let rack = rack_index(state, name)?;
            cmd(Command::EditRack {
                rack,
                edit: RackEdit {
                    gain_db: Some(gain_db),
                    ..RackEdit::default()
                },
            })
        }
        ["rack", name, "mute"] => {
            let mute = float_arg(msg, 0)? >= 0.5;
            let rack = rack_index(state, name)?;
            cmd(Command::EditRack {
                rack,
                edit: RackEdit {
                    mute: Some(mute),
                    ..RackEdit::default()
                },
            })
        }
        ["param", rack, plugin, param] => {
            let value = float_arg(msg, 0)?;
            if !value.is_finite() {
                return Err(format!("{value} is not a parameter value"));
            }
            let rack = rack_index(state, rack)?;
            let (index, param) = param_of(state, rack, plugin, param)?;
            cmd(Command::SetParam {
                rack,
                index,
                param,
                value,
                gesture: None,
            })
        }
        _ => Err(format!(
            "unknown address `{}`; see docs/REMOTE.md",
            msg.addr
        )),
    }
}

/// Whether an OSC name segment names `name`: the same ignoring ASCII case,
/// a space in the name also written `_` (OSC addresses have no spaces).
/// Any thread.
pub fn name_matches(segment: &str, name: &str) -> bool {
    segment.eq_ignore_ascii_case(name) || segment.eq_ignore_ascii_case(&name.replace(' ', "_"))
}

/// The rack called `name`: the current song's first, else any song's.
fn rack_index(state: Option<&Snapshot>, name: &str) -> Result<usize, String> {
    let state = state.ok_or("the engine's state has not arrived yet; try again")?;
    let named = |r: &&crate::control::protocol::RackSnapshot| name_matches(name, &r.routing.name);
    let racks = || state.racks.iter().enumerate();
    racks()
        .find(|(_, r)| r.preset == state.current && named(r))
        .or_else(|| racks().find(|(_, r)| named(r)))
        .map(|(i, _)| i)
        .ok_or_else(|| {
            let names: Vec<&str> = state
                .racks
                .iter()
                .filter(|r| r.preset == state.current)
                .map(|r| r.routing.name.as_str())
                .collect();
            format!(
                "no rack `{name}`; the current song's racks: {}",
                names.join(", ")
            )
        })
}

/// A plugin of rack `rack` (its name or its place in the chain from 0) and
/// one of its parameters (its name or id).
fn param_of(
    state: Option<&Snapshot>,
    rack: usize,
    plugin: &str,
    param: &str,
) -> Result<(usize, u32), String> {
    let state = state.ok_or("the engine's state has not arrived yet; try again")?;
    let chain = &state.racks[rack].plugins;
    let index = chain
        .iter()
        .position(|p| name_matches(plugin, &p.name))
        .or_else(|| plugin.parse::<usize>().ok().filter(|&i| i < chain.len()))
        .ok_or_else(|| {
            format!(
                "rack `{}` has no plugin `{plugin}` (name or place from 0)",
                state.racks[rack].routing.name
            )
        })?;
    let p = &chain[index];
    p.params
        .iter()
        .find(|q| name_matches(param, &q.name))
        .or_else(|| {
            let id = param.parse::<u32>().ok()?;
            p.params.iter().find(|q| q.id == id)
        })
        .map(|q| (index, q.id))
        .ok_or_else(|| {
            format!(
                "plugin `{}` has no parameter `{param}` (name or id)",
                p.name
            )
        })
}

/// Argument `i` as a number (int, float, double, long, bool, or a numeric
/// string: controller apps differ).
fn float_arg(msg: &OscMessage, i: usize) -> Result<f64, String> {
    let bad = || format!("`{}` needs a number as argument {}", msg.addr, i + 1);
    match msg.args.get(i).ok_or_else(bad)? {
        OscType::Int(v) => Ok(f64::from(*v)),
        OscType::Float(v) => Ok(f64::from(*v)),
        OscType::Double(v) => Ok(*v),
        OscType::Long(v) => Ok(*v as f64),
        OscType::Bool(v) => Ok(if *v { 1.0 } else { 0.0 }),
        OscType::String(s) => s.trim().parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Argument `i` as a whole number.
fn int_arg(msg: &OscMessage, i: usize) -> Result<i64, String> {
    let v = float_arg(msg, i)?;
    if v.fract() != 0.0 || !v.is_finite() {
        return Err(format!("`{}` needs a whole number, not {v}", msg.addr));
    }
    Ok(v as i64)
}

/// The optional port argument of subscribe/unsubscribe.
fn port_arg(msg: &OscMessage) -> Result<Option<u16>, String> {
    if msg.args.is_empty() {
        return Ok(None);
    }
    let port = int_arg(msg, 0)?;
    u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .map(Some)
        .ok_or_else(|| format!("port {port} is out of range; use 1 to 65535"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{ParamSnapshot, PluginSnapshot, RackSnapshot};
    use crate::preset::RackDef;

    fn msg(addr: &str, args: Vec<OscType>) -> OscMessage {
        OscMessage {
            addr: addr.to_owned(),
            args,
        }
    }

    fn rack(preset: u16, name: &str) -> RackSnapshot {
        let mut routing: RackDef = toml::from_str(&format!("name = \"{name}\"")).unwrap();
        routing.name = name.to_owned();
        RackSnapshot {
            preset,
            routing,
            plugins: vec![PluginSnapshot {
                name: "Synth".into(),
                format: stagerack_core::plugin::PluginFormat::Builtin,
                id: "synth".into(),
                bypass: false,
                failed: false,
                has_editor: false,
                editor_open: false,
                voices: None,
                note_names: Vec::new(),
                programs: Vec::new(),
                program_param: None,
                program: None,
                params: vec![ParamSnapshot {
                    id: 7,
                    name: "Cutoff".into(),
                    min: 0.0,
                    max: 1.0,
                    default: 0.5,
                    stepped: false,
                    value: 0.5,
                    text: String::new(),
                    read_only: false,
                }],
            }],
            latency: 0,
            knobs: None,
        }
    }

    fn state() -> Snapshot {
        Snapshot {
            presets: vec!["one".into(), "two".into()],
            current: 1,
            racks: vec![rack(0, "pad"), rack(1, "Grand Piano"), rack(1, "pad")],
            ..Snapshot::default()
        }
    }

    #[test]
    fn setlist_and_panic_addresses() {
        assert_eq!(
            parse(&msg("/stagerack/next", vec![]), None),
            Ok(Action::Command(Box::new(Command::SetlistNext {})))
        );
        assert_eq!(
            parse(&msg("/stagerack/entry", vec![OscType::Float(1.0)]), None),
            Ok(Action::Command(Box::new(Command::SetlistSelect {
                index: 1
            })))
        );
        assert!(parse(&msg("/stagerack/entry", vec![OscType::Int(-1)]), None).is_err());
        assert!(parse(&msg("/stagerack/entry", vec![]), None).is_err());
        assert_eq!(
            parse(&msg("/stagerack/subscribe", vec![OscType::Int(9001)]), None),
            Ok(Action::Subscribe { port: Some(9001) })
        );
        assert!(parse(&msg("/other/next", vec![]), None).is_err());
        assert!(parse(&msg("/stagerack/nope", vec![]), None).is_err());
    }

    #[test]
    fn racks_by_name_prefer_the_current_song() {
        let s = state();
        let gain = parse(
            &msg("/stagerack/rack/pad/gain", vec![OscType::Float(-6.0)]),
            Some(&s),
        );
        let Ok(Action::Command(c)) = gain else {
            panic!("{gain:?}")
        };
        let Command::EditRack { rack, edit } = *c else {
            panic!("{c:?}")
        };
        assert_eq!((rack, edit.gain_db), (2, Some(-6.0)));
        let mute = parse(
            &msg("/stagerack/rack/grand_piano/mute", vec![OscType::Int(1)]),
            Some(&s),
        );
        let Ok(Action::Command(c)) = mute else {
            panic!("{mute:?}")
        };
        let Command::EditRack { rack, edit } = *c else {
            panic!("{c:?}")
        };
        assert_eq!((rack, edit.mute), (1, Some(true)));
        let e = parse(
            &msg("/stagerack/rack/drums/gain", vec![OscType::Float(0.0)]),
            Some(&s),
        )
        .unwrap_err();
        assert!(
            e.contains("no rack `drums`") && e.contains("Grand Piano, pad"),
            "{e}"
        );
        assert!(parse(
            &msg("/stagerack/rack/pad/gain", vec![OscType::Float(f32::NAN)]),
            Some(&s)
        )
        .is_err());
    }

    #[test]
    fn params_by_name_or_number() {
        let s = state();
        for addr in [
            "/stagerack/param/pad/synth/cutoff",
            "/stagerack/param/pad/0/7",
        ] {
            assert_eq!(
                parse(&msg(addr, vec![OscType::Double(0.25)]), Some(&s)),
                Ok(Action::Command(Box::new(Command::SetParam {
                    rack: 2,
                    index: 0,
                    param: 7,
                    value: 0.25,
                    gesture: None
                }))),
                "{addr}"
            );
        }
        assert!(parse(
            &msg("/stagerack/param/pad/synth/nope", vec![OscType::Float(0.0)]),
            Some(&s)
        )
        .is_err());
    }
}
