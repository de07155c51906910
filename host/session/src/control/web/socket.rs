//! One WebSocket client of the web remote: its JSON text messages are
//! control-protocol [`Request`]s passed to the engine through an
//! in-process client of its own, the replies and events go back as JSON
//! text. Only the playing controls are open to it (see [`allowed`]).
//!
//! A command for a rack may name it (`"rack": "pad"`) instead of giving its
//! index: the engine's main thread finds it by name when it carries the
//! command out ([`Target`]), so a fader moved right after a song change
//! reaches the rack it names even when a setlist with `neighbours` loaded
//! and unloaded racks (every index after them shifts).

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::control::protocol::{Command, RackEdit, Reply, Request};
use crate::control::server::{Connector, Target};

/// Longest message or frame a browser may send, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How long a read waits before the replies waiting are sent.
const TICK: Duration = Duration::from_millis(15);
/// A browser that takes longer than this to take a message is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// How a WebSocket session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The browser closed it or went away, it stopped reading, or the
    /// server stops.
    Closed,
    /// A malformed or oversized frame, or not even UTF-8: closed.
    Broken,
}

/// Whether a web client may send `command`: the stage controls and what
/// shows them — a rack's gain, mute and solo, not its routing — and not
/// files, devices, plugins or scans (which the rack window and the local
/// socket keep). Any thread.
pub fn allowed(command: &Command) -> bool {
    match command {
        Command::EditRack { edit, .. } => {
            // Nothing but the mix: every other field unset.
            let rest = RackEdit {
                gain_db: None,
                mute: None,
                solo: None,
                ..edit.clone()
            };
            rest == RackEdit::default()
        }
        c => matches!(
            c,
            Command::Hello { .. }
                | Command::GetState {}
                | Command::Status {}
                | Command::Subscribe { .. }
                | Command::SetlistNext {}
                | Command::SetlistPrevious {}
                | Command::SetlistSelect { .. }
                | Command::Panic {}
                | Command::SetParam { .. }
                | Command::SetBypass { .. }
                | Command::SelectProgram { .. }
        ),
    }
}

/// Serves one upgraded connection until it closes, breaks or `stop` is
/// set. `stream` is past the handshake; `read_ahead` holds bytes the
/// browser sent after it. Web connection thread.
pub fn serve(
    stream: TcpStream,
    read_ahead: Vec<u8>,
    connector: &Connector,
    stop: &AtomicBool,
) -> Ended {
    if stream.set_read_timeout(Some(TICK)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return Ended::Closed;
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let mut ws = WebSocket::from_partially_read(stream, read_ahead, Role::Server, Some(config));
    let mut client = connector.connect();
    loop {
        if stop.load(Ordering::Acquire) {
            let _ = ws.close(None);
            let _ = ws.flush();
            return Ended::Closed;
        }
        match ws.read() {
            Ok(Message::Text(text)) => {
                if let Some(refusal) = pass_on(text.as_str(), &mut client) {
                    if send(&mut ws, &refusal).is_err() {
                        return Ended::Closed;
                    }
                }
            }
            Ok(Message::Binary(_)) => {
                let r = Reply::Error {
                    id: 0,
                    message: "send JSON text messages, not binary ones".into(),
                };
                if send(&mut ws, &r).is_err() {
                    return Ended::Closed;
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if crate::control::remote::nothing_yet(&e) => {}
            // Gone without a goodbye (a phone leaving the network) is not
            // a fault of the client's.
            Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ),
            ) => return Ended::Closed,
            Err(tungstenite::Error::Io(e)) => {
                tracing::debug!("web remote: a client's connection failed: {e}");
                return Ended::Closed;
            }
            Err(e) => {
                tracing::info!("web remote: closing a client: {e}");
                return Ended::Broken;
            }
        }
        while let Some(reply) = client.try_recv() {
            if send(&mut ws, &reply).is_err() {
                return Ended::Closed;
            }
        }
    }
}

/// Passes one text message on as a request; returns the error to answer
/// instead when it is not a request this client may send.
fn pass_on(text: &str, client: &mut crate::control::LocalClient) -> Option<Reply> {
    let (request, target) = match read_request(text) {
        Ok(r) => r,
        Err(e) => {
            return Some(Reply::Error {
                id: 0,
                message: format!("malformed message: {e}"),
            })
        }
    };
    if !allowed(&request.command) {
        return Some(Reply::Error {
            id: request.id,
            message: "the web remote has the playing controls only (setlist, panic, a rack's \
                      gain, mute and solo, parameters, bypass, programs); use the rack window \
                      for the rest"
                .into(),
        });
    }
    client.send_request(request, target);
    None
}

/// A request from its JSON; a rack given by name (`"rack": "pad"`) comes
/// back as a [`Target`] (the request's own rack index is then 0 until the
/// engine finds it). Any thread.
pub fn read_request(text: &str) -> Result<(Request, Option<Target>), serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    let target = match value.get_mut("rack") {
        Some(rack) if rack.is_string() => {
            let name = rack.as_str().unwrap_or_default().to_owned();
            *rack = serde_json::Value::from(0);
            Some(Target {
                rack: name,
                ..Target::default()
            })
        }
        _ => None,
    };
    Ok((serde_json::from_value(value)?, target))
}

fn send(ws: &mut WebSocket<TcpStream>, reply: &Reply) -> Result<(), tungstenite::Error> {
    let text = serde_json::to_string(reply).unwrap_or_default();
    ws.send(Message::text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_devices_and_plugins_stay_with_the_window() {
        assert!(allowed(&Command::SetlistNext {}));
        assert!(allowed(&Command::Panic {}));
        assert!(!allowed(&Command::SavePreset {
            path: "/tmp/x.toml".into()
        }));
        assert!(!allowed(&Command::ScanPlugins { rescan: false }));
    }

    #[test]
    fn a_rack_edit_only_for_the_mix() {
        let edit = |edit: RackEdit| Command::EditRack { rack: 0, edit };
        assert!(allowed(&edit(RackEdit {
            gain_db: Some(-6.0),
            mute: Some(true),
            solo: Some(false),
            ..RackEdit::default()
        })));
        for bad in [
            RackEdit {
                name: Some("x".into()),
                ..RackEdit::default()
            },
            RackEdit {
                gain_db: Some(0.0),
                midi_from: Some("other".into()),
                ..RackEdit::default()
            },
            RackEdit {
                maps: Some(Vec::new()),
                ..RackEdit::default()
            },
            RackEdit {
                channels: Some(vec![1]),
                ..RackEdit::default()
            },
        ] {
            assert!(!allowed(&edit(bad.clone())), "{bad:?}");
        }
    }

    #[test]
    fn a_rack_by_name_becomes_a_target() {
        let (r, t) = read_request(
            r#"{"id":3,"cmd":"edit_rack","rack":"Grand Piano","edit":{"gain_db":-3}}"#,
        )
        .unwrap();
        assert_eq!(r.id, 3);
        assert!(matches!(r.command, Command::EditRack { rack: 0, .. }));
        assert_eq!(t.unwrap().rack, "Grand Piano");
        let (r, t) =
            read_request(r#"{"id":4,"cmd":"edit_rack","rack":2,"edit":{"mute":true}}"#).unwrap();
        assert!(matches!(r.command, Command::EditRack { rack: 2, .. }));
        assert_eq!(t, None);
        assert!(read_request("not json").is_err());
    }
}
