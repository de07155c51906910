//! The probe controller's editor (`IPlugView`, Linux: `X11EmbedWindowID`),
//! so hosts can test VST3 editors: the test plugins' level window
//! (`stagerack_plugins_test::level_window`, the same contract as the CLAP
//! `Stagerack Editor`), its bar showing `level`. It reads its X events
//! on a 20 ms timer registered with the `IRunLoop` it finds on the host's
//! `IPlugFrame`; a click asks the frame for [`LARGE_SIZE`]
//! (`resizeView`), and the view takes the size the host then gives it
//! through `onSize`. `removed` destroys the window and unregisters the
//! timer. Every entry point runs inside `catch_unwind`.

use std::cell::{Cell, RefCell};
use std::ffi::{c_void, CStr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use stagerack_plugins_test::level_window::{LevelWindow, INITIAL_SIZE, LARGE_SIZE};
use vst3::Steinberg::Linux::{IRunLoop, IRunLoopTrait, ITimerHandler, ITimerHandlerTrait};
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComRef, ComWrapper};

use super::{guard, load_f64};

/// One editor view of the probe controller. Main (UI) thread.
pub struct ProbeView {
    level: Arc<AtomicU64>,
    size: Cell<(u32, u32)>,
    frame: RefCell<Option<ComPtr<IPlugFrame>>>,
    gui: RefCell<Option<LevelWindow>>,
    /// This object as `IPlugView` / `ITimerHandler` (no reference held:
    /// set right after creation, valid while the object lives).
    this_view: Cell<*mut IPlugView>,
    this_timer: Cell<*mut ITimerHandler>,
    timer: RefCell<Option<ComPtr<IRunLoop>>>,
}

impl Class for ProbeView {
    type Interfaces = (IPlugView, ITimerHandler);
}

/// A new view showing `level` (normalized, f64 bits), as a COM pointer
/// with one reference for the caller of `createView`.
pub fn create(level: Arc<AtomicU64>) -> *mut IPlugView {
    let view = ComWrapper::new(ProbeView {
        level,
        size: Cell::new(INITIAL_SIZE),
        frame: RefCell::new(None),
        gui: RefCell::new(None),
        this_view: Cell::new(std::ptr::null_mut()),
        this_timer: Cell::new(std::ptr::null_mut()),
        timer: RefCell::new(None),
    });
    if let Some(r) = view.as_com_ref::<IPlugView>() {
        view.this_view.set(r.as_ptr());
    }
    if let Some(r) = view.as_com_ref::<ITimerHandler>() {
        view.this_timer.set(r.as_ptr());
    }
    view.to_com_ptr::<IPlugView>()
        .map_or(std::ptr::null_mut(), |p| p.into_raw())
}

impl ProbeView {
    fn redraw(&self) {
        if let Some(w) = self.gui.borrow_mut().as_mut() {
            w.draw(load_f64(&self.level));
        }
    }
}

