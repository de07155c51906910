//! What `stagerack sandbox-child` runs: plugins the engine asked for,
//! processed on the child's one real-time thread (`worker`) when the
//! engine's audio thread rings it through the shared memory. Its main
//! thread answers the
//! engine's requests on stdin and services the plugins' main-thread work
//! (CLAP timers and fds, the VST3 run loop) between them.
//!
//! The child links this plugins layer only: no session, no drivers.

use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stagerack_core::editor::ParentWindow;
use stagerack_core::plugin::{HostContext, PluginInstance, ProcessConfig};

use super::rpc::{self, LineReader, Reply, Request, WireExtras};
use super::shm::{ChildPage, SharedPage, SharedRegion, MAX_FRAMES};
use super::worker::Worker;
use crate::loader::load_plugin;

/// The environment variable that names the page a child shares with its
/// engine (`PID:FD`, see `shm::SharedPage`).
pub const CHILD_PAGE_ENV: &str = "STAGERACK_SANDBOX_PAGE";

/// How often the main thread services plugins while no request comes.
const PUMP_INTERVAL: Duration = Duration::from_millis(10);

/// One plugin in this child.
struct Hosted {
    instance: Box<dyn PluginInstance>,
    region: Arc<SharedRegion>,
    /// Where the audio thread keeps it.
    slot: usize,
    /// The audio thread holds an activated processor.
    active: bool,
    /// Its editor is open (created, attached or not).
    editor_open: bool,
    /// What to tell the engine with the next pump's reply.
    notices: Vec<String>,
}

/// The binary's allocation guard (the engine layer's), handed in so this
/// layer does not depend on it: the child's audio threads are guarded as
/// the engine's are. Plain function pointers: called on the audio thread.
#[derive(Clone, Copy)]
pub struct AudioGuard {
    /// Runs a plugin's `process` counting the allocations and frees it
    /// makes on this thread (instead of aborting); returns the count.
    pub count_allocs: fn(&mut dyn FnMut()) -> u32,
    /// Runs the child's own audio code with allocation forbidden (debug
    /// builds and tests).
    pub no_alloc: fn(&mut dyn FnMut()),
}

impl AudioGuard {
    /// No guard: nothing counted, nothing forbidden (a host without the
    /// engine's allocator).
    pub const NONE: AudioGuard = AudioGuard {
        count_allocs: |f| {
            f();
            0
        },
        no_alloc: |f| f(),
    };
}

/// Runs the child until the engine closes its stdin. Returns the exit code.
/// Its own main thread.
pub fn run(guard: AudioGuard) -> i32 {
    // Die with the engine: a child outliving a killed engine would hold
    // its plugins (and their files, MIDI ports, licences) for nothing.
    // SAFETY: prctl with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // Ctrl-C in a terminal reaches the whole process group: the engine
    // decides when its children end (it closes their stdin).
    // SAFETY: SIG_IGN for SIGINT, no handler code involved.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // The conversation goes on a private copy of stdout; fd 1 then points
    // at stderr, where whatever plugins print ends up.
    // SAFETY: dup on a descriptor this process owns; checked below.
    let proto_fd = unsafe { libc::dup(1) };
    // SAFETY: dup2 between descriptors this process owns.
    if proto_fd < 0 || unsafe { libc::dup2(2, 1) } < 0 {
        eprintln!("stagerack sandbox-child: cannot set up its output");
        return 2;
    }
    // SAFETY: `proto_fd` is a fresh descriptor owned by nobody else.
    let mut out = std::io::BufWriter::new(unsafe { std::fs::File::from_raw_fd(proto_fd) });
    super::anticipate::open_child_token();
    let page = match std::env::var(CHILD_PAGE_ENV)
        .map_err(|e| e.to_string())
        .and_then(|name| SharedPage::<ChildPage>::open(&name).map_err(|e| e.to_string()))
    {
        Ok(page) => Arc::new(page),
        Err(e) => {
            eprintln!(
                "stagerack sandbox-child: no page shared with the engine ({CHILD_PAGE_ENV}: {e}); \
                 only the engine starts this"
            );
            return 2;
        }
    };
    let mut worker = match Worker::start(page, guard) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("stagerack sandbox-child: {e}");
            return 2;
        }
    };
    let mut input = LineReader::new(std::io::stdin());
    let mut hosted: Vec<Option<Hosted>> = Vec::new();
    let mut last_pump = Instant::now();
    loop {
        let line = match input.next_line(PUMP_INTERVAL) {
            Ok(Some(line)) => line,
            Ok(None) => {
                let x_errors = crate::x11_errors::error_count();
                pump_all(&mut hosted, &mut worker, &mut last_pump);
                blame_x_errors(&mut hosted, x_errors);
                continue;
            }
            Err(_) => break,
        };
        let x_errors = crate::x11_errors::error_count();
        let reply = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => {
                let reply = handle(request, &mut hosted, &mut worker);
                blame_x_errors(&mut hosted, x_errors);
                reply
            }
            Err(e) => Reply::Err {
                message: format!("a request the child cannot read: {e}"),
            },
        };
        if rpc::write_line(&mut out, &reply).is_err() {
            break;
        }
        let _ = out.flush();
        if last_pump.elapsed() >= PUMP_INTERVAL {
            pump_all(&mut hosted, &mut worker, &mut last_pump);
        }
    }
    for h in hosted.iter_mut().flatten() {
        unload(h, &mut worker);
    }
    worker.stop();
    0
}

