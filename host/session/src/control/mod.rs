//! The control protocol and its server: the one way the rack window,
//! remote tools and tests change a running engine.
//!
//! - [`protocol`]: the versioned command/reply types (serde).
//! - [`ControlServer`]: lives on the main thread, polled by the pump;
//!   serves in-process clients ([`LocalClient`], over channels) and a local
//!   Unix socket (newline-delimited JSON, mode 0600). Every edit is
//!   broadcast to every client. A malformed or oversized message closes
//!   only the client that sent it.
//! - [`osc`] and [`web`]: remote front doors (`--osc`, `--web`) that turn OSC
//!   messages and WebSocket JSON into the same commands, each remote peer
//!   an in-process client opened through a [`Connector`]; [`Remotes`]
//!   starts them for the front ends.

mod client;
pub mod osc;
pub mod protocol;
mod remote;
mod scanner;
mod server;
mod setlist_edit;
mod snapshot;
pub mod web;

pub use client::{ClientError, ControlClient, RemoteClient};
pub use protocol::{Command, Reply, Request, Snapshot, PROTOCOL_VERSION};
pub use remote::{Listen, RemoteError, RemoteOptions, Remotes};
pub use server::{
    default_socket_path, name_matches, Connector, ControlServer, DeviceChoice, DeviceHost,
    LocalClient, Target, MAX_QUEUED_REPLIES, MAX_QUEUED_REQUESTS, MAX_REQUESTS_PER_POLL,
};
pub use snapshot::snapshot;

// The types the protocol's messages carry, so a client needs this module
// only.
pub use crate::preset::{
    MapDef, MapSourceDef, RackDef, Setlist, SetlistEntry, Triggers, VelocityCurve,
};
pub use protocol::{RackEdit, SetlistEdit, SetlistView};
pub use stagerack_core::plugin::{PluginDescriptor, PluginFormat};
pub use stagerack_io::{AudioInUse, DeviceInventory};
