//! Cardinality caps (SPEC §5.3): free-string label values are interned to
//! small ids; past the cap (or outside the allow-list) they become `other`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::LabelValue;

/// An interned label value.
pub type LabelId = u16;

/// The id of `unknown` (no value given).
pub const UNKNOWN: LabelId = 0;
/// The id of `other` (over the cap).
pub const OTHER: LabelId = 1;

/// Interns one free-string label (queue or agent) under a cap.
#[derive(Clone, Debug)]
pub struct LabelCap {
    /// Borrowed from the process's [`shared`] text when it has room.
    names: Vec<LabelValue>,
    index: Index,
    max: usize,
    /// With an allow-list, only listed values are ever added.
    allow_list: bool,
    /// Values reported as `other` because of the cap.
    pub overflow: u64,
}

impl LabelCap {
    /// A cap of `max` distinct values, or exactly `allow` when it is not empty.
    pub fn new(max: usize, allow: &[String]) -> LabelCap {
        let mut cap = LabelCap {
            names: vec![Cow::Borrowed("unknown"), Cow::Borrowed("other")],
            index: Index::default(),
            max: max.min(u16::MAX as usize - 2),
            allow_list: !allow.is_empty(),
            overflow: 0,
        };
        cap.index.insert(hash("unknown"), UNKNOWN);
        cap.index.insert(hash("other"), OTHER);
        for a in allow {
            cap.add(a);
        }
        cap
    }

    fn add(&mut self, s: &str) -> LabelId {
        let id = self.names.len() as LabelId;
        self.names.push(shared(s));
        self.index.insert(hash(s), id);
        id
    }

    /// An id for `s` that ignores the cap (queues named by SLA policies).
    pub fn reserve(&mut self, s: &str) -> LabelId {
        match self.index.get(&self.names, s) {
            Some(id) => id,
            None => self.add(s),
        }
    }

    /// The id for a value (`None` is `unknown`).
    pub fn resolve(&mut self, value: Option<&str>) -> LabelId {
        let Some(s) = value else { return UNKNOWN };
        if let Some(id) = self.index.get(&self.names, s) {
            return id;
        }
        if self.allow_list || self.names.len() - 2 >= self.max {
            self.overflow += 1;
            return OTHER;
        }
        self.add(s)
    }

    /// The id for a value, `other` over the cap, without counting the
    /// overflow: for a value stored now and reported later, which counts it
    /// then.
    pub fn intern(&mut self, s: &str) -> LabelId {
        if let Some(id) = self.index.get(&self.names, s) {
            return id;
        }
        if self.allow_list || self.names.len() - 2 >= self.max {
            return OTHER;
        }
        self.add(s)
    }

    /// Ids handed out so far (`unknown` and `other` included).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no id was handed out (never: `unknown` and `other` always exist).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The label text of an id.
    pub fn name(&self, id: LabelId) -> &str {
        &self.names[id as usize]
    }

    /// The label value of an id, to put in a snapshot: borrowed (no copy
    /// of the text) unless the process's shared text was full when the
    /// value was added.
    pub fn value(&self, id: LabelId) -> LabelValue {
        self.names[id as usize].clone()
    }
}

/// Bytes the process's shared label text takes at most ([`shared`]):
/// each value counts its text and [`SHARED_OVERHEAD`].
const SHARED_BYTES: usize = 8 << 20;
/// What a shared value costs beside its text: its allocation's header
/// and rounding, and its slot in the set (a 16-byte `&str` and a control
/// byte, at the set's lowest load).
const SHARED_OVERHEAD: usize = 64;
/// Values longer than this are not shared.
const SHARED_MAX_LEN: usize = 256;

/// Label text shared by every engine of the process, each distinct value
/// stored once for the life of the process: snapshots, published every
/// `http.publish_interval` per partition, and the merged view of a scrape
/// then borrow a capped label's text instead of copying it for every
/// series (and merging compares equal values by address). Bounded by
/// [`SHARED_BYTES`]: past it, and for values over [`SHARED_MAX_LEN`]
/// bytes, a value is kept owned by its cap, as before.
fn shared(s: &str) -> LabelValue {
    static TEXT: Mutex<SharedText> = Mutex::new(SharedText::new(SHARED_BYTES));
    TEXT.lock().unwrap_or_else(PoisonError::into_inner).get(s)
}

/// Distinct label values kept for the life of the process, up to `limit`
/// bytes (text and [`SHARED_OVERHEAD`] per value).
struct SharedText {
    set: Option<HashSet<&'static str>>,
    bytes: usize,
    limit: usize,
}

impl SharedText {
    const fn new(limit: usize) -> SharedText {
        SharedText {
            set: None,
            bytes: 0,
            limit,
        }
    }

