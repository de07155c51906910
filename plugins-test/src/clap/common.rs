//! Pieces the test plugins share: atomics for parameter values, the
//! thread-rule checker, port descriptions and a tiny state format.

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType,
};
use clack_extensions::log::{HostLog, LogSeverity};
use clack_extensions::note_ports::{NoteDialect, NoteDialects, NotePortInfo, NotePortInfoWriter};
use clack_extensions::params::{HostParams, ParamRescanFlags};
use clack_extensions::thread_check::HostThreadCheck;
use clack_plugin::events::spaces::CoreEventSpace;
use clack_plugin::events::UnknownEvent;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::ffi::CStr;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// An `f64` readable and writable from any thread (relaxed ordering: each
/// value stands alone). Any thread.
#[derive(Debug)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// A new atomic holding `value`. Any thread.
    pub fn new(value: f64) -> Self {
        Self(AtomicU64::new(value.to_bits()))
    }

    /// The current value. Any thread.
    pub fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Replaces the value. Any thread.
    pub fn store(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed)
    }
}

/// What a strict plugin checks of its host, with every violation logged
/// loudly and counted.
///
/// - Thread rules, through the host's `clap.thread-check` (when the host does
///   not offer it, nothing is checked and [`HostChecks::thread_checked`]
///   stays false, so a test can tell "no violations" from "never checked").
/// - Lifecycle: `process` only between `start_processing` and
///   `stop_processing`.
/// - Events of each `process` call: times inside the block and in order,
///   parameter events only for ids the plugin lists. Events of another
///   namespace are allowed (and ignored by every plugin here).
///
/// A violation is sent to the host's `clap.log` as
/// `CLAP_LOG_HOST_MISBEHAVING` (stagerack reports those as warnings naming
/// the plugin; its test suite fails on them), or printed to stderr when the
/// host has no log. Messages are static: nothing allocates on the audio
/// thread. Any thread.
pub struct HostChecks<'a> {
    host: HostSharedHandle<'a>,
    thread_check: Option<HostThreadCheck>,
    log: Option<HostLog>,
    violations: AtomicU64,
    thread_checked: AtomicBool,
    processing: AtomicBool,
}

impl<'a> HostChecks<'a> {
    /// Looks up the host's thread-check and log extensions. Main thread
    /// (plugin init).
    pub fn new(host: HostSharedHandle<'a>) -> Self {
        Self {
            thread_check: host.get_extension::<HostThreadCheck>(),
            log: host.get_extension::<HostLog>(),
            host,
            violations: AtomicU64::new(0),
            thread_checked: AtomicBool::new(false),
            processing: AtomicBool::new(false),
        }
    }

    /// Checks that `call` runs on the main thread. Any thread (that is the
    /// point); no allocation, no lock.
    pub fn expect_main(&self, call: &'static CStr) {
        if let Some(check) = &self.thread_check {
            if let Some(on_main) = check.is_main_thread(&self.host) {
                self.thread_checked.store(true, Ordering::Relaxed);
                if !on_main {
                    self.violation(call, c"called off the main thread");
                }
            }
        }
    }

    /// Checks that `call` runs on the audio thread. Any thread; no
    /// allocation, no lock.
    pub fn expect_audio(&self, call: &'static CStr) {
        if let Some(check) = &self.thread_check {
            if let Some(on_audio) = check.is_audio_thread(&self.host) {
                self.thread_checked.store(true, Ordering::Relaxed);
                if !on_audio {
                    self.violation(call, c"called off the audio thread");
                }
            }
        }
    }

    /// `start_processing` was called. Audio thread.
    pub fn start_processing(&self) {
        self.expect_audio(c"start_processing");
        if self.processing.swap(true, Ordering::Relaxed) {
            self.violation(c"start_processing", c"called twice without stop_processing");
        }
    }

    /// `stop_processing` was called. Audio thread.
    pub fn stop_processing(&self) {
        self.expect_audio(c"stop_processing");
        if !self.processing.swap(false, Ordering::Relaxed) {
            self.violation(c"stop_processing", c"called without start_processing");
        }
    }

