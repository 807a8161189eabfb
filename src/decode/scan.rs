//! The JSON reader of [`decode`](super::decode): one pass over the bytes,
//! straight into [`Raw`].
//!
//! It accepts exactly what the decoder before it accepted, which was
//! `serde_json::from_slice` into a record of [`Raw`]'s fields with a derived
//! `Deserialize` (still in the tests as `serde_path`, and checked against
//! this one there), and gives the same values:
//!
//! - The message is one object, with any whitespace around it. As a derived
//!   struct also reads a sequence, an array of exactly 22 values, the fields
//!   of [`Raw`] in their declared order, is read too.
//! - A known key given twice (even if once as `null`) is an error; unknown
//!   keys may repeat.
//! - Keys and the strings of known fields are checked in full: UTF-8, and
//!   `\u` escapes with paired surrogates. Strings inside unknown fields, and
//!   inside the arrays and objects of known fields (except the keys of such
//!   an object), are only checked for their quotes, escapes and control
//!   characters, as serde_json skips them: they may hold any bytes.
//! - Numbers follow the JSON grammar everywhere, but only those of known
//!   fields are converted, the way serde_json does without its
//!   `float_roundtrip` feature (the crate does not enable it): an integer
//!   that fits `u64` is exact (`Val::Big` above `i64::MAX`), a longer one is
//!   a float, `-0` is the float `-0.0`, and floats are built from the first
//!   19 or so significant digits and a power of ten ([`POW10`]); a float
//!   that overflows is an error, one that underflows is zero.
//! - Nesting is unbounded and takes no recursion (the old reader had no
//!   limit either, as only two levels reached its recursive code).

use std::borrow::Cow;
use std::fmt;

use super::{Raw, Val};

/// Why the bytes are not a JSON object of the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ScanError {
    what: &'static str,
    at: usize,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

type Res<T> = Result<T, ScanError>;

/// The number of fields of [`Raw`].
pub(super) const FIELDS: usize = 22;

/// Reads one message into `raw`, which must be empty (as
/// `Raw::default()`). Filling it in place rather than returning it saves
/// copies of its 22 fields. Returns whether `raw` may now own a string (one
/// with an escape); if not, nothing in it needs dropping.
pub(super) fn scan<'a>(bytes: &'a [u8], raw: &mut Raw<'a>) -> Res<bool> {
    // The whole message must be UTF-8 (SPEC §1), unknown fields included;
    // known strings are checked again as they are read unless the message
    // is ASCII, which nearly every one is.
    let ascii = is_ascii(bytes);
    if !ascii {
        if let Err(e) = std::str::from_utf8(bytes) {
            return Err(ScanError {
                what: "invalid UTF-8",
                at: e.valid_up_to(),
            });
        }
    }
    let mut s = Scanner {
        b: bytes,
        i: 0,
        ascii,
        owned: false,
    };
    match s.skip_ws() {
        b'{' => {
            s.i += 1;
            s.object(raw)?;
        }
        // An event is an object; serde's derived records would also read a
        // 22-element array in field order, which no producer means.
        _ => return Err(s.err("expected a JSON object")),
    }
    s.skip_ws();
    if s.i != bytes.len() {
        return Err(s.err("trailing characters"));
    }
    Ok(s.owned)
}

/// The names of [`Raw`]'s fields, in order (the order of the values in the
/// 22-element array form).
pub(super) const NAMES: [&str; FIELDS] = [
    "event_id",
    "type",
    "ts",
    "schema_version",
    "ticket_id",
    "call_id",
    "agent_id",
    "customer_id",
    "channel",
    "priority",
    "queue",
    "category",
    "public",
    "status",
    "level",
    "reason",
    "seconds",
    "resolved",
    "escalation",
    "score",
    "comment",
    "mrr",
];

/// A multiplier that hashes the first eight bytes of each name in [`NAMES`]
/// to a different one of 32 slots (found by trying random odd numbers).
const KEY_HASH: u64 = 0x29fc_cda9_5541_a54f;

/// The little-endian words of up to 16 bytes, zero past `len`.
const fn key_words(b: &[u8], len: usize) -> (u64, u64) {
    let (mut lo, mut hi) = (0u64, 0u64);
    let mut i = 0;
    while i < len && i < 16 {
        if i < 8 {
            lo |= (b[i] as u64) << (8 * i);
        } else {
            hi |= (b[i] as u64) << (8 * (i - 8));
        }
        i += 1;
    }
    (lo, hi)
}

/// A known key in its hash slot: its words, length and field index.
#[derive(Clone, Copy)]
struct KnownKey {
    lo: u64,
    hi: u64,
    len: usize,
    field: u8,
}

/// The known keys by hash slot; an empty slot has a length no key has.
static KEYS_BY_HASH: [KnownKey; 32] = {
    let empty = KnownKey {
        lo: 0,
        hi: 0,
        len: usize::MAX,
        field: 0,
    };
    let mut table = [empty; 32];
    let mut f = 0;
    while f < FIELDS {
        let name = NAMES[f].as_bytes();
        assert!(name.len() <= 16);
        let (lo, hi) = key_words(name, name.len());
        let slot = (lo.wrapping_mul(KEY_HASH) >> 59) as usize;
        assert!(table[slot].len == usize::MAX, "KEY_HASH is not perfect");
        table[slot] = KnownKey {
            lo,
            hi,
            len: name.len(),
            field: f as u8,
        };
        f += 1;
    }
    table
};

/// The masks of the two words of a key of each length to 16 (a longer
/// key is no field's, which its length shows).
static KEY_MASKS: [(u64, u64); 17] = {
    let mut masks = [(0, 0); 17];
    let mut len = 1;
    while len <= 16 {
        let (lo, hi) = key_words(&[0xff; 16], len);
        masks[len] = (lo, hi);
        len += 1;
    }
    masks
};

/// The index in [`NAMES`] of a key of `len` bytes at the start of `words`
/// (16 bytes, so that the key is read as two words; what follows the key
/// does not matter): one hash and one comparison.
#[inline]
fn known_key(words: &[u8], len: usize) -> Option<u8> {
    let word = |i: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&words[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let (mask_lo, mask_hi) = KEY_MASKS[len.min(16)];
    let lo = word(0) & mask_lo;
    let hi = word(8) & mask_hi;
    let k = &KEYS_BY_HASH[(lo.wrapping_mul(KEY_HASH) >> 59) as usize];
    ((k.len ^ len) as u64 | (k.lo ^ lo) | (k.hi ^ hi) == 0).then_some(k.field)
}

/// The index in [`NAMES`] of a key anywhere.
fn field_index(key: &[u8]) -> Option<u8> {
    let mut words = [0; 16];
    let n = key.len().min(16);
    words[..n].copy_from_slice(&key[..n]);
    known_key(&words, key.len())
}

/// The field of `raw` at `index` in [`NAMES`].
#[inline]
fn slot<'r, 'a>(raw: &'r mut Raw<'a>, index: u8) -> &'r mut Option<Val<'a>> {
    &mut raw.0[usize::from(index)]
}

/// Whether a field of `raw` holds a string of its own (one that had an
/// escape).
pub(super) fn owns_a_string(raw: &mut Raw<'_>) -> bool {
    (0..FIELDS as u8).any(|f| matches!(slot(raw, f), Some(Val::Str(Cow::Owned(_)))))
}

/// Bytes that may stand for themselves inside a string: not `"`, not `\`,
/// not a control character.
static PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = false;
        c += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// Value of a hex digit, or -1.
static HEX: [i8; 256] = {
    let mut t = [-1i8; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'0'..=b'9' => (c as u8 - b'0') as i8,
            b'a'..=b'f' => (c as u8 - b'a' + 10) as i8,
            b'A'..=b'F' => (c as u8 - b'A' + 10) as i8,
            _ => -1,
        };
        c += 1;
    }
    t
};

/// Which containers are open while a value is skipped: one bit each
/// (1 = object), the first 128 without allocating.
struct Nesting {
    len: usize,
    bits: u128,
    deeper: Vec<bool>,
}

impl Nesting {
    fn new() -> Self {
        Nesting {
            len: 0,
            bits: 0,
            deeper: Vec::new(),
        }
    }

    fn push(&mut self, object: bool) {
        if self.len < 128 {
            let bit = 1u128 << self.len;
            if object {
                self.bits |= bit;
            } else {
                self.bits &= !bit;
            }
        } else {
            self.deeper.push(object);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len -= 1;
        if self.len >= 128 {
            self.deeper.pop();
        }
    }

    /// Whether the innermost open container is an object; `None` at the top.
    fn top(&self) -> Option<bool> {
        let i = self.len.checked_sub(1)?;
        Some(if i < 128 {
            self.bits >> i & 1 == 1
        } else {
            self.deeper[i - 128]
        })
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    /// The next byte to read.
    i: usize,
    /// Whether every byte of `b` is ASCII, so that no string needs a
    /// check of its own.
    ascii: bool,
    /// Whether a string with an escape has been read (and so allocated).
    owned: bool,
}

impl<'a> Scanner<'a> {
    #[cold]
    fn err(&self, what: &'static str) -> ScanError {
        ScanError { what, at: self.i }
    }

    /// The next byte, or 0 at the end (0 is never valid where this is used,
    /// so the end needs no case of its own).
    #[inline(always)]
    fn peek(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }

    /// Skips whitespace; returns the next byte (0 at the end).
    #[inline(always)]
    fn skip_ws(&mut self) -> u8 {
        loop {
            let c = self.peek();
            if c > b' ' || !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                return c;
            }
            self.i += 1;
        }
    }

    /// Consumes `c` after optional whitespace.
    #[inline(always)]
    fn expect(&mut self, c: u8, what: &'static str) -> Res<()> {
        if self.skip_ws() == c {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// Consumes `word` (`null`, `true`, `false`).
    #[inline]
    fn literal(&mut self, word: &[u8]) -> Res<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    /// The end of the run of [`PLAIN`] bytes from `i`.
    #[inline(always)]
    fn plain_run(&self, i: usize) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.b.len() >= 16 {
            return self.plain_run_sse2(i);
        }
        self.plain_run_words(i)
    }

    /// [`Self::plain_run`] sixteen bytes at a time, for a message of at
    /// least sixteen: most strings of an event (ids, types, queues) end
    /// within one such step, where eight bytes at a time took two or three.
    /// Near the end the last sixteen bytes are read, and the bytes before
    /// `i` in them ignored.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn plain_run_sse2(&self, mut i: usize) -> usize {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        let special = |chunk: &[u8; 16]| -> u32 {
            // SAFETY: SSE2 is part of x86_64, and the load reads the 16
            // bytes of `chunk`.
            unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                // x <= 0x1f, unsigned: x is its own minimum with 0x1f.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
            }
        };
        let len = self.b.len();
        while let Some(chunk) = self.b.get(i..i + 16) {
            let mask = special(chunk.try_into().expect("sixteen bytes"));
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
        if i >= len {
            return len;
        }
        let last = len - 16;
        let mask = special(self.b[last..].try_into().expect("sixteen bytes")) >> (i - last);
        if mask != 0 {
            i + mask.trailing_zeros() as usize
        } else {
            len
        }
    }

