//! Customers: the key they are remembered by, their contacts and the
//! repeat-contact rule (SPEC §3), decided in both directions so that the
//! result does not depend on arrival order.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use super::keys::dims;
use super::state::{Contact, Cover, MAX_CONTACT_ENTRIES};
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
