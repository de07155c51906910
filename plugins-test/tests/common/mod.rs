//! A small in-process CLAP host for the test plugins, built on clack-host.
//!
//! The "audio thread" is simulated: the harness raises a thread-local flag
//! around `start_processing`/`process`/`stop_processing`, and the host's
//! `clap.thread-check` answers from that flag, so the probe can tell main-
//! from audio-thread calls without a second thread.

#![allow(dead_code)]

use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::state::PluginState;
use clack_extensions::tail::{HostTail, HostTailImpl, PluginTail, TailLength};
use clack_extensions::thread_check::{HostThreadCheck, HostThreadCheckImpl};
use clack_host::events::event_types::{MidiEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent};
use clack_host::events::Match;
use clack_host::prelude::*;
use clack_plugin::entry::{DefaultPluginFactory, SinglePluginEntry};
use std::cell::Cell;
use std::ffi::CString;
use std::sync::atomic::{AtomicU32, Ordering};

/// Any allocation inside `as_audio` aborts the test (debug builds), as in
/// stagerack's own tests: the plugins must not allocate on the audio thread.
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

thread_local! {
    static ON_AUDIO: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` while the current thread counts as the audio thread, with
/// allocation forbidden.
pub fn as_audio<T>(f: impl FnOnce() -> T) -> T {
    ON_AUDIO.with(|a| a.set(true));
    let out = assert_no_alloc::assert_no_alloc(f);
    ON_AUDIO.with(|a| a.set(false));
    out
}

pub struct TestShared {
    pub restarts: AtomicU32,
    pub thread_check: bool,
}

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

impl HostThreadCheckImpl for TestShared {
    fn is_main_thread(&self) -> bool {
        !ON_AUDIO.with(Cell::get)
    }
    fn is_audio_thread(&self) -> bool {
        ON_AUDIO.with(Cell::get)
    }
}

pub struct TestMainThread {
    pub latency_changed: Cell<u32>,
}

impl MainThreadHandler<'_> for TestMainThread {}

impl HostLatencyImpl for TestMainThread {
    fn changed(&self) {
        self.latency_changed.set(self.latency_changed.get() + 1);
    }
}

#[derive(Default)]
pub struct TestAudio {
    pub tail_changed: u32,
}
impl AudioProcessorHandler<'_> for TestAudio {}

impl HostTailImpl for TestAudio {
    fn changed(&mut self) {
        self.tail_changed += 1;
    }
}

pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = TestMainThread;
    type AudioProcessor<'a> = TestAudio;

    fn declare_extensions(builder: &mut HostExtensions<Self>, shared: &TestShared) {
        if shared.thread_check {
            builder.register::<HostThreadCheck>();
        }
        builder.register::<HostLatency>().register::<HostTail>();
    }
}

/// One input event at an absolute frame of a render.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    NoteOn { at: u32, key: u16, velocity: f64 },
    NoteOff { at: u32, key: u16 },
    Midi { at: u32, data: [u8; 3] },
    Param { at: u32, id: u32, value: f64 },
}

impl Ev {
    fn at(&self) -> u32 {
        match *self {
            Ev::NoteOn { at, .. }
            | Ev::NoteOff { at, .. }
            | Ev::Midi { at, .. }
            | Ev::Param { at, .. } => at,
        }
    }

    fn push_into(&self, buf: &mut EventBuffer, offset: u32) {
        let t = self.at() - offset;
        match *self {
            Ev::NoteOn { key, velocity, .. } => buf.push(&NoteOnEvent::new(
                t,
                Pckn::new(0u16, 0u16, key, Match::All),
                velocity,
            )),
            Ev::NoteOff { key, .. } => buf.push(&NoteOffEvent::new(
                t,
                Pckn::new(0u16, 0u16, key, Match::All),
                0.0,
            )),
            Ev::Midi { data, .. } => buf.push(&MidiEvent::new(t, 0, data)),
            Ev::Param { id, value, .. } => buf.push(&ParamValueEvent::new(
                t,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            )),
        }
    }
}

pub const SAMPLE_RATE: f64 = 48_000.0;

/// A plugin instance hosted in-process.
pub struct Hosted {
    pub instance: PluginInstance<TestHost>,
    pub processor: Option<StartedPluginAudioProcessor<TestHost>>,
    pub max_block: u32,
    /// Process status of each block of the last render.
    pub statuses: Vec<ProcessStatus>,
    _entry: PluginEntry,
}

pub fn entry_of<P: DefaultPluginFactory>() -> PluginEntry {
    PluginEntry::load_from_clack::<SinglePluginEntry<P>>(c"").expect("load entry")
}

/// Instantiates plugin `id` from `entry` (with thread-check offered).
pub fn instantiate(entry: PluginEntry, id: &str) -> Result<Hosted, PluginInstanceError> {
    instantiate_with(entry, id, true)
}

pub fn instantiate_with(
    entry: PluginEntry,
    id: &str,
    thread_check: bool,
) -> Result<Hosted, PluginInstanceError> {
    let info = HostInfo::new("stagerack-plugins-test", "stagerack", "", "0.1").unwrap();
    let id = CString::new(id).unwrap();
    let instance = PluginInstance::<TestHost>::new(
        move |_| TestShared {
            restarts: AtomicU32::new(0),
            thread_check,
        },
        |_| TestMainThread {
            latency_changed: Cell::new(0),
        },
        &entry,
        &id,
        &info,
    )?;
    Ok(Hosted {
        instance,
        processor: None,
        max_block: 0,
        statuses: Vec::new(),
        _entry: entry,
    })
}

pub fn load<P: DefaultPluginFactory>(id: &str) -> Hosted {
    instantiate(entry_of::<P>(), id).expect("instantiate")
}

impl Hosted {
    /// Activates with blocks of up to `max_block` frames and starts processing.
    pub fn start(&mut self, max_block: u32) {
        let config = PluginAudioConfiguration {
            sample_rate: SAMPLE_RATE,
            min_frames_count: 1,
            max_frames_count: max_block,
        };
        let stopped = self
            .instance
            .activate(|_, _| TestAudio::default(), config)
            .expect("activate");
        let started = as_audio(|| stopped.start_processing()).expect("start_processing");
        self.processor = Some(started);
        self.max_block = max_block;
    }

    /// Stops processing and deactivates.
    pub fn stop(&mut self) {
        if let Some(started) = self.processor.take() {
            let stopped = as_audio(|| started.stop_processing());
            self.instance.deactivate(stopped);
        }
    }

    /// Renders `frames` frames in blocks of `block` frames with `events`
    /// (absolute frame times, sorted) and stereo `input` (or silence).
    /// Returns the two output channels.
    pub fn render(
        &mut self,
        frames: usize,
        block: usize,
        events: &[Ev],
        input: Option<&[Vec<f32>; 2]>,
    ) -> [Vec<f32>; 2] {
        let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
        let mut in_bufs = [vec![0.0f32; block], vec![0.0f32; block]];
        let mut out_bufs = [vec![0.0f32; block], vec![0.0f32; block]];
        let mut in_events = EventBuffer::with_capacity(64);
        let mut out_events = EventBuffer::with_capacity(64);
        let mut in_ports = AudioPorts::with_capacity(2, 1);
        let mut out_ports = AudioPorts::with_capacity(2, 1);
        self.statuses.clear();
        let mut start = 0;
        while start < frames {
            let n = block.min(frames - start);
            in_events.clear();
            out_events.clear();
            for ev in events {
                let at = ev.at() as usize;
                if at >= start && at < start + n {
                    ev.push_into(&mut in_events, start as u32);
                }
            }
            for ch in 0..2 {
                in_bufs[ch].resize(n, 0.0);
                out_bufs[ch].resize(n, 0.0);
                out_bufs[ch].fill(0.0);
                match input {
                    Some(input) => in_bufs[ch].copy_from_slice(&input[ch][start..start + n]),
                    None => in_bufs[ch].fill(0.0),
                }
            }
            let inputs = in_ports.with_input_buffers([AudioPortBuffer {
                channels: AudioPortBufferType::f32_input_only(
                    in_bufs.iter_mut().map(InputChannel::variable),
                ),
                latency: 0,
            }]);
            let mut outputs = out_ports.with_output_buffers([AudioPortBuffer {
                channels: AudioPortBufferType::f32_output_only(
                    out_bufs.iter_mut().map(|b| b.as_mut_slice()),
                ),
                latency: 0,
            }]);
            let processor = self.processor.as_mut().expect("started");
            let status = as_audio(|| {
                processor.process(
                    &inputs,
                    &mut outputs,
                    &in_events.as_input(),
                    &mut out_events.as_output(),
                    None,
                    None,
                )
            })
            .expect("process");
            self.statuses.push(status);
            for ch in 0..2 {
                out[ch][start..start + n].copy_from_slice(&out_bufs[ch]);
            }
            start += n;
        }
        out
    }

    pub fn param(&mut self, id: u32) -> f64 {
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>().expect("params ext");
        params
            .get_value(&handle, ClapId::new(id))
            .expect("param value")
    }

    /// The plugin's text for `value` of parameter `id`.
    pub fn param_text(&mut self, id: u32, value: f64) -> Option<String> {
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>().expect("params ext");
        let mut buf = [0u8; 128];
        params
            .value_to_text(&handle, ClapId::new(id), value, &mut buf)
            .ok()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The plugin's value for `text` of parameter `id`.
    pub fn param_from_text(&mut self, id: u32, text: &str) -> Option<f64> {
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>().expect("params ext");
        let text = CString::new(text).unwrap();
        params.text_to_value(&handle, ClapId::new(id), &text)
    }

    /// (id, name, min, max, default) of every parameter.
    pub fn param_infos(&mut self) -> Vec<(u32, String, f64, f64, f64)> {
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>().expect("params ext");
        let mut buf = ParamInfoBuffer::new();
        (0..params.count(&handle))
            .map(|i| {
                let info = params.get_info(&handle, i, &mut buf).expect("info");
                (
                    info.id.get(),
                    String::from_utf8_lossy(info.name).into_owned(),
                    info.min_value,
                    info.max_value,
                    info.default_value,
                )
            })
            .collect()
    }

    /// Sets parameters through `params.flush` (inactive: main thread;
    /// active: the audio-thread flush).
    pub fn flush_params(&mut self, values: &[(u32, f64)]) {
        let mut in_events = EventBuffer::with_capacity(8);
        for &(id, value) in values {
            in_events.push(&ParamValueEvent::new(
                0,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            ));
        }
        let mut out_events = EventBuffer::with_capacity(8);
        if let Some(processor) = self.processor.as_mut() {
            let mut handle = processor.plugin_handle();
            let params = handle.get_extension::<PluginParams>().expect("params ext");
            as_audio(|| {
                params.flush_active(
                    &mut handle,
                    &in_events.as_input(),
                    &mut out_events.as_output(),
                )
            });
        } else {
            let ext = self
                .instance
                .plugin_handle()
                .get_extension::<PluginParams>()
                .expect("params ext");
            let mut handle = self.instance.inactive_plugin_handle().expect("inactive");
            ext.flush(
                &mut handle,
                &in_events.as_input(),
                &mut out_events.as_output(),
            );
        }
    }

    pub fn save(&mut self) -> Vec<u8> {
        let handle = self.instance.plugin_handle();
        let state = handle.get_extension::<PluginState>().expect("state ext");
        let mut bytes = Vec::new();
        state.save(&handle, &mut bytes).expect("save");
        bytes
    }

    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        let handle = self.instance.plugin_handle();
        let state = handle.get_extension::<PluginState>().expect("state ext");
        state.load(&handle, &mut &bytes[..]).is_ok()
    }

    pub fn latency(&mut self) -> u32 {
        let handle = self.instance.plugin_handle();
        let ext = handle
            .get_extension::<PluginLatency>()
            .expect("latency ext");
        ext.get(&handle)
    }

    pub fn tail(&mut self) -> TailLength {
        let processor = self.processor.as_mut().expect("active");
        let handle = processor.plugin_handle();
        let ext = handle.get_extension::<PluginTail>().expect("tail ext");
        ext.get(&handle)
    }

    pub fn tail_changed(&self) -> u32 {
        let processor = self.processor.as_ref().expect("active");
        processor.access_handler(|a| a.tail_changed)
    }

    pub fn restarts(&self) -> u32 {
        self.instance
            .access_shared_handler(|s| s.restarts.load(Ordering::Relaxed))
    }

    pub fn latency_changed(&self) -> u32 {
        self.instance.access_handler(|m| m.latency_changed.get())
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        self.stop();
    }
}
