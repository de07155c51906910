//! The plugin scan a control client asks for (`scan_plugins`): the same
//! child-process scan as `stagerack scan`, run on a background thread so
//! the main thread keeps pumping, its progress polled by the server.
//!
//! The scanner program is whatever binary answers `PROGRAM scan-one FILE`
//! (`stagerack` and `stagerack-ui` both do); an engine given none refuses
//! to scan rather than run an unknown program.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use stagerack_plugins::scan::{cache::ScanCache, child, default_paths};

/// The longest one file may take to open in the background scan.
const FILE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the scan thread tells the server.
pub(super) enum ScanEvent {
    /// About to look at file `done + 1` of `total`.
    Progress {
        done: usize,
        total: usize,
        file: PathBuf,
    },
    /// Finished; the cache is written.
    Finished(ScanSummary),
}

/// What a finished scan found, for people.
pub(super) struct ScanSummary {
    /// Plugin files looked at.
    pub files: usize,
    /// Files opened in a child (new or changed since the last scan).
    pub opened: usize,
    /// Files skipped or newly blacklisted, with the reason.
    pub blacklisted: Vec<(PathBuf, String)>,
    /// The cache could not be written (the results still count this run).
    pub cache_error: Option<String>,
}

/// A scan running on its own thread. Main thread.
pub(super) struct BackgroundScan {
    events: mpsc::Receiver<ScanEvent>,
}

impl BackgroundScan {
    /// Starts scanning the default plugin folders with `program`;
    /// `rescan` opens blacklisted files again. Main thread.
    pub fn start(program: &Path, rescan: bool) -> std::io::Result<Self> {
        let (tx, events) = mpsc::channel();
        let opts = child::ScanOptions {
            timeout: FILE_TIMEOUT,
            rescan,
            program: program.to_owned(),
        };
        std::thread::Builder::new()
            .name("plugin-scan".into())
            .spawn(move || run(&opts, &tx))?;
        Ok(Self { events })
    }

    /// The events since the last call; `None` once the thread is gone
    /// without finishing (it never should). Main thread.
    pub fn poll(&self) -> Result<Vec<ScanEvent>, ()> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(e) => out.push(e),
                Err(mpsc::TryRecvError::Empty) => return Ok(out),
                Err(mpsc::TryRecvError::Disconnected) => {
                    return if out.is_empty() { Err(()) } else { Ok(out) };
                }
            }
        }
    }
}

/// The scan thread: every file of the default folders, cache updated.
fn run(opts: &child::ScanOptions, tx: &mpsc::Sender<ScanEvent>) {
    let files = child::plugin_files(&default_paths());
    let total = files.len();
    let mut cache = ScanCache::load();
    let mut done = 0;
    let report = child::scan_files(&files, opts, &mut cache, |file| {
        let _ = tx.send(ScanEvent::Progress {
            done,
            total,
            file: file.to_owned(),
        });
        done += 1;
    });
    let cache_error = cache.save().err().map(|e| {
        format!(
            "cannot write the scan cache {}: {e}",
            stagerack_plugins::scan::cache::cache_file().display()
        )
    });
    let _ = tx.send(ScanEvent::Finished(ScanSummary {
        files: total,
        opened: report.opened,
        blacklisted: report.blacklisted,
        cache_error,
    }));
}
