//! Reading the input: one line at a time within `limits.max_event_bytes`,
//! decoded on the applying thread or, pipelined, on a reading thread of
//! its own.

use std::io::{self, BufRead};

use super::apply::Apply;
use super::handoff::{Handoff, Side};
use super::ReplayError;
use crate::decode::DecodeError;
use crate::engine::{EventKeys, Gate, Verdict};
use crate::event::Event;

/// Lines handed from the reading thread to the applying one at a time.
const HANDOFF: usize = 2048;
/// Batches in flight between the two threads (the reader's lead).
const IN_FLIGHT: usize = 8;
/// A reader that found the queue full resumes once it holds this many
/// ([`Handoff`]).
const RESUME_AT: usize = 2;
/// How many lines ahead the applying thread completes a decoded line's
/// keys ([`EventKeys::complete`]): as far ahead as the engine's first hint
/// reads them ([`crate::engine::Engine::prefetch_ahead`]). The reading
/// thread, which also judges each line with the dedup memory, took longer
/// than the applying one with the keys hashed on it.
const KEYS_AHEAD: usize = crate::engine::HINTS_AHEAD;
/// How many lines ahead the applying thread asks for a decoded line's
/// bytes: before the engine's first hint reads its keys
/// ([`crate::engine::Engine::prefetch_ahead`], six ahead), since the
/// reading thread wrote them on another core.
const LINE_AHEAD: usize = 10;

/// Why reading and applying stopped early.
pub(super) enum Stop {
    /// Reading the input failed.
    Input(io::Error),
    /// Writing an output failed.
    Replay(ReplayError),
}

impl From<ReplayError> for Stop {
    fn from(e: ReplayError) -> Stop {
        Stop::Replay(e)
    }
}

impl Stop {
    pub(super) fn into_replay(self, in_err: &dyn Fn(io::Error) -> ReplayError) -> ReplayError {
        match self {
            Stop::Input(e) => in_err(e),
            Stop::Replay(e) => e,
        }
    }
}

/// Decodes a line as the engine's [`Engine::ingest`] would: a line longer
/// than `max` (its full length `full_len`) is refused unread.
/// The event comes with its keys' hashes: `keys` of it ([`EventKeys::of`],
/// or [`EventKeys::of_id`] for a reading thread).
fn decode_line(
    bytes: &[u8],
    full_len: usize,
    max: usize,
    keys: fn(&Event) -> EventKeys,
) -> Result<(Event, EventKeys), DecodeError> {
    if full_len > max {
        Err(DecodeError::TooLarge {
            size: full_len,
            max,
        })
    } else {
        crate::decode::decode(bytes, max).map(|ev| {
            let k = keys(&ev);
            (ev, k)
        })
    }
}

/// `--threads 1`: reads, decodes and applies each line in turn.
pub(super) fn single_threaded<R: BufRead>(
    mut reader: R,
    max: usize,
    a: &mut Apply,
) -> Result<(), Stop> {
    let mut line = Vec::with_capacity(4096);
    let mut lineno = 0u64;
    let mut pos = 0u64;
    loop {
        let (n, full_len) = read_line_capped(&mut reader, &mut line, max).map_err(Stop::Input)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        lineno += 1;
        let raw = as_read(&line, full_len);
        let bytes = trim(raw);
        if bytes.is_empty() && full_len <= max {
            a.lineno = lineno;
            continue;
        }
        let decoded = decode_line(bytes, full_len, max, EventKeys::of);
        a.line(lineno, pos, raw, &decoded, None)?;
    }
    a.lineno = lineno;
    Ok(())
}

/// Up to [`HANDOFF`] non-blank lines, read and decoded, in input order.
/// Buffers are handed back to the reader for reuse, so reading allocates
/// nothing per line.
#[derive(Default)]
struct Batch {
    /// The lines' bytes (at most `max + 1` each), back to back.
    text: Vec<u8>,
    lines: Vec<Decoded>,
    /// The line number of the last line read (blank lines included).
    last_lineno: u64,
    /// A read error after the lines above.
    error: Option<io::Error>,
}

/// One non-blank line of a [`Batch`].
struct Decoded {
    lineno: u64,
    /// Input offset past the line.
    pos: u64,
    /// Its bytes as read (without the line ending) in [`Batch::text`].
    start: usize,
    end: usize,
    /// The event with its keys' hashes: on the reading thread only the
    /// id's, which the gate reads, and the applying thread completes them
    /// a few lines ahead of its hints ([`KEYS_AHEAD`]); refused here if the
    /// gate's guards refused it.
    event: Result<(Event, EventKeys), DecodeError>,
    /// What the gate found, when the reading thread has it.
    verdict: Option<Verdict>,
}

