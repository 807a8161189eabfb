//! Customers: the key they are remembered by, their contacts and the
//! repeat-contact rule (SPEC §3), decided in both directions so that the
//! result does not depend on arrival order.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::keys::dims;
use super::probe::{prefetch_bytes, prefetch_value};
use super::window::WindowCount;
use super::{Engine, LabelId};
use crate::event::{Channel, Priority};

/// The key of a customer: a 128-bit hash of the id. Two of a billion
/// customers share one with a probability near 10^-21; the id is not kept.
/// Two `u64`s rather than a `u128`, whose 16-byte alignment would pad every
/// map slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u128", into = "u128")]
pub(super) struct CustomerKey(u64, u64);

impl CustomerKey {
    /// Its low 64 bits, which a table files it under (a hash already).
    pub(super) fn low(&self) -> u64 {
        self.1
    }
}

impl From<u128> for CustomerKey {
    fn from(k: u128) -> Self {
        CustomerKey((k >> 64) as u64, k as u64)
    }
}

impl From<CustomerKey> for u128 {
    fn from(k: CustomerKey) -> Self {
        (k.0 as u128) << 64 | k.1 as u128
    }
}

pub(super) fn customer_key(id: &str) -> CustomerKey {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes()).into()
}

impl Engine {
    /// `customer.subscribed`: the customer becomes active (once).
    pub(super) fn customer_subscribed(&mut self, customer: &str) {
        let c = self.state.customers.entry(customer_key(customer));
        if !c.active {
            c.active = true;
            self.state.metrics.active_customers += 1;
        }
    }

    /// `customer.churned`: counted, and an active customer becomes inactive.
    pub(super) fn customer_churned(&mut self, customer: &str) {
        self.state.metrics.churned += 1;
        if let Some(c) = self.state.customers.get_mut(&customer_key(customer)) {
            if c.active {
                c.active = false;
                self.state.metrics.active_customers -= 1;
            }
        }
    }

    /// A new contact of the customer keyed `customer`: counts it, and
    /// decides repeats in both directions so that the result does not
    /// depend on arrival order.
    pub(super) fn contact(
        &mut self,
        ts: i64,
        contact_id: &str,
        customer: CustomerKey,
        category: Option<&str>,
        ch: Channel,
        q: LabelId,
    ) {
        bump!(self.state.metrics, contacts, dims(ch, Priority::Low, q), 1);
        self.win_count(ts, WindowCount::Contacts, 1);
        let cat = category.map_or(0, |c| xxhash_rust::xxh3::xxh3_64(c.as_bytes()) as u32 | 1);
        let w = self.settings.repeat_window;
        let cust = self.state.customers.entry(customer);
        // Contacts are ordered by (ts, id hash): at equal times the order
        // still does not depend on which arrived first.
        let key = xxhash_rust::xxh3::xxh3_64(contact_id.as_bytes());
        let is_repeat = cust.has_earlier(ts, key, cat, w);
        // Later contacts not yet repeats that this one makes repeats (an
        // earlier contact arriving late).
        let mut newly: SmallVec<[(i64, Channel, LabelId); 2]> = SmallVec::new();
        let mut i = 0;
        while i < cust.contacts.len() {
            let c = &cust.contacts[i];
            let same = c.cat == 0 || cat == 0 || c.cat == cat;
            if (c.ts, c.key) >= (ts, key) && c.ts - ts <= w && same {
                let c = cust.contacts.swap_remove(i);
                newly.push((c.ts, c.channel, c.queue));
                cust.add_cover(cover(&c, w));
            } else {
                i += 1;
            }
        }
        let c = Contact {
            ts,
            key,
            cat,
            channel: ch,
            queue: q,
        };
        if is_repeat {
            cust.add_cover(cover(&c, w));
            newly.push((ts, ch, q));
        } else {
            cust.contacts.push(c);
            if cust.contacts.len() > MAX_CONTACT_ENTRIES {
                let oldest = (0..cust.contacts.len())
                    .min_by_key(|&i| (cust.contacts[i].ts, cust.contacts[i].key))
                    .expect("not empty");
                let c = cust.contacts.swap_remove(oldest);
                cust.add_cover(cover(&c, w));
            }
        }
        for (t, ch, q) in newly {
            bump!(self.state.metrics, repeats, dims(ch, Priority::Low, q), 1);
            self.win_count(t, WindowCount::Repeats, 1);
        }
    }
}

