//! The one Prometheus text (0.0.4) parser of the integration tests: a
//! malformed line fails the test, label values are unescaped.

use std::collections::{BTreeMap, BTreeSet};

/// A series' labels, unescaped.
pub type Labels = BTreeSet<(String, String)>;
/// (name, labels) → value as written.
pub type Series = BTreeMap<(String, Labels), String>;

/// Parses Prometheus text format 0.0.4 into (name, label set) → value.
/// Comment lines are skipped; a malformed line fails the test.
pub fn parse(text: &str) -> Series {
    let mut out = Series::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i..]),
            None => {
                let (n, v) = line.split_once(' ').expect("sample line has a value");
                (n, v)
            }
        };
        let (labels, value) = if let Some(body) = rest.strip_prefix('{') {
            let end =
                label_block_end(body).unwrap_or_else(|| panic!("unterminated labels: {line}"));
            (parse_labels(&body[..end]), body[end + 1..].trim())
        } else {
            (Labels::new(), rest.trim())
        };
        // A timestamp after the value is not expected from either side.
        assert!(!value.contains(' '), "unexpected timestamp or junk: {line}");
        let prev = out.insert((name.to_string(), labels), value.to_string());
        assert!(prev.is_none(), "series appears twice: {line}");
    }
    out
}

fn label_block_end(body: &str) -> Option<usize> {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            '}' if !in_str => return Some(i),
            _ => {}
        }
    }
    None
}

pub fn parse_labels(body: &str) -> Labels {
    let mut labels = Labels::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label has a quoted value");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, e) = chars.next().expect("escape");
                    value.push(match e {
                        'n' => '\n',
                        other => other,
                    });
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.expect("closing quote");
        labels.insert((key.trim_start_matches(',').to_string(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
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
