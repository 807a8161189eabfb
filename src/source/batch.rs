//! What the consumer thread hands a partition's worker: messages of one
//! partition in offset order, batched into one buffer.

use rdkafka::message::{BorrowedMessage, Message};

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

/// Where one message of a [`Batch`] lies in its buffer.
struct Rec {
    offset: i64,
    payload: Option<(usize, usize)>,
    key: Option<(usize, usize)>,
}

/// One message of a [`Batch`].
pub(crate) struct Msg<'a> {
    pub offset: i64,
    pub payload: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
}

impl Batch {
    /// An empty batch with room for `n` messages of up to 192 bytes (an
    /// event is 100 to 200; the buffer grows for longer ones). Room for
    /// 512 bytes each reserved 256 KiB a batch for the 75 or so a batch of
    /// typical events fills, and a partition has dozens queued.
    pub fn with_capacity(n: usize) -> Batch {
        Batch {
            buf: Vec::with_capacity(n * 192),
            recs: Vec::with_capacity(n),
        }
    }

    /// Appends a message (the next one of its partition).
    pub fn push(&mut self, m: &BorrowedMessage<'_>) {
        self.push_parts(m.offset(), m.payload(), m.key());
    }

    /// Appends a message given by its parts.
    pub fn push_parts(&mut self, offset: i64, payload: Option<&[u8]>, key: Option<&[u8]>) {
        let mut put = |b: Option<&[u8]>| {
            b.map(|b| {
                let start = self.buf.len();
                self.buf.extend_from_slice(b);
                (start, b.len())
            })
        };
        let payload = put(payload);
        let key = put(key);
        self.recs.push(Rec {
            offset,
            payload,
            key,
        });
    }

    pub fn len(&self) -> usize {
        self.recs.len()
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
}
