//! stagerack's VST3 test plugins, written with the `vst3` crate.
//!
//! - **Stagerack VST3 Probe** (instrument): writes an impulse of height
//!   `velocity × level` on both channels at the exact `sampleOffset` of every
//!   note-on, silence elsewhere. Parameter `level` (id 0, normalized 0..=1,
//!   default 1) changes at the exact sample of each queue point (a step, no
//!   ramp). State: `level` as f64 LE. Its controller is a SEPARATE class
//!   connected through `IConnectionPoint`: on `connect` the controller sends
//!   a `hello` message (made with the host's `IHostApplication::createInstance`)
//!   and the component refuses `setActive(true)` until it has heard it, so a
//!   host that does not connect the two cannot run it. `setupProcessing`
//!   refuses sample rates above 200 kHz (a failure hosts can provoke), and
//!   `setState` refuses a level outside 0..=1. Every note-on is echoed on
//!   its event output bus, same sample, an octave up at half velocity, for
//!   hosts to pass on to the next plugin. Its controller has factory
//!   programs through `IUnitInfo` (one list, id 7: "Quiet", "Half",
//!   "Full") and a hidden `kIsProgramChange` parameter (id 1, 2 steps,
//!   default "Full") whose value strings say only "#N"; selecting a
//!   program sets the controller's `level` to 0.25, 0.5 or 1. Its programs
//!   name two keys (`IUnitInfo` pitch names: 36 "Kick", 38 "Snare"), and
//!   its `IKeyswitchController` offers two articulations on bus 0 of every
//!   channel: "Sustain" on key 24 and "Staccato" on keys 26..=27. Its
//!   component takes program data of list 7 (`IProgramListData`: the
//!   level as f64 LE), which becomes its level at once. Its controller's
//!   `INoteExpressionController` offers tuning and brightness on bus 0;
//!   a `NoteExpressionValueEvent` for a sounding note (by the id its
//!   note-on carried) adds an impulse of `semitones / 128` (tuning, VST3's
//!   0.5 = none, ±120 semitones) or `0.25 + value / 2` (brightness) at its
//!   offset; an id no sounding note has is ignored. Its `IUnitInfo` has
//!   two units: the root (id 0, with the program list) and "Output" (id 1,
//!   parent 0), the unit of `level`.
//! - **Stagerack VST3 Gain** (effect, single component: the component is its
//!   own controller): parameter `gain` (id 0). Normalized `n` maps to
//!   `-60 + 72·n` dB (so 0 dB is `n = 60/72`, the default), applied from the
//!   exact sample of each queue point. `IMidiMapping` maps CC7, CC64,
//!   channel aftertouch and pitch bend (any channel) to `gain`. State: `n`
//!   as f64 LE. Parameter `latency` (id 1, 0..=1000 samples, stepped): the
//!   latency it reports; a new value makes the controller call
//!   `restartComponent(kLatencyChanged)` (reported only, not applied).
//! - **Stagerack VST3 Bad Initialize** / **Bad Activate** / **Bad
//!   Process**: the gain, refusing `initialize` / `setActive(true)` /
//!   every `process` call (`kResultFalse`), for hosts' error paths.
//! - **Stagerack VST3 Sliced Probe**: the probe losing events at non-zero
//!   multiples of 16 frames, as the SDK's sample instruments do.
//! - **Stagerack VST3 Crash On Note**: the probe that segfaults, aborts or
//!   hangs inside `process` on a note-on of key 1, 2 or 3 (for sandboxes).
//! - **Stagerack VST3 Two Out**: two stereo output buses, "Output" and the
//!   aux bus "Kick" (inactive by default): an impulse of `velocity` left
//!   and `velocity / 2` right on "Output" for every note-on but key 36;
//!   key 36 plays a kick (`velocity × 0.999^k` left, half that right, for
//!   4800 frames) on "Kick" while the host has activated it, else on
//!   "Output" (as drum plugins do).
//!
//! One binary serves every bundle: the factory looks at its own file name
//! and offers the Probe classes from `Stagerack VST3 Probe.so`, the Gain
//! class from `Stagerack VST3 Gain.so`, the Bad classes (with the sliced,
//! crashing and two-output probes) from `Stagerack VST3 Bad.so` (all when
//! the name says none of these).
//!
//! The probe's controller has an editor (`createView("editor")`, Linux
//! X11 only, see `view.rs`): a level bar in a child window of the host's.
//!
//! Every entry point from the host runs inside `catch_unwind`.

#![allow(non_snake_case)]

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{uid, Class, ComPtr, ComRef, ComWrapper, Interface};

#[cfg(target_os = "linux")]
mod view;

const PROBE_CID: TUID = uid(0x53524B56, 0x33505242, 0x00000000, 0x00000001);
const PROBE_CTRL_CID: TUID = uid(0x53524B56, 0x33505242, 0x00000000, 0x00000002);
const GAIN_CID: TUID = uid(0x53524B56, 0x3347414E, 0x00000000, 0x00000001);
/// The gain, refusing `initialize` (bundle `Stagerack VST3 Bad`).
const BAD_INIT_CID: TUID = uid(0x53524B56, 0x33424144, 0x00000000, 0x00000001);
/// The gain, refusing `setActive(true)` (bundle `Stagerack VST3 Bad`).
const BAD_ACTIVATE_CID: TUID = uid(0x53524B56, 0x33424144, 0x00000000, 0x00000002);
/// The gain, failing every `process` call (bundle `Stagerack VST3 Bad`).
const BAD_PROCESS_CID: TUID = uid(0x53524B56, 0x33424144, 0x00000000, 0x00000003);

/// The probe as the VST3 SDK's sample instruments (mda JX10, DX10, Piano,
/// EPiano) process: in 16-frame slices, losing every event whose offset is
/// a non-zero multiple of 16 (the SDK's `SampleAccurateBaseProcessor` hands
/// an event at a slice's end to that slice, whose voice loop then never
/// reaches it). A host must still make every note sound (bundle
/// `Stagerack VST3 Bad`).
const SLICED_CID: TUID = uid(0x53524B56, 0x33505242, 0x00000000, 0x00000003);
/// The SDK sample's slice length, frames.
const SDK_SLICE: i32 = 16;

/// The probe that goes wrong inside `process` on trigger notes, for hosts'
/// sandboxes: a note-on of key 1 writes through a null pointer (SIGSEGV),
/// key 2 aborts (SIGABRT), key 3 never returns; other notes play as the
/// probe's (bundle `Stagerack VST3 Bad`).
const CRASH_CID: TUID = uid(0x53524B56, 0x33505242, 0x00000000, 0x00000004);
/// **Stagerack VST3 Two Out**: the probe's contract for every key but
/// [`KICK_KEY`], with the right channel at half height; [`KICK_KEY`] plays
/// a decaying kick (`velocity × 0.999^k` left, half that right, for
/// [`KICK_FRAMES`] frames from its note-on) on its second audio output bus
/// "Kick" (an aux bus, inactive by default) while the host has activated
/// that bus, else on the main bus, as drum plugins do.
const TWO_OUT_CID: TUID = uid(0x53524B56, 0x33505242, 0x00000000, 0x00000005);
/// The key the two-output probe plays on its "Kick" bus.
const KICK_KEY: i16 = 36;
/// How long its kick lasts, in frames.
const KICK_FRAMES: u32 = 4800;

/// Goes wrong as key `pitch` asks (see [`CRASH_CID`]). Audio thread.
fn crash_on(pitch: i16) {
    match pitch {
        1 => {
            // SAFETY: none: this write through a null pointer is the crash
            // the test wants (SIGSEGV).
            unsafe { std::ptr::write_volatile(std::ptr::null_mut::<u64>(), 1) };
        }
        2 => std::process::abort(),
        3 => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        _ => {}
    }
}

const GAIN_DEFAULT: f64 = 60.0 / 72.0;

fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

fn copy_cstring(src: &str, dst: &mut [c_char]) {
    let n = src.len().min(dst.len() - 1);
    for (d, s) in dst.iter_mut().zip(src.bytes().take(n)) {
        *d = s as c_char;
    }
    dst[n] = 0;
}

fn copy_wstring(src: &str, dst: &mut [TChar]) {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(src.encode_utf16()) {
        *d = s;
        n += 1;
    }
    let end = n.min(dst.len() - 1);
    dst[end] = 0;
}

fn load_f64(a: &AtomicU64) -> f64 {
    f64::from_bits(a.load(Ordering::Relaxed))
}

fn store_f64(a: &AtomicU64, v: f64) {
    a.store(v.to_bits(), Ordering::Relaxed);
}

