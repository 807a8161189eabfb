//! The hashes of an event's keys, and the engine's cache hints for the
//! events a caller is about to apply (`src/engine/probe.rs` says how a
//! hint works).
//!
//! The engine looks an event up by the hashes of its keys: its id (the
//! dedup memory), its customer (a new contact) and its ticket or call.
//! They are computed once per event, as [`EventKeys`], by whoever holds the
//! decoded events (a pipelined replay: the id's hash on its reading thread,
//! the rest on its applying thread; a live worker after decoding a batch),
//! so the steps of a hint read a few bytes instead
//! of hashing the event's ids again each time, and so does the engine when
//! it applies the event ([`Engine::apply_keyed`]).

use super::customers::{customer_key, CustomerKey};
use super::{dedup, probe, table, Engine};
use crate::event::{Body, EntityRef, Event};

/// How many events ahead [`Engine::prefetch_ahead`] takes each step: each
/// step reads what the one before it asked for (two events earlier; the
/// last, which only a new contact's customer takes, one).
const PREFETCH_STEPS: [(usize, probe::Step); 4] = [
    (6, probe::Step::Group),
    (4, probe::Step::Entry),
    (2, probe::Step::Key),
    (1, probe::Step::Spilled),
];

/// The farthest [`Engine::prefetch_ahead`] reads an event's keys: a caller
/// that completes keys late ([`EventKeys::of_id`]) completes them this far
/// ahead.
pub const HINTS_AHEAD: usize = {
    let mut far = 0;
    let mut i = 0;
    while i < PREFETCH_STEPS.len() {
        if PREFETCH_STEPS[i].0 > far {
            far = PREFETCH_STEPS[i].0;
        }
        i += 1;
    }
    far
};

/// The hashes of an event's keys, for its hints and its lookups
/// ([`EventKeys::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventKeys {
    /// The event id, as the dedup memory hashes it.
    id: u64,
    /// The customer of a new contact.
    customer: Option<CustomerKey>,
    /// The ticket or call, as their tables hash it.
    entity: Entity,
}

/// Which table an event looks up, by the hash of its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entity {
    None,
    /// A new ticket or call: only where it will go is asked for.
    NewTicket(u64),
    NewCall(u64),
    /// An existing one: its group, entry and id, in three steps.
    Ticket(u64),
    Call(u64),
}

impl EventKeys {
    /// The keys of `ev`; a pure function of it, so any thread may compute it.
    pub fn of(ev: &Event) -> EventKeys {
        let mut keys = EventKeys::of_id(ev);
        keys.complete(ev);
        keys
    }

    /// The hash of `ev`'s id alone, all a [`super::Gate`] reads; the engine
    /// must not be given the event before [`EventKeys::complete`] has added
    /// the rest. (Replay's reading thread judges with these, and the
    /// applying thread completes them: see `replay::read`.)
    pub fn of_id(ev: &Event) -> EventKeys {
        EventKeys {
            id: dedup::hash(&ev.id),
            customer: None,
            entity: Entity::None,
        }
    }

    /// Adds the customer's and the ticket's or call's hashes to keys of
    /// [`EventKeys::of_id`] of `ev`.
    #[inline]
    pub fn complete(&mut self, ev: &Event) {
        self.customer = match &ev.body {
            Body::TicketCreated { customer, .. } | Body::CallQueued { customer, .. } => {
                Some(customer_key(customer))
            }
            _ => None,
        };
        self.entity = match &ev.body {
            Body::TicketCreated { ticket, .. } => Entity::NewTicket(table::hash_id(ticket)),
            Body::CallQueued { call, .. } => Entity::NewCall(table::hash_id(call)),
            body => match body.entity() {
                EntityRef::Ticket(t) => Entity::Ticket(table::hash_id(t)),
                EntityRef::Call(c) => Entity::Call(table::hash_id(c)),
                EntityRef::None => Entity::None,
            },
        };
    }

    /// `ev` with its keys.
    pub fn with(ev: Event) -> (Event, EventKeys) {
        let keys = EventKeys::of(&ev);
        (ev, keys)
    }

    /// The hash of the event id, as the dedup memory files it.
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The customer of a new contact (`ticket.created`, `call.queued`).
    pub(super) fn customer(&self) -> Option<CustomerKey> {
        self.customer
    }

    /// The hash of the ticket or call the event names or opens, as their
    /// tables file it.
    pub(super) fn entity(&self) -> Option<u64> {
        match self.entity {
            Entity::None => None,
            Entity::NewTicket(h) | Entity::NewCall(h) | Entity::Ticket(h) | Entity::Call(h) => {
                Some(h)
            }
        }
    }
}

