//! The event model of SPEC §1: types, dimensions, and the typed events the
//! engine applies. Decoding from bytes lives in [`crate::decode`].

use serde::{Deserialize, Serialize};

macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[doc = $text] $variant),+ }

        impl $name {
            /// Every value, in label order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The label / wire text.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the wire text.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
            /// Position in [`Self::ALL`].
            pub const fn index(self) -> usize { self as usize }
        }
    };
}

closed_enum!(
    /// The contact channel (`other` for anything unknown).
    Channel {
        Email => "email",
        Chat => "chat",
        Phone => "phone",
        Social => "social",
        Web => "web",
        Sms => "sms",
        Other => "other",
    }
);

closed_enum!(
    /// Ticket priority.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

closed_enum!(
    /// The status of an unresolved ticket.
    TicketStatus {
        Open => "open",
        Pending => "pending",
        OnHold => "on_hold",
    }
);

closed_enum!(
    /// An agent's status.
    AgentStatus {
        Available => "available",
        Busy => "busy",
        AfterCallWork => "after_call_work",
        Break => "break",
        Offline => "offline",
    }
);

closed_enum!(
    /// Every event type of SPEC §1.
    EventType {
        TicketCreated => "ticket.created",
        TicketAssigned => "ticket.assigned",
        TicketAgentReplied => "ticket.agent_replied",
        TicketCustomerReplied => "ticket.customer_replied",
        TicketStatusChanged => "ticket.status_changed",
        TicketPriorityChanged => "ticket.priority_changed",
        TicketEscalated => "ticket.escalated",
        TicketWorkLogged => "ticket.work_logged",
        TicketResolved => "ticket.resolved",
        TicketReopened => "ticket.reopened",
        TicketClosed => "ticket.closed",
        CallQueued => "call.queued",
        CallAnswered => "call.answered",
        CallAbandoned => "call.abandoned",
        CallHoldStarted => "call.hold_started",
        CallHoldEnded => "call.hold_ended",
        CallTransferred => "call.transferred",
        CallEnded => "call.ended",
        CallWrapupEnded => "call.wrapup_ended",
        AgentStatusChanged => "agent.status_changed",
        SurveyCsat => "survey.csat",
        SurveyNps => "survey.nps",
        SurveyCes => "survey.ces",
        CustomerSubscribed => "customer.subscribed",
        CustomerChurned => "customer.churned",
    }
);

/// An owned string id (event, ticket, call, agent, customer, queue,
/// category): up to 24 bytes inline, longer on the heap, so decoding an
/// event of short ids allocates nothing (`tests/allocations.rs`).
pub type Id = compact_str::CompactString;

/// One valid event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `event_id`, unique per event.
    pub id: Id,
    /// Event time, epoch milliseconds.
    pub ts: i64,
    /// What happened.
    pub body: Body,
}

/// The type-specific part of an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Body {
    TicketCreated {
        ticket: Id,
        customer: Id,
        channel: Channel,
        priority: Priority,
        queue: Option<Id>,
        category: Option<Id>,
    },
    TicketAssigned {
        ticket: Id,
        agent: Id,
        queue: Option<Id>,
    },
    TicketAgentReplied {
        ticket: Id,
        agent: Id,
        public: bool,
    },
    TicketCustomerReplied {
        ticket: Id,
    },
    TicketStatusChanged {
        ticket: Id,
        status: TicketStatus,
    },
    TicketPriorityChanged {
        ticket: Id,
        priority: Priority,
    },
    TicketEscalated {
        ticket: Id,
        level: i64,
    },
    TicketWorkLogged {
        ticket: Id,
        agent: Id,
        /// Work time in milliseconds.
        ms: i64,
    },
    TicketResolved {
        ticket: Id,
        /// The resolving agent, when the event names one.
        #[serde(default)]
        agent: Option<Id>,
    },
    TicketReopened {
        ticket: Id,
    },
    TicketClosed {
        ticket: Id,
    },
    CallQueued {
        call: Id,
        customer: Id,
        queue: Option<Id>,
        channel: Channel,
        category: Option<Id>,
    },
    CallAnswered {
        call: Id,
        agent: Id,
    },
    CallAbandoned {
        call: Id,
    },
    CallHoldStarted {
        call: Id,
    },
    CallHoldEnded {
        call: Id,
    },
    CallTransferred {
        call: Id,
        queue: Option<Id>,
        escalation: bool,
    },
    CallEnded {
        call: Id,
        resolved: bool,
    },
    CallWrapupEnded {
        call: Id,
    },
    AgentStatusChanged {
        agent: Id,
        status: AgentStatus,
        queue: Option<Id>,
    },
    SurveyCsat {
        score: u8,
        ticket: Option<Id>,
        call: Option<Id>,
        channel: Option<Channel>,
        queue: Option<Id>,
        /// The agent the response rates, when the survey names one.
        #[serde(default)]
        agent: Option<Id>,
    },
    SurveyNps {
        score: u8,
        customer: Id,
    },
    SurveyCes {
        score: u8,
        ticket: Option<Id>,
        call: Option<Id>,
    },
    CustomerSubscribed {
        customer: Id,
    },
    CustomerChurned {
        customer: Id,
    },
}

