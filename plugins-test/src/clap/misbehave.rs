//! Plugins that misbehave on the audio thread, for the host's safety nets.
//! Each is a stereo effect passing its input through except for what it
//! does wrong (`Stagerack Bad <What>`, id `org.stagerack.test.bad-<what>`):
//!
//! - `Panic`: panics in process.
//! - `Error`: returns an error from process.
//! - `Alloc`: allocates (and frees) a buffer in every process call.
//! - `NaN`: passes 4800 frames, then outputs NaN and infinities.
//! - `DC`: outputs full-scale DC (+1.0) instead of its input.
//! - `Latency`: reports 10 seconds of latency (480 000 frames at 48 kHz).
//! - `Slow`: busy-waits three times the block's duration in every call.
//!
//! One generic plugin, [`Misbehave`], with the behaviour as a const
//! parameter; `bundles/stagerack_bad_*.rs` export one each.

use std::time::{Duration, Instant};

use super::bad::BadMainThread;
use clack_extensions::audio_ports::PluginAudioPorts;
use clack_extensions::latency::{PluginLatency, PluginLatencyImpl};
use clack_plugin::prelude::*;

/// Panics in process.
pub const PANIC: u8 = 0;
/// Returns an error from process.
pub const ERROR: u8 = 1;
/// Allocates in process.
pub const ALLOC: u8 = 2;
/// NaN and infinities after 4800 frames.
pub const NAN: u8 = 3;
/// Full-scale DC.
pub const DC: u8 = 4;
/// Ten seconds of reported latency.
pub const LATENCY: u8 = 5;
/// Three block durations of busy work per call.
pub const SLOW: u8 = 6;

/// Frames `NaN` passes before its output goes bad.
pub const NAN_AFTER: u64 = 4800;
/// The latency `Latency` reports, in frames.
pub const HUGE_LATENCY: u32 = 480_000;

/// (id, display name) of each behaviour.
pub const fn names(mode: u8) -> (&'static str, &'static str) {
    match mode {
        PANIC => ("org.stagerack.test.bad-panic", "Stagerack Bad Panic"),
        ERROR => ("org.stagerack.test.bad-error", "Stagerack Bad Error"),
        ALLOC => ("org.stagerack.test.bad-alloc", "Stagerack Bad Alloc"),
        NAN => ("org.stagerack.test.bad-nan", "Stagerack Bad NaN"),
        DC => ("org.stagerack.test.bad-dc", "Stagerack Bad DC"),
        LATENCY => ("org.stagerack.test.bad-latency", "Stagerack Bad Latency"),
        _ => ("org.stagerack.test.bad-slow", "Stagerack Bad Slow"),
    }
}

/// A misbehaving stereo effect; `MODE` says how. See the module docs.
pub struct Misbehave<const MODE: u8>;

/// The audio side: frames processed so far and the sample rate.
pub struct MisbehaveAudio<const MODE: u8> {
    frames: u64,
    rate: f64,
    /// `Alloc`'s per-call buffer size.
    scratch_len: usize,
}

impl<'a, const MODE: u8> PluginAudioProcessor<'a, (), BadMainThread> for MisbehaveAudio<MODE> {
    fn activate(
        _host: HostAudioProcessorHandle<'a>,
        _main_thread: &BadMainThread,
        _shared: &'a (),
        audio_config: PluginAudioConfiguration,
    ) -> Result<Self, PluginError> {
        Ok(Self {
            frames: 0,
            rate: audio_config.sample_rate,
            scratch_len: audio_config.max_frames_count as usize,
        })
    }

