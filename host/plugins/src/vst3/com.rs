//! The COM objects stagerack gives VST3 plugins: the host context, the
//! component handler, messages and attribute lists, memory streams, and the
//! event and parameter lists of a process call.
//!
//! Every method here is called from C: each body runs inside
//! [`guard`] (`catch_unwind`) and null-checks its pointers.
//!
//! The process-call objects ([`EventList`], [`ParamChanges`],
//! [`ParamQueue`]) are created on the main thread at activation with fixed
//! capacities and never grow; the processor that owns them keeps a
//! [`ComWrapper`] so no reference count ever reaches zero on the audio thread.

use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use vst3::Steinberg::Vst::{
    Event, IAttributeList, IAttributeListTrait, IComponentHandler, IComponentHandlerTrait,
    IEventList, IEventListTrait, IHostApplication, IHostApplicationTrait, IMessage, IMessageTrait,
    IParamValueQueue, IParamValueQueueTrait, IParameterChanges, IParameterChangesTrait, ParamID,
    ParamValue, String128, TChar,
};
use vst3::Steinberg::{
    int32, int64, tresult, uint32, FIDString, IBStream, IBStreamTrait, IBStream_, TUID,
};
use vst3::Steinberg::{kInvalidArgument, kNoInterface, kResultFalse, kResultOk};
use vst3::{Class, ComWrapper, Interface};

/// Runs a callback body, turning a panic into `default` (never unwinds into
/// C). Any thread; allocates nothing unless a panic happens.
pub(super) fn guard<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// Copies `src` into a UTF-16 `String128`, NUL-terminated and truncated.
pub(super) fn write_wstr(src: &str, dst: &mut [TChar]) {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(src.encode_utf16()) {
        *d = s;
        n += 1;
    }
    let end = n.min(dst.len().saturating_sub(1));
    if let Some(d) = dst.get_mut(end) {
        *d = 0;
    }
}

fn iid_eq(a: *const TUID, b: &[u8; 16]) -> bool {
    if a.is_null() {
        return false;
    }
    // SAFETY: a TUID pointer from the plugin points at 16 bytes.
    let a = unsafe { &*(a as *const [u8; 16]) };
    a == b
}

// ---------------------------------------------------------------------------
// Host application (and, on Linux, its run loop)

/// The host context handed to the factory and to `initialize`. Main thread.
pub(super) struct HostApplication {
    #[cfg(target_os = "linux")]
    pub(super) run_loop: super::runloop::RunLoopState,
}

impl HostApplication {
    /// A fresh host context. Main thread.
    pub(super) fn new() -> Self {
        HostApplication {
            #[cfg(target_os = "linux")]
            run_loop: super::runloop::RunLoopState::default(),
        }
    }
}

#[cfg(target_os = "linux")]
impl Class for HostApplication {
    type Interfaces = (IHostApplication, vst3::Steinberg::Linux::IRunLoop);
}

#[cfg(not(target_os = "linux"))]
impl Class for HostApplication {
    type Interfaces = (IHostApplication,);
}

impl IHostApplicationTrait for HostApplication {
    unsafe fn getName(&self, name: *mut String128) -> tresult {
        guard(kInternalErr(), || {
            if name.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-pointer to a String128.
            write_wstr("stagerack", unsafe { &mut *name });
            kResultOk
        })
    }

    unsafe fn createInstance(
        &self,
        cid: *mut TUID,
        iid: *mut TUID,
        obj: *mut *mut c_void,
    ) -> tresult {
        guard(kInternalErr(), || {
            if obj.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null out-pointer.
            unsafe { *obj = std::ptr::null_mut() };
            let want_iid = if iid.is_null() { cid } else { iid };
            let unknown = if iid_eq(cid, &IMessage::IID) {
                ComWrapper::new(Message::default()).to_com_ptr::<vst3::Steinberg::FUnknown>()
            } else if iid_eq(cid, &IAttributeList::IID) {
                ComWrapper::new(AttributeList::default()).to_com_ptr::<vst3::Steinberg::FUnknown>()
            } else {
                return kNoInterface;
            };
            let Some(unknown) = unknown else {
                return kNoInterface;
            };
            let raw = unknown.as_ptr();
            // SAFETY: `raw` is a live object we just made; queryInterface
            // adds the reference the caller will own.
            unsafe { ((*(*raw).vtbl).queryInterface)(raw, want_iid as *const TUID, obj) }
        })
    }
}