fn pump_all(hosted: &mut [Option<Hosted>], worker: &mut Worker, last: &mut Instant) {
    *last = Instant::now();
    worker.drop_returned();
    for h in hosted.iter_mut().flatten() {
        h.instance.on_main_thread();
    }
}

/// Puts X errors raised since `before` (a plugin GUI's bad request,
/// recorded instead of ending this child) into the notices of the plugins
/// whose editors are open: Xlib reports errors late, so the one at fault
/// cannot be told apart from the others that draw.
fn blame_x_errors(hosted: &mut [Option<Hosted>], before: u64) {
    let count = crate::x11_errors::error_count();
    if count <= before {
        return;
    }
    let what = crate::x11_errors::last_error().unwrap_or_default();
    for h in hosted.iter_mut().flatten().filter(|h| h.editor_open) {
        h.notices.push(format!(
            "plugin `{}`: its editor raised {} window system error(s) in its sandbox, the \
             last {what}",
            h.instance.descriptor().name,
            count - before
        ));
    }
}

fn err(message: impl std::fmt::Display) -> Reply {
    Reply::Err {
        message: message.to_string(),
    }
}

fn handle(request: Request, hosted: &mut Vec<Option<Hosted>>, worker: &mut Worker) -> Reply {
    let Some(index) = request.index() else {
        let Request::Load { def, pid, fd } = request else {
            unreachable!("only a load names no instance")
        };
        return match load(&def, pid, fd, worker) {
            Ok(h) => {
                let descriptor = h.instance.descriptor().clone();
                let has_editor = h.instance.has_editor();
                hosted.push(Some(h));
                Reply::Loaded {
                    index: (hosted.len() - 1) as u32,
                    descriptor,
                    has_editor,
                }
            }
            Err(e) => err(e),
        };
    };
    let index = index as usize;
    let Some(h) = hosted.get_mut(index).and_then(Option::as_mut) else {
        return err(format!("no plugin {index} in this sandbox"));
    };
    match request {
        Request::Load { .. } => unreachable!("handled above"),
        Request::Unload { .. } => {
            if let Some(mut h) = hosted[index].take() {
                unload(&mut h, worker);
            }
            Reply::Ok
        }
        Request::Params { .. } => Reply::Params {
            params: h.instance.params(),
        },
        Request::ParamValue { id, .. } => Reply::Value {
            value: h.instance.param_value(id),
        },
        Request::ParamText { id, value, .. } => Reply::Text {
            text: h.instance.param_text(id, value),
        },
        Request::SetParam { id, value, .. } => match h.instance.set_param(id, value) {
            Ok(()) => Reply::Ok,
            Err(e) => err(e),
        },
        Request::HostChangedParam { id, value, .. } => {
            h.instance.host_changed_param(id, value);
            Reply::Ok
        }
        Request::Activate { config, .. } => activate(h, worker, &config.into()),
        Request::Deactivate { .. } => {
            deactivate(h, worker);
            Reply::Ok
        }
        Request::SaveState { .. } => match h.instance.save_state() {
            Ok(bytes) => Reply::State {
                state: rpc::encode_state(&bytes),
            },
            Err(e) => err(e),
        },
        Request::LoadState { state, .. } => match rpc::decode_state(&state)
            .map_err(|e| e.to_string())
            .and_then(|b| h.instance.load_state(&b).map_err(|e| e.to_string()))
        {
            Ok(()) => Reply::Ok,
            Err(e) => err(e),
        },
        Request::Info { .. } => Reply::Info {
            latency: h.instance.latency(),
            tail: rpc::tail_to_wire(h.instance.tail()),
        },
        Request::Pump { .. } => {
            h.instance.on_main_thread();
            let mut changes = Vec::new();
            h.instance.take_param_changes(&mut changes);
            let mut notices = std::mem::take(&mut h.notices);
            h.instance.take_notices(&mut notices);
            let mut asked = Vec::new();
            if let Some(editor) = h.instance.editor() {
                editor.take_editor_requests(&mut asked);
            }
            Reply::Pumped {
                needs_restart: h.instance.needs_restart(),
                changes,
                latency: h.instance.latency(),
                tail: rpc::tail_to_wire(h.instance.tail()),
                editor: asked.into_iter().map(Into::into).collect(),
                notices,
            }
        }
        Request::CreateEditor { .. } => match h.instance.editor() {
            Some(editor) => {
                // Before the plugin's GUI opens its display: its X errors
                // are recorded, not the end of this child.
                crate::x11_errors::install_error_handler();
                match editor.create_editor() {
                    Ok((width, height)) => {
                        let floating = editor.is_floating();
                        h.editor_open = true;
                        Reply::EditorSize {
                            width,
                            height,
                            floating,
                        }
                    }
                    Err(e) => err(e),
                }
            }
            None => err("this plugin has no editor the sandbox can show"),
        },
        Request::AttachEditor { window, .. } => match h.instance.editor() {
            Some(editor) => match editor.attach_editor(ParentWindow::X11(window)) {
                Ok(()) => Reply::Ok,
                Err(e) => err(e),
            },
            None => err("this plugin has no editor the sandbox can show"),
        },
        Request::ShowFloating { title, .. } => match h.instance.editor() {
            Some(editor) => match editor.show_floating(&title) {
                Ok(()) => Reply::Ok,
                Err(e) => err(e),
            },
            None => err("this plugin has no editor the sandbox can show"),
        },
        Request::DestroyEditor { .. } => {
            h.editor_open = false;
            if let Some(editor) = h.instance.editor() {
                editor.destroy_editor();
            }
            Reply::Ok
        }
        Request::SetHostContext { rack, mapped, .. } => {
            h.instance.set_host_context(&HostContext { rack, mapped });
            Reply::Ok
        }
        Request::Extras { .. } => Reply::Extras(WireExtras {
            note_names: h
                .instance
                .note_names()
                .into_iter()
                .map(|n| (n.key, n.channel, n.name))
                .collect(),
            voices: h.instance.voice_capacity(),
            programs: h.instance.programs().map(|p| (p.param, p.names)),
            current_program: h.instance.current_program(),
            remote_pages: h
                .instance
                .remote_pages()
                .into_iter()
                .map(|p| (p.section, p.name, p.params))
                .collect(),
            aux_outputs: h.instance.aux_outputs(),
        }),
        Request::LoadProgram { program, .. } => match h.instance.load_program(program) {
            Ok(()) => Reply::Ok,
            Err(e) => err(e),
        },
        Request::EditorResized { width, height, .. } => {
            if let Some(editor) = h.instance.editor() {
                editor.editor_resized(width, height);
            }
            Reply::Ok
        }
    }
}