/// The reading thread: reads, splits, decodes and, with the engine's gate,
/// judges batches of lines and sends them in order; stops at the end of
/// input, on a read error (sent last) or when the applying side hangs up,
/// and hands the gate back.
fn read_batches<R: BufRead>(
    mut reader: R,
    max: usize,
    queue: &Handoff<Batch>,
    mut gate: Option<Gate>,
) -> Option<Gate> {
    let mut lineno = 0u64;
    let mut pos = 0u64;
    loop {
        let mut b = queue.take_spare().unwrap_or_default();
        b.text.clear();
        b.lines.clear();
        let mut done = false;
        while b.lines.len() < HANDOFF {
            let start = b.text.len();
            match read_line_appended(&mut reader, &mut b.text, max) {
                Ok((0, _)) => {
                    done = true;
                    break;
                }
                Ok((n, full_len)) => {
                    pos += n as u64;
                    lineno += 1;
                    let raw = as_read(&b.text[start..], full_len);
                    let bytes = trim(raw);
                    if bytes.is_empty() && full_len <= max {
                        b.text.truncate(start);
                        continue;
                    }
                    let end = start + raw.len();
                    // Decoded where it is stored (`push_in_place`), not
                    // before: a decoded event moved in is one more copy.
                    push_in_place(&mut b.lines, || Decoded {
                        lineno,
                        pos,
                        start,
                        end,
                        event: decode_line(bytes, full_len, max, EventKeys::of_id),
                        verdict: None,
                    });
                }
                Err(e) => {
                    b.error = Some(e);
                    done = true;
                    break;
                }
            }
        }
        b.last_lineno = lineno;
        if let Some(g) = &mut gate {
            judge(g, &mut b.lines, super::wall_ms());
        }
        if !queue.send(b) || done {
            return gate;
        }
    }
}

/// Pushes what `make` builds onto `v`, written straight into its room:
/// `Vec::push` takes a value made before it, and a decoded line was copied
/// once more that way.
#[inline(always)]
fn push_in_place<T>(v: &mut Vec<T>, make: impl FnOnce() -> T) {
    v.reserve(1);
    v.spare_capacity_mut()[0].write(make());
    // SAFETY: the element at the old length has just been written, within
    // the capacity reserved for it.
    unsafe { v.set_len(v.len() + 1) };
}

/// Judges a batch's events in order with the gate at wall-clock time
/// `now` (read once a batch, as the applying side reads it once every
/// `BATCH` lines without a gate), hinting the dedup memory a few events
/// ahead.
fn judge(gate: &mut Gate, lines: &mut [Decoded], now: i64) {
    const AHEAD: usize = 6;
    for i in 0..lines.len() {
        if let Some(Ok((_, keys))) = lines.get(i + AHEAD).map(|d| &d.event) {
            gate.prefetch(keys);
        }
        let d = &mut lines[i];
        if let Ok((ev, keys)) = &d.event {
            match gate.judge(ev.ts, keys, now) {
                Ok(v) => d.verdict = Some(v),
                Err(e) => d.event = Err(e),
            }
        }
    }
}

/// Completes the keys the reading thread left at the id's hash.
#[inline]
fn complete_keys(d: &mut Decoded) {
    if let Ok((ev, keys)) = &mut d.event {
        keys.complete(ev);
    }
}