impl IPlugViewTrait for ProbeView {
    unsafe fn isPlatformTypeSupported(&self, r#type: FIDString) -> tresult {
        guard(kResultFalse, || {
            if r#type.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null NUL-terminated platform type string.
            let t = unsafe { CStr::from_ptr(r#type) };
            if t.to_bytes() == b"X11EmbedWindowID" {
                kResultTrue
            } else {
                kResultFalse
            }
        })
    }

    unsafe fn attached(&self, parent: *mut c_void, r#type: FIDString) -> tresult {
        guard(kInternalError, || {
            // SAFETY: the same string check as isPlatformTypeSupported.
            if parent.is_null() || unsafe { self.isPlatformTypeSupported(r#type) } != kResultTrue {
                return kInvalidArgument;
            }
            let Ok(gui) = LevelWindow::open(parent as usize as u32, self.size.get()) else {
                return kResultFalse;
            };
            if gui.set_visible(true).is_err() {
                return kResultFalse;
            }
            *self.gui.borrow_mut() = Some(gui);
            self.redraw();
            // Our X events, read on the host's run loop (from the frame).
            let run_loop = self
                .frame
                .borrow()
                .as_ref()
                .and_then(|f| f.cast::<IRunLoop>());
            if let Some(rl) = run_loop {
                // SAFETY: this object as ITimerHandler, alive while
                // registered (the run loop holds a reference).
                if unsafe { rl.registerTimer(self.this_timer.get(), 20) } == kResultOk {
                    *self.timer.borrow_mut() = Some(rl);
                }
            }
            kResultOk
        })
    }

    unsafe fn removed(&self) -> tresult {
        guard(kInternalError, || {
            if let Some(rl) = self.timer.borrow_mut().take() {
                // SAFETY: unregisters what `attached` registered.
                unsafe { rl.unregisterTimer(self.this_timer.get()) };
            }
            drop(self.gui.borrow_mut().take());
            kResultOk
        })
    }

    unsafe fn onWheel(&self, _distance: f32) -> tresult {
        kResultFalse
    }

    unsafe fn onKeyDown(&self, _key: char16, _code: int16, _modifiers: int16) -> tresult {
        kResultFalse
    }

    unsafe fn onKeyUp(&self, _key: char16, _code: int16, _modifiers: int16) -> tresult {
        kResultFalse
    }

    unsafe fn getSize(&self, size: *mut ViewRect) -> tresult {
        guard(kInternalError, || {
            if size.is_null() {
                return kInvalidArgument;
            }
            let (w, h) = self.size.get();
            // SAFETY: non-null out-struct.
            unsafe {
                *size = ViewRect {
                    left: 0,
                    top: 0,
                    right: w as i32,
                    bottom: h as i32,
                }
            };
            kResultOk
        })
    }

    unsafe fn onSize(&self, new_size: *mut ViewRect) -> tresult {
        guard(kInternalError, || {
            if new_size.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null in-struct.
            let r = unsafe { *new_size };
            let (w, h) = (r.right - r.left, r.bottom - r.top);
            if w <= 0 || h <= 0 {
                return kInvalidArgument;
            }
            self.size.set((w as u32, h as u32));
            if let Some(g) = self.gui.borrow_mut().as_mut() {
                let _ = g.resize(w as u32, h as u32);
            }
            self.redraw();
            kResultOk
        })
    }

    unsafe fn onFocus(&self, _state: TBool) -> tresult {
        kResultOk
    }

    unsafe fn setFrame(&self, frame: *mut IPlugFrame) -> tresult {
        guard(kInternalError, || {
            // SAFETY: a possibly-null pointer from the host, checked.
            *self.frame.borrow_mut() = unsafe { ComRef::from_raw(frame) }.map(|f| f.to_com_ptr());
            kResultOk
        })
    }

    unsafe fn canResize(&self) -> tresult {
        kResultFalse
    }

    unsafe fn checkSizeConstraint(&self, _rect: *mut ViewRect) -> tresult {
        kResultTrue
    }
}

impl ITimerHandlerTrait for ProbeView {
    unsafe fn onTimer(&self) {
        guard((), || {
            let (expose, click) = match self.gui.borrow().as_ref() {
                Some(g) => {
                    let p = g.poll();
                    (p.expose || g.stale(load_f64(&self.level)), p.click)
                }
                None => (false, false),
            };
            if click {
                let frame = self.frame.borrow().clone();
                if let Some(frame) = frame {
                    let (w, h) = LARGE_SIZE;
                    let mut rect = ViewRect {
                        left: 0,
                        top: 0,
                        right: w as i32,
                        bottom: h as i32,
                    };
                    // SAFETY: this view and a valid rect; the host answers
                    // by resizing its window and calling onSize.
                    unsafe { frame.resizeView(self.this_view.get(), &mut rect) };
                }
            }
            if expose {
                self.redraw();
            }
        });
    }
}
