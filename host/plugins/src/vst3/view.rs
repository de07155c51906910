//! VST3 editors: the controller's `IPlugView` embedded in the host's editor
//! window, with our `IPlugFrame` (resize requests; on Linux also the
//! `IRunLoop` plugins look for on the frame, delegating to the instance's
//! run loop, which the session pump services). Main (UI) thread only.

use std::ffi::CStr;
use std::sync::Arc;

use vst3::Steinberg::{
    kInvalidArgument, kResultOk, kResultTrue, tresult, FIDString, IPlugFrame, IPlugFrameTrait,
    IPlugView, IPlugViewTrait, ViewRect,
};
use vst3::{Class, ComPtr, ComWrapper};

use super::com::guard;
use stagerack_core::editor::{ParentWindow, ResizeRequest};

/// The platform type string of the windows this host embeds into.
pub(super) fn platform_type() -> FIDString {
    if cfg!(target_os = "windows") {
        vst3::Steinberg::kPlatformTypeHWND
    } else if cfg!(target_os = "macos") {
        vst3::Steinberg::kPlatformTypeNSView
    } else {
        vst3::Steinberg::kPlatformTypeX11EmbedWindowID
    }
}

/// Our `IPlugFrame`. Main thread.
pub(super) struct PlugFrame {
    /// `resizeView` asked for this size.
    resize: Arc<ResizeRequest>,
    /// The instance's host context as `IRunLoop`: timers and fds the view
    /// registers through the frame land in the same run loop.
    #[cfg(target_os = "linux")]
    run_loop: Option<ComPtr<vst3::Steinberg::Linux::IRunLoop>>,
}

#[cfg(target_os = "linux")]
impl Class for PlugFrame {
    type Interfaces = (IPlugFrame, vst3::Steinberg::Linux::IRunLoop);
}

#[cfg(not(target_os = "linux"))]
impl Class for PlugFrame {
    type Interfaces = (IPlugFrame,);
}

impl IPlugFrameTrait for PlugFrame {
    unsafe fn resizeView(&self, _view: *mut IPlugView, new_size: *mut ViewRect) -> tresult {
        guard(kInvalidArgument, || {
            if new_size.is_null() {
                return kInvalidArgument;
            }
            // SAFETY: non-null rect from the plugin.
            let r = unsafe { *new_size };
            let size = |a: i32, b: i32| u32::try_from(b - a).unwrap_or(0);
            if self
                .resize
                .ask(size(r.left, r.right), size(r.top, r.bottom))
            {
                kResultTrue
            } else {
                kInvalidArgument
            }
        })
    }
}

#[cfg(target_os = "linux")]
impl vst3::Steinberg::Linux::IRunLoopTrait for PlugFrame {
    unsafe fn registerEventHandler(
        &self,
        handler: *mut vst3::Steinberg::Linux::IEventHandler,
        fd: vst3::Steinberg::Linux::FileDescriptor,
    ) -> tresult {
        match &self.run_loop {
            // SAFETY: forwards the plugin's arguments unchanged.
            Some(rl) => unsafe { rl.registerEventHandler(handler, fd) },
            None => kInvalidArgument,
        }
    }

    unsafe fn unregisterEventHandler(
        &self,
        handler: *mut vst3::Steinberg::Linux::IEventHandler,
    ) -> tresult {
        match &self.run_loop {
            // SAFETY: forwards the plugin's argument unchanged.
            Some(rl) => unsafe { rl.unregisterEventHandler(handler) },
            None => kInvalidArgument,
        }
    }

    unsafe fn registerTimer(
        &self,
        handler: *mut vst3::Steinberg::Linux::ITimerHandler,
        ms: vst3::Steinberg::Linux::TimerInterval,
    ) -> tresult {
        match &self.run_loop {
            // SAFETY: forwards the plugin's arguments unchanged.
            Some(rl) => unsafe { rl.registerTimer(handler, ms) },
            None => kInvalidArgument,
        }
    }

    unsafe fn unregisterTimer(
        &self,
        handler: *mut vst3::Steinberg::Linux::ITimerHandler,
    ) -> tresult {
        match &self.run_loop {
            // SAFETY: forwards the plugin's argument unchanged.
            Some(rl) => unsafe { rl.unregisterTimer(handler) },
            None => kInvalidArgument,
        }
    }
}

