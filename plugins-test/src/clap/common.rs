//! Pieces the test plugins share: atomics for parameter values, the
//! thread-rule checker, port descriptions and a tiny state format.

use clack_extensions::audio_ports::{
    AudioPortFlags, AudioPortInfo, AudioPortInfoWriter, AudioPortType,
};
use clack_extensions::note_ports::{NoteDialect, NoteDialects, NotePortInfo, NotePortInfoWriter};
use clack_extensions::thread_check::HostThreadCheck;
use clack_plugin::prelude::*;
use clack_plugin::stream::{InputStream, OutputStream};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Checks CLAP's thread rules through the host's `clap.thread-check`
/// extension and counts every call made on the wrong thread.
///
/// When the host does not offer the extension, or its functions are null,
/// nothing is checked and [`ThreadRules::checks`] stays 0, so a test can tell
/// "no violations" from "never checked". Any thread.
pub struct ThreadRules<'a> {
    host: HostSharedHandle<'a>,
    check: Option<HostThreadCheck>,
    violations: AtomicU64,
    checks: AtomicU64,
}

impl<'a> ThreadRules<'a> {
    /// Looks up the host's thread-check extension. Main thread (plugin init).
    pub fn new(host: HostSharedHandle<'a>) -> Self {
        Self {
            check: host.get_extension::<HostThreadCheck>(),
            host,
            violations: AtomicU64::new(0),
            checks: AtomicU64::new(0),
        }
    }

    /// Records that the caller must be on the main thread. Any thread
    /// (that is the point); no allocation, no lock.
    pub fn expect_main(&self) {
        if let Some(check) = &self.check {
            if let Some(on_main) = check.is_main_thread(&self.host) {
                self.record(on_main);
            }
        }
    }

    /// Records that the caller must be on the audio thread. Any thread;
    /// no allocation, no lock.
    pub fn expect_audio(&self) {
        if let Some(check) = &self.check {
            if let Some(on_audio) = check.is_audio_thread(&self.host) {
                self.record(on_audio);
            }
        }
    }

    fn record(&self, ok: bool) {
        self.checks.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.violations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many calls ran on the wrong thread so far. Any thread.
    pub fn violations(&self) -> u64 {
        self.violations.load(Ordering::Relaxed)
    }

    /// How many thread checks the host answered so far. Any thread.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
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
