//! Storage for short ids that are not packed ([`super::thin_id::ThinId`]s
//! of at most [`SLOT`] bytes, header included, with a byte other than a
//! digit, a letter or `-`, or more than ten bytes, such as
//! `ticket_4411`): 16-byte slots carved from chunks,
//! instead of one heap allocation each. The first chunk is 64 KiB and
//! each next one twice the last up to 8 MiB: a small process keeps a small
//! pool, and a pool of millions of ids lies in chunks large enough for the
//! binaries' allocator to map on huge pages (`huge_pages`), as the tables
//! that point into it are. glibc's smallest chunk is
//! 32 bytes, so an 11-byte id with its length byte costs 16 bytes here
//! instead of 32: 160 MB less at 10 M open tickets (docs/performance.md,
//! "Cost as state grows"; the ids of that benchmark are packed since).
//!
//! A freed slot goes on a free list threaded through the free slots
//! themselves and is reused by the next id; chunks are never returned, so
//! the pool holds the most short ids ever alive at once, as a heap holding
//! them would in practice. One pool serves the process behind a mutex: ids
//! are made and dropped where tickets and calls open and close, a few per
//! event at most.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;
use std::sync::Mutex;

/// Bytes of one slot: the longest id (with its header) kept here.
pub const SLOT: usize = 16;
/// Slots of the first chunk (64 KiB).
const FIRST_CHUNK_SLOTS: usize = 4096;
/// Bytes of the largest chunk: the size the binaries' allocator maps on
/// huge pages.
const LARGEST_CHUNK: usize = 8 << 20;

struct Pool {
    /// The first free slot; each free slot holds the address of the next
    /// (0 ends the list).
    free: usize,
    /// The next never-used slot of the current chunk, and its end.
    next: usize,
    end: usize,
    /// Every chunk, to free them with the pool (the shared one lives as
    /// long as the process).
    chunks: Vec<NonNull<u8>>,
}

// SAFETY: the pool owns its chunks and hands out slots by value; it holds
// no thread-bound state.
unsafe impl Send for Pool {}

impl Drop for Pool {
    fn drop(&mut self) {
        for (i, &c) in self.chunks.iter().enumerate() {
            // SAFETY: allocated by `take` with this layout, freed once.
            unsafe { dealloc(c.as_ptr(), chunk_layout(i)) }
        }
    }
}

