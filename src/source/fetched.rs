//! The queue the assigned partitions' messages are fetched into, apart from
//! the consumer's own queue (rebalances, statistics, commits, errors).
//!
//! Polling the consumer returns one message a call, and each call does the
//! consumer's bookkeeping (its poll interval, the clock) again. Taken from
//! a queue of their own, all the messages queued come in one call (one
//! lock, one clock read), and the consumer queue, still polled every
//! round, holds only the events its callbacks serve. A rebalance never
//! reaches this queue, so no rebalance is served while messages are taken.
//!
//! librdkafka clears a partition's forwarding when it stops fetching it,
//! and once an application has forwarded a partition it no longer
//! forwards it to the consumer queue itself: every assignment forwards its
//! partitions here before it is made, and the consumer thread forwards the
//! partitions it holds again every second, so a partition whose old fetch
//! stopped only after its new assignment still reaches it.

use std::ffi::{c_void, CStr, CString};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::types::RDKafkaRespErr;

use crate::hub::TopicPartition;
use crate::locks::lock;

/// A librdkafka queue handle (`rd_kafka_queue_t`), owned.
struct QueuePtr(*mut rd::rd_kafka_queue_t);

// SAFETY: librdkafka's queue handles may be used from any thread; this one
// is taken out of its mutex once and destroyed by the consumer thread, the
// only thread that uses it without holding the mutex.
unsafe impl Send for QueuePtr {}

/// The fetched-messages queue of one consumer, and that consumer's own
/// queue (to see whether events wait there).
pub(crate) struct Fetched {
    queues: Mutex<Option<(QueuePtr, QueuePtr)>>,
}

impl Fetched {
    /// Not open yet: until [`Fetched::open`], nothing is forwarded and
    /// nothing taken.
    pub(crate) fn new() -> Fetched {
        Fetched {
            queues: Mutex::new(None),
        }
    }

    /// Opens the queue for the consumer `rk` (of a group: only a group's
    /// consumer has a consumer queue); false if librdkafka gives none.
    pub(crate) fn open(&self, rk: *mut rd::rd_kafka_t) -> bool {
        // SAFETY: `rk` is a live consumer; both handles are destroyed in
        // `close`, before the consumer is.
        let (q, cq) = unsafe {
            (
                rd::rd_kafka_queue_new(rk),
                rd::rd_kafka_queue_get_consumer(rk),
            )
        };
        if q.is_null() || cq.is_null() {
            for h in [q, cq].into_iter().filter(|h| !h.is_null()) {
                // SAFETY: a live handle made above, used nowhere else.
                unsafe { rd::rd_kafka_queue_destroy(h) };
            }
            return false;
        }
        *lock(&self.queues) = Some((QueuePtr(q), QueuePtr(cq)));
        true
    }

    /// Destroys the handles (messages still queued are dropped: nothing
    /// applied them, so nothing stored their offsets). Later calls do
    /// nothing.
    pub(crate) fn close(&self) {
        // Destroyed outside the lock: destroying takes the queues' locks,
        // and librdkafka calls `wake` (which takes this lock) holding the
        // consumer queue's.
        let taken = lock(&self.queues).take();
        if let Some((q, cq)) = taken {
            // SAFETY: both handles are live and owned here; taken out of
            // the mutex, no one else can reach them.
            unsafe {
                rd::rd_kafka_queue_destroy(q.0);
                rd::rd_kafka_queue_destroy(cq.0);
            }
        }
    }

    /// Routes the fetched messages of these partitions of consumer `rk`
    /// to this queue (on the consumer thread).
    pub(crate) fn forward(&self, rk: *mut rd::rd_kafka_t, tps: &[TopicPartition]) {
        let Some((q, _)) = self.handles() else {
            return;
        };
        for (topic, partition) in tps {
            let Ok(topic) = CString::new(topic.as_str()) else {
                continue;
            };
            // SAFETY: `rk` is the live consumer the queue belongs to; the
            // partition's handle is destroyed at once (the forwarding stays).
            unsafe {
                let pq = rd::rd_kafka_queue_get_partition(rk, topic.as_ptr(), *partition);
                if pq.is_null() {
                    continue;
                }
                rd::rd_kafka_queue_forward(pq, q);
                rd::rd_kafka_queue_destroy(pq);
            }
        }
    }

    /// The handles, for the consumer thread: it is the only one to close
    /// them, so they stay live while it uses them, and it calls librdkafka
    /// without this lock (see `close`).
    fn handles(&self) -> Option<(*mut rd::rd_kafka_queue_t, *mut rd::rd_kafka_queue_t)> {
        lock(&self.queues).as_ref().map(|(q, cq)| (q.0, cq.0))
    }

    /// Wakes a [`Fetched::take`] that waits (events wait on the consumer
    /// queue).
    pub(crate) fn wake(&self) {
        if let Some((q, _)) = lock(&self.queues).as_ref() {
            // SAFETY: the handle is live while the mutex holds it.
            unsafe { rd::rd_kafka_queue_yield(q.0) };
        }
    }