/// Two threads: one reads and decodes batches of lines while this one
/// applies the previous batch, line by line in input order, with the
/// engine's cache hints for the lines a few places ahead.
pub(super) fn pipelined<R: BufRead + Send>(
    reader: R,
    max: usize,
    a: &mut Apply,
) -> Result<(), Stop> {
    let queue = Handoff::new(IN_FLIGHT, RESUME_AT);
    let gate = a.split_gate();
    std::thread::scope(|scope| {
        let _hangs_up = queue.guard(Side::Applier);
        let reading = std::thread::Builder::new()
            .name("replay-read".into())
            .spawn_scoped(scope, || {
                let _closes = queue.guard(Side::Reader);
                read_batches(reader, max, &queue, gate)
            })
            .map_err(Stop::Input)?;
        while let Some(mut b) = queue.recv() {
            for d in b.lines.iter_mut().take(KEYS_AHEAD) {
                complete_keys(d);
            }
            // The events are applied where they lie, not moved out, and
            // dropped here, in this core's cache, before the batch goes back.
            for j in 0..b.lines.len() {
                if let Some(d) = b.lines.get_mut(j + KEYS_AHEAD) {
                    complete_keys(d);
                }
                let (d, rest) = (&b.lines[j], &b.lines[j + 1..]);
                if let Some(ahead) = rest.get(LINE_AHEAD - 1) {
                    crate::engine::prefetch_value(ahead);
                }
                a.prefetch_ahead(|k| rest.get(k - 1)?.event.as_ref().ok().map(|e| &e.1));
                a.line(
                    d.lineno,
                    d.pos,
                    &b.text[d.start..d.end],
                    &d.event,
                    d.verdict,
                )?;
            }
            b.lines.clear();
            a.lineno = b.last_lineno;
            if let Some(e) = b.error.take() {
                return Err(Stop::Input(e));
            }
            queue.give_back(b);
        }
        // The reader has sent its last batch: it has judged every line.
        let gate = reading.join().expect("the reading thread does not panic");
        if let Some(gate) = gate {
            a.join_gate(gate);
        }
        Ok(())
    })
}

/// A line as [`read_line_appended`] stored it (`stored`, at most `max + 1`
/// bytes) without the `\r` of a CRLF ending: its first `full_len` bytes.
fn as_read(stored: &[u8], full_len: usize) -> &[u8] {
    &stored[..stored.len().min(full_len)]
}

/// `b` without the whitespace JSON allows around a value (space, tab,
/// CR, LF): a line of nothing else is blank, and any other byte, a form
/// feed say, is the message's and makes it `invalid_json`.
fn trim(b: &[u8]) -> &[u8] {
    let json_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !json_space(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !json_space(c))
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Reads one line (without its newline) into `buf`, keeping at most
/// `max + 1` bytes of it. Returns (bytes consumed, full line length).
fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, usize)> {
    buf.clear();
    read_line_appended(r, buf, max)
}

/// [`read_line_capped`] appending to `buf` instead of replacing it.
fn read_line_appended<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(usize, usize)> {
    let base = buf.len();
    let mut consumed = 0;
    let mut len = 0;
    // The line's last byte: a `\r` before the newline ends the line (CRLF)
    // and is not counted against the size limit.
    let mut last = None;
    let without_cr = |len: usize, last: Option<u8>| len - usize::from(last == Some(b'\r'));
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((consumed, without_cr(len, last)));
        }
        let (part, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (&chunk[..i], i + 1),
            None => (chunk, chunk.len()),
        };
        let room = (max + 1).saturating_sub(buf.len() - base);
        buf.extend_from_slice(&part[..part.len().min(room)]);
        len += part.len();
        if let Some(&b) = part.last() {
            last = Some(b);
        }
        let found = done > part.len();
        r.consume(done);
        consumed += done;
        if found {
            return Ok((consumed, without_cr(len, last)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn capped_lines_report_their_full_length() {
        let data = b"short\nthis line is long\n\nlast";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (6, 5));
        assert_eq!(buf, b"short");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (18, 17));
        assert_eq!(buf, b"this line");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (1, 0));
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (4, 4));
        assert_eq!(buf, b"last");
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (0, 0));
    }

    #[test]
    fn a_crlf_line_ending_is_not_counted_against_the_limit() {
        // 8 bytes and CRLF, at a limit of 8: within it, as with LF alone.
        let data = b"12345678\r\n12345678\n123456789\r\n1234567\r";
        let mut r = BufReader::with_capacity(3, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (10, 8));
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (9, 8));
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (11, 9));
        // The last line, without a newline: its `\r` ends it all the same.
        assert_eq!(read_line_capped(&mut r, &mut buf, 8).unwrap(), (8, 7));
    }

    #[test]
    fn appended_lines_are_capped_on_their_own_length() {
        let data = b"abc\nthis line is long\n";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = b"earlier".to_vec();
        assert_eq!(read_line_appended(&mut r, &mut buf, 8).unwrap(), (4, 3));
        assert_eq!(buf, b"earlierabc");
        assert_eq!(read_line_appended(&mut r, &mut buf, 8).unwrap(), (18, 17));
        assert_eq!(buf, b"earlierabcthis line");
    }
}
