//! Cardinality caps (SPEC §5.3): free-string label values are interned to
//! small ids; past the cap (or outside the allow-list) they become `other`.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// An interned label value.
pub type LabelId = u16;

/// The id of `unknown` (no value given).
pub const UNKNOWN: LabelId = 0;
/// The id of `other` (over the cap).
pub const OTHER: LabelId = 1;

/// Interns one free-string label (queue or agent) under a cap.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LabelCap {
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, LabelId>,
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
            names: vec!["unknown".into(), "other".into()],
            index: FxHashMap::default(),
            max: max.min(u16::MAX as usize - 2),
            allow_list: !allow.is_empty(),
            overflow: 0,
        };
        cap.index.insert("unknown".into(), UNKNOWN);
        cap.index.insert("other".into(), OTHER);
        for a in allow {
            cap.add(a);
        }
        cap
    }

    fn add(&mut self, s: &str) -> LabelId {
        let id = self.names.len() as LabelId;
        self.names.push(s.into());
        self.index.insert(s.into(), id);
        id
    }

    /// An id for `s` that ignores the cap (queues named by SLA policies).
    pub fn reserve(&mut self, s: &str) -> LabelId {
        match self.index.get(s) {
            Some(&id) => id,
            None => self.add(s),
        }
    }

    /// The id for a value (`None` is `unknown`).
    pub fn resolve(&mut self, value: Option<&str>) -> LabelId {
        let Some(s) = value else { return UNKNOWN };
        if let Some(&id) = self.index.get(s) {
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
        if let Some(&id) = self.index.get(s) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