/// An open editor: the view and our frame. Main thread.
pub(super) struct Vst3Editor {
    view: ComPtr<IPlugView>,
    frame: ComWrapper<PlugFrame>,
    resize: Arc<ResizeRequest>,
    attached: bool,
}

impl Vst3Editor {
    /// Creates the controller's editor view (`createView("editor")`) when it
    /// supports this platform's windows; None otherwise. Main thread.
    pub(super) fn create(
        controller: &ComPtr<vst3::Steinberg::Vst::IEditController>,
        #[cfg(target_os = "linux")] run_loop: Option<ComPtr<vst3::Steinberg::Linux::IRunLoop>>,
    ) -> Option<Vst3Editor> {
        use vst3::Steinberg::Vst::IEditControllerTrait;
        // SAFETY: a plain call on the live controller; main thread.
        let raw = unsafe { controller.createView(vst3::Steinberg::Vst::ViewType::kEditor) };
        // SAFETY: createView returns an owned reference (or null).
        let view = unsafe { ComPtr::from_raw(raw) }?;
        // SAFETY: a plain call with a static NUL-terminated string.
        if unsafe { view.isPlatformTypeSupported(platform_type()) } != kResultTrue {
            return None;
        }
        let resize = Arc::new(ResizeRequest::default());
        let frame = ComWrapper::new(PlugFrame {
            resize: resize.clone(),
            #[cfg(target_os = "linux")]
            run_loop,
        });
        let frame_ptr = frame
            .as_com_ref::<IPlugFrame>()
            .map_or(std::ptr::null_mut(), |f| f.as_ptr());
        // SAFETY: our live frame, kept alive by `self.frame` until after
        // `setFrame(null)` in `close`.
        unsafe { view.setFrame(frame_ptr) };
        Some(Vst3Editor {
            view,
            frame,
            resize,
            attached: false,
        })
    }

    /// The view's size in pixels. Main thread.
    pub(super) fn size(&self) -> (u32, u32) {
        let mut r = ViewRect {
            left: 0,
            top: 0,
            right: 0,
            bottom: 0,
        };
        // SAFETY: a valid out-rect.
        if unsafe { self.view.getSize(&mut r) } == kResultOk {
            let (w, h) = (r.right - r.left, r.bottom - r.top);
            if w > 0 && h > 0 {
                return (w as u32, h as u32);
            }
        }
        (400, 300)
    }

    /// Embeds the view in `parent`. Main thread.
    pub(super) fn attach(&mut self, parent: ParentWindow) -> Result<(), String> {
        let handle = match parent {
            ParentWindow::X11(id) => id as usize as *mut std::ffi::c_void,
            ParentWindow::Win32(h) | ParentWindow::Cocoa(h) => h as *mut std::ffi::c_void,
        };
        // SAFETY: a live native window of the platform type named; the
        // session keeps it open until after `close`.
        let r = unsafe { self.view.attached(handle, platform_type()) };
        if r == kResultOk {
            self.attached = true;
            Ok(())
        } else {
            // SAFETY: platform_type() is a static NUL-terminated string.
            let t = unsafe { CStr::from_ptr(platform_type()) };
            Err(format!(
                "IPlugView::attached({}) answered {r}",
                t.to_string_lossy()
            ))
        }
    }

    /// The size the view asked for since the last call. Main thread.
    pub(super) fn take_resize(&self) -> Option<(u32, u32)> {
        self.resize.take()
    }

    /// Tells the view its window now has this size (VST3: after the host
    /// resized the window for `resizeView`). Main thread.
    pub(super) fn resized(&self, width: u32, height: u32) {
        let mut r = ViewRect {
            left: 0,
            top: 0,
            right: width as i32,
            bottom: height as i32,
        };
        // SAFETY: a valid in-rect.
        unsafe { self.view.onSize(&mut r) };
    }

    /// Removes the view from its window and lets it go. Main thread.
    pub(super) fn close(self) {
        // SAFETY: plain calls in the documented order: removed, then the
        // frame is taken away before the last reference goes.
        unsafe {
            if self.attached {
                self.view.removed();
            }
            self.view.setFrame(std::ptr::null_mut());
        }
        drop(self.view);
        drop(self.frame);
    }
}