    /// `s`, borrowed from the shared text when it is there or fits.
    fn get(&mut self, s: &str) -> LabelValue {
        if s.len() > SHARED_MAX_LEN {
            return Cow::Owned(s.to_string());
        }
        let set = self.set.get_or_insert_with(HashSet::new);
        if let Some(&v) = set.get(s) {
            return Cow::Borrowed(v);
        }
        let cost = s.len() + SHARED_OVERHEAD;
        if self.bytes + cost > self.limit {
            return Cow::Owned(s.to_string());
        }
        // Leaked on purpose: kept for the rest of the process, bounded by `limit`.
        let v: &'static str = Box::leak(s.into());
        set.insert(v);
        self.bytes += cost;
        Cow::Borrowed(v)
    }
}

fn hash(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

/// Whether two label values are equal: values of up to 16 bytes (queue
/// names, most ids) by two compares of overlapping words, inline, rather
/// than a call to `memcmp`.
#[inline]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    macro_rules! ends {
        ($t:ty, $w:expr) => {{
            let word =
                |x: &[u8], i: usize| <$t>::from_le_bytes(x[i..i + $w].try_into().expect("a word"));
            word(a, 0) == word(b, 0) && word(a, n - $w) == word(b, n - $w)
        }};
    }
    match n {
        8..=16 => ends!(u64, 8),
        4..=7 => ends!(u32, 4),
        2..=3 => ends!(u16, 2),
        _ => a == b,
    }
}

/// The ids of a [`LabelCap`]'s values, by the hash of the value (kept
/// with the id, so growing never rehashes a string). Agent and queue
/// labels are interned on most events, so a lookup is one hash, a probe
/// and an inline compare. In a checkpoint it is the map of value to id it
/// replaced.
#[derive(Clone, Debug, Default)]
struct Index(HashTable<(u64, LabelId)>);

impl Index {
    #[inline]
    fn get(&self, names: &[LabelValue], s: &str) -> Option<LabelId> {
        self.0
            .find(hash(s), |&(_, id)| same(&names[id as usize], s))
            .map(|&(_, id)| id)
    }

    fn insert(&mut self, hash: u64, id: LabelId) {
        self.0.insert_unique(hash, (hash, id), |&(h, _)| h);
    }
}

impl Serialize for LabelCap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FormRef {
            names: &self.names,
            index: ByName(&self.names),
            max: self.max,
            allow_list: self.allow_list,
            overflow: self.overflow,
        }
        .serialize(s)
    }
}

/// [`Form`], borrowed, to write.
#[derive(Serialize)]
struct FormRef<'a> {
    names: &'a [LabelValue],
    index: ByName<'a>,
    max: usize,
    allow_list: bool,
    overflow: u64,
}

/// The index as the map it replaced: every value to its id (the index
/// holds every value, so it is the names in id order).
struct ByName<'a>(&'a [LabelValue]);

impl Serialize for ByName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(
            self.0
                .iter()
                .enumerate()
                .map(|(id, name)| (&**name, id as LabelId)),
        )
    }
}

impl<'de> Deserialize<'de> for LabelCap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Form::deserialize(d)?;
        let mut index = Index::default();
        for (name, id) in f.index {
            if f.names.get(id as usize).map(|n| &**n) != Some(&*name) {
                return Err(serde::de::Error::custom(format!(
                    "label {name:?} indexed as {id}, not among the names"
                )));
            }
            index.insert(hash(&name), id);
        }
        Ok(LabelCap {
            names: f.names.iter().map(|n| shared(n)).collect(),
            index,
            max: f.max,
            allow_list: f.allow_list,
            overflow: f.overflow,
        })
    }
}

/// The checkpoint form of a [`LabelCap`].
#[derive(Serialize, Deserialize)]
struct Form {
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, LabelId>,
    max: usize,
    allow_list: bool,
    overflow: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn borrowed(v: &LabelValue) -> Option<*const u8> {
        match v {
            Cow::Borrowed(b) => Some(b.as_ptr()),
            Cow::Owned(_) => None,
        }
    }

    #[test]
    fn caps_of_several_engines_share_one_copy_of_a_value() {
        let (mut a, mut b) = (LabelCap::new(10, &[]), LabelCap::new(10, &[]));
        let (x, y) = (
            a.resolve(Some("shared-label-queue")),
            b.resolve(Some("shared-label-queue")),
        );
        let (va, vb) = (a.value(x), b.value(y));
        assert_eq!((&*va, &*vb), ("shared-label-queue", "shared-label-queue"));
        assert!(borrowed(&va).is_some(), "a snapshot borrows the text");
        assert_eq!(borrowed(&va), borrowed(&vb), "one copy for both caps");
        // A cap read back from a checkpoint shares it too.
        let back: LabelCap = postcard::from_bytes(&postcard::to_stdvec(&a).unwrap()).unwrap();
        assert_eq!(borrowed(&back.value(x)), borrowed(&va));
        let unknown = a.value(UNKNOWN);
        assert!(borrowed(&unknown).is_some() && unknown == "unknown");
    }

