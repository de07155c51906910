//! The main-thread conversation between the engine and a sandbox child:
//! one JSON request per line on the child's stdin, one JSON reply per line
//! on a private copy of its stdout (the child points its own stdout at
//! stderr, so a plugin's `printf` cannot break the conversation). Only the
//! main threads talk here; the audio threads use the shared region.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use stagerack_core::editor::EditorRequest;
use stagerack_core::plugin::{ParamId, ParamInfo, PluginDescriptor, ProcessConfig, Tail};

use crate::def::PluginDef;

/// What the engine asks a child. `index` names a plugin instance in it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Load the plugin `def` names (its state and parameter values applied)
    /// and map the engine's region `fd` of process `pid` for it.
    Load {
        /// The plugin (a file it plays made absolute: the child does not
        /// know the preset's folder).
        def: Box<PluginDef>,
        /// The engine's process id.
        pid: u32,
        /// The region's descriptor in the engine.
        fd: i32,
    },
    /// Drop an instance.
    Unload {
        /// Which.
        index: u32,
    },
    /// Its parameters.
    Params {
        /// Which.
        index: u32,
    },
    /// One parameter's value.
    ParamValue {
        /// Which.
        index: u32,
        /// Parameter.
        id: ParamId,
    },
    /// A value as text.
    ParamText {
        /// Which.
        index: u32,
        /// Parameter.
        id: ParamId,
        /// Plain value.
        value: f64,
    },
    /// Set a parameter while not processing.
    SetParam {
        /// Which.
        index: u32,
        /// Parameter.
        id: ParamId,
        /// Plain value.
        value: f64,
    },
    /// The host sent a value to the running processor.
    HostChangedParam {
        /// Which.
        index: u32,
        /// Parameter.
        id: ParamId,
        /// Plain value.
        value: f64,
    },
    /// Activate and hand the processor to the child's audio thread.
    Activate {
        /// Which.
        index: u32,
        /// How it will run.
        config: WireConfig,
    },
    /// Take the processor back from the child's audio thread and
    /// deactivate.
    Deactivate {
        /// Which.
        index: u32,
    },
    /// The state blob (base64 in the reply).
    SaveState {
        /// Which.
        index: u32,
    },
    /// Restore a state blob.
    LoadState {
        /// Which.
        index: u32,
        /// Base64.
        state: String,
    },
    /// Latency and tail.
    Info {
        /// Which.
        index: u32,
    },
    /// Service main-thread requests; report restarts and the plugin's own
    /// parameter changes.
    Pump {
        /// Which.
        index: u32,
    },
    /// Create the plugin's editor (its GUI lives in the child); the reply
    /// is its size.
    CreateEditor {
        /// Which.
        index: u32,
    },
    /// Embed the created editor in the engine's window (X11 windows can
    /// be parented across processes) and show it.
    AttachEditor {
        /// Which.
        index: u32,
        /// The engine's X11 window id.
        window: u64,
    },
    /// Title and show a floating editor (its own window, in the child).
    ShowFloating {
        /// Which.
        index: u32,
        /// The title the host suggests.
        title: String,
    },
    /// Hide and destroy the editor.
    DestroyEditor {
        /// Which.
        index: u32,
    },
    /// Where the plugin sits (CLAP `track-info`, `param-indication`).
    SetHostContext {
        /// Which.
        index: u32,
        /// Its rack's name.
        rack: String,
        /// Its parameters a controller is mapped to, with the
        /// controller's label.
        mapped: Vec<(ParamId, String)>,
    },
    /// Load factory program `program` (CLAP preset-load).
    LoadProgram {
        /// Which.
        index: u32,
        /// Program index.
        program: usize,
    },
    /// Its key names, voice count and factory programs.
    Extras {
        /// Which.
        index: u32,
    },
    /// The engine resized the editor's window as the plugin asked.
    EditorResized {
        /// Which.
        index: u32,
        /// Logical pixels.
        width: u32,
        /// Logical pixels.
        height: u32,
    },
}