#[allow(non_snake_case)]
const fn kInternalErr() -> tresult {
    vst3::Steinberg::kInternalError
}

// ---------------------------------------------------------------------------
// Component handler

/// Edits from the controller waiting for the processor.
#[derive(Default)]
pub(super) struct EditSink {
    /// The processor's queue while active.
    pub(super) producer: Option<rtrb::Producer<(ParamID, ParamValue)>>,
    /// Edits made while inactive; handed over at the next activation.
    pub(super) pending: Vec<(ParamID, ParamValue)>,
}

impl EditSink {
    /// Sends an edit to the processor (or keeps it for activation). Main
    /// thread.
    pub(super) fn push(&mut self, id: ParamID, value: ParamValue) {
        match &mut self.producer {
            Some(p) => {
                // A full queue drops the edit; the controller still holds
                // the value and the next edit carries it.
                let _ = p.push((id, value));
            }
            None => {
                if let Some(e) = self.pending.iter_mut().find(|e| e.0 == id) {
                    e.1 = value;
                } else {
                    self.pending.push((id, value));
                }
            }
        }
    }
}

/// The plugin's `IComponentHandler`: its edits become parameter changes for
/// the processor; `restartComponent` flags are kept for the main thread.
/// Called by the controller on the main thread.
#[derive(Default)]
pub(super) struct ComponentHandler {
    /// Edits for the processor.
    pub(super) edits: Mutex<EditSink>,
    /// `restartComponent` flags not yet handled.
    pub(super) restart: AtomicI32,
}

impl Class for ComponentHandler {
    type Interfaces = (IComponentHandler,);
}

impl IComponentHandlerTrait for ComponentHandler {
    unsafe fn beginEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }

    unsafe fn performEdit(&self, id: ParamID, value: ParamValue) -> tresult {
        guard(kInternalErr(), || {
            if let Ok(mut e) = self.edits.lock() {
                e.push(id, value.clamp(0.0, 1.0));
            }
            kResultOk
        })
    }

    unsafe fn endEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }

    unsafe fn restartComponent(&self, flags: int32) -> tresult {
        guard(kInternalErr(), || {
            self.restart.fetch_or(flags, Ordering::AcqRel);
            kResultOk
        })
    }
}

// ---------------------------------------------------------------------------
// Messages and attribute lists (main thread)

#[derive(Clone)]
enum Attr {
    Int(i64),
    Float(f64),
    Str(Vec<u16>),
    Bin(Vec<u8>),
}

/// A host-made `IAttributeList`. Main thread.
#[derive(Default)]
pub(super) struct AttributeList {
    map: Mutex<HashMap<Vec<u8>, Attr>>,
}

impl Class for AttributeList {
    type Interfaces = (IAttributeList,);
}

fn attr_key(id: *const c_char) -> Option<Vec<u8>> {
    if id.is_null() {
        return None;
    }
    // SAFETY: non-null NUL-terminated attribute id.
    Some(unsafe { CStr::from_ptr(id) }.to_bytes().to_vec())
}

impl AttributeList {
    fn set(&self, id: *const c_char, v: Attr) -> tresult {
        let Some(k) = attr_key(id) else {
            return kInvalidArgument;
        };
        match self.map.lock() {
            Ok(mut m) => {
                m.insert(k, v);
                kResultOk
            }
            Err(_) => kResultFalse,
        }
    }

    fn with<T>(&self, id: *const c_char, f: impl FnOnce(&Attr) -> T) -> Option<T> {
        let k = attr_key(id)?;
        let m = self.map.lock().ok()?;
        m.get(&k).map(f)
    }
}

impl IAttributeListTrait for AttributeList {
    unsafe fn setInt(&self, id: *const c_char, value: int64) -> tresult {
        guard(kInternalErr(), || self.set(id, Attr::Int(value)))
    }

    unsafe fn getInt(&self, id: *const c_char, value: *mut int64) -> tresult {
        guard(kInternalErr(), || {
            match (self.with(id, |a| a.clone()), value.is_null()) {
                (Some(Attr::Int(v)), false) => {
                    // SAFETY: non-null out-pointer.
                    unsafe { *value = v };
                    kResultOk
                }
                _ => kResultFalse,
            }
        })
    }

