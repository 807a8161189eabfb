//! The queue of batches between a pipelined replay's reading thread and
//! its applying thread, and the spare buffers going back.
//!
//! A bounded channel wakes a blocked sender on every receive. The reader
//! is the faster side, so it is blocked on a full queue nearly always, and
//! each batch the applying thread took cost it a wake-up of the other
//! thread (a futex system call, and in a virtual machine an interrupt to
//! the other core) on the path everything waits on. Here a full queue's
//! reader is woken only once the queue has drained to [`Handoff::low`]
//! batches, and then refills it in one go; the applying thread wakes it a
//! few times per queue instead of once per batch, and never spins.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A single-producer single-consumer queue of up to `cap` items, whose
/// full producer waits until it has drained to `low`.
pub(super) struct Handoff<T> {
    state: Mutex<State<T>>,
    /// The reader waits here for room.
    room: Condvar,
    /// The applying thread waits here for a batch.
    ready: Condvar,
    cap: usize,
    low: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    /// Buffers handed back for reuse.
    spare: Vec<T>,
    reader_waits: bool,
    applier_waits: bool,
    /// The reader sent its last batch.
    closed: bool,
    /// The applying side stopped taking batches.
    hung_up: bool,
}

impl<T> Handoff<T> {
    /// A queue of up to `cap` batches, whose full reader resumes at `low`.
    pub(super) fn new(cap: usize, low: usize) -> Handoff<T> {
        assert!(low < cap, "the reader resumes below a full queue");
        Handoff {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(cap),
                spare: Vec::new(),
                reader_waits: false,
                applier_waits: false,
                closed: false,
                hung_up: false,
            }),
            room: Condvar::new(),
            ready: Condvar::new(),
            cap,
            low,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Neither side panics holding the lock; a poisoned one is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reader: queues `item`, waiting while the queue is full; false
    /// (and `item` dropped) once the applying side has hung up.
    pub(super) fn send(&self, item: T) -> bool {
        let mut s = self.lock();
        if s.queue.len() >= self.cap {
            s.reader_waits = true;
            s = self
                .room
                .wait_while(s, |s| s.reader_waits && !s.hung_up)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if s.hung_up {
            return false;
        }
        s.queue.push_back(item);
        if s.applier_waits {
            s.applier_waits = false;
            self.ready.notify_one();
        }
        true
    }

    /// The reader: no more batches.
    pub(super) fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        if s.applier_waits {
            s.applier_waits = false;
            self.ready.notify_one();
        }
    }

    /// The applying thread: the next batch, waiting for one; `None` once
    /// the reader has closed the queue and it is empty.
    pub(super) fn recv(&self) -> Option<T> {
        let mut s = self.lock();
        if s.queue.is_empty() && !s.closed {
            s.applier_waits = true;
            s = self
                .ready
                .wait_while(s, |s| s.applier_waits && !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let item = s.queue.pop_front()?;
        if s.reader_waits && s.queue.len() <= self.low {
            s.reader_waits = false;
            self.room.notify_one();
        }
        Some(item)
    }

    /// The applying side stops taking batches: a waiting reader returns.
    pub(super) fn hang_up(&self) {
        let mut s = self.lock();
        s.hung_up = true;
        s.queue.clear();
        if s.reader_waits {
            s.reader_waits = false;
            self.room.notify_one();
        }
    }

    /// A guard that ends `side`'s part when dropped, however its thread
    /// stops (a panic included): the reader's drop closes the queue, the
    /// applying side's hangs up, so neither side waits for the other for
    /// ever.
    pub(super) fn guard(&self, side: Side) -> Guard<'_, T> {
        Guard { queue: self, side }
    }

    /// Hands a used buffer back to the reader.
    pub(super) fn give_back(&self, item: T) {
        self.lock().spare.push(item);
    }

    /// A buffer handed back, if any.
    pub(super) fn take_spare(&self) -> Option<T> {
        self.lock().spare.pop()
    }
}

/// Which side a [`Guard`] ends.
#[derive(Clone, Copy)]
pub(super) enum Side {
    Reader,
    Applier,
}

/// Ends one side's part of a [`Handoff`] when dropped ([`Handoff::guard`]).
pub(super) struct Guard<'a, T> {
    queue: &'a Handoff<T>,
    side: Side,
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        match self.side {
            Side::Reader => self.queue.close(),
            Side::Applier => self.queue.hang_up(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn batches_arrive_in_order_and_the_queue_ends_when_closed() {
        let h = Handoff::new(4, 1);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..10_000u32 {
                    assert!(h.send(i));
                }
                h.close();
            });
            let got: Vec<u32> = std::iter::from_fn(|| h.recv()).collect();
            assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        });
        assert_eq!(h.recv(), None);
    }

    #[test]
    fn a_full_reader_waits_until_the_queue_drains_to_low() {
        let h = Handoff::new(4, 1);
        let sent = AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..6u32 {
                    h.send(i);
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                h.close();
            });
            while sent.load(Ordering::SeqCst) < 4 {
                std::thread::yield_now();
            }
            // Full: the fifth waits while the queue holds more than one.
            assert_eq!(h.recv(), Some(0));
            assert_eq!(h.recv(), Some(1));
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert_eq!(sent.load(Ordering::SeqCst), 4, "resumed above low");
            assert_eq!(h.recv(), Some(2));
            let rest: Vec<u32> = std::iter::from_fn(|| h.recv()).collect();
            assert_eq!(rest, vec![3, 4, 5]);
        });
    }

    #[test]
    fn a_waiting_reader_returns_when_the_applier_hangs_up() {
        let h = Handoff::new(2, 0);
        std::thread::scope(|s| {
            let reader = s.spawn(|| (0..100u32).take_while(|&i| h.send(i)).count());
            while h.lock().queue.len() < 2 {
                std::thread::yield_now();
            }
            h.hang_up();
            assert_eq!(reader.join().unwrap(), 2);
        });
    }

    #[test]
    fn a_reader_that_panics_closes_the_queue() {
        let h = Handoff::new(4, 1);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let _closes = h.guard(Side::Reader);
                h.send(7u32);
                panic!("the reader fails");
            });
            assert_eq!(h.recv(), Some(7));
            assert_eq!(h.recv(), None);
            assert!(reader.join().is_err());
        });
    }

    #[test]
    fn spare_buffers_come_back() {
        let h: Handoff<Vec<u8>> = Handoff::new(2, 0);
        assert!(h.take_spare().is_none());
        h.give_back(vec![1]);
        assert_eq!(h.take_spare(), Some(vec![1]));
    }
}
