//! Work that no event waits for, run at a lower scheduling priority: the
//! threads that apply events go first on a busy machine.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, OnceLock};

/// The nice value of background threads (checkpoint encoding, tables
/// prepared ahead of need).
#[cfg(target_os = "linux")]
const NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority (on Linux a nice value
/// belongs to a thread, not to the whole process).
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICE);
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the process's one background thread (`background`,
/// started at the first job), after the jobs queued before it. False when
/// that thread cannot be started: the job is dropped unrun.
pub fn run(job: impl FnOnce() + Send + 'static) -> bool {
    static QUEUE: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("background".into())
            .spawn(move || {
                lower_priority();
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| tx)
    });
    // A `Sender` is shared between threads as it is: no lock.
    queue
        .as_ref()
        .is_some_and(|tx| tx.send(Box::new(job)).is_ok())
}

/// Prepares a table ahead of need (`crate::engine::prepare_tables_with`):
/// `job` runs on the background thread with the large blocks it allocates
/// faulted in until `stop` is raised ([`crate::huge_pages::faulted_in`]).
pub fn prepare(stop: Arc<AtomicBool>, job: Box<dyn FnOnce() + Send>) -> bool {
    run(move || crate::huge_pages::faulted_in(&stop, job))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_in_order_on_one_thread() {
        let (tx, rx) = channel();
        for i in 0..3 {
            let tx = tx.clone();
            assert!(run(move || {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((i, name)).unwrap();
            }));
        }
        let got: Vec<_> = (0..3).map(|_| rx.recv().unwrap()).collect();
        let bg = Some("background".to_string());
        assert_eq!(got, vec![(0, bg.clone()), (1, bg.clone()), (2, bg)]);
    }
}
