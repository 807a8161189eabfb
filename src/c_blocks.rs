//! Where C code's large blocks live: librdkafka's fetch responses.
//!
//! librdkafka reads each fetch response into one block of the response's
//! size, about 4 MiB with four partitions at their default fetch size, and
//! frees it once the last message read from it is taken. Under mimalloc a
//! block that size is placed first in free ranges of the chunks that hold
//! small pages, and small pages then take the hole it leaves: the next
//! response lands on memory never touched before. In a catch-up half the
//! responses did, so the process touched 25-41 MB for the one or two
//! responses alive at a time, each page faulted in by librdkafka's broker
//! thread (docs/performance.md, "Where the peak's pages are first
//! touched").
//!
//! [`Slots`] gives such blocks slots of their own in one reserved range of
//! address space, [`SLOT`] bytes each: the most recently freed slot is
//! taken first, so a response lands where the previous one lay, on pages
//! already resident. Beyond [`KEEP`] free slots the older ones are handed
//! back to the system (`MADV_DONTNEED`) at once, and [`Slots::trim`] hands
//! back those free for a while, so an idle process does not hold them. A
//! block larger than a slot, or one asked for when every slot is taken, is
//! the allocator's as before.
//!
//! The binary routes librdkafka's `malloc`, `calloc`, `realloc` and `free`
//! to [`C_BLOCKS`] (the linker's `--wrap`; `build.rs`, `src/main.rs`):
//! blocks from [`MIN`] go to a slot, every other block and every pointer
//! outside the range to the allocator. The library routes nothing itself;
//! the consumer thread trims [`C_BLOCKS`] every second.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Blocks from this size take a slot.
pub const MIN: usize = 1 << 20;
/// A slot's size: the largest block a slot holds.
pub const SLOT: usize = 16 << 20;
/// Slots in the range (its address space: 1 GiB, reserved, not committed).
pub const COUNT: usize = 64;
const _: () = assert!(COUNT <= 64, "one bit a slot in `State::enabled`");
/// Free slots kept resident; older free slots are handed back.
pub const KEEP: usize = 2;

/// The binary's slots for librdkafka's large blocks.
pub static C_BLOCKS: Slots = Slots::new();

/// The slots of one reserved range (see the module documentation).
pub struct Slots {
    /// The range's start (0 until the first block is asked for).
    base: AtomicUsize,
    state: Mutex<State>,
}

struct State {
    /// Whether the range was reserved (or failed to be: then `base` stays 0).
    tried: bool,
    /// The slots made readable and writable (bit `i`: slot `i`).
    enabled: u64,
    /// Each slot's block size; 0 when the slot is free.
    used: [usize; COUNT],
    /// Bytes of each slot that may be resident (touched since it was last
    /// handed back).
    touched: [usize; COUNT],
    /// The free slots, the most recently freed last.
    free: [u8; COUNT],
    nfree: usize,
    /// When each slot was last freed.
    freed_at: [Option<Instant>; COUNT],
}

impl Default for Slots {
    fn default() -> Self {
        Self::new()
    }
}