    unsafe fn setFloat(&self, id: *const c_char, value: f64) -> tresult {
        guard(kInternalErr(), || self.set(id, Attr::Float(value)))
    }

    unsafe fn getFloat(&self, id: *const c_char, value: *mut f64) -> tresult {
        guard(kInternalErr(), || {
            match (self.with(id, |a| a.clone()), value.is_null()) {
                (Some(Attr::Float(v)), false) => {
                    // SAFETY: non-null out-pointer.
                    unsafe { *value = v };
                    kResultOk
                }
                _ => kResultFalse,
            }
        })
    }

    unsafe fn setString(&self, id: *const c_char, string: *const TChar) -> tresult {
        guard(kInternalErr(), || {
            if string.is_null() {
                return kInvalidArgument;
            }
            let mut v = Vec::new();
            let mut i = 0;
            loop {
                // SAFETY: NUL-terminated UTF-16 string from the plugin.
                let c = unsafe { *string.add(i) };
                if c == 0 {
                    break;
                }
                v.push(c);
                i += 1;
            }
            self.set(id, Attr::Str(v))
        })
    }

    unsafe fn getString(&self, id: *const c_char, string: *mut TChar, size: uint32) -> tresult {
        guard(kInternalErr(), || {
            if string.is_null() || size < 2 {
                return kInvalidArgument;
            }
            let Some(Attr::Str(v)) = self.with(id, |a| a.clone()) else {
                return kResultFalse;
            };
            let cap = size as usize / 2;
            let n = v.len().min(cap - 1);
            // SAFETY: the caller's buffer holds `size` bytes = `cap` chars.
            let dst = unsafe { std::slice::from_raw_parts_mut(string, cap) };
            dst[..n].copy_from_slice(&v[..n]);
            dst[n] = 0;
            kResultOk
        })
    }

    unsafe fn setBinary(&self, id: *const c_char, data: *const c_void, size: uint32) -> tresult {
        guard(kInternalErr(), || {
            if data.is_null() && size > 0 {
                return kInvalidArgument;
            }
            let bytes = if size == 0 {
                Vec::new()
            } else {
                // SAFETY: the plugin passes `size` readable bytes.
                unsafe { std::slice::from_raw_parts(data as *const u8, size as usize) }.to_vec()
            };
            self.set(id, Attr::Bin(bytes))
        })
    }

    unsafe fn getBinary(
        &self,
        id: *const c_char,
        data: *mut *const c_void,
        size: *mut uint32,
    ) -> tresult {
        guard(kInternalErr(), || {
            if data.is_null() || size.is_null() {
                return kInvalidArgument;
            }
            let Some(k) = attr_key(id) else {
                return kInvalidArgument;
            };
            let Ok(m) = self.map.lock() else {
                return kResultFalse;
            };
            match m.get(&k) {
                Some(Attr::Bin(b)) => {
                    // SAFETY: non-null out-pointers; the bytes live as long
                    // as this list (and are not replaced while read).
                    unsafe {
                        *data = b.as_ptr() as *const c_void;
                        *size = b.len() as uint32;
                    }
                    kResultOk
                }
                _ => kResultFalse,
            }
        })
    }
}

/// A host-made `IMessage`. Main thread.
pub(super) struct Message {
    id: Mutex<CString>,
    attrs: ComWrapper<AttributeList>,
}

impl Default for Message {
    fn default() -> Self {
        Message {
            id: Mutex::new(CString::default()),
            attrs: ComWrapper::new(AttributeList::default()),
        }
    }
}

impl Class for Message {
    type Interfaces = (IMessage,);
}

impl IMessageTrait for Message {
    unsafe fn getMessageID(&self) -> FIDString {
        guard(std::ptr::null(), || match self.id.lock() {
            // The CString is only replaced by setMessageID.
            Ok(id) => id.as_ptr(),
            Err(_) => std::ptr::null(),
        })
    }

    unsafe fn setMessageID(&self, id: FIDString) {
        guard((), || {
            let Some(k) = attr_key(id) else { return };
            if let (Ok(mut slot), Ok(c)) = (self.id.lock(), CString::new(k)) {
                *slot = c;
            }
        })
    }

