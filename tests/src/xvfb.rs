//! A private X server (Xvfb) for window tests: started on a free display
//! number, stopped (killed and reaped) when dropped, also on panic.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Xvfb. Test thread.
pub struct Xvfb {
    /// `:N`, for `DISPLAY`.
    pub display: String,
    child: Child,
}

impl Xvfb {
    /// Starts Xvfb with one 1280×800×24 screen (`-noreset`: it keeps
    /// serving when the last client leaves). Panics with the command to
    /// install it when missing.
    pub fn start() -> Xvfb {
        Self::start_sized(1280, 800)
    }

    /// Starts Xvfb with one `width`×`height`×24 screen. Test thread.
    pub fn start_sized(width: u32, height: u32) -> Xvfb {
        // One start at a time: two tests must not pick the same number.
        static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = START.lock().unwrap_or_else(|e| e.into_inner());
        let n = (400..900)
            .find(|&n| display_free(n))
            .expect("no free X display number");
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb: {e}; run scripts/ensure-deps test"));
        let x = Xvfb { display, child };
        let end = Instant::now() + Duration::from_secs(10);
        while !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            assert!(Instant::now() < end, "Xvfb {} did not start", x.display);
            std::thread::sleep(Duration::from_millis(50));
        }
        x
    }
}

/// Saves a screenshot of the whole screen of `display` to
/// `CARGO_TARGET_TMPDIR`-style `path` (ImageMagick `import`). Panics with
/// the command to install it when missing.
pub fn screenshot(display: &str, path: &Path) {
    let ok = Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .env("DISPLAY", display)
        .status()
        .expect("import missing: run scripts/ensure-deps test")
        .success();
    assert!(ok, "import failed");
}

/// A preset `<name>.toml` (written into `dir`) with one rack `keys`: the
/// built-in synth, then the plugin `id` of `format` at `path` (an editor
/// test's plugin 1 of rack 0). Returns its path.
pub fn synth_and_plugin_preset(
    dir: &Path,
    name: &str,
    format: &str,
    id: &str,
    path: &Path,
) -> std::path::PathBuf {
    let preset = dir.join(format!("{name}.toml"));
    std::fs::write(
        &preset,
        format!(
            "version = 1\nname = \"{name}\"\n\n[[rack]]\nname = \"keys\"\n\n\
             [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\n\
             [[rack.plugin]]\nformat = \"{format}\"\nid = \"{id}\"\npath = {:?}\n",
            path.display().to_string()
        ),
    )
    .expect("write the preset");
    preset
}

/// A preset (written into `dir`) with one rack: the built-in synth, then
/// the `Stagerack Editor` test plugin (a CLAP plugin with an X11 GUI).
/// Returns its path.
pub fn editor_preset(dir: &Path) -> std::path::PathBuf {
    synth_and_plugin_preset(
        dir,
        "editor",
        "clap",
        "org.stagerack.test.editor",
        &crate::clap_bundle("stagerack-editor"),
    )
}

/// A preset (written into `dir`) with one rack: the built-in synth, then
/// Debian's ZamComp (a DPF plugin with an X11 GUI) in `format`, `clap` or
/// `vst3`. Panics with the command to install zam-plugins when missing.
/// Returns its path.
pub fn zam_editor_preset(dir: &Path, format: &str) -> std::path::PathBuf {
    let path = match format {
        "clap" => Path::new("/usr/lib/clap/ZamComp.clap"),
        _ => Path::new("/usr/lib/vst3/ZamComp.vst3"),
    };
    assert!(
        path.exists(),
        "{} is missing: run scripts/ensure-deps test (Debian's zam-plugins)",
        path.display()
    );
    let id = match format {
        "clap" => "com.zamaudio.ZamComp".to_string(),
        _ => {
            stagerack::plugin::vst3::list_vst3_classes(path)
                .ok()
                .and_then(|classes| classes.into_iter().next())
                .unwrap_or_else(|| panic!("{} has no audio class", path.display()))
                .id
        }
    };
    synth_and_plugin_preset(dir, &format!("zam-{format}"), format, &id, path)
}

/// True when display `n` is free: no lock file and no socket, or only
/// ones a server that is gone left behind (an Xvfb killed outright keeps
/// its lock and socket; over many runs they would use up every number),
/// which are removed.
fn display_free(n: u32) -> bool {
    let lock = format!("/tmp/.X{n}-lock");
    let socket = format!("/tmp/.X11-unix/X{n}");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        let alive = text
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if alive {
            return false;
        }
        let _ = std::fs::remove_file(&lock);
        let _ = std::fs::remove_file(&socket);
    }
    !Path::new(&lock).exists() && !Path::new(&socket).exists()
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM first: Xvfb then removes its lock and socket itself.
        crate::jack::send_signal(self.child.id(), "TERM");
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
