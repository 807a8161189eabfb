//! Replay's outputs, and the check that no output is the input or
//! another output.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::ReplayError;

/// An output: stdout, a device or pipe written in place, or a regular file
/// written to a temporary file beside it and renamed over it by
/// [`Output::commit`], so a run that fails never leaves a truncated file
/// (the temporary file is removed when the output is dropped uncommitted).
pub(crate) struct Output {
    /// The path as the user gave it, for errors.
    shown: String,
    w: Box<dyn Write>,
    temp: Option<TempFile>,
}

struct TempFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
    committed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
            finished(&self.tmp);
        }
    }
}

/// The temporary files and spool directories of this process's outputs
/// that are not in place yet, for [`remove_unfinished`].
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished_list() -> MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `path`, a temporary file or spool directory about to be made, is
/// removed by [`remove_unfinished`] until [`finished`] says otherwise.
pub(super) fn unfinished(path: &Path) {
    unfinished_list().push(path.to_path_buf());
}

/// `path` was removed or put in place.
pub(super) fn finished(path: &Path) {
    unfinished_list().retain(|p| p != path);
}

/// Removes the temporary files and spool directories of the outputs not
/// in place yet, for a process a signal stops (which runs no destructors),
/// so that it leaves none behind. The list stays locked while the guard
/// lives, so that none is made or put in place after: the caller exits
/// holding it.
pub fn remove_unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    let list = unfinished_list();
    for p in list.iter() {
        if fs::remove_file(p).is_err() {
            let _ = fs::remove_dir_all(p);
        }
    }
    list
}

impl Output {
    pub(crate) fn create(path: &Path) -> Result<Output, ReplayError> {
        let shown = path.display().to_string();
        let err = |source| ReplayError::Output {
            path: shown.clone(),
            source,
        };
        if path == Path::new("-") {
            return Ok(Output {
                w: Box::new(BufWriter::new(io::stdout())),
                shown,
                temp: None,
            });
        }
        // Through a symlink to the file it names; a device or a pipe
        // (`/dev/null`, a FIFO) is written in place, never replaced.
        let dest = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let existing = fs::metadata(&dest).ok();
        if existing.as_ref().is_some_and(|m| !m.is_file()) {
            let f = File::create(&dest).map_err(err)?;
            return Ok(Output {
                w: Box::new(BufWriter::new(f)),
                shown,
                temp: None,
            });
        }
        // A file the user may not write is not replaced either, though the
        // rename over it would succeed: as `>` in a shell, it is refused.
        if existing.is_some() && !writable(&dest) {
            return Err(err(io::Error::from(io::ErrorKind::PermissionDenied)));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| err(io::Error::other("not a file name")))?;
        let tmp = dest.with_file_name(hidden_name(name, "tmp"));
        unfinished(&tmp);
        let file = match File::create(&tmp) {
            Ok(f) => f,
            Err(e) => {
                finished(&tmp);
                return Err(err(e));
            }
        };
        let temp = TempFile {
            tmp,
            dest,
            file: file.try_clone().map_err(err)?,
            committed: false,
        };
        if let Some(m) = existing {
            // The replaced file keeps its mode.
            let _ = fs::set_permissions(&temp.tmp, m.permissions());
        }
        Ok(Output {
            w: Box::new(BufWriter::new(file)),
            shown,
            temp: Some(temp),
        })
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), ReplayError> {
        self.w.write_all(bytes).map_err(|e| self.err(e))
    }

    /// Runs `copy` with the writer itself, for a copy that also reads or
    /// writes elsewhere: an error is this output's when the writer gave
    /// it, else `elsewhere`'s.
    pub(crate) fn copy_with(
        &mut self,
        copy: impl FnOnce(&mut dyn Write) -> io::Result<()>,
        elsewhere: impl FnOnce(io::Error) -> ReplayError,
    ) -> Result<(), ReplayError> {
        let mut w = Watched {
            w: &mut *self.w,
            failed: false,
        };
        match copy(&mut w) {
            Ok(()) => Ok(()),
            Err(e) if w.failed => Err(self.err(e)),
            Err(e) => Err(elsewhere(e)),
        }
    }

