//! An [`Agent`] as each checkpoint format lays it out. Format 8 adds
//! [`Agent::windows_from`] after the fields of formats 4 to 7, which read
//! back with the windows holding the status from `since`.
//!
//! The state's derived `Deserialize` cannot be handed the version, so
//! [`reading_format`] sets it for the thread around a checkpoint's decode;
//! anything else (the engine's own round trips, JSON) reads the newest
//! layout.

use std::cell::Cell;

use rustc_hash::FxHashMap;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::state::Agent;
use super::LabelId;
use crate::event::{AgentStatus, Id};

/// The first checkpoint format that keeps [`Agent::windows_from`].
pub const WINDOWS_FROM_FORMAT: u32 = 8;

thread_local! {
    /// The format the agents being read on this thread were written in.
    static READING: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Runs `decode`, reading agents as checkpoint format `version` writes them.
pub fn reading_format<R>(version: u32, decode: impl FnOnce() -> R) -> R {
    /// Puts the thread's format back, even if `decode` unwinds.
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            READING.set(self.0);
        }
    }
    let _restore = Restore(READING.replace(version));
    decode()
}

/// The fields of formats 4 to 7, in their order.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Agent")]
struct Before8 {
    status: AgentStatus,
    since: i64,
    queue: LabelId,
    last_event: i64,
    label: LabelId,
}

/// The fields of format 8 on, in their order.
#[derive(Deserialize)]
#[serde(rename = "Agent")]
struct From8 {
    status: AgentStatus,
    since: i64,
    queue: LabelId,
    last_event: i64,
    label: LabelId,
    windows_from: i64,
}

impl<'de> Deserialize<'de> for Agent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Agent, D::Error> {
        Ok(if READING.get() >= WINDOWS_FROM_FORMAT {
            let a = From8::deserialize(d)?;
            Agent {
                status: a.status,
                since: a.since,
                queue: a.queue,
                last_event: a.last_event,
                label: a.label,
                // Never after `since`, which the booking relies on.
                windows_from: a.windows_from.min(a.since),
            }
        } else {
            let a = Before8::deserialize(d)?;
            Agent {
                status: a.status,
                since: a.since,
                queue: a.queue,
                last_event: a.last_event,
                label: a.label,
                windows_from: a.since,
            }
        })
    }
}

/// The agents as checkpoint format `version` writes them.
pub struct AgentsWritten<'a> {
    pub agents: &'a FxHashMap<Id, Agent>,
    pub version: u32,
}

impl Serialize for AgentsWritten<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.version >= WINDOWS_FROM_FORMAT {
            return self.agents.serialize(s);
        }
        let mut m = s.serialize_map(Some(self.agents.len()))?;
        for (id, a) in self.agents {
            let old = Before8 {
                status: a.status,
                since: a.since,
                queue: a.queue,
                last_event: a.last_event,
                label: a.label,
            };
            m.serialize_entry(id, &old)?;
        }
        m.end()
    }
}