impl Slots {
    pub const fn new() -> Slots {
        let mut free = [0u8; COUNT];
        let mut i = 0;
        // Slot 0 is taken first.
        while i < COUNT {
            free[i] = (COUNT - 1 - i) as u8;
            i += 1;
        }
        Slots {
            base: AtomicUsize::new(0),
            state: Mutex::new(State {
                tried: false,
                enabled: 0,
                used: [0; COUNT],
                touched: [0; COUNT],
                free,
                nfree: COUNT,
                freed_at: [None; COUNT],
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `p` lies in a slot (of a block from [`Slots::alloc`]).
    pub fn contains(&self, p: *const u8) -> bool {
        let base = self.base.load(Ordering::Relaxed);
        base != 0 && (p as usize).wrapping_sub(base) < COUNT * SLOT
    }

    /// A block of `size` bytes in a slot, and whether its bytes are zero;
    /// null when `size` is not a slot's ([`MIN`] to [`SLOT`]) or no slot
    /// is free.
    pub fn alloc(&self, size: usize) -> (*mut u8, bool) {
        if !(MIN..=SLOT).contains(&size) {
            return (null_mut(), false);
        }
        let mut s = self.state();
        if !s.tried {
            s.tried = true;
            self.base.store(reserve(), Ordering::Relaxed);
        }
        let base = self.base.load(Ordering::Relaxed);
        if base == 0 || s.nfree == 0 {
            return (null_mut(), false);
        }
        let i = s.free[s.nfree - 1] as usize;
        if s.enabled & (1 << i) == 0 {
            // SAFETY: slot `i` lies in the reserved range.
            let r = unsafe {
                libc::mprotect(
                    (base + i * SLOT) as *mut _,
                    SLOT,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if r != 0 {
                return (null_mut(), false);
            }
            s.enabled |= 1 << i;
        }
        s.nfree -= 1;
        let zero = s.touched[i] == 0;
        s.used[i] = size;
        s.touched[i] = s.touched[i].max(size);
        ((base + i * SLOT) as *mut u8, zero)
    }

    /// The size of the block at `p` (in a slot).
    pub fn size_of(&self, p: *const u8) -> usize {
        let i = self.index(p);
        self.state().used[i]
    }

    /// Grows or shrinks the block at `p` (in a slot) where it lies; false
    /// when `size` does not fit a slot.
    pub fn resize(&self, p: *const u8, size: usize) -> bool {
        if size > SLOT {
            return false;
        }
        let i = self.index(p);
        let mut s = self.state();
        s.used[i] = size.max(1);
        s.touched[i] = s.touched[i].max(size);
        true
    }

    /// Frees the block at `p` (in a slot). Beyond [`KEEP`] resident free
    /// slots, the one freed longest ago is handed back to the system.
    pub fn free(&self, p: *const u8) {
        let i = self.index(p);
        let base = self.base.load(Ordering::Relaxed);
        let mut s = self.state();
        if s.used[i] == 0 {
            return;
        }
        s.used[i] = 0;
        let n = s.nfree;
        s.free[n] = i as u8;
        s.nfree += 1;
        s.freed_at[i] = Some(Instant::now());
        let resident = s.free[..s.nfree]
            .iter()
            .filter(|&&j| s.touched[j as usize] > 0)
            .count();
        if resident > KEEP {
            let oldest = s.free[..s.nfree]
                .iter()
                .map(|&j| j as usize)
                .find(|&j| s.touched[j] > 0);
            if let Some(j) = oldest {
                hand_back(&mut s, base, j);
            }
        }
    }

    /// Hands back the free slots freed at least `after` ago.
    pub fn trim(&self, after: Duration) {
        let base = self.base.load(Ordering::Relaxed);
        if base == 0 {
            return;
        }
        let mut s = self.state();
        for k in 0..s.nfree {
            let j = s.free[k] as usize;
            if s.touched[j] > 0 && s.freed_at[j].is_some_and(|t| t.elapsed() >= after) {
                hand_back(&mut s, base, j);
            }
        }
    }

    /// Bytes the free slots may hold resident.
    #[cfg(test)]
    fn resident_free(&self) -> usize {
        let s = self.state();
        s.free[..s.nfree]
            .iter()
            .map(|&j| s.touched[j as usize])
            .sum()
    }

    fn index(&self, p: *const u8) -> usize {
        (p as usize - self.base.load(Ordering::Relaxed)) / SLOT
    }
}

/// Hands a free slot's pages back to the system; they read as zero after.
fn hand_back(s: &mut State, base: usize, j: usize) {
    let len = s.touched[j].next_multiple_of(4096);
    // SAFETY: the slot is free and lies in the reserved range, which
    // stays mapped.
    unsafe { libc::madvise((base + j * SLOT) as *mut _, len, libc::MADV_DONTNEED) };
    s.touched[j] = 0;
}

/// Reserves the range: address space only, inaccessible until a slot is
/// first taken (so that a system that accounts every writable mapping
/// up front, `vm.overcommit_memory = 2`, charges only the slots in use).
/// 0 on failure.
fn reserve() -> usize {
    // SAFETY: a new anonymous private mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            COUNT * SLOT,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        0
    } else {
        p as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(p: *mut u8, len: usize, v: u8) {
        // SAFETY: `p` holds at least `len` bytes (a slot's block).
        unsafe { p.write_bytes(v, len) };
    }

    fn all(p: *const u8, len: usize, v: u8) -> bool {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(p, len) }
            .iter()
            .all(|&b| b == v)
    }

    #[test]
    fn only_blocks_of_a_slots_size_take_one() {
        let s = Slots::new();
        assert!(s.alloc(MIN - 1).0.is_null());
        assert!(s.alloc(SLOT + 1).0.is_null());
        let (p, zero) = s.alloc(MIN);
        assert!(!p.is_null() && zero);
        assert!(s.contains(p) && s.contains(p.wrapping_add(SLOT - 1)));
        assert!(!s.contains(std::ptr::null()));
        let on_heap = Box::new(0u8);
        assert!(!s.contains(&*on_heap));
        assert_eq!(s.size_of(p), MIN);
        s.free(p);
    }

    #[test]
    fn the_slot_freed_last_is_taken_first_with_its_bytes() {
        let s = Slots::new();
        let (a, _) = s.alloc(4 << 20);
        let (b, _) = s.alloc(4 << 20);
        assert_ne!(a, b);
        fill(a, 4 << 20, 7);
        s.free(a);
        // Resident: the next block lands there, not on fresh pages.
        let (c, zero) = s.alloc(3 << 20);
        assert_eq!(c, a);
        assert!(!zero, "its pages were touched");
        assert!(all(c, 3 << 20, 7));
        s.free(b);
        s.free(c);
    }

    #[test]
    fn free_slots_beyond_the_kept_ones_are_handed_back_zeroed() {
        let s = Slots::new();
        let blocks: Vec<*mut u8> = (0..KEEP + 2).map(|_| s.alloc(2 << 20).0).collect();
        for &p in &blocks {
            fill(p, 2 << 20, 9);
        }
        for &p in &blocks {
            s.free(p);
        }
        assert_eq!(s.resident_free(), KEEP * (2 << 20));
        // The two freed first were handed back: their pages read as zero
        // and the slot says so.
        let mut zeroed = 0;
        for _ in 0..blocks.len() {
            let (p, zero) = s.alloc(2 << 20);
            assert!(blocks.contains(&p));
            if zero {
                assert!(all(p, 2 << 20, 0));
                zeroed += 1;
            } else {
                assert!(all(p, 2 << 20, 9));
            }
        }
        assert_eq!(zeroed, 2);
    }

    #[test]
    fn trim_hands_back_slots_free_for_long_enough() {
        let s = Slots::new();
        let (p, _) = s.alloc(MIN);
        fill(p, MIN, 1);
        s.free(p);
        s.trim(Duration::from_secs(60));
        assert_eq!(s.resident_free(), MIN, "freed just now");
        s.trim(Duration::ZERO);
        assert_eq!(s.resident_free(), 0);
        let (q, zero) = s.alloc(MIN);
        assert_eq!(q, p);
        assert!(zero && all(q, MIN, 0));
    }

    #[test]
    fn a_block_resizes_in_place_up_to_a_slot() {
        let s = Slots::new();
        let (p, _) = s.alloc(MIN);
        assert!(s.resize(p, SLOT));
        assert_eq!(s.size_of(p), SLOT);
        assert!(s.resize(p, 10));
        assert_eq!(s.size_of(p), 10);
        assert!(!s.resize(p, SLOT + 1));
        s.free(p);
    }

    #[test]
    fn every_slot_taken_leaves_blocks_to_the_allocator() {
        let s = Slots::new();
        let taken: Vec<*mut u8> = (0..COUNT).map(|_| s.alloc(MIN).0).collect();
        assert!(taken.iter().all(|p| !p.is_null()));
        assert!(s.alloc(MIN).0.is_null());
        s.free(taken[5]);
        assert_eq!(s.alloc(MIN).0, taken[5]);
    }

    /// A slot whose pages cannot be made writable (here: unmapped under
    /// it, so `mprotect` fails) is not handed out: its blocks go to the
    /// allocator instead, and the slots already taken are unharmed.
    #[test]
    fn a_slot_that_cannot_be_made_writable_leaves_blocks_to_the_allocator() {
        let s = Slots::new();
        let (a, _) = s.alloc(MIN);
        assert!(!a.is_null());
        fill(a, MIN, 3);
        // The slot taken next (the one after `a`) loses its mapping.
        let next = a.wrapping_add(SLOT);
        // SAFETY: the range lies in this test's own reservation, which no
        // block uses.
        assert_eq!(unsafe { libc::munmap(next as *mut _, SLOT) }, 0);
        assert!(s.alloc(MIN).0.is_null());
        assert!(s.alloc(SLOT).0.is_null(), "and on every later try");
        assert!(all(a, MIN, 3));
        s.free(a);
        // The slot freed is writable still and taken again.
        let (b, zero) = s.alloc(MIN);
        assert_eq!(b, a);
        assert!(!zero && all(b, MIN, 3));
        s.free(b);
    }
}
