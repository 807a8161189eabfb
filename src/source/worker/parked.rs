//! A worker's engine kept after its partition was revoked, and the
//! checkpoint write it may have left under way.

use super::*;

/// A worker's engine kept after its partition was revoked, in case the
/// partition comes back with nothing else having consumed it.
pub(in crate::source) struct Parked {
    pub(in crate::source) engine: Engine,
    pub(in crate::source) next_offset: Option<i64>,
    /// The newest checkpoint this worker wrote or restored.
    pub(in crate::source) last: Option<Meta>,
    pub(in crate::source) idle: IdleClock,
    /// When it was parked (parked engines are dropped after a while).
    pub(in crate::source) since: Instant,
    /// SLA events produced and not yet acknowledged.
    pub(in crate::source) sla_pending: Vec<Pending>,
    /// The size of its last checkpoint's encoding (0: none yet).
    pub(in crate::source) encoded_len: usize,
    /// Wall time of the first event applied and not covered by `last`.
    pub(in crate::source) dirty_since_ms: Option<i64>,
    /// Its last checkpoint, still being written when the worker stopped
    /// (the revoke's deadline passed), or aborted (the partition was lost).
    pub(in crate::source) writing: Option<Writing>,
    /// Its offsets went back while `writing` was under way: once that
    /// write ends, its checkpoints start a new line
    /// (src/source/worker/offsets.rs). `last` stays the old line's, to
    /// tell whether another instance has checkpointed since.
    pub(in crate::source) new_line: bool,
    /// The worker's `commit_below`.
    pub(in crate::source) commit_below: Option<i64>,
}

impl Parked {
    /// Waits for the checkpoint still being written, if any, and takes in
    /// how it ended: the partition's newest checkpoint is then known, so
    /// that a resumed engine never takes a generation, or a copy of
    /// changes, that a late write would contradict. `None` when its task
    /// was aborted or failed: what it wrote and which SLA events it held
    /// are not known, and the partition restores from the changelog.
    ///
    /// Called off the runtime (the rebalance callback's threads); the wait
    /// is bounded by the write's own timeouts.
    pub(in crate::source) fn settle(
        mut self,
        tp: &TopicPartition,
        rt: &tokio::runtime::Handle,
    ) -> Option<Parked> {
        let Some(Writing {
            meta,
            write,
            covered_since,
            agent_time,
        }) = self.writing.take()
        else {
            return Some(self);
        };
        if !write.is_finished() {
            info!(topic = %tp.0, partition = tp.1, generation = meta.generation,
                  "partition back while its last checkpoint is written: waiting for it");
        }
        let r = rt.block_on(write);
        let ended = checkpoints::write_ended(
            tp,
            r,
            covered_since,
            &mut self.sla_pending,
            &mut self.dirty_since_ms,
        );
        match ended {
            checkpoints::Ended::Written => {
                self.last = Some(meta);
                if let Some(t) = agent_time {
                    self.engine.show_agent_time(t);
                }
            }
            checkpoints::Ended::Failed => {}
            checkpoints::Ended::Unknown => return None,
        }
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::worker::tests::meta;

    /// A parked engine whose last checkpoint (generation 2) is written by
    /// `write`, after one of generation 1; one SLA event of its own
    /// pending, dirty since 700.
    fn parked_writing(write: Write) -> Parked {
        let cfg = Config::parse("").expect("empty config");
        Parked {
            engine: Engine::new(&cfg),
            next_offset: Some(9),
            last: Some(meta(100, None)),
            idle: IdleClock::from_checkpoint(&meta(100, None), None, 30_000),
            since: Instant::now(),
            sla_pending: vec![Pending::unsent("own")],
            encoded_len: 0,
            dirty_since_ms: Some(700),
            writing: Some(Writing {
                meta: Meta {
                    generation: 2,
                    next_offset: 9,
                    ..meta(200, None)
                },
                write,
                covered_since: Some(500),
                agent_time: None,
            }),
            new_line: false,
            commit_below: None,
        }
    }

    fn keys(p: &Parked) -> Vec<&str> {
        p.sla_pending.iter().map(Pending::key).collect()
    }

    #[test]
    fn a_parked_engine_waits_for_its_last_write_before_it_resumes() {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let tp: TopicPartition = ("t".into(), 0);
        // Written late, with one SLA event it could not settle: the engine
        // resumes from it, that event first.
        let w = rt.spawn(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            (Ok(()), vec![Pending::unsent("left")])
        });
        let p = parked_writing(w)
            .settle(&tp, rt.handle())
            .expect("resumable");
        assert_eq!(p.last.as_ref().map(|m| m.generation), Some(2));
        assert!(p.writing.is_none());
        assert_eq!(keys(&p), ["left", "own"]);
        assert_eq!(p.dirty_since_ms, Some(700));

        // Failed: the checkpoint before stands, and what it would have
        // covered is dirty again.
        let w = rt.spawn(async {
            let e = CheckpointError::Timeout("late".into());
            (Err(e), Vec::new())
        });
        let p = parked_writing(w)
            .settle(&tp, rt.handle())
            .expect("resumable");
        assert_eq!(p.last.as_ref().map(|m| m.generation), Some(1));
        assert_eq!(keys(&p), ["own"]);
        assert_eq!(p.dirty_since_ms, Some(500));

        // Aborted (a lost partition): what it wrote is not known.
        let w = rt.spawn(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            (Ok(()), Vec::new())
        });
        w.abort();
        assert!(parked_writing(w).settle(&tp, rt.handle()).is_none());
    }
}
