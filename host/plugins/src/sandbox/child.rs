//! What `stagerack sandbox-child` runs: plugins the engine asked for, each
//! processed on its own real-time thread when the engine's audio thread
//! wakes it through the shared region. Its main thread answers the
//! engine's requests on stdin and services the plugins' main-thread work
//! (CLAP timers and fds, the VST3 run loop) between them.
//!
//! The child links this plugins layer only: no session, no drivers.

use std::io::Write;
use std::os::fd::FromRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stagerack_core::editor::ParentWindow;
use stagerack_core::midi::EventBuffer;
use stagerack_core::plugin::{
    AudioProcessor, Block, HostContext, PluginInstance, ProcessConfig, ProcessStatus, Tail,
    Transport,
};

use super::anticipate::Anticipation;
use super::rpc::{self, LineReader, Reply, Request, WireExtras};
use super::shm::{futex_wake, op, SharedRegion, MAX_AUX_OUTPUTS, MAX_EVENTS, MAX_FRAMES};
use super::wire::WireEvent;
use crate::loader::load_plugin;

/// How often the main thread services plugins while no request comes.
const PUMP_INTERVAL: Duration = Duration::from_millis(10);

/// What the child's main thread sends its audio threads.
enum ToAudio {
    /// An activated processor to call.
    Give(Box<dyn AudioProcessor>),
    /// Hand the processor back.
    Take,
    /// End the thread.
    Quit,
}

/// One plugin in this child.
struct Hosted {
    instance: Box<dyn PluginInstance>,
    region: Arc<SharedRegion>,
    to_audio: rtrb::Producer<ToAudio>,
    from_audio: rtrb::Consumer<Box<dyn AudioProcessor>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
    let mut input = LineReader::new(std::io::stdin());
    let mut hosted: Vec<Option<Hosted>> = Vec::new();
    let mut last_pump = Instant::now();
    loop {
        let line = match input.next_line(PUMP_INTERVAL) {
            Ok(Some(line)) => line,
            Ok(None) => {
                let x_errors = crate::x11_errors::error_count();
                pump_all(&mut hosted, &mut last_pump);
                blame_x_errors(&mut hosted, x_errors);
                continue;
            }
            Err(_) => break,
        };
        let x_errors = crate::x11_errors::error_count();
        let reply = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => {
                let reply = handle(request, &mut hosted, guard);
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
            pump_all(&mut hosted, &mut last_pump);
        }
    }
    for h in hosted.iter_mut().flatten() {
        stop_audio_thread(h);
    }
    0
}