    /// `deactivate` was called: processing has ended in any case. Main
    /// thread.
    pub fn deactivated(&self) {
        self.expect_main(c"deactivate");
        if self.processing.swap(false, Ordering::Relaxed) {
            self.violation(
                c"deactivate",
                c"called while processing (no stop_processing)",
            );
        }
    }

    /// Checks one `process` call: its thread, that processing was started,
    /// and its input events (times inside the `frames` block and in order,
    /// parameter ids among `params`). Audio thread.
    pub fn process(&self, frames: u32, events: &InputEvents, params: &[ClapId]) {
        self.expect_audio(c"process");
        if !self.processing.load(Ordering::Relaxed) {
            self.violation(c"process", c"called without start_processing");
        }
        let mut last = 0;
        for event in events {
            let time = event.header().time();
            if time < last {
                self.violation(c"process", c"input events out of time order");
            }
            if frames > 0 && time >= frames {
                self.violation(c"process", c"an input event past the end of the block");
            }
            last = last.max(time);
            self.check_param_event(c"process", event, params);
        }
    }

    /// Checks a `flush`'s events: parameter ids among `params`. Any thread
    /// the flush is allowed on.
    pub fn flush(&self, events: &InputEvents, params: &[ClapId]) {
        for event in events {
            self.check_param_event(c"flush", event, params);
        }
    }

    fn check_param_event(&self, call: &'static CStr, event: &UnknownEvent, params: &[ClapId]) {
        let id = match event.as_core_event() {
            Some(CoreEventSpace::ParamValue(e)) => e.param_id(),
            Some(CoreEventSpace::ParamMod(e)) => e.param_id(),
            Some(CoreEventSpace::ParamGestureBegin(e)) => e.param_id(),
            Some(CoreEventSpace::ParamGestureEnd(e)) => e.param_id(),
            _ => return,
        };
        if !id.is_some_and(|id| params.contains(&id)) {
            self.violation(
                call,
                c"a parameter event for an id the plugin does not list",
            );
        }
    }

    /// Counts one violation and reports it. Any thread; static text only.
    pub fn violation(&self, call: &'static CStr, what: &'static CStr) {
        self.violations.fetch_add(1, Ordering::Relaxed);
        match &self.log {
            Some(log) => {
                // "call: what" in a stack buffer: one message, no allocation.
                let mut text = [0u8; 160];
                let mut len = 0;
                for part in [call.to_bytes(), b": ", what.to_bytes()] {
                    let n = part.len().min(text.len() - 1 - len);
                    text[len..len + n].copy_from_slice(&part[..n]);
                    len += n;
                }
                if let Ok(message) = CStr::from_bytes_until_nul(&text) {
                    log.log(&self.host, LogSeverity::HostMisbehaving, message);
                }
            }
            None => {
                // No host log: stderr, unformatted (no allocation).
                use std::io::Write as _;
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(b"stagerack test plugin: the host misbehaves: ");
                let _ = err.write_all(call.to_bytes());
                let _ = err.write_all(b": ");
                let _ = err.write_all(what.to_bytes());
                let _ = err.write_all(b"\n");
            }
        }
    }

    /// How many violations were found so far. Any thread.
    pub fn violations(&self) -> u64 {
        self.violations.load(Ordering::Relaxed)
    }

    /// True once the host answered a thread check. Any thread.
    pub fn thread_checked(&self) -> bool {
        self.thread_checked.load(Ordering::Relaxed)
    }
}

/// Writes the description of one stereo main audio port (id 0, "main").
/// Main thread.
pub fn write_stereo_port(writer: &mut AudioPortInfoWriter) {
    writer.set(&AudioPortInfo {
        id: ClapId::new(0),
        name: b"main",
        channel_count: 2,
        flags: AudioPortFlags::IS_MAIN,
        port_type: Some(AudioPortType::STEREO),
        in_place_pair: None,
    });
}

/// Writes the description of one note input port (id 0, "notes") that
/// prefers CLAP note events and also accepts MIDI 1.0. Main thread.
pub fn write_note_port(writer: &mut NotePortInfoWriter) {
    writer.set(&NotePortInfo {
        id: ClapId::new(0),
        name: b"notes",
        preferred_dialect: Some(NoteDialect::Clap),
        supported_dialects: NoteDialects::CLAP | NoteDialects::MIDI,
    });
}

