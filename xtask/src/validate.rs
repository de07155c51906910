//! `cargo xtask validate [--clap-validator DIR] [--vst3-sdk DIR]`: runs the
//! formats' public validators over the test bundles and prints a table.
//!
//! The validators are built from checkouts the developer provides (nothing
//! is fetched or committed): `--clap-validator DIR` or
//! `STAGERACK_CLAP_VALIDATOR` names a clone of
//! <https://github.com/free-audio/clap-validator>, `--vst3-sdk DIR` or
//! `STAGERACK_VST3_SDK` a recursive clone of
//! <https://github.com/steinbergmedia/vst3sdk>. They are built once into
//! `target/validators/` (cargo; cmake and a C++ compiler), then every bundle
//! of `cargo xtask bundle` / `bundle-vst3` is validated: each plugin must pass
//! every test, except the "Bad" ones, which must fail the way they are named
//! for (see [`expectation`]). The command fails when any plugin does not
//! behave as expected. See docs/VALIDATORS.md.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why `cargo xtask validate` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Neither validator's source was given.
    #[error(
        "no validator to run: give --clap-validator DIR (a clone of \
         https://github.com/free-audio/clap-validator) and/or --vst3-sdk DIR (a \
         recursive clone of https://github.com/steinbergmedia/vst3sdk), or set \
         STAGERACK_CLAP_VALIDATOR / STAGERACK_VST3_SDK; docs/VALIDATORS.md says how"
    )]
    NoSources,
    /// A given source folder is not what it should be.
    #[error("{0}")]
    BadSource(String),
    /// A build or a run failed.
    #[error("{what}: {detail}")]
    Step {
        /// What was being done.
        what: String,
        /// What went wrong.
        detail: String,
    },
}

/// Where the validators' sources are. Main thread.
#[derive(Debug, Default)]
pub struct Sources {
    /// A clap-validator checkout.
    pub clap_validator: Option<PathBuf>,
    /// A VST3 SDK checkout (with its submodules).
    pub vst3_sdk: Option<PathBuf>,
}

impl Sources {
    /// Reads `--clap-validator DIR` / `--vst3-sdk DIR`, falling back to the
    /// environment. Main thread.
    pub fn from_args(args: &[String]) -> Result<Self, ValidateError> {
        let mut sources = Self {
            clap_validator: std::env::var_os("STAGERACK_CLAP_VALIDATOR").map(PathBuf::from),
            vst3_sdk: std::env::var_os("STAGERACK_VST3_SDK").map(PathBuf::from),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let slot = match flag.as_str() {
                "--clap-validator" => &mut sources.clap_validator,
                "--vst3-sdk" => &mut sources.vst3_sdk,
                other => {
                    return Err(ValidateError::BadSource(format!(
                        "unknown argument `{other}`; usage: cargo xtask validate \
                         [--clap-validator DIR] [--vst3-sdk DIR]"
                    )))
                }
            };
            let Some(dir) = it.next() else {
                return Err(ValidateError::BadSource(format!("{flag} needs a folder")));
            };
            *slot = Some(PathBuf::from(dir));
        }
        if sources.clap_validator.is_none() && sources.vst3_sdk.is_none() {
            return Err(ValidateError::NoSources);
        }
        Ok(sources)
    }
}

/// One plugin's result under one validator.
#[derive(Debug)]
pub struct Verdict {
    /// "CLAP" or "VST3".
    pub format: &'static str,
    /// The plugin's name or id.
    pub plugin: String,
    /// Tests passed.
    pub passed: usize,
    /// Tests failed or crashed, by name.
    pub failed: Vec<String>,
    /// What this plugin must do.
    pub expected: Expectation,
    /// True when the result is what was expected.
    pub ok: bool,
}

/// What a test plugin must do under a validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// Pass every test.
    Pass,
    /// Fail, and only in tests whose name or report contains one of these
    /// words (lower case): the flaw the plugin is named for.
    FailWith(&'static [&'static str]),
}

