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
//! thread-local read per allocation. `free` is not wrapped (the memory
//! comes from glibc's heap either way); the host's allocator counts the
//! frees of Rust code. Linux/glibc only (elsewhere plugins' own allocations
//! are not counted).

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::ffi::c_void;

extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
}

/// `malloc`, counted inside plugin code. Any thread.
///
/// # Safety
/// The C `malloc` contract.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    super::alloc_guard::count_c_alloc();
    // SAFETY: forwarded unchanged to glibc's malloc.
    unsafe { __libc_malloc(size) }
}

/// `calloc`, counted inside plugin code. Any thread.
///
/// # Safety
/// The C `calloc` contract.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    super::alloc_guard::count_c_alloc();
    // SAFETY: forwarded unchanged to glibc's calloc.
    unsafe { __libc_calloc(count, size) }
}

/// `realloc`, counted inside plugin code. Any thread.
///
/// # Safety
/// The C `realloc` contract (`ptr` from this C heap, or null).
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    super::alloc_guard::count_c_alloc();
    // SAFETY: forwarded unchanged to glibc's realloc.
    unsafe { __libc_realloc(ptr, size) }
}