    unsafe fn getAttributes(&self) -> *mut IAttributeList {
        // Not add-ref'ed: the list lives as long as the message (SDK rule).
        self.attrs
            .as_com_ref::<IAttributeList>()
            .map_or(std::ptr::null_mut(), |r| r.as_ptr())
    }
}

// ---------------------------------------------------------------------------
// Memory stream (main thread)

/// An `IBStream` over bytes in memory. Main thread.
#[derive(Default)]
pub(super) struct MemStream {
    inner: Mutex<(Vec<u8>, usize)>,
}

impl MemStream {
    /// A stream to read `bytes` from. Main thread.
    pub(super) fn reading(bytes: &[u8]) -> Self {
        MemStream {
            inner: Mutex::new((bytes.to_vec(), 0)),
        }
    }

    /// The bytes written so far. Main thread.
    pub(super) fn bytes(&self) -> Vec<u8> {
        self.inner.lock().map(|g| g.0.clone()).unwrap_or_default()
    }
}

impl Class for MemStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemStream {
    unsafe fn read(&self, buffer: *mut c_void, num: int32, read: *mut int32) -> tresult {
        guard(kInternalErr(), || {
            if buffer.is_null() || num < 0 {
                return kInvalidArgument;
            }
            let Ok(mut g) = self.inner.lock() else {
                return kResultFalse;
            };
            let (data, pos) = &mut *g;
            let start = (*pos).min(data.len());
            let n = (num as usize).min(data.len() - start);
            // SAFETY: the caller's buffer holds `num` ≥ `n` bytes.
            unsafe { std::ptr::copy_nonoverlapping(data[start..].as_ptr(), buffer as *mut u8, n) };
            *pos = start + n;
            if !read.is_null() {
                // SAFETY: non-null out-pointer.
                unsafe { *read = n as int32 };
            }
            kResultOk
        })
    }

    unsafe fn write(&self, buffer: *mut c_void, num: int32, written: *mut int32) -> tresult {
        guard(kInternalErr(), || {
            if buffer.is_null() || num < 0 {
                return kInvalidArgument;
            }
            let Ok(mut g) = self.inner.lock() else {
                return kResultFalse;
            };
            let (data, pos) = &mut *g;
            // SAFETY: the caller passes `num` readable bytes.
            let src = unsafe { std::slice::from_raw_parts(buffer as *const u8, num as usize) };
            let end = *pos + src.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[*pos..end].copy_from_slice(src);
            *pos = end;
            if !written.is_null() {
                // SAFETY: non-null out-pointer.
                unsafe { *written = num };
            }
            kResultOk
        })
    }

    unsafe fn seek(&self, pos: int64, mode: int32, result: *mut int64) -> tresult {
        guard(kInternalErr(), || {
            let Ok(mut g) = self.inner.lock() else {
                return kResultFalse;
            };
            let (data, cur) = &mut *g;
            let base = match mode as u32 {
                x if x == IBStream_::IStreamSeekMode_::kIBSeekSet => 0i64,
                x if x == IBStream_::IStreamSeekMode_::kIBSeekCur => *cur as i64,
                x if x == IBStream_::IStreamSeekMode_::kIBSeekEnd => data.len() as i64,
                _ => return kInvalidArgument,
            };
            let new = base + pos;
            if new < 0 {
                return kInvalidArgument;
            }
            *cur = new as usize;
            if !result.is_null() {
                // SAFETY: non-null out-pointer.
                unsafe { *result = new };
            }
            kResultOk
        })
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        guard(kInternalErr(), || {
            if pos.is_null() {
                return kInvalidArgument;
            }
            let Ok(g) = self.inner.lock() else {
                return kResultFalse;
            };
            // SAFETY: non-null out-pointer.
            unsafe { *pos = g.1 as int64 };
            kResultOk
        })
    }
}

// ---------------------------------------------------------------------------
// Process-call objects (audio thread, preallocated)

/// A fixed-capacity `IEventList`. Created on the main thread; filled and
/// read on the audio thread by the one processor that owns it.
pub(super) struct EventList {
    events: UnsafeCell<Vec<Event>>,
}

// SAFETY: an EventList is used by one thread at a time: the processor that
// owns it, during its `process` call (and the plugin inside that call).
unsafe impl Sync for EventList {}
// SAFETY: as above; moving it between threads moves that ownership.
unsafe impl Send for EventList {}