/// Which stateful entity an event belongs to, for holding early arrivals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityRef<'a> {
    /// A ticket event other than `ticket.created`.
    Ticket(&'a str),
    /// A call event other than `call.queued`.
    Call(&'a str),
    /// Anything else.
    None,
}

/// Matches the events that name an existing ticket or call, in one place:
/// `$t` binds the ticket id, `$c` the call id (by reference, shared or
/// mutable as `$body` is); every other event gives `$none`.
macro_rules! by_entity {
    ($body:expr, $t:ident => $ticket:expr, $c:ident => $call:expr, $none:expr) => {{
        use Body::*;
        match $body {
            TicketAssigned { ticket: $t, .. }
            | TicketAgentReplied { ticket: $t, .. }
            | TicketCustomerReplied { ticket: $t }
            | TicketStatusChanged { ticket: $t, .. }
            | TicketPriorityChanged { ticket: $t, .. }
            | TicketEscalated { ticket: $t, .. }
            | TicketWorkLogged { ticket: $t, .. }
            | TicketResolved { ticket: $t, .. }
            | TicketReopened { ticket: $t }
            | TicketClosed { ticket: $t } => $ticket,
            CallAnswered { call: $c, .. }
            | CallAbandoned { call: $c }
            | CallHoldStarted { call: $c }
            | CallHoldEnded { call: $c }
            | CallTransferred { call: $c, .. }
            | CallEnded { call: $c, .. }
            | CallWrapupEnded { call: $c } => $call,
            _ => $none,
        }
    }};
}

impl Body {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        use Body::*;
        match self {
            TicketCreated { .. } => EventType::TicketCreated,
            TicketAssigned { .. } => EventType::TicketAssigned,
            TicketAgentReplied { .. } => EventType::TicketAgentReplied,
            TicketCustomerReplied { .. } => EventType::TicketCustomerReplied,
            TicketStatusChanged { .. } => EventType::TicketStatusChanged,
            TicketPriorityChanged { .. } => EventType::TicketPriorityChanged,
            TicketEscalated { .. } => EventType::TicketEscalated,
            TicketWorkLogged { .. } => EventType::TicketWorkLogged,
            TicketResolved { .. } => EventType::TicketResolved,
            TicketReopened { .. } => EventType::TicketReopened,
            TicketClosed { .. } => EventType::TicketClosed,
            CallQueued { .. } => EventType::CallQueued,
            CallAnswered { .. } => EventType::CallAnswered,
            CallAbandoned { .. } => EventType::CallAbandoned,
            CallHoldStarted { .. } => EventType::CallHoldStarted,
            CallHoldEnded { .. } => EventType::CallHoldEnded,
            CallTransferred { .. } => EventType::CallTransferred,
            CallEnded { .. } => EventType::CallEnded,
            CallWrapupEnded { .. } => EventType::CallWrapupEnded,
            AgentStatusChanged { .. } => EventType::AgentStatusChanged,
            SurveyCsat { .. } => EventType::SurveyCsat,
            SurveyNps { .. } => EventType::SurveyNps,
            SurveyCes { .. } => EventType::SurveyCes,
            CustomerSubscribed { .. } => EventType::CustomerSubscribed,
            CustomerChurned { .. } => EventType::CustomerChurned,
        }
    }

    /// The ticket or call a non-opening lifecycle event refers to.
    pub fn entity(&self) -> EntityRef<'_> {
        by_entity!(self, t => EntityRef::Ticket(t), c => EntityRef::Call(c), EntityRef::None)
    }
}
