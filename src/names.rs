//! The metric vocabulary (SPEC §5), in one place: every family's name, help,
//! kind and merge rule in one table ([`METRICS`], written with `metrics!`),
//! and the duration histograms' table ([`HISTOGRAMS`]). Whoever builds a
//! family passes its [`MetricDef`] and restates nothing. Counter names are
//! given without `_total`: the encoder appends it, as OpenMetrics requires.

/// Metric kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic counter (name without `_total`).
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram with cumulative buckets.
    Histogram,
}

/// How the series of one label set combine across partitions. Counters and
/// histograms always add up; a gauge says what its sum would mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Merge {
    /// Add up: counts of open things, counters, histograms.
    #[default]
    Sum,
    /// The largest: an age, a clock, a lag.
    Max,
    /// The smallest: a watermark (the instance is as far as its slowest partition).
    Min,
    /// The first partition's value: a configured constant or an info series.
    First,
}

/// One metric family's definition: what a scrape says of it and how its
/// partitions' series combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Name (counters without `_total`).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Kind.
    pub kind: Kind,
    /// How its series combine across partitions.
    pub merge: Merge,
}

/// `Gauge(Max)` → [`Merge::Max`]; no rule → [`Merge::Sum`].
macro_rules! merge_rule {
    () => {
        Merge::Sum
    };
    ($merge:ident) => {
        Merge::$merge
    };
}

/// Makes one `pub const` [`MetricDef`] per line and [`METRICS`], the list of
/// them all: `ID = "name", Kind, "help";` or `ID = "name", Gauge(Merge), "help";`.
macro_rules! metrics {
    ($($id:ident = $name:literal, $kind:ident $(($merge:ident))?, $help:literal;)+) => {
        $(
            #[doc = $help]
            pub const $id: MetricDef = MetricDef {
                name: $name,
                help: $help,
                kind: Kind::$kind,
                merge: merge_rule!($($merge)?),
            };
        )+

        /// Every metric family, in table order.
        pub const METRICS: &[MetricDef] = &[$($id),+];
    };
}