    fn err(&self, source: io::Error) -> ReplayError {
        ReplayError::Output {
            path: self.shown.clone(),
            source,
        }
    }

    /// Flushes, and puts a temporary file in place of the destination.
    pub(crate) fn commit(mut self) -> Result<(), ReplayError> {
        self.w.flush().map_err(|e| self.err(e))?;
        if let Some(t) = &mut self.temp {
            // Not removed by a signal while it is being put in place.
            let mut list = unfinished_list();
            let r = t.file.sync_all().and_then(|()| fs::rename(&t.tmp, &t.dest));
            if let Err(e) = r {
                drop(list);
                return Err(self.err(e));
            }
            list.retain(|p| *p != t.tmp);
            t.committed = true;
        }
        Ok(())
    }
}

/// A writer that remembers whether it failed.
struct Watched<'a> {
    w: &'a mut dyn Write,
    failed: bool,
}

impl Write for Watched<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.w.write(buf);
        self.failed |= r.is_err();
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.w.flush();
        self.failed |= r.is_err();
        r
    }
}

/// A hidden name of this process's, beside an output called `name`, ending
/// in `.{kind}` and a number of its own: `.metrics.prom.tmp1234-0`. The
/// output's name is cut to 200 bytes, so that the whole stays within a
/// file name's 255 even when the output's own name nearly fills them.
pub(super) fn hidden_name(name: &std::ffi::OsStr, kind: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = name.to_string_lossy();
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.{kind}{}-{n}", &name[..cut], std::process::id())
}

/// What a path names, to tell whether two paths are one file: a regular
/// file by device and inode (so another path or a hard link to it is the
/// same), a file not yet created by its directory and name; `None` for
/// what may be shared harmlessly (a terminal, `/dev/null`, a pipe).
#[derive(Debug, PartialEq, Eq)]
enum FileId {
    Inode(u64, u64),
    New(PathBuf),
}

fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    match fs::metadata(path) {
        Ok(m) if m.is_file() => Some(FileId::Inode(m.dev(), m.ino())),
        Ok(_) => None,
        Err(_) => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
            Some(FileId::New(dir.join(path.file_name()?)))
        }
    }
}

/// Refuses paths that would destroy data: an output that is the input, or
/// two outputs that are one file (stdout included).
pub(super) fn check_paths(input: &Path, outputs: &[(&str, &Path)]) -> Result<(), ReplayError> {
    let stdio = |p: &Path, dev: &str| {
        if p == Path::new("-") {
            PathBuf::from(dev)
        } else {
            p.to_path_buf()
        }
    };
    let input_id = file_id(&stdio(input, "/dev/stdin"));
    let on_stdout: Vec<&str> = outputs
        .iter()
        .filter(|(_, p)| *p == Path::new("-"))
        .map(|(flag, _)| *flag)
        .collect();
    if on_stdout.len() > 1 {
        return Err(ReplayError::Paths(format!(
            "{} would all write to stdout (the metrics go there by default); give all but one of them a file",
            on_stdout.join(" and ")
        )));
    }
    let ids: Vec<Option<FileId>> = outputs
        .iter()
        .map(|(_, p)| file_id(&stdio(p, "/dev/stdout")))
        .collect();
    for (i, ((flag, p), id)) in outputs.iter().zip(&ids).enumerate() {
        if id.is_some() && *id == input_id {
            return Err(ReplayError::Paths(format!(
                "{flag} {} is the input file: refusing to overwrite it",
                p.display()
            )));
        }
        for ((flag2, p2), id2) in outputs[..i].iter().zip(&ids) {
            if id.is_some() && id == id2 {
                return Err(ReplayError::Paths(format!(
                    "{flag2} {} and {flag} {} are the same file",
                    p2.display(),
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

/// Whether this process may write the file at `path` (`access(2)`: its
/// mode for the real user, ACLs and read-only mounts included).
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}
