//! The process's allocator: an allocation of [`LARGE`] (8 MiB) or more is
//! a mapping of its own, aligned to 2 MiB ([`HUGE`]) and advised for
//! transparent huge pages (`madvise(MADV_HUGEPAGE)`); every smaller one is
//! mimalloc's.
//!
//! The engine's large tables (tickets, calls, customers, the dedup memory)
//! are read at random, one or two entries an event. With millions of open
//! tickets nearly every such read misses the TLB as well as the caches,
//! and under virtualisation a TLB miss walks two page tables. Backed by
//! 2 MiB pages, the same table needs 512 times fewer TLB entries: apply
//! at 10 M open tickets ran about twice as fast (docs/performance.md,
//! "Cost as state grows"). Smaller allocations, which are nearly all of
//! them, go to the system allocator unchanged: 8 MiB is what the second
//! level TLB of this class of machine (2 048 entries) reaches with 4 KiB
//! pages, so a smaller table gains little, and a process whose tables are
//! small (a replay of a day, a partition of a live topic) keeps its
//! memory: with a 2 MiB threshold the peak RSS of a 600 000-event replay
//! grew by 12 %.
//!
//! Where the kernel's THP mode is `never`, the advice is ignored and the
//! mapping is an ordinary one; with `always` it changes nothing. A mapping
//! is rounded up to whole 2 MiB, but only the huge pages the block fills
//! are advised: a huge page is resident whole once any byte of it is
//! touched, and the partial last one would hold memory the block never
//! uses.
//!
//! A large block that grows past its mapping is moved by the kernel
//! (`mremap`) instead of copied: doubling a buffer from 8 MiB to 1 GiB took
//! 0.32 s against 0.66–1.1 s copied (three rounds each, the time to zero
//! and write the new pages left in both).
//!
//! A thread can ask for the large blocks it allocates to be faulted in
//! before they are returned ([`faulted_in`]): the kernel zeroes a huge
//! page the first time it is touched, and under virtualisation a page the
//! host has not backed yet costs it a fault of its own, so first touches
//! of a new table's pages took up to 5 ms each. A table that will be
//! needed soon is allocated that way on a background thread
//! (`crate::engine::growing`), so the thread that applies events never
//! waits on them.
//!
//! Small allocations go to mimalloc, which keeps a free list per thread
//! and size class, rather than to glibc's malloc, whose arenas each take a
//! lock. Built with its `override` feature, mimalloc is also the C code's
//! `malloc` and `free`, librdkafka's included: its broker thread allocates
//! a record for every fetched message and the consumer thread frees it, a
//! free into another thread's arena under glibc. Live, the consumer
//! thread took about a quarter less CPU an event, the partitions' workers
//! about 4 % less (docs/performance.md, "Live", "Small allocations from
//! mimalloc"). It is built without its own transparent huge pages
//! (`no_thp`): with them an idle `frontline run --embedded` held 64 MB
//! instead of 21, and the tables that gain from huge pages are the large
//! blocks above. It is mimalloc 2 (the `v2` feature): a catch-up's peak
//! was about a fifteenth lower than under mimalloc 3, at the same speed
//! (docs/performance.md, "mimalloc 2").
//!
//! librdkafka's fetch responses (a block of 1 to 16 MiB each) are the
//! exception: the binary routes its large blocks to slots of their own
//! (`crate::c_blocks`), where a response lands on the pages the previous
//! one left instead of on fresh ones.
//!
//! Built without the `mimalloc` feature (as `make memcheck` builds, so
//! that valgrind sees every heap block), the small allocations are the
//! system allocator's.
//!
//! The binaries install it (`#[global_allocator]`); the library does not,
//! so a bench that counts allocations can wrap it.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// While set, this thread's large blocks are faulted in when mapped,
    /// until the flag pointed to is raised ([`faulted_in`]).
    static FAULT_IN: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with every large block it allocates on this thread faulted in