metrics! {
    TICKETS_CREATED = "support_tickets_created", Counter, "Tickets created (ticket.created).";
    TICKETS_RESOLVED = "support_tickets_resolved", Counter, "Tickets resolved for the first time.";
    TICKETS_REOPENED = "support_tickets_reopened", Counter, "Resolved tickets reopened.";
    ESCALATIONS = "support_escalations", Counter, "Contacts escalated: tickets at their first escalation, calls transferred with escalation.";
    FCR = "support_first_contact_resolutions", Counter, "Contacts resolved at first contact: tickets with at most one public reply and no escalation, calls resolved without transfer.";
    CONTACTS = "support_contacts", Counter, "Contacts: tickets created plus calls offered.";
    REPEAT_CONTACTS = "support_repeat_contacts", Counter, "Contacts from a customer with another contact within the repeat window.";
    FIRST_RESPONSE = "support_first_response_seconds", Histogram, "First public agent reply minus ticket creation, seconds.";
    REPLY = "support_reply_seconds", Histogram, "Each public agent reply minus the oldest unanswered customer message, seconds.";
    RESOLUTION = "support_resolution_seconds", Histogram, "First resolution minus creation, seconds.";
    FULL_RESOLUTION = "support_full_resolution_seconds", Histogram, "Re-resolution after a reopen minus creation, seconds.";
    HANDLE = "support_handle_seconds", Histogram, "Handle time: ticket work logged at first resolution; call talk (holds included) plus after-call work, seconds.";
    HOLD = "support_hold_seconds", Histogram, "Call hold time, observed with handle time, seconds.";
    CALLS_OFFERED = "support_calls_offered", Counter, "Calls offered (call.queued).";
    CALLS_ANSWERED = "support_calls_answered", Counter, "Calls answered.";
    CALLS_WITHIN = "support_calls_answered_within_threshold", Counter, "Calls answered within the service-level threshold.";
    CALLS_ABANDONED = "support_calls_abandoned", Counter, "Calls abandoned while waiting, short abandons included.";
    CALLS_SHORT_ABANDONED = "support_calls_short_abandoned", Counter, "Calls abandoned within the short-abandon time.";
    ANSWER_WAIT = "support_answer_wait_seconds", Histogram, "Wait from queued to answered, seconds.";
    ABANDON_WAIT = "support_abandon_wait_seconds", Histogram, "Wait from queued to abandoned, seconds.";
    AGENT_STATUS_SECONDS = "support_agent_status_seconds", Counter, "Seconds agents spent in each status.";
    AGENT_CONTACTS_HANDLED = "support_agent_contacts_handled", Counter, "Contacts handled per agent: tickets at first resolution (credited to the resolver), calls at handle observation (to the answering agent).";
    AGENT_HANDLE = "support_agent_handle_seconds", Histogram, "Handle time per agent, seconds (sum and count only).";
    AGENT_FCR = "support_agent_first_contact_resolutions", Counter, "Contacts resolved at first contact, per credited agent.";
    AGENT_ESCALATIONS = "support_agent_escalations", Counter, "Contacts escalated, per agent of the ticket or the call.";
    AGENT_FIRST_RESPONSE = "support_agent_first_response_seconds", Histogram, "First response time per agent who wrote the first public reply, seconds (sum and count only).";
    AGENT_CSAT = "support_agent_csat_responses", Counter, "CSAT survey responses by score, per agent rated.";
    // Not `support_agent_status_seconds_total{agent, ...}`: that name is
    // SPEC's family by status and queue; an agent label on it would double
    // every sum over it (docs/metrics.md, "Per-agent performance").
    AGENT_TIME_IN_STATUS = "support_agent_time_in_status_seconds", Counter, "Seconds each agent spent in each status (support_agent_status_seconds_total per agent).";
    CSAT = "support_csat_responses", Counter, "CSAT survey responses by score.";
    NPS = "support_nps_responses", Counter, "NPS survey responses by category.";
    CES = "support_ces_responses", Counter, "CES survey responses by score.";
    HANDLE_COST = "support_handle_cost", Counter, "Handle time times cost per agent hour, currency units.";
    CUSTOMERS_CHURNED = "support_customers_churned", Counter, "Customers churned.";
    CUSTOMERS_ACTIVE = "support_customers_active", Gauge, "Customers subscribed and not churned.";
    TICKETS_OPEN = "support_tickets_open", Gauge, "Open tickets (created or reopened, not resolved or closed) by status.";
    CALLS_IN_QUEUE = "support_calls_in_queue", Gauge, "Calls waiting in queue now.";
    OLDEST_CALL_WAIT = "support_oldest_call_wait_seconds", Gauge(Max), "Wait of the oldest call in queue, seconds.";
    AGENTS = "support_agents", Gauge, "Agents by current status.";
    KPI_TARGET = "support_kpi_target", Gauge(First), "Configured KPI targets.";
    KPI_FORMULA_INFO = "support_kpi_formula_info", Gauge(First), "The vendor formula each KPI is computed with; always 1.";
    SLA_ACHIEVED = "support_sla_achieved", Counter, "SLA targets achieved: the target event came within the target.";
    SLA_BREACHES = "support_sla_breaches", Counter, "SLA targets breached, counted the moment the deadline passed.";
    SLA_AT_RISK = "support_sla_at_risk", Gauge, "SLA clocks at or past the warn fraction of their target, not yet achieved or breached.";
    SLA_ACTIVE_BREACHES = "support_sla_active_breaches", Gauge, "Breached SLA clocks still running.";
    FIRST_RESPONSE_BUSINESS = "support_first_response_business_seconds", Histogram, "First response time in the policy's business hours, seconds.";
    REPLY_BUSINESS = "support_reply_business_seconds", Histogram, "Reply time in the policy's business hours, seconds.";
    RESOLUTION_BUSINESS = "support_resolution_business_seconds", Histogram, "Resolution time in the policy's business hours, seconds.";
    WINDOW_SECONDS = "support_window_seconds", Gauge, "Quantiles of durations over sliding event-time windows (HDR, 3 significant digits), seconds.";
    WINDOW_MEAN = "support_window_mean_seconds", Gauge, "Mean of durations over sliding event-time windows, seconds.";
    WINDOW_RATIO = "support_window_ratio", Gauge, "KPI ratios over sliding event-time windows, 0..1.";
    WINDOW_NPS = "support_window_nps", Gauge, "Net Promoter Score over sliding event-time windows, -100..100.";
    WINDOW_CES = "support_window_ces", Gauge, "Mean customer effort score over sliding event-time windows.";
    WINDOW_EVENTS = "support_window_events", Gauge, "The count behind each window value.";

    EVENTS = "frontline_events", Counter, "Valid events decoded, by type, duplicates included.";
    DECODE_ERRORS = "frontline_decode_errors", Counter, "Messages that are not valid events, by reason.";
    DEAD_LETTERS = "frontline_dead_letters", Counter, "Raw messages written to the dead-letter output.";
    DUPLICATES = "frontline_duplicate_events", Counter, "Events dropped as duplicates of an event_id seen within the dedup horizon.";
    LATE = "frontline_late_events", Counter, "Events older than the watermark when they arrived.";
    OUT_OF_ORDER = "frontline_out_of_order_events", Counter, "Events ignored as impossible transitions or held early arrivals dropped behind the watermark.";
    EVENT_CLOCK = "frontline_event_clock_seconds", Gauge(Max), "The event clock: the largest event time seen, unix seconds.";
    WATERMARK = "frontline_watermark_seconds", Gauge(Min), "The watermark: event clock minus allowed lateness, unix seconds.";
    WATERMARK_LAG = "frontline_watermark_lag_seconds", Gauge(Max), "Wall time minus the watermark, seconds.";
    STATE_ENTRIES = "frontline_state_entries", Gauge, "Entries held in engine state, by kind.";
    LABEL_OVERFLOW = "frontline_label_overflow", Counter, "Label values reported as other because of a cardinality cap.";
    BATCH_SECONDS = "frontline_batch_seconds", Histogram, "Wall time to apply one batch of events, seconds.";
    HTTP_REFUSED = "frontline_http_refused", Counter, "HTTP connections and requests turned away, by reason: connections (http.max_connections), scrapes (http.max_concurrent_scrapes), summaries (live-page summaries past http.max_concurrent_scrapes), password_checks (bcrypt checks at once), unauthorized (missing or wrong basic-auth credentials), too_large (request body), tls (no TLS handshake within http.read_timeout, a failed one, or plain HTTP on the TLS port).";
    STDERR_WRITE_ERRORS = "frontline_stderr_write_errors", Counter, "Writes to stderr (log lines, progress, summaries) that failed and were dropped.";
    DEAD_LETTER_WRITE_ERRORS = "frontline_dead_letter_write_errors", Counter, "Dead-letter writes the broker refused or did not acknowledge in time. Each is retried, and the bad message's partition waits for it (nothing is dropped).";
    BUILD_INFO = "frontline_build_info", Gauge(First), "Build information; always 1.";
    CONSUMER_LAG = "frontline_consumer_lag", Gauge, "Messages of the partition's end not consumed yet (from the consumer's position, not its committed offset), from librdkafka statistics.";
    REBALANCES = "frontline_rebalances", Counter, "Consumer-group rebalances seen.";
    SLA_EVENTS = "frontline_sla_events", Counter, "SLA state changes of the SLA event stream, by result: acknowledged by the broker, or dropped past the engine's buffer.";
    PARTITIONS = "frontline_partitions", Gauge, "Assigned partitions by phase: restoring (loading a checkpoint), catching_up (re-applying to where the partition was at assignment; not exported yet), live.";
    CHECKPOINT_AGE = "frontline_checkpoint_age_seconds", Gauge, "Wall time since the oldest applied event that no acknowledged checkpoint covers; 0 when every applied event is covered.";
    PROCESS_CPU = "process_cpu_seconds", Counter, "Total user and system CPU time spent, seconds.";
    PROCESS_RSS = "process_resident_memory_bytes", Gauge, "Resident memory size, bytes.";
    PROCESS_VSIZE = "process_virtual_memory_bytes", Gauge, "Virtual memory size, bytes.";
    PROCESS_OPEN_FDS = "process_open_fds", Gauge, "Open file descriptors.";
    PROCESS_MAX_FDS = "process_max_fds", Gauge, "Maximum open file descriptors.";
    PROCESS_START = "process_start_time_seconds", Gauge, "Start time of the process since the unix epoch, seconds.";
}