fn read_f64(stream: *mut IBStream) -> Option<f64> {
    // SAFETY: a possibly-null stream from the host, checked by from_raw.
    let s = unsafe { ComRef::from_raw(stream) }?;
    let mut buf = [0u8; 8];
    let mut read = 0;
    // SAFETY: `buf` holds 8 bytes.
    let r = unsafe { s.read(buf.as_mut_ptr() as *mut c_void, 8, &mut read) };
    (r == kResultOk && read == 8).then(|| f64::from_le_bytes(buf))
}

fn write_f64(stream: *mut IBStream, v: f64) -> tresult {
    // SAFETY: a possibly-null stream from the host, checked by from_raw.
    let Some(s) = (unsafe { ComRef::from_raw(stream) }) else {
        return kInvalidArgument;
    };
    let mut buf = v.to_le_bytes();
    let mut written = 0;
    // SAFETY: `buf` holds 8 bytes.
    let r = unsafe { s.write(buf.as_mut_ptr() as *mut c_void, 8, &mut written) };
    if r == kResultOk && written == 8 {
        kResultOk
    } else {
        kResultFalse
    }
}

/// The last point of parameter 0 at or before `offset`, scanning `points`
/// (sorted) from `*next`.
fn advance(points: &[(i32, f64)], next: &mut usize, offset: i32, value: &mut f64) {
    while *next < points.len() && points[*next].0 <= offset {
        *value = points[*next].1;
        *next += 1;
    }
}

/// Copies the points that set `level` into a fixed array (at most 64
/// kept), sorted by offset: parameter 0's own, and the program-change
/// parameter's as the level of the program they select (the processor
/// loads a program itself, as VST3 asks).
fn param0_points(data: &ProcessData, out: &mut [(i32, f64); 64]) -> usize {
    // SAFETY: a possibly-null pointer from the host.
    let Some(changes) = (unsafe { ComRef::from_raw(data.inputParameterChanges) }) else {
        return 0;
    };
    let mut n = 0;
    // SAFETY: plain calls on the host's list during process.
    unsafe {
        for i in 0..changes.getParameterCount() {
            let Some(q) = ComRef::from_raw(changes.getParameterData(i)) else {
                continue;
            };
            let id = q.getParameterId();
            if id != 0 && id != PROGRAM_PARAM {
                continue;
            }
            for p in 0..q.getPointCount() {
                let (mut o, mut v) = (0, 0.0);
                if q.getPoint(p, &mut o, &mut v) == kResultOk && n < out.len() {
                    if id == PROGRAM_PARAM {
                        v = PROGRAMS[program_index(v)].1;
                    }
                    out[n] = (o, v);
                    n += 1;
                }
            }
        }
    }
    // In place, no allocation (the audio thread).
    out[..n].sort_unstable_by_key(|p| p.0);
    n
}

/// The (left, right) output channels of bus 0, if stereo.
///
/// # Safety
/// `data` comes from the host's process call.
unsafe fn stereo(
    buses: *mut AudioBusBuffers,
    count: i32,
    frames: usize,
) -> Option<(&'static mut [f32], &'static mut [f32])> {
    if buses.is_null() || count < 1 {
        return None;
    }
    // SAFETY: the host passes `count` ≥ 1 buses.
    let bus = unsafe { &*buses };
    if bus.numChannels < 2 {
        return None;
    }
    // SAFETY: a stereo bus has two channel pointers of `frames` samples.
    unsafe {
        let ch = bus.__field0.channelBuffers32;
        if ch.is_null() || (*ch).is_null() || (*ch.add(1)).is_null() {
            return None;
        }
        Some((
            std::slice::from_raw_parts_mut(*ch, frames),
            std::slice::from_raw_parts_mut(*ch.add(1), frames),
        ))
    }
}

fn host_message(
    host: &Mutex<Option<ComPtr<IHostApplication>>>,
    id: &CStr,
) -> Option<ComPtr<IMessage>> {
    let host = host.lock().ok()?.clone()?;
    let mut iid = IMessage::IID;
    let mut obj: *mut c_void = std::ptr::null_mut();
    // SAFETY: valid ids and out-pointer.
    let r = unsafe {
        host.createInstance(
            iid.as_mut_ptr() as *mut TUID,
            iid.as_mut_ptr() as *mut TUID,
            &mut obj,
        )
    };
    if r != kResultOk {
        return None;
    }
    // SAFETY: createInstance returns an owned IMessage.
    let msg = unsafe { ComPtr::from_raw(obj as *mut IMessage) }?;
    // SAFETY: a NUL-terminated id.
    unsafe { msg.setMessageID(id.as_ptr()) };
    Some(msg)
}

fn store_host(slot: &Mutex<Option<ComPtr<IHostApplication>>>, context: *mut FUnknown) {
    // SAFETY: a possibly-null context from the host.
    if let Some(ctx) = unsafe { ComRef::from_raw(context) } {
        if let Ok(mut s) = slot.lock() {
            *s = ctx.cast::<IHostApplication>();
        }
    }
}

fn bus_info(
    bus: *mut BusInfo,
    media: MediaTypes,
    dir: BusDirections,
    channels: i32,
    name: &str,
) -> tresult {
    if bus.is_null() {
        return kInvalidArgument;
    }
    // SAFETY: non-null out-struct.
    let b = unsafe { &mut *bus };
    b.mediaType = media as MediaType;
    b.direction = dir as BusDirection;
    b.channelCount = channels;
    copy_wstring(name, &mut b.name);
    b.busType = BusTypes_::kMain as BusType;
    b.flags = BusInfo_::BusFlags_::kDefaultActive;
    kResultOk
}

// ---------------------------------------------------------------------------
// Probe: component

struct ProbeComponent {
    /// Loses events at non-zero multiples of 16 frames, as the SDK's
    /// sample instruments do ([`SLICED_CID`]).
    sliced: bool,
    /// Crashes, aborts or hangs on keys 1, 2 and 3 ([`CRASH_CID`]).
    crash_keys: bool,
    /// Has a second output bus "Kick" ([`TWO_OUT_CID`]).
    two_out: bool,
    /// The host activated the "Kick" bus.
    aux_active: AtomicBool,
    /// The sounding kick: its velocity (f32 bits) and frames since its
    /// note-on ([`KICK_FRAMES`]: none).
    kick_velocity: AtomicU32,
    kick_k: AtomicU32,
    level: AtomicU64,
    ready: AtomicBool,
    host: Mutex<Option<ComPtr<IHostApplication>>>,
    peer: Mutex<Option<ComPtr<IConnectionPoint>>>,
    /// The note ids of sounding notes ([`NO_NOTE`]: a free slot), for note
    /// expressions: atomics, so `process` allocates nothing.
    sounding: [std::sync::atomic::AtomicI32; 16],
}

/// A free slot of [`ProbeComponent::sounding`] (VST3's "no id" is -1).
const NO_NOTE: i32 = i32::MIN;

impl ProbeComponent {
    fn is_sounding(&self, id: i32) -> bool {
        id != -1
            && self
                .sounding
                .iter()
                .any(|s| s.load(Ordering::Relaxed) == id)
    }

    fn note_started(&self, id: i32) {
        if id == -1 || self.is_sounding(id) {
            return;
        }
        if let Some(free) = self
            .sounding
            .iter()
            .find(|s| s.load(Ordering::Relaxed) == NO_NOTE)
        {
            free.store(id, Ordering::Relaxed);
        }
    }

    fn note_ended(&self, id: i32) {
        for s in &self.sounding {
            if s.load(Ordering::Relaxed) == id {
                s.store(NO_NOTE, Ordering::Relaxed);
            }
        }
    }
}

