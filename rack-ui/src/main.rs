//! `stagerack-ui`: the rack window.
//!
//! - `stagerack-ui [--preset FILE | --setlist FILE] [--listen [SOCKET]]
//!   [--keep-running] [--backend B] [--connect …] [--midi-in …]
//!   [--no-audio]`: runs the engine in this process (the session layer's
//!   `Runtime`, as `stagerack --preset/--setlist` does), playing on the live
//!   backend (default: JACK when a server answers, else ALSA; without any
//!   output, or with `--no-audio`, the `dummy` backend: real-time paced, no
//!   sound) with the window as its client. Closing
//!   the window releases every note, lets the tails fade for ~120 ms,
//!   stops the driver and deactivates the plugins on the main thread, then
//!   exits. With `--keep-running` the engine carries on headless after the
//!   window closes, until SIGINT/SIGTERM.
//! - `stagerack-ui --attach [SOCKET]`: a window on an engine running in
//!   another process. Closing or killing the window leaves it playing.
//! - `stagerack-ui --headless --listen [SOCKET]`: the engine and its
//!   control socket with no window, until SIGINT/SIGTERM.
//! - `--osc PORT [--osc-bind ADDR]`, `--web PORT [--web-bind ADDR]`: the
//!   in-process engine also serves OSC and the web remote, as `stagerack`
//!   does; the web remote's address (and token) is printed and shown in
//!   the window's messages.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use eframe::egui;
use stagerack_session::control::{
    default_socket_path, Listen, RemoteClient, RemoteOptions, Remotes,
};
use stagerack_session::runtime::{AudioChoice, LoadedShow, Runtime, Show};
use stagerack_session::runtime::{BackendKind, StreamOptions};
use stagerack_ui::{Mode, RackApp};

/// The stagerack rack window.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Preset to load into the in-process engine.
    #[arg(long, value_name = "FILE", conflicts_with = "setlist")]
    preset: Option<PathBuf>,
    /// Setlist to play in the in-process engine: its presets switched by
    /// program change (with bank select), next/previous CC or trigger notes
    /// at the trigger's exact sample, as `stagerack --setlist` does.
    #[arg(long, value_name = "FILE", conflicts_with = "attach")]
    setlist: Option<PathBuf>,
    /// Open the control socket so other clients can attach (default path:
    /// $XDG_RUNTIME_DIR/stagerack/control.sock); `--control` is the same,
    /// as `stagerack --preset/--setlist` spells it.
    #[arg(long, visible_alias = "control", value_name = "SOCKET", num_args = 0..=1, conflicts_with = "attach")]
    listen: Option<Option<PathBuf>>,
    /// Attach to a running engine's control socket instead of starting one.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1)]
    attach: Option<Option<PathBuf>>,
    /// Keep the in-process engine running headless after the window closes,
    /// until SIGINT or SIGTERM.
    #[arg(long, conflicts_with = "attach")]
    keep_running: bool,
    /// No window: run the engine (and its socket, with --listen) until
    /// SIGINT or SIGTERM.
    #[arg(long, conflicts_with = "attach")]
    headless: bool,
    /// The audio backend (default: JACK when a server answers, else ALSA;
    /// without an output the engine runs silently, with a warning).
    #[arg(long, value_parser = backend_parser(), conflicts_with_all = ["attach", "no_audio"])]
    backend: Option<BackendKind>,
    /// Run the engine without an audio device (real-time paced, silent).
    #[arg(long, conflicts_with = "attach")]
    no_audio: bool,
    /// Client name shown to other applications (JACK client name).
    #[arg(long, default_value = "stagerack-ui", value_name = "NAME")]
    name: String,
    /// Sample rate in Hz (JACK: must match the server's).
    #[arg(long, value_name = "HZ")]
    rate: Option<u32>,
    /// Buffer size in frames.
    #[arg(long, value_name = "FRAMES")]
    buffer: Option<u32>,
    /// Connect the outputs: `auto`, `none`, a JACK port pattern or an ALSA
    /// device name (repeatable).
    #[arg(long, value_name = "auto|none|PATTERN")]
    connect: Vec<String>,
    /// Connect MIDI sources by pattern (`all`: every physical source).
    #[arg(long = "midi-in", value_name = "PATTERN")]
    midi_in: Vec<String>,
    /// Serve OSC on this UDP port (addresses in docs/REMOTE.md; 0: any
    /// free port, printed).
    #[arg(long, value_name = "PORT", conflicts_with = "attach")]
    osc: Option<u16>,
    /// The address the OSC server binds (default 127.0.0.1).
    #[arg(long, value_name = "ADDR", requires = "osc")]
    osc_bind: Option<std::net::IpAddr>,
    /// Serve the web remote (setlist, next, previous, PANIC, meters for a
    /// phone) on this TCP port (0: any free port, printed).
    #[arg(long, value_name = "PORT", conflicts_with = "attach")]
    web: Option<u16>,
    /// The address the web remote binds (default 127.0.0.1); any other
    /// makes every request need the token it prints and the window shows.
    #[arg(long, value_name = "ADDR", requires = "web")]
    web_bind: Option<std::net::IpAddr>,
    /// Open in the stage view: full screen, the song, its notes, what
    /// comes next, tempo, load and trouble lights in large type (F11 or
    /// Esc leaves it for the editor).
    #[arg(long, conflicts_with = "headless")]
    stage: bool,
}

/// `--backend`: the names of the backends this build has (io's
/// `NamedChoice`, as `stagerack --backend` parses them).
fn backend_parser() -> impl clap::builder::TypedValueParser<Value = BackendKind> {
    use clap::builder::TypedValueParser as _;
    use stagerack_session::runtime::NamedChoice;
    clap::builder::PossibleValuesParser::new(BackendKind::all().iter().map(|b| b.name()))
        .map(|name| BackendKind::from_name(&name).expect("clap accepted only the possible values"))
}

