//! Bytes → [`Event`]: the wire format of SPEC §1, with a typed reason for
//! every way a message can be wrong.
//!
//! The JSON is read once, by the hand-written scanner in `scan`, into a
//! flat record of loosely typed values (borrowing strings from the input), so
//! that a wrong type is reported for the field that has it rather than as a
//! parser error, and unknown fields of any shape are skipped without
//! allocation.

use std::borrow::Cow;

use crate::event::{AgentStatus, Body, Channel, Event, EventType, Id, Priority, TicketStatus};

mod rfc3339;
mod scan;

pub use rfc3339::parse_rfc3339;

/// Why a message is not a valid event. The variant's [`DecodeError::reason`]
/// is the `reason` label and dead-letter header; `Display` is the user's text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the configured limit.
    #[error("too_large: {size} bytes exceeds the limit of {max}")]
    TooLarge { size: usize, max: usize },
    /// Not JSON, not UTF-8, not an object, or a repeated key.
    #[error("invalid_json: {0}")]
    InvalidJson(String),
    /// A required field is absent (or null).
    #[error("missing_field: {0}")]
    MissingField(&'static str),
    /// A field of the wrong JSON type.
    #[error("wrong_type: {field} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    /// A value outside its range or set.
    #[error("out_of_range: {field}: {detail}")]
    OutOfRange { field: &'static str, detail: String },
    /// `ts` is neither RFC 3339 with an offset nor integer epoch milliseconds.
    #[error("invalid_timestamp: {0}")]
    InvalidTimestamp(String),
    /// A `type` this processor does not know.
    #[error("unknown_type: {0}")]
    UnknownType(String),
    /// A `schema_version` this processor does not know.
    #[error("unknown_schema_version: {0}")]
    UnknownSchemaVersion(String),
    /// `ts` is more than `time.max_future_skew` ahead of wall-clock time
    /// (SPEC §2, guards on event time).
    #[error("future_timestamp: ts is {ahead_ms} ms ahead of wall-clock time (limit {max_ms} ms)")]
    FutureTimestamp { ahead_ms: i64, max_ms: i64 },
    /// `ts` is more than `time.max_event_age` behind the partition's event clock.
    #[error("too_old: ts is {behind_ms} ms behind the event clock (limit {max_ms} ms)")]
    TooOld { behind_ms: i64, max_ms: i64 },
}

/// Every reason label, in a fixed order.
pub const REASONS: [&str; 10] = [
    "too_large",
    "invalid_json",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "invalid_timestamp",
    "unknown_type",
    "unknown_schema_version",
    "future_timestamp",
    "too_old",
];

impl DecodeError {
    /// The reason label.
    pub fn reason(&self) -> &'static str {
        REASONS[self.reason_index()]
    }

    /// Position of the reason in [`REASONS`].
    pub fn reason_index(&self) -> usize {
        match self {
            DecodeError::TooLarge { .. } => 0,
            DecodeError::InvalidJson(_) => 1,
            DecodeError::MissingField(_) => 2,
            DecodeError::WrongType { .. } => 3,
            DecodeError::OutOfRange { .. } => 4,
            DecodeError::InvalidTimestamp(_) => 5,
            DecodeError::UnknownType(_) => 6,
            DecodeError::UnknownSchemaVersion(_) => 7,
            DecodeError::FutureTimestamp { .. } => 8,
            DecodeError::TooOld { .. } => 9,
        }
    }
}

/// The schema versions this processor reads.
pub const KNOWN_SCHEMA_VERSIONS: [i64; 1] = [1];

/// Latest accepted event time: 9999-12-31T23:59:59.999Z.
const MAX_TS_MS: i64 = 253_402_300_799_999;

/// The UTF-8 byte order mark some editors and producers put first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes one message, enforcing the size limit first. A leading UTF-8
/// byte order mark is skipped (docs/events.md).
pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Event, DecodeError> {
    if bytes.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut raw = Raw::default();
    let owned = scan::scan(bytes, &mut raw).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    let event = raw.event();
    if !owned {
        // Nothing in `raw` is on the heap, so its drop, which looks at all
        // 22 fields, is skipped: it was a twentieth of decoding an event.
        debug_assert!(!scan::owns_a_string(&mut raw));
        std::mem::forget(raw);
    }
    event
}

