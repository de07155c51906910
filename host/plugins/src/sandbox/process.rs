//! One sandbox child process as the engine's main thread sees it: launched,
//! asked, watched, killed and relaunched, with its crash history. Shared by
//! the plugins it hosts (one in `plugin` mode, a rack's whole chain in
//! `rack` mode). Main thread only.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::anticipate;
use super::child::CHILD_PAGE_ENV;
use super::rpc::{self, LineReader, Reply, Request, RpcError};
use super::shm::{ChildPage, SharedPage};

/// Crashes within [`CRASH_WINDOW`] after which a sandbox stays off.
pub const MAX_CRASHES: usize = 3;
/// See [`MAX_CRASHES`].
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// How long a request may take before the child counts as hung. Loading
/// and activating may scan samples or build wavetables; the rest is quick.
fn timeout_for(request: &Request) -> Duration {
    match request {
        Request::Load { .. } | Request::Activate { .. } | Request::LoadState { .. } => {
            Duration::from_secs(30)
        }
        Request::SaveState { .. } | Request::Deactivate { .. } => Duration::from_secs(10),
        _ => Duration::from_secs(2),
    }
}

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Sets the program run as `PROGRAM sandbox-child` (default: this
/// executable, which must answer that subcommand). Main thread, once at
/// start; later calls keep the first program.
pub fn set_child_program(program: PathBuf) {
    let _ = PROGRAM.set(program);
}

fn child_program() -> Result<PathBuf, String> {
    if let Some(p) = PROGRAM.get() {
        return Ok(p.clone());
    }
    std::env::current_exe().map_err(|e| format!("cannot find this program to run a sandbox: {e}"))
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: LineReader<ChildStdout>,
}

/// A sandbox child and its history. Main thread.
pub struct SandboxProcess {
    /// What it hosts, for messages ("rack `pad`", "`Dexed`").
    label: String,
    running: Option<Running>,
    /// Bumped at every launch; an instance loaded into an older launch
    /// must load itself again.
    launch: u32,
    /// When the current child was found dead or hung, and why.
    died: Option<(Instant, String)>,
    crashes: Vec<Instant>,
    /// Given up on: too many crashes.
    off: bool,
    /// The page this child (and each relaunch of it) shares with the
    /// engine: its doorbell.
    page: Arc<SharedPage<ChildPage>>,
}

/// A sandbox shared by the instances it hosts. Main thread.
pub type SharedSandbox = Rc<RefCell<SandboxProcess>>;

impl SandboxProcess {
    /// Launches a child for `label`'s plugins. Main thread.
    pub fn launch(label: &str) -> Result<SharedSandbox, String> {
        let mut p = SandboxProcess {
            label: label.to_owned(),
            running: None,
            launch: 0,
            died: None,
            crashes: Vec::new(),
            off: false,
            page: Arc::new(
                SharedPage::create()
                    .map_err(|e| format!("cannot start the sandbox for {label}: {e}"))?,
            ),
        };
        p.start()?;
        Ok(Rc::new(RefCell::new(p)))
    }

    fn start(&mut self) -> Result<(), String> {
        let program = child_program()?;
        let mut command = Command::new(&program);
        command
            .arg("sandbox-child")
            .env(CHILD_PAGE_ENV, self.page.name());
        if let Some(token) = anticipate::engine_token() {
            command.env(anticipate::POLL_TOKEN_ENV, token.name());
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start the sandbox for {} (`{} sandbox-child`): {e}",
                    self.label,
                    program.display()
                )
            })?;
        tracing::info!("{}: sandbox process {} started", self.label, child.id());
        let stdin = child.stdin.take().ok_or("the sandbox has no stdin")?;
        let stdout = LineReader::new(child.stdout.take().ok_or("the sandbox has no stdout")?);
        self.running = Some(Running {
            child,
            stdin,
            stdout,
        });
        self.launch += 1;
        self.died = None;
        Ok(())
    }

    /// The page the child shares with the engine (its doorbell). Main
    /// thread.
    pub fn page(&self) -> &Arc<SharedPage<ChildPage>> {
        &self.page
    }

    /// The current launch's number. Main thread.
    pub fn launch_number(&self) -> u32 {
        self.launch
    }

    /// True once it crashed too often to be relaunched. Main thread.
    pub fn is_off(&self) -> bool {
        self.off
    }

    /// When and why the last child died, while it has not been relaunched.
    /// Main thread.
    pub fn death(&self) -> Option<&(Instant, String)> {
        self.died.as_ref()
    }

    /// Asks one thing and waits for the answer. A child that is gone or
    /// does not answer in time is killed and marked dead. Main thread.
    pub fn ask(&mut self, request: &Request) -> Result<Reply, RpcError> {
        let Some(r) = self.running.as_mut() else {
            return Err(RpcError::Gone("is not running".into()));
        };
        let result = rpc::write_line(&mut r.stdin, request)
            .and_then(|()| r.stdout.next::<Reply>(timeout_for(request)));
        match result {
            Ok(reply) => Ok(reply),
            Err(RpcError::Timeout(t)) => {
                self.kill("stopped answering");
                Err(RpcError::Timeout(t))
            }
            Err(e) => {
                // The pipe broke: the child is dying. Its exit status says
                // how (a moment later than the pipe).
                let until = Instant::now() + Duration::from_secs(1);
                let mut cause = self.exit_cause();
                while cause.is_none() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(2));
                    cause = self.exit_cause();
                }
                let why = cause.unwrap_or_else(|| e.to_string());
                self.kill(&why);
                Err(RpcError::Gone(why))
            }
        }
    }

    /// Checks whether the child is still alive; a dead one is marked (see
    /// [`death`](Self::death)). Main thread.
    pub fn check_alive(&mut self) -> bool {
        if self.running.is_none() {
            return false;
        }
        match self.exit_cause() {
            Some(cause) => {
                self.kill(&cause);
                false
            }
            None => true,
        }
    }

    /// Why the child exited, if it has.
    fn exit_cause(&mut self) -> Option<String> {
        let r = self.running.as_mut()?;
        match r.child.try_wait() {
            Ok(Some(status)) => Some(describe_exit(status)),
            Ok(None) => None,
            Err(e) => Some(format!("lost ({e})")),
        }
    }

    /// Kills the child (hung or crashed) and records why. Main thread.
    pub fn kill(&mut self, why: &str) {
        if let Some(mut r) = self.running.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
            let now = Instant::now();
            self.crashes
                .retain(|t| now.duration_since(*t) < CRASH_WINDOW);
            self.crashes.push(now);
            if self.crashes.len() >= MAX_CRASHES {
                self.off = true;
            }
            self.died = Some((now, why.to_owned()));
        }
    }

    /// Launches a fresh child after a death, unless it crashed too often.
    /// Returns false when it stays off. Main thread.
    pub fn relaunch(&mut self) -> Result<bool, String> {
        if self.off {
            return Ok(false);
        }
        if self.running.is_some() {
            return Ok(true);
        }
        self.start().map(|()| true)
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.take() {
            // Closing stdin ends a healthy child; a stuck one is killed.
            drop(r.stdin);
            let until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < until {
                if let Ok(Some(_)) = r.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

/// "SIGSEGV", "abort (SIGABRT)", "exit code 3".
pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            libc::SIGBUS => "SIGBUS",
            libc::SIGFPE => "SIGFPE",
            libc::SIGILL => "SIGILL",
            libc::SIGKILL => "SIGKILL",
            libc::SIGTERM => "SIGTERM",
            _ => return format!("crashed (signal {sig})"),
        };
        return format!("crashed ({name})");
    }
    match status.code() {
        Some(code) => format!("exited (code {code})"),
        None => "exited".to_owned(),
    }
}