    #[test]
    fn shared_text_keeps_to_its_bound() {
        // In statics, as the process's own is: the text is never freed, and
        // stays reachable (memcheck counts nothing as lost).
        static SMALL: Mutex<SharedText> = Mutex::new(SharedText::new(10 + 2 * SHARED_OVERHEAD));
        static ROOMY: Mutex<SharedText> = Mutex::new(SharedText::new(1 << 20));
        let mut t = SMALL.lock().unwrap();
        let a = t.get("abcdef");
        assert!(borrowed(&a).is_some());
        assert_eq!(borrowed(&t.get("abcdef")), borrowed(&a), "found again");
        // 6 + 5 bytes of text > 10: owned, and not counted.
        let b = t.get("ghijk");
        assert_eq!((borrowed(&b), &*b), (None, "ghijk"));
        assert!(borrowed(&t.get("ghij")).is_some(), "6 + 4 fits");
        assert_eq!(t.bytes, 10 + 2 * SHARED_OVERHEAD);
        assert_eq!(borrowed(&t.get("k")), None, "full");
        let long = "x".repeat(SHARED_MAX_LEN + 1);
        let mut roomy = ROOMY.lock().unwrap();
        assert_eq!(borrowed(&roomy.get(&long)), None, "too long to share");
        assert_eq!(roomy.bytes, 0);
    }

    #[test]
    fn caps_after_n_distinct_values() {
        let mut c = LabelCap::new(2, &[]);
        let a = c.resolve(Some("billing"));
        let b = c.resolve(Some("tech"));
        assert_eq!(c.resolve(Some("sales")), OTHER);
        assert_eq!(c.resolve(Some("sales")), OTHER);
        assert_eq!(c.resolve(Some("billing")), a);
        assert_eq!(c.name(b), "tech");
        assert_eq!(c.resolve(None), UNKNOWN);
        assert_eq!(c.name(UNKNOWN), "unknown");
        assert_eq!(c.overflow, 2);
    }

    #[test]
    fn allow_list_is_exact() {
        let mut c = LabelCap::new(200, &["vip".to_string()]);
        let vip = c.resolve(Some("vip"));
        assert_eq!(c.name(vip), "vip");
        assert_eq!(c.resolve(Some("billing")), OTHER);
        assert_eq!(c.overflow, 1);
    }

    #[test]
    fn values_of_every_length_are_told_apart() {
        let mut c = LabelCap::new(100, &[]);
        // Equal lengths that differ only in the first, a middle or the
        // last byte, at every length of the word compares and beyond.
        let values: Vec<String> = (1..=18)
            .chain([40])
            .flat_map(|n| {
                let base = "a".repeat(n);
                let mut v = vec![base.clone()];
                for at in [0, n / 2, n - 1] {
                    let mut b = base.clone().into_bytes();
                    b[at] = b'b';
                    v.push(String::from_utf8(b).unwrap());
                }
                v
            })
            .collect();
        for a in &values {
            for b in &values {
                assert_eq!(same(a, b), a == b, "{a} against {b}");
            }
        }
        let ids: Vec<LabelId> = values.iter().map(|v| c.intern(v)).collect();
        for (v, &id) in values.iter().zip(&ids) {
            assert_eq!(c.intern(v), id, "{v}");
            assert_eq!(c.name(id), v);
        }
        let distinct: std::collections::HashSet<&str> = values.iter().map(|v| &**v).collect();
        let distinct_ids: std::collections::HashSet<LabelId> = ids.iter().copied().collect();
        assert_eq!(distinct_ids.len(), distinct.len());
    }

    #[test]
    fn a_checkpoint_keeps_the_ids() {
        let mut c = LabelCap::new(3, &[]);
        let a = c.resolve(Some("agent-007"));
        let b = c.resolve(Some("a-much-longer-agent-name@example.com"));
        let bytes = postcard::to_stdvec(&c).unwrap();
        // The form written is the form of before: names, and the map of
        // every value to its id.
        let form: Form = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(form.names.len(), 4);
        assert_eq!(form.index.len(), 4);
        assert_eq!(form.index["agent-007"], a);
        assert_eq!(form.index["other"], OTHER);
        let mut back: LabelCap = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.resolve(Some("agent-007")), a);
        assert_eq!(back.intern("a-much-longer-agent-name@example.com"), b);
        assert_eq!(back.resolve(Some("unknown")), UNKNOWN);
        // The cap holds across the restore: one place left, then `other`.
        let d = back.resolve(Some("d"));
        assert_eq!(back.name(d), "d");
        assert_eq!(back.resolve(Some("e")), OTHER);
    }

    #[test]
    fn a_checkpoint_whose_index_names_no_value_is_refused() {
        let form = Form {
            names: vec!["unknown".into(), "other".into()],
            index: [("billing".into(), 1)].into_iter().collect(),
            max: 10,
            allow_list: false,
            overflow: 0,
        };
        let bytes = postcard::to_stdvec(&form).unwrap();
        let err = postcard::from_bytes::<LabelCap>(&bytes).unwrap_err();
        assert!(matches!(err, postcard::Error::SerdeDeCustom), "{err}");
    }
}
