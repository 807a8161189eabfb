//! Ids in eight bytes: a [`ThinId`] is a short, plain id packed into them
//! ([`pack`]), or a pointer to its text — in a 16-byte slot of
//! [`super::id_pool`] when it has up to 15 bytes, else on the heap — so
//! that a table entry of a 56-byte ticket fills exactly 64 bytes
//! (`super::table`).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::num::NonZeroU64;
use std::ptr::NonNull;

use super::held_ids;
use super::id_pool;

/// An immutable id in eight bytes: packed into them when it is short and
/// plain ([`pack`]), else behind one pointer to its length (one byte below
/// 255, else 255 and four bytes) and its bytes.
///
/// The low bit tells them apart: 1 for a packed id, 0 for a pointer (pool
/// slots are 16-byte aligned, longer ids 2-byte aligned). An id that packs
/// is always packed, so two ids are equal exactly when their eight bytes
/// are, or both point to equal text.
pub struct ThinId(NonZeroU64);

// SAFETY: a ThinId owns its allocation (if any) and never changes it after
// `new`; sharing or sending it is like sharing or sending a `Box<str>`.
unsafe impl Send for ThinId {}
unsafe impl Sync for ThinId {}

/// First byte of a header whose length follows as a `u32`.
const LONG: u8 = u8::MAX;

fn header_len(len: usize) -> usize {
    if len < LONG as usize {
        1
    } else {
        5
    }
}

/// The longest id [`pack`] packs.
pub const PACKED_LEN: usize = 10;

/// The 63 bytes a packed id may hold, by their 6-bit code less one (code
/// 0 ends an id shorter than [`PACKED_LEN`]): the digits, the letters and
/// `-`, what ticket and call ids of helpdesks and call centres are made of
/// (`48213`, `T-00012345`, `INC0012345`, `SUP-4411`).
const PACKED_BYTES: &[u8; 63] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Each byte's 6-bit code, 0 for a byte a packed id cannot hold.
const CODES: [u8; 256] = {
    let mut c = [0u8; 256];
    let mut i = 0;
    while i < PACKED_BYTES.len() {
        c[PACKED_BYTES[i] as usize] = i as u8 + 1;
        i += 1;
    }
    c
};

/// `id` packed into eight bytes (bit 0 set, then six bits per byte from
/// bit 1), when it has at most [`PACKED_LEN`] bytes, all of
/// [`PACKED_BYTES`]. Such an id costs no allocation, and a lookup compares
/// it without reading memory elsewhere: in a table larger than the caches,
/// one miss less per event (docs/performance.md, "Cost as state grows").
#[inline]
pub fn pack(id: &str) -> Option<NonZeroU64> {
    let b = id.as_bytes();
    if b.len() > PACKED_LEN {
        return None;
    }
    let mut v = 1u64;
    for (i, &c) in b.iter().enumerate() {
        let code = CODES[c as usize];
        if code == 0 {
            return None;
        }
        v |= u64::from(code) << (1 + 6 * i);
    }
    NonZeroU64::new(v)
}

/// The bytes of a packed id (`v` from [`pack`]) and their number.
#[inline]
fn unpack(v: u64) -> ([u8; PACKED_LEN], usize) {
    let mut out = [0u8; PACKED_LEN];
    let mut v = v >> 1;
    let mut n = 0;
    while v != 0 {
        out[n] = PACKED_BYTES[(v & 63) as usize - 1];
        v >>= 6;
        n += 1;
    }
    (out, n)
}

impl ThinId {
    fn layout(len: usize) -> Layout {
        // Aligned to 2, so the low bit of the address is free for the tag.
        Layout::from_size_align(header_len(len) + len, 2).expect("an id's length fits a layout")
    }

    /// Copies `s` (at most 4 GiB; event ids are far shorter).
    pub fn new(s: &str) -> ThinId {
        Self::keyed(Key::of(s), s)
    }

    /// [`ThinId::new`] with `s`'s [`Key`] at hand.
    pub(super) fn keyed(key: Key<'_>, s: &str) -> ThinId {
        if let Key::Packed(v) = key {
            return ThinId(v);
        }
        let len = u32::try_from(s.len()).expect("ids are shorter than 4 GiB");
        let layout = Self::layout(s.len());
        let p = if layout.size() <= id_pool::SLOT {
            id_pool::take()
        } else {
            // SAFETY: the layout is at least one byte, never zero-sized.
            let p = unsafe { alloc(layout) };
            let Some(p) = NonNull::new(p) else {
                handle_alloc_error(layout)
            };
            p
        };
        // SAFETY: `p` is valid for header + len bytes; `s` lies in another
        // allocation; the u32 is written unaligned.
        unsafe {
            let h = header_len(s.len());
            if h == 1 {
                p.as_ptr().write(len as u8);
            } else {
                p.as_ptr().write(LONG);
                p.as_ptr().add(1).cast::<u32>().write_unaligned(len);
            }
            std::ptr::copy_nonoverlapping(s.as_ptr(), p.as_ptr().add(h), s.len());
        }
        ThinId(addr_bits(p))
    }