impl ProbeComponent {
    /// [`TWO_OUT_CID`]'s `process`. Audio thread.
    fn process_two_out(&self, data: &ProcessData, frames: usize) -> tresult {
        // SAFETY: the host's output buses for `frames` samples.
        let Some((l, r)) = (unsafe { stereo(data.outputs, data.numOutputs, frames) }) else {
            return kResultOk;
        };
        l.fill(0.0);
        r.fill(0.0);
        // The "Kick" bus while active and given, else the main one.
        let kick = if self.aux_active.load(Ordering::Relaxed) && data.numOutputs >= 2 {
            // SAFETY: the host passes `numOutputs` ≥ 2 buses: the second
            // is `outputs + 1`.
            unsafe { stereo(data.outputs.add(1), data.numOutputs - 1, frames) }
        } else {
            None
        };
        let (kl, kr) = match kick {
            Some((kl, kr)) => {
                kl.fill(0.0);
                kr.fill(0.0);
                (kl, kr)
            }
            // SAFETY: the main bus again, used only through these two
            // slices from here on (`l`/`r` are not touched while they
            // live: kick samples are added after the note impulses).
            None => unsafe { stereo(data.outputs, data.numOutputs, frames) }
                .expect("the main bus was there a moment ago"),
        };
        let mut velocity = f32::from_bits(self.kick_velocity.load(Ordering::Relaxed));
        let mut k = self.kick_k.load(Ordering::Relaxed);
        let play =
            |kl: &mut [f32], kr: &mut [f32], from: usize, to: usize, k: &mut u32, velocity: f32| {
                for i in from..to {
                    if *k >= KICK_FRAMES {
                        break;
                    }
                    let x = velocity * 0.999f32.powi(*k as i32);
                    kl[i] += x;
                    kr[i] += x * 0.5;
                    *k += 1;
                }
            };
        let mut impulses = [(0usize, 0.0f32); 64];
        let mut n_impulses = 0;
        let mut at = 0;
        // SAFETY: a possibly-null event list from the host.
        if let Some(events) = unsafe { ComRef::from_raw(data.inputEvents) } {
            // SAFETY: plain calls on the host's list during process.
            let count = unsafe { events.getEventCount() };
            for i in 0..count {
                // SAFETY: Event is plain data; zero is a valid value.
                let mut e: Event = unsafe { std::mem::zeroed() };
                // SAFETY: valid out-struct.
                if unsafe { events.getEvent(i, &mut e) } != kResultOk
                    || u32::from(e.r#type) != Event_::EventTypes_::kNoteOnEvent
                {
                    continue;
                }
                let t = e.sampleOffset;
                if t < 0 || t as usize >= frames {
                    continue;
                }
                let t = t as usize;
                // SAFETY: the type says this is a note-on.
                let note = unsafe { e.__field0.noteOn };
                if note.pitch == KICK_KEY {
                    play(kl, kr, at, t, &mut k, velocity);
                    at = t;
                    velocity = note.velocity;
                    k = 0;
                } else if n_impulses < impulses.len() {
                    impulses[n_impulses] = (t, note.velocity);
                    n_impulses += 1;
                }
            }
        }
        play(kl, kr, at, frames, &mut k, velocity);
        self.kick_velocity
            .store(velocity.to_bits(), Ordering::Relaxed);
        self.kick_k.store(k, Ordering::Relaxed);
        // SAFETY: the main bus; the kick's slices are no longer used.
        if let Some((l, r)) = unsafe { stereo(data.outputs, data.numOutputs, frames) } {
            for &(t, v) in &impulses[..n_impulses] {
                l[t] += v;
                r[t] += v * 0.5;
            }
        }
        kResultOk
    }
}

impl Class for ProbeComponent {
    type Interfaces = (
        IComponent,
        IAudioProcessor,
        IConnectionPoint,
        IProcessContextRequirements,
        IProgramListData,
    );
}

/// Program data of list [`PROGRAM_LIST`] (what a `.vstpreset`'s `Prog`
/// chunk carries): the program's level as f64 LE. Setting a program's data
/// makes it the component's level at once (the program is the current
/// one); any other list is refused.
impl IProgramListDataTrait for ProbeComponent {
    unsafe fn programDataSupported(&self, list: i32) -> tresult {
        if list == PROGRAM_LIST {
            kResultTrue
        } else {
            kResultFalse
        }
    }

    unsafe fn getProgramData(&self, list: i32, index: i32, data: *mut IBStream) -> tresult {
        guard(kInternalError, || {
            match usize::try_from(index).ok().and_then(|i| PROGRAMS.get(i)) {
                Some(&(_, level)) if list == PROGRAM_LIST => write_f64(data, level),
                _ => kInvalidArgument,
            }
        })
    }

    unsafe fn setProgramData(&self, list: i32, index: i32, data: *mut IBStream) -> tresult {
        guard(kInternalError, || {
            if list != PROGRAM_LIST || !usize::try_from(index).is_ok_and(|i| i < PROGRAMS.len()) {
                return kInvalidArgument;
            }
            match read_f64(data) {
                Some(v) if (0.0..=1.0).contains(&v) => {
                    store_f64(&self.level, v);
                    kResultOk
                }
                _ => kResultFalse,
            }
        })
    }
}

impl IPluginBaseTrait for ProbeComponent {
    unsafe fn initialize(&self, context: *mut FUnknown) -> tresult {
        guard(kInternalError, || {
            store_host(&self.host, context);
            kResultOk
        })
    }

    unsafe fn terminate(&self) -> tresult {
        guard(kInternalError, || {
            if let Ok(mut h) = self.host.lock() {
                *h = None;
            }
            kResultOk
        })
    }
}

impl IComponentTrait for ProbeComponent {
    unsafe fn getControllerClassId(&self, class_id: *mut TUID) -> tresult {
        if class_id.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-pointer.
        unsafe { *class_id = PROBE_CTRL_CID };
        kResultOk
    }

    unsafe fn setIoMode(&self, _mode: IoMode) -> tresult {
        kResultOk
    }

    unsafe fn getBusCount(&self, media: MediaType, dir: BusDirection) -> i32 {
        match (media as MediaTypes, dir as BusDirections) {
            (MediaTypes_::kAudio, BusDirections_::kOutput) => 1 + i32::from(self.two_out),
            (MediaTypes_::kEvent, BusDirections_::kInput) => 1,
            (MediaTypes_::kEvent, BusDirections_::kOutput) => 1,
            _ => 0,
        }
    }

    unsafe fn getBusInfo(
        &self,
        media: MediaType,
        dir: BusDirection,
        index: i32,
        bus: *mut BusInfo,
    ) -> tresult {
        guard(kInternalError, || {
            match (media as MediaTypes, dir as BusDirections, index) {
                (MediaTypes_::kAudio, BusDirections_::kOutput, 0) => bus_info(
                    bus,
                    MediaTypes_::kAudio,
                    BusDirections_::kOutput,
                    2,
                    "Output",
                ),
                (MediaTypes_::kAudio, BusDirections_::kOutput, 1) if self.two_out => {
                    let r = bus_info(bus, MediaTypes_::kAudio, BusDirections_::kOutput, 2, "Kick");
                    // SAFETY: `bus_info` checked it is non-null and filled it.
                    let b = unsafe { &mut *bus };
                    b.busType = BusTypes_::kAux as BusType;
                    b.flags = 0;
                    r
                }
                (MediaTypes_::kEvent, BusDirections_::kInput, 0) => bus_info(
                    bus,
                    MediaTypes_::kEvent,
                    BusDirections_::kInput,
                    16,
                    "Notes",
                ),
                (MediaTypes_::kEvent, BusDirections_::kOutput, 0) => bus_info(
                    bus,
                    MediaTypes_::kEvent,
                    BusDirections_::kOutput,
                    16,
                    "Echo",
                ),
                _ => kInvalidArgument,
            }
        })
    }

    unsafe fn getRoutingInfo(&self, _i: *mut RoutingInfo, _o: *mut RoutingInfo) -> tresult {
        kNotImplemented
    }

    unsafe fn activateBus(&self, m: MediaType, d: BusDirection, i: i32, s: TBool) -> tresult {
        if m as MediaTypes == MediaTypes_::kAudio
            && d as BusDirections == BusDirections_::kOutput
            && i == 1
            && self.two_out
        {
            self.aux_active.store(s != 0, Ordering::Relaxed);
        }
        kResultOk
    }

    unsafe fn setActive(&self, state: TBool) -> tresult {
        // Refuses to run unless the host connected us to our controller.
        if state != 0 && !self.ready.load(Ordering::Acquire) {
            return kResultFalse;
        }
        kResultOk
    }

    unsafe fn setState(&self, state: *mut IBStream) -> tresult {
        guard(kInternalError, || match read_f64(state) {
            Some(v) if (0.0..=1.0).contains(&v) => {
                store_f64(&self.level, v);
                kResultOk
            }
            _ => kResultFalse,
        })
    }

    unsafe fn getState(&self, state: *mut IBStream) -> tresult {
        guard(kInternalError, || write_f64(state, load_f64(&self.level)))
    }
}

impl IAudioProcessorTrait for ProbeComponent {
    unsafe fn setBusArrangements(
        &self,
        _i: *mut SpeakerArrangement,
        n_in: i32,
        o: *mut SpeakerArrangement,
        n_out: i32,
    ) -> tresult {
        let buses = 1 + i32::from(self.two_out);
        // SAFETY: the host passes `n_out` arrangements.
        let all_stereo = !o.is_null()
            && (0..n_out.max(0) as usize).all(|i| unsafe { *o.add(i) } == SpeakerArr::kStereo);
        if n_in == 0 && n_out == buses && all_stereo {
            kResultOk
        } else {
            kResultFalse
        }
    }

