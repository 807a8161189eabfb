//! Which entries of a hash table changed since the last checkpoint, so a
//! checkpoint can copy and write those alone (a *delta*) instead of every
//! open ticket, call and customer again.
//!
//! A table marks the bucket of every entry it hands out to change or
//! inserts, and keeps the keys it removes. Buckets are stable in the
//! tables used here (`hashbrown`: an entry stays in its bucket until the
//! table rehashes, and removing one moves no other), so the marked buckets
//! hold every entry written since the marks were last taken. A rehash
//! moves everything: before one, a table keeps the keys of its marked
//! entries instead (a growing table rehashes once per doubling).
//!
//! Marking is off until a driver asks for deltas ([`Marks::start`]); then
//! it costs a branch and a bit per change.

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
}