    /// [`Self::plain_run`] eight bytes at a time.
    #[inline(always)]
    fn plain_run_words(&self, mut i: usize) -> usize {
        // Eight bytes at a time: the lowest flagged byte of `special` is the
        // first that is not plain (a flag can be wrong only above a right one).
        while let Some(chunk) = self.b.get(i..i + 8) {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_le_bytes(word);
            let special = special_bytes(x);
            if special != 0 {
                return i + (special.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = self.b.get(i) {
            if !PLAIN[c as usize] {
                break;
            }
            i += 1;
        }
        i
    }

    /// The members of the top-level object, after its `{`.
    fn object(&mut self, raw: &mut Raw<'a>) -> Res<()> {
        let mut seen = 0u32;
        let mut c = self.skip_ws();
        if c == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            if c != b'"' {
                return Err(self.err("expected a key"));
            }
            self.i += 1;
            let field = self.key()?;
            self.expect(b':', "expected `:`")?;
            match field {
                Some(f) => {
                    let bit = 1u32 << f;
                    if seen & bit != 0 {
                        return Err(self.err("duplicate field"));
                    }
                    seen |= bit;
                    self.value(slot(raw, f))?;
                }
                None => self.skip_value()?,
            }
            match self.skip_ws() {
                b',' => {
                    self.i += 1;
                    c = self.skip_ws();
                }
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    /// A key of the top-level object, after its `"`: the field it names, if
    /// known. Checked like a string value.
    #[inline]
    fn key(&mut self) -> Res<Option<u8>> {
        let start = self.i;
        let end = self.plain_run(start);
        match self.b.get(end) {
            Some(b'"') => {
                self.i = end + 1;
                let key = &self.b[start..end];
                // Read the key in place if the input is long enough.
                let field = match self.b.get(start..start + 16) {
                    Some(words) => known_key(words, key.len()),
                    None => field_index(key),
                };
                match field {
                    Some(f) => Ok(Some(f)),
                    None if key.is_ascii() => Ok(None),
                    None => match std::str::from_utf8(key) {
                        Ok(_) => Ok(None),
                        Err(e) => Err(ScanError {
                            what: "invalid UTF-8 in a key",
                            at: start + e.valid_up_to(),
                        }),
                    },
                }
            }
            Some(b'\\') => {
                self.i = end;
                let key = self.escaped_string(start)?;
                Ok(field_index(key.as_bytes()))
            }
            _ => {
                self.i = end;
                Err(self.err("unterminated string or control character"))
            }
        }
    }

    /// The value of a known field, into its (empty) slot: `null` leaves it
    /// empty. (Writing in place, rather than returning the value, saves a
    /// copy through memory on the hottest path.)
    #[inline]
    fn value(&mut self, slot: &mut Option<Val<'a>>) -> Res<()> {
        *slot = Some(match self.skip_ws() {
            b'"' => {
                self.i += 1;
                Val::Str(self.string()?)
            }
            b'-' | b'0'..=b'9' => self.number()?,
            b'n' => return self.literal(b"null"),
            b't' => {
                self.literal(b"true")?;
                Val::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Val::Bool(false)
            }
            b'[' => {
                self.i += 1;
                self.array_of_skipped()?;
                Val::Composite
            }
            b'{' => {
                self.i += 1;
                self.object_of_skipped()?;
                Val::Composite
            }
            _ => return Err(self.err("expected a value")),
        });
        Ok(())
    }

    /// A string value, after its `"`: borrowed unless it has escapes.
    /// Always inlined: left a call (four or five per event), saving and
    /// restoring registers was a sixth of its instructions.
    #[inline(always)]
    fn string(&mut self) -> Res<Cow<'a, str>> {
        let start = self.i;
        let end = self.plain_run(start);
        match self.b.get(end) {
            Some(b'"') => {
                self.i = end + 1;
                let b: &'a [u8] = self.b;
                let bytes = &b[start..end];
                if self.ascii {
                    // SAFETY: the message is ASCII, and ASCII is UTF-8.
                    // (`from_utf8` is a call, and was a tenth of the
                    // decoding time.)
                    return Ok(Cow::Borrowed(unsafe {
                        std::str::from_utf8_unchecked(bytes)
                    }));
                }
                match std::str::from_utf8(bytes) {
                    Ok(s) => Ok(Cow::Borrowed(s)),
                    Err(e) => Err(ScanError {
                        what: "invalid UTF-8 in a string",
                        at: start + e.valid_up_to(),
                    }),
                }
            }
            Some(b'\\') => {
                self.i = end;
                self.owned = true;
                self.escaped_string(start).map(Cow::Owned)
            }
            _ => {
                self.i = end;
                Err(self.err("unterminated string or control character"))
            }
        }
    }

    /// The rest of a string that has an escape at `self.i`; its content
    /// starts at `start`.
    #[cold]
    fn escaped_string(&mut self, start: usize) -> Res<String> {
        let mut out = Vec::with_capacity(self.i - start + 16);
        out.extend_from_slice(&self.b[start..self.i]);
        loop {
            // At a backslash.
            self.i += 1;
            let c = self.peek();
            self.i += 1;
            match c {
                b'"' | b'\\' | b'/' => out.push(c),
                b'b' => out.push(b'\x08'),
                b'f' => out.push(b'\x0c'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'u' => {
                    let ch = self.unicode_escape()?;
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => {
                    self.i -= 1;
                    return Err(self.err("invalid escape"));
                }
            }
            let run = self.i;
            let end = self.plain_run(run);
            out.extend_from_slice(&self.b[run..end]);
            self.i = end;
            match self.b.get(end) {
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|e| ScanError {
                        what: "invalid UTF-8 in a string",
                        at: start + e.utf8_error().valid_up_to(),
                    });
                }
                Some(b'\\') => {}
                _ => return Err(self.err("unterminated string or control character")),
            }
        }
    }

    /// Four hex digits.
    #[inline]
    fn hex4(&mut self) -> Res<u32> {
        match self.b.get(self.i..self.i + 4) {
            Some(&[a, b, c, d]) => {
                let v = (HEX[a as usize] as i32) << 12
                    | (HEX[b as usize] as i32) << 8
                    | (HEX[c as usize] as i32) << 4
                    | HEX[d as usize] as i32;
                // A -1 digit makes the whole value negative.
                if v < 0 {
                    return Err(self.err("invalid \\u escape"));
                }
                self.i += 4;
                Ok(v as u32)
            }
            _ => Err(self.err("unterminated \\u escape")),
        }
    }

    /// A `\u` escape after the `u`, with the low half of a surrogate pair.
    fn unicode_escape(&mut self) -> Res<char> {
        let n = self.hex4()?;
        let cp = match n {
            0xDC00..=0xDFFF => return Err(self.err("lone low surrogate")),
            0xD800..=0xDBFF => {
                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                    return Err(self.err("high surrogate without a low one"));
                }
                self.i += 2;
                let n2 = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&n2) {
                    return Err(self.err("high surrogate without a low one"));
                }
                0x1_0000 + ((n - 0xD800) << 10 | (n2 - 0xDC00))
            }
            n => n,
        };
        char::from_u32(cp).ok_or_else(|| self.err("invalid code point"))
    }

    /// A number of a known field, as serde_json converts it.
    fn number(&mut self) -> Res<Val<'a>> {
        let positive = if self.peek() == b'-' {
            self.i += 1;
            false
        } else {
            true
        };
        let significand = match self.peek() {
            b'0' => {
                self.i += 1;
                if self.peek().is_ascii_digit() {
                    return Err(self.err("leading zero"));
                }
                0
            }
            c @ b'1'..=b'9' => {
                self.i += 1;
                let mut sig = u64::from(c - b'0');
                // Up to eight digits a step while any 19 fit a u64 (an epoch
                // time in milliseconds has 13), then one at a time.
                let mut digits = 1;
                while digits <= 11 {
                    let Some(word) = self.b.get(self.i..self.i + 8) else {
                        break;
                    };
                    let (n, value) =
                        leading_digits(u64::from_le_bytes(word.try_into().expect("eight bytes")));
                    sig = sig * POW10_U64[n] + value;
                    self.i += n;
                    digits += n;
                    if n < 8 {
                        break;
                    }
                }
                loop {
                    let c = self.peek();
                    if !c.is_ascii_digit() {
                        break;
                    }
                    let digit = u64::from(c - b'0');
                    if overflows_u64(sig, digit) {
                        return self.long_integer(positive, sig).map(Val::Float);
                    }
                    self.i += 1;
                    sig = sig * 10 + digit;
                }
                sig
            }
            _ => return Err(self.err("invalid number")),
        };
        Ok(match self.peek() {
            b'.' => Val::Float(self.fraction(positive, significand, 0)?),
            b'e' | b'E' => Val::Float(self.exponent(positive, significand, 0)?),
            _ if positive => i64::try_from(significand).map_or(Val::Big, Val::Int),
            _ => {
                let neg = (significand as i64).wrapping_neg();
                // `-0` and integers below i64::MIN are floats.
                if neg >= 0 {
                    Val::Float(-(significand as f64))
                } else {
                    Val::Int(neg)
                }
            }
        })
    }

    /// More integer digits than fit a `u64`: they only scale it.
    #[cold]
    fn long_integer(&mut self, positive: bool, significand: u64) -> Res<f64> {
        let mut exponent = 0i32;
        loop {
            match self.peek() {
                b'0'..=b'9' => {
                    self.i += 1;
                    exponent += 1;
                }
                b'.' => return self.fraction(positive, significand, exponent),
                b'e' | b'E' => return self.exponent(positive, significand, exponent),
                _ => return self.float(positive, significand, exponent),
            }
        }
    }

    /// The fraction, at its `.`.
    fn fraction(&mut self, positive: bool, mut significand: u64, exponent: i32) -> Res<f64> {
        self.i += 1;
        let mut digits = 0i32;
        loop {
            let c = self.peek();
            if !c.is_ascii_digit() {
                break;
            }
            let digit = u64::from(c - b'0');
            if overflows_u64(significand, digit) {
                // Further digits are dropped.
                while self.peek().is_ascii_digit() {
                    self.i += 1;
                }
                return self.after_fraction(positive, significand, exponent - digits);
            }
            self.i += 1;
            significand = significand * 10 + digit;
            digits += 1;
        }
        if digits == 0 {
            return Err(self.err("no digit after `.`"));
        }
        self.after_fraction(positive, significand, exponent - digits)
    }

    #[inline]
    fn after_fraction(&mut self, positive: bool, significand: u64, exponent: i32) -> Res<f64> {
        match self.peek() {
            b'e' | b'E' => self.exponent(positive, significand, exponent),
            _ => self.float(positive, significand, exponent),
        }
    }

    /// The exponent, at its `e`.
    fn exponent(&mut self, positive: bool, significand: u64, start: i32) -> Res<f64> {
        self.i += 1;
        let positive_exp = match self.peek() {
            b'+' => {
                self.i += 1;
                true
            }
            b'-' => {
                self.i += 1;
                false
            }
            _ => true,
        };
        let c = self.peek();
        if !c.is_ascii_digit() {
            return Err(self.err("no digit in exponent"));
        }
        self.i += 1;
        let mut exp = i32::from(c - b'0');
        loop {
            let c = self.peek();
            if !c.is_ascii_digit() {
                break;
            }
            self.i += 1;
            let digit = i32::from(c - b'0');
            if exp >= i32::MAX / 10 && (exp > i32::MAX / 10 || digit > i32::MAX % 10) {
                // An exponent beyond i32: infinite or zero.
                while self.peek().is_ascii_digit() {
                    self.i += 1;
                }
                let f = if significand != 0 && positive_exp {
                    f64::INFINITY
                } else {
                    0.0
                };
                return Ok(if positive { f } else { -f });
            }
            exp = exp * 10 + digit;
        }
        let exponent = if positive_exp {
            start.saturating_add(exp)
        } else {
            start.saturating_sub(exp)
        };
        self.float(positive, significand, exponent)
    }

    /// `significand × 10^exponent`, as serde_json computes it without
    /// `float_roundtrip`; but where serde_json fails on a number past the
    /// range of `f64` ("number out of range"), it is infinite here, so that
    /// a known field's check gives its own reason (`out_of_range`,
    /// `invalid_timestamp`, `unknown_schema_version`; docs/events.md).
    fn float(&self, positive: bool, significand: u64, mut exponent: i32) -> Res<f64> {
        let mut f = significand as f64;
        loop {
            match POW10.get(exponent.wrapping_abs() as usize) {
                Some(&pow) => {
                    if exponent >= 0 {
                        f *= pow;
                    } else {
                        f /= pow;
                    }
                    break;
                }
                None => {
                    if f == 0.0 {
                        break;
                    }
                    if exponent >= 0 {
                        f = f64::INFINITY;
                        break;
                    }
                    f /= 1e308;
                    exponent += 308;
                }
            }
        }
        Ok(if positive { f } else { -f })
    }

    /// The elements of an array of a known field, after its `[`.
    fn array_of_skipped(&mut self) -> Res<()> {
        let mut first = true;
        loop {
            let c = self.skip_ws();
            if c == b']' {
                self.i += 1;
                return Ok(());
            }
            if !first {
                if c != b',' {
                    return Err(self.err("expected `,` or `]`"));
                }
                self.i += 1;
                if self.skip_ws() == b']' {
                    return Err(self.err("trailing comma"));
                }
            }
            first = false;
            self.skip_value()?;
        }
    }

    /// The members of an object of a known field, after its `{`: its keys
    /// are checked as strings, its values skipped.
    fn object_of_skipped(&mut self) -> Res<()> {
        let mut first = true;
        loop {
            let mut c = self.skip_ws();
            if c == b'}' {
                self.i += 1;
                return Ok(());
            }
            if !first {
                if c != b',' {
                    return Err(self.err("expected `,` or `}`"));
                }
                self.i += 1;
                c = self.skip_ws();
            }
            first = false;
            if c != b'"' {
                return Err(self.err("expected a key"));
            }
            self.i += 1;
            self.string()?;
            self.expect(b':', "expected `:`")?;
            self.skip_value()?;
        }
    }

    /// Skips any value, checking its syntax only: strings are not checked
    /// for UTF-8 or surrogates, numbers are not converted.
    fn skip_value(&mut self) -> Res<()> {
        let mut nesting = Nesting::new();
        loop {
            // A value.
            match self.skip_ws() {
                b'"' => {
                    self.i += 1;
                    self.skip_string()?;
                }
                b'-' | b'0'..=b'9' => self.skip_number()?,
                b'n' => self.literal(b"null")?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'[' => {
                    self.i += 1;
                    if self.skip_ws() == b']' {
                        self.i += 1;
                    } else {
                        nesting.push(false);
                        continue;
                    }
                }
                b'{' => {
                    self.i += 1;
                    if self.skip_ws() == b'}' {
                        self.i += 1;
                    } else {
                        self.skip_member_key()?;
                        nesting.push(true);
                        continue;
                    }
                }
                _ => return Err(self.err("expected a value")),
            }
            // What follows a value: commas and closing brackets.
            loop {
                let Some(object) = nesting.top() else {
                    return Ok(());
                };
                match self.skip_ws() {
                    b',' => {
                        self.i += 1;
                        if object {
                            self.skip_member_key()?;
                        }
                        break;
                    }
                    b']' if !object => {
                        self.i += 1;
                        nesting.pop();
                    }
                    b'}' if object => {
                        self.i += 1;
                        nesting.pop();
                    }
                    _ => return Err(self.err("expected `,` or a closing bracket")),
                }
            }
        }
    }

    /// `"key":` inside a skipped object.
    fn skip_member_key(&mut self) -> Res<()> {
        self.expect(b'"', "expected a key")?;
        self.skip_string()?;
        self.expect(b':', "expected `:`")
    }

    /// A skipped string, after its `"`.
    fn skip_string(&mut self) -> Res<()> {
        loop {
            let end = self.plain_run(self.i);
            self.i = end;
            match self.b.get(end) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            self.i += 1;
                            self.hex4()?;
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                _ => return Err(self.err("unterminated string or control character")),
            }
        }
    }