    unsafe fn getBusArrangement(
        &self,
        dir: BusDirection,
        index: i32,
        arr: *mut SpeakerArrangement,
    ) -> tresult {
        let buses = 1 + i32::from(self.two_out);
        if arr.is_null()
            || dir as BusDirections != BusDirections_::kOutput
            || !(0..buses).contains(&index)
        {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-pointer.
        unsafe { *arr = SpeakerArr::kStereo };
        kResultOk
    }

    unsafe fn canProcessSampleSize(&self, size: i32) -> tresult {
        if size as SymbolicSampleSizes == SymbolicSampleSizes_::kSample32 {
            kResultOk
        } else {
            kResultFalse
        }
    }

    unsafe fn getLatencySamples(&self) -> u32 {
        0
    }

    unsafe fn setupProcessing(&self, setup: *mut ProcessSetup) -> tresult {
        // Refuses rates above 200 kHz, so hosts can test a failing setup.
        // SAFETY: a possibly-null setup from the host, checked first.
        if setup.is_null() || unsafe { (*setup).sampleRate } > 200_000.0 {
            return kResultFalse;
        }
        kResultOk
    }

    unsafe fn setProcessing(&self, _state: TBool) -> tresult {
        kResultOk
    }

    unsafe fn process(&self, data: *mut ProcessData) -> tresult {
        guard(kInternalError, || {
            if data.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null process data from the host.
            let data = unsafe { &*data };
            let frames = data.numSamples.max(0) as usize;
            let mut points = [(0i32, 0.0f64); 64];
            let n_points = param0_points(data, &mut points);
            let points = &points[..n_points];
            let mut level = load_f64(&self.level);
            let mut next = 0;
            if self.two_out {
                return self.process_two_out(data, frames);
            }
            // SAFETY: the host's output buses for `frames` samples.
            let out = unsafe { stereo(data.outputs, data.numOutputs, frames) };
            let Some((l, r)) = out else {
                return kResultOk;
            };
            l.fill(0.0);
            r.fill(0.0);
            // SAFETY: a possibly-null output list from the host.
            let echo = unsafe { ComRef::from_raw(data.outputEvents) };
            // SAFETY: a possibly-null event list from the host.
            if let Some(events) = unsafe { ComRef::from_raw(data.inputEvents) } {
                // SAFETY: plain calls on the host's list during process.
                let count = unsafe { events.getEventCount() };
                for i in 0..count {
                    // SAFETY: Event is plain data; zero is a valid value.
                    let mut e: Event = unsafe { std::mem::zeroed() };
                    // SAFETY: valid out-struct.
                    if unsafe { events.getEvent(i, &mut e) } != kResultOk {
                        continue;
                    }
                    if u32::from(e.r#type) == Event_::EventTypes_::kPolyPressureEvent {
                        // One key's pressure: a negative impulse naming the
                        // key, -pressure x pitch / 128.
                        let at = e.sampleOffset;
                        if at >= 0 && (at as usize) < frames {
                            // SAFETY: the type says this is a poly pressure event.
                            let p = unsafe { e.__field0.polyPressure };
                            let v = -p.pressure * f32::from(p.pitch.max(0)) / 128.0;
                            l[at as usize] += v;
                            r[at as usize] += v;
                        }
                        continue;
                    }
                    if u32::from(e.r#type) == Event_::EventTypes_::kNoteExpressionValueEvent {
                        // A sounding note's expression (by the note id its
                        // note-on gave; any other id is ignored): tuning
                        // as an impulse of semitones / 128, brightness of
                        // 0.25 + value / 2.
                        let at = e.sampleOffset;
                        // SAFETY: the type says this is a note expression.
                        let x = unsafe { e.__field0.noteExpressionValue };
                        if at >= 0 && (at as usize) < frames && self.is_sounding(x.noteId) {
                            let v = match x.typeId {
                                NoteExpressionTypeIDs_::kTuningTypeID => {
                                    ((x.value - 0.5) * 240.0 / 128.0) as f32
                                }
                                NoteExpressionTypeIDs_::kBrightnessTypeID => {
                                    0.25 + x.value as f32 / 2.0
                                }
                                _ => 0.0,
                            };
                            l[at as usize] += v;
                            r[at as usize] += v;
                        }
                        continue;
                    }
                    if u32::from(e.r#type) == Event_::EventTypes_::kNoteOffEvent {
                        // SAFETY: the type says this is a note-off.
                        let id = unsafe { e.__field0.noteOff.noteId };
                        self.note_ended(id);
                        continue;
                    }
                    if u32::from(e.r#type) != Event_::EventTypes_::kNoteOnEvent {
                        continue;
                    }
                    // SAFETY: the type says this is a note-on.
                    let id = unsafe { e.__field0.noteOn.noteId };
                    self.note_started(id);
                    let at = e.sampleOffset;
                    if at < 0 || at as usize >= frames {
                        continue;
                    }
                    if self.crash_keys {
                        // SAFETY: the type says this is a note-on.
                        crash_on(unsafe { e.__field0.noteOn.pitch });
                    }
                    if self.sliced && at > 0 && at % SDK_SLICE == 0 {
                        // Lost at a slice boundary, as in the SDK sample.
                        continue;
                    }
                    advance(points, &mut next, at, &mut level);
                    // SAFETY: the type says this is a note-on.
                    let v = unsafe { e.__field0.noteOn.velocity } * level as f32;
                    l[at as usize] += v;
                    r[at as usize] += v;
                    if let Some(out) = &echo {
                        // The echo: an octave up at half velocity, same
                        // sample, for the next plugin in the host's chain.
                        let mut x = e;
                        // SAFETY: a note-on, as above; plain data.
                        unsafe {
                            x.__field0.noteOn.pitch += 12;
                            x.__field0.noteOn.velocity *= 0.5;
                            x.__field0.noteOn.noteId = -1;
                            let _ = out.addEvent(&mut x);
                        }
                    }
                }
            }
            advance(points, &mut next, i32::MAX, &mut level);
            store_f64(&self.level, level);
            kResultOk
        })
    }

    unsafe fn getTailSamples(&self) -> u32 {
        0
    }
}

impl IProcessContextRequirementsTrait for ProbeComponent {
    unsafe fn getProcessContextRequirements(&self) -> u32 {
        0
    }
}

impl IConnectionPointTrait for ProbeComponent {
    unsafe fn connect(&self, other: *mut IConnectionPoint) -> tresult {
        guard(kInternalError, || {
            // SAFETY: a possibly-null peer from the host.
            let Some(o) = (unsafe { ComRef::from_raw(other) }) else {
                return kInvalidArgument;
            };
            if let Ok(mut p) = self.peer.lock() {
                *p = Some(o.to_com_ptr());
            }
            kResultOk
        })
    }

    unsafe fn disconnect(&self, _other: *mut IConnectionPoint) -> tresult {
        guard(kInternalError, || {
            if let Ok(mut p) = self.peer.lock() {
                *p = None;
            }
            kResultOk
        })
    }

    unsafe fn notify(&self, message: *mut IMessage) -> tresult {
        guard(kInternalError, || {
            // SAFETY: a possibly-null message from the peer.
            let Some(m) = (unsafe { ComRef::from_raw(message) }) else {
                return kInvalidArgument;
            };
            // SAFETY: plain call.
            let id = unsafe { m.getMessageID() };
            // SAFETY: a NUL-terminated id when non-null.
            if !id.is_null() && unsafe { CStr::from_ptr(id) }.to_bytes() == b"hello" {
                self.ready.store(true, Ordering::Release);
            }
            kResultOk
        })
    }
}

// ---------------------------------------------------------------------------
// Probe: controller

struct ProbeController {
    /// Shared with its editor views, which draw it.
    level: std::sync::Arc<AtomicU64>,
    /// The program-change parameter's normalized value.
    program: AtomicU64,
    host: Mutex<Option<ComPtr<IHostApplication>>>,
    peer: Mutex<Option<ComPtr<IConnectionPoint>>>,
}

impl Class for ProbeController {
    type Interfaces = (
        IEditController,
        IConnectionPoint,
        IMidiMapping,
        IUnitInfo,
        IKeyswitchController,
        INoteExpressionController,
    );
}

/// The note expressions the probe takes on every channel of bus 0: tuning
/// (normalized 0.5 = none, ±120 semitones at the ends, as VST3 defines
/// it) and brightness (0..1).
const NOTE_EXPRESSIONS: [(u32, &str); 2] = [
    (NoteExpressionTypeIDs_::kTuningTypeID, "Tuning"),
    (NoteExpressionTypeIDs_::kBrightnessTypeID, "Brightness"),
];

impl INoteExpressionControllerTrait for ProbeController {
    unsafe fn getNoteExpressionCount(&self, bus: i32, _channel: i16) -> i32 {
        if bus == 0 {
            NOTE_EXPRESSIONS.len() as i32
        } else {
            0
        }
    }