/// The layout of the pool's chunk number `i` (from 0).
fn chunk_layout(i: usize) -> Layout {
    let first = SLOT * FIRST_CHUNK_SLOTS;
    let doublings = (LARGEST_CHUNK / first).trailing_zeros() as usize;
    let bytes = first << i.min(doublings);
    Layout::from_size_align(bytes, SLOT).expect("a valid layout")
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // The pool's fields are consistent after every statement that can
    // panic (none do while it is held), so a poisoned lock is safe to use.
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A slot of [`SLOT`] bytes, 16-byte aligned, owned by the caller until
/// [`give`] takes it back.
pub fn take() -> NonNull<u8> {
    pool().take()
}

/// Returns a slot [`take`] handed out.
///
/// # Safety
///
/// `slot` came from [`take`], is not used after this call, and is not
/// given back twice.
pub unsafe fn give(slot: NonNull<u8>) {
    // SAFETY: the caller's promise.
    unsafe { pool().give(slot) }
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            free: 0,
            next: 0,
            end: 0,
            chunks: Vec::new(),
        }
    }

    fn take(&mut self) -> NonNull<u8> {
        if self.free != 0 {
            let slot = self.free;
            // SAFETY: `slot` is a free slot of a live chunk: `give` wrote
            // the next free address in its first eight bytes (aligned).
            self.free = unsafe { (slot as *const usize).read() };
            // SAFETY: chunk addresses are never null.
            return unsafe { NonNull::new_unchecked(slot as *mut u8) };
        }
        if self.next == self.end {
            let layout = chunk_layout(self.chunks.len());
            // SAFETY: the layout is not zero-sized.
            let Some(chunk) = NonNull::new(unsafe { alloc(layout) }) else {
                handle_alloc_error(layout)
            };
            self.chunks.push(chunk);
            self.next = chunk.as_ptr() as usize;
            self.end = self.next + layout.size();
        }
        let slot = self.next;
        self.next += SLOT;
        // SAFETY: inside a chunk just checked not null.
        unsafe { NonNull::new_unchecked(slot as *mut u8) }
    }

    /// # Safety
    ///
    /// As [`give`], for slots of this pool.
    unsafe fn give(&mut self, slot: NonNull<u8>) {
        // SAFETY: the caller owns the slot: 16 bytes, 16-aligned, unused
        // from now on, so its first eight bytes may hold the list's link.
        unsafe { slot.as_ptr().cast::<usize>().write(self.free) };
        self.free = slot.as_ptr() as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_distinct_aligned_and_reused() {
        let mut pool = Pool::new();
        let n = FIRST_CHUNK_SLOTS + 10;
        let slots: Vec<NonNull<u8>> = (0..n).map(|_| pool.take()).collect();
        let mut addrs: Vec<usize> = slots.iter().map(|s| s.as_ptr() as usize).collect();
        assert!(addrs.iter().all(|a| a % SLOT == 0));
        // Every slot holds its own 16 bytes: write them all, read them back.
        for (i, s) in slots.iter().enumerate() {
            // SAFETY: each slot is ours, 16 bytes.
            unsafe { s.as_ptr().write_bytes(i as u8, SLOT) };
        }
        for (i, s) in slots.iter().enumerate() {
            // SAFETY: as above.
            let b = unsafe { std::slice::from_raw_parts(s.as_ptr(), SLOT) };
            assert!(b.iter().all(|&x| x == i as u8), "slot {i} overwritten");
        }
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), n, "a slot handed out twice");
        // Freed slots come back, last freed first, before any new one.
        for &s in &slots[..3] {
            // SAFETY: taken above, not used again.
            unsafe { pool.give(s) };
        }
        let again: Vec<NonNull<u8>> = (0..4).map(|_| pool.take()).collect();
        assert_eq!(&again[..3], [slots[2], slots[1], slots[0]]);
        assert!(addrs.binary_search(&(again[3].as_ptr() as usize)).is_err());
    }

    #[test]
    fn chunks_double_from_64_kib_to_8_mib() {
        let sizes: Vec<usize> = (0..10).map(|i| chunk_layout(i).size() >> 10).collect();
        assert_eq!(
            sizes,
            [64, 128, 256, 512, 1024, 2048, 4096, 8192, 8192, 8192]
        );
        assert_eq!(chunk_layout(usize::MAX).size(), 8192 << 10);
        // The largest is what the binaries' allocator maps on huge pages.
        assert_eq!(LARGEST_CHUNK, crate::huge_pages::LARGE);
        // A pool of chunks of every size hands out slots in each.
        let mut pool = Pool::new();
        let total: usize = (0..9).map(|i| chunk_layout(i).size() / SLOT).sum();
        let last = (0..total).map(|_| pool.take()).last().unwrap();
        assert_eq!(pool.chunks.len(), 9);
        let c = pool.chunks[8].as_ptr() as usize;
        assert_eq!(last.as_ptr() as usize, c + (8192 << 10) - SLOT);
    }

    #[test]
    fn the_shared_pool_hands_out_writable_slots() {
        let a = take();
        let b = take();
        assert_ne!(a, b);
        // SAFETY: both are ours until given back.
        unsafe {
            a.as_ptr().write_bytes(1, SLOT);
            b.as_ptr().write_bytes(2, SLOT);
            assert_eq!(a.as_ptr().add(SLOT - 1).read(), 1);
            give(a);
            give(b);
        }
    }
}