/// (a zero written to each of its pages): the pages are zeroed by this
/// thread now, not by whichever thread touches them first later. Raising
/// `stop` (from any thread) ends the faulting in at the next huge page;
/// the rest of the block is faulted in as it is touched, as any other.
/// Without this allocator installed it only runs `f`.
pub fn faulted_in<R>(stop: &AtomicBool, f: impl FnOnce() -> R) -> R {
    /// Puts the thread's setting back, also when `f` panics: the pointer
    /// must not outlive `stop`.
    struct Restore(*const AtomicBool);
    impl Drop for Restore {
        fn drop(&mut self) {
            FAULT_IN.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(FAULT_IN.with(|c| c.replace(stop)));
    f()
}

/// One transparent huge page: the alignment and granule of the mappings.
pub const HUGE: usize = 2 << 20;
/// Size from which an allocation is mapped on its own.
pub const LARGE: usize = 8 << 20;

/// The allocator (see the module documentation).
pub struct HugePageAlloc;

fn is_large(size: usize, align: usize) -> bool {
    size >= LARGE && align <= HUGE
}

/// Bytes mapped for an allocation of `size` (`None` on overflow).
fn mapped_len(size: usize) -> Option<usize> {
    size.checked_next_multiple_of(HUGE)
}

/// Maps `size` bytes (rounded up to 2 MiB), 2 MiB aligned, zeroed,
/// advised for huge pages; null on failure.
fn map(size: usize) -> *mut u8 {
    let Some((len, total)) = mapped_len(size).and_then(|l| Some((l, l.checked_add(HUGE)?))) else {
        return null_mut();
    };
    // SAFETY: an anonymous private mapping of `total` bytes; nothing else
    // refers to the address range it returns.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return null_mut();
    }
    let start = p as usize;
    let aligned = start.next_multiple_of(HUGE);
    let head = aligned - start;
    let tail = total - head - len;
    // Only the huge pages the block fills: the last, partial one stays in
    // 4 KiB pages, so the rounding holds no resident memory.
    let advised = size / HUGE * HUGE;
    // SAFETY: the head and tail are parts of the mapping just made, outside
    // [aligned, aligned + len), which is what is kept. Advice may fail
    // (THP compiled out): the mapping is usable either way.
    unsafe {
        if head > 0 {
            libc::munmap(p, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
        libc::madvise(aligned as *mut libc::c_void, advised, libc::MADV_HUGEPAGE);
    }
    let stop = FAULT_IN.with(Cell::get);
    if !stop.is_null() {
        // SAFETY: set by `faulted_in` from a reference that outlives the
        // call this allocation is made in.
        let stop = unsafe { &*stop };
        // A zero written to each page faults it in (the kernel zeroes it,
        // a huge page whole at its first byte). Not `MADV_POPULATE_WRITE`:
        // that holds the process's memory-map lock for the whole range, so
        // every thread's `mmap` or `munmap` waited behind it, and with them
        // the page faults queued after those (a batch of a partition held
        // for over a second).
        for off in (0..size).step_by(4096) {
            if off % HUGE == 0 && stop.load(Ordering::Relaxed) {
                break;
            }
            // SAFETY: within the mapping just made, which nothing else
            // refers to yet; its bytes are zero already.
            unsafe { (aligned as *mut u8).add(off).write_volatile(0) };
        }
    }
    aligned as *mut u8
}

/// # Safety
///
/// `p` came from [`map`] with `size`, and is not used after.
unsafe fn unmap(p: *mut u8, size: usize) {
    if let Some(len) = mapped_len(size) {
        // SAFETY: the caller's promise: exactly the range `map` kept.
        unsafe { libc::munmap(p.cast(), len) };
    }
}

/// Grows a large block to `new_size` without copying its bytes: the kernel
/// moves its pages (`mremap`) into a 2 MiB-aligned mapping made for the new
/// size, huge pages whole, and the rest of it stays untouched until used.
/// A `Vec` or a byte buffer of hundreds of megabytes that doubles then costs
/// no copy of what it holds and no zeroing of pages for the copy. Null when
/// the kernel refuses, with the block left as it was.
///
/// # Safety
///
/// `p` came from [`map`] with `old_size`, and `new_size > old_size`; on
/// success it is not used after.
unsafe fn remap(p: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
    let (Some(old_len), Some(new_len)) = (mapped_len(old_size), mapped_len(new_size)) else {
        return null_mut();
    };
    let target = map(new_size);
    if target.is_null() {
        return null_mut();
    }
    // SAFETY: both ranges are this allocator's own mappings, disjoint; the
    // move replaces the one just made for it, and on failure that one is
    // unmapped and the block's is unchanged.
    unsafe {
        let q = libc::mremap(
            p.cast(),
            old_len,
            new_len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            target.cast::<libc::c_void>(),
        );
        if q == libc::MAP_FAILED {
            libc::munmap(target.cast(), new_len);
            return null_mut();
        }
        // The block's pages keep their advice; the range it grew into is
        // advised like any new block.
        libc::madvise(q, new_size / HUGE * HUGE, libc::MADV_HUGEPAGE);
        q.cast()
    }
}

/// mimalloc, for the allocations below [`LARGE`].
#[cfg(feature = "mimalloc")]
mod small {
    use std::alloc::Layout;

    use libmimalloc_sys as mi;

    /// # Safety
    ///
    /// `l` has a non-zero size.
    pub(super) unsafe fn alloc(l: Layout) -> *mut u8 {
        // SAFETY: any size and power-of-two alignment is valid.
        unsafe { mi::mi_malloc_aligned(l.size(), l.align()).cast() }
    }

    /// # Safety
    ///
    /// As [`alloc`].
    pub(super) unsafe fn alloc_zeroed(l: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { mi::mi_zalloc_aligned(l.size(), l.align()).cast() }
    }

    /// # Safety
    ///
    /// `p` came from this module and is not used after.
    pub(super) unsafe fn dealloc(p: *mut u8, _: Layout) {
        // SAFETY: the caller's promise.
        unsafe { mi::mi_free(p.cast()) }
    }

    /// # Safety
    ///
    /// `p` came from this module with layout `l`; `new_size` is not zero.
    pub(super) unsafe fn realloc(p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promise; mimalloc keeps the alignment.
        unsafe { mi::mi_realloc_aligned(p.cast(), new_size, l.align()).cast() }
    }
}

/// The system allocator, for the allocations below [`LARGE`], in a build
/// without mimalloc (`make memcheck`).
#[cfg(not(feature = "mimalloc"))]
mod small {
    use std::alloc::{GlobalAlloc, Layout, System};

    /// # Safety
    ///
    /// `l` has a non-zero size.
    pub(super) unsafe fn alloc(l: Layout) -> *mut u8 {
        // SAFETY: the caller's promise.
        unsafe { System.alloc(l) }
    }

    /// # Safety
    ///
    /// As [`alloc`].
    pub(super) unsafe fn alloc_zeroed(l: Layout) -> *mut u8 {
        // SAFETY: the caller's promise.
        unsafe { System.alloc_zeroed(l) }
    }

    /// # Safety
    ///
    /// `p` came from this module with layout `l` and is not used after.
    pub(super) unsafe fn dealloc(p: *mut u8, l: Layout) {
        // SAFETY: the caller's promise.
        unsafe { System.dealloc(p, l) }
    }

    /// # Safety
    ///
    /// `p` came from this module with layout `l`; `new_size` is not zero.
    pub(super) unsafe fn realloc(p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's promise.
        unsafe { System.realloc(p, l, new_size) }
    }
}

// SAFETY: large blocks are fresh mappings, at least `size` bytes and
// aligned to 2 MiB (≥ every alignment sent to them), freed with the size
// they were made with; everything else is `small`'s (mimalloc's, or the
// system's in a build without it), with the layout asked for.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if is_large(l.size(), l.align()) {
            map(l.size())
        } else {
            // SAFETY: the caller's promise (a non-zero size).
            unsafe { small::alloc(l) }
        }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if is_large(l.size(), l.align()) {
            // Anonymous mappings are zeroed.
            map(l.size())
        } else {
            // SAFETY: as `alloc`.
            unsafe { small::alloc_zeroed(l) }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if is_large(l.size(), l.align()) {
            // SAFETY: made by `map` for this size (same layout as `alloc`).
            unsafe { unmap(p, l.size()) }
        } else {
            // SAFETY: the caller's promise.
            unsafe { small::dealloc(p, l) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        let (was, will) = (is_large(l.size(), l.align()), is_large(new_size, l.align()));
        if !was && !will {
            // SAFETY: the caller's promise; both sizes are `small`'s.
            return unsafe { small::realloc(p, l, new_size) };
        }
        if was && will && mapped_len(l.size()) == mapped_len(new_size) {
            if new_size > l.size() {
                // SAFETY: within the block's own mapping; advice only.
                unsafe { libc::madvise(p.cast(), new_size / HUGE * HUGE, libc::MADV_HUGEPAGE) };
            }
            return p;
        }
        if was && will && new_size > l.size() {
            // SAFETY: `p` is a block `map` made for `l.size()`.
            let q = unsafe { remap(p, l.size(), new_size) };
            if !q.is_null() {
                return q;
            }
        }
        // SAFETY: the caller promises `new_size` with `l.align()` is a
        // valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        // SAFETY: `new` is not zero-sized (it is the caller's new size).
        let q = unsafe { self.alloc(new) };
        if !q.is_null() {
            // SAFETY: distinct blocks, each at least the bytes copied; `p`
            // is freed once, with its own layout.
            unsafe {
                std::ptr::copy_nonoverlapping(p, q, l.size().min(new_size));
                self.dealloc(p, l);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `VmFlags` of the mapping that holds `addr` (from
    /// `/proc/self/smaps`), or None when no mapping does.
    fn vm_flags(addr: usize) -> Option<String> {
        smaps_field(addr, "VmFlags:")
    }

    /// The value of the `field` line (such as `Rss:`) of the mapping that
    /// holds `addr` in `/proc/self/smaps`.
    fn smaps_field(addr: usize, field: &str) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&addr);
                    continue;
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix(field) {
                    return Some(v.trim().to_string());
                }
            }
        }
        None
    }

    /// Resident bytes of the mapping that holds `addr`.
    fn resident(addr: usize) -> Option<usize> {
        let kb = smaps_field(addr, "Rss:")?;
        Some(kb.trim_end_matches("kB").trim().parse::<usize>().ok()? * 1024)
    }

    /// Whether the mapping that holds `addr` is advised for huge pages
    /// (`hg` among its `VmFlags`); None when no mapping holds it.
    fn advised(addr: usize) -> Option<bool> {
        vm_flags(addr).map(|f| f.split_whitespace().any(|f| f == "hg"))
    }

    /// Held by each test that maps blocks of its own: tests run in
    /// parallel in one process, and a range one test's block has just left
    /// could otherwise be another test's new advised mapping when the first
    /// checks that the range is no longer its.
    static MAPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn maps() -> std::sync::MutexGuard<'static, ()> {
        MAPS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn large_blocks_are_aligned_huge_page_mappings_and_keep_their_bytes() {
        let _maps = maps();
        let a = HugePageAlloc;
        let l = Layout::from_size_align(LARGE + HUGE + 5, 64).unwrap();
        // SAFETY: a non-zero layout; the block is written within its size
        // and freed once with the size it has then.
        unsafe {
            let p = a.alloc(l);
            assert!(!p.is_null());
            assert_eq!(p as usize % HUGE, 0, "not 2 MiB aligned");
            assert_eq!(advised(p as usize), Some(true), "not advised");
            // The last 2 MiB, which the block fills 5 bytes of, is not.
            assert_eq!(advised(p as usize + LARGE + HUGE), Some(false));
            for i in (0..l.size()).step_by(4096) {
                p.add(i).write((i / 4096) as u8);
            }
            p.add(l.size() - 1).write(7);
            // Down to a small block, then up to a large one again: the
            // bytes that fit survive each move.
            let small = a.realloc(p, l, 10_000);
            assert!(!small.is_null());
            // The large mapping is gone (its range may since hold another
            // thread's mapping, never one advised like ours).
            assert_ne!(advised(p as usize), Some(true), "not freed");
            assert_eq!(small.add(4096).read(), 1);
            let sl = Layout::from_size_align(10_000, 64).unwrap();
            let big = a.realloc(small, sl, LARGE + 3 * HUGE + 5);
            assert_eq!(big as usize % HUGE, 0);
            assert_eq!(big.add(8192).read(), 2);
            // Grown within its mapping: kept in place, and the huge page it
            // now fills whole is advised too.
            let last = big as usize + LARGE + 3 * HUGE;
            assert_eq!(advised(last), Some(false));
            let bl = Layout::from_size_align(LARGE + 3 * HUGE + 5, 64).unwrap();
            let grown = a.realloc(big, bl, LARGE + 4 * HUGE);
            assert_eq!(grown, big);
            assert_eq!(advised(last), Some(true));
            // Untouched bytes of a fresh mapping are zero.
            assert_eq!(big.add(LARGE + 2 * HUGE).read(), 0);
            // Grown past its mapping: moved by the kernel to a new aligned
            // mapping, its bytes with it, the old range no longer its.
            big.add(LARGE + 4 * HUGE - 1).write(9);
            let gl = Layout::from_size_align(LARGE + 4 * HUGE, 64).unwrap();
            let moved = a.realloc(big, gl, 4 * LARGE + 1);
            assert!(!moved.is_null());
            assert_eq!(moved as usize % HUGE, 0, "not 2 MiB aligned");
            assert_eq!(advised(moved as usize), Some(true));
            assert_eq!(advised(moved as usize + 4 * LARGE - HUGE), Some(true));
            assert_eq!(moved.add(8192).read(), 2);
            assert_eq!(moved.add(LARGE + 4 * HUGE - 1).read(), 9);
            assert_eq!(moved.add(LARGE + 4 * HUGE).read(), 0);
            moved.add(4 * LARGE).write(3);
            if moved != big {
                assert_ne!(advised(big as usize), Some(true), "not moved");
            }
            a.dealloc(moved, Layout::from_size_align(4 * LARGE + 1, 64).unwrap());
        }
    }

    /// A large block allocated inside `faulted_in` is resident whole when
    /// it is returned, before anything touched it; outside, it is not.
    #[test]
    fn blocks_allocated_faulted_in_are_resident_before_they_are_touched() {
        let _maps = maps();
        let a = HugePageAlloc;
        let l = Layout::from_size_align(2 * LARGE, 64).unwrap();
        // SAFETY: non-zero layouts; each block is freed once, untouched.
        unsafe {
            let lazy = a.alloc(l);
            assert!(!lazy.is_null());
            let go = AtomicBool::new(false);
            let eager = faulted_in(&go, || a.alloc(l));
            assert!(!eager.is_null());
            // Stopped before it began: left to be faulted in as touched.
            let stopped = faulted_in(&AtomicBool::new(true), || a.alloc(l));
            // The flag is the calling scope's only.
            let after = a.alloc(l);
            assert_eq!(
                resident(eager as usize),
                Some(l.size()),
                "not faulted in whole"
            );
            assert!(
                resident(lazy as usize).expect("mapped") < HUGE,
                "faulted in unasked"
            );
            assert!(
                resident(after as usize).expect("mapped") < HUGE,
                "the flag outlived its scope"
            );
            a.dealloc(lazy, l);
            a.dealloc(eager, l);
            a.dealloc(after, l);
            a.dealloc(stopped, l);
        }
    }

    #[test]
    fn a_large_block_grows_by_moving_its_pages_not_its_bytes() {
        let _maps = maps();
        let a = HugePageAlloc;
        let l = Layout::from_size_align(LARGE, 64).unwrap();
        // SAFETY: as above; `remap` gets a block `map` made, and the block
        // is freed once with the size it has then.
        unsafe {
            let p = a.alloc(l);
            p.write(1);
            p.add(LARGE - 1).write(2);
            let q = remap(p, LARGE, 3 * LARGE);
            assert!(!q.is_null(), "the kernel refused the move");
            assert_eq!(q as usize % HUGE, 0);
            assert_eq!((q.read(), q.add(LARGE - 1).read()), (1, 2));
            assert_eq!(q.add(LARGE).read(), 0);
            assert_eq!(advised(q as usize + 3 * LARGE - 1), Some(true));
            a.dealloc(q, Layout::from_size_align(3 * LARGE, 64).unwrap());
        }
    }

    /// A block below [`LARGE`] is the small allocator's: glibc's in a
    /// build without mimalloc, mimalloc's (C code's `malloc` too) with it.
    #[test]
    fn small_blocks_are_the_small_allocators() {
        let _maps = maps();
        let a = HugePageAlloc;
        let l = Layout::from_size_align(LARGE - 1, 16).unwrap();
        // SAFETY: as above.
        unsafe {
            let p = a.alloc_zeroed(l);
            assert!(!p.is_null());
            assert_eq!(p.add(LARGE - 2).read(), 0);
            // Not advised: glibc never advises, and mimalloc is built
            // without its own huge pages.
            assert_eq!(advised(p as usize), Some(false));
            // glibc serves this size from its own mapping, with a header:
            // never at a 2 MiB boundary.
            #[cfg(not(feature = "mimalloc"))]
            assert_ne!(p as usize % HUGE, 0);
            #[cfg(feature = "mimalloc")]
            assert!(libmimalloc_sys::mi_is_in_heap_region(p.cast()));
            a.dealloc(p, l);
        }
        // C code's `malloc` (librdkafka's) is mimalloc's too.
        #[cfg(feature = "mimalloc")]
        // SAFETY: the block is freed once, by `free`.
        unsafe {
            let c = libc::malloc(100);
            assert!(!c.is_null());
            assert!(libmimalloc_sys::mi_is_in_heap_region(c));
            libc::free(c);
        }
    }
}
