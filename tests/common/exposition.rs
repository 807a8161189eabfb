//! The one Prometheus text (0.0.4) parser of the integration tests: a
//! malformed line fails the test, label values are unescaped.
//!
//! [`sample_line`] reads one line strictly and reports what is wrong with
//! it (the property tests check expositions with it); [`parse`] reads a
//! whole exposition into series; [`values`] keys them as text
//! (`name{a="x",b="y"}`, labels sorted) for tests that compare or sum
//! expositions, and [`split_key`] reads such a key back.

use std::collections::{BTreeMap, BTreeSet};

/// A series' labels, unescaped.
pub type Labels = BTreeSet<(String, String)>;
/// (name, labels) → value as written.
pub type Series = BTreeMap<(String, Labels), String>;
/// One line read: the name, the labels in the order written, and the
/// text after them (for a sample line, its value as written).
pub type Line<'a> = (String, Vec<(String, String)>, &'a str);

/// Parses Prometheus text format 0.0.4 into (name, label set) → value.
/// Comment lines are skipped; a malformed line fails the test.
pub fn parse(text: &str) -> Series {
    let mut out = Series::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = sample_line(line).unwrap_or_else(|e| panic!("{e}"));
        let prev = out.insert((name, labels.into_iter().collect()), value.to_string());
        assert!(prev.is_none(), "series appears twice: {line}");
    }
    out
}

/// One sample line, `name{labels} value`: the name, the labels in the
/// order written (values unescaped) and the value as written. Strict: the
/// metric and label names must be valid, label values quoted with only the
/// `\\`, `\"` and `\n` escapes, and one space must separate the value, with
/// nothing (no timestamp) after it.
pub fn sample_line(line: &str) -> Result<Line<'_>, String> {
    let (name, labels, rest) = series_part(line)?;
    let v = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space before the value: {line}"))?;
    if v.is_empty() || v.contains(' ') {
        return Err(format!("more than a value after the labels: {line}"));
    }
    Ok((name, labels, v))
}

/// The name and labels at the start of `line`, and what follows them.
fn series_part(line: &str) -> Result<Line<'_>, String> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_name(name, true) {
        return Err(format!("bad metric name `{name}`: {line}"));
    }
    let mut labels = Vec::new();
    let Some(mut r) = line[name_end..].strip_prefix('{') else {
        return Ok((name.to_string(), labels, &line[name_end..]));
    };
    loop {
        if let Some(after) = r.strip_prefix('}') {
            return Ok((name.to_string(), labels, after));
        }
        let eq = r.find('=').ok_or_else(|| format!("bad labels: {line}"))?;
        let lname = &r[..eq];
        if !valid_name(lname, false) {
            return Err(format!("bad label name `{lname}`: {line}"));
        }
        let r2 = r[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| format!("unquoted label value: {line}"))?;
        let mut value = String::new();
        let mut chars = r2.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("unterminated label value: {line}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err(format!("bad escape: {line}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((lname.to_string(), value));
        r = &r2[end + 1..];
        if let Some(after) = r.strip_prefix(',') {
            r = after;
        } else if !r.starts_with('}') {
            return Err(format!("expected , or }} in labels: {line}"));
        }
    }
}

/// A metric name (`colon`: colons allowed) or a label name.
pub fn valid_name(s: &str, colon: bool) -> bool {
    let mut cs = s.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
    match cs.next() {
        Some(c) if ok_first(c) => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

/// The series of an exposition by key (see [`key`]), values as numbers.
pub fn values(text: &str) -> BTreeMap<String, f64> {
    parse(text)
        .into_iter()
        .map(|((name, labels), v)| {
            let n: f64 = v.parse().unwrap_or_else(|e| panic!("{name} = {v}: {e}"));
            (key(&name, &labels), n)
        })
        .collect()
}

/// A series as text: `name{a="x",b="y"}` with the labels sorted and their
/// values escaped as exported, or `name` alone.
pub fn key(name: &str, labels: &Labels) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let body: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", body.join(","))
}

/// A key (see [`key`]) split back into its name and labels, unescaped.
pub fn split_key(key: &str) -> (String, Labels) {
    match series_part(key) {
        Ok((name, labels, "")) => (name, labels.into_iter().collect()),
        Ok(_) => panic!("more than a series key: {key}"),
        Err(e) => panic!("{e}"),
    }
}

/// The sum of every series named `name` (e.g. `support_contacts_total`,
/// whatever its labels); `None` when there is none.
pub fn sum(text: &str, name: &str) -> Option<f64> {
    let series = parse(text);
    let values: Vec<f64> = series
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| {
            v.parse::<f64>()
                .unwrap_or_else(|e| panic!("{name} = {v}: {e}"))
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}