/// A minimal versioned binary state: a 4-byte tag, then little-endian
/// values. Main thread (state save/load).
pub struct StateWriter<'s, 'o> {
    out: &'s mut OutputStream<'o>,
}

impl<'s, 'o> StateWriter<'s, 'o> {
    /// Starts a state with its 4-byte `tag` (e.g. `b"SRP1"`).
    pub fn new(out: &'s mut OutputStream<'o>, tag: &[u8; 4]) -> Result<Self, PluginError> {
        out.write_all(tag)?;
        Ok(Self { out })
    }

    /// Appends an `f64`.
    pub fn f64(&mut self, value: f64) -> Result<(), PluginError> {
        self.out.write_all(&value.to_le_bytes())?;
        Ok(())
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, value: u64) -> Result<(), PluginError> {
        self.out.write_all(&value.to_le_bytes())?;
        Ok(())
    }
}

/// Reads a state written by [`StateWriter`]. Main thread.
pub struct StateReader<'s, 'i> {
    input: &'s mut InputStream<'i>,
}

impl<'s, 'i> StateReader<'s, 'i> {
    /// Checks the 4-byte `tag`; a state from another plugin or version fails.
    pub fn new(input: &'s mut InputStream<'i>, tag: &[u8; 4]) -> Result<Self, PluginError> {
        let mut found = [0u8; 4];
        input.read_exact(&mut found)?;
        if &found != tag {
            return Err(PluginError::Message(
                "state was not saved by this plugin (wrong tag)",
            ));
        }
        Ok(Self { input })
    }

    /// Reads an `f64`.
    pub fn f64(&mut self) -> Result<f64, PluginError> {
        let mut b = [0u8; 8];
        self.input.read_exact(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, PluginError> {
        let mut b = [0u8; 8];
        self.input.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// Converts a `u64` counter to the `f64` a parameter reports (exact up to
/// 2^53). Any thread.
#[allow(clippy::cast_precision_loss)]
pub fn count_as_value(count: u64) -> f64 {
    count as f64
}

/// Tells the host that parameter values changed outside `process` and
/// `flush` (a state load): `clap.params` rescan of the values, as CLAP asks
/// (a host keeps showing the old ones otherwise). Main thread.
pub fn tell_values_changed(host: &HostMainThreadHandle) {
    if let Some(params) = host.get_extension::<HostParams>() {
        params.rescan(host, ParamRescanFlags::VALUES);
    }
}

/// Flush-to-zero and denormals-are-zero for one `process` call, restored
/// afterwards (as JUCE's `ScopedNoDenormals`): a plugin cannot rely on its
/// host having set them, and denormal input would slow it down many times.
/// Audio thread.
pub struct NoDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl NoDenormals {
    /// Sets FTZ and DAZ on this thread until the guard drops. Audio thread.
    #[must_use]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved: u32 = 0;
            // SAFETY: stmxcsr stores this thread's MXCSR into `saved`, a
            // valid u32 on the stack; nothing else is touched.
            unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack)) };
            let set = saved | 0x8040; // FTZ (bit 15) and DAZ (bit 6)
                                      // SAFETY: ldmxcsr loads a valid MXCSR value (the current one
                                      // with two mode bits set) from a u32 on the stack.
            unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &set, options(nostack, readonly)) };
            Self { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
    }
}

impl Default for NoDenormals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the MXCSR value read in `new` on this thread.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &self.saved, options(nostack, readonly))
        };
    }
}

/// The first `N` little-endian 64-bit words after `tag` of a state a test
/// plugin saved (a `f64` word is read back with `f64::from_bits`); `None`
/// for another tag or a short state. Any thread.
pub fn state_words<const N: usize>(state: &[u8], tag: &[u8; 4]) -> Option<[u64; N]> {
    let rest = state.strip_prefix(tag)?;
    let mut words = [0u64; N];
    for (i, word) in words.iter_mut().enumerate() {
        *word = u64::from_le_bytes(rest.get(i * 8..i * 8 + 8)?.try_into().ok()?);
    }
    Some(words)
}