/// The window in which later contacts are repeats of `c`.
fn cover(c: &Contact, w: i64) -> Cover {
    Cover {
        from_ts: c.ts,
        from_key: c.key,
        to: c.ts.saturating_add(w),
        cat: c.cat,
    }
}

/// A customer's recent contacts and subscription.
///
/// Repeat detection (SPEC §3) needs, for a new contact, whether an earlier
/// one of a compatible category lies within `repeat_window` before it, and
/// which later contacts not yet counted as repeats it makes repeats. The
/// first needs only the union of the windows the contacts open: a contact
/// at `t` covers `(t, t + repeat_window]`, and the covers of one category
/// merge into few intervals (each at least a window long). The second
/// needs only the contacts that are not repeats, and two of those of one
/// category are more than a window apart. So a customer holds O(categories)
/// entries however many contacts it makes, and each contact costs that
/// (docs/metrics.md, "Repeat contacts").
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Customer {
    /// Recent contacts not counted as repeats (yet). Most customers have one.
    pub contacts: SmallVec<[Contact; 1]>,
    /// Windows opened by contacts that are repeats, merged per category.
    /// Boxed: 8 bytes for the many customers without one. The first
    /// [`COVERS_INLINE`] covers lie in the box, so the hint that asks for
    /// the box brings them too (a boxed `Vec` put its covers one more load
    /// away, and took two allocations where this takes one).
    pub covers: Option<Box<Covers>>,
    pub active: bool,
}

/// Covers a customer's box holds before it spills to the heap: a
/// customer has at most one per category of its recent contacts.
pub const COVERS_INLINE: usize = 4;

/// A customer's covers ([`Customer::covers`]).
pub type Covers = SmallVec<[Cover; COVERS_INLINE]>;

/// The window `(from, to]` in which a contact of category `cat` is a
/// repeat, `from` ordered by `(ts, key)` as contacts are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cover {
    pub from_ts: i64,
    pub from_key: u64,
    pub to: i64,
    /// Category hash, as [`Contact::cat`].
    pub cat: u32,
}

impl Cover {
    /// Whether a contact at `(ts, key)` lies inside.
    pub fn holds(&self, ts: i64, key: u64) -> bool {
        (self.from_ts, self.from_key) < (ts, key) && ts <= self.to
    }
}

/// Contacts and covers a customer keeps at most. Past it the oldest
/// contact becomes a cover (it no longer waits to be made a repeat by a
/// late earlier contact) and the cover ending first is forgotten; exact
/// below 64 categories in a customer's window.
pub const MAX_CONTACT_ENTRIES: usize = 64;

impl Customer {
    /// Cache hints for what this customer keeps on the heap: the first
    /// lines of its spilled contacts, and its covers' box with the covers
    /// it holds inline.
    #[inline]
    pub fn prefetch_heap(&self) {
        if self.contacts.spilled() {
            let bytes = self.contacts.len() * std::mem::size_of::<Contact>();
            prefetch_bytes(self.contacts.as_ptr() as usize, bytes.min(256));
        }
        if let Some(v) = &self.covers {
            // The box is 16-byte aligned, not 64: its end may be a line on.
            prefetch_value::<Covers>(v);
        }
    }