/// What the test plugin with this id, file or class name must do under
/// `format`'s validator. The Bad plugins fail the way they are named for;
/// a flaw no validator test looks at (a DC offset, an allocation or a slow
/// `process`, a wrong latency, a broken editor, a crash on a note the VST3
/// validator never sends) leaves them passing like any other.
pub fn expectation(format: &str, plugin: &str) -> Expectation {
    let p = plugin.to_ascii_lowercase();
    let named = |s: &str| p.contains(s);
    match format {
        "CLAP" if named("bad-init") => Expectation::FailWith(&["init()"]),
        "CLAP" if named("bad-activate") => Expectation::FailWith(&["activate()"]),
        "CLAP" if named("bad-error") || named("bad-panic") => {
            // A panic is caught by the plugin's framework and becomes an error.
            Expectation::FailWith(&["clap_process_error"])
        }
        "CLAP" if named("bad-nan") => Expectation::FailWith(&["nan", "inf"]),
        "CLAP" if named("bad-crash") || named("crash-on-note") => Expectation::FailWith(&["crash"]),
        "CLAP" if named("bad-hang") => Expectation::FailWith(&["timed out"]),
        "VST3" if named("bad initialize") => Expectation::FailWith(&["initialize"]),
        "VST3" if named("bad activate") => Expectation::FailWith(&["suspend", "activ"]),
        "VST3" if named("bad process") => Expectation::FailWith(&["process"]),
        _ => Expectation::Pass,
    }
}

impl Verdict {
    fn judge(format: &'static str, plugin: String, passed: usize, failed: Vec<String>) -> Self {
        let expected = expectation(format, &plugin);
        let ok = match expected {
            Expectation::Pass => failed.is_empty(),
            Expectation::FailWith(words) => {
                !failed.is_empty()
                    && failed.iter().all(|f| {
                        let f = f.to_ascii_lowercase();
                        words.iter().any(|w| f.contains(w))
                    })
            }
        };
        Self {
            format,
            plugin,
            passed,
            failed,
            expected,
            ok,
        }
    }
}

/// Builds what was given, validates every bundle, and returns the table
/// and whether every plugin behaved as expected. Main thread.
pub fn run(root: &Path, sources: &Sources) -> Result<(String, bool), ValidateError> {
    let mut verdicts = Vec::new();
    if let Some(src) = &sources.clap_validator {
        let validator = build_clap_validator(root, src)?;
        crate::bundle::run(root, false).map_err(|e| step("building the CLAP bundles", e))?;
        // clap-unsafe/ holds the plugins that crash or hang on purpose.
        for dir in ["target/bundles/clap", "target/bundles/clap-unsafe"] {
            for bundle in bundles(&root.join(dir), "clap")? {
                eprintln!("clap-validator: {}", bundle.display());
                verdicts.extend(validate_clap(&validator, &bundle)?);
            }
        }
    }
    if let Some(src) = &sources.vst3_sdk {
        let validator = build_vst3_validator(root, src)?;
        crate::bundle_vst3::run(root, false).map_err(|e| step("building the VST3 bundles", e))?;
        for bundle in bundles(&root.join("target/bundles/vst3"), "vst3")? {
            eprintln!("VST3 validator: {}", bundle.display());
            verdicts.extend(validate_vst3(&validator, &bundle)?);
        }
    }
    Ok(table(&verdicts))
}

fn step(what: &str, detail: impl std::fmt::Display) -> ValidateError {
    ValidateError::Step {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}

/// The `.clap` files or `.vst3` bundles in `dir` (not below), sorted.
fn bundles(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, ValidateError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| step(&format!("reading {}", dir.display()), e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    Ok(found)
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<(), ValidateError> {
    let status = cmd.status().map_err(|e| step(what, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(step(what, format!("exited with {status}")))
    }
}

/// `cargo build --release` of the clap-validator checkout into
/// `target/validators/clap-validator`; returns the binary.
fn build_clap_validator(root: &Path, src: &Path) -> Result<PathBuf, ValidateError> {
    let manifest = src.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(ValidateError::BadSource(format!(
            "{} has no Cargo.toml: --clap-validator wants a clone of \
             https://github.com/free-audio/clap-validator",
            src.display()
        )));
    }
    let target = root.join("target/validators/clap-validator");
    eprintln!("building clap-validator from {}", src.display());
    run_checked(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "build",
                "--release",
                "--bin",
                "clap-validator",
                "--manifest-path",
            ])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target),
        "building clap-validator",
    )?;
    Ok(target.join("release/clap-validator"))
}

