//! The remote front doors a live front end opens on its control server:
//! the OSC server (`--osc`) and the web remote (`--web`), started from one
//! set of options by `stagerack --preset/--setlist` and `stagerack-ui`
//! alike, with the lines they print at start and in the status line.

use std::net::{IpAddr, Ipv4Addr};

use super::osc::{OscError, OscServer};
use super::server::Connector;
use super::web::{WebError, WebServer};

/// Where a remote server listens: a port (0: any free one, printed at
/// start) on an address. Any thread (plain data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listen {
    /// UDP (OSC) or TCP (web) port.
    pub port: u16,
    /// Address to bind (127.0.0.1 unless the user gives another).
    pub bind: IpAddr,
}

impl Listen {
    /// `port` on `bind`, or on 127.0.0.1 (this machine only) when none is
    /// given. Any thread.
    pub fn new(port: u16, bind: Option<IpAddr>) -> Self {
        Self {
            port,
            bind: bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        }
    }
}

/// Which remote servers to start. Main thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// The OSC server (`--osc PORT`, `--osc-bind ADDR`).
    pub osc: Option<Listen>,
    /// The web remote (`--web PORT`, `--web-bind ADDR`).
    pub web: Option<Listen>,
}

/// Why a remote server could not start. Main thread.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The OSC server.
    #[error(transparent)]
    Osc(#[from] OscError),
    /// The web remote.
    #[error(transparent)]
    Web(#[from] WebError),
}

/// The remote servers running; dropping them stops them. Main thread.
#[derive(Default)]
pub struct Remotes {
    osc: Option<OscServer>,
    web: Option<WebServer>,
}

impl Remotes {
    /// Starts what `options` asks for, each a client of the control server
    /// `connector` belongs to. Main thread.
    pub fn start(options: &RemoteOptions, connector: &Connector) -> Result<Self, RemoteError> {
        let osc = options
            .osc
            .as_ref()
            .map(|o| OscServer::start(o, connector))
            .transpose()?;
        let web = options
            .web
            .as_ref()
            .map(|o| WebServer::start(o, connector))
            .transpose()?;
        Ok(Self { osc, web })
    }

    /// One line per server for people: where it listens (for the web
    /// remote, the address to open, with its token when one is needed).
    /// Main thread.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(osc) = &self.osc {
            lines.push(format!(
                "OSC on udp {} (addresses: docs/REMOTE.md)",
                osc.local_addr()
            ));
        }
        if let Some(web) = &self.web {
            let who = if web.token_required() {
                "from other machines too, with this token; use this machine's network address"
            } else {
                "this machine only"
            };
            lines.push(format!("web remote on {} ({who})", web.url()));
        }
        lines
    }

    /// The status-line part: `, osc 12 messages (1 malformed, 0
    /// refused), web 2 clients (3 refused, 0 malformed)` (empty when
    /// nothing runs), then `, web remote http://…/?token=…` when the web
    /// remote needs its token, so the address is never lost in the
    /// scroll. Main thread.
    pub fn status(&self) -> String {
        let mut s = String::new();
        if let Some(osc) = &self.osc {
            let c = osc.counts();
            s.push_str(&format!(
                ", osc {} messages ({} malformed, {} refused)",
                c.messages, c.malformed, c.refused
            ));
        }
        if let Some(web) = &self.web {
            let c = web.counts();
            s.push_str(&format!(
                ", web {} clients ({} refused, {} malformed)",
                c.clients, c.refused, c.malformed
            ));
            if web.token_required() {
                s.push_str(&format!(", web remote {}", web.url()));
            }
        }
        s
    }

    /// The web remote's address to open (with its token when one is
    /// needed), while it runs: what a window shows. Main thread.
    pub fn web_url(&self) -> Option<String> {
        self.web.as_ref().map(WebServer::url)
    }

    /// The OSC server, when running. Main thread.
    pub fn osc(&self) -> Option<&OscServer> {
        self.osc.as_ref()
    }

    /// The web remote, when running. Main thread.
    pub fn web(&self) -> Option<&WebServer> {
        self.web.as_ref()
    }
}

/// Whether a read on a socket with a timeout merely found nothing yet
/// (timed out, would block, interrupted) rather than failed. Any thread.
pub(super) fn nothing_yet(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}