impl EventList {
    /// A list that holds up to `capacity` events. Main thread.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        EventList {
            events: UnsafeCell::new(Vec::with_capacity(capacity)),
        }
    }

    /// Empties the list. Audio thread.
    pub(super) fn clear(&self) {
        // SAFETY: one thread at a time (see the Sync impl); no reference
        // into the Vec outlives this call.
        unsafe { (*self.events.get()).clear() };
    }

    /// The events in the list, for reading after the plugin filled it.
    /// Audio thread (the one using the list).
    pub(super) fn events(&self) -> &[Event] {
        // SAFETY: one thread at a time (see the Sync impl); the plugin is
        // done with the list when the host reads it.
        unsafe { &*self.events.get() }
    }

    /// Appends an event unless full. Audio thread; never allocates.
    pub(super) fn push(&self, e: Event) -> bool {
        // SAFETY: one thread at a time (see the Sync impl).
        let v = unsafe { &mut *self.events.get() };
        if v.len() < v.capacity() {
            v.push(e);
            true
        } else {
            false
        }
    }
}

impl Class for EventList {
    type Interfaces = (IEventList,);
}

impl IEventListTrait for EventList {
    unsafe fn getEventCount(&self) -> int32 {
        guard(0, || {
            // SAFETY: one thread at a time (see the Sync impl).
            unsafe { (*self.events.get()).len() as int32 }
        })
    }

    unsafe fn getEvent(&self, index: int32, e: *mut Event) -> tresult {
        guard(kInternalErr(), || {
            if e.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: one thread at a time (see the Sync impl).
            let v = unsafe { &*self.events.get() };
            match usize::try_from(index).ok().and_then(|i| v.get(i)) {
                Some(ev) => {
                    // SAFETY: non-null out-pointer.
                    unsafe { *e = *ev };
                    kResultOk
                }
                None => kInvalidArgument,
            }
        })
    }

    unsafe fn addEvent(&self, e: *mut Event) -> tresult {
        guard(kInternalErr(), || {
            if e.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null event from the plugin.
            if self.push(unsafe { *e }) {
                kResultOk
            } else {
                kResultFalse
            }
        })
    }
}

/// A fixed-capacity `IParamValueQueue`. See [`EventList`] for threads.
pub(super) struct ParamQueue {
    id: Cell<ParamID>,
    points: UnsafeCell<Vec<(int32, ParamValue)>>,
}

// SAFETY: used by one thread at a time, like EventList.
unsafe impl Sync for ParamQueue {}
// SAFETY: as above.
unsafe impl Send for ParamQueue {}

impl ParamQueue {
    fn new(capacity: usize) -> Self {
        ParamQueue {
            id: Cell::new(0),
            points: UnsafeCell::new(Vec::with_capacity(capacity)),
        }
    }

    fn reset(&self, id: ParamID) {
        self.id.set(id);
        // SAFETY: one thread at a time.
        unsafe { (*self.points.get()).clear() };
    }

    /// Appends a point; a point at the same offset as the last replaces it.
    /// Audio thread; never allocates.
    pub(super) fn add(&self, offset: int32, value: ParamValue) -> Option<int32> {
        // SAFETY: one thread at a time.
        let v = unsafe { &mut *self.points.get() };
        if let Some(last) = v.last_mut() {
            if last.0 == offset {
                last.1 = value;
                return Some(v.len() as int32 - 1);
            }
            if last.0 > offset {
                return None;
            }
        }
        if v.len() < v.capacity() {
            v.push((offset, value));
            Some(v.len() as int32 - 1)
        } else {
            // Full: the last point takes the newest value.
            let last = v.last_mut()?;
            last.1 = value;
            Some(v.len() as int32 - 1)
        }
    }

    /// The points. Audio thread.
    pub(super) fn points(&self) -> &[(int32, ParamValue)] {
        // SAFETY: one thread at a time; the slice is read before the next
        // mutation by the same thread.
        unsafe { &*self.points.get() }
    }
}

impl Class for ParamQueue {
    type Interfaces = (IParamValueQueue,);
}

impl IParamValueQueueTrait for ParamQueue {
    unsafe fn getParameterId(&self) -> ParamID {
        guard(0, || self.id.get())
    }

