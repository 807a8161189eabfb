//! Where librdkafka's message records live.
//!
//! librdkafka's broker thread allocates one 304-byte record for each
//! message it fetches (`calloc(1, 304)`), and the consumer thread frees it
//! when it has copied the message out. Under mimalloc a block freed by
//! another thread than the one that allocated it is handed out again only
//! once its page is collected, so in a catch-up the broker thread kept
//! taking fresh pages: about 18 MB of the peak was records freed and not
//! yet reused (docs/performance.md, "Target 6 at `af8b8ce`").
//!
//! [`Records`] keeps blocks of [`SIZE`] bytes in one reserved range of
//! address space and hands freed ones out again at once. Each thread frees
//! into a list of its own and passes it on whole, [`BATCH`] blocks at a
//! time, to a shared stack of lists under a lock; each thread takes a
//! whole list from that stack when its own runs out, and new blocks from
//! the range, [`BATCH`] at a time, when the stack is empty. So a block
//! costs a lock once every [`BATCH`] allocations or frees, and the blocks
//! in use are about the records alive and a few lists.
//!
//! The range is reserved inaccessible and made writable a [`STEP`] at a
//! time as blocks are first taken (so that strict overcommit accounting
//! charges only what is used); its pages are never handed back, as the
//! allocator keeps its own. When the range is used up, or cannot be
//! reserved, blocks are the allocator's as before. A thread that ends
//! leaves its two lists (at most `2 * BATCH` blocks) unused.
//!
//! The binary routes librdkafka's `malloc` and `calloc` of [`FROM`] to
//! [`SIZE`] bytes here, and every `free` and `realloc` of a pointer in the
//! range (`src/main.rs`).

use std::cell::Cell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// A block's size: librdkafka's message record.
pub const SIZE: usize = 304;
/// The smallest block routed here (blocks of `FROM..=SIZE` bytes).
pub const FROM: usize = 289;
/// Blocks passed between threads at once.
pub const BATCH: usize = 64;
/// The reserved range: room for 880 000 records, far more than are ever
/// alive (librdkafka queues up to `queued.min.messages` a consumer).
pub const RANGE: usize = 256 << 20;
/// Bytes made writable at a time.
pub const STEP: usize = 2 << 20;
/// Whole lists the shared stack can hold: every block of the range.
const LISTS: usize = RANGE / SIZE / BATCH + 1;

/// The binary's records.
pub static C_RECORDS: Records = Records::new();

/// A list of free blocks, linked through their first eight bytes.
#[derive(Clone, Copy)]
struct List {
    head: *mut u8,
    len: usize,
}

const EMPTY: List = List {
    head: null_mut(),
    len: 0,
};

thread_local! {
    /// Blocks this thread takes from.
    static TAKE: Cell<List> = const { Cell::new(EMPTY) };
    /// Blocks this thread has freed, not yet passed on.
    static FREED: Cell<List> = const { Cell::new(EMPTY) };
    /// New blocks handed to this thread: the next and the end.
    static FRESH: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// The [`Records`] the lists above are of (the binary has one; tests
    /// make their own).
    static OWNER: Cell<usize> = const { Cell::new(0) };
}

/// The range of blocks and the lists passed between threads.
pub struct Records {
    /// The range's start (0 until the first block is asked for, and when
    /// it could not be reserved).
    base: AtomicUsize,
    shared: Mutex<Shared>,
}

struct Shared {
    /// Whether the range was reserved (or failed to be).
    tried: bool,
    /// Bytes of the range handed out as new blocks.
    used: usize,
    /// Bytes of the range made writable.
    writable: usize,
    /// Whole lists of free blocks.
    lists: [List; LISTS],
    count: usize,
}

// SAFETY: the lists' pointers are blocks of the range, owned by whoever
// holds the lock; nothing else refers to them.
unsafe impl Send for Shared {}

impl Default for Records {
    fn default() -> Self {
        Self::new()
    }
}

impl Records {
    pub const fn new() -> Records {
        Records {
            base: AtomicUsize::new(0),
            shared: Mutex::new(Shared {
                tried: false,
                used: 0,
                writable: 0,
                lists: [EMPTY; LISTS],
                count: 0,
            }),
        }
    }

    /// Whether `p` is a block of the range.
    #[inline]
    pub fn contains(&self, p: *const u8) -> bool {
        let base = self.base.load(Ordering::Relaxed);
        base != 0 && (p as usize).wrapping_sub(base) < RANGE
    }

    /// This thread's lists are of `self` from now on (another's are left
    /// unused).
    #[inline]
    fn own(&self) {
        let me = self as *const Records as usize;
        if OWNER.get() != me {
            OWNER.set(me);
            TAKE.set(EMPTY);
            FREED.set(EMPTY);
            FRESH.set((0, 0));
        }
    }