impl Engine {
    /// Cache hints for the events a caller is about to apply: `ahead(k)`
    /// is the keys of the event `k` places after the one it applies next
    /// (`None` past the end or for a line that did not decode). Only a
    /// hint: state and output are the same with or without it. While the
    /// tables fit in cache it does nothing; once they do not, the lines
    /// the next events' lookups wait on (the dedup set's and the ticket or
    /// call table's control group, then the entry, then its id) are asked
    /// for a few events early, so those waits overlap. A new contact's
    /// customer is hinted at any size, with the contacts and covers its
    /// entry points to.
    #[inline]
    pub fn prefetch_ahead<'a>(&self, ahead: impl Fn(usize) -> Option<&'a EventKeys>) {
        for (k, step) in PREFETCH_STEPS {
            if let Some(keys) = ahead(k) {
                self.prefetch(keys, step);
            }
        }
    }

    fn prefetch(&self, keys: &EventKeys, step: probe::Step) {
        let s = &self.state;
        if step == probe::Step::Spilled {
            // Only a new contact's customer points further.
            if let Some(c) = &keys.customer {
                s.customers.prefetch(c, step);
            }
            return;
        }
        // With the dedup memory out with a gate, the gate hints it.
        if !self.gate_out {
            s.dedup.prefetch(keys.id, step);
        }
        if let Some(c) = &keys.customer {
            s.customers.prefetch(c, step);
        }
        match keys.entity {
            Entity::NewTicket(h) if step == probe::Step::Group => s.tickets.prefetch(h, step),
            Entity::NewCall(h) if step == probe::Step::Group => s.calls.prefetch(h, step),
            Entity::Ticket(h) => s.tickets.prefetch(h, step),
            Entity::Call(h) => s.calls.prefetch(h, step),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::sync::Arc;

    fn keys(line: &str) -> EventKeys {
        EventKeys::of(&crate::decode::decode(line.as_bytes(), 1 << 16).expect("valid event"))
    }

    /// The hints ask for the lines of the keys the engine looks up: the
    /// same hashes as the dedup memory and the tables, in the same table.
    #[test]
    fn hint_keys_hash_each_key_as_its_table_does() {
        let k = keys(
            r#"{"event_id":"e-1","type":"ticket.created","ts":1,"ticket_id":"t-1","customer_id":"c-1","channel":"email","priority":"normal","queue":"q"}"#,
        );
        assert_eq!(k.id, dedup::hash("e-1"));
        assert_eq!(k.customer, Some(customer_key("c-1")));
        assert_eq!(k.entity, Entity::NewTicket(table::hash_id("t-1")));

        let k = keys(
            r#"{"event_id":"e-2","type":"call.queued","ts":1,"call_id":"k-1","customer_id":"c-2","channel":"phone","queue":"q"}"#,
        );
        assert_eq!(k.customer, Some(customer_key("c-2")));
        assert_eq!(k.entity, Entity::NewCall(table::hash_id("k-1")));

        let k = keys(r#"{"event_id":"e-3","type":"ticket.resolved","ts":1,"ticket_id":"t-1"}"#);
        assert_eq!(
            (k.customer, k.entity),
            (None, Entity::Ticket(table::hash_id("t-1")))
        );

        let k = keys(r#"{"event_id":"e-4","type":"call.ended","ts":1,"call_id":"k-1"}"#);
        assert_eq!(
            (k.customer, k.entity),
            (None, Entity::Call(table::hash_id("k-1")))
        );

        let k = keys(
            r#"{"event_id":"e-5","type":"agent.status_changed","ts":1,"agent_id":"a","status":"available"}"#,
        );
        assert_eq!(
            (k.id, k.customer, k.entity),
            (dedup::hash("e-5"), None, Entity::None)
        );
    }

    /// Hints change nothing an engine counts, at every step: here with
    /// customers whose covers spill from their box (contacts in more
    /// categories than it holds inline, each a repeat), which the last
    /// step follows.
    #[test]
    fn hinted_apply_counts_as_plain_apply() {
        let cats = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut lines = Vec::new();
        for i in 0..200u64 {
            let cat = cats[(i / 3 % 8) as usize];
            lines.push(format!(
                r#"{{"event_id":"e-{i}","type":"ticket.created","ts":{},"ticket_id":"t-{i}","customer_id":"c-{}","channel":"email","priority":"normal","queue":"q","category":"{cat}"}}"#,
                1_800_000_000_000 + i as i64 * 60_000,
                i % 3
            ));
        }
        let events: Vec<Event> = lines
            .iter()
            .map(|l| crate::decode::decode(l.as_bytes(), 1 << 16).expect("valid event"))
            .collect();
        let keys: Vec<EventKeys> = events.iter().map(EventKeys::of).collect();
        let cfg = Config::default();
        let (mut hinted, mut plain) = (Engine::new(&cfg), Engine::new(&cfg));
        for (i, ev) in events.iter().enumerate() {
            hinted.prefetch_ahead(|k| keys.get(i + k));
            hinted.apply_keyed(ev, &keys[i]);
            plain.apply_keyed(ev, &keys[i]);
        }
        let spilled = hinted
            .state
            .customers
            .values()
            .filter(|c| c.covers.as_ref().is_some_and(|v| v.spilled()))
            .count();
        assert_eq!(spilled, 3, "every customer's covers spilled");
        let text = |e: &mut Engine| crate::export::prometheus_text(Arc::new(e.snapshot(None)));
        let out = text(&mut hinted);
        assert!(out.contains("support_repeat_contacts_total"), "{out}");
        assert_eq!(out, text(&mut plain));
    }
}
