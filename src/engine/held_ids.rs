//! Ids that frozen copies of tables may still read (`table::Frozen`).
//!
//! A frozen copy keeps the addresses of its table's ids, not copies of
//! them: copying each id was a read at random in the id pool, two thirds
//! of the copy's time (docs/performance.md, "Checkpoints off the applying
//! thread"). So an id dropped while a copy taken before the drop is alive
//! is held back — neither freed nor written — and freed once every copy
//! taken before its drop is gone. Ids never change after they are made, so
//! a copy reads exactly the bytes its table held when it was taken.
//! Packed ids (`table::pack`) live in the entry itself: a copy copies them,
//! and they are never held.
//!
//! With no copy alive (nearly all the time), dropping an id costs one
//! atomic load more than freeing it.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::thin_id::free_id;

/// Which copies are alive and which ids wait for them.
struct Ledger {
    /// The number the next copy gets.
    next: u64,
    /// Numbers of the copies alive.
    live: Vec<u64>,
    /// Ids held back, each with the newest copy number when it was dropped
    /// (the newest copy that may read it), in that order.
    held: VecDeque<(u64, usize)>,
}

impl Ledger {
    const fn new() -> Ledger {
        Ledger {
            next: 0,
            live: Vec::new(),
            held: VecDeque::new(),
        }
    }

    /// A copy starts: its number.
    fn open(&mut self) -> u64 {
        let n = self.next;
        self.next += 1;
        self.live.push(n);
        n
    }

    /// The id at `p` is dropped: true when it is held back.
    fn hold(&mut self, p: usize) -> bool {
        if self.live.is_empty() {
            return false;
        }
        self.held.push_back((self.next - 1, p));
        true
    }

    /// Copy `n` is gone: appends to `freed` the ids no copy alive can
    /// read any more (those dropped before the oldest copy alive began).
    fn close(&mut self, n: u64, freed: &mut Vec<usize>) {
        self.live.retain(|&x| x != n);
        let oldest = self.live.iter().min().copied().unwrap_or(u64::MAX);
        while let Some(&(newest_reader, p)) = self.held.front() {
            if newest_reader >= oldest {
                break;
            }
            freed.push(p);
            self.held.pop_front();
        }
    }
}

static LEDGER: Mutex<Ledger> = Mutex::new(Ledger::new());
/// Copies alive: the test that keeps the drop of an id cheap.
static OPEN: AtomicUsize = AtomicUsize::new(0);

fn ledger() -> std::sync::MutexGuard<'static, Ledger> {
    // Every method leaves the ledger consistent: a poisoned lock is safe.
    LEDGER.lock().unwrap_or_else(|e| e.into_inner())
}

/// One frozen copy alive, from before its first id is read until it is
/// dropped.
pub struct Hold(u64);

impl Hold {
    pub fn new() -> Hold {
        let mut l = ledger();
        OPEN.fetch_add(1, Ordering::SeqCst);
        Hold(l.open())
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut freed = Vec::new();
        {
            let mut l = ledger();
            l.close(self.0, &mut freed);
            OPEN.fetch_sub(1, Ordering::SeqCst);
        }
        for p in freed {
            // SAFETY: an id dropped by its table and held back since, which
            // no copy alive can read; it is in the list once and freed once.
            unsafe { free_id(NonNull::new_unchecked(p as *mut u8)) }
        }
    }
}

/// Called as the id at `p` is dropped: true when a copy may still read it
/// and it is held back (then freed by the last such copy's [`Hold`]).
#[inline]
pub fn hold_back(p: NonNull<u8>) -> bool {
    // A copy of the table this id belongs to was taken (its Hold made)
    // before, on this thread or one the table moved to since: it is seen.
    if OPEN.load(Ordering::SeqCst) == 0 {
        return false;
    }
    ledger().hold(p.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_freed_once_every_copy_older_than_its_drop_is_gone() {
        let mut l = Ledger::new();
        let mut freed = Vec::new();
        assert!(!l.hold(1), "no copy alive: freed at once");
        let a = l.open();
        assert!(l.hold(2));
        let b = l.open();
        assert!(l.hold(3));
        // Copy b goes first: 2 and 3 may still be read by a.
        l.close(b, &mut freed);
        assert!(freed.is_empty());
        let c = l.open();
        assert!(l.hold(4));
        // a goes: 2 and 3 are free; 4 waits for c.
        l.close(a, &mut freed);
        assert_eq!(freed, [2, 3]);
        l.close(c, &mut freed);
        assert_eq!(freed, [2, 3, 4]);
        assert!(!l.hold(5));
        assert!(l.live.is_empty() && l.held.is_empty());
    }

    #[test]
    fn an_id_dropped_before_a_copy_began_is_not_waiting_for_it() {
        let mut l = Ledger::new();
        let mut freed = Vec::new();
        let a = l.open();
        assert!(l.hold(1));
        let b = l.open();
        l.close(a, &mut freed);
        // 1 was dropped before b began: b never held its address.
        assert_eq!(freed, [1]);
        l.close(b, &mut freed);
        assert_eq!(freed, [1]);
    }
}
