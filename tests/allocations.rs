//! Decoding an event allocates nothing for ids of up to 24 bytes.
//!
//! `frontline replay` decodes on one thread and applies on another; an id
//! allocated by the decoding thread and freed by the applying one goes back
//! to the decoder's malloc arena under its lock, which made the two-thread
//! pipeline cost more CPU than one thread (docs/performance.md, "Replay
//! against the decode ceiling"). This binary counts the allocations of the
//! thread that decodes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use frontline::decode::decode;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while decoding `line` (the event is
/// dropped after counting).
fn allocations(line: &str) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    let ev = decode(line.as_bytes(), 64 * 1024).expect(line);
    let after = ALLOCATIONS.with(Cell::get);
    drop(ev);
    after - before
}

const SHORT: &[&str] = &[
    r#"{"event_id":"sim-1-2","type":"agent.status_changed","ts":1794816000000,"agent_id":"agent-001","status":"available","queue":"billing"}"#,
    r#"{"event_id":"e-000000000000000000001","type":"ticket.created","ts":1794816000000,"ticket_id":"T-000000000001","customer_id":"customer-00000000000001","channel":"email","priority":"high","queue":"billing-and-payments-eu","category":"refunds"}"#,
    r#"{"event_id":"e2","type":"ticket.agent_replied","ts":1794816000000,"ticket_id":"T-1","agent_id":"agent-001","public":true}"#,
    r#"{"event_id":"e3","type":"call.queued","ts":1794816000000,"call_id":"c-1","customer_id":"u-1","queue":"voice","channel":"phone"}"#,
    r#"{"event_id":"e4","type":"survey.csat","ts":1794816000000,"score":5,"ticket_id":"T-1","agent_id":"agent-001","queue":"billing"}"#,
    r#"{"event_id":"e5","type":"ticket.resolved","ts":1794816000000,"ticket_id":"T-1","agent_id":"agent-001"}"#,
];

#[test]
fn ids_of_up_to_24_bytes_are_decoded_without_allocating() {
    // The counter itself must see allocations on this thread.
    let before = ALLOCATIONS.with(Cell::get);
    let boxed: Box<str> = "an allocation".into();
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 1);
    drop(boxed);

    for line in SHORT {
        assert_eq!(allocations(line), 0, "{line}");
    }
}

#[test]
fn a_longer_id_costs_one_allocation() {
    // A UUID event id (36 bytes) is kept on the heap; the other ids stay inline.
    let line = r#"{"event_id":"0f8fad5b-d9cb-469f-a165-70867728950e","type":"ticket.customer_replied","ts":1794816000000,"ticket_id":"T-1"}"#;
    assert_eq!(allocations(line), 1);
    let line = r#"{"event_id":"0f8fad5b-d9cb-469f-a165-70867728950e","type":"ticket.assigned","ts":1794816000000,"ticket_id":"0f8fad5b-d9cb-469f-a165-70867728950f","agent_id":"agent-001"}"#;
    assert_eq!(allocations(line), 2);
}