    /// A block of [`SIZE`] bytes, not zeroed; null when the range cannot
    /// give one (the caller asks the allocator).
    #[inline]
    pub fn alloc(&self) -> *mut u8 {
        self.own();
        let mine = TAKE.get();
        if !mine.head.is_null() {
            // SAFETY: a free block of the range; its first bytes link the
            // next one.
            let next = unsafe { mine.head.cast::<*mut u8>().read() };
            TAKE.set(List {
                head: next,
                len: mine.len - 1,
            });
            return mine.head;
        }
        let (next, end) = FRESH.get();
        if next < end {
            FRESH.set((next + SIZE, end));
            return next as *mut u8;
        }
        self.refill()
    }

    /// Takes a whole list, or new blocks, for this thread; one of them.
    #[cold]
    fn refill(&self) -> *mut u8 {
        let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if s.count > 0 {
            s.count -= 1;
            let list = s.lists[s.count];
            drop(s);
            TAKE.set(list);
            return self.alloc();
        }
        if !s.tried {
            s.tried = true;
            self.base.store(reserve(), Ordering::Relaxed);
        }
        let base = self.base.load(Ordering::Relaxed);
        let want = BATCH * SIZE;
        if base == 0 || s.used + want > RANGE {
            return null_mut();
        }
        if s.used + want > s.writable {
            let grow = (s.used + want - s.writable).next_multiple_of(STEP);
            // SAFETY: the pages lie in the reserved range.
            let r = unsafe {
                libc::mprotect(
                    (base + s.writable) as *mut _,
                    grow,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            if r != 0 {
                return null_mut();
            }
            s.writable += grow;
        }
        let start = base + s.used;
        s.used += want;
        drop(s);
        FRESH.set((start + SIZE, start + want));
        start as *mut u8
    }

    /// Frees block `p` of the range.
    #[inline]
    pub fn free(&self, p: *mut u8) {
        self.own();
        let mine = FREED.get();
        // SAFETY: `p` is a block of the range no one uses any more.
        unsafe { p.cast::<*mut u8>().write(mine.head) };
        let list = List {
            head: p,
            len: mine.len + 1,
        };
        if list.len < BATCH {
            FREED.set(list);
        } else {
            FREED.set(EMPTY);
            self.pass_on(list);
        }
    }

    /// Passes a whole list to the shared stack.
    #[cold]
    fn pass_on(&self, list: List) {
        let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        // Never full: the stack holds a list for every BATCH blocks the
        // range has.
        let n = s.count;
        s.lists[n] = list;
        s.count += 1;
    }

    /// Bytes of the range handed out as new blocks.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .used
    }
}

/// Reserves the range inaccessible; 0 on failure.
fn reserve() -> usize {
    // SAFETY: a new anonymous private mapping; nothing else refers to it.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            RANGE,
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
    use std::collections::HashSet;

    #[test]
    fn blocks_are_distinct_aligned_and_in_the_range() {
        let r = Records::new();
        let blocks: Vec<*mut u8> = (0..3 * BATCH + 5).map(|_| r.alloc()).collect();
        let distinct: HashSet<usize> = blocks.iter().map(|&p| p as usize).collect();
        assert_eq!(distinct.len(), blocks.len());
        for &p in &blocks {
            assert!(r.contains(p) && r.contains(p.wrapping_add(SIZE - 1)));
            assert_eq!(p as usize % 16, 0, "aligned as malloc's");
            // SAFETY: a block of SIZE bytes.
            unsafe { p.write_bytes(0xAB, SIZE) };
        }
        assert!(!r.contains(std::ptr::null()));
        let on_heap = Box::new(0u8);
        assert!(!r.contains(&*on_heap));
        for p in blocks {
            r.free(p);
        }
    }

    /// Blocks freed on one thread are taken again on another once a whole
    /// list has passed: the range stops growing.
    #[test]
    fn blocks_freed_on_another_thread_are_used_again() {
        let r: &'static Records = Box::leak(Box::new(Records::new()));
        let (to_free, freeing) = std::sync::mpsc::sync_channel::<Vec<usize>>(4);
        let freer = std::thread::spawn(move || {
            for blocks in freeing {
                for p in blocks {
                    r.free(p as *mut u8);
                }
            }
        });
        let mut grown = Vec::new();
        for _ in 0..200 {
            let blocks: Vec<usize> = (0..BATCH * 4).map(|_| r.alloc() as usize).collect();
            assert!(blocks.iter().all(|&p| p != 0));
            to_free.send(blocks).unwrap();
            grown.push(r.used());
        }
        drop(to_free);
        freer.join().unwrap();
        // 200 rounds of 256 blocks: without reuse the range would hold
        // 51 200 blocks; with it, a few rounds' worth.
        let last = *grown.last().unwrap();
        assert!(last <= 16 * BATCH * 4 * SIZE, "{} blocks", last / SIZE);
    }

    #[test]
    fn a_used_up_range_gives_nothing() {
        let r = Records::new();
        let mut n = 0;
        while !r.alloc().is_null() {
            n += 1;
        }
        assert_eq!(n, RANGE / (BATCH * SIZE) * BATCH);
        // Freed blocks are given again once a whole list has passed.
        let base = r.base.load(Ordering::Relaxed);
        for i in 0..BATCH {
            r.free((base + i * SIZE) as *mut u8);
        }
        assert_eq!(r.alloc() as usize, base + (BATCH - 1) * SIZE);
    }
}
