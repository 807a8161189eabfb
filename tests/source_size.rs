//! Size limits of the source (issue 13): no function over
//! [`MAX_FN_LINES`] lines and no file over [`MAX_FILE_LINES`] lines, tests
//! aside, so that each file reads as one subject and each function as one
//! step. Checked under [`CHECKED`]; the scanner's state machine and tables
//! are the listed exceptions.
//!
//! The reading is textual and relies on `cargo fmt` layout: a function
//! starts at a line `fn name` (after any visibility and qualifiers) and
//! ends at the first line after it that is a closing brace at its own
//! indentation.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories (or files) under the crate root whose `.rs` files are
/// checked. Extending the check to the whole crate is `&["src"]`.
const CHECKED: &[&str] = &["src"];

/// Longest function, in lines from `fn` to its closing brace.
const MAX_FN_LINES: usize = 80;

/// Longest file, in lines before its `#[cfg(test)] mod` (if any).
const MAX_FILE_LINES: usize = 700;

/// Files exempt from the file-length limit, with the reason.
const LONG_FILES: &[(&str, &str)] = &[(
    "src/decode/scan.rs",
    "the scanner's state machine reads best in one place",
)];

/// Functions exempt from the function-length limit (file, name), with the
/// reason: tables, whose length is their content.
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[];

/// A source file to check: its path relative to the crate root and its
/// lines outside tests.
struct Source {
    path: String,
    lines: Vec<String>,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in CHECKED {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .filter(|p| !is_test_file(p))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let path = p
                .strip_prefix(root)
                .expect("under the crate root")
                .to_string_lossy()
                .replace('\\', "/");
            Source {
                path,
                lines: outside_tests(&text),
            }
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            collect(&entry.expect("directory entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// A file that holds only tests (`tests.rs`, `*_tests.rs`).
fn is_test_file(p: &Path) -> bool {
    let name = p.file_stem().map(|s| s.to_string_lossy().into_owned());
    name.is_some_and(|n| n == "tests" || n.ends_with("_tests"))
}

/// The lines of `text` before its inline test module: a top-level
/// `#[cfg(test)]` line followed by `mod name {` (the house style puts it
/// last). A test module in a file of its own (`mod tests;`) is not cut:
/// its file is skipped by [`is_test_file`].
fn outside_tests(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i] == "#[cfg(test)]"
                && lines
                    .get(i + 1)
                    .is_some_and(|l| l.starts_with("mod ") && l.trim_end().ends_with('{'))
        })
        .unwrap_or(lines.len());
    lines[..end].iter().map(|l| l.to_string()).collect()
}

/// The name of the function a line declares, if it does.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    for qualifier in ["const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Every function with a body in `lines`: (name, first line index, length).
fn functions(lines: &[String]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let indent = line.len() - line.trim_start().len();
        if line.trim_end().ends_with('}') {
            out.push((name.to_string(), start, 1));
            continue;
        }
        // A declaration without a body (in a trait) ends with `;` before
        // any line opens a block.
        let body = lines[start..]
            .iter()
            .find(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
            .is_some_and(|l| l.trim_end().ends_with('{'));
        if !body {
            continue;
        }
        let closing = format!("{}}}", " ".repeat(indent));
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_end() == closing)
            .map(|i| start + 1 + i);
        if let Some(end) = end {
            out.push((name.to_string(), start, end - start + 1));
        }
    }
    out
}

#[test]
fn no_source_file_is_too_long() {
    let too_long: Vec<String> = sources()
        .iter()
        .filter(|s| !LONG_FILES.iter().any(|(p, _)| *p == s.path))
        .filter(|s| s.lines.len() > MAX_FILE_LINES)
        .map(|s| format!("{}: {} lines", s.path, s.lines.len()))
        .collect();
    assert!(
        too_long.is_empty(),
        "files over {MAX_FILE_LINES} lines outside tests (split them by subject):\n{}",
        too_long.join("\n")
    );
}

#[test]
fn no_function_is_too_long() {
    let mut too_long = Vec::new();
    for s in sources() {
        for (name, start, len) in functions(&s.lines) {
            let exempt = LONG_FUNCTIONS
                .iter()
                .any(|(p, n, _)| *p == s.path && *n == name);
            if len > MAX_FN_LINES && !exempt {
                too_long.push(format!("{}:{} fn {name}: {len} lines", s.path, start + 1));
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "functions over {MAX_FN_LINES} lines outside tests (split them into named steps):\n{}",
        too_long.join("\n")
    );
}

/// The reading itself: finds functions, their lengths and declarations
/// without a body, and cuts the test module off.
#[test]
fn the_reader_measures_what_it_claims() {
    let text = "\
#[cfg(test)]
mod sla_event_tests;

pub trait T {
    fn declared(&self) -> u8;
}

impl T for X {
    pub(super) fn declared(
        &self,
    ) -> u8 {
        let x = {
            1
        };
        x
    }
    fn one_line(&self) -> u8 { 1 }
}

#[cfg(test)]
mod tests {
    fn hidden() {}
}
";
    let lines = outside_tests(text);
    assert_eq!(lines.len(), 19);
    assert_eq!(
        functions(&lines),
        vec![
            ("declared".to_string(), 8, 8),
            ("one_line".to_string(), 16, 1)
        ]
    );
    assert!(is_test_file(Path::new("src/engine/sla_event_tests.rs")));
    assert!(!is_test_file(Path::new("src/engine/tickets.rs")));
}