    /// The id.
    #[inline]
    pub fn as_str(&self) -> IdStr<'_> {
        // SAFETY: `self` owns the id and lives as long as the borrow.
        unsafe { IdStr::of(self.0) }
    }

    /// Its eight bytes (what a frozen copy keeps, see `super::table`).
    #[inline]
    pub(super) fn bits(&self) -> NonZeroU64 {
        self.0
    }

    /// Where its text is, for an id that is not packed.
    #[inline]
    pub(super) fn addr(&self) -> Option<NonNull<u8>> {
        bits_addr(self.0)
    }
}

/// A pointer's bits as a [`ThinId`]'s (its low bit is 0: aligned to 2).
fn addr_bits(p: NonNull<u8>) -> NonZeroU64 {
    let v = NonZeroU64::new(p.as_ptr() as usize as u64).expect("not null");
    debug_assert!(v.get() & 1 == 0, "ids are aligned to 2");
    v
}

/// The address in a [`ThinId`]'s bits, unless they are a packed id.
#[inline]
pub(super) fn bits_addr(v: NonZeroU64) -> Option<NonNull<u8>> {
    if v.get() & 1 == 1 {
        None
    } else {
        NonNull::new(v.get() as usize as *mut u8)
    }
}

/// The text of a [`ThinId`], read where it is: unpacked into the value
/// itself, or borrowed from the id's allocation.
#[derive(Clone, Copy)]
pub struct IdStr<'a> {
    text: IdText<'a>,
}

#[derive(Clone, Copy)]
enum IdText<'a> {
    Packed([u8; PACKED_LEN], u8),
    At(&'a str),
}

impl<'a> IdStr<'a> {
    /// # Safety
    /// `v` is the bits of a [`ThinId`] (or of a frozen copy's) whose text,
    /// if not packed, is not freed while the result lives.
    #[inline]
    pub(super) unsafe fn of(v: NonZeroU64) -> IdStr<'a> {
        let text = match bits_addr(v) {
            None => {
                let (b, n) = unpack(v.get());
                IdText::Packed(b, n as u8)
            }
            // SAFETY: the caller's promise.
            Some(p) => IdText::At(unsafe { str_at(p) }),
        };
        IdStr { text }
    }
}

impl std::ops::Deref for IdStr<'_> {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        match &self.text {
            // SAFETY: unpacked from PACKED_BYTES, all ASCII.
            IdText::Packed(b, n) => unsafe { std::str::from_utf8_unchecked(&b[..*n as usize]) },
            IdText::At(s) => s,
        }
    }
}

impl PartialEq for IdStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for IdStr<'_> {}

impl PartialOrd for IdStr<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdStr<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl PartialEq<str> for IdStr<'_> {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl PartialEq<&str> for IdStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

impl fmt::Debug for IdStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An id being looked up, in the form the table's ids are compared with.
#[derive(Clone, Copy)]
pub(super) enum Key<'a> {
    Packed(NonZeroU64),
    Text(&'a str),
}

impl<'a> Key<'a> {
    #[inline]
    pub(super) fn of(id: &'a str) -> Key<'a> {
        pack(id).map_or(Key::Text(id), Key::Packed)
    }

    /// Whether `t` is this id: its eight bytes for a packed one (no read
    /// elsewhere); for another, the text behind `t` unless `t` is packed.
    #[inline]
    pub(super) fn matches(self, t: &ThinId) -> bool {
        match self {
            Key::Packed(v) => t.0 == v,
            Key::Text(s) => t.addr().is_some_and(|p| {
                // SAFETY: `t` owns the id at `p`, borrowed here.
                unsafe { str_at(p) == s }
            }),
        }
    }
}

/// Header and string lengths of the id at `p`.
///
/// # Safety
/// `p` is the address of an id made by [`ThinId::new`], not yet freed.
unsafe fn lens(p: NonNull<u8>) -> (usize, usize) {
    // SAFETY: `new` wrote the header at the start of the allocation.
    unsafe {
        match p.as_ptr().read() {
            LONG => (5, p.as_ptr().add(1).cast::<u32>().read_unaligned() as usize),
            n => (1, n as usize),
        }
    }
}

/// The id at `p`.
///
/// # Safety
/// As [`lens`], and the id is not freed while the string is used.
unsafe fn str_at<'a>(p: NonNull<u8>) -> &'a str {
    // SAFETY: `new` copied `len` bytes of a `&str` after the header; they
    // are valid UTF-8 and live until the id is freed.
    unsafe {
        let (h, len) = lens(p);
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(p.as_ptr().add(h), len))
    }
}

