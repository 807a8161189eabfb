//! A backfill family's spool, written step after step, regrouped by series
//! for strict OpenMetrics ("Metrics MUST NOT be interleaved"): each series'
//! samples together and in time order, the series in the order they first
//! appear. The spool holds a record for each series at each step: the
//! series' rank (its order of first appearance, known to the writer), the
//! length of its lines and the lines (a histogram's buckets, `_count` and
//! `_sum` of one label set are one series).
//!
//! An external merge sort, so memory stays bounded whatever the number of
//! steps: runs of at most `run_bytes` of records are sorted in memory by
//! rank (stably, so time order holds within a run) and written to files
//! beside the spool, in the spool's record format; the runs are then
//! merged, ties going to the earlier run (earlier steps). A spool within
//! one run is sorted in memory and written at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes of records sorted in memory at once.
pub(super) const RUN_BYTES: usize = 64 << 20;

/// Appends a record, in the spool's and the run files' format: the
/// series' rank, the length of its lines, the lines.
pub(super) fn write_record(w: &mut impl Write, rank: u32, lines: &[u8]) -> io::Result<()> {
    w.write_all(&rank.to_le_bytes())?;
    w.write_all(&(lines.len() as u32).to_le_bytes())?;
    w.write_all(lines)
}

/// Writes the lines of `spool`'s records to `out` grouped by series,
/// sorting runs of at most `run_bytes` in memory (run files go to `dir`,
/// removed after).
pub(super) fn regroup(
    spool: &Path,
    dir: &Path,
    run_bytes: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, File::open(spool)?);
    let mut run = Run::default();
    let mut runs: Vec<RunFile> = Vec::new();
    let name = spool
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let run_path = |n: usize| dir.join(format!("{name}.run{n}"));
    let mut lines = Vec::new();
    while let Some(rank) = next_record(&mut input, &mut lines)? {
        run.push(rank, &lines);
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

/// The next record's rank, its lines in `lines`; `None` at the end.
fn next_record(r: &mut impl Read, lines: &mut Vec<u8>) -> io::Result<Option<u32>> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let rank = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(head[4..].try_into().expect("4 bytes")) as usize;
    lines.resize(len, 0);
    r.read_exact(lines)?;
    Ok(Some(rank))
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
            write_record(&mut w, rank, &self.bytes[at..at + len])?;
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
    /// The next record's rank, its lines in `self.line`; `None` at the end.
    fn next(&mut self) -> io::Result<Option<u32>> {
        next_record(&mut self.r, &mut self.line)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines step after step come out grouped by series, in time order,
    /// series by first appearance: the same whether sorted in one run or
    /// merged from many.
    #[test]
    fn steps_are_regrouped_by_series_in_one_run_or_many() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("0.om");
        let mut records = Vec::new();
        let mut want: Vec<Vec<String>> = vec![Vec::new(); 5];
        for step in 0..200 {
            // Series 0..5, the later ones born later; a histogram-like
            // pair of lines per series and step, one record.
            for (s, lines) in want.iter_mut().enumerate().take(1 + step / 40) {
                let mut l = String::new();
                for part in ["_bucket{le=\"1.0\",", "_count{"] {
                    l += &format!("f{part}q=\"s{s}\"}} {step} {step}.0\n");
                }
                write_record(&mut records, s as u32, l.as_bytes()).unwrap();
                lines.push(l);
            }
        }
        std::fs::write(&spool, &records).unwrap();
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