    unsafe fn getNoteExpressionInfo(
        &self,
        bus: i32,
        _channel: i16,
        index: i32,
        info: *mut NoteExpressionTypeInfo,
    ) -> tresult {
        guard(kInternalError, || {
            let Some(&(id, title)) = usize::try_from(index)
                .ok()
                .and_then(|i| NOTE_EXPRESSIONS.get(i))
            else {
                return kInvalidArgument;
            };
            if bus != 0 || info.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-struct.
            let i = unsafe { &mut *info };
            i.typeId = id;
            copy_wstring(title, &mut i.title);
            copy_wstring(title, &mut i.shortTitle);
            copy_wstring("", &mut i.units);
            i.unitId = -1;
            i.valueDesc = NoteExpressionValueDescription {
                defaultValue: if id == NoteExpressionTypeIDs_::kTuningTypeID {
                    0.5
                } else {
                    0.0
                },
                minimum: 0.0,
                maximum: 1.0,
                stepCount: 0,
            };
            i.associatedParameterId = u32::MAX;
            i.flags = 0;
            kResultOk
        })
    }

    unsafe fn getNoteExpressionStringByValue(
        &self,
        _bus: i32,
        _channel: i16,
        _id: u32,
        _value: f64,
        _string: *mut String128,
    ) -> tresult {
        kNotImplemented
    }

    unsafe fn getNoteExpressionValueByString(
        &self,
        _bus: i32,
        _channel: i16,
        _id: u32,
        _string: *const TChar,
        _value: *mut f64,
    ) -> tresult {
        kNotImplemented
    }
}

/// The names every program gives keys (a drum map, `IUnitInfo` pitch
/// names).
const PITCH_NAMES: [(i16, &str); 2] = [(36, "Kick"), (38, "Snare")];

/// Articulations below the playing range, as sample libraries offer them:
/// (title, short title, lowest key, highest key).
const KEYSWITCHES: [(&str, &str, i32, i32); 2] =
    [("Sustain", "Sus", 24, 24), ("Staccato", "Stac", 26, 27)];

impl IKeyswitchControllerTrait for ProbeController {
    unsafe fn getKeyswitchCount(&self, bus: i32, _channel: i16) -> i32 {
        if bus == 0 {
            KEYSWITCHES.len() as i32
        } else {
            0
        }
    }

    unsafe fn getKeyswitchInfo(
        &self,
        bus: i32,
        _channel: i16,
        index: i32,
        info: *mut KeyswitchInfo,
    ) -> tresult {
        guard(kInternalError, || {
            let Some(&(title, short, low, high)) =
                usize::try_from(index).ok().and_then(|i| KEYSWITCHES.get(i))
            else {
                return kInvalidArgument;
            };
            if bus != 0 || info.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-struct.
            let i = unsafe { &mut *info };
            i.typeId = KeyswitchTypeIDs_::kNoteOnKeyswitchTypeID;
            copy_wstring(title, &mut i.title);
            copy_wstring(short, &mut i.shortTitle);
            i.keyswitchMin = low;
            i.keyswitchMax = high;
            i.keyRemapped = low;
            i.unitId = 0;
            i.flags = 0;
            kResultOk
        })
    }
}

/// The probe's factory programs (list id 7 of its one unit) and the level
/// each sets.
const PROGRAMS: [(&str, f64); 3] = [("Quiet", 0.25), ("Half", 0.5), ("Full", 1.0)];
const PROGRAM_LIST: i32 = 7;
/// The hidden program-change parameter.
const PROGRAM_PARAM: u32 = 1;
/// The unit `level` belongs to ("Output", under the root).
const OUTPUT_UNIT: i32 = 1;

/// Two units: the root, with one program list, and "Output" (holding
/// `level`) under it. The program names come from here,
/// while the program parameter's own value strings say only "#N", so a
/// host shows which source it read.
impl IUnitInfoTrait for ProbeController {
    unsafe fn getUnitCount(&self) -> i32 {
        2
    }

    unsafe fn getUnitInfo(&self, index: i32, info: *mut UnitInfo) -> tresult {
        guard(kInternalError, || {
            if !(0..2).contains(&index) || info.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-struct.
            let i = unsafe { &mut *info };
            if index == 0 {
                i.id = 0;
                i.parentUnitId = -1;
                copy_wstring("Root", &mut i.name);
                i.programListId = PROGRAM_LIST;
            } else {
                i.id = OUTPUT_UNIT;
                i.parentUnitId = 0;
                copy_wstring("Output", &mut i.name);
                i.programListId = -1;
            }
            kResultOk
        })
    }

    unsafe fn getProgramListCount(&self) -> i32 {
        1
    }

    unsafe fn getProgramListInfo(&self, index: i32, info: *mut ProgramListInfo) -> tresult {
        guard(kInternalError, || {
            if index != 0 || info.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-struct.
            let i = unsafe { &mut *info };
            i.id = PROGRAM_LIST;
            copy_wstring("Factory", &mut i.name);
            i.programCount = PROGRAMS.len() as i32;
            kResultOk
        })
    }

    unsafe fn getProgramName(&self, list: i32, index: i32, name: *mut String128) -> tresult {
        guard(kInternalError, || {
            let Some((program, _)) = usize::try_from(index).ok().and_then(|i| PROGRAMS.get(i))
            else {
                return kInvalidArgument;
            };
            if list != PROGRAM_LIST || name.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-buffer.
            copy_wstring(program, unsafe { &mut *name });
            kResultOk
        })
    }

    unsafe fn getProgramInfo(
        &self,
        _list: i32,
        _index: i32,
        _attribute: *const c_char,
        _value: *mut String128,
    ) -> tresult {
        kNotImplemented
    }

    unsafe fn hasProgramPitchNames(&self, list: i32, index: i32) -> tresult {
        if list == PROGRAM_LIST && usize::try_from(index).is_ok_and(|i| i < PROGRAMS.len()) {
            kResultTrue
        } else {
            kResultFalse
        }
    }

    unsafe fn getProgramPitchName(
        &self,
        list: i32,
        _index: i32,
        pitch: i16,
        name: *mut String128,
    ) -> tresult {
        guard(kInternalError, || {
            let Some(&(_, text)) = PITCH_NAMES.iter().find(|(p, _)| *p == pitch) else {
                return kResultFalse;
            };
            if list != PROGRAM_LIST || name.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-buffer.
            copy_wstring(text, unsafe { &mut *name });
            kResultOk
        })
    }

    unsafe fn getSelectedUnit(&self) -> i32 {
        0
    }

    unsafe fn selectUnit(&self, _unit: i32) -> tresult {
        kResultOk
    }

    unsafe fn getUnitByBus(
        &self,
        _media: MediaType,
        _dir: BusDirection,
        _bus: i32,
        _channel: i32,
        _unit: *mut i32,
    ) -> tresult {
        kResultFalse
    }

    unsafe fn setUnitProgramData(&self, _list: i32, _index: i32, _data: *mut IBStream) -> tresult {
        kNotImplemented
    }
}

/// Maps no MIDI controller. Without an `IMidiMapping`, JUCE-based hosts
/// (pedalboard) fall back to a zero-filled CC table and send every CC (e.g.
/// the all-notes-off they emit) to parameter id 0, which is `level` here.
impl IMidiMappingTrait for ProbeController {
    unsafe fn getMidiControllerAssignment(
        &self,
        _bus: i32,
        _ch: i16,
        _cc: CtrlNumber,
        _id: *mut ParamID,
    ) -> tresult {
        kResultFalse
    }
}

impl IPluginBaseTrait for ProbeController {
    unsafe fn initialize(&self, context: *mut FUnknown) -> tresult {
        guard(kInternalError, || {
            store_host(&self.host, context);
            kResultOk
        })
    }