    /// Whether events wait on the consumer queue (on the consumer thread).
    pub(crate) fn events_waiting(&self) -> bool {
        // SAFETY: live (see `handles`).
        self.handles()
            .is_some_and(|(_, cq)| unsafe { rd::rd_kafka_queue_length(cq) } > 0)
    }

    /// Hands every fetched message queued to `f`, in queue order: waits up
    /// to `wait` for a first one (less if woken), then takes all that are
    /// there at once. Returns how many. Only the consumer thread calls it.
    ///
    /// librdkafka's batch call (`rd_kafka_consume_batch_queue`) would hand
    /// out an array instead, but it moves a partition's position one past
    /// the end of the partition at each end-of-partition mark it returns,
    /// and librdkafka resumes a partition from that position after a
    /// rebalance pauses it: out of range, it resets the partition to its
    /// beginning. The callback call moves the position for messages only.
    pub(crate) fn take(&self, wait: Duration, f: &mut dyn FnMut(&Fetch)) -> usize {
        let Some((q, _)) = self.handles() else {
            std::thread::sleep(wait);
            return 0;
        };
        let mut served = Served { f, n: 0 };
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the queue is live (see `handles`); `served` outlives the
        // call, which invokes `one` only before it returns.
        unsafe {
            rd::rd_kafka_consume_callback_queue(
                q,
                ms,
                Some(one),
                &mut served as *mut Served as *mut c_void,
            );
        }
        served.n
    }
}

/// What [`Fetched::take`] hands each message to.
struct Served<'a> {
    f: &'a mut dyn FnMut(&Fetch),
    n: usize,
}

/// librdkafka's per-message callback (it destroys the message after).
unsafe extern "C" fn one(m: *mut rd::rd_kafka_message_t, opaque: *mut c_void) {
    if m.is_null() {
        return;
    }
    // SAFETY: `opaque` is the `Served` of the `take` that is running.
    let served = unsafe { &mut *(opaque as *mut Served) };
    served.n += 1;
    (served.f)(&Fetch(m));
}

/// A message being taken (librdkafka's, alive while the callback runs).
pub(crate) struct Fetch(*mut rd::rd_kafka_message_t);

impl Fetch {
    fn m(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: non-null, and live while the callback runs.
        unsafe { &*self.0 }
    }

    /// The error this message stands for (end of partition, a fetch
    /// error), if any.
    pub(crate) fn error(&self) -> Option<RDKafkaRespErr> {
        let e = self.m().err;
        (e != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR).then_some(e)
    }

    pub(crate) fn partition(&self) -> i32 {
        self.m().partition
    }

    pub(crate) fn offset(&self) -> i64 {
        self.m().offset
    }

    /// The topic's name (empty if librdkafka gives none).
    pub(crate) fn topic(&self) -> &[u8] {
        let rkt = self.m().rkt;
        if rkt.is_null() {
            return b"";
        }
        // SAFETY: the message holds its topic; the name lives as long.
        unsafe { CStr::from_ptr(rd::rd_kafka_topic_name(rkt)).to_bytes() }
    }

    pub(crate) fn payload(&self) -> Option<&[u8]> {
        let m = self.m();
        // SAFETY: librdkafka gives `len` bytes at `payload` while the
        // message lives.
        (!m.payload.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.payload as *const u8, m.len) })
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        let m = self.m();
        // SAFETY: as for the payload.
        (!m.key.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.key as *const u8, m.key_len) })
    }

    /// Appends the message's headers to `buf` with
    /// [`super::batch::put_header`].
    pub(crate) fn put_headers(&self, buf: &mut Vec<u8>) {
        let mut hdrs = std::ptr::null_mut();
        // SAFETY: the message is live; librdkafka parses its headers into
        // a list the message owns (none: an error, and nothing to put).
        if unsafe { rd::rd_kafka_message_headers(self.0, &mut hdrs) }
            != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR
        {
            return;
        }
        for i in 0.. {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
            // SAFETY: `hdrs` is the message's list, alive with it.
            let r =
                unsafe { rd::rd_kafka_header_get_all(hdrs, i, &mut name, &mut value, &mut size) };
            if r != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                break;
            }
            // SAFETY: a NUL-terminated name and `size` bytes of value,
            // alive with the list.
            let name = unsafe { CStr::from_ptr(name) }.to_bytes();
            let value = (!value.is_null())
                .then(|| unsafe { std::slice::from_raw_parts(value as *const u8, size) });
            super::batch::put_header(buf, name, value);
        }
    }

    /// An error's text (librdkafka puts it in the payload).
    pub(crate) fn error_text(&self) -> String {
        // SAFETY: the message is live; librdkafka returns a C string.
        let s = unsafe { rd::rd_kafka_message_errstr(self.0) };
        if s.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated, alive with the message.
        unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
    }
}