    unsafe fn getPointCount(&self) -> int32 {
        guard(0, || self.points().len() as int32)
    }

    unsafe fn getPoint(&self, index: int32, offset: *mut int32, value: *mut ParamValue) -> tresult {
        guard(kInternalErr(), || {
            if offset.is_null() || value.is_null() {
                return kInvalidArgument;
            }
            match usize::try_from(index)
                .ok()
                .and_then(|i| self.points().get(i))
            {
                Some(&(o, v)) => {
                    // SAFETY: non-null out-pointers.
                    unsafe {
                        *offset = o;
                        *value = v;
                    }
                    kResultOk
                }
                None => kInvalidArgument,
            }
        })
    }

    unsafe fn addPoint(&self, offset: int32, value: ParamValue, index: *mut int32) -> tresult {
        guard(kInternalErr(), || {
            match self.add(offset, value) {
                Some(i) => {
                    if !index.is_null() {
                        // SAFETY: non-null out-pointer.
                        unsafe { *index = i };
                    }
                    kResultOk
                }
                None => kResultFalse,
            }
        })
    }
}

/// A fixed-capacity `IParameterChanges` of up to N queues. See
/// [`EventList`] for threads.
pub(super) struct ParamChanges {
    queues: Vec<ComWrapper<ParamQueue>>,
    ptrs: Vec<*mut IParamValueQueue>,
    used: Cell<usize>,
}

// SAFETY: used by one thread at a time, like EventList; the raw pointers
// point into `queues`, which this struct keeps alive.
unsafe impl Sync for ParamChanges {}
// SAFETY: as above.
unsafe impl Send for ParamChanges {}

impl ParamChanges {
    /// Up to `queues` parameters with up to `points` points each per block.
    /// Main thread (allocates).
    pub(super) fn new(queues: usize, points: usize) -> Self {
        let queues: Vec<_> = (0..queues)
            .map(|_| ComWrapper::new(ParamQueue::new(points)))
            .collect();
        let ptrs = queues
            .iter()
            .map(|q| {
                q.as_com_ref::<IParamValueQueue>()
                    .map_or(std::ptr::null_mut(), |r| r.as_ptr())
            })
            .collect();
        ParamChanges {
            queues,
            ptrs,
            used: Cell::new(0),
        }
    }

    /// Empties every queue. Audio thread.
    pub(super) fn clear(&self) {
        self.used.set(0);
    }

    /// The queue for `id`, taking a free one if needed. Audio thread.
    pub(super) fn queue(&self, id: ParamID) -> Option<(usize, &ParamQueue)> {
        let used = self.used.get();
        if let Some(i) = self.queues[..used].iter().position(|q| q.id.get() == id) {
            return Some((i, &self.queues[i]));
        }
        if used < self.queues.len() {
            self.queues[used].reset(id);
            self.used.set(used + 1);
            return Some((used, &self.queues[used]));
        }
        None
    }

    /// The used queues. Audio thread.
    pub(super) fn used(&self) -> impl Iterator<Item = &ParamQueue> {
        self.queues[..self.used.get()].iter().map(|q| &**q)
    }
}

impl Class for ParamChanges {
    type Interfaces = (IParameterChanges,);
}

impl IParameterChangesTrait for ParamChanges {
    unsafe fn getParameterCount(&self) -> int32 {
        guard(0, || self.used.get() as int32)
    }

    unsafe fn getParameterData(&self, index: int32) -> *mut IParamValueQueue {
        guard(std::ptr::null_mut(), || match usize::try_from(index) {
            Ok(i) if i < self.used.get() => self.ptrs[i],
            _ => std::ptr::null_mut(),
        })
    }

    unsafe fn addParameterData(
        &self,
        id: *const ParamID,
        index: *mut int32,
    ) -> *mut IParamValueQueue {
        guard(std::ptr::null_mut(), || {
            if id.is_null() {
                return std::ptr::null_mut();
            }
            // SAFETY: non-null id pointer.
            let id = unsafe { *id };
            match self.queue(id) {
                Some((i, _)) => {
                    if !index.is_null() {
                        // SAFETY: non-null out-pointer.
                        unsafe { *index = i as int32 };
                    }
                    self.ptrs[i]
                }
                None => std::ptr::null_mut(),
            }
        })
    }
}
