//! A backfill family's spool, written step after step, regrouped by series
//! for strict OpenMetrics ("Metrics MUST NOT be interleaved"): each series'
//! samples together and in time order, the series in the order they first
//! appear. A histogram's buckets, `_count` and `_sum` of one label set are
//! one series.
//!
//! An external merge sort, so memory stays bounded whatever the number of
//! steps: runs of at most `run_bytes` of lines are sorted in memory by the
//! series' rank (stably, so time order holds within a run) and written to
//! files beside the spool; the runs are then merged, ties going to the
//! earlier run (earlier steps). A spool within one run is sorted in memory
//! and written at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

/// Bytes of lines sorted in memory at once.
pub(super) const RUN_BYTES: usize = 64 << 20;

/// Writes the lines of `spool` to `out` grouped by series, sorting runs of
/// at most `run_bytes` in memory (run files go to `dir`, removed after).
pub(super) fn regroup(
    spool: &Path,
    dir: &Path,
    run_bytes: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, File::open(spool)?);
    let mut ranks: FxHashMap<Vec<u8>, u32> = FxHashMap::default();
    let mut run = Run::default();
    let mut runs: Vec<RunFile> = Vec::new();
    let name = spool
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let run_path = |n: usize| dir.join(format!("{name}.run{n}"));
    let (mut line, mut key) = (Vec::new(), Vec::new());
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        series_key(&line, &mut key);
        let rank = match ranks.get(key.as_slice()) {
            Some(&r) => r,
            None => {
                let r = ranks.len() as u32;
                ranks.insert(key.clone(), r);
                r
            }
        };
        run.push(rank, &line);
        if run.bytes.len() >= run_bytes {
            runs.push(run.write_sorted(run_path(runs.len()))?);
        }
    }
    if runs.is_empty() {
        return run.sorted(out);
    }
    if !run.lines.is_empty() {
        runs.push(run.write_sorted(run_path(runs.len()))?);
    }
    merge(&mut runs, out)
}

/// Lines held in memory: each its series' rank and its place in `bytes`.
#[derive(Default)]
struct Run {
    lines: Vec<(u32, usize, usize)>,
    bytes: Vec<u8>,
}

impl Run {
    fn push(&mut self, rank: u32, line: &[u8]) {
        self.lines.push((rank, self.bytes.len(), line.len()));
        self.bytes.extend_from_slice(line);
    }

    /// Writes the lines grouped by rank (stable), and empties the run.
    fn sorted(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.lines.sort_by_key(|l| l.0);
        for &(_, at, len) in &self.lines {
            out.write_all(&self.bytes[at..at + len])?;
        }
        self.lines.clear();
        self.bytes.clear();
        Ok(())
    }

    /// Writes the lines sorted to a run file at `path`, each as its rank,
    /// its length and its bytes.
    fn write_sorted(&mut self, path: PathBuf) -> io::Result<RunFile> {
        self.lines.sort_by_key(|l| l.0);
        let mut w = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        for &(rank, at, len) in &self.lines {
            w.write_all(&rank.to_le_bytes())?;
            w.write_all(&(len as u32).to_le_bytes())?;
            w.write_all(&self.bytes[at..at + len])?;
        }
        w.into_inner().map_err(io::IntoInnerError::into_error)?;
        self.lines.clear();
        self.bytes.clear();
        let r = BufReader::with_capacity(1 << 16, File::open(&path)?);
        Ok(RunFile {
            path,
            r,
            line: Vec::new(),
        })
    }
}

/// A sorted run on disk (removed when dropped) and its current line.
struct RunFile {
    path: PathBuf,
    r: BufReader<File>,
    line: Vec<u8>,
}

impl Drop for RunFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl RunFile {
    /// The next line's rank, its bytes in `self.line`; `None` at the end.
    fn next(&mut self) -> io::Result<Option<u32>> {
        let mut head = [0u8; 8];
        match self.r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let rank = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(head[4..].try_into().expect("4 bytes")) as usize;
        self.line.resize(len, 0);
        self.r.read_exact(&mut self.line)?;
        Ok(Some(rank))
    }
}

/// Merges sorted runs: the lowest rank first, ties to the earlier run.
fn merge(runs: &mut [RunFile], out: &mut dyn Write) -> io::Result<()> {
    let mut heap = BinaryHeap::new();
    for (i, r) in runs.iter_mut().enumerate() {
        if let Some(rank) = r.next()? {
            heap.push(Reverse((rank, i)));
        }
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        out.write_all(&runs[i].line)?;
        if let Some(rank) = runs[i].next()? {
            heap.push(Reverse((rank, i)));
        }
    }
    Ok(())
}

/// A sample line's series into `key`: its label pairs without `le`, as
/// written (a line without labels has the empty key).
fn series_key(line: &[u8], key: &mut Vec<u8>) {
    key.clear();
    let Some(open) = line.iter().position(|&b| b == b'{') else {
        return;
    };
    let mut i = open + 1;
    while i < line.len() && line[i] != b'}' {
        let start = i;
        while i < line.len() && line[i] != b'=' {
            i += 1;
        }
        let name = &line[start..i];
        // `="`, then the value up to its unescaped closing quote.
        i += 2;
        while i < line.len() && line[i] != b'"' {
            i += if line[i] == b'\\' { 2 } else { 1 };
        }
        i += 1;
        if name != b"le" {
            key.extend_from_slice(&line[start..i.min(line.len())]);
            key.push(b',');
        }
        if i < line.len() && line[i] == b',' {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series_key(line: &[u8]) -> Vec<u8> {
        let mut key = Vec::new();
        super::series_key(line, &mut key);
        key
    }

    #[test]
    fn the_key_drops_le_and_reads_escaped_values() {
        assert_eq!(series_key(b"a_total 1 5.0\n"), b"");
        assert_eq!(
            series_key(b"h_bucket{le=\"1.0\",q=\"x\"} 1 5.0\n"),
            b"q=\"x\",".to_vec()
        );
        assert_eq!(
            series_key(b"h_count{q=\"x\"} 1 5.0\n"),
            series_key(b"h_bucket{q=\"x\",le=\"+Inf\"} 1 5.0\n")
        );
        assert_eq!(
            series_key(b"c_total{q=\"a\\\"},le=\\\\\",r=\"b\"} 1 5.0\n"),
            b"q=\"a\\\"},le=\\\\\",r=\"b\",".to_vec()
        );
    }

    /// Lines step after step come out grouped by series, in time order,
    /// series by first appearance: the same whether sorted in one run or
    /// merged from many.
    #[test]
    fn steps_are_regrouped_by_series_in_one_run_or_many() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("0.om");
        let mut text = String::new();
        let mut want: Vec<Vec<String>> = vec![Vec::new(); 5];
        for step in 0..200 {
            // Series 0..5, the later ones born later; a histogram-like
            // pair of lines per series and step.
            for (s, lines) in want.iter_mut().enumerate().take(1 + step / 40) {
                for part in ["_bucket{le=\"1.0\",", "_count{"] {
                    let l = format!("f{part}q=\"s{s}\"}} {step} {step}.0\n");
                    text.push_str(&l);
                    lines.push(l);
                }
            }
        }
        std::fs::write(&spool, &text).unwrap();
        let want: String = want.concat().concat();
        for run_bytes in [usize::MAX, 1000, 64] {
            let mut out = Vec::new();
            regroup(&spool, dir.path(), run_bytes, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{run_bytes}");
            // Only the spool is left.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }
}
