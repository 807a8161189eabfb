//! The families one scrape asks for: `/metrics?name[]=…` (the parameter
//! the Prometheus Python client's exposition takes; parsed by
//! [`crate::server`]). A scrape config's `params`
//! or a `curl` can then read a few families without the merge and encode of
//! every series.

use super::{Family, Kind};

/// Which families an exposition carries: every one, or those named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Only {
    /// `None`: every family. Otherwise the names asked for, each a
    /// family's name or one of its sample names (`…_total`, `…_bucket`).
    names: Option<Vec<String>>,
}

/// The sample names a family of `kind` adds to its own name.
fn suffixes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Counter => &["_total"],
        Kind::Histogram => &["_bucket", "_sum", "_count"],
        Kind::Gauge => &[],
    }
}

impl Only {
    /// Every family.
    pub fn all() -> Only {
        Only::default()
    }

    /// The families `names` names (a scrape's `name[]` parameters); every
    /// family when it names none. Empty names are ignored.
    pub fn names(names: impl IntoIterator<Item = String>) -> Only {
        let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
        Only {
            names: (!names.is_empty()).then_some(names),
        }
    }

    /// Whether every family is wanted.
    pub fn is_all(&self) -> bool {
        self.names.is_none()
    }

    /// Whether the family `name` of `kind` is wanted: asked for by its
    /// name or by one of its sample names.
    pub fn wants(&self, name: &str, kind: Kind) -> bool {
        let Some(names) = &self.names else {
            return true;
        };
        names.iter().any(|n| {
            n == name
                || suffixes(kind)
                    .iter()
                    .any(|s| n.strip_suffix(s) == Some(name))
        })
    }

    /// Whether any of the window families is wanted (the partitions'
    /// window data is merged and rendered only then).
    pub fn wants_windows(&self) -> bool {
        super::windows::FAMILIES
            .iter()
            .any(|d| self.wants(d.name, d.kind))
    }

    /// Whether `f` is wanted.
    pub fn wants_family(&self, f: &Family) -> bool {
        self.wants(f.name, f.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_names_is_every_family() {
        for names in [vec![], vec![String::new()]] {
            assert!(Only::names(names).is_all());
        }
        assert!(Only::all().wants("anything", Kind::Gauge));
        let o = Only::names(["a".to_string(), String::new()]);
        assert!(!o.is_all());
        assert!(o.wants("a", Kind::Gauge) && !o.wants("b", Kind::Gauge));
    }

    #[test]
    fn a_family_is_wanted_by_its_name_or_one_of_its_sample_names() {
        let q = |n: &str| Only::names([n.to_string()]);
        assert!(q("h_seconds").wants("h_seconds", Kind::Histogram));
        for s in ["_bucket", "_sum", "_count"] {
            assert!(q(&format!("h_seconds{s}")).wants("h_seconds", Kind::Histogram));
            assert!(!q(&format!("h_seconds{s}")).wants("h_seconds", Kind::Gauge));
        }
        assert!(q("c").wants("c", Kind::Counter));
        assert!(q("c_total").wants("c", Kind::Counter));
        assert!(!q("c_total").wants("c", Kind::Gauge));
        assert!(!q("c_bucket").wants("c", Kind::Counter));
        // A gauge whose own name ends like a sample name is found by it.
        assert!(q("agents_count").wants("agents_count", Kind::Gauge));
        assert!(!q("agents_count").wants("agents", Kind::Gauge));
    }
}