    /// A skipped number: grammar only.
    fn skip_number(&mut self) -> Res<()> {
        if self.peek() == b'-' {
            self.i += 1;
        }
        match self.peek() {
            b'0' => {
                self.i += 1;
                if self.peek().is_ascii_digit() {
                    return Err(self.err("leading zero"));
                }
            }
            b'1'..=b'9' => self.skip_digits(),
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == b'.' {
            self.i += 1;
            if !self.peek().is_ascii_digit() {
                return Err(self.err("no digit after `.`"));
            }
            self.skip_digits();
        }
        if matches!(self.peek(), b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.i += 1;
            }
            if !self.peek().is_ascii_digit() {
                return Err(self.err("no digit in exponent"));
            }
            self.skip_digits();
        }
        Ok(())
    }

    #[inline]
    fn skip_digits(&mut self) {
        while self.peek().is_ascii_digit() {
            self.i += 1;
        }
    }
}

/// A one in each byte of a word, for the byte-at-a-time arithmetic on
/// eight bytes at once below.
const ONES: u64 = u64::MAX / 255;
/// The high bit of each byte of a word.
const HIGH: u64 = ONES << 7;

/// The high bit of each byte of `x` (little-endian) that is `"`, `\\` or
/// below 0x20, and possibly of bytes above such a byte.
#[inline(always)]
fn special_bytes(x: u64) -> u64 {
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v;
    (zero_in(quote) | zero_in(backslash) | (x.wrapping_sub(ONES * 0x20) & !x)) & HIGH
}

/// Whether every byte is ASCII. The standard library's `is_ascii` reads
/// the last up to 63 bytes of a long slice one at a time, which for a
/// typical event of 100 to 200 bytes was a twentieth of decoding it; this
/// reads eight at a time, the last eight overlapping the ones before.
#[inline]
fn is_ascii(b: &[u8]) -> bool {
    let Some(last) = b.last_chunk::<8>() else {
        return b.is_ascii();
    };
    let (words, _) = b.as_chunks::<8>();
    let all = words.iter().fold(u64::from_ne_bytes(*last), |all, w| {
        all | u64::from_ne_bytes(*w)
    });
    all & HIGH == 0
}