    /// Cache hints for the covers a customer's box has spilled to the
    /// heap (one per category of its recent contacts, more than
    /// [`COVERS_INLINE`]), once its box is in cache: the box holds their
    /// address. A frequent customer's window of a week spans most
    /// categories, and reading their first cover waited on memory for
    /// three fifths of [`Customer::add_cover`] (docs/performance.md).
    #[inline]
    pub fn prefetch_spilled(&self) {
        if let Some(v) = &self.covers {
            if v.spilled() {
                let bytes = v.len() * std::mem::size_of::<Cover>();
                prefetch_bytes(v.as_ptr() as usize, bytes.min(512));
            }
        }
    }

    /// Whether a contact at `(ts, key)` of category `cat` has an earlier
    /// compatible one within `w`.
    pub fn has_earlier(&self, ts: i64, key: u64, cat: u32, w: i64) -> bool {
        let same = |c: u32| c == 0 || cat == 0 || c == cat;
        self.contacts
            .iter()
            .any(|c| (c.ts, c.key) < (ts, key) && ts - c.ts <= w && same(c.cat))
            || self
                .covers
                .iter()
                .flat_map(|v| v.iter())
                .any(|v| same(v.cat) && v.holds(ts, key))
    }

    /// Adds the window of a repeat contact, merged with the windows of its
    /// category it overlaps or touches.
    pub fn add_cover(&mut self, mut c: Cover) {
        let covers = self.covers.get_or_insert_with(Default::default);
        let mut i = 0;
        while i < covers.len() {
            let v = covers[i];
            let (a, b) = if (v.from_ts, v.from_key) <= (c.from_ts, c.from_key) {
                (v, c)
            } else {
                (c, v)
            };
            if v.cat == c.cat && b.from_ts <= a.to {
                c = Cover {
                    from_ts: a.from_ts,
                    from_key: a.from_key,
                    to: a.to.max(b.to),
                    cat: c.cat,
                };
                covers.swap_remove(i);
            } else {
                i += 1;
            }
        }
        covers.push(c);
        if covers.len() > MAX_CONTACT_ENTRIES {
            let first = (0..covers.len())
                .min_by_key(|&i| covers[i].to)
                .expect("not empty");
            covers.swap_remove(first);
        }
    }

    /// Drops what no contact within `horizon` of `now` can need (`w` is the
    /// repeat window); whether anything is left.
    pub fn expire(&mut self, now: i64, horizon: i64, w: i64) -> bool {
        self.contacts.retain(|x| now - x.ts <= horizon);
        if let Some(v) = &mut self.covers {
            v.retain(|c| now - (c.to - w) <= horizon);
            if v.is_empty() {
                self.covers = None;
            }
        }
        self.active || !self.contacts.is_empty() || self.covers.is_some()
    }
}

/// One contact, for repeat detection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Contact {
    pub ts: i64,
    /// Hash of the ticket or call id: orders contacts of equal time.
    #[serde(default)]
    pub key: u64,
    /// Category hash with the low bit set, or 0 for none.
    pub cat: u32,
    pub channel: Channel,
    pub queue: LabelId,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checkpoints written while the covers were a boxed `Vec` read back
    /// the same, and new ones are written byte for byte as before.
    #[test]
    fn covers_are_encoded_as_the_boxed_vec_they_replaced() {
        let all: Vec<Cover> = (0..6)
            .map(|i| Cover {
                from_ts: i * 1_000,
                from_key: i as u64 * 7,
                to: i * 1_000 + 500,
                cat: 3,
            })
            .collect();
        for n in [0, 1, COVERS_INLINE, all.len()] {
            #[allow(clippy::box_collection)]
            let old: Option<Box<Vec<Cover>>> = (n > 0).then(|| Box::new(all[..n].to_vec()));
            let new: Option<Box<Covers>> =
                (n > 0).then(|| Box::new(all[..n].iter().copied().collect()));
            let bytes = postcard::to_stdvec(&old).unwrap();
            assert_eq!(postcard::to_stdvec(&new).unwrap(), bytes, "{n} covers");
            let back: Option<Box<Covers>> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back.map(|v| v.to_vec()), old.map(|v| *v), "{n} covers");
        }
    }
}