    fn process(
        &mut self,
        _process: Process,
        mut audio: Audio,
        _events: Events,
    ) -> Result<ProcessStatus, PluginError> {
        let _no_denormals = super::common::NoDenormals::new();
        let n = audio.frames_count() as usize;
        let start = self.frames;
        self.frames += n as u64;
        match MODE {
            // An unwind without the panic hook: the same panic for the
            // wrapper to catch, without a message and backtrace that
            // would be the first panic a reader of a test log finds.
            PANIC => std::panic::resume_unwind(Box::new(
                "Stagerack Bad Panic panics in process (on purpose)",
            )),
            ERROR => {
                return Err(PluginError::Message(
                    "Stagerack Bad Error fails in process (on purpose)",
                ))
            }
            SLOW => {
                let busy = Duration::from_secs_f64(3.0 * n as f64 / self.rate);
                let until = Instant::now() + busy;
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
            _ => {}
        }
        // An allocation and a free on the audio thread, every call.
        let scratch: Option<Vec<f32>> = (MODE == ALLOC).then(|| vec![0.0; self.scratch_len.max(n)]);
        let mut pair = audio
            .port_pair(0)
            .ok_or(PluginError::Message("misbehave: no audio ports"))?;
        let mut channels = pair
            .channels()
            .map_err(|_| PluginError::Message("misbehave: bad audio buffers"))?
            .into_f32()
            .ok_or(PluginError::Message("misbehave: expected f32 buffers"))?;
        for pair in channels.iter_mut() {
            let out: &mut [f32] = match pair {
                ChannelPair::InputOnly(_) => continue,
                ChannelPair::OutputOnly(out) => {
                    out.fill(0.0);
                    out
                }
                ChannelPair::InPlace(buf) => buf,
                ChannelPair::InputOutput(input, out) => {
                    out.copy_from_slice(input);
                    out
                }
            };
            match MODE {
                DC => out.fill(1.0),
                NAN => {
                    for (i, x) in out.iter_mut().enumerate() {
                        if start + i as u64 >= NAN_AFTER {
                            *x = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
                        }
                    }
                }
                _ => {}
            }
            if let Some(s) = &scratch {
                out[0] += s[0];
            }
        }
        Ok(ProcessStatus::Continue)
    }
}

impl PluginLatencyImpl for BadMainThread {
    fn get(&self) -> u32 {
        HUGE_LATENCY
    }
}

impl<const MODE: u8> Plugin for Misbehave<MODE> {
    type AudioProcessor<'a> = MisbehaveAudio<MODE>;
    type Shared<'a> = ();
    type MainThread<'a> = BadMainThread;

    fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&()>) {
        builder.register::<PluginAudioPorts>();
        if MODE == LATENCY {
            builder.register::<PluginLatency>();
        }
    }
}

impl<const MODE: u8> DefaultPluginFactory for Misbehave<MODE> {
    fn get_descriptor() -> PluginDescriptor {
        use clack_plugin::plugin::features::*;
        let (id, name) = names(MODE);
        PluginDescriptor::new(id, name)
            .with_vendor("stagerack")
            .with_version("1.0.0")
            .with_description("Test plugin that misbehaves on purpose")
            .with_features([AUDIO_EFFECT, STEREO])
    }

    fn new_shared(_host: HostSharedHandle<'_>) -> Result<(), PluginError> {
        Ok(())
    }

    fn new_main_thread<'a>(
        _host: HostMainThreadHandle<'a>,
        _shared: &'a (),
    ) -> Result<BadMainThread, PluginError> {
        Ok(BadMainThread)
    }
}

/// `Stagerack Bad Crash` (`org.stagerack.test.bad-crash`): crashes (a
/// write through a null pointer, SIGSEGV) as soon as a host loads its
/// factory. Bundled apart (`target/bundles/clap-unsafe/`).
pub struct BadCrash;

/// `Stagerack Bad Hang` (`org.stagerack.test.bad-hang`): never returns
/// from loading its factory. Bundled apart like [`BadCrash`].
pub struct BadHang;

macro_rules! unloadable {
    ($ty:ty, $id:literal, $name:literal, $body:block) => {
        impl Plugin for $ty {
            type AudioProcessor<'a> = MisbehaveAudio<PANIC>;
            type Shared<'a> = ();
            type MainThread<'a> = BadMainThread;

            fn declare_extensions(builder: &mut PluginExtensions<Self>, _shared: Option<&()>) {
                builder.register::<PluginAudioPorts>();
            }
        }

        impl DefaultPluginFactory for $ty {
            fn get_descriptor() -> PluginDescriptor {
                $body
                PluginDescriptor::new($id, $name)
            }

            fn new_shared(_host: HostSharedHandle<'_>) -> Result<(), PluginError> {
                Ok(())
            }

            fn new_main_thread<'a>(
                _host: HostMainThreadHandle<'a>,
                _shared: &'a (),
            ) -> Result<BadMainThread, PluginError> {
                Ok(BadMainThread)
            }
        }
    };
}

unloadable!(
    BadCrash,
    "org.stagerack.test.bad-crash",
    "Stagerack Bad Crash",
    {
        // SAFETY: none — a deliberate crash for the host's crash handling; the
        // write through a null pointer faults before anything else happens.
        unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
    }
);

unloadable!(
    BadHang,
    "org.stagerack.test.bad-hang",
    "Stagerack Bad Hang",
    {
        // Forever, as far as any host can tell.
        while std::hint::black_box(true) {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
);
