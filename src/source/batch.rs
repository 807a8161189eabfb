//! What the consumer thread hands a partition's worker: messages of one
//! partition in offset order, batched into one buffer.

use std::sync::Mutex;

use rdkafka::message::{BorrowedMessage, Headers, Message};

use crate::locks::lock;

/// What the consumer thread hands a worker, in partition order.
pub(crate) enum Item {
    /// Consecutive messages of the partition.
    Batch(Batch),
    /// The end of the partition: every message before it has been handed over.
    Eof,
}

/// Messages of one partition in offset order, their payloads and keys
/// copied into one buffer: a few allocations per batch rather than several
/// per message (an owned message copies its topic, payload and key apart).
#[derive(Default)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    recs: Vec<Rec>,
}

/// Payload bytes a new batch has room for, a message (an event is 100 to
/// 200; the buffer grows for longer ones).
const BYTES_EACH: usize = 192;

/// Where one message of a [`Batch`] lies in its buffer.
struct Rec {
    offset: i64,
    payload: Option<(usize, usize)>,
    key: Option<(usize, usize)>,
    /// Its headers, as [`put_header`] writes them; none for a message
    /// without.
    headers: Option<(usize, usize)>,
}

/// One message of a [`Batch`].
pub(crate) struct Msg<'a> {
    pub offset: i64,
    pub payload: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
    /// Its headers, as [`put_header`] wrote them ([`Msg::headers`] reads
    /// them).
    headers: &'a [u8],
}

impl<'a> Msg<'a> {
    /// The bytes its headers take in the batch, about what they take in a
    /// message.
    pub fn header_bytes(&self) -> usize {
        self.headers.len()
    }

    /// The message's headers in their order: name and value (none for a
    /// header without one).
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
        fn take<'a>(rest: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (a, b) = rest.split_at(n.min(rest.len()));
            *rest = b;
            a
        }
        let mut rest = self.headers;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let name_len = u32::from_le_bytes(take(&mut rest, 4).try_into().ok()?) as usize;
            let name = take(&mut rest, name_len);
            let value_len = i32::from_le_bytes(take(&mut rest, 4).try_into().ok()?);
            let value = usize::try_from(value_len).ok().map(|n| take(&mut rest, n));
            Some((name, value))
        })
    }
}

/// Appends one header of a message to `buf`: the name's length (u32, little
/// endian) and the name, then the value's length (i32, -1 for none) and the
/// value.
pub(crate) fn put_header(buf: &mut Vec<u8>, name: &[u8], value: Option<&[u8]>) {
    // A header is at most a message's size, which is far below 2 GiB.
    buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
    buf.extend_from_slice(name);
    match value {
        Some(v) => {
            buf.extend_from_slice(&(v.len() as i32).to_le_bytes());
            buf.extend_from_slice(v);
        }
        None => buf.extend_from_slice(&(-1i32).to_le_bytes()),
    }
}

impl Batch {
    /// An empty batch with room for `n` messages of up to [`BYTES_EACH`]
    /// bytes. Room for 512 bytes each reserved 256 KiB a batch for the 75
    /// or so a batch of typical events fills, and a partition has dozens
    /// queued.
    pub fn with_capacity(n: usize) -> Batch {
        Batch {
            buf: Vec::with_capacity(n * BYTES_EACH),
            recs: Vec::with_capacity(n),
        }
    }

    /// Appends a message (the next one of its partition).
    pub fn push(&mut self, m: &BorrowedMessage<'_>) {
        self.push_with(m.offset(), m.payload(), m.key(), |buf| {
            for h in m.headers().into_iter().flat_map(Headers::iter) {
                put_header(buf, h.key.as_bytes(), h.value);
            }
        });
    }

    /// Appends a message without headers given by its parts.
    #[cfg(test)]
    pub fn push_parts(&mut self, offset: i64, payload: Option<&[u8]>, key: Option<&[u8]>) {
        self.push_with(offset, payload, key, |_| {});
    }

    /// Appends a message given by its parts, `headers` appending its
    /// headers with [`put_header`].
    pub fn push_with(
        &mut self,
        offset: i64,
        payload: Option<&[u8]>,
        key: Option<&[u8]>,
        headers: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut put = |b: Option<&[u8]>| {
            b.map(|b| {
                let start = self.buf.len();
                self.buf.extend_from_slice(b);
                (start, b.len())
            })
        };
        let payload = put(payload);
        let key = put(key);
        let start = self.buf.len();
        headers(&mut self.buf);
        let headers = (self.buf.len() > start).then(|| (start, self.buf.len() - start));
        self.recs.push(Rec {
            offset,
            payload,
            key,
            headers,
        });
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// Messages it has room for before it grows (0: nothing allocated).
    pub fn capacity(&self) -> usize {
        self.recs.capacity()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Whether the batch is to be handed over: `max` messages, or
    /// `max_bytes` of payloads and keys.
    pub fn is_full(&self, max: usize, max_bytes: usize) -> bool {
        self.recs.len() >= max || self.buf.len() >= max_bytes
    }

    /// The `i`th message.
    pub(crate) fn get(&self, i: usize) -> Msg<'_> {
        let r = &self.recs[i];
        let slice = |x: Option<(usize, usize)>| x.map(|(start, len)| &self.buf[start..start + len]);
        Msg {
            offset: r.offset,
            payload: slice(r.payload),
            key: slice(r.key),
            headers: slice(r.headers).unwrap_or(&[]),
        }
    }
}

/// Emptied batches kept for the consumer thread to fill again.
///
/// A batch is allocated on the consumer thread and freed on a worker's.
/// The allocator reuses a block freed on another thread only once most of
/// its page has been freed, so while a backlog is read each new batch took
/// memory never touched before: the page faults cost the consumer thread
/// CPU, and the pages stayed resident for the allocator's purge delay.
/// Handed back and reused, the batches of a catch-up are the few dozen a
/// partition's queue holds (docs/performance.md, "Batches handed back").
pub(crate) struct BatchPool {
    free: Mutex<Vec<Batch>>,
    /// Batches kept at most; more are freed.
    keep: usize,
    /// Messages a new batch has room for.
    per_batch: usize,
}

impl BatchPool {
    pub fn new(keep: usize, per_batch: usize) -> BatchPool {
        BatchPool {
            free: Mutex::new(Vec::with_capacity(keep)),
            keep,
            per_batch,
        }
    }

