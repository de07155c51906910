//! The OSC address space: what one incoming OSC message asks for, as a
//! control-protocol [`Command`] or an OSC-only request (subscribe, status).
//! Pure functions of the message; rack, plugin and parameter names travel
//! as a [`Target`] that the engine's main thread finds when it carries the
//! command out (indices from an older state could name another rack once a
//! setlist with `neighbours` has loaded and unloaded songs). The OSC thread
//! calls them.

use rosc::{OscMessage, OscType};

use crate::control::protocol::{Command, RackEdit};
use crate::control::server::Target;

/// Every address starts with this, then `/`.
pub const PREFIX: &str = "/stagerack";

/// What one OSC message asks for. OSC thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A control-protocol command, answered `/stagerack/ok` or
    /// `/stagerack/error`.
    Command(Box<Command>),
    /// A command for a rack named in the address (its rack, plugin and
    /// parameter numbers are placeholders the engine fills in), answered
    /// as [`Action::Command`]. Only the newest value per address within a
    /// tick is sent.
    Targeted {
        /// The command.
        command: Box<Command>,
        /// The rack (plugin, parameter) it names.
        target: Target,
    },
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

/// Reads one message. The error says what was wrong with it, for the
/// `/stagerack/error` reply. OSC thread.
pub fn parse(msg: &OscMessage) -> Result<Action, String> {
    let Some(rest) = msg
        .addr
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Err(format!(
            "`{}` is not a stagerack address (they start with {PREFIX}/)",
            msg.addr
        ));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let cmd = |c| Ok(Action::Command(Box::new(c)));
    let rack_edit = |name: &str, edit| {
        Ok(Action::Targeted {
            command: Box::new(Command::EditRack { rack: 0, edit }),
            target: Target {
                rack: name.to_owned(),
                ..Target::default()
            },
        })
    };
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
            rack_edit(
                name,
                RackEdit {
                    gain_db: Some(gain_db),
                    ..RackEdit::default()
                },
            )
        }
        ["rack", name, "mute"] => {
            let mute = float_arg(msg, 0)? >= 0.5;
            rack_edit(
                name,
                RackEdit {
                    mute: Some(mute),
                    ..RackEdit::default()
                },
            )
        }
        ["param", rack, plugin, param] => {
            let value = float_arg(msg, 0)?;
            if !value.is_finite() {
                return Err(format!("{value} is not a parameter value"));
            }
            Ok(Action::Targeted {
                command: Box::new(Command::SetParam {
                    rack: 0,
                    index: 0,
                    param: 0,
                    value,
                    gesture: None,
                }),
                target: Target {
                    rack: (*rack).to_owned(),
                    plugin: Some((*plugin).to_owned()),
                    param: Some((*param).to_owned()),
                },
            })
        }
        _ => Err(format!(
            "unknown address `{}`; see docs/REMOTE.md",
            msg.addr
        )),
    }
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

    fn msg(addr: &str, args: Vec<OscType>) -> OscMessage {
        OscMessage {
            addr: addr.to_owned(),
            args,
        }
    }

    #[test]
    fn setlist_and_panic_addresses() {
        assert_eq!(
            parse(&msg("/stagerack/next", vec![])),
            Ok(Action::Command(Box::new(Command::SetlistNext {})))
        );
        assert_eq!(
            parse(&msg("/stagerack/entry", vec![OscType::Float(1.0)])),
            Ok(Action::Command(Box::new(Command::SetlistSelect {
                index: 1
            })))
        );
        assert!(parse(&msg("/stagerack/entry", vec![OscType::Int(-1)])).is_err());
        assert!(parse(&msg("/stagerack/entry", vec![])).is_err());
        assert_eq!(
            parse(&msg("/stagerack/subscribe", vec![OscType::Int(9001)])),
            Ok(Action::Subscribe { port: Some(9001) })
        );
        assert!(parse(&msg("/other/next", vec![])).is_err());
        assert!(parse(&msg("/stagerack/nope", vec![])).is_err());
    }

    #[test]
    fn the_prefix_is_a_whole_segment() {
        for addr in [
            "/stagerackXYZ/next",
            "/stageracknext",
            "/stagerack",
            "stagerack/next",
        ] {
            let e = parse(&msg(addr, vec![])).unwrap_err();
            assert!(e.contains("not a stagerack address"), "{addr}: {e}");
        }
    }

    #[test]
    fn racks_travel_by_name_for_the_engine_to_find() {
        let gain = parse(&msg("/stagerack/rack/pad/gain", vec![OscType::Float(-6.0)]));
        let Ok(Action::Targeted { command, target }) = gain else {
            panic!("{gain:?}")
        };
        let Command::EditRack { edit, .. } = *command else {
            panic!("{command:?}")
        };
        assert_eq!((target.rack.as_str(), edit.gain_db), ("pad", Some(-6.0)));
        assert_eq!(edit.mute, None);
        let mute = parse(&msg(
            "/stagerack/rack/grand_piano/mute",
            vec![OscType::Int(1)],
        ));
        let Ok(Action::Targeted { command, target }) = mute else {
            panic!("{mute:?}")
        };
        let Command::EditRack { edit, .. } = *command else {
            panic!("{command:?}")
        };
        assert_eq!(
            (target.rack.as_str(), edit.mute),
            ("grand_piano", Some(true))
        );
        assert!(parse(&msg(
            "/stagerack/rack/pad/gain",
            vec![OscType::Float(f32::NAN)]
        ))
        .is_err());
        assert!(parse(&msg("/stagerack/rack/pad/gain", vec![OscType::Float(30.0)])).is_err());
    }

    #[test]
    fn params_name_rack_plugin_and_parameter() {
        let p = parse(&msg(
            "/stagerack/param/pad/synth/cutoff",
            vec![OscType::Double(0.25)],
        ));
        let Ok(Action::Targeted { command, target }) = p else {
            panic!("{p:?}")
        };
        assert!(
            matches!(*command, Command::SetParam { value, .. } if value == 0.25),
            "{command:?}"
        );
        assert_eq!(
            target,
            Target {
                rack: "pad".into(),
                plugin: Some("synth".into()),
                param: Some("cutoff".into()),
            }
        );
        assert!(parse(&msg(
            "/stagerack/param/pad/synth",
            vec![OscType::Float(0.0)]
        ))
        .is_err());
    }
}