impl Args {
    /// Where the in-process engine's audio goes.
    fn audio(&self) -> AudioChoice {
        if self.no_audio {
            return AudioChoice::NoDevice;
        }
        let defaults = StreamOptions::default();
        AudioChoice::Live {
            backend: self.backend,
            options: StreamOptions {
                name: self.name.clone(),
                rate: self.rate,
                buffer: self.buffer,
                connect: if self.connect.is_empty() {
                    defaults.connect.clone()
                } else {
                    self.connect.clone()
                },
                midi_in: self.midi_in.clone(),
                ..defaults
            },
        }
    }
}

fn default_preset() -> PathBuf {
    let here = PathBuf::from("presets/demo.toml");
    if here.exists() {
        here
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../presets/demo.toml")
    }
}

// The allocation guard (and plugins' C allocations counted) in the
// window's process, where the engine may run: see `install_guard!`.
stagerack_session::runtime::install_guard!();

fn main() -> ExitCode {
    // Panics caught on the audio thread are reported by the main thread;
    // the hook stays quiet there so the callback never blocks on stderr.
    stagerack_session::runtime::install_quiet_panic_hook();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs written to a file or a pipe stay
        // plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // `stagerack-ui scan-one FILE`: one plugin file opened for a
    // background scan this process started (hidden, as `stagerack`'s).
    let argv: Vec<_> = std::env::args_os().collect();
    if argv.len() == 3 && argv[1] == "scan-one" {
        return stagerack_session::runtime::run_scan_one(Path::new(&argv[2]));
    }
    // `stagerack-ui sandbox-child`: a sandboxed rack's or plugin's process.
    #[cfg(target_os = "linux")]
    if argv.len() == 2 && argv[1] == "sandbox-child" {
        return stagerack_session::runtime::run_sandbox_child();
    }
    let args = Args::parse();
    let quit = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, quit.clone()) {
            eprintln!("error: cannot install the signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(args, quit) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args, quit: Arc<AtomicBool>) -> Result<(), String> {
    if let Some(socket) = args.attach {
        let socket = socket.unwrap_or_else(default_socket_path);
        let client = RemoteClient::connect(&socket).map_err(|e| e.to_string())?;
        let mut app = RackApp::new(
            Box::new(client),
            None,
            Mode::Attached {
                socket: socket.clone(),
            },
            PathBuf::from("preset.toml"),
        );
        app.close_on(quit);
        app.set_stage(args.stage);
        return window(app);
    }

    let audio = args.audio();
    let show = match args.setlist {
        Some(setlist) => Show::Setlist(setlist),
        None => Show::Preset(args.preset.unwrap_or_else(default_preset)),
    };
    let show_file = match &show {
        Show::Preset(p) | Show::Setlist(p) => p.clone(),
    };
    let show = LoadedShow::load(&show).map_err(|e| e.to_string())?;
    // The file Save writes: the preset, or a setlist's first song (never
    // the setlist file itself).
    let preset_path = show
        .setlist
        .as_ref()
        .and_then(|s| s.paths.first().cloned())
        .unwrap_or(show_file);
    let mut engine = Runtime::start(&show, &audio).map_err(|e| e.to_string())?;
    // This binary answers `scan-one` (see `main`): the browser may scan.
    if let Ok(me) = std::env::current_exe() {
        engine.set_scanner(me);
    }
    eprintln!("audio: {}", engine.output());
    let socket = args.listen.map(|s| s.unwrap_or_else(default_socket_path));
    if let Some(s) = &socket {
        engine.listen(s).map_err(|e| e.to_string())?;
        eprintln!("control socket: {}", s.display());
    }
    // OSC and the web remote: threads whose clients reach the engine
    // through a connector (the client it came from is not needed).
    let remotes = Remotes::start(
        &RemoteOptions {
            osc: args.osc.map(|port| Listen::new(port, args.osc_bind)),
            web: args.web.map(|port| Listen::new(port, args.web_bind)),
        },
        &engine.connect().connector(),
    )
    .map_err(|e| e.to_string())?;
    let remote_lines = remotes.describe();
    for line in &remote_lines {
        eprintln!("{line}");
    }
    let engine = Rc::new(RefCell::new(engine));

    if !args.headless {
        let client = engine.borrow_mut().connect();
        let mut app = RackApp::new(
            Box::new(client),
            Some(engine.clone()),
            Mode::InProcess {
                socket: socket.clone(),
            },
            preset_path,
        );
        app.close_on(quit.clone());
        app.set_stage(args.stage);
        for line in remote_lines {
            app.state
                .push_message(stagerack_ui::state::Level::Info, line);
        }
        // Kept in the status panel: the message list scrolls.
        app.state.web_remote = remotes.web_url();
        window(app)?;
        if args.keep_running && !quit.load(Ordering::Relaxed) {
            eprintln!("window closed; the engine keeps running headless until Ctrl+C");
        }
    }
    if args.headless || args.keep_running {
        // The headless pump: control socket and plugin requests every 5 ms.
        while !quit.load(Ordering::Relaxed) {
            engine.borrow_mut().pump();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    eprintln!("stopping the engine");
    drop(remotes);
    engine.borrow_mut().shutdown();
    Ok(())
}

fn window(app: RackApp) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("stagerack")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0])
            // The stage view opens full screen (the app keeps it so).
            .with_fullscreen(app.stage()),
        ..Default::default()
    };
    eframe::run_native(
        "stagerack",
        options,
        Box::new(move |_cc| Ok(Box::new(app) as Box<dyn eframe::App>)),
    )
    .map_err(|e| format!("the window could not open: {e} (is DISPLAY set?)"))
}
