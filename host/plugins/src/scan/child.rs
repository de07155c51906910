//! Scanning in child processes: each plugin file is opened by `stagerack
//! scan-one FILE` (this same binary), which prints what it found as JSON.
//! A file whose child crashes, hangs past the timeout or fails is
//! blacklisted with the reason; the scanner itself never loads a plugin.
//! Unchanged files come from the cache without a child. Main thread.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cache::{Blacklisted, CachedFile, FileKey, ScanCache};
use crate::discovery::files_in;
use stagerack_core::plugin::{PluginDescriptor, PluginFormat};

/// How a scan runs.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// The longest a child may take to open one file.
    pub timeout: Duration,
    /// Open blacklisted files again (and forget why they were).
    pub rescan: bool,
    /// The program run as `PROGRAM scan-one FILE` (this binary).
    pub program: PathBuf,
}

/// What a child prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChildAnswer {
    /// The plugins in the file.
    #[serde(default)]
    pub plugins: Vec<PluginDescriptor>,
    /// Why the file could not be read.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ChildScanReport {
    /// Every plugin found, in file order.
    pub plugins: Vec<PluginDescriptor>,
    /// Files blacklisted (now or before, and skipped), with the reason.
    pub blacklisted: Vec<(PathBuf, String)>,
    /// Files whose answer came from the cache.
    pub from_cache: usize,
    /// Files opened in a child process.
    pub opened: usize,
}

/// Every CLAP file and VST3 bundle in `dirs` (a path that is itself a
/// `.clap` file or a `.vst3` bundle counts as one). Main thread.
pub fn plugin_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let is_bundle = dir
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("vst3"));
        if dir.is_file() || is_bundle {
            out.push(dir.clone());
            continue;
        }
        out.extend(files_in(PluginFormat::Clap, dir));
        out.extend(files_in(PluginFormat::Vst3, dir));
    }
    out
}

/// What `stagerack scan-one FILE` does: opens the file here and answers.
/// Main thread of the child.
pub fn scan_one(path: &Path) -> ChildAnswer {
    let is_vst3 = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("vst3"));
    let result = if is_vst3 {
        crate::vst3::list_vst3_classes(path).map_err(|e| e.to_string())
    } else {
        crate::clap::list_plugins(path).map_err(|e| e.to_string())
    };
    match result {
        Ok(plugins) => ChildAnswer {
            plugins,
            error: None,
        },
        Err(e) => ChildAnswer {
            plugins: Vec::new(),
            error: Some(e),
        },
    }
}

/// The whole of a `scan-one FILE` child's work: opens the file, prints the
/// answer as one JSON line on stdout, and returns the exit status (failure
/// when the file could not be read). Main thread of the child.
pub fn run_scan_one(path: &Path) -> std::process::ExitCode {
    let answer = scan_one(path);
    let ok = answer.error.is_none();
    match serde_json::to_string(&answer) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: {e}"),
    }
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Scans `files`, using and updating the cache, each new or changed file
/// in a child process; `progress` is told after each file. Main thread.
pub fn scan_files(
    files: &[PathBuf],
    opts: &ScanOptions,
    cache: &mut ScanCache,
    mut progress: impl FnMut(&Path),
) -> ChildScanReport {
    let mut report = ChildScanReport::default();
    for file in files {
        progress(file);
        let Some(key) = FileKey::of(file) else {
            report
                .blacklisted
                .push((file.clone(), "cannot be read".to_owned()));
            continue;
        };
        if let Some(b) = cache.blacklist.get(file) {
            if b.key == key && !opts.rescan {
                report.blacklisted.push((file.clone(), b.reason.clone()));
                continue;
            }
        }
        if let Some(c) = cache.files.get(file) {
            if c.key == key {
                report.from_cache += 1;
                report.plugins.extend(c.plugins.iter().cloned());
                continue;
            }
        }
        report.opened += 1;
        match open_in_child(file, opts) {
            Ok(plugins) => {
                cache.blacklist.remove(file);
                cache.files.insert(
                    file.clone(),
                    CachedFile {
                        key,
                        plugins: plugins.clone(),
                    },
                );
                report.plugins.extend(plugins);
            }
            Err(reason) => {
                cache.files.remove(file);
                cache.blacklist.insert(
                    file.clone(),
                    Blacklisted {
                        key,
                        reason: reason.clone(),
                    },
                );
                report.blacklisted.push((file.clone(), reason));
            }
        }
    }
    report
}

/// The signal that ended a child process, if one did. Any thread.
pub fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal()
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        None
    }
}

/// Runs `PROGRAM scan-one FILE` and reads its answer; Err says why the
/// file is blacklisted. Main thread.
fn open_in_child(file: &Path, opts: &ScanOptions) -> Result<Vec<PluginDescriptor>, String> {
    let mut child = Command::new(&opts.program)
        .arg("scan-one")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("the scanner could not start ({e})"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= opts.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "hung: no answer within {:.0} s",
                    opts.timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("the scanner was lost ({e})")),
        }
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(sig) = signal_of(&status) {
        return Err(format!("crashed while loading (signal {sig})"));
    }
    let answer: ChildAnswer = serde_json::from_str(out.trim())
        .map_err(|_| format!("crashed while loading (exit status {status})"))?;
    match answer.error {
        Some(e) => Err(format!("failed to load: {e}")),
        None => Ok(answer.plugins),
    }
}