    /// An empty batch: one handed back, or a new one.
    pub fn take(&self) -> Batch {
        lock(&self.free)
            .pop()
            .unwrap_or_else(|| Batch::with_capacity(self.per_batch))
    }

    /// Hands an applied batch back, emptied. One whose buffer grew past
    /// twice a new batch's (long messages) is freed rather than kept, so
    /// that a burst of large events does not stay resident.
    pub fn put(&self, mut b: Batch) {
        if b.buf.capacity() > 2 * self.per_batch * BYTES_EACH || b.recs.capacity() > self.per_batch
        {
            return;
        }
        b.buf.clear();
        b.recs.clear();
        let mut free = lock(&self.free);
        if free.len() < self.keep {
            free.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_full_at_its_count_or_its_bytes() {
        let mut b = Batch::with_capacity(4);
        for i in 0..3 {
            b.push_parts(i, Some(b"{}"), None);
            assert!(!b.is_full(4, 1000));
        }
        b.push_parts(3, Some(b"{}"), None);
        assert!(b.is_full(4, 1000), "four messages");
        // Large messages fill it by their bytes first.
        let big = vec![b' '; 400];
        let mut b = Batch::with_capacity(4);
        b.push_parts(0, Some(&big), Some(b"k"));
        b.push_parts(1, Some(&big), Some(b"k"));
        assert!(!b.is_full(4, 1000), "802 bytes");
        b.push_parts(2, Some(&big), Some(b"k"));
        assert!(b.is_full(4, 1000), "1203 bytes");
    }

    #[test]
    fn a_batch_gives_back_each_message_s_headers() {
        let mut b = Batch::with_capacity(2);
        b.push_with(1, Some(b"{}"), None, |buf| {
            put_header(buf, b"traceparent", Some(b"00-ab-cd-01"));
            put_header(buf, b"none", None);
            put_header(buf, b"", Some(b""));
        });
        b.push_parts(2, Some(b"{}"), None);
        let h: Vec<_> = b.get(0).headers().collect();
        assert_eq!(
            h,
            [
                (&b"traceparent"[..], Some(&b"00-ab-cd-01"[..])),
                (&b"none"[..], None),
                (&b""[..], Some(&b""[..]))
            ]
        );
        assert_eq!(b.get(0).payload, Some(&b"{}"[..]));
        assert_eq!(b.get(1).headers().count(), 0);
    }

    #[test]
    fn a_batch_gives_back_each_message_as_pushed() {
        let mut b = Batch::with_capacity(2);
        assert!(b.is_empty());
        b.push_parts(7, Some(b"{\"a\":1}"), Some(b"cust-1"));
        b.push_parts(8, None, None);
        b.push_parts(9, Some(b""), Some(b"k"));
        assert_eq!(b.len(), 3);
        let m = b.get(0);
        assert_eq!(
            (m.offset, m.payload, m.key),
            (7, Some(&b"{\"a\":1}"[..]), Some(&b"cust-1"[..]))
        );
        let m = b.get(1);
        assert_eq!((m.offset, m.payload, m.key), (8, None, None));
        let m = b.get(2);
        assert_eq!(
            (m.offset, m.payload, m.key),
            (9, Some(&b""[..]), Some(&b"k"[..]))
        );
    }

    #[test]
    fn a_batch_handed_back_is_taken_again_empty_with_its_memory() {
        let pool = BatchPool::new(2, 4);
        let mut b = pool.take();
        assert_eq!(b.capacity(), 4);
        b.push_parts(7, Some(b"{}"), Some(b"k"));
        let (buf, recs) = (b.buf.as_ptr(), b.recs.as_ptr());
        pool.put(b);
        let b = pool.take();
        assert!(b.is_empty() && b.buf.is_empty());
        assert_eq!(
            (b.buf.as_ptr(), b.recs.as_ptr()),
            (buf, recs),
            "the same buffers"
        );
        // None kept: a new one.
        assert_eq!(pool.take().capacity(), 4);
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound_and_frees_grown_batches() {
        let pool = BatchPool::new(2, 4);
        for _ in 0..3 {
            pool.put(Batch::with_capacity(4));
        }
        assert_eq!(lock(&pool.free).len(), 2);
        // A buffer grown past twice a new batch's is not kept.
        let pool = BatchPool::new(2, 4);
        let mut big = Batch::with_capacity(4);
        big.push_parts(0, Some(&[b' '; 2 * 4 * BYTES_EACH + 1]), None);
        pool.put(big);
        assert!(lock(&pool.free).is_empty());
        // Nor one with room for more messages than a new batch.
        let mut long = Batch::with_capacity(4);
        for i in 0..5 {
            long.push_parts(i, Some(b"{}"), None);
        }
        pool.put(long);
        assert!(lock(&pool.free).is_empty());
    }
}
