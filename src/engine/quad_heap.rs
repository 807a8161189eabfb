//! A min-heap with four children per node, for SLA timers.
//!
//! Half the depth of a binary heap: a pop over a million timers walks ten
//! levels instead of twenty, and the four children it compares at each
//! level lie next to each other in memory, so it misses the cache about
//! half as often.

use serde::{Deserialize, Serialize};

/// A min-heap of `Copy` items.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuadHeap<T> {
    items: Vec<T>,
}

impl<T> Default for QuadHeap<T> {
    fn default() -> Self {
        QuadHeap { items: Vec::new() }
    }
}

impl<T: Ord + Copy> QuadHeap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Items held.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The items in heap order: item `i`'s children are `4i+1..=4i+4`.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// The smallest item.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    /// Adds an item.
    pub fn push(&mut self, x: T) {
        let mut i = self.items.len();
        self.items.push(x);
        while i > 0 {
            let p = (i - 1) / 4;
            if self.items[p] <= x {
                break;
            }
            self.items[i] = self.items[p];
            i = p;
        }
        self.items[i] = x;
    }

    /// Removes and returns the smallest item.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.items.pop()?;
        let Some(&top) = self.items.first() else {
            return Some(last);
        };
        let n = self.items.len();
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let mut m = first;
            for c in first + 1..(first + 4).min(n) {
                if self.items[c] < self.items[m] {
                    m = c;
                }
            }
            if self.items[m] >= last {
                break;
            }
            self.items[i] = self.items[m];
            i = m;
        }
        self.items[i] = last;
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any mix of pushes and pops returns what a sorted list would.
        #[test]
        fn pops_in_order(ops in proptest::collection::vec(proptest::option::of(0u32..50), 0..300)) {
            let mut h = QuadHeap::new();
            let mut model: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Some(x) => {
                        h.push(x);
                        model.push(x);
                    }
                    None => {
                        model.sort_unstable_by(|a, b| b.cmp(a));
                        prop_assert_eq!(h.pop(), model.pop());
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(h.peek().copied(), model.iter().min().copied());
            }
        }
    }
}