/// Frees the id at `p` (to the pool, or to the heap when long).
///
/// # Safety
/// As [`lens`]; nothing reads it afterwards, and it is freed once.
pub(super) unsafe fn free_id(p: NonNull<u8>) {
    // SAFETY: the caller's promise.
    let layout = ThinId::layout(unsafe { lens(p) }.1);
    if layout.size() <= id_pool::SLOT {
        // SAFETY: `new` took this slot from the pool for this id alone.
        unsafe { id_pool::give(p) }
    } else {
        // SAFETY: allocated by `new` with this very layout.
        unsafe { dealloc(p.as_ptr(), layout) }
    }
}

impl Drop for ThinId {
    fn drop(&mut self) {
        let Some(p) = self.addr() else {
            return;
        };
        // A frozen copy of its table may still read it.
        if held_ids::hold_back(p) {
            return;
        }
        // SAFETY: `self` owns the id, and this is its one drop.
        unsafe { free_id(p) }
    }
}

impl Clone for ThinId {
    fn clone(&self) -> ThinId {
        match self.addr() {
            None => ThinId(self.0),
            Some(_) => ThinId::new(&self.as_str()),
        }
    }
}

impl fmt::Debug for ThinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_ids_keep_their_text() {
        let long = |n: usize| "ü".repeat(n / 2) + &"x".repeat(n % 2);
        for s in [
            String::new(),
            "T1".into(),
            "ü-ticket-😀".into(),
            long(254),
            long(255),
            long(256),
            long(100_000),
        ] {
            let s = s.as_str();
            let id = ThinId::new(s);
            assert_eq!(id.as_str(), s);
            assert_eq!(id.clone().as_str(), s);
        }
        assert_eq!(std::mem::size_of::<IdStr<'_>>(), 24);
        assert_eq!(std::mem::size_of::<ThinId>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinId>>(), 8);
    }

    #[test]
    fn pooled_and_heap_ids_live_side_by_side() {
        // Lengths around the pool's slot (15 bytes and its header fit, 16
        // do not), all alive at once, dropped in an interleaved order and
        // made again into the freed slots. (`_` is not packed: every one
        // of these but the empty one is in the pool or on the heap.)
        let text = |n: usize, i: usize| format!("_{i:x}").repeat(n)[..n].to_string();
        let mut ids: Vec<(String, ThinId)> = (0..200)
            .map(|i| {
                let s = text(i % 20, i);
                let id = ThinId::new(&s);
                (s, id)
            })
            .collect();
        for (s, id) in &ids {
            assert_eq!(*id.as_str(), **s);
            assert!(id.addr().is_some() || s.is_empty(), "{s:?}");
        }
        let mut i = 0;
        ids.retain(|_| {
            i += 1;
            i % 3 != 0
        });
        let again: Vec<(String, ThinId)> = (0..100)
            .map(|i| {
                let s = text(i % 20, 1000 + i);
                let id = ThinId::new(&s);
                (s, id)
            })
            .collect();
        for (s, id) in ids.iter().chain(&again) {
            assert_eq!(*id.as_str(), **s);
        }
    }

    #[test]
    fn short_plain_ids_are_packed_and_others_are_not() {
        let packed = [
            "",
            "7",
            "48213",
            "T-00012345",
            "INC0012345",
            "SUP-4411",
            "zZ-09azAZ-",
            "----------",
        ];
        for s in packed {
            let id = ThinId::new(s);
            assert!(id.addr().is_none(), "{s:?} is packed");
            assert_eq!(id.as_str(), s);
            assert_eq!(id.clone().as_str(), s);
            assert_eq!(pack(s), Some(id.0));
        }
        let not = [
            "T-000123456",
            "T_1",
            "T 1",
            "T.1",
            "ü",
            "a1b2c3d4e5f",
            "0d1f4a2e-7b3c-4e5f-9a8b-1c2d3e4f5a6b",
        ];
        for s in not {
            let id = ThinId::new(s);
            assert!(id.addr().is_some(), "{s:?} is not packed");
            assert_eq!(pack(s), None);
            assert_eq!(id.as_str(), s);
        }
        // Every byte of the alphabet at every position, and no two texts
        // with one packing.
        let mut seen = std::collections::HashMap::new();
        for (i, &b) in PACKED_BYTES.iter().enumerate() {
            for n in 1..=PACKED_LEN {
                let s: String = (0..n)
                    .map(|k| PACKED_BYTES[(i + 7 * k) % PACKED_BYTES.len()] as char)
                    .collect();
                assert_eq!(s.as_bytes()[0], b);
                let v = pack(&s).expect("packs");
                assert_eq!(ThinId::new(&s).as_str(), *s);
                assert_eq!(seen.insert(v, s.clone()), None, "{s:?}");
            }
        }
    }
}