    unsafe fn terminate(&self) -> tresult {
        guard(kInternalError, || {
            if let Ok(mut h) = self.host.lock() {
                *h = None;
            }
            kResultOk
        })
    }
}

/// The program a normalized program-parameter value selects.
fn program_index(v: f64) -> usize {
    ((v.clamp(0.0, 1.0) * (PROGRAMS.len() - 1) as f64).round() as usize).min(PROGRAMS.len() - 1)
}

fn level_info(info: *mut ParameterInfo, title: &str, default: f64, unit: i32) -> tresult {
    if info.is_null() {
        return kInvalidArgument;
    }
    // SAFETY: non-null out-struct.
    let i = unsafe { &mut *info };
    i.id = 0;
    copy_wstring(title, &mut i.title);
    copy_wstring(title, &mut i.shortTitle);
    copy_wstring("", &mut i.units);
    i.stepCount = 0;
    i.defaultNormalizedValue = default;
    i.unitId = unit;
    i.flags = ParameterInfo_::ParameterFlags_::kCanAutomate;
    kResultOk
}

impl IEditControllerTrait for ProbeController {
    unsafe fn setComponentState(&self, state: *mut IBStream) -> tresult {
        guard(kInternalError, || match read_f64(state) {
            Some(v) => {
                store_f64(&self.level, v);
                kResultOk
            }
            None => kResultFalse,
        })
    }

    unsafe fn setState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getParameterCount(&self) -> i32 {
        2
    }

    unsafe fn getParameterInfo(&self, index: i32, info: *mut ParameterInfo) -> tresult {
        guard(kInternalError, || match index {
            0 => level_info(info, "level", 1.0, OUTPUT_UNIT),
            1 if !info.is_null() => {
                // SAFETY: non-null out-struct.
                let i = unsafe { &mut *info };
                i.id = PROGRAM_PARAM;
                copy_wstring("Program", &mut i.title);
                copy_wstring("Program", &mut i.shortTitle);
                copy_wstring("", &mut i.units);
                i.stepCount = PROGRAMS.len() as i32 - 1;
                i.defaultNormalizedValue = 1.0;
                i.unitId = 0;
                use ParameterInfo_::ParameterFlags_ as pf;
                i.flags = pf::kIsProgramChange | pf::kIsList | pf::kIsHidden;
                kResultOk
            }
            _ => kInvalidArgument,
        })
    }

    unsafe fn getParamStringByValue(&self, id: u32, value: f64, string: *mut String128) -> tresult {
        guard(kInternalError, || {
            if string.is_null() {
                return kInvalidArgument;
            }
            let text = match id {
                0 => format!("{value:.3}"),
                PROGRAM_PARAM => format!("#{}", program_index(value)),
                _ => return kInvalidArgument,
            };
            // SAFETY: non-null out-buffer.
            copy_wstring(&text, unsafe { &mut *string });
            kResultOk
        })
    }

    unsafe fn getParamValueByString(&self, _id: u32, _s: *mut TChar, _v: *mut f64) -> tresult {
        kNotImplemented
    }

    unsafe fn normalizedParamToPlain(&self, _id: u32, v: f64) -> f64 {
        v
    }

    unsafe fn plainParamToNormalized(&self, _id: u32, v: f64) -> f64 {
        v
    }

    unsafe fn getParamNormalized(&self, id: u32) -> f64 {
        match id {
            0 => load_f64(&self.level),
            PROGRAM_PARAM => load_f64(&self.program),
            _ => 0.0,
        }
    }

    /// The program parameter loads its program: the level it sets.
    unsafe fn setParamNormalized(&self, id: u32, v: f64) -> tresult {
        match id {
            0 => store_f64(&self.level, v),
            PROGRAM_PARAM => {
                store_f64(&self.program, v);
                store_f64(&self.level, PROGRAMS[program_index(v)].1);
            }
            _ => return kInvalidArgument,
        }
        kResultOk
    }

    unsafe fn setComponentHandler(&self, _h: *mut IComponentHandler) -> tresult {
        kResultOk
    }

    /// The editor (`view.rs`) on Linux; no view elsewhere.
    unsafe fn createView(&self, name: *const c_char) -> *mut IPlugView {
        guard(std::ptr::null_mut(), || {
            // SAFETY: a possibly-null NUL-terminated view name, checked.
            let editor = !name.is_null() && unsafe { CStr::from_ptr(name) }.to_bytes() == b"editor";
            #[cfg(target_os = "linux")]
            if editor {
                return view::create(self.level.clone());
            }
            let _ = editor;
            std::ptr::null_mut()
        })
    }
}

impl IConnectionPointTrait for ProbeController {
    unsafe fn connect(&self, other: *mut IConnectionPoint) -> tresult {
        guard(kInternalError, || {
            // SAFETY: a possibly-null peer from the host.
            let Some(o) = (unsafe { ComRef::from_raw(other) }) else {
                return kInvalidArgument;
            };
            let peer = o.to_com_ptr();
            if let Some(msg) = host_message(&self.host, c"hello") {
                // SAFETY: a live message for the duration of the call.
                unsafe { peer.notify(msg.as_ptr()) };
            }
            if let Ok(mut p) = self.peer.lock() {
                *p = Some(peer);
            }
            kResultOk
        })
    }

    unsafe fn disconnect(&self, _other: *mut IConnectionPoint) -> tresult {
        guard(kInternalError, || {
            if let Ok(mut p) = self.peer.lock() {
                *p = None;
            }
            kResultOk
        })
    }

    unsafe fn notify(&self, _message: *mut IMessage) -> tresult {
        kResultOk
    }
}

// ---------------------------------------------------------------------------
// Gain: one object is component, processor and controller

struct Gain {
    /// Normalized gain as the processor last applied it.
    norm: AtomicU64,
    /// Normalized gain as the controller shows it.
    ctrl: AtomicU64,
    /// The lifecycle call this copy refuses (the `Bad` classes).
    fail: Fail,
    /// Reported latency in samples (parameter `latency`; reported only,
    /// not applied: a hook for hosts' restart handling).
    latency: AtomicU32,
    /// The host's component handler, for `restartComponent`.
    handler: Mutex<Option<ComPtr<IComponentHandler>>>,
}

/// Largest `latency` the gain reports (its parameter's step count).
const GAIN_MAX_LATENCY: u32 = 1000;

/// A lifecycle call a `Stagerack VST3 Bad …` class refuses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fail {
    Nothing,
    Initialize,
    Activate,
    Process,
}

/// Normalized gain → linear factor (−60 dB at 0, +12 dB at 1).
fn gain_factor(n: f64) -> f32 {
    let db = -60.0 + 72.0 * n.clamp(0.0, 1.0);
    10f64.powf(db / 20.0) as f32
}

impl Class for Gain {
    type Interfaces = (
        IComponent,
        IAudioProcessor,
        IEditController,
        IMidiMapping,
        IProcessContextRequirements,
    );
}

impl IPluginBaseTrait for Gain {
    unsafe fn initialize(&self, _context: *mut FUnknown) -> tresult {
        if self.fail == Fail::Initialize {
            return kResultFalse;
        }
        kResultOk
    }

    unsafe fn terminate(&self) -> tresult {
        kResultOk
    }
}

impl IComponentTrait for Gain {
    unsafe fn getControllerClassId(&self, _class_id: *mut TUID) -> tresult {
        kNotImplemented
    }

    unsafe fn setIoMode(&self, _mode: IoMode) -> tresult {
        kResultOk
    }

    unsafe fn getBusCount(&self, media: MediaType, _dir: BusDirection) -> i32 {
        i32::from(media as MediaTypes == MediaTypes_::kAudio)
    }

    unsafe fn getBusInfo(
        &self,
        media: MediaType,
        dir: BusDirection,
        index: i32,
        bus: *mut BusInfo,
    ) -> tresult {
        guard(kInternalError, || {
            if media as MediaTypes != MediaTypes_::kAudio || index != 0 {
                return kInvalidArgument;
            }
            let d = dir as BusDirections;
            bus_info(
                bus,
                MediaTypes_::kAudio,
                d,
                2,
                if d == BusDirections_::kInput {
                    "In"
                } else {
                    "Out"
                },
            )
        })
    }

    unsafe fn getRoutingInfo(&self, _i: *mut RoutingInfo, _o: *mut RoutingInfo) -> tresult {
        kNotImplemented
    }

    unsafe fn activateBus(&self, _m: MediaType, _d: BusDirection, _i: i32, _s: TBool) -> tresult {
        kResultOk
    }

    unsafe fn setActive(&self, state: TBool) -> tresult {
        if state != 0 && self.fail == Fail::Activate {
            return kResultFalse;
        }
        kResultOk
    }