/// Configures (once) and builds the SDK's `validator` target into
/// `target/validators/vst3sdk`; returns the binary.
fn build_vst3_validator(root: &Path, src: &Path) -> Result<PathBuf, ValidateError> {
    let hosting = src.join("public.sdk/samples/vst-hosting/validator");
    if !hosting.is_dir() || !src.join("pluginterfaces").join("base").is_dir() {
        return Err(ValidateError::BadSource(format!(
            "{} is not a VST3 SDK with its submodules: --vst3-sdk wants \
             `git clone --recursive https://github.com/steinbergmedia/vst3sdk`",
            src.display()
        )));
    }
    let build = root.join("target/validators/vst3sdk");
    if !build.join("CMakeCache.txt").is_file() {
        eprintln!("configuring the VST3 SDK from {}", src.display());
        run_checked(
            Command::new("cmake")
                .arg("-S")
                .arg(src)
                .arg("-B")
                .arg(&build)
                .args([
                    "-DCMAKE_BUILD_TYPE=Release",
                    "-DSMTG_ENABLE_VST3_PLUGIN_EXAMPLES=OFF",
                    "-DSMTG_ENABLE_VSTGUI_SUPPORT=OFF",
                    "-DSMTG_RUN_VST_VALIDATOR=OFF",
                    "-DSMTG_CREATE_PLUGIN_LINK=OFF",
                ]),
            "configuring the VST3 SDK (needs cmake, a C++ compiler and, for the SDK's \
             hosting examples, libgtkmm-3.0-dev on Linux)",
        )?;
    }
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    eprintln!("building the VST3 validator");
    run_checked(
        Command::new("cmake")
            .arg("--build")
            .arg(&build)
            .args(["--config", "Release", "--target", "validator", "-j"])
            .arg(jobs.to_string()),
        "building the VST3 validator",
    )?;
    Ok(build.join("bin/Release/validator"))
}

/// Runs clap-validator (out of process, so a crashing plugin is a result)
/// over one file; one verdict per plugin in it.
fn validate_clap(validator: &Path, bundle: &Path) -> Result<Vec<Verdict>, ValidateError> {
    let what = format!("clap-validator on {}", bundle.display());
    let file = bundle
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let run = run_with_timeout(
        Command::new(validator)
            .args(["validate", "--json", "--hide-output"])
            .arg(bundle),
        CLAP_TIMEOUT,
    )
    .map_err(|e| step(&what, e))?;
    let stdout = match run {
        Finished::Exited { stdout, status } if status.success() || !stdout.is_empty() => stdout,
        Finished::Exited { status, .. } => {
            // The validator itself died: a plugin crashing its scan.
            let failed = vec![format!("the validator crashed ({status})")];
            return Ok(vec![Verdict::judge("CLAP", file, 0, failed)]);
        }
        Finished::TimedOut => {
            let failed = vec![format!(
                "timed out: the validator had not finished after {} s",
                CLAP_TIMEOUT.as_secs()
            )];
            return Ok(vec![Verdict::judge("CLAP", file, 0, failed)]);
        }
    };
    let json: serde_json::Value = serde_json::from_slice(&stdout)
        .map_err(|e| step(&what, format!("unreadable JSON ({e})")))?;
    // (plugin id or the file, for library tests) -> (passed, failed names)
    let mut by_plugin: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    let results = json["results"].as_array().cloned().unwrap_or_default();
    for result in &results {
        let (name, plugin) = match (
            &result["test"]["plugin-instance"],
            &result["test"]["plugin-library"],
        ) {
            (inst, _) if inst.is_object() => (
                inst["test"].as_str().unwrap_or("?").to_owned(),
                inst["plugin_id"]
                    .as_str()
                    .or(inst["plugin-id"].as_str())
                    .unwrap_or("?")
                    .to_owned(),
            ),
            (_, lib) => (lib["test"].as_str().unwrap_or("?").to_owned(), file.clone()),
        };
        let status = result["status"]["code"].as_str().unwrap_or("?");
        let entry = by_plugin.entry(plugin).or_default();
        match status {
            // A warning is advice (e.g. a timing ratio of the validator's
            // own making for a plugin this light), not a failed rule.
            "success" | "warning" => entry.0 += 1,
            "skipped" => {}
            other => {
                let details = result["status"]["details"]
                    .as_str()
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                entry.1.push(format!("{name} ({other}: {details})"));
            }
        }
    }
    // Library tests belong to every plugin of the file.
    let library = by_plugin.remove(&file).unwrap_or_default();
    if by_plugin.is_empty() {
        return Ok(vec![Verdict::judge("CLAP", file, library.0, library.1)]);
    }
    Ok(by_plugin
        .into_iter()
        .map(|(plugin, (passed, mut failed))| {
            failed.extend(library.1.iter().cloned());
            Verdict::judge("CLAP", plugin, passed + library.0, failed)
        })
        .collect())
}

