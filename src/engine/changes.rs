//! Which entries of a hash table changed since the last checkpoint, so a
//! checkpoint can copy and write those alone (a *delta*) instead of every
//! open ticket, call and customer again.
//!
//! A table marks the index of every entry it hands out to change or
//! inserts, and keeps the keys it removes. Indices are stable in the
//! tables used here (`super::growing`: an entry keeps its index until the
//! table moves it, and removing one moves no other), and the table tells
//! the marks of every move it makes, so the marked indices hold every
//! entry written since the marks were last taken.
//!
//! Marking is off until a driver asks for deltas ([`Marks::start`]); then
//! it costs a branch and a bit per change.

use super::growing::Follow;

/// Buckets changed since the last [`Marks::take`].
#[derive(Debug, Default)]
pub(super) struct Marks {
    on: bool,
    /// One bit per bucket, grown as buckets are marked.
    bits: Vec<u64>,
}

impl Marks {
    /// From now on, changes are marked; nothing is marked yet.
    pub(super) fn start(&mut self) {
        self.on = true;
        self.bits.clear();
    }

    /// Whether changes are marked.
    pub(super) fn on(&self) -> bool {
        self.on
    }

    /// The entry in bucket `i` is written.
    #[inline]
    pub(super) fn mark(&mut self, i: usize) {
        if self.on {
            let w = i / 64;
            if w >= self.bits.len() {
                self.bits.resize(w + 1, 0);
            }
            self.bits[w] |= 1 << (i % 64);
        }
    }

    /// The marked buckets, in order, and no more marks.
    pub(super) fn take(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        for (w, bits) in self.bits.iter_mut().enumerate() {
            let mut b = std::mem::take(bits);
            while b != 0 {
                out.push(w * 64 + b.trailing_zeros() as usize);
                b &= b - 1;
            }
        }
        out
    }
}

/// Marks follow their entries as a [`Growing`](super::growing::Growing)
/// table moves them.
impl Follow for Marks {
    fn shift(&mut self, by: usize) {
        if self.on && !self.bits.is_empty() {
            debug_assert_eq!(by % 64, 0);
            self.bits.splice(0..0, std::iter::repeat_n(0, by / 64));
        }
    }

    #[inline]
    fn moved(&mut self, from: usize, to: usize) {
        if self.on {
            let (w, bit) = (from / 64, 1 << (from % 64));
            if self.bits.get(w).is_some_and(|b| b & bit != 0) {
                self.bits[w] &= !bit;
                self.mark(to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_come_back_once_in_order_and_only_when_on() {
        let mut m = Marks::default();
        m.mark(3);
        assert!(m.take().is_empty(), "off: nothing marked");
        m.start();
        for i in [700, 3, 64, 63, 3, 0] {
            m.mark(i);
        }
        assert_eq!(m.take(), vec![0, 3, 63, 64, 700]);
        assert!(m.take().is_empty());
        m.mark(5);
        m.start();
        assert!(m.take().is_empty(), "started over");
    }

    #[test]
    fn marks_follow_moves_and_shifts() {
        let mut m = Marks::default();
        m.start();
        for i in [1, 63, 64, 130] {
            m.mark(i);
        }
        // A move begins: the table's 128 buckets become the old ones, above
        // a new table's 128.
        m.shift(128);
        m.moved(128 + 63, 7);
        m.moved(128 + 2, 9); // not marked: no mark comes with it
        m.moved(10_000, 11); // beyond every mark
        assert_eq!(m.take(), vec![7, 128 + 1, 128 + 64, 128 + 130]);
        // Off, nothing follows.
        let mut off = Marks::default();
        off.shift(64);
        off.moved(64, 1);
        off.start();
        assert!(off.take().is_empty());
    }
}