    unsafe fn setState(&self, state: *mut IBStream) -> tresult {
        guard(kInternalError, || match read_f64(state) {
            Some(v) if (0.0..=1.0).contains(&v) => {
                store_f64(&self.norm, v);
                kResultOk
            }
            _ => kResultFalse,
        })
    }

    unsafe fn getState(&self, state: *mut IBStream) -> tresult {
        guard(kInternalError, || write_f64(state, load_f64(&self.norm)))
    }
}

impl IAudioProcessorTrait for Gain {
    unsafe fn setBusArrangements(
        &self,
        i: *mut SpeakerArrangement,
        n_in: i32,
        o: *mut SpeakerArrangement,
        n_out: i32,
    ) -> tresult {
        if n_in != 1 || n_out != 1 || i.is_null() || o.is_null() {
            return kResultFalse;
        }
        // SAFETY: one arrangement each, non-null.
        if unsafe { *i == SpeakerArr::kStereo && *o == SpeakerArr::kStereo } {
            kResultOk
        } else {
            kResultFalse
        }
    }

    unsafe fn getBusArrangement(
        &self,
        _dir: BusDirection,
        index: i32,
        arr: *mut SpeakerArrangement,
    ) -> tresult {
        if arr.is_null() || index != 0 {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-pointer.
        unsafe { *arr = SpeakerArr::kStereo };
        kResultOk
    }

    unsafe fn canProcessSampleSize(&self, size: i32) -> tresult {
        if size as SymbolicSampleSizes == SymbolicSampleSizes_::kSample32 {
            kResultOk
        } else {
            kResultFalse
        }
    }

    unsafe fn getLatencySamples(&self) -> u32 {
        self.latency.load(Ordering::Acquire)
    }

    unsafe fn setupProcessing(&self, _setup: *mut ProcessSetup) -> tresult {
        kResultOk
    }

    unsafe fn setProcessing(&self, _state: TBool) -> tresult {
        kResultOk
    }

    unsafe fn process(&self, data: *mut ProcessData) -> tresult {
        guard(kInternalError, || {
            if data.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null process data from the host.
            let data = unsafe { &*data };
            if self.fail == Fail::Process {
                return kResultFalse;
            }
            let frames = data.numSamples.max(0) as usize;
            let mut points = [(0i32, 0.0f64); 64];
            let n_points = param0_points(data, &mut points);
            let points = &points[..n_points];
            let mut norm = load_f64(&self.norm);
            // SAFETY: the host's buses for `frames` samples.
            let (input, output) = unsafe {
                (
                    stereo(data.inputs, data.numInputs, frames),
                    stereo(data.outputs, data.numOutputs, frames),
                )
            };
            let (Some((il, ir)), Some((ol, or))) = (input, output) else {
                return kResultOk;
            };
            let mut next = 0;
            let mut g = gain_factor(norm);
            for i in 0..frames {
                if next < points.len() && points[next].0 <= i as i32 {
                    advance(points, &mut next, i as i32, &mut norm);
                    g = gain_factor(norm);
                }
                ol[i] = il[i] * g;
                or[i] = ir[i] * g;
            }
            advance(points, &mut next, i32::MAX, &mut norm);
            store_f64(&self.norm, norm);
            kResultOk
        })
    }

    unsafe fn getTailSamples(&self) -> u32 {
        0
    }
}

impl IProcessContextRequirementsTrait for Gain {
    unsafe fn getProcessContextRequirements(&self) -> u32 {
        0
    }
}

impl IEditControllerTrait for Gain {
    unsafe fn setComponentState(&self, state: *mut IBStream) -> tresult {
        guard(kInternalError, || match read_f64(state) {
            Some(v) => {
                store_f64(&self.ctrl, v);
                kResultOk
            }
            None => kResultFalse,
        })
    }

    unsafe fn setState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getState(&self, _state: *mut IBStream) -> tresult {
        kResultOk
    }

    unsafe fn getParameterCount(&self) -> i32 {
        2
    }

    unsafe fn getParameterInfo(&self, index: i32, info: *mut ParameterInfo) -> tresult {
        guard(kInternalError, || match index {
            0 => level_info(info, "gain", GAIN_DEFAULT, 0),
            1 if !info.is_null() => {
                // SAFETY: non-null out-struct.
                let i = unsafe { &mut *info };
                i.id = 1;
                copy_wstring("latency", &mut i.title);
                copy_wstring("latency", &mut i.shortTitle);
                copy_wstring("samples", &mut i.units);
                i.stepCount = GAIN_MAX_LATENCY as i32;
                i.defaultNormalizedValue = 0.0;
                i.unitId = 0;
                i.flags = 0;
                kResultOk
            }
            _ => kInvalidArgument,
        })
    }

    unsafe fn getParamStringByValue(&self, id: u32, value: f64, string: *mut String128) -> tresult {
        guard(kInternalError, || {
            if id > 1 || string.is_null() {
                return kInvalidArgument;
            }
            if id == 1 {
                let n = (value.clamp(0.0, 1.0) * f64::from(GAIN_MAX_LATENCY)).round();
                // SAFETY: non-null out-buffer.
                copy_wstring(&format!("{n} samples"), unsafe { &mut *string });
                return kResultOk;
            }
            let db = -60.0 + 72.0 * value.clamp(0.0, 1.0);
            // SAFETY: non-null out-buffer.
            copy_wstring(&format!("{db:.1} dB"), unsafe { &mut *string });
            kResultOk
        })
    }

    unsafe fn getParamValueByString(&self, _id: u32, _s: *mut TChar, _v: *mut f64) -> tresult {
        kNotImplemented
    }

    unsafe fn normalizedParamToPlain(&self, id: u32, v: f64) -> f64 {
        if id == 1 {
            (v * f64::from(GAIN_MAX_LATENCY)).round()
        } else {
            -60.0 + 72.0 * v
        }
    }

    unsafe fn plainParamToNormalized(&self, id: u32, v: f64) -> f64 {
        if id == 1 {
            (v / f64::from(GAIN_MAX_LATENCY)).clamp(0.0, 1.0)
        } else {
            ((v + 60.0) / 72.0).clamp(0.0, 1.0)
        }
    }

    unsafe fn getParamNormalized(&self, id: u32) -> f64 {
        match id {
            0 => load_f64(&self.ctrl),
            1 => f64::from(self.latency.load(Ordering::Acquire)) / f64::from(GAIN_MAX_LATENCY),
            _ => 0.0,
        }
    }

    unsafe fn setParamNormalized(&self, id: u32, v: f64) -> tresult {
        guard(kInternalError, || match id {
            0 => {
                store_f64(&self.ctrl, v);
                kResultOk
            }
            1 => {
                let samples = (v.clamp(0.0, 1.0) * f64::from(GAIN_MAX_LATENCY)).round() as u32;
                if self.latency.swap(samples, Ordering::AcqRel) != samples {
                    // A new latency: the host must restart us to read it.
                    let handler = self.handler.lock().ok().and_then(|h| h.clone());
                    if let Some(h) = handler {
                        // SAFETY: a live handler the host gave us; main thread.
                        unsafe {
                            h.restartComponent(RestartFlags_::kLatencyChanged);
                        }
                    }
                }
                kResultOk
            }
            _ => kInvalidArgument,
        })
    }

    unsafe fn setComponentHandler(&self, h: *mut IComponentHandler) -> tresult {
        guard(kInternalError, || {
            // SAFETY: a possibly-null handler from the host.
            let handler = unsafe { ComRef::from_raw(h) }.map(|r| r.to_com_ptr());
            if let Ok(mut slot) = self.handler.lock() {
                *slot = handler;
            }
            kResultOk
        })
    }