/// `10^n` for the number of digits [`leading_digits`] reads.
const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of the eight bytes of `word` (little-endian, so in reading
/// order) are ASCII digits before the first that is not, and the number
/// they make.
#[inline(always)]
fn leading_digits(word: u64) -> (usize, u64) {
    // Each byte's digit value, if it is a digit.
    let t = word ^ (ONES * u64::from(b'0'));
    // The high bit of each byte whose value is 10 or more, and possibly of
    // bytes above such a byte (from a carry), which do not count.
    let not_digit = (t.wrapping_add(ONES * (0x80 - 10)) | t) & HIGH;
    let n = (not_digit.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The n digits in the top bytes, zeros (leading ones) below them; then
    // pairs, fours and eight combined by multiplication.
    let v = t << (8 * (8 - n));
    let v = (v & (ONES * 0x0f)).wrapping_mul(2561) >> 8;
    let v = (v & 0x00ff_00ff_00ff_00ff).wrapping_mul(6_553_601) >> 16;
    let v = (v & 0x0000_ffff_0000_ffff).wrapping_mul(42_949_672_960_001) >> 32;
    (n, v)
}

/// Whether `n * 10 + digit` exceeds `u64::MAX`.
#[inline(always)]
fn overflows_u64(n: u64, digit: u64) -> bool {
    n >= u64::MAX / 10 && (n > u64::MAX / 10 || digit > u64::MAX % 10)
}

/// Powers of ten as serde_json's float conversion uses them.
#[rustfmt::skip]
static POW10: [f64; 309] = [
    1e000, 1e001, 1e002, 1e003, 1e004, 1e005, 1e006, 1e007, 1e008, 1e009,
    1e010, 1e011, 1e012, 1e013, 1e014, 1e015, 1e016, 1e017, 1e018, 1e019,
    1e020, 1e021, 1e022, 1e023, 1e024, 1e025, 1e026, 1e027, 1e028, 1e029,
    1e030, 1e031, 1e032, 1e033, 1e034, 1e035, 1e036, 1e037, 1e038, 1e039,
    1e040, 1e041, 1e042, 1e043, 1e044, 1e045, 1e046, 1e047, 1e048, 1e049,
    1e050, 1e051, 1e052, 1e053, 1e054, 1e055, 1e056, 1e057, 1e058, 1e059,
    1e060, 1e061, 1e062, 1e063, 1e064, 1e065, 1e066, 1e067, 1e068, 1e069,
    1e070, 1e071, 1e072, 1e073, 1e074, 1e075, 1e076, 1e077, 1e078, 1e079,
    1e080, 1e081, 1e082, 1e083, 1e084, 1e085, 1e086, 1e087, 1e088, 1e089,
    1e090, 1e091, 1e092, 1e093, 1e094, 1e095, 1e096, 1e097, 1e098, 1e099,
    1e100, 1e101, 1e102, 1e103, 1e104, 1e105, 1e106, 1e107, 1e108, 1e109,
    1e110, 1e111, 1e112, 1e113, 1e114, 1e115, 1e116, 1e117, 1e118, 1e119,
    1e120, 1e121, 1e122, 1e123, 1e124, 1e125, 1e126, 1e127, 1e128, 1e129,
    1e130, 1e131, 1e132, 1e133, 1e134, 1e135, 1e136, 1e137, 1e138, 1e139,
    1e140, 1e141, 1e142, 1e143, 1e144, 1e145, 1e146, 1e147, 1e148, 1e149,
    1e150, 1e151, 1e152, 1e153, 1e154, 1e155, 1e156, 1e157, 1e158, 1e159,
    1e160, 1e161, 1e162, 1e163, 1e164, 1e165, 1e166, 1e167, 1e168, 1e169,
    1e170, 1e171, 1e172, 1e173, 1e174, 1e175, 1e176, 1e177, 1e178, 1e179,
    1e180, 1e181, 1e182, 1e183, 1e184, 1e185, 1e186, 1e187, 1e188, 1e189,
    1e190, 1e191, 1e192, 1e193, 1e194, 1e195, 1e196, 1e197, 1e198, 1e199,
    1e200, 1e201, 1e202, 1e203, 1e204, 1e205, 1e206, 1e207, 1e208, 1e209,
    1e210, 1e211, 1e212, 1e213, 1e214, 1e215, 1e216, 1e217, 1e218, 1e219,
    1e220, 1e221, 1e222, 1e223, 1e224, 1e225, 1e226, 1e227, 1e228, 1e229,
    1e230, 1e231, 1e232, 1e233, 1e234, 1e235, 1e236, 1e237, 1e238, 1e239,
    1e240, 1e241, 1e242, 1e243, 1e244, 1e245, 1e246, 1e247, 1e248, 1e249,
    1e250, 1e251, 1e252, 1e253, 1e254, 1e255, 1e256, 1e257, 1e258, 1e259,
    1e260, 1e261, 1e262, 1e263, 1e264, 1e265, 1e266, 1e267, 1e268, 1e269,
    1e270, 1e271, 1e272, 1e273, 1e274, 1e275, 1e276, 1e277, 1e278, 1e279,
    1e280, 1e281, 1e282, 1e283, 1e284, 1e285, 1e286, 1e287, 1e288, 1e289,
    1e290, 1e291, 1e292, 1e293, 1e294, 1e295, 1e296, 1e297, 1e298, 1e299,
    1e300, 1e301, 1e302, 1e303, 1e304, 1e305, 1e306, 1e307, 1e308,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, serde_path, DecodeError};
    use proptest::prelude::*;
    use proptest::sample::Index;

    const MAX: usize = 64 * 1024;

    fn scanned_raw(bytes: &[u8]) -> Res<Raw<'_>> {
        let mut raw = Raw::default();
        scan(bytes, &mut raw).map(|_| raw)
    }

    fn show(v: &Option<Val<'_>>) -> String {
        match v {
            None => "absent".into(),
            Some(Val::Bool(b)) => format!("Bool({b})"),
            Some(Val::Int(i)) => format!("Int({i})"),
            Some(Val::Big) => "Big".into(),
            Some(Val::Float(f)) => format!("Float({f:e} = {:#x})", f.to_bits()),
            Some(Val::Str(Cow::Borrowed(s))) => format!("Borrowed({s:?})"),
            Some(Val::Str(Cow::Owned(s))) => format!("Owned({s:?})"),
            Some(Val::Composite) => "Composite".into(),
        }
    }

    /// Every field of a [`Raw`], exactly: value kind, float bits, and
    /// whether a string borrows.
    fn describe(mut r: Raw<'_>) -> Vec<String> {
        (0..FIELDS as u8).map(|f| show(slot(&mut r, f))).collect()
    }

    /// The new and the old decoder agree on `bytes`: the same `Raw` (or both
    /// fail), and the same `decode` result but for the text of
    /// `InvalidJson`. Returns whether the bytes were accepted as JSON.
    fn agree(bytes: &[u8]) -> Result<bool, TestCaseError> {
        let new = scanned_raw(bytes).map(describe);
        let old = serde_path::raw(bytes).map(describe);
        let shown = String::from_utf8_lossy(bytes);
        let infinite = |r: &Vec<String>| {
            r.iter()
                .any(|v| v.starts_with("Float(inf") || v.starts_with("Float(-inf"))
        };
        match (&new, &old) {
            (Ok(a), Ok(b)) if a == b => {}
            (Err(_), Err(_)) => {}
            (Ok(a), Err(e)) if infinite(a) && e.to_string().contains("number out of range") => {}
            _ => {
                return Err(TestCaseError::fail(format!(
                    "{shown:?} ({bytes:?})\n new: {new:?}\n old: {old:?}"
                )))
            }
        }
        let new = decode(bytes, MAX);
        let old = serde_path::decode(bytes, MAX);
        // Where serde_json fails on a number past `f64`, the scanner reads
        // an infinite one (`Scan::float`): the event fails on it as its
        // field says, or on another error, or is read without it (a field
        // its type does not have); `numbers_past_a_double_take_their_field_s_reason`
        // in src/decode.rs checks the reasons.
        let past_f64 =
            matches!(&old, Err(DecodeError::InvalidJson(e)) if e.contains("number out of range"));
        let same = match (&new, &old) {
            (Err(DecodeError::InvalidJson(_)), Err(DecodeError::InvalidJson(_))) => true,
            _ if past_f64 => true,
            _ => new == old,
        };
        if !same {
            return Err(TestCaseError::fail(format!(
                "{shown:?}\n new: {new:?}\n old: {old:?}"
            )));
        }
        Ok(if past_f64 {
            !matches!(new, Err(DecodeError::InvalidJson(_)))
        } else {
            old.is_ok() || !matches!(old, Err(DecodeError::InvalidJson(_)))
        })
    }

    #[track_caller]
    fn same(bytes: impl AsRef<[u8]>) -> bool {
        agree(bytes.as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[track_caller]
    fn accepted(s: &str) {
        assert!(same(s), "should be read: {s}");
    }

    #[track_caller]
    fn rejected(s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        assert!(
            !same(s),
            "should be invalid_json: {:?}",
            String::from_utf8_lossy(s)
        );
    }

    fn scanned(s: &str) -> Vec<String> {
        describe(scanned_raw(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    const CLOSED: &str = r#"{"event_id":"e","type":"ticket.closed","ts":1,"ticket_id":"t"}"#;

    // ---------------------------------------------------------------- unit

    #[test]
    fn strings_borrow_unless_escaped() {
        let r =
            scanned(r#"{"event_id":"plain","ticket_id":"a\nb","queue":"caf\u00e9","comment":"é"}"#);
        assert_eq!(r[0], r#"Borrowed("plain")"#);
        assert_eq!(r[4], r#"Owned("a\nb")"#);
        assert_eq!(r[10], r#"Owned("café")"#);
        assert_eq!(r[20], r#"Borrowed("é")"#);
        same(r#"{"event_id":"plain","ticket_id":"a\nb","queue":"caf\u00e9","comment":"é"}"#);
    }

    #[test]
    fn numbers_map_to_the_same_values() {
        for n in [
            "0",
            "-0",
            "-0.0",
            "0.0",
            "1",
            "-1",
            "1.0",
            "4.0",
            "4.5",
            "1e0",
            "1E+2",
            "1e-2",
            "0e0",
            "0.5",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "-18446744073709551615",
            "-18446744073709551616",
            "184467440737095516150",
            "18446744073709551616.5",
            "18446744073709551615.5",
            "1.8446744073709551615e19",
            "123456789012345678901234567890",
            "0.1234567890123456789012345",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1e308",
            "1e309",
            "2e308",
            "-1e309",
            "1e-400",
            "-1e-400",
            "4.9e-324",
            "2.2250738585072014e-308",
            "0e999999999999",
            "1e-999999999999",
            "-1e-999999999999",
            "1e999999999999",
            "0.0000000000000000000000000000001e-300",
            "1000000000000000000000000000000000000e-400",
            "0.3",
            "2.675",
            "9007199254740993",
            "9007199254740993.0",
            "1795338000000",
            "1795338000000.0",
        ] {
            for field in ["ts", "score", "seconds", "mrr", "schema_version", "level"] {
                same(format!(r#"{{"{field}":{n}}}"#));
            }
            same(format!(
                r#"{{"event_id":"x","type":"ticket.work_logged","ts":{n},"ticket_id":"t","agent_id":"a","seconds":{n}}}"#
            ));
        }
        assert_eq!(
            scanned(r#"{"ts":-0}"#)[2],
            format!("Float(-0e0 = {:#x})", (-0.0f64).to_bits())
        );
        assert_eq!(scanned(r#"{"ts":9223372036854775808}"#)[2], "Big");
        assert!(scanned(r#"{"ts":18446744073709551616}"#)[2].starts_with("Float("));
        assert_eq!(
            scanned(r#"{"ts":-9223372036854775808}"#)[2],
            format!("Int({})", i64::MIN)
        );
        assert!(scanned(r#"{"ts":-9223372036854775809}"#)[2].starts_with("Float("));
        assert!(scanned(r#"{"ts":1.0}"#)[2].starts_with("Float("));
    }

    #[test]
    fn malformed_numbers() {
        for n in [
            "01",
            "-01",
            "00",
            "+1",
            "-",
            "1.",
            "1.e5",
            ".5",
            "1e",
            "1e+",
            "1E-",
            "--1",
            "0x10",
            "1_000",
            "NaN",
            "Infinity",
            "-Infinity",
            "1.5.2",
            "1e5e5",
            "1-",
            "- 1",
        ] {
            rejected(format!(r#"{{"ts":{n}}}"#));
            rejected(format!(r#"{{"unknown":{n}}}"#));
            rejected(format!(r#"{{"ts":[{n}]}}"#));
        }
        // Numbers that only overflow when converted: fine where skipped,
        // and JSON in a known field, whose check refuses them
        // (`numbers_past_a_double_take_their_field_s_reason`).
        for n in ["1e309", "1e999999999999", "123456789e400"] {
            accepted(&format!(r#"{{"ts":{n}}}"#));
            accepted(&format!(r#"{{"unknown":{n},"x":[{n}]}}"#));
            accepted(&format!(r#"{{"ts":[{n}]}}"#));
        }
    }

    #[test]
    fn escapes_and_surrogates() {
        for s in [
            r#"\"\\\/\b\f\n\r\t"#,
            r"\u0000",
            r"\u00e9\u00E9",
            r"\ud83d\ude00",
            r"\uD83D\uDE00x",
            r"\uffff",
            r"\u10FFFF",
        ] {
            accepted(&format!(r#"{{"comment":"{s}","unknown":"{s}","k{s}":1}}"#));
        }
        for s in [
            r"\ud800",
            r"\ud800x",
            r"\ud800\n",
            r"\ud800\u0041",
            r"\ud800\ud800",
            r"\udc00",
            r"\ude00\ud83d",
            r"\u12",
            r"\u12g4",
            r"\x41",
            r"\U0041",
            r"\'",
            r"\",
        ] {
            // Checked in the strings of known fields and in every key at the top level.
            rejected(format!(r#"{{"comment":"{s}"}}"#));
            rejected(format!(r#"{{"k{s}":1}}"#));
            rejected(format!(r#"{{"comment":{{"k{s}":1}}}}"#));
        }
        // Skipped strings only need well-formed escapes: lone surrogates pass.
        for s in [r"\ud800", r"\udc00x", r"\ud800\u0041"] {
            accepted(&format!(
                r#"{{"unknown":"{s}","u2":{{"k{s}":["{s}"]}},"comment":["{s}"]}}"#
            ));
            accepted(&format!(r#"{{"comment":{{"k":"{s}"}}}}"#));
        }
        for s in [r"\u12", r"\x", r"\"] {
            rejected(format!(r#"{{"unknown":"{s}"}}"#));
        }
        // An escaped key names its field.
        assert_eq!(scanned(r#"{"typ\u0065":"x"}"#)[1], r#"Borrowed("x")"#);
        rejected(r#"{"type":"a","typ\u0065":"b"}"#);
    }

    #[test]
    fn control_characters_and_utf8() {
        rejected(b"{\"comment\":\"a\x01b\"}");
        rejected(b"{\"unknown\":\"a\x1fb\"}");
        rejected(b"{\"k\x0a\":1}");
        accepted("{\"comment\":\"a\x7fb\"}");
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xc3\x28",
            b"\xe2\x82",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\x80",
        ] {
            let with = |template: &str| {
                let (a, b) = template.split_once('@').unwrap();
                [a.as_bytes(), bad, b.as_bytes()].concat()
            };
            rejected(with(r#"{"comment":"@"}"#));
            rejected(with(r#"{"comment":"a\n@"}"#));
            rejected(with(r#"{"k@":1}"#));
            rejected(with(r#"{"comment":{"k@":1}}"#));
            rejected(with(r#"{"ts":1@}"#));
            rejected(with(r#"@{}"#));
            // The whole message must be UTF-8, unknown fields included
            // (serde_json did not look inside strings it skipped).
            rejected(with(r#"{"unknown":"@"}"#));
            rejected(with(r#"{"u":["@",{"k@":"@"}],"comment":["@"]}"#));
        }
    }

    #[test]
    fn structure() {
        accepted("{}");
        accepted(" \t\r\n{ \t\r\n} \t\r\n");
        accepted(CLOSED);
        accepted(&format!(" {CLOSED}\n"));
        accepted(
            r#"{"event_id":"e","type":"ticket.closed","ts":1,"ticket_id":"t","x":{"a":[1,{"b":null}],"c":{}},"y":[],"z":[[[]]]}"#,
        );
        accepted(r#"{"ts":[1,"a",{"b":[true,false,null]}],"type":{"a":{"b":[1]}}}"#);
        let deep = format!(
            r#"{{"x":{}{},"ts":{}1{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000),
            "[{\"a\":".repeat(300),
            "}]".repeat(300)
        );
        accepted(&deep);
        for bad in [
            "",
            " ",
            "{",
            "}",
            "{}}",
            "{} {}",
            "{}x",
            "{}\u{0}",
            // A byte order mark is skipped only before the object (by `decode`).
            "{}\u{feff}",
            "\u{feff}\u{feff}{}",
            "{,}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":1,,"b":2}"#,
            r#"{a:1}"#,
            r#"{'a':1}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"ts":[1,]}"#,
            r#"{"ts":{"a":1,}}"#,
            r#"{"ts":{1:2}}"#,
            r#"{"ts":nul}"#,
            r#"{"ts":nulll}"#,
            r#"{"ts":True}"#,
            r#"{"a":tru}"#,
            r#"{"a":"x}"#,
            "[1,2]",
            "\"x\"",
            "1",
            "null",
            "true",
            "/**/{}",
            "{\"a\":1}//",
        ] {
            rejected(bad);
        }
    }

    #[test]
    fn duplicate_keys() {
        rejected(r#"{"type":"a","type":"b"}"#);
        rejected(r#"{"type":null,"type":"b"}"#);
        rejected(r#"{"mrr":null,"mrr":null}"#);
        accepted(r#"{"x":1,"x":2,"ts":{"a":1,"a":2}}"#);
        rejected(format!(
            "{}}}",
            &CLOSED[..CLOSED.len() - 1].replacen('{', r#"{"ts":2,"#, 1)
        ));
    }

    /// A derived `Deserialize` also reads a struct from a sequence of its
    /// fields in order, and so did the old decoder: `[event_id, type, ts,
    /// …]` with exactly 22 elements was an event. An event is an object.
    #[test]
    fn an_array_is_not_an_event() {
        let mut v = vec!["null"; FIELDS];
        v[0] = r#""e1""#;
        v[1] = r#""ticket.closed""#;
        v[2] = "1795338000000";
        v[4] = r#""T1""#;
        let line = format!("[{}]", v.join(","));
        assert!(matches!(
            decode(line.as_bytes(), MAX),
            Err(DecodeError::InvalidJson(_))
        ));
        rejected(&line);
        rejected(format!(" [ {} ] ", v.join(" , ")));
        rejected("[]");
    }

    /// The old decoder truncated its error text with `String::truncate(200)`,
    /// which panics when byte 200 falls inside a character; serde_json quotes
    /// a top-level string in its message, so such a message could crash it.
    #[test]
    fn old_truncation_panic() {
        let line = format!("\"{}é\"", "a".repeat(177));
        // serde_json's message for a string where a map belongs, as the old
        // decoder got it: `invalid type: string "…", expected …`.
        let text = serde_json::from_str::<std::collections::BTreeMap<String, u8>>(&line)
            .unwrap_err()
            .to_string();
        assert!(!text.is_char_boundary(200), "{text}");
        let old = std::panic::catch_unwind(|| {
            let mut s = text.clone();
            s.truncate(200);
        });
        assert!(old.is_err(), "String::truncate(200) panics on this text");
        assert!(matches!(
            decode(line.as_bytes(), MAX),
            Err(DecodeError::InvalidJson(_))
        ));
    }

    #[test]
    fn error_text_names_the_position() {
        let e = decode(br#"{"ts":1,}"#, MAX).unwrap_err();
        assert_eq!(e.to_string(), "invalid_json: expected a key at byte 8");
    }

    /// `slot` finds the field each name is read into (serde's derived
    /// reader goes by the names, not by the layout).
    #[test]
    fn slots_are_the_named_fields() {
        let json = NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| format!("\"{n}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let json = format!("{{{json}}}");
        let mut raw = serde_path::raw(json.as_bytes()).unwrap();
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(show(slot(&mut raw, i as u8)), format!("Int({i})"), "{name}");
        }
    }

    /// Keys are found by hash exactly when they are field names.
    #[test]
    fn known_key_agrees_with_field_index() {
        let mut keys: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
        for n in NAMES {
            keys.push(format!("{n}x"));
            keys.push(format!("x{n}"));
            keys.push(n[..n.len() - 1].to_string());
            keys.push(n.to_uppercase());
            keys.push(format!("{n}\0"));
        }
        keys.extend(
            [
                "",
                "t",
                "event_idevent_id",
                "schema_version_",
                "é",
                "ts\"\"",
            ]
            .map(String::from),
        );
        for key in keys {
            let expected = NAMES.iter().position(|n| *n == key).map(|i| i as u8);
            assert_eq!(field_index(key.as_bytes()), expected, "{key:?}");
            let mut input = key.clone().into_bytes();
            input.extend_from_slice(b"\":\"0123456789abcdef");
            assert_eq!(known_key(&input[..16], key.len()), expected, "{key:?}");
        }
    }

    /// The word-at-a-time search stops where a byte-at-a-time one does.
    #[test]
    fn plain_run_finds_the_first_special_byte() {
        let bytewise = |b: &[u8], from: usize| {
            (from..b.len())
                .find(|&i| !PLAIN[b[i] as usize])
                .unwrap_or(b.len())
        };
        for fill in [b'a', 0x80, 0xff, 0x21, b' ', 0x5d, 0x7f] {
            for len in 0..40 {
                for at in 0..len {
                    for special in 0..=255u8 {
                        let mut b = vec![fill; len];
                        b[at] = special;
                        if at + 1 < len {
                            // A second special byte after the first.
                            b[len - 1] = b'"';
                        }
                        let s = Scanner {
                            b: &b,
                            i: 0,
                            ascii: is_ascii(&b),
                            owned: false,
                        };
                        for from in (0..=len.min(3)).chain(len.saturating_sub(3)..=len) {
                            let expected = bytewise(&b, from);
                            assert_eq!(s.plain_run(from), expected, "{b:?} from {from}");
                            assert_eq!(s.plain_run_words(from), expected, "{b:?} from {from}");
                        }
                    }
                }
            }
        }
    }

    /// Eight bytes at a time, digits are counted and read as one at a time
    /// would: every count of leading digits, followed by every byte.
    #[test]
    fn leading_digits_reads_as_bytewise() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for n in 0..=8 {
            for after in 0..=255u8 {
                for _ in 0..20 {
                    let mut b = [0u8; 8];
                    for d in b.iter_mut().take(n) {
                        *d = b'0' + (next() % 10) as u8;
                    }
                    if n < 8 {
                        b[n] = after;
                        for x in b.iter_mut().skip(n + 1) {
                            *x = next() as u8;
                        }
                    }
                    let count = b.iter().take_while(|c| c.is_ascii_digit()).count();
                    let value = b[..count]
                        .iter()
                        .fold(0u64, |v, c| v * 10 + u64::from(c - b'0'));
                    let got = leading_digits(u64::from_le_bytes(b));
                    assert_eq!(got, (count, if count == 0 { 0 } else { value }), "{b:?}");
                }
            }
        }
    }

    /// The word-at-a-time ASCII check agrees with the standard library's
    /// at every length and wherever the one non-ASCII byte is.
    #[test]
    fn is_ascii_finds_a_high_byte_anywhere() {
        for len in 0..80 {
            let plain = vec![b'a'; len];
            assert!(is_ascii(&plain), "{len} ASCII bytes");
            for at in 0..len {
                for high in [0x80, 0xc3, 0xff] {
                    let mut b = plain.clone();
                    b[at] = high;
                    assert!(!is_ascii(&b), "{high:#x} at {at} of {len}");
                }
            }
        }
    }

    /// Every prefix of some events, and every byte of them replaced by, or
    /// preceded by, a byte that matters to the grammar.
    #[test]
    fn every_truncation_and_single_byte_edit() {
        let lines = [
            CLOSED,
            r#"{"event_id":"e-1","type":"ticket.work_logged","ts":"2026-11-22T10:00:00.123Z","ticket_id":"T\u00e9","agent_id":"a","seconds":-0.5e1,"x":[{"y":null}]}"#,
            r#" { "event_id" : "e" , "type" : "survey.csat" , "ts" : 17953380e5 , "score" : 4.0 , "comment" : "\ud83d\ude00" } "#,
        ];
        let bytes: &[u8] = b"\x00 \t\n\"\\/{}[],:-+.eE019aunlltf\x7f\x80\xc3\xa9\xff";
        for line in lines {
            let line = line.as_bytes();
            for n in 0..=line.len() {
                same(&line[..n]);
            }
            for i in 0..line.len() {
                for &b in bytes {
                    let mut v = line.to_vec();
                    v[i] = b;
                    same(&v);
                    v[i] = line[i];
                    v.insert(i, b);
                    same(&v);
                }
                let mut v = line.to_vec();
                v.remove(i);
                same(&v);
            }
        }
    }

    // ----------------------------------------------------------- proptest

    /// A JSON value to render, with room for mistakes.
    #[derive(Clone, Debug)]
    enum J {
        Null,
        Bool(bool),
        /// The text of a number (not always valid).
        Num(String),
        /// A string's content; escapes are chosen when rendering.
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    /// Formatting choices: whitespace between tokens and escapes in strings.
    #[derive(Clone, Debug)]
    struct Style {
        rng: Rng,
        /// Out of 256: how often whitespace goes between tokens.
        ws: u8,
        /// Out of 256: how often a character is escaped though it need not be.
        esc: u8,
    }

    impl Style {
        fn next(&mut self) -> u8 {
            self.rng.next() as u8
        }

        fn ws(&mut self, out: &mut Vec<u8>) {
            if self.next() < self.ws {
                let spaces: [&[u8]; 6] = [b" ", b"\n", b"\t", b"\r", b"  ", b" \r\n\t"];
                out.extend_from_slice(spaces[self.next() as usize % spaces.len()]);
            }
        }

        fn string(&mut self, s: &str, out: &mut Vec<u8>) {
            out.push(b'"');
            for c in s.chars() {
                let forced = matches!(c, '"' | '\\' | '\0'..='\u{1f}');
                if !forced && self.next() >= self.esc {
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                let short = match c {
                    '"' => Some("\\\""),
                    '\\' => Some("\\\\"),
                    '/' => Some("\\/"),
                    '\u{8}' => Some("\\b"),
                    '\u{c}' => Some("\\f"),
                    '\n' => Some("\\n"),
                    '\r' => Some("\\r"),
                    '\t' => Some("\\t"),
                    _ => None,
                };
                match short {
                    Some(e) if self.next().is_multiple_of(2) => out.extend_from_slice(e.as_bytes()),
                    _ => {
                        let upper = self.next().is_multiple_of(2);
                        let mut units = [0; 2];
                        for u in c.encode_utf16(&mut units) {
                            let hex = if upper {
                                format!("\\u{u:04X}")
                            } else {
                                format!("\\u{u:04x}")
                            };
                            out.extend_from_slice(hex.as_bytes());
                        }
                    }
                }
            }
            out.push(b'"');
        }

        fn render(&mut self, j: &J, out: &mut Vec<u8>) {
            self.ws(out);
            match j {
                J::Null => out.extend_from_slice(b"null"),
                J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                J::Num(n) => out.extend_from_slice(n.as_bytes()),
                J::Str(s) => self.string(s, out),
                J::Arr(items) => {
                    out.push(b'[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.ws(out);
                            out.push(b',');
                        }
                        self.render(item, out);
                    }
                    self.ws(out);
                    out.push(b']');
                }
                J::Obj(members) => {
                    out.push(b'{');
                    for (i, (k, v)) in members.iter().enumerate() {
                        if i > 0 {
                            self.ws(out);
                            out.push(b',');
                        }
                        self.ws(out);
                        self.string(k, out);
                        self.ws(out);
                        out.push(b':');
                        self.render(v, out);
                    }
                    self.ws(out);
                    out.push(b'}');
                }
            }
            self.ws(out);
        }
    }

    fn style() -> impl Strategy<Value = Style> {
        (
            any::<u64>(),
            prop_oneof![Just(0u8), Just(40), any::<u8>()],
            prop_oneof![2 => Just(0u8), 1 => Just(30), 1 => any::<u8>()],
        )
            .prop_map(|(seed, ws, esc)| Style {
                rng: Rng(seed),
                ws,
                esc,
            })
    }

    /// A small deterministic generator, so that the bulk of a case is built
    /// from one `u64` (proptest's own strategies are slow in the dev
    /// profile, and the differential tests want thousands of cases).
    #[derive(Clone, Debug)]
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            // splitmix64
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[self.below(from.len())]
        }

        fn digits(&mut self, out: &mut String, n: usize) {
            for _ in 0..n {
                out.push(char::from(b'0' + self.below(10) as u8));
            }
        }
    }

    const SPECIAL_NUMBERS: [&str; 34] = [
        "0",
        "-0",
        "-0.0",
        "1.0",
        "4.0",
        "4.5",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "18446744073709551616.5",
        "1e308",
        "1e309",
        "-1e309",
        "1.7976931348623157e308",
        "4.9e-324",
        "1e-400",
        "0e999999999999",
        "1e999999999999",
        "1e-999999999999",
        "253402300799999",
        "253402300800000",
        "1795338000000",
        "-1",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "+1",
        "NaN",
        "1795338000000.000",
    ];

    /// The text of a number: mostly valid JSON, of every shape.
    fn number_text(seed: u64) -> String {
        let mut r = Rng(seed);
        let mut s = String::new();
        match r.below(12) {
            0 | 1 => s.push_str(r.pick(&SPECIAL_NUMBERS)),
            2..=8 => {
                // Valid: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
                if r.below(3) == 0 {
                    s.push('-');
                }
                if r.below(5) == 0 {
                    s.push('0');
                } else {
                    s.push(char::from(b'1' + r.below(9) as u8));
                    let n = r.pick(&[0, 1, 2, 5, 12, 17, 18, 19, 20, 21, 25]);
                    r.digits(&mut s, n);
                }
                if r.below(5) < 2 {
                    s.push('.');
                    let n = 1 + r.below(22);
                    r.digits(&mut s, n);
                }
                if r.below(5) < 2 {
                    s.push_str(r.pick(&["e", "E", "e+", "e-", "E-"]));
                    let n = 1 + r.below(3);
                    r.digits(&mut s, n);
                }
            }
            9 | 10 => {
                // Pieces, in any order, valid or not.
                for _ in 0..1 + r.below(4) {
                    s.push_str(r.pick(&[
                        "-",
                        "+",
                        "0",
                        "00",
                        "7",
                        "123",
                        ".",
                        ".5",
                        "e",
                        "E+",
                        "e-",
                        "9",
                        "99999999999",
                    ]));
                }
            }
            _ => match r.below(4) {
                0 => s = (r.next() as i64).to_string(),
                1 => s = r.next().to_string(),
                2 => s = f64::from_bits(r.next()).to_string(),
                _ => s = format!("{:e}", f64::from_bits(r.next())),
            },
        }
        s
    }

    /// String content: ids, unicode, escapes-to-be, control characters,
    /// lengths around 128 bytes.
    fn text_of(seed: u64) -> String {
        let mut r = Rng(seed);
        match r.below(10) {
            0..=4 => {
                let n = r.below(13);
                (0..n)
                    .map(|_| char::from(r.pick(b"abcxyz0129._-")))
                    .collect()
            }
            5 | 6 => {
                let n = r.below(9);
                (0..n)
                    .map(|_| {
                        r.pick(&[
                            'a',
                            'é',
                            '中',
                            '😀',
                            '"',
                            '\\',
                            '/',
                            '\0',
                            '\n',
                            '\u{1f}',
                            '\u{7f}',
                            '\u{80}',
                            '\u{2028}',
                            '\u{d7ff}',
                            '\u{e000}',
                            '\u{ffff}',
                            '\u{10000}',
                            '\u{10ffff}',
                            ' ',
                        ])
                    })
                    .collect()
            }
            7 => {
                let n = r.below(6);
                (0..n)
                    .map(|_| char::from_u32(r.next() as u32 % 0x11_0000).unwrap_or('?'))
                    .collect()
            }
            8 => "q".repeat(125 + r.below(6)),
            _ => "é".repeat(62 + r.below(4)),
        }
    }

    /// An RFC 3339 time, mostly valid: `YYYY-MM-DDTHH:MM:SS[.f](Z|±hh:mm)`.
    fn rfc3339(seed: u64) -> String {
        let mut r = Rng(seed);
        let mut s = format!(
            "{}-{:02}-{:02}T{:02}:{:02}:{:02}",
            r.pick(&[1969, 1970, 2000, 2024, 2026, 2100, 9999]),
            r.below(13),
            r.below(32),
            r.below(25),
            r.below(61),
            r.below(61),
        );
        if r.below(2) == 0 {
            s.push('.');
            let n = r.below(11);
            r.digits(&mut s, n);
        }
        match r.below(4) {
            0 => s.push('Z'),
            1 => s.push_str(r.pick(&["z", "", "+00:00", "-00:00"])),
            _ => {
                let h = r.below(25);
                let m = r.pick(&[0, 30, 45, 60]);
                s.push_str(&format!("{}{h:02}:{m:02}", r.pick(&["+", "-"])));
            }
        }
        s
    }

    fn number() -> BoxedStrategy<String> {
        any::<u64>().prop_map(number_text).boxed()
    }

    fn text() -> BoxedStrategy<String> {
        any::<u64>().prop_map(text_of).boxed()
    }

    /// Any value, nested up to `depth` levels.
    fn value_of(r: &mut Rng, depth: u32) -> J {
        match r.below(if depth == 0 { 6 } else { 9 }) {
            0 => J::Null,
            1 => J::Bool(r.below(2) == 0),
            2 | 3 => J::Num(number_text(r.next())),
            4 | 5 => J::Str(text_of(r.next())),
            6 | 7 => J::Arr((0..r.below(4)).map(|_| value_of(r, depth - 1)).collect()),
            _ => J::Obj(
                (0..r.below(4))
                    .map(|_| (key_of(r.next()), value_of(r, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// Keys: the fields, near misses, anything.
    fn key_of(seed: u64) -> String {
        let mut r = Rng(seed);
        match r.below(6) {
            0..=2 => r.pick(&NAMES).into(),
            3 => r
                .pick(&[
                    "Type",
                    "type ",
                    "ts\u{0}",
                    "eventid",
                    "mrrr",
                    "",
                    "é",
                    "\u{10000}",
                ])
                .into(),
            _ => text_of(r.next()),
        }
    }

    fn value() -> BoxedStrategy<J> {
        any::<u64>()
            .prop_map(|seed| value_of(&mut Rng(seed), 3))
            .boxed()
    }

    fn key() -> BoxedStrategy<String> {
        any::<u64>().prop_map(key_of).boxed()
    }

    const TYPES: [&str; 25] = [
        "ticket.created",
        "ticket.assigned",
        "ticket.agent_replied",
        "ticket.customer_replied",
        "ticket.status_changed",
        "ticket.priority_changed",
        "ticket.escalated",
        "ticket.work_logged",
        "ticket.resolved",
        "ticket.reopened",
        "ticket.closed",
        "call.queued",
        "call.answered",
        "call.abandoned",
        "call.hold_started",
        "call.hold_ended",
        "call.transferred",
        "call.ended",
        "call.wrapup_ended",
        "agent.status_changed",
        "survey.csat",
        "survey.nps",
        "survey.ces",
        "customer.subscribed",
        "customer.churned",
    ];

    /// The fields of each type beyond the envelope (SPEC §1.2 to §1.6).
    fn fields_of(ty: &str) -> &'static [&'static str] {
        match ty {
            "ticket.created" => &[
                "ticket_id",
                "customer_id",
                "channel",
                "priority",
                "queue",
                "category",
            ],
            "ticket.assigned" => &["ticket_id", "agent_id", "queue"],
            "ticket.agent_replied" => &["ticket_id", "agent_id", "public"],
            "ticket.status_changed" => &["ticket_id", "status"],
            "ticket.priority_changed" => &["ticket_id", "priority"],
            "ticket.escalated" => &["ticket_id", "level", "reason"],
            "ticket.work_logged" => &["ticket_id", "agent_id", "seconds"],
            "ticket.resolved" => &["ticket_id", "agent_id"],
            "call.queued" => &["call_id", "customer_id", "queue", "channel", "category"],
            "call.answered" => &["call_id", "agent_id"],
            "call.transferred" => &["call_id", "queue", "escalation"],
            "call.ended" => &["call_id", "resolved"],
            "agent.status_changed" => &["agent_id", "status", "queue"],
            "survey.csat" => &[
                "score",
                "ticket_id",
                "call_id",
                "agent_id",
                "channel",
                "queue",
                "comment",
            ],
            "survey.nps" => &["score", "customer_id"],
            "survey.ces" => &["score", "ticket_id", "call_id"],
            "customer.subscribed" | "customer.churned" => &["customer_id", "mrr"],
            t if t.starts_with("call.") => &["call_id"],
            _ => &["ticket_id"],
        }
    }

    fn strs(v: &[&'static str]) -> BoxedStrategy<J> {
        prop::sample::select(v.to_vec())
            .prop_map(|s| J::Str(s.into()))
            .boxed()
    }

    fn nums(v: &[&'static str]) -> BoxedStrategy<J> {
        prop::sample::select(v.to_vec())
            .prop_map(|s| J::Num(s.into()))
            .boxed()
    }

    /// A plausible value for a field (mostly of the right type).
    fn good(field: &str) -> BoxedStrategy<J> {
        match field {
            "event_id" | "ticket_id" | "call_id" | "agent_id" | "customer_id" => prop_oneof![
                4 => any::<u64>().prop_map(|seed| {
                    let mut r = Rng(seed);
                    let n = 1 + r.below(12);
                    J::Str((0..n).map(|_| char::from(r.pick(b"AZaz09-"))).collect())
                }),
                1 => text().prop_map(J::Str),
            ]
            .boxed(),
            "type" => prop_oneof![
                8 => strs(&TYPES),
                1 => strs(&["ticket.exploded", "Ticket.Created", ""]),
            ]
            .boxed(),
            "ts" => prop_oneof![
                1 => strs(&[
                    "2026-11-22T10:00:00.123Z",
                    "2026-11-22T10:30:00+01:30",
                    "2026-11-22t10:00:00z",
                    "2026-11-22T10:00:00.987654321Z",
                    "2026-11-22T10:00:00",
                    "1969-12-31T23:59:59Z",
                    "2024-02-29T23:59:60Z",
                    "yesterday",
                ]),
                2 => any::<u64>().prop_map(|seed| J::Str(rfc3339(seed))),
                3 => (0i64..=253_402_300_799_999).prop_map(|n| J::Num(n.to_string())),
                1 => nums(&["-1", "253402300800000", "1.5e12", "1795338000000.0", "-0"]),
            ]
            .boxed(),
            "schema_version" => prop_oneof![
                6 => nums(&["1"]),
                3 => nums(&["2", "1.0", "1e0", "0", "-0", "18446744073709551615"]),
                1 => strs(&["1"]),
            ]
            .boxed(),
            "channel" => strs(&[
                "email", "chat", "phone", "social", "web", "sms", "other", "pigeon", "",
            ]),
            "priority" => strs(&["low", "normal", "high", "urgent", "asap", ""]),
            "status" => strs(&[
                "open",
                "pending",
                "on_hold",
                "available",
                "busy",
                "after_call_work",
                "break",
                "offline",
                "closed",
            ]),
            "public" | "resolved" | "escalation" => prop_oneof![
                4 => any::<bool>().prop_map(J::Bool),
                1 => strs(&["true"]),
            ]
            .boxed(),
            "level" | "score" => prop_oneof![
                3 => (-1i64..12).prop_map(|n| J::Num(n.to_string())),
                1 => nums(&["4.0", "4.5", "1e0", "5e-0", "9223372036854775808", "-0", "1e16"]),
            ]
            .boxed(),
            "seconds" | "mrr" => number().prop_map(J::Num).boxed(),
            _ => text().prop_map(J::Str).boxed(),
        }
    }

    /// Events of every type, fields shuffled, sometimes missing, extra,
    /// repeated, of the wrong type or `null`, with unknown fields.
    fn event() -> impl Strategy<Value = Vec<u8>> {
        let per_field: Vec<BoxedStrategy<J>> = NAMES
            .iter()
            .map(|n| prop_oneof![50 => good(n), 1 => Just(J::Null), 2 => value()].boxed())
            .collect();
        let unknown = prop::collection::vec((key(), value()), 0..3).boxed();
        let style = style().boxed();
        (
            prop::sample::select(TYPES.to_vec()),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_flat_map(move |(ty, keep, extra)| {
                // Which fields: the envelope and the type's own, each kept
                // most of the time, and now and then another known one.
                let mut names: Vec<usize> = Vec::new();
                for (i, name) in NAMES.iter().enumerate() {
                    let bit =
                        keep >> i & 1 == 1 || keep >> (i + 10) & 1 == 1 || extra >> 24 & 3 != 0;
                    let wanted = match *name {
                        "event_id" | "type" | "ts" => (extra >> 26) as usize != i,
                        "schema_version" => extra % 8 == 0,
                        n if fields_of(ty).contains(&n) => bit,
                        _ => extra as usize >> 8 & 63 == i,
                    };
                    if wanted {
                        names.push(i);
                    }
                }
                let values: Vec<BoxedStrategy<J>> =
                    names.iter().map(|&i| per_field[i].clone()).collect();
                (
                    Just((ty, names, extra)),
                    values,
                    unknown.clone(),
                    any::<Index>(),
                    any::<u64>(),
                    style.clone(),
                )
            })
            .prop_map(
                |((ty, names, extra), values, unknown, dup_of, seed, mut style)| {
                    let mut members: Vec<(String, J)> = names
                        .iter()
                        .zip(values)
                        .map(|(&i, v)| {
                            let v = match NAMES[i] {
                                "type" if extra >> 16 & 7 != 0 => J::Str(ty.into()),
                                _ => v,
                            };
                            (NAMES[i].to_string(), v)
                        })
                        .collect();
                    members.extend(unknown);
                    if extra >> 20 & 15 == 0 && !members.is_empty() {
                        let m = members[dup_of.index(members.len())].clone();
                        members.push(m);
                    }
                    // Shuffle (deterministically from the seed).
                    let mut s = seed;
                    for i in (1..members.len()).rev() {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        members.swap(i, (s >> 33) as usize % (i + 1));
                    }
                    let mut out = Vec::new();
                    style.render(&J::Obj(members), &mut out);
                    out
                },
            )
    }

    /// A top-level array, of 22 values or about.
    fn tuple() -> impl Strategy<Value = Vec<u8>> {
        let values: Vec<BoxedStrategy<J>> = NAMES
            .iter()
            .map(|n| prop_oneof![6 => good(n), 3 => Just(J::Null), 1 => value()].boxed())
            .collect();
        (
            values,
            prop_oneof![8 => Just(0i8), 1 => Just(-1), 1 => Just(1)],
            style(),
        )
            .prop_map(|(mut values, delta, mut style)| {
                match delta {
                    -1 => {
                        values.pop();
                    }
                    1 => values.push(J::Null),
                    _ => {}
                }
                let mut out = Vec::new();
                style.render(&J::Arr(values), &mut out);
                out
            })
    }

    /// Byte sequences that matter to the grammar.
    const SNIPPETS: [&[u8]; 30] = [
        b"\\",
        b"\\u",
        b"\\ud800",
        b"\\udc00",
        b"\\ud83d\\ude00",
        b"\\u00e9",
        b"\"",
        b",",
        b":",
        b"{",
        b"}",
        b"[",
        b"]",
        b" ",
        b"\x00",
        b"\x1f",
        b"\xff",
        b"\xc3",
        b"\xc3\xa9",
        b"\x80",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"null",
        b"-0",
        b"1e999",
        b"0.",
        b"01",
        b",\"type\":\"ticket.closed\"",
        b",\"x\":[1,{\"a\":\"\\ud800\"}]",
        b"9223372036854775808",
    ];

    #[derive(Clone, Debug)]
    enum Edit {
        Set(Index, u8),
        Insert(Index, usize),
        Delete(Index, usize),
        Truncate(Index),
        Copy(Index, Index, usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            3 => (any::<Index>(), 0..SNIPPETS.len()).prop_map(|(i, s)| Edit::Insert(i, s)),
            2 => (any::<Index>(), 1usize..6).prop_map(|(i, n)| Edit::Delete(i, n)),
            1 => any::<Index>().prop_map(Edit::Truncate),
            1 => (any::<Index>(), any::<Index>(), 1usize..40).prop_map(|(a, b, n)| Edit::Copy(a, b, n)),
        ]
    }

    fn apply(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
        for e in edits {
            let n = v.len();
            match e {
                Edit::Set(i, b) if n > 0 => v[i.index(n)] = *b,
                Edit::Insert(i, s) => {
                    let at = i.index(n + 1);
                    v.splice(at..at, SNIPPETS[*s].iter().copied());
                }
                Edit::Delete(i, k) if n > 0 => {
                    let at = i.index(n);
                    v.drain(at..(at + k).min(n));
                }
                Edit::Truncate(i) => v.truncate(i.index(n + 1)),
                Edit::Copy(from, to, k) if n > 0 => {
                    let a = from.index(n);
                    let piece = v[a..(a + k).min(n)].to_vec();
                    let at = to.index(n + 1);
                    v.splice(at..at, piece);
                }
                _ => {}
            }
        }
        v
    }

    /// Bytes mostly from the JSON alphabet.
    fn soup() -> impl Strategy<Value = Vec<u8>> {
        let alphabet =
            b"{}[]\":,\\ \t\n0123456789-+.eEabcdfnlrstu\x00\x1f\x7f\xc3\xa9\xff".to_vec();
        (
            prop_oneof![
                Just(&b""[..]),
                Just(&b"{"[..]),
                Just(&b"{\""[..]),
                Just(&b"["[..])
            ],
            prop::collection::vec(prop::sample::select(alphabet), 0..48),
        )
            .prop_map(|(head, body)| [head, &body].concat())
    }

    /// `cases` per test, or more when `PROPTEST_CASES` asks for more (for a
    /// longer soak).
    fn config(cases: u32) -> ProptestConfig {
        let default = ProptestConfig::default();
        ProptestConfig {
            cases: cases.max(default.cases),
            failure_persistence: None,
            ..default
        }
    }

    proptest! {
        #![proptest_config(config(6000))]

        #[test]
        fn events_agree(line in event()) {
            agree(&line)?;
        }

        #[test]
        fn edited_events_agree(line in event(), edits in prop::collection::vec(edit(), 1..4)) {
            agree(&apply(line, &edits))?;
        }

        #[test]
        fn values_agree(v in value(), field in key(), mut style in style()) {
            let mut out = Vec::new();
            style.render(&J::Obj(vec![(field, v.clone())]), &mut out);
            agree(&out)?;
            out.clear();
            style.render(&v, &mut out);
            agree(&out)?;
        }
    }

    proptest! {
        #![proptest_config(config(3000))]

        #[test]
        fn tuples_agree(line in tuple(), edits in prop::collection::vec(edit(), 0..2)) {
            agree(&apply(line, &edits))?;
        }

        #[test]
        fn bytes_agree(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            agree(&bytes)?;
        }

        #[test]
        fn soup_agrees(bytes in soup()) {
            agree(&bytes)?;
        }
    }

    /// The generators reach the interesting outcomes, not only errors.
    #[test]
    fn generators_reach_valid_events() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let (mut json, mut events) = (0, 0);
        for _ in 0..500 {
            let line = event().new_tree(&mut runner).unwrap().current();
            json += usize::from(scanned_raw(&line).is_ok());
            events += usize::from(decode(&line, MAX).is_ok());
        }
        println!("{json} of 500 generated events are JSON, {events} valid events");
        assert!(json > 250, "{json} of 500 generated events are JSON");
        assert!(events > 100, "{events} of 500 generated events are valid");
    }
}