fn pump_all(hosted: &mut [Option<Hosted>], last: &mut Instant) {
    *last = Instant::now();
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

fn handle(request: Request, hosted: &mut Vec<Option<Hosted>>, guard: AudioGuard) -> Reply {
    let Some(index) = request.index() else {
        let Request::Load { def, pid, fd } = request else {
            unreachable!("only a load names no instance")
        };
        return match load(&def, pid, fd, guard) {
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
                stop_audio_thread(&mut h);
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
        Request::Activate { config, .. } => activate(h, &config.into()),
        Request::Deactivate { .. } => {
            deactivate(h);
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
    guard: AudioGuard,
) -> Result<Hosted, String> {
    let region = Arc::new(SharedRegion::open(pid, fd).map_err(|e| e.to_string())?);
    let mut instance = load_plugin(def).map_err(|e| e.to_string())?;
    if let Some(state) = def.state_bytes() {
        instance.load_state(&state).map_err(|e| e.to_string())?;
    }
    let (to_audio, cmd_rx) = rtrb::RingBuffer::new(4);
    let (back_tx, from_audio) = rtrb::RingBuffer::new(4);
    let thread_region = region.clone();
    // Where the request word stands now, before the engine can hear that
    // this plugin loaded: every request after it is the new child's to
    // answer. (Read on the new thread instead, a thread that started late
    // on a loaded machine took the engine's first request for an old one
    // and never answered it: a block missed after the 10 s offline wait.)
    let seen = region.header().request.load(Ordering::Acquire);
    // Tests make the thread start late, as a loaded machine does.
    let late = std::env::var("STAGERACK_TEST_SANDBOX_THREAD_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let thread = std::thread::Builder::new()
        .name("stagerack-sandbox-audio".into())
        .spawn(move || {
            if let Some(late) = late {
                std::thread::sleep(late);
            }
            audio_thread(&thread_region, seen, cmd_rx, back_tx, guard)
        })
        .map_err(|e| format!("cannot start the sandbox's audio thread: {e}"))?;
    region
        .header()
        .child_pid
        .store(std::process::id(), Ordering::Release);
    Ok(Hosted {
        instance,
        region,
        to_audio,
        from_audio,
        thread: Some(thread),
        active: false,
        editor_open: false,
        notices: Vec::new(),
    })
}

fn activate(h: &mut Hosted, config: &ProcessConfig) -> Reply {
    if config.max_block as usize > MAX_FRAMES {
        return err(format!(
            "a sandboxed plugin takes blocks of at most {MAX_FRAMES} frames, not {}",
            config.max_block
        ));
    }
    deactivate(h);
    match h.instance.activate(config) {
        Ok(processor) => {
            if let Err(rtrb::PushError::Full(ToAudio::Give(p))) =
                h.to_audio.push(ToAudio::Give(processor))
            {
                h.instance.deactivate(p);
                return err("the sandbox's audio thread is not listening");
            }
            h.active = true;
            futex_wake(&h.region.header().request);
            Reply::Ok
        }
        Err(e) => err(e),
    }
}

/// Takes the processor back from the audio thread (waiting up to a second)
/// and deactivates it.
fn deactivate(h: &mut Hosted) {
    h.region.header().ready.store(0, Ordering::Release);
    if !h.active {
        return;
    }
    h.active = false;
    if h.to_audio.push(ToAudio::Take).is_err() {
        return;
    }
    futex_wake(&h.region.header().request);
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if let Ok(p) = h.from_audio.pop() {
            h.instance.deactivate(p);
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn stop_audio_thread(h: &mut Hosted) {
    deactivate(h);
    let _ = h.to_audio.push(ToAudio::Quit);
    futex_wake(&h.region.header().request);
    if let Some(t) = h.thread.take() {
        let _ = t.join();
    }
}

/// One plugin's audio thread: waits for the engine's request word to move,
/// answers it, wakes the engine.
fn audio_thread(
    region: &SharedRegion,
    mut seen: u32,
    mut commands: rtrb::Consumer<ToAudio>,
    mut back: rtrb::Producer<Box<dyn AudioProcessor>>,
    guard: AudioGuard,
) {
    let h = region.header();
    // The engine tells its audio thread's priority with its first block;
    // this thread follows it, one below (normal priority until then, or
    // for an engine that is not real-time, as offline, or while the engine
    // has it demoted for missing most of its deadlines).
    let mut priority = 0u32;
    // Real-time (promoted at the engine's priority): the engine plays
    // live, and this thread may poll for its next buffer.
    let mut realtime = false;
    let mut anticipation = Anticipation::default();
    let mut processor: Option<Box<dyn AudioProcessor>> = None;
    let mut events = EventBuffer::with_capacity(MAX_EVENTS);
    let mut out_events = EventBuffer::with_capacity(MAX_EVENTS);
    // A relaunched child starts from the word as the loader found it
    // (`seen`): only requests made after that are its to answer.
    loop {
        anticipation.wait(h, seen, realtime);
        while let Ok(cmd) = commands.pop() {
            match cmd {
                ToAudio::Give(p) => processor = Some(p),
                ToAudio::Take => {
                    if let Some(p) = processor.take() {
                        // Capacity 4, one processor at a time: never full.
                        let _ = back.push(p);
                    }
                }
                ToAudio::Quit => return,
            }
        }
        let request = h.request.load(Ordering::Acquire);
        if request == seen {
            continue;
        }
        seen = request;
        h.taken.store(request, Ordering::Release);
        anticipation.took(Instant::now());
        let wanted = if h.demoted.load(Ordering::Relaxed) != 0 {
            0
        } else {
            h.engine_priority.load(Ordering::Relaxed)
        };
        if wanted != priority {
            priority = wanted;
            if wanted > 1 {
                realtime =
                    stagerack_core::realtime::promote_current_thread_to(wanted as i32 - 1).is_ok();
            } else {
                realtime = false;
                stagerack_core::realtime::demote_current_thread();
            }
        }
        if let Some(p) = processor.as_mut() {
            (guard.no_alloc)(&mut || {
                answer(region, p.as_mut(), &mut events, &mut out_events, guard);
            });
        } else {
            h.events_out.store(0, Ordering::Relaxed);
            h.status
                .store(status_code(ProcessStatus::Error), Ordering::Relaxed);
        }
        h.done.store(request, Ordering::Release);
        futex_wake(&h.done);
    }
}

/// Runs one request on the processor, the turn held.
fn answer(
    region: &SharedRegion,
    p: &mut dyn AudioProcessor,
    events: &mut EventBuffer,
    out_events: &mut EventBuffer,
    guard: AudioGuard,
) {
    let h = region.header();
    let status = match h.op.load(Ordering::Relaxed) {
        op::PROCESS => {
            let frames = (h.frames.load(Ordering::Relaxed) as usize).min(MAX_FRAMES);
            // SAFETY: the engine published this request (Acquire above)
            // and waits for `done` before touching the data again: the
            // turn is ours.
            let data = unsafe { region.data() };
            events.clear();
            let n = (h.events_in.load(Ordering::Relaxed) as usize).min(MAX_EVENTS);
            for w in &data.events_in[..n] {
                if let Some(e) = w.decode(frames as u32) {
                    events.push(e);
                }
            }
            out_events.clear();
            let transport = Transport {
                tempo: f64::from_bits(h.tempo_bits.load(Ordering::Relaxed)),
                playing: h.playing.load(Ordering::Relaxed) != 0,
                steady_frames: h.steady_frames.load(Ordering::Relaxed),
                sample_rate: f64::from_bits(h.sample_rate_bits.load(Ordering::Relaxed)),
            };
            let (left, right) = (&mut data.left[..frames], &mut data.right[..frames]);
            let mut status = ProcessStatus::Error;
            let allocs = (guard.count_allocs)(&mut || {
                status = catch_unwind(AssertUnwindSafe(|| {
                    p.process(&mut Block {
                        frames,
                        left: &mut *left,
                        right: &mut *right,
                        events: events.as_slice(),
                        out_events: &mut *out_events,
                        transport: &transport,
                    })
                }))
                .unwrap_or(ProcessStatus::Error);
            });
            h.allocs.store(allocs, Ordering::Relaxed);
            // The extra outputs the engine takes, when the plugin played
            // them (read back by `SandboxedProcessor::aux_output`).
            let wanted = h.aux_wanted.load(Ordering::Relaxed);
            let mut present = 0u32;
            for port in (0..MAX_AUX_OUTPUTS).filter(|i| wanted & (1 << i) != 0) {
                let played = catch_unwind(AssertUnwindSafe(|| {
                    let (l, r) = p.aux_output(port, frames)?;
                    let n = frames.min(l.len()).min(r.len());
                    let [al, ar] = data.aux.get_disjoint_mut([2 * port, 2 * port + 1]).ok()?;
                    al[..n].copy_from_slice(&l[..n]);
                    ar[..n].copy_from_slice(&r[..n]);
                    al[n..frames].fill(0.0);
                    ar[n..frames].fill(0.0);
                    Some(())
                }));
                if matches!(played, Ok(Some(()))) {
                    present |= 1 << port;
                }
            }
            h.aux_present.store(present, Ordering::Relaxed);
            let m = out_events.len().min(MAX_EVENTS);
            for (w, e) in data.events_out.iter_mut().zip(out_events.as_slice()) {
                *w = WireEvent::encode(e);
            }
            h.events_out.store(m as u32, Ordering::Relaxed);
            status
        }
        op::STOP => {
            let _ = catch_unwind(AssertUnwindSafe(|| p.stop()));
            h.events_out.store(0, Ordering::Relaxed);
            ProcessStatus::Continue
        }
        op::RESET => {
            let _ = catch_unwind(AssertUnwindSafe(|| p.reset()));
            h.events_out.store(0, Ordering::Relaxed);
            ProcessStatus::Continue
        }
        _ => ProcessStatus::Error,
    };
    let (kind, frames) = match p.tail() {
        Tail::None => (0, 0),
        Tail::Frames(n) => (1, n),
        Tail::Infinite => (2, 0),
    };
    h.tail_kind.store(kind, Ordering::Relaxed);
    h.tail_frames.store(frames, Ordering::Relaxed);
    if p.wake_requested() {
        h.wake_requested.store(1, Ordering::Relaxed);
    }
    h.status.store(status_code(status), Ordering::Relaxed);
}

/// A status as a number in the region.
pub(super) fn status_code(s: ProcessStatus) -> u32 {
    match s {
        ProcessStatus::Continue => 0,
        ProcessStatus::ContinueIfNotQuiet => 1,
        ProcessStatus::Tail => 2,
        ProcessStatus::Sleep => 3,
        ProcessStatus::Error => 4,
    }
}

/// The status a number in the region stands for (garbage: an error).
pub(super) fn status_from_code(c: u32) -> ProcessStatus {
    match c {
        0 => ProcessStatus::Continue,
        1 => ProcessStatus::ContinueIfNotQuiet,
        2 => ProcessStatus::Tail,
        3 => ProcessStatus::Sleep,
        _ => ProcessStatus::Error,
    }
}
