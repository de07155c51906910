//! VST3 hosting through the `vst3` crate. All VST3 FFI lives in this module.
//!
//! Lifecycle of one instance (steps follow Steinberg's "Audio Processor Call
//! Sequence"):
//!
//! 1. [`load`] (main thread) finds the bundle (`path` hint, `VST3_PATH`,
//!    standard folders), opens it ([`module::Module`]), creates the class's
//!    `IComponent`, `initialize`s it with our host context, creates its
//!    controller (a separate class, or the component itself), initializes
//!    it, connects the two `IConnectionPoint`s to each other directly, gives
//!    the controller our `IComponentHandler`, and syncs the controller with
//!    the component's state.
//! 2. [`PluginInstance::activate`] (main thread) negotiates the buses (stereo
//!    out; stereo or mono in), activates the main audio buses and the event
//!    input bus, calls `setupProcessing` and `setActive(true)`, reads the
//!    MIDI CC mapping, and builds the processor with every buffer and COM
//!    object it will ever need.
//! 3. The processor (audio thread) calls `setProcessing(true)` before its
//!    first `process`, and `setProcessing(false)` in
//!    [`AudioProcessor::stop`]. It never allocates, and never releases the
//!    last reference of a COM object.
//! 4. [`PluginInstance::deactivate`] (main thread) drops the processor and
//!    calls `setActive(false)`. Dropping the instance disconnects and
//!    terminates both halves, then unloads the module.
//!
//! Parameters: stagerack's plain values for a VST3 parameter are its
//! normalized value (0..=1) when it is continuous, and the step index
//! (0..=stepCount) when it has steps. The controller's own
//! `normalizedParamToPlain` is never called (it is a UI-thread function and
//! the processor converts on the audio thread).
//!
//! State: one blob, `SRV3` + version byte + the component stream and the
//! controller stream, each prefixed with its length (u32 little-endian).
//!
//! Files by role, as on the CLAP side: `load.rs` finds a class (the path
//! hint, then the search path; never a bundle the scanner blacklisted) and
//! loads it; `instance.rs` is the main-thread half (component, controller,
//! parameters, state, activation, editor); `processor.rs` the audio-thread
//! half; `buses.rs` its preallocated audio buses; `error.rs` what goes
//! wrong; `module.rs` bundles and factories; `com.rs` the host objects we
//! implement; `view.rs` editors; `runloop.rs` Linux's `IRunLoop`;
//! `events_out.rs` events a plugin emits.

mod buses;
mod com;
mod error;
mod events_out;
mod instance;
mod load;
mod module;
mod note_names;
pub mod preset_file;
mod processor;
mod programs;
#[cfg(target_os = "linux")]
mod runloop;
mod units;
mod view;

pub use self::error::Vst3Error;
pub use self::instance::Vst3Instance;
pub use self::load::{bundle_binary_path, load, load_boxed};
pub use self::module::list_vst3_classes;

