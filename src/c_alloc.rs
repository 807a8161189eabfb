//! librdkafka's `malloc`, `calloc`, `realloc` and `free`, routed here by
//! the linker (`--wrap`, see `build.rs`): its fetch responses take slots of
//! their own (`frontline::c_blocks`); everything else is the allocator's.

use std::ffi::c_void;
use std::ptr::null_mut;

use frontline::c_blocks::{C_BLOCKS as SLOTS, MIN};

extern "C" {
    fn __real_malloc(size: usize) -> *mut c_void;
    fn __real_calloc(n: usize, size: usize) -> *mut c_void;
    fn __real_realloc(p: *mut c_void, size: usize) -> *mut c_void;
    fn __real_free(p: *mut c_void);
}

/// # Safety
/// As C's `malloc`.
#[no_mangle]
pub unsafe extern "C" fn __wrap_malloc(size: usize) -> *mut c_void {
    if size >= MIN {
        let (p, _) = SLOTS.alloc(size);
        if !p.is_null() {
            return p.cast();
        }
    }
    // SAFETY: the allocator's own.
    unsafe { __real_malloc(size) }
}

/// # Safety
/// As C's `calloc`.
#[no_mangle]
pub unsafe extern "C" fn __wrap_calloc(n: usize, size: usize) -> *mut c_void {
    if let Some(total) = n.checked_mul(size).filter(|&t| t >= MIN) {
        let (p, zero) = SLOTS.alloc(total);
        if !p.is_null() {
            if !zero {
                // SAFETY: the slot holds `total` bytes.
                unsafe { p.write_bytes(0, total) };
            }
            return p.cast();
        }
    }
    // SAFETY: the allocator's own.
    unsafe { __real_calloc(n, size) }
}

/// # Safety
/// As C's `realloc`.
#[no_mangle]
pub unsafe extern "C" fn __wrap_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if !SLOTS.contains(p.cast()) {
        // SAFETY: the allocator's own block (or null).
        return unsafe { __real_realloc(p, size) };
    }
    if size > 0 && SLOTS.resize(p.cast(), size) {
        return p;
    }
    // Larger than a slot (or 0): the allocator's, the bytes copied.
    // SAFETY: the allocator's own.
    let q = unsafe { __real_malloc(size) };
    if q.is_null() {
        // Out of memory: `p` stays (C's realloc); asked for 0: freed.
        if size == 0 {
            SLOTS.free(p.cast());
        }
        return null_mut();
    }
    let keep = SLOTS.size_of(p.cast()).min(size);
    // SAFETY: `p` holds its block's size, `q` at least `size` bytes.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), keep) };
    SLOTS.free(p.cast());
    q
}

/// # Safety
/// As C's `free`.
#[no_mangle]
pub unsafe extern "C" fn __wrap_free(p: *mut c_void) {
    if SLOTS.contains(p.cast()) {
        SLOTS.free(p.cast());
    } else {
        // SAFETY: the allocator's own block (or null).
        unsafe { __real_free(p) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test binary is linked as the binary is: librdkafka's calls
    // reach these functions, and they reach the allocator's.
    #[test]
    fn large_blocks_take_slots_and_the_rest_the_allocator() {
        // SAFETY: C allocation calls, each block used within its size.
        unsafe {
            let small = __wrap_malloc(100);
            assert!(!small.is_null() && !SLOTS.contains(small.cast()));
            let big = __wrap_malloc(4 << 20).cast::<u8>();
            assert!(SLOTS.contains(big));
            big.write_bytes(5, 4 << 20);
            // Grown in place within its slot.
            let grown = __wrap_realloc(big.cast(), 8 << 20).cast::<u8>();
            assert_eq!(grown, big);
            // Past a slot: moved to the allocator, its bytes kept.
            let moved = __wrap_realloc(grown.cast(), 20 << 20).cast::<u8>();
            assert!(!moved.is_null() && !SLOTS.contains(moved));
            assert!(std::slice::from_raw_parts(moved, 4 << 20)
                .iter()
                .all(|&b| b == 5));
            __wrap_free(moved.cast());
            // A slot that held bytes is zeroed for calloc.
            let z = __wrap_calloc(1 << 10, 4 << 10).cast::<u8>();
            assert!(SLOTS.contains(z));
            assert!(std::slice::from_raw_parts(z, 4 << 20)
                .iter()
                .all(|&b| b == 0));
            __wrap_free(z.cast());
            __wrap_free(small);
            __wrap_free(std::ptr::null_mut());
        }
    }
}
