//! The dependency rules `src/lib.rs` states, checked on the source: data
//! flows one way, the engine fills the metric model and never imports a
//! driver, the model and the export never import the engine, and no two
//! modules import each other, directly or around a cycle. A `crate::x`
//! path outside comments and test code counts as an import of `x`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// What the core modules may import (besides themselves); everything else
/// is only required to be acyclic.
const ALLOWED: &[(&str, &[&str])] = &[
    ("names", &[]),
    ("calendar", &[]),
    ("event", &[]),
    ("decode", &["event"]),
    ("config", &["calendar", "event", "names"]),
    ("metrics", &["config", "names"]),
    ("export", &["metrics", "names"]),
    (
        "engine",
        &["calendar", "config", "decode", "event", "metrics", "names"],
    ),
];

/// The top-level modules each top-level module imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    for f in files {
        let rel = f
            .strip_prefix("src")
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let name = rel.rsplit('/').next().unwrap_or_default();
        if rel == "lib.rs" || rel == "main.rs" || name == "tests.rs" || name.ends_with("_tests.rs")
        {
            continue;
        }
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let text = fs::read_to_string(&f).unwrap();
        let code = text.split("\n#[cfg(test)]").next().unwrap();
        let deps = g.entry(top.clone()).or_default();
        for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let m: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !m.is_empty() && m != top {
                    deps.insert(m);
                }
            }
        }
    }
    g
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A cycle through `from`, if there is one.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        g: &BTreeMap<String, BTreeSet<String>>,
        goal: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if next == goal {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, goal, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_string()];
    walk(g, from, from, &mut path, &mut BTreeSet::new()).then(|| {
        path.push(from.to_string());
        path
    })
}

#[test]
fn no_module_imports_back_around_a_cycle() {
    let g = graph();
    assert!(
        g.contains_key("engine") && g.contains_key("source"),
        "read the modules: {g:?}"
    );
    let cycles: Vec<String> = g
        .keys()
        .filter_map(|m| cycle(&g, m))
        .map(|c| c.join(" → "))
        .collect();
    assert!(
        cycles.is_empty(),
        "modules importing each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_core_imports_only_what_lib_rs_says() {
    let g = graph();
    let mut wrong = Vec::new();
    for (m, allowed) in ALLOWED {
        let deps = g.get(*m).unwrap_or_else(|| panic!("no module {m}"));
        for d in deps.iter().filter(|d| !allowed.contains(&d.as_str())) {
            wrong.push(format!("{m} imports {d}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_imports_and_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&g, "a"), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g, "a").unwrap().join(" "), "a b c a");
    // The real graph has edges (the engine fills the model).
    assert!(graph()["engine"].contains("metrics"));
}