/// Bounds of [`BATCH_SECONDS`], seconds: from 0.1 ms, below which a batch of
/// the live runtime or of replay is not worth telling apart.
pub const BATCH_BOUNDS: [f64; 8] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0];

/// The label set a histogram is kept by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistLabels {
    /// `channel`, `priority`, `queue`.
    ChannelPriorityQueue,
    /// `channel`, `queue`.
    ChannelQueue,
    /// `queue`.
    Queue,
}

/// One duration histogram of SPEC §5.
#[derive(Clone, Copy, Debug)]
pub struct HistDef {
    /// Its index in [`HISTOGRAMS`].
    pub id: HistId,
    /// Its family.
    pub metric: MetricDef,
    /// The key of its bounds in `[histograms.buckets]`; a business-hours
    /// histogram shares its twin's.
    pub key: &'static str,
    /// The labels it is kept by.
    pub labels: HistLabels,
}

/// Makes [`HistId`], [`NHIST`] and [`HISTOGRAMS`] from one list, so that a
/// histogram is added in one place.
macro_rules! histograms {
    ($($id:ident = $name:ident, $key:literal, $labels:ident;)+) => {
        /// The duration histograms, each with its own bucket bounds; the
        /// index of [`HISTOGRAMS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum HistId {
            $(#[doc = concat!("[`", stringify!($name), "`]")] $id,)+
        }

        /// Number of [`HistId`]s.
        pub const NHIST: usize = [$(HistId::$id),+].len();

        /// Every histogram, in [`HistId`] order.
        pub const HISTOGRAMS: [HistDef; NHIST] = [
            $(HistDef { id: HistId::$id, metric: $name, key: $key, labels: HistLabels::$labels },)+
        ];

        impl HistId {
            /// Every [`HistId`], in index order.
            pub const ALL: [HistId; NHIST] = [$(HistId::$id),+];
        }
    };
}