/// How long clap-validator may take over one file (its own per-test
/// timeout is 45 s, and it runs tests in parallel).
const CLAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(240);

/// How a child process ended.
enum Finished {
    /// It exited (or was killed by a signal) with this output.
    Exited {
        /// Its status.
        status: std::process::ExitStatus,
        /// All it wrote to stdout.
        stdout: Vec<u8>,
    },
    /// It was still running at the deadline and was killed.
    TimedOut,
}

/// Runs `cmd` (stdout captured, stderr dropped), killing it at `limit`.
fn run_with_timeout(cmd: &mut Command, limit: std::time::Duration) -> std::io::Result<Finished> {
    use std::io::Read as _;
    // Its own process group: clap-validator leaves a test's sandbox
    // process behind when the plugin hangs it; the whole group goes when
    // the validator is done.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let group = child.id();
    let kill_group = || {
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .stderr(std::process::Stdio::null())
            .status();
    };
    let mut pipe = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    });
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            kill_group();
            let stdout = reader.join().unwrap_or_default();
            return Ok(Finished::Exited { status, stdout });
        }
        if std::time::Instant::now() >= deadline {
            kill_group();
            let _ = child.wait();
            return Ok(Finished::TimedOut);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The audio module classes of a VST3 bundle, as (cid, name), read from the
/// validator's class listing.
fn vst3_classes(listing: &str) -> Vec<(String, String)> {
    let mut classes = Vec::new();
    let (mut name, mut category) = (String::new(), String::new());
    for line in listing.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("name = ") {
            name = v.to_owned();
        } else if let Some(v) = line.strip_prefix("category = ") {
            category = v.to_owned();
        } else if let Some(cid) = line.strip_prefix("cid = ") {
            if category == "Audio Module Class" {
                classes.push((cid.to_owned(), name.clone()));
            }
        }
    }
    classes
}