    unsafe fn createView(&self, _name: *const c_char) -> *mut IPlugView {
        std::ptr::null_mut()
    }
}

impl IMidiMappingTrait for Gain {
    unsafe fn getMidiControllerAssignment(
        &self,
        bus: i32,
        _channel: i16,
        cc: CtrlNumber,
        id: *mut ParamID,
    ) -> tresult {
        // CC7 (volume), CC64 (sustain: a pedal as an on/off gain switch),
        // channel aftertouch and pitch bend all drive `gain`.
        if bus != 0 || id.is_null() || !matches!(cc, 7 | 64 | 128 | 129) {
            return kResultFalse;
        }
        // SAFETY: non-null out-pointer.
        unsafe { *id = 0 };
        kResultOk
    }
}

// ---------------------------------------------------------------------------
// Factory and module entry points

#[derive(Clone, Copy, PartialEq)]
enum Offer {
    Probe,
    Gain,
    Bad,
    Both,
}

struct Factory {
    offer: Offer,
}

struct ClassDesc {
    cid: TUID,
    category: &'static str,
    name: &'static str,
    sub: &'static str,
}

const CLASSES: [ClassDesc; 9] = [
    ClassDesc {
        cid: PROBE_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Probe",
        sub: "Instrument|Synth",
    },
    ClassDesc {
        cid: PROBE_CTRL_CID,
        category: "Component Controller Class",
        name: "Stagerack VST3 Probe Controller",
        sub: "",
    },
    ClassDesc {
        cid: GAIN_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Gain",
        sub: "Fx|Tools",
    },
    ClassDesc {
        cid: BAD_INIT_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Bad Initialize",
        sub: "Fx|Tools",
    },
    ClassDesc {
        cid: BAD_ACTIVATE_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Bad Activate",
        sub: "Fx|Tools",
    },
    ClassDesc {
        cid: BAD_PROCESS_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Bad Process",
        sub: "Fx|Tools",
    },
    ClassDesc {
        cid: SLICED_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Sliced Probe",
        sub: "Instrument|Synth",
    },
    ClassDesc {
        cid: CRASH_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Crash On Note",
        sub: "Instrument|Synth",
    },
    ClassDesc {
        cid: TWO_OUT_CID,
        category: "Audio Module Class",
        name: "Stagerack VST3 Two Out",
        sub: "Instrument|Drum",
    },
];

/// Whether a class is one of the deliberately failing ones.
fn is_bad(cid: &TUID) -> bool {
    *cid == BAD_INIT_CID || *cid == BAD_ACTIVATE_CID || *cid == BAD_PROCESS_CID
}

impl Factory {
    fn classes(&self) -> impl Iterator<Item = &'static ClassDesc> + '_ {
        CLASSES.iter().filter(move |c| match self.offer {
            Offer::Both => true,
            Offer::Probe => c.cid == PROBE_CID || c.cid == PROBE_CTRL_CID,
            Offer::Gain => c.cid == GAIN_CID,
            // The sliced probe uses the probe's controller.
            Offer::Bad => {
                is_bad(&c.cid)
                    || c.cid == SLICED_CID
                    || c.cid == CRASH_CID
                    || c.cid == TWO_OUT_CID
                    || c.cid == PROBE_CTRL_CID
            }
        })
    }
}

impl Class for Factory {
    type Interfaces = (IPluginFactory2,);
}

impl IPluginFactoryTrait for Factory {
    unsafe fn getFactoryInfo(&self, info: *mut PFactoryInfo) -> tresult {
        if info.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-struct.
        let info = unsafe { &mut *info };
        copy_cstring("stagerack", &mut info.vendor);
        copy_cstring("https://example.invalid/stagerack", &mut info.url);
        copy_cstring("", &mut info.email);
        info.flags = PFactoryInfo_::FactoryFlags_::kUnicode as int32;
        kResultOk
    }

    unsafe fn countClasses(&self) -> i32 {
        self.classes().count() as i32
    }

    unsafe fn getClassInfo(&self, index: i32, info: *mut PClassInfo) -> tresult {
        let Some(c) = self.classes().nth(index.max(0) as usize) else {
            return kInvalidArgument;
        };
        if info.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-struct.
        let info = unsafe { &mut *info };
        info.cid = c.cid;
        info.cardinality = PClassInfo_::ClassCardinality_::kManyInstances as int32;
        copy_cstring(c.category, &mut info.category);
        copy_cstring(c.name, &mut info.name);
        kResultOk
    }

    unsafe fn createInstance(
        &self,
        cid: FIDString,
        iid: FIDString,
        obj: *mut *mut c_void,
    ) -> tresult {
        guard(kInternalError, || {
            if cid.is_null() || iid.is_null() || obj.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: a 16-byte class id.
            let cid = unsafe { *(cid as *const TUID) };
            if !self.classes().any(|c| c.cid == cid) {
                return kInvalidArgument;
            }
            let unknown = if [PROBE_CID, SLICED_CID, CRASH_CID, TWO_OUT_CID].contains(&cid) {
                ComWrapper::new(ProbeComponent {
                    sliced: cid == SLICED_CID,
                    crash_keys: cid == CRASH_CID,
                    two_out: cid == TWO_OUT_CID,
                    aux_active: AtomicBool::new(false),
                    kick_velocity: AtomicU32::new(0),
                    kick_k: AtomicU32::new(KICK_FRAMES),
                    level: AtomicU64::new(1f64.to_bits()),
                    ready: AtomicBool::new(false),
                    host: Mutex::new(None),
                    peer: Mutex::new(None),
                    sounding: std::array::from_fn(|_| std::sync::atomic::AtomicI32::new(NO_NOTE)),
                })
                .to_com_ptr::<FUnknown>()
            } else if cid == PROBE_CTRL_CID {
                ComWrapper::new(ProbeController {
                    level: std::sync::Arc::new(AtomicU64::new(1f64.to_bits())),
                    program: AtomicU64::new(1f64.to_bits()),
                    host: Mutex::new(None),
                    peer: Mutex::new(None),
                })
                .to_com_ptr::<FUnknown>()
            } else {
                ComWrapper::new(Gain {
                    norm: AtomicU64::new(GAIN_DEFAULT.to_bits()),
                    ctrl: AtomicU64::new(GAIN_DEFAULT.to_bits()),
                    fail: if cid == BAD_INIT_CID {
                        Fail::Initialize
                    } else if cid == BAD_ACTIVATE_CID {
                        Fail::Activate
                    } else if cid == BAD_PROCESS_CID {
                        Fail::Process
                    } else {
                        Fail::Nothing
                    },
                    latency: AtomicU32::new(0),
                    handler: Mutex::new(None),
                })
                .to_com_ptr::<FUnknown>()
            };
            let Some(unknown) = unknown else {
                return kNoInterface;
            };
            let raw = unknown.as_ptr();
            // SAFETY: a live object; queryInterface adds the caller's reference.
            unsafe { ((*(*raw).vtbl).queryInterface)(raw, iid as *const TUID, obj) }
        })
    }
}

impl IPluginFactory2Trait for Factory {
    unsafe fn getClassInfo2(&self, index: i32, info: *mut PClassInfo2) -> tresult {
        let Some(c) = self.classes().nth(index.max(0) as usize) else {
            return kInvalidArgument;
        };
        if info.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-struct.
        let info = unsafe { &mut *info };
        info.cid = c.cid;
        info.cardinality = PClassInfo_::ClassCardinality_::kManyInstances as int32;
        copy_cstring(c.category, &mut info.category);
        copy_cstring(c.name, &mut info.name);
        info.classFlags = 0;
        copy_cstring(c.sub, &mut info.subCategories);
        copy_cstring("stagerack", &mut info.vendor);
        copy_cstring("0.1.0", &mut info.version);
        copy_cstring("VST 3.8.0", &mut info.sdkVersion);
        kResultOk
    }
}

/// Which classes this copy of the binary offers, from its file name.
fn offer() -> Offer {
    #[cfg(unix)]
    {
        // SAFETY: Dl_info is plain data; zero is valid.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = offer as *const c_void;
        // SAFETY: `addr` is inside this library; `info` is a valid out-struct.
        if unsafe { libc::dladdr(addr, &mut info) } != 0 && !info.dli_fname.is_null() {
            // SAFETY: dladdr returns a NUL-terminated path.
            let path = unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy();
            let file = path.rsplit('/').next().unwrap_or("");
            if file.contains("Probe") {
                return Offer::Probe;
            }
            if file.contains("Gain") {
                return Offer::Gain;
            }
            if file.contains("Bad") {
                return Offer::Bad;
            }
        }
    }
    Offer::Both
}

/// Linux module entry.
#[cfg(target_os = "linux")]
#[no_mangle]
extern "system" fn ModuleEntry(_handle: *mut c_void) -> bool {
    true
}

/// Linux module exit.
#[cfg(target_os = "linux")]
#[no_mangle]
extern "system" fn ModuleExit() -> bool {
    true
}

/// Windows module entry.
#[cfg(target_os = "windows")]
#[no_mangle]
extern "system" fn InitDll() -> bool {
    true
}

/// Windows module exit.
#[cfg(target_os = "windows")]
#[no_mangle]
extern "system" fn ExitDll() -> bool {
    true
}

/// The VST3 factory.
#[no_mangle]
extern "system" fn GetPluginFactory() -> *mut IPluginFactory {
    guard(std::ptr::null_mut(), || {
        ComWrapper::new(Factory { offer: offer() })
            .to_com_ptr::<IPluginFactory>()
            .map_or(std::ptr::null_mut(), |p| p.into_raw())
    })
}