/// A JSON value, loosely typed so that the field can be named on error.
#[derive(Debug)]
enum Val<'a> {
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`.
    Big,
    Float(f64),
    Str(Cow<'a, str>),
    /// An array or object.
    Composite,
}

/// Every field any event type has, by [`F`]. Absent and `null` are both
/// `None`. An array rather than a record of named fields: the scanner
/// stores a value at its field's index, where a record's fields were a
/// `match`, an indirect jump the processor mispredicted whenever the
/// fields came in another order than the message before.
#[derive(Debug, Default)]
struct Raw<'a>([Option<Val<'a>>; scan::FIELDS]);

/// The fields of [`Raw`], in the order of [`scan::NAMES`].
#[derive(Clone, Copy)]
enum F {
    EventId,
    Kind,
    Ts,
    SchemaVersion,
    TicketId,
    CallId,
    AgentId,
    CustomerId,
    Channel,
    Priority,
    Queue,
    Category,
    Public,
    Status,
    Level,
    Reason,
    Seconds,
    Resolved,
    Escalation,
    Score,
    Comment,
    Mrr,
}

impl<'a> std::ops::Index<F> for Raw<'a> {
    type Output = Option<Val<'a>>;

    fn index(&self, f: F) -> &Option<Val<'a>> {
        &self.0[f as usize]
    }
}

type R<T> = Result<T, DecodeError>;

fn req<'v, 'a>(v: &'v Option<Val<'a>>, field: &'static str) -> R<&'v Val<'a>> {
    v.as_ref().ok_or(DecodeError::MissingField(field))
}

fn as_str<'v>(v: &'v Val<'_>, field: &'static str) -> R<&'v str> {
    match v {
        Val::Str(s) => Ok(s),
        _ => Err(DecodeError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// An id: a string of 1..128 bytes.
fn id(v: &Option<Val<'_>>, field: &'static str) -> R<Id> {
    let s = as_str(req(v, field)?, field)?;
    check_id(s, field)?;
    Ok(s.into())
}

fn opt_id(v: &Option<Val<'_>>, field: &'static str) -> R<Option<Id>> {
    match v {
        None => Ok(None),
        Some(v) => {
            let s = as_str(v, field)?;
            check_id(s, field)?;
            Ok(Some(s.into()))
        }
    }
}

fn check_id(s: &str, field: &'static str) -> R<()> {
    if s.is_empty() || s.len() > 128 {
        return Err(DecodeError::OutOfRange {
            field,
            detail: format!("must be 1..128 bytes, got {}", s.len()),
        });
    }
    Ok(())
}

/// A free-text dimension (queue, category): empty means absent; capped at 128 bytes.
fn opt_dim(v: &Option<Val<'_>>, field: &'static str) -> R<Option<Id>> {
    match v {
        None => Ok(None),
        Some(v) => {
            let s = as_str(v, field)?;
            if s.is_empty() {
                return Ok(None);
            }
            if s.len() > 128 {
                return Err(DecodeError::OutOfRange {
                    field,
                    detail: format!("must be at most 128 bytes, got {}", s.len()),
                });
            }
            Ok(Some(s.into()))
        }
    }
}

fn opt_bool(v: &Option<Val<'_>>, field: &'static str) -> R<Option<bool>> {
    match v {
        None => Ok(None),
        Some(Val::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(DecodeError::WrongType {
            field,
            expected: "a boolean",
        }),
    }
}

/// An integer (a float with no fraction is accepted). One too large is
/// out of range however JSON wrote it (digits past `i64` or `u64`, which
/// read as `Val::Big` or a float, or an exponent: `1e20`): it is still a
/// whole number, not a value of the wrong type.
fn opt_int(v: &Option<Val<'_>>, field: &'static str) -> R<Option<i64>> {
    match v {
        None => Ok(None),
        Some(Val::Int(i)) => Ok(Some(*i)),
        Some(Val::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
        Some(Val::Big) => Err(DecodeError::OutOfRange {
            field,
            detail: "integer too large".into(),
        }),
        Some(Val::Float(f)) if f.is_infinite() => Err(DecodeError::OutOfRange {
            field,
            detail: "number past the range of a double".into(),
        }),
        Some(Val::Float(f)) if f.fract() == 0.0 => Err(DecodeError::OutOfRange {
            field,
            detail: format!("{f:e} is too large"),
        }),
        Some(_) => Err(DecodeError::WrongType {
            field,
            expected: "an integer",
        }),
    }
}

fn opt_number(v: &Option<Val<'_>>, field: &'static str) -> R<Option<f64>> {
    match v {
        None => Ok(None),
        Some(Val::Int(i)) => Ok(Some(*i as f64)),
        Some(Val::Float(f)) if f.is_infinite() => Err(DecodeError::OutOfRange {
            field,
            detail: "number past the range of a double".into(),
        }),
        Some(Val::Float(f)) => Ok(Some(*f)),
        Some(Val::Big) => Err(DecodeError::OutOfRange {
            field,
            detail: "number too large".into(),
        }),
        Some(_) => Err(DecodeError::WrongType {
            field,
            expected: "a number",
        }),
    }
}

fn score(v: &Option<Val<'_>>, lo: i64, hi: i64) -> R<u8> {
    let s = opt_int(v, "score")?.ok_or(DecodeError::MissingField("score"))?;
    if s < lo || s > hi {
        return Err(DecodeError::OutOfRange {
            field: "score",
            detail: format!("{s} is outside {lo}..{hi}"),
        });
    }
    Ok(s as u8)
}

fn channel(v: &Option<Val<'_>>, default: Channel) -> R<Channel> {
    match v {
        None => Ok(default),
        Some(v) => Ok(Channel::parse(as_str(v, "channel")?).unwrap_or(Channel::Other)),
    }
}

fn closed<T>(v: &Val<'_>, field: &'static str, parse: fn(&str) -> Option<T>, all: &[&str]) -> R<T> {
    let s = as_str(v, field)?;
    parse(s).ok_or_else(|| DecodeError::OutOfRange {
        field,
        detail: format!("`{}` is not one of {}", truncate(s), all.join(", ")),
    })
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn priority(v: &Option<Val<'_>>) -> R<Priority> {
    match v {
        None => Ok(Priority::Normal),
        Some(v) => closed(
            v,
            "priority",
            Priority::parse,
            &["low", "normal", "high", "urgent"],
        ),
    }
}

/// Parses `ts`: RFC 3339 with an offset, or integer epoch milliseconds.
fn timestamp(v: &Option<Val<'_>>) -> R<i64> {
    let ms = match req(v, "ts")? {
        Val::Int(ms) => *ms,
        Val::Str(s) => parse_rfc3339(s)?,
        Val::Float(f) => return Err(DecodeError::InvalidTimestamp(float_ts(*f))),
        Val::Big => {
            return Err(DecodeError::InvalidTimestamp(
                "an integer above 2^63 is outside 1970..9999".into(),
            ))
        }
        _ => {
            return Err(DecodeError::WrongType {
                field: "ts",
                expected: "an RFC 3339 string or integer epoch milliseconds",
            })
        }
    };
    if !(0..=MAX_TS_MS).contains(&ms) {
        return Err(DecodeError::InvalidTimestamp(format!(
            "{ms} is outside 1970..9999"
        )));
    }
    Ok(ms)
}

/// Why a JSON number read as a float is not an epoch time: a fraction, a
/// value outside 1970..9999, or a plain-looking value in float syntax (`-0`,
/// `1e3`), which is named as such rather than called "not an integer".
fn float_ts(f: f64) -> String {
    if f.is_infinite() {
        return "a number past the range of a double is outside 1970..9999".into();
    }
    if f.is_nan() || f < 0.0 || f > MAX_TS_MS as f64 {
        return format!("{f:e} is outside 1970..9999");
    }
    if f.fract() != 0.0 {
        return format!("epoch milliseconds must be whole, not {f}");
    }
    if f == 0.0 && f.is_sign_negative() {
        return "-0 is not an epoch time: write 0 without a sign".into();
    }
    format!("epoch milliseconds must be a plain integer without exponent or fraction (read {f:e})")
}

impl Raw<'_> {
    /// The event the fields make. (It reads them in place: taking the
    /// 22 fields by value cost a copy of them all.)
    fn event(&self) -> R<Event> {
        let version = opt_int(&self[F::SchemaVersion], "schema_version").map_err(|e| match e {
            DecodeError::OutOfRange { .. } => DecodeError::UnknownSchemaVersion("too large".into()),
            e => e,
        })?;
        if let Some(v) = version {
            if !KNOWN_SCHEMA_VERSIONS.contains(&v) {
                return Err(DecodeError::UnknownSchemaVersion(v.to_string()));
            }
        }
        let kind = as_str(req(&self[F::Kind], "type")?, "type")?;
        let kind = EventType::parse(kind)
            .ok_or_else(|| DecodeError::UnknownType(truncate(kind).to_string()))?;
        let event_id = id(&self[F::EventId], "event_id")?;
        let ts = timestamp(&self[F::Ts])?;
        let body = self.body(kind)?;
        Ok(Event {
            id: event_id,
            ts,
            body,
        })
    }

    /// The body of an event of type `kind`: its fields checked in a fixed
    /// order, so the first bad one is the error; the longer checks are
    /// methods of their own.
    fn body(&self, kind: EventType) -> R<Body> {
        use EventType as T;
        let ticket = || id(&self[F::TicketId], "ticket_id");
        let call = || id(&self[F::CallId], "call_id");
        Ok(match kind {
            T::TicketCreated => self.ticket_created()?,
            T::TicketAssigned => Body::TicketAssigned {
                ticket: ticket()?,
                agent: id(&self[F::AgentId], "agent_id")?,
                queue: opt_dim(&self[F::Queue], "queue")?,
            },
            T::TicketAgentReplied => Body::TicketAgentReplied {
                ticket: ticket()?,
                agent: id(&self[F::AgentId], "agent_id")?,
                public: opt_bool(&self[F::Public], "public")?.unwrap_or(true),
            },
            T::TicketCustomerReplied => Body::TicketCustomerReplied { ticket: ticket()? },
            T::TicketStatusChanged => self.ticket_status_changed()?,
            T::TicketPriorityChanged => self.ticket_priority_changed()?,
            T::TicketEscalated => self.ticket_escalated()?,
            T::TicketWorkLogged => self.ticket_work_logged()?,
            T::TicketResolved => {
                // agent_id is checked first, as before it was kept.
                let agent = opt_id(&self[F::AgentId], "agent_id")?;
                Body::TicketResolved {
                    ticket: ticket()?,
                    agent,
                }
            }
            T::TicketReopened => Body::TicketReopened { ticket: ticket()? },
            T::TicketClosed => Body::TicketClosed { ticket: ticket()? },
            T::CallQueued => self.call_queued()?,
            T::CallAnswered => Body::CallAnswered {
                call: call()?,
                agent: id(&self[F::AgentId], "agent_id")?,
            },
            T::CallAbandoned => Body::CallAbandoned { call: call()? },
            T::CallHoldStarted => Body::CallHoldStarted { call: call()? },
            T::CallHoldEnded => Body::CallHoldEnded { call: call()? },
            T::CallTransferred => self.call_transferred()?,
            T::CallEnded => Body::CallEnded {
                call: call()?,
                resolved: opt_bool(&self[F::Resolved], "resolved")?.unwrap_or(false),
            },
            T::CallWrapupEnded => Body::CallWrapupEnded { call: call()? },
            T::AgentStatusChanged => self.agent_status_changed()?,
            T::SurveyCsat => self.survey_csat()?,
            T::SurveyNps => Body::SurveyNps {
                score: score(&self[F::Score], 0, 10)?,
                customer: id(&self[F::CustomerId], "customer_id")?,
            },
            T::SurveyCes => Body::SurveyCes {
                score: score(&self[F::Score], 1, 7)?,
                ticket: opt_id(&self[F::TicketId], "ticket_id")?,
                call: opt_id(&self[F::CallId], "call_id")?,
            },
            T::CustomerSubscribed | T::CustomerChurned => self.customer(kind)?,
        })
    }

    fn ticket_created(&self) -> R<Body> {
        Ok(Body::TicketCreated {
            ticket: id(&self[F::TicketId], "ticket_id")?,
            customer: id(&self[F::CustomerId], "customer_id")?,
            channel: channel(&self[F::Channel], Channel::Other)?,
            priority: priority(&self[F::Priority])?,
            queue: opt_dim(&self[F::Queue], "queue")?,
            category: opt_dim(&self[F::Category], "category")?,
        })
    }

    fn ticket_status_changed(&self) -> R<Body> {
        Ok(Body::TicketStatusChanged {
            ticket: id(&self[F::TicketId], "ticket_id")?,
            status: closed(
                req(&self[F::Status], "status")?,
                "status",
                TicketStatus::parse,
                &["open", "pending", "on_hold"],
            )?,
        })
    }

    /// A missing `priority` is `normal`, as every missing dimension is
    /// (SPEC §1.1), here too.
    fn ticket_priority_changed(&self) -> R<Body> {
        Ok(Body::TicketPriorityChanged {
            ticket: id(&self[F::TicketId], "ticket_id")?,
            priority: priority(&self[F::Priority])?,
        })
    }

    /// `level` defaults to 2 and is at least 1; `reason`, if any, a string.
    fn ticket_escalated(&self) -> R<Body> {
        let level = opt_int(&self[F::Level], "level")?.unwrap_or(2);
        if level < 1 {
            return Err(DecodeError::OutOfRange {
                field: "level",
                detail: format!("{level} is below 1"),
            });
        }
        if let Some(r) = &self[F::Reason] {
            as_str(r, "reason")?;
        }
        Ok(Body::TicketEscalated {
            ticket: id(&self[F::TicketId], "ticket_id")?,
            level,
        })
    }

    /// `seconds` is required, within 0..1e9, kept in milliseconds.
    fn ticket_work_logged(&self) -> R<Body> {
        let secs = opt_number(&self[F::Seconds], "seconds")?
            .ok_or(DecodeError::MissingField("seconds"))?;
        if !(0.0..=1.0e9).contains(&secs) {
            return Err(DecodeError::OutOfRange {
                field: "seconds",
                detail: format!("{secs} is outside 0..1e9"),
            });
        }
        Ok(Body::TicketWorkLogged {
            ticket: id(&self[F::TicketId], "ticket_id")?,
            agent: id(&self[F::AgentId], "agent_id")?,
            ms: (secs * 1000.0).round() as i64,
        })
    }

    fn call_queued(&self) -> R<Body> {
        Ok(Body::CallQueued {
            call: id(&self[F::CallId], "call_id")?,
            customer: id(&self[F::CustomerId], "customer_id")?,
            queue: opt_dim(&self[F::Queue], "queue")?,
            channel: channel(&self[F::Channel], Channel::Phone)?,
            category: opt_dim(&self[F::Category], "category")?,
        })
    }

    /// A missing target `queue` is `unknown`, as every missing dimension
    /// is (SPEC §1.1).
    fn call_transferred(&self) -> R<Body> {
        Ok(Body::CallTransferred {
            call: id(&self[F::CallId], "call_id")?,
            queue: opt_dim(&self[F::Queue], "queue")?,
            escalation: opt_bool(&self[F::Escalation], "escalation")?.unwrap_or(false),
        })
    }

    fn agent_status_changed(&self) -> R<Body> {
        Ok(Body::AgentStatusChanged {
            agent: id(&self[F::AgentId], "agent_id")?,
            status: closed(
                req(&self[F::Status], "status")?,
                "status",
                AgentStatus::parse,
                &["available", "busy", "after_call_work", "break", "offline"],
            )?,
            queue: opt_dim(&self[F::Queue], "queue")?,
        })
    }

    /// Score 1..5; `comment`, if any, a string; the rest optional.
    fn survey_csat(&self) -> R<Body> {
        let score = score(&self[F::Score], 1, 5)?;
        let agent = opt_id(&self[F::AgentId], "agent_id")?;
        if let Some(c) = &self[F::Comment] {
            as_str(c, "comment")?;
        }
        Ok(Body::SurveyCsat {
            score,
            ticket: opt_id(&self[F::TicketId], "ticket_id")?,
            call: opt_id(&self[F::CallId], "call_id")?,
            channel: match &self[F::Channel] {
                None => None,
                c => Some(channel(c, Channel::Other)?),
            },
            queue: opt_dim(&self[F::Queue], "queue")?,
            agent,
        })
    }

    /// `customer.subscribed` or `customer.churned`; `mrr`, if any, at least 0.
    fn customer(&self, kind: EventType) -> R<Body> {
        if let Some(m) = opt_number(&self[F::Mrr], "mrr")? {
            if !m.is_finite() || m < 0.0 {
                return Err(DecodeError::OutOfRange {
                    field: "mrr",
                    detail: format!("{m} is below 0"),
                });
            }
        }
        let customer = id(&self[F::CustomerId], "customer_id")?;
        Ok(if kind == EventType::CustomerSubscribed {
            Body::CustomerSubscribed { customer }
        } else {
            Body::CustomerChurned { customer }
        })
    }
}

/// The decoder as it was before [`scan`]: serde_json into a derived
/// `Deserialize` for the same record. Kept for differential tests only.
#[cfg(test)]
mod serde_path {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    use super::{DecodeError, Raw, Val};
    use crate::event::Event;

    impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                type Value = Val<'a>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON value")
                }
                fn visit_bool<E>(self, v: bool) -> Result<Val<'a>, E> {
                    Ok(Val::Bool(v))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Val<'a>, E> {
                    Ok(Val::Int(v))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Val<'a>, E> {
                    Ok(i64::try_from(v).map_or(Val::Big, Val::Int))
                }
                fn visit_f64<E>(self, v: f64) -> Result<Val<'a>, E> {
                    Ok(Val::Float(v))
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'a>, E> {
                    Ok(Val::Str(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Val<'a>, E> {
                    Ok(Val::Str(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Val<'a>, E> {
                    Ok(Val::Str(Cow::Owned(v)))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'a>, A::Error> {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Val::Composite)
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'a>, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(Val::Composite)
                }
            }
            d.deserialize_any(V(std::marker::PhantomData))
        }
    }

    /// The record the derived `Deserialize` filled: [`Raw`]'s fields by
    /// name, in its order.
    #[derive(Deserialize)]
    #[serde(bound(deserialize = "'de: 'a"))]
    struct Named<'a> {
        event_id: Option<Val<'a>>,
        #[serde(rename = "type")]
        kind: Option<Val<'a>>,
        ts: Option<Val<'a>>,
        schema_version: Option<Val<'a>>,
        ticket_id: Option<Val<'a>>,
        call_id: Option<Val<'a>>,
        agent_id: Option<Val<'a>>,
        customer_id: Option<Val<'a>>,
        channel: Option<Val<'a>>,
        priority: Option<Val<'a>>,
        queue: Option<Val<'a>>,
        category: Option<Val<'a>>,
        public: Option<Val<'a>>,
        status: Option<Val<'a>>,
        level: Option<Val<'a>>,
        reason: Option<Val<'a>>,
        seconds: Option<Val<'a>>,
        resolved: Option<Val<'a>>,
        escalation: Option<Val<'a>>,
        score: Option<Val<'a>>,
        comment: Option<Val<'a>>,
        mrr: Option<Val<'a>>,
    }

    impl<'a> From<Named<'a>> for Raw<'a> {
        fn from(n: Named<'a>) -> Raw<'a> {
            Raw([
                n.event_id,
                n.kind,
                n.ts,
                n.schema_version,
                n.ticket_id,
                n.call_id,
                n.agent_id,
                n.customer_id,
                n.channel,
                n.priority,
                n.queue,
                n.category,
                n.public,
                n.status,
                n.level,
                n.reason,
                n.seconds,
                n.resolved,
                n.escalation,
                n.score,
                n.comment,
                n.mrr,
            ])
        }
    }

    /// The old JSON → `Raw` step.
    /// With two fixes the scanner brought: a message must be UTF-8 as a
    /// whole (serde_json skipped unknown strings unchecked) and an object
    /// (a derived record also read a 22-element array in field order).
    pub(super) fn raw(bytes: &[u8]) -> Result<Raw<'_>, serde_json::Error> {
        let object = bytes
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            == Some(&b'{');
        if std::str::from_utf8(bytes).is_err() || !object {
            return Err(<serde_json::Error as serde::de::Error>::custom(
                "not a UTF-8 JSON object",
            ));
        }
        serde_json::from_slice::<Named>(bytes).map(Raw::from)
    }

    /// The old `decode`, except that the error text is not truncated to 200
    /// bytes: `String::truncate` panics when byte 200 is inside a character,
    /// which the old decoder could hit (see `scan::tests::old_truncation_panic`).
    pub(super) fn decode(bytes: &[u8], max_bytes: usize) -> Result<Event, DecodeError> {
        if bytes.len() > max_bytes {
            return Err(DecodeError::TooLarge {
                size: bytes.len(),
                max: max_bytes,
            });
        }
        let bytes = bytes.strip_prefix(super::BOM).unwrap_or(bytes);
        raw(bytes)
            .map_err(|e| DecodeError::InvalidJson(e.to_string()))?
            .event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;

    fn ok(s: &str) -> Event {
        decode(s.as_bytes(), MAX).unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn err(s: &str) -> DecodeError {
        decode(s.as_bytes(), MAX).expect_err(s)
    }

    #[test]
    fn ticket_created_with_defaults() {
        let e = ok(
            r#"{"event_id":"e1","type":"ticket.created","ts":"2026-11-22T10:00:00.123Z","ticket_id":"T1","customer_id":"C1"}"#,
        );
        assert_eq!(e.id.as_str(), "e1");
        // 2026-11-22T10:00:00Z = 1795341600 s (`date -u -d 2026-11-22T10:00:00Z +%s`).
        assert_eq!(e.ts, 1_795_341_600_123);
        assert_eq!(
            e.body,
            Body::TicketCreated {
                ticket: "T1".into(),
                customer: "C1".into(),
                channel: Channel::Other,
                priority: Priority::Normal,
                queue: None,
                category: None
            }
        );
    }

    /// Issue 10, defect 9: a UTF-8 byte order mark before the first event
    /// made it `invalid_json`.
    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let line =
            "\u{feff}{\"event_id\":\"x\",\"type\":\"ticket.closed\",\"ts\":1,\"ticket_id\":\"t\"}";
        assert_eq!(ok(line).ts, 1);
        // Only one, and only before the object.
        assert_eq!(err(&format!("\u{feff}{line}")).reason(), "invalid_json");
    }

    /// A number past the range of a double in a known field was
    /// `invalid_json` (serde_json's "number out of range"), where
    /// docs/events.md gives the field's own reason, as for `1e308`.
    #[test]
    fn numbers_past_a_double_take_their_field_s_reason() {
        let huge = [
            "1e400",
            "-1e309",
            "1e999999999999",
            &format!("1{}", "0".repeat(400)),
        ];
        for n in huge {
            let cases = [
                (
                    format!(r#""type":"survey.csat","ts":1,"score":{n}"#),
                    "out_of_range",
                ),
                (
                    format!(r#""type":"customer.subscribed","ts":1,"customer_id":"c","mrr":{n}"#),
                    "out_of_range",
                ),
                (
                    format!(
                        r#""type":"ticket.work_logged","ts":1,"ticket_id":"t","agent_id":"a","seconds":{n}"#
                    ),
                    "out_of_range",
                ),
                (
                    format!(r#""type":"ticket.escalated","ts":1,"ticket_id":"t","level":{n}"#),
                    "out_of_range",
                ),
                (
                    format!(r#""type":"ticket.closed","ts":{n},"ticket_id":"t""#),
                    "invalid_timestamp",
                ),
                (
                    format!(
                        r#""type":"ticket.closed","ts":1,"ticket_id":"t","schema_version":{n}"#
                    ),
                    "unknown_schema_version",
                ),
            ];
            for (fields, reason) in cases {
                let e = err(&format!(r#"{{"event_id":"x",{fields}}}"#));
                assert_eq!(e.reason(), reason, "{fields}: {e}");
            }
        }
        // In a field frontline does not read, any number is skipped.
        assert_eq!(
            ok(r#"{"event_id":"x","type":"ticket.closed","ts":1,"ticket_id":"t","extra":1e400}"#)
                .ts,
            1
        );
    }

    /// Issue 10, defect 9: `-0` and `1e29` were told "epoch time must be
    /// integer milliseconds", which they look like.
    #[test]
    fn float_timestamps_are_named_for_what_is_wrong() {
        let text = |ts: &str| {
            err(&format!(
                r#"{{"event_id":"x","type":"ticket.closed","ts":{ts},"ticket_id":"t"}}"#
            ))
            .to_string()
        };
        assert_eq!(
            text("-0"),
            "invalid_timestamp: -0 is not an epoch time: write 0 without a sign"
        );
        assert_eq!(
            text("1e29"),
            "invalid_timestamp: 1e29 is outside 1970..9999"
        );
        assert_eq!(
            text("-1.5"),
            "invalid_timestamp: -1.5e0 is outside 1970..9999"
        );
        assert_eq!(
            text("1.5"),
            "invalid_timestamp: epoch milliseconds must be whole, not 1.5"
        );
        assert_eq!(
            text("1.5e12"),
            "invalid_timestamp: epoch milliseconds must be a plain integer \
             without exponent or fraction (read 1.5e12)"
        );
        assert_eq!(
            text("18446744073709551615"),
            "invalid_timestamp: an integer above 2^63 is outside 1970..9999"
        );
    }

    #[test]
    fn both_timestamp_forms_and_offsets() {
        let a = ok(
            r#"{"event_id":"a","type":"call.abandoned","ts":"2026-11-22T10:30:00+01:30","call_id":"c"}"#,
        );
        let b = ok(r#"{"event_id":"b","type":"call.abandoned","ts":1795338000000,"call_id":"c"}"#);
        assert_eq!(a.ts, 1_795_341_600_000 - 3_600_000);
        assert_eq!(a.ts, b.ts);
        // A form the fast path does not take (lower-case separator) still parses via jiff.
        let c = ok(
            r#"{"event_id":"c","type":"call.abandoned","ts":"2026-11-22t10:00:00z","call_id":"c"}"#,
        );
        assert_eq!(c.ts, 1_795_341_600_000);
        // Nanosecond fractions truncate to milliseconds.
        let d = ok(
            r#"{"event_id":"d","type":"call.abandoned","ts":"2026-11-22T10:00:00.987654321Z","call_id":"c"}"#,
        );
        assert_eq!(d.ts, 1_795_341_600_987);
    }

    #[test]
    fn every_reason() {
        let too_big = format!(
            r#"{{"event_id":"x","type":"ticket.closed","ts":1,"ticket_id":"t","pad":"{}"}}"#,
            "a".repeat(MAX)
        );
        assert_eq!(err(&too_big).reason(), "too_large");
        assert_eq!(err("{not json").reason(), "invalid_json");
        assert_eq!(err("[1,2]").reason(), "invalid_json");
        assert_eq!(err("\"x\"").reason(), "invalid_json");
        assert_eq!(
            err(r#"{"event_id":"x","event_id":"y","type":"ticket.closed","ts":1,"ticket_id":"t"}"#)
                .reason(),
            "invalid_json"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.closed","ts":1}"#),
            DecodeError::MissingField("ticket_id")
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.closed","ts":1,"ticket_id":7}"#),
            DecodeError::WrongType {
                field: "ticket_id",
                expected: "a string"
            }
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"survey.csat","ts":1,"score":6}"#).reason(),
            "out_of_range"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.closed","ts":"yesterday","ticket_id":"t"}"#)
                .reason(),
            "invalid_timestamp"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.closed","ts":"2026-11-22T10:00:00","ticket_id":"t"}"#)
                .reason(),
            "invalid_timestamp"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.closed","ts":1.5e12,"ticket_id":"t"}"#).reason(),
            "invalid_timestamp"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.exploded","ts":1,"ticket_id":"t"}"#),
            DecodeError::UnknownType("ticket.exploded".into())
        );
        assert_eq!(
            err(
                r#"{"event_id":"x","type":"ticket.closed","ts":1,"ticket_id":"t","schema_version":2}"#
            ),
            DecodeError::UnknownSchemaVersion("2".into())
        );
        assert_eq!(
            err(r#"{"type":"ticket.closed","ts":1,"ticket_id":"t"}"#),
            DecodeError::MissingField("event_id")
        );
        assert_eq!(
            err(r#"{"event_id":"","type":"ticket.closed","ts":1,"ticket_id":"t"}"#).reason(),
            "out_of_range"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.created","ts":1,"ticket_id":"t","customer_id":"c","priority":"asap"}"#).reason(),
            "out_of_range"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.work_logged","ts":1,"ticket_id":"t","agent_id":"a","seconds":-1}"#).reason(),
            "out_of_range"
        );
        assert_eq!(
            err(r#"{"event_id":"x","type":"ticket.agent_replied","ts":1,"ticket_id":"t","agent_id":"a","public":"yes"}"#).reason(),
            "wrong_type"
        );
        assert_eq!(err("\u{0}\u{ff}").reason(), "invalid_json");
        // The user's text starts with the reason.
        assert!(err("{").to_string().starts_with("invalid_json: "));
    }

    #[test]
    fn an_integer_too_large_is_out_of_range_however_it_is_written() {
        let csat = |score: &str| {
            err(&format!(
                r#"{{"event_id":"x","type":"survey.csat","ts":1,"score":{score}}}"#
            ))
        };
        // Past i64, past u64, and with an exponent: all whole numbers.
        for big in [
            "18446744073709551615",
            "18446744073709551616",
            "1e20",
            "-1e20",
        ] {
            assert_eq!(csat(big).reason(), "out_of_range", "{big}");
        }
        // A fraction is not an integer at all.
        assert_eq!(csat("4.5").reason(), "wrong_type");
        let level = |v: &str| {
            err(&format!(
                r#"{{"event_id":"x","type":"ticket.escalated","ts":1,"ticket_id":"t","level":{v}}}"#
            ))
        };
        assert_eq!(level("99999999999999999999").reason(), "out_of_range");
        // A schema version no build knows, however large.
        for big in ["18446744073709551615", "18446744073709551616", "1e30"] {
            assert_eq!(
                err(&format!(
                    r#"{{"event_id":"x","type":"ticket.closed","ts":1,"ticket_id":"t","schema_version":{big}}}"#
                ))
                .reason(),
                "unknown_schema_version",
                "{big}"
            );
        }
    }

    #[test]
    fn unknown_fields_of_any_shape_are_ignored_and_null_is_absent() {
        let e = ok(
            r#"{"event_id":"x","type":"call.queued","ts":5,"call_id":"c","customer_id":"u","extra":{"a":[1,{"b":null}]},"queue":null,"channel":"carrier-pigeon"}"#,
        );
        assert_eq!(
            e.body,
            Body::CallQueued {
                call: "c".into(),
                customer: "u".into(),
                queue: None,
                channel: Channel::Other,
                category: None
            }
        );
        let e = ok(
            r#"{"event_id":"x","type":"call.queued","ts":5,"call_id":"c","customer_id":"u","queue":"billing"}"#,
        );
        assert!(matches!(
            e.body,
            Body::CallQueued {
                channel: Channel::Phone,
                ..
            }
        ));
    }

    #[test]
    fn optional_defaults() {
        let e = ok(r#"{"event_id":"x","type":"ticket.escalated","ts":5,"ticket_id":"t"}"#);
        assert_eq!(
            e.body,
            Body::TicketEscalated {
                ticket: "t".into(),
                level: 2
            }
        );
        let e = ok(
            r#"{"event_id":"x","type":"ticket.agent_replied","ts":5,"ticket_id":"t","agent_id":"a"}"#,
        );
        assert!(matches!(
            e.body,
            Body::TicketAgentReplied { public: true, .. }
        ));
        let e = ok(r#"{"event_id":"x","type":"survey.csat","ts":5,"score":4.0}"#);
        assert!(matches!(e.body, Body::SurveyCsat { score: 4, .. }));
        let e = ok(
            r#"{"event_id":"x","type":"ticket.work_logged","ts":5,"ticket_id":"t","agent_id":"a","seconds":90.5}"#,
        );
        assert!(matches!(e.body, Body::TicketWorkLogged { ms: 90_500, .. }));
        // A priority change without its priority is to `normal`, as any
        // missing dimension (SPEC §1.1).
        let e = ok(r#"{"event_id":"x","type":"ticket.priority_changed","ts":5,"ticket_id":"t"}"#);
        assert_eq!(
            e.body,
            Body::TicketPriorityChanged {
                ticket: "t".into(),
                priority: Priority::Normal
            }
        );
        let e = ok(r#"{"event_id":"x\"y","type":"ticket.closed","ts":5,"ticket_id":"t\u00e9"}"#);
        assert_eq!(e.id.as_str(), "x\"y");
        assert_eq!(
            e.body,
            Body::TicketClosed {
                ticket: "té".into()
            }
        );
    }
}