/// Runs the SDK validator over each audio module class of one bundle
/// (`-cid`, so one class crashing the validator spoils nothing else).
fn validate_vst3(validator: &Path, bundle: &Path) -> Result<Vec<Verdict>, ValidateError> {
    let what = format!("the VST3 validator on {}", bundle.display());
    // The class listing comes first in a whole run's output (`-q` would
    // leave it out); a run that crashes later still printed it.
    let listing = Command::new(validator)
        .arg(bundle)
        .output()
        .map_err(|e| step(&what, e))?;
    let mut verdicts = Vec::new();
    for (cid, name) in vst3_classes(&String::from_utf8_lossy(&listing.stdout)) {
        let out = Command::new(validator)
            .args(["-cid", &cid])
            .arg(bundle)
            .output()
            .map_err(|e| step(&what, e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (passed, mut failed) = vst3_tally(&text);
        if !out.status.success() && failed.is_empty() {
            failed.push(format!(
                "validator ended: {} ({})",
                out.status,
                last_error(&text)
            ));
        } else if out.status.code().is_none() {
            failed.push(format!(
                "validator crashed: {} ({})",
                out.status,
                last_error(&text)
            ));
        }
        verdicts.push(Verdict::judge("VST3", name, passed, failed));
    }
    Ok(verdicts)
}

/// (passed, failed test names with their first error) from the SDK
/// validator's output.
fn vst3_tally(text: &str) -> (usize, Vec<String>) {
    let (mut passed, mut failed) = (0, Vec::new());
    let mut current = String::new();
    let mut first_error = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            match line {
                "[Succeeded]" => passed += 1,
                // The SDK prints "[XXXXXXX Failed]".
                l if l.ends_with("Failed]") => failed.push(format!("{current}: {first_error}")),
                _ => {
                    current = line.trim_matches(['[', ']']).to_owned();
                    first_error.clear();
                }
            }
        } else if first_error.is_empty() && line.starts_with("ERROR") {
            first_error = line.to_owned();
        }
    }
    (passed, failed)
}

fn last_error(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| l.contains("ERROR") || l.contains("Failed"))
        .unwrap_or("no error printed")
        .trim()
        .to_owned()
}

/// The table of verdicts, and whether all are as expected.
fn table(verdicts: &[Verdict]) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| format | plugin | passed | failed | expected | verdict |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---|---|");
    for v in verdicts {
        let expected = match v.expected {
            Expectation::Pass => "pass all".to_owned(),
            Expectation::FailWith(words) => format!("fail: {}", words.join("/")),
        };
        let verdict = if v.ok { "as expected" } else { "UNEXPECTED" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            v.format,
            v.plugin,
            v.passed,
            v.failed.len(),
            expected,
            verdict
        );
    }
    for v in verdicts.iter().filter(|v| !v.failed.is_empty()) {
        let _ = writeln!(out, "\n{} {}:", v.format, v.plugin);
        for f in &v.failed {
            let _ = writeln!(out, "  - {f}");
        }
    }
    (out, verdicts.iter().all(|v| v.ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vst3_output_is_tallied_by_test() {
        let text = "[Scan Units]\nInfo: x\n[Succeeded]\n[Parameters]\nERROR: =>Parameter 001: bad\n[XXXXXXX Failed]\n";
        let (passed, failed) = vst3_tally(text);
        assert_eq!(passed, 1);
        assert_eq!(
            failed,
            vec!["Parameters: ERROR: =>Parameter 001: bad".to_owned()]
        );
    }

    #[test]
    fn audio_module_classes_are_listed_and_controllers_skipped() {
        let listing = "  Class Info 0:\n\tname = Ctl\n\tcategory = Component Controller Class\n\tcid = AA\n  Class Info 1:\n\tname = Synth\n\tcategory = Audio Module Class\n\tcid = BB\n";
        assert_eq!(
            vst3_classes(listing),
            vec![("BB".to_owned(), "Synth".to_owned())]
        );
    }

    #[test]
    fn a_bad_plugin_must_fail_and_only_as_named() {
        let nan = || "org.stagerack.test.bad-nan".to_owned();
        let v = Verdict::judge("CLAP", nan(), 3, vec![]);
        assert!(!v.ok, "a Bad plugin that passes everything is unexpected");
        let other = vec!["param-set-wrong-namespace (failed: x)".to_owned()];
        let v = Verdict::judge("CLAP", nan(), 3, other);
        assert!(
            !v.ok,
            "a Bad plugin failing for another reason is unexpected"
        );
        let named = vec!["transport-fuzz (failed: sample 64 is NaN)".to_owned()];
        assert!(
            Verdict::judge("CLAP", nan(), 3, named).ok,
            "failing as named"
        );
        let v = Verdict::judge("VST3", "Stagerack VST3 Crash On Note".into(), 47, vec![]);
        assert!(
            v.ok,
            "the VST3 validator sends no notes: passing is expected"
        );
        let v = Verdict::judge("CLAP", "org.stagerack.test.probe".into(), 40, vec![]);
        assert!(v.ok);
    }
}
