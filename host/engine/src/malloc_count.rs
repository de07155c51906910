//! Counting the C heap allocations plugins make on the audio thread.
//!
//! A plugin is a shared library with its own allocator (a Rust plugin its
//! own `#[global_allocator]`, a C++ one `malloc`/`new`), so the host's Rust
//! allocator never sees its allocations. They all end in the C library's
//! `malloc`, `calloc` and `realloc`, though: this module defines those
//! symbols in the host executable, which the dynamic linker binds every
//! loaded library to (the executable comes first in symbol lookup), and
//! forwards each call to glibc's own implementation after counting it when
//! the thread is inside a plugin's process call
//! ([`super::alloc_guard::count_allocs`]). Elsewhere the cost is one
//! thread-local read per allocation. The aligned allocators (`memalign`,
//! `aligned_alloc`, `posix_memalign`, `valloc`, `pvalloc`: C++ `new` of an
//! over-aligned type, SIMD buffers) are wrapped the same way. `free` is not
//! wrapped (the memory comes from glibc's heap either way); the host's
//! allocator counts the frees of Rust code. Linux/glibc only (elsewhere
//! plugins' own allocations are not counted).
//!
//! The wrappers are defined by [`install_guard!`](crate::install_guard) in
//! the crate of the final binary (beside the global allocator they belong
//! with), never by this library: a library must not replace a process's
//! allocator behind its user's back.

/// Defines the counting C allocator wrappers in the invoking crate (Linux
/// with glibc; nothing elsewhere). Use [`install_guard!`](crate::install_guard),
/// which installs them with the global allocator they work with.
#[doc(hidden)]
#[macro_export]
macro_rules! __malloc_interposer {
    () => {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        #[doc(hidden)]
        pub mod __stagerack_malloc_count {
            use ::std::ffi::c_void;

            extern "C" {
                fn __libc_malloc(size: usize) -> *mut c_void;
                fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
                fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
                fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
                fn __libc_valloc(size: usize) -> *mut c_void;
                fn __libc_pvalloc(size: usize) -> *mut c_void;
            }

            /// `malloc`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `malloc` contract.
            #[no_mangle]
            pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: forwarded unchanged to glibc's malloc.
                unsafe { __libc_malloc(size) }
            }

            /// `calloc`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `calloc` contract.
            #[no_mangle]
            pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: forwarded unchanged to glibc's calloc.
                unsafe { __libc_calloc(count, size) }
            }

            /// `realloc`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `realloc` contract (`ptr` from this C heap, or null).
            #[no_mangle]
            pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: forwarded unchanged to glibc's realloc.
                unsafe { __libc_realloc(ptr, size) }
            }

            /// `memalign`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `memalign` contract.
            #[no_mangle]
            pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: forwarded unchanged to glibc's memalign.
                unsafe { __libc_memalign(align, size) }
            }

            /// `aligned_alloc` (glibc's is `memalign`), counted inside plugin code.
            /// Any thread.
            ///
            /// # Safety
            /// The C `aligned_alloc` contract.
            #[no_mangle]
            pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: glibc's aligned_alloc is its memalign.
                unsafe { __libc_memalign(align, size) }
            }

            /// `posix_memalign`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `posix_memalign` contract (`out` writable).
            #[no_mangle]
            pub unsafe extern "C" fn posix_memalign(
                out: *mut *mut c_void,
                align: usize,
                size: usize,
            ) -> i32 {
                $crate::alloc_guard::count_c_alloc();
                // POSIX: a power of two, a multiple of the pointer size.
                if !align.is_power_of_two() || align % std::mem::size_of::<*mut c_void>() != 0 {
                    return $crate::__private::libc::EINVAL;
                }
                // SAFETY: a valid alignment, forwarded to glibc's memalign.
                let p = unsafe { __libc_memalign(align, size) };
                if p.is_null() && size != 0 {
                    return $crate::__private::libc::ENOMEM;
                }
                // SAFETY: the caller's writable out-pointer.
                unsafe { *out = p };
                0
            }

            /// `valloc`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `valloc` contract.
            #[no_mangle]
            pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: forwarded unchanged to glibc's valloc.
                unsafe { __libc_valloc(size) }
            }

            /// `pvalloc`, counted inside plugin code. Any thread.
            ///
            /// # Safety
            /// The C `pvalloc` contract.
            #[no_mangle]
            pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
                $crate::alloc_guard::count_c_alloc();
                // SAFETY: forwarded unchanged to glibc's pvalloc.
                unsafe { __libc_pvalloc(size) }
            }
        }
    };
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use crate::alloc_guard::count_allocs;
    use std::ffi::c_void;

    #[test]
    fn aligned_c_allocations_in_plugin_code_are_counted_and_aligned() {
        let (ptrs, n) = count_allocs(|| {
            let mut p: *mut c_void = std::ptr::null_mut();
            // SAFETY: plain C allocator calls with valid arguments; every
            // pointer is freed below.
            unsafe {
                assert_eq!(libc::posix_memalign(&mut p, 64, 100), 0);
                [
                    p,
                    libc::aligned_alloc(128, 256),
                    libc::memalign(32, 10),
                    libc::malloc(10),
                ]
            }
        });
        assert_eq!(n, 4, "each C allocation counted once");
        for (p, align) in ptrs.iter().zip([64usize, 128, 32, 1]) {
            assert!(!p.is_null());
            assert_eq!(*p as usize % align, 0);
            // SAFETY: allocated above by the C allocator.
            unsafe { libc::free(*p) };
        }
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: an invalid alignment is refused without writing `p`.
        assert_eq!(unsafe { libc::posix_memalign(&mut p, 3, 8) }, libc::EINVAL);
        assert!(p.is_null());
    }
}