histograms! {
    FirstResponse = FIRST_RESPONSE, "first_response", ChannelPriorityQueue;
    Reply = REPLY, "reply", ChannelPriorityQueue;
    Resolution = RESOLUTION, "resolution", ChannelPriorityQueue;
    FullResolution = FULL_RESOLUTION, "full_resolution", ChannelPriorityQueue;
    Handle = HANDLE, "handle", ChannelQueue;
    Hold = HOLD, "hold", Queue;
    AnswerWait = ANSWER_WAIT, "answer_wait", Queue;
    AbandonWait = ABANDON_WAIT, "abandon_wait", Queue;
    FirstResponseBusiness = FIRST_RESPONSE_BUSINESS, "first_response", ChannelPriorityQueue;
    ReplyBusiness = REPLY_BUSINESS, "reply", ChannelPriorityQueue;
    ResolutionBusiness = RESOLUTION_BUSINESS, "resolution", ChannelPriorityQueue;
}

impl HistId {
    /// The histogram's definition.
    pub fn def(self) -> &'static HistDef {
        &HISTOGRAMS[self as usize]
    }

    /// Config key of the histogram's buckets.
    pub fn key(self) -> &'static str {
        self.def().key
    }
}

/// The keys of `[histograms.buckets]`: each histogram's, once, in table
/// order, then `default`.
pub fn histogram_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for h in &HISTOGRAMS {
        if !keys.contains(&h.key) {
            keys.push(h.key);
        }
    }
    keys.push("default");
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enum, the count, the table and the config keys all come from
    /// the one `histograms!` list.
    #[test]
    fn histogram_lists_derive_from_one_table() {
        assert_eq!(NHIST, HISTOGRAMS.len());
        for (i, (h, def)) in HistId::ALL.iter().zip(&HISTOGRAMS).enumerate() {
            assert_eq!(*h as usize, i);
            assert_eq!(def.id, *h);
            assert_eq!(h.def().metric, def.metric);
            assert!(def.metric.name.ends_with("_seconds"), "{}", def.metric.name);
            assert_eq!(def.metric.kind, Kind::Histogram, "{}", def.metric.name);
        }
        let names: std::collections::BTreeSet<_> =
            HISTOGRAMS.iter().map(|d| d.metric.name).collect();
        assert_eq!(names.len(), NHIST, "a histogram name appears twice");
        // The config's accepted keys, as its error message lists them.
        assert_eq!(
            histogram_keys().join(", "),
            "first_response, reply, resolution, full_resolution, handle, hold, \
             answer_wait, abandon_wait, default"
        );
        assert_eq!(HistId::ReplyBusiness.key(), HistId::Reply.key());
    }

    /// Names are unique, and only a gauge merges other than by adding up:
    /// a counter or histogram summed across partitions is the instance's.
    #[test]
    fn each_family_is_defined_once_with_a_merge_its_kind_allows() {
        let mut seen = std::collections::BTreeSet::new();
        for m in METRICS {
            assert!(seen.insert(m.name), "{} is defined twice", m.name);
            assert!(!m.name.ends_with("_total"), "{}", m.name);
            if m.kind != Kind::Gauge {
                assert_eq!(m.merge, Merge::Sum, "{}", m.name);
            }
        }
        assert_eq!(OLDEST_CALL_WAIT.merge, Merge::Max);
        assert_eq!(WATERMARK.merge, Merge::Min);
        assert_eq!(KPI_TARGET.merge, Merge::First);
    }
}