impl Request {
    /// The plugin instance a request names; `None` for a load.
    pub fn index(&self) -> Option<u32> {
        match self {
            Request::Load { .. } => None,
            Request::Unload { index }
            | Request::Params { index }
            | Request::ParamValue { index, .. }
            | Request::ParamText { index, .. }
            | Request::SetParam { index, .. }
            | Request::HostChangedParam { index, .. }
            | Request::Activate { index, .. }
            | Request::Deactivate { index }
            | Request::SaveState { index }
            | Request::LoadState { index, .. }
            | Request::Info { index }
            | Request::Pump { index }
            | Request::CreateEditor { index }
            | Request::AttachEditor { index, .. }
            | Request::DestroyEditor { index }
            | Request::ShowFloating { index, .. }
            | Request::SetHostContext { index, .. }
            | Request::Extras { index }
            | Request::LoadProgram { index, .. }
            | Request::EditorResized { index, .. } => Some(*index),
        }
    }
}

/// A plugin's key names, voice count and factory programs on the wire
/// (`PluginInstance::note_names`, `voice_capacity`, `programs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireExtras {
    /// (key, channel or every channel, name).
    pub note_names: Vec<(u8, Option<u8>, String)>,
    /// Voices it can play at once.
    pub voices: Option<u32>,
    /// The program-change parameter (if any) and the programs' names.
    pub programs: Option<(Option<ParamId>, Vec<String>)>,
    /// The program selected now.
    #[serde(default)]
    pub current_program: Option<usize>,
    /// Its pages of main controls: (section, name, parameter per knob).
    #[serde(default)]
    pub remote_pages: Vec<(String, String, [Option<ParamId>; 8])>,
    /// The names of its extra audio outputs.
    #[serde(default)]
    pub aux_outputs: Vec<String>,
}

/// What a sandboxed plugin asked of its open editor ([`EditorRequest`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
pub enum WireEditorRequest {
    /// Resize the window.
    Resize {
        /// Logical pixels.
        width: u32,
        /// Logical pixels.
        height: u32,
    },
    /// The plugin closed its editor itself.
    Closed,
}

impl From<EditorRequest> for WireEditorRequest {
    fn from(r: EditorRequest) -> Self {
        match r {
            EditorRequest::Resize(width, height) => Self::Resize { width, height },
            EditorRequest::Closed => Self::Closed,
        }
    }
}

impl From<WireEditorRequest> for EditorRequest {
    fn from(r: WireEditorRequest) -> Self {
        match r {
            WireEditorRequest::Resize { width, height } => Self::Resize(width, height),
            WireEditorRequest::Closed => Self::Closed,
        }
    }
}

/// What a child answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Done.
    Ok,
    /// Failed, with the plugin's or the child's message.
    Err {
        /// What went wrong.
        message: String,
    },
    /// A plugin was loaded.
    Loaded {
        /// Its index for later requests.
        index: u32,
        /// Who it is.
        descriptor: PluginDescriptor,
        /// It has an editor the child can embed in an X11 window.
        #[serde(default)]
        has_editor: bool,
    },
    /// Parameters.
    Params {
        /// Every one.
        params: Vec<ParamInfo>,
    },
    /// A value.
    Value {
        /// Plain value, if the id exists.
        value: Option<f64>,
    },
    /// A text.
    Text {
        /// The plugin's text, if any.
        text: Option<String>,
    },
    /// A state blob.
    State {
        /// Base64.
        state: String,
    },
    /// Latency and tail.
    Info {
        /// Frames of latency.
        latency: u32,
        /// Tail: None, or frames, or u32::MAX for infinite.
        tail: Option<u32>,
    },
    /// After a pump.
    Pumped {
        /// The plugin asked to be restarted.
        needs_restart: bool,
        /// Its own parameter changes.
        changes: Vec<(ParamId, f64)>,
        /// Frames of latency now.
        latency: u32,
        /// Its tail now (as in [`Reply::Info`]).
        tail: Option<u32>,
        /// What it asked of its open editor.
        #[serde(default)]
        editor: Vec<WireEditorRequest>,
        /// What it (or the child's host side) has to tell the user: a
        /// plugin's complaints about its host, in the engine's warnings.
        #[serde(default)]
        notices: Vec<String>,
    },
    /// What [`Request::Extras`] asks.
    Extras(WireExtras),
    /// The editor was created at this size (logical pixels).
    EditorSize {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// It is a floating window of the plugin's own (no embedding).
        #[serde(default)]
        floating: bool,
    },
}

