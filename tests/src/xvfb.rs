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
        // One start at a time: two tests must not pick the same number.
        static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = START.lock().unwrap_or_else(|e| e.into_inner());
        let n = (400..900)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .expect("no free X display number");
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                "1280x800x24",
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

/// A preset (written into `dir`) with one rack: the built-in synth, then
/// the `Stagerack Editor` test plugin (a CLAP plugin with an X11 GUI).
/// Returns its path.
pub fn editor_preset(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("editor.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\nname = \"editor\"\n\n[[rack]]\nname = \"keys\"\n\n\
             [[rack.plugin]]\nformat = \"builtin\"\nid = \"synth\"\n\n\
             [[rack.plugin]]\nformat = \"clap\"\nid = \"org.stagerack.test.editor\"\npath = {:?}\n",
            crate::clap_bundle("stagerack-editor").display().to_string()
        ),
    )
    .expect("write the editor preset");
    path
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