fn load(
    def: &crate::def::PluginDef,
    pid: u32,
    fd: i32,
    worker: &mut Worker,
) -> Result<Hosted, String> {
    let region = Arc::new(SharedRegion::open(pid, fd).map_err(|e| e.to_string())?);
    let mut instance = load_plugin(def).map_err(|e| e.to_string())?;
    if let Some(state) = def.state_bytes() {
        instance.load_state(&state).map_err(|e| e.to_string())?;
    }
    // Where the request word stands now, before the engine can hear that
    // this plugin loaded: every request after it is the new child's to
    // answer. (Read on the audio thread instead, a thread that started
    // late on a loaded machine took the engine's first request for an old
    // one and never answered it: a block missed after the 10 s offline
    // wait.)
    let seen = region.header().request.load(Ordering::Acquire);
    let slot = worker.add(region.clone(), seen)?;
    region
        .header()
        .child_pid
        .store(std::process::id(), Ordering::Release);
    Ok(Hosted {
        instance,
        region,
        slot,
        active: false,
        editor_open: false,
        notices: Vec::new(),
    })
}

fn activate(h: &mut Hosted, worker: &mut Worker, config: &ProcessConfig) -> Reply {
    if config.max_block as usize > MAX_FRAMES {
        return err(format!(
            "a sandboxed plugin takes blocks of at most {MAX_FRAMES} frames, not {}",
            config.max_block
        ));
    }
    deactivate(h, worker);
    match h.instance.activate(config) {
        Ok(processor) => {
            if let Err(p) = worker.give(h.slot, processor) {
                h.instance.deactivate(p);
                return err("the sandbox's audio thread is not listening");
            }
            h.active = true;
            Reply::Ok
        }
        Err(e) => err(e),
    }
}

/// Takes the processor back from the audio thread (waiting up to a second)
/// and deactivates it.
fn deactivate(h: &mut Hosted, worker: &mut Worker) {
    h.region.header().ready.store(0, Ordering::Release);
    if !h.active {
        return;
    }
    h.active = false;
    if let Some(p) = worker.take(h.slot) {
        h.instance.deactivate(p);
    }
}

/// Deactivates the plugin and takes its region off the audio thread.
fn unload(h: &mut Hosted, worker: &mut Worker) {
    deactivate(h, worker);
    worker.remove(h.slot);
}