/// [`ProcessConfig`] on the wire.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct WireConfig {
    /// Frames per second.
    pub sample_rate: f64,
    /// Shortest block.
    pub min_block: u32,
    /// Longest block.
    pub max_block: u32,
    /// Offline render.
    pub offline: bool,
    /// The extra outputs taken (see [`ProcessConfig::aux_outputs`]).
    #[serde(default)]
    pub aux_outputs: u64,
}

impl From<&ProcessConfig> for WireConfig {
    fn from(c: &ProcessConfig) -> Self {
        Self {
            sample_rate: c.sample_rate,
            min_block: c.min_block,
            max_block: c.max_block,
            offline: c.offline,
            aux_outputs: c.aux_outputs,
        }
    }
}

impl From<WireConfig> for ProcessConfig {
    fn from(c: WireConfig) -> Self {
        Self {
            sample_rate: c.sample_rate,
            min_block: c.min_block,
            max_block: c.max_block,
            offline: c.offline,
            aux_outputs: c.aux_outputs,
        }
    }
}

/// A tail on the wire (see [`Reply::Info`]).
pub fn tail_to_wire(t: Tail) -> Option<u32> {
    match t {
        Tail::None => None,
        Tail::Frames(n) => Some(n.min(u32::MAX - 1)),
        Tail::Infinite => Some(u32::MAX),
    }
}

/// The tail a [`Reply::Info`] carries.
pub fn tail_from_wire(t: Option<u32>) -> Tail {
    match t {
        None => Tail::None,
        Some(u32::MAX) => Tail::Infinite,
        Some(n) => Tail::Frames(n),
    }
}

/// Base64 for state blobs.
pub fn encode_state(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The blob a base64 string holds.
pub fn decode_state(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("a state blob from the sandbox is not base64: {e}"))
}

/// Why a conversation with a child failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The pipe broke or closed: the child is gone (how, when known:
    /// "crashed (SIGSEGV)").
    #[error("its sandbox process {0}")]
    Gone(String),
    /// No answer within the time allowed.
    #[error("the sandbox process did not answer within {0:.1} s")]
    Timeout(f64),
    /// An answer that is not a reply.
    #[error("the sandbox process answered nonsense: {0}")]
    Garbled(String),
}

/// One JSON line. Any thread that owns the writer.
pub fn write_line<T: Serialize>(out: &mut impl Write, message: &T) -> Result<(), RpcError> {
    let mut line = serde_json::to_vec(message).map_err(|e| RpcError::Garbled(e.to_string()))?;
    line.push(b'\n');
    out.write_all(&line)
        .and_then(|()| out.flush())
        .map_err(|e| RpcError::Gone(format!("cannot be written to ({e})")))
}

/// Reads whole lines from a pipe, waiting at most a given time for each.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read + AsRawFd> LineReader<R> {
    /// Wraps a pipe's read end. Main thread.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
        }
    }

    /// The next line, without its newline; `Ok(None)` when `timeout`
    /// passed first. Main thread.
    pub fn next_line(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, RpcError> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=at).collect();
                line.pop();
                return Ok(Some(line));
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if !wait_readable(self.inner.as_raw_fd(), left) {
                continue;
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.inner.read(&mut chunk) {
                Ok(0) => return Err(RpcError::Gone("closed its output".into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RpcError::Gone(format!("cannot be read ({e})"))),
            }
        }
    }

    /// The next line parsed as `T`, waiting at most `timeout`.
    pub fn next<T: for<'de> Deserialize<'de>>(&mut self, timeout: Duration) -> Result<T, RpcError> {
        let line = self
            .next_line(timeout)?
            .ok_or(RpcError::Timeout(timeout.as_secs_f64()))?;
        serde_json::from_slice(&line).map_err(|e| {
            RpcError::Garbled(format!(
                "{e}: `{}`",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ))
        })
    }
}

/// True when `fd` has data (or an end) within `timeout`.
pub fn wait_readable(fd: i32, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    n > 0 && pfd.revents != 0
}