const STATE_MAGIC: &[u8; 5] = b"SRV3\x01";
/// Most parameters that change in one block.
const PARAM_QUEUES: usize = 128;
/// Most points per parameter per block.
const PARAM_POINTS: usize = 64;
/// Most events per block.
const EVENT_CAPACITY: usize = 1024;
/// Queue capacity between the main thread and the processor.
const EDIT_QUEUE: usize = 1024;
/// MIDI controller slots: CC 0..=127, aftertouch (128), pitch bend (129).
const MIDI_CTRLS: usize = 130;
const NO_PARAM: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use vst3::Steinberg as sb;
    use vst3::Steinberg::kResultOk;
    use vst3::Steinberg::Vst as sv;
    use vst3::{ComPtr, ComWrapper, Interface};

    use super::com::{ComponentHandler, HostApplication, MemStream};
    use super::instance::{norm_to_plain, parse_state, plain_to_norm};
    use super::module::{bundle_binary, fixed_wstr, hex_to_tuid};
    use super::*;

    #[test]
    fn class_ids_round_trip_through_hex() {
        let hex = "0123456789ABCDEF0123456789abcdef";
        let t = hex_to_tuid(hex).unwrap();
        assert_eq!(module::tuid_to_hex(&t), hex.to_uppercase());
        assert!(hex_to_tuid("xyz").is_none());
    }

    #[test]
    fn state_blobs_parse_back() {
        let mut blob = STATE_MAGIC.to_vec();
        blob.extend_from_slice(&3u32.to_le_bytes());
        blob.extend_from_slice(b"abc");
        blob.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_state(&blob), Some((&b"abc"[..], &b""[..])));
        assert_eq!(parse_state(b"SRV3\x01\xff\xff\xff\xff"), None);
        assert_eq!(parse_state(b"nope"), None);
    }

    #[test]
    fn stepped_params_map_to_step_indices() {
        assert_eq!(plain_to_norm(4, 2.0), 0.5);
        assert_eq!(norm_to_plain(4, 0.5), 2.0);
        assert_eq!(plain_to_norm(0, 0.25), 0.25);
        assert_eq!(norm_to_plain(0, 0.25), 0.25);
    }

    #[test]
    fn component_handler_queues_edits_and_keeps_restart_flags() {
        let h = ComWrapper::new(ComponentHandler::default());
        let p = h.to_com_ptr::<sv::IComponentHandler>().unwrap();
        // SAFETY: calls through our own live COM object.
        unsafe {
            use sv::IComponentHandlerTrait;
            assert_eq!(p.beginEdit(3), kResultOk);
            assert_eq!(p.performEdit(3, 0.25), kResultOk);
            assert_eq!(p.performEdit(3, 0.5), kResultOk);
            assert_eq!(p.performEdit(4, 2.0), kResultOk);
            assert_eq!(p.endEdit(3), kResultOk);
            assert_eq!(
                p.restartComponent(sv::RestartFlags_::kLatencyChanged),
                kResultOk
            );
        }
        assert_eq!(h.edits.lock().unwrap().pending, vec![(3, 0.5), (4, 1.0)]);
        assert_eq!(
            h.restart.load(Ordering::Acquire),
            sv::RestartFlags_::kLatencyChanged
        );
        // While active, edits go to the processor's queue.
        let (tx, mut rx) = rtrb::RingBuffer::new(4);
        h.edits.lock().unwrap().producer = Some(tx);
        // SAFETY: as above.
        unsafe {
            use sv::IComponentHandlerTrait;
            p.performEdit(9, 0.75);
        }
        assert_eq!(rx.pop(), Ok((9, 0.75)));
    }

    #[test]
    fn memory_streams_read_write_seek_and_tell() {
        use sb::IBStreamTrait;
        let s = ComWrapper::new(MemStream::default());
        let p = s.to_com_ptr::<sb::IBStream>().unwrap();
        let mut data = *b"hello world";
        let (mut n, mut pos) = (0, 0i64);
        // SAFETY: calls through our own live COM object with valid buffers.
        unsafe {
            assert_eq!(p.write(data.as_mut_ptr().cast(), 11, &mut n), kResultOk);
            assert_eq!(n, 11);
            assert_eq!(
                p.seek(
                    6,
                    sb::IBStream_::IStreamSeekMode_::kIBSeekSet as i32,
                    &mut pos
                ),
                kResultOk
            );
            let mut buf = [0u8; 16];
            assert_eq!(p.read(buf.as_mut_ptr().cast(), 16, &mut n), kResultOk);
            assert_eq!(&buf[..n as usize], b"world");
            assert_eq!(p.tell(&mut pos), kResultOk);
            assert_eq!(pos, 11);
            assert_eq!(
                p.seek(
                    -5,
                    sb::IBStream_::IStreamSeekMode_::kIBSeekEnd as i32,
                    &mut pos
                ),
                kResultOk
            );
            assert_eq!(pos, 6);
            assert_ne!(
                p.seek(
                    -1,
                    sb::IBStream_::IStreamSeekMode_::kIBSeekSet as i32,
                    &mut pos
                ),
                kResultOk
            );
        }
        assert_eq!(s.bytes(), b"hello world");
    }

    #[test]
    fn host_context_names_itself_and_makes_messages() {
        use sv::{IAttributeListTrait, IHostApplicationTrait, IMessageTrait};
        let host = ComWrapper::new(HostApplication::new());
        let p = host.to_com_ptr::<sv::IHostApplication>().unwrap();
        let mut name: sv::String128 = [0; 128];
        // SAFETY: calls through our own live COM objects with valid buffers.
        unsafe {
            assert_eq!(p.getName(&mut name), kResultOk);
            assert_eq!(fixed_wstr(&name), "stagerack");
            let mut iid = sv::IMessage::IID;
            let mut obj = std::ptr::null_mut();
            let tuid = iid.as_mut_ptr() as *mut sb::TUID;
            assert_eq!(p.createInstance(tuid, tuid, &mut obj), kResultOk);
            let msg = ComPtr::from_raw(obj as *mut sv::IMessage).unwrap();
            msg.setMessageID(c"ping".as_ptr());
            assert_eq!(std::ffi::CStr::from_ptr(msg.getMessageID()), c"ping");
            let attrs = vst3::ComRef::from_raw(msg.getAttributes()).unwrap();
            assert_eq!(attrs.setInt(c"n".as_ptr(), 42), kResultOk);
            let mut v = 0;
            assert_eq!(attrs.getInt(c"n".as_ptr(), &mut v), kResultOk);
            assert_eq!(v, 42);
            let bytes = [1u8, 2, 3];
            assert_eq!(
                attrs.setBinary(c"b".as_ptr(), bytes.as_ptr().cast(), 3),
                kResultOk
            );
            let (mut ptr, mut len) = (std::ptr::null(), 0);
            assert_eq!(
                attrs.getBinary(c"b".as_ptr(), &mut ptr, &mut len),
                kResultOk
            );
            assert_eq!(
                std::slice::from_raw_parts(ptr as *const u8, len as usize),
                &bytes
            );
            // Unknown classes are refused, not crashed on.
            let mut other = [7u8; 16];
            let t = other.as_mut_ptr() as *mut sb::TUID;
            assert_ne!(p.createInstance(t, t, &mut obj), kResultOk);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn run_loop_calls_timers_from_the_main_thread_pump() {
        use std::sync::atomic::AtomicU32;
        use vst3::Class;
        use vst3::Steinberg::Linux::{IRunLoop, IRunLoopTrait, ITimerHandler, ITimerHandlerTrait};
        struct Ticker(AtomicU32);
        impl Class for Ticker {
            type Interfaces = (ITimerHandler,);
        }
        impl ITimerHandlerTrait for Ticker {
            unsafe fn onTimer(&self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let host = ComWrapper::new(HostApplication::new());
        let unknown = host.to_com_ptr::<sv::IHostApplication>().unwrap();
        // Plugins find the run loop by querying the host context.
        let rl = unknown
            .cast::<IRunLoop>()
            .expect("host context offers IRunLoop");
        let ticker = ComWrapper::new(Ticker(AtomicU32::new(0)));
        let t = ticker.to_com_ptr::<ITimerHandler>().unwrap();
        // SAFETY: calls through live COM objects.
        unsafe { assert_eq!(rl.registerTimer(t.as_ptr(), 1), kResultOk) };
        std::thread::sleep(std::time::Duration::from_millis(5));
        host.run_loop.service();
        assert_eq!(ticker.0.load(Ordering::Relaxed), 1);
        // SAFETY: as above.
        unsafe { assert_eq!(rl.unregisterTimer(t.as_ptr()), kResultOk) };
        std::thread::sleep(std::time::Duration::from_millis(5));
        host.run_loop.service();
        assert_eq!(ticker.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn missing_bundle_names_the_path() {
        let e = bundle_binary(Path::new("/nonexistent/Foo.vst3")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/Foo.vst3"), "{e}");
    }
}
