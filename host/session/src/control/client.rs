//! Clients of the control protocol: one trait the rack window talks to,
//! whether the engine lives in the same process ([`LocalClient`]) or behind
//! a Unix socket ([`RemoteClient`]).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::protocol::{Command, Reply, Request};
use super::server::LocalClient;

/// What a control client can do; the rack window holds a
/// `Box<dyn ControlClient>` and does not care where the engine runs.
/// Main thread of the client (or any one thread that owns it).
pub trait ControlClient {
    /// Sends a command; returns the id its reply will carry.
    fn send(&mut self, command: Command) -> u64;
    /// The next reply or event if one is waiting; never blocks.
    fn try_recv(&mut self) -> Option<Reply>;
    /// False once the engine has gone away (the socket closed).
    fn connected(&self) -> bool {
        true
    }
}

impl ControlClient for LocalClient {
    fn send(&mut self, command: Command) -> u64 {
        LocalClient::send(self, command)
    }

    fn try_recv(&mut self) -> Option<Reply> {
        LocalClient::try_recv(self)
    }
}

/// Why attaching to an engine failed. Client thread.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the socket path, or it is not ours.
    #[error(
        "cannot attach to the engine at {path}: {source}; start one with a control socket \
         (e.g. `stagerack-ui --listen --keep-running`) or pass the socket path it prints"
    )]
    Connect {
        /// The socket path tried.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// A client attached to an engine's Unix socket (newline-delimited JSON).
/// A reader thread parses each line into a [`Reply`] and queues it; sends
/// write one serialised [`Request`] line. Owned by one client thread.
pub struct RemoteClient {
    #[cfg(unix)]
    stream: std::os::unix::net::UnixStream,
    rx: mpsc::Receiver<Reply>,
    next_id: u64,
    closed: bool,
}

impl RemoteClient {
    /// Connects to the socket at `path` and starts the reader thread.
    /// Client thread.
    #[cfg(unix)]
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let err = |source| ClientError::Connect {
            path: path.to_owned(),
            source,
        };
        let stream = std::os::unix::net::UnixStream::connect(path).map_err(err)?;
        // An engine that stops reading must not freeze the client: a send
        // that cannot be written within this time marks it disconnected.
        stream
            .set_write_timeout(Some(std::time::Duration::from_secs(2)))
            .map_err(err)?;
        let reader = stream.try_clone().map_err(err)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("stagerack-control-reader".into())
            .spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Reply>(&line) {
                        Ok(reply) => {
                            if tx.send(reply).is_err() {
                                break;
                            }
                        }
                        Err(e) => tracing::warn!("control: unreadable message from engine: {e}"),
                    }
                }
            })
            .map_err(err)?;
        Ok(Self {
            stream,
            rx,
            next_id: 0,
            closed: false,
        })
    }

    /// The next reply, waiting up to `timeout`. Client thread.
    pub fn recv_timeout(&mut self, timeout: std::time::Duration) -> Option<Reply> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => Some(r),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.closed = true;
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
        }
    }
}

impl ControlClient for RemoteClient {
    fn send(&mut self, command: Command) -> u64 {
        self.next_id += 1;
        let request = Request {
            id: self.next_id,
            command,
        };
        #[cfg(unix)]
        if let Ok(mut line) = serde_json::to_vec(&request) {
            line.push(b'\n');
            if self.stream.write_all(&line).is_err() {
                self.closed = true;
            }
        }
        self.next_id
    }

    fn try_recv(&mut self) -> Option<Reply> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(mpsc::TryRecvError::Disconnected) => {
                self.closed = true;
                None
            }
            Err(mpsc::TryRecvError::Empty) => None,
        }
    }

    fn connected(&self) -> bool {
        !self.closed
    }
}
