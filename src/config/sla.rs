//! `[sla]`: SLA policies, business-hours calendars, and their validation
//! (SPEC §4).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration::duration_in_range;
use super::{ConfigError, Dur, MAX_DAY_RANGES, MAX_HOLIDAYS, MAX_LIST};

/// One value or a list of values (`priority = "urgent"` or `["high", "urgent"]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single value.
    One(String),
    /// Any of several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values.
    pub fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// What a policy matches; an absent field matches anything.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyMatch {
    /// Channels.
    pub channel: Option<OneOrMany>,
    /// Priorities.
    pub priority: Option<OneOrMany>,
    /// Queues.
    pub queue: Option<OneOrMany>,
}

/// One SLA policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// The `policy` label.
    pub name: String,
    /// Which tickets and calls it applies to.
    #[serde(default, rename = "match")]
    pub matches: PolicyMatch,
    /// `24x7` or a calendar of `[sla.calendars]`.
    #[serde(default = "default_calendar")]
    pub calendar: String,
    /// First public reply target.
    pub first_response: Option<Dur>,
    /// Reply target after each customer message.
    pub next_response: Option<Dur>,
    /// First resolution target (pending time excluded).
    pub resolution: Option<Dur>,
    /// Call answer target.
    pub answer: Option<Dur>,
}

impl SlaPolicy {
    /// Its targets, each by its key, those set.
    fn targets(&self) -> impl Iterator<Item = (&'static str, Dur)> {
        [
            ("first_response", self.first_response),
            ("next_response", self.next_response),
            ("resolution", self.resolution),
            ("answer", self.answer),
        ]
        .into_iter()
        .filter_map(|(k, t)| Some((k, t?)))
    }
}

fn default_calendar() -> String {
    "24x7".into()
}

/// A business-hours calendar.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Opening hours per weekday (`mon` … `sun`), e.g. `["09:00-12:30", "13:30-17:00"]`.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// SLA settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// A clock is at risk from this fraction of its target.
    pub warn_fraction: f64,
    /// Policies, matched in order; the first match wins.
    pub policies: Vec<SlaPolicy>,
    /// Business calendars by name.
    pub calendars: BTreeMap<String, CalendarConfig>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            warn_fraction: 0.8,
            policies: Vec::new(),
            calendars: BTreeMap::new(),
        }
    }
}

/// Compiled calendars by name.
pub type Calendars = BTreeMap<String, std::sync::Arc<crate::calendar::Calendar>>;

impl SlaConfig {
    /// Compiles the calendars, naming the bad key on error.
    pub fn calendars(&self) -> Result<Calendars, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, c) in &self.calendars {
            let hours = c.hours.iter().map(|(d, r)| (d.as_str(), r.as_slice()));
            let cal =
                crate::calendar::Calendar::new(&c.timezone, hours, &c.holidays).map_err(|e| {
                    ConfigError::invalid(format!("sla.calendars.{name}.{}", e.key), e.reason)
                })?;
            out.insert(name.clone(), std::sync::Arc::new(cal));
        }
        Ok(out)
    }

    /// The SLA settings: the warning fraction, the calendars, each policy.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.warn_fraction > 0.0 && self.warn_fraction <= 1.0) {
            return Err(ConfigError::invalid(
                "sla.warn_fraction",
                "must be in (0, 1]",
            ));
        }
        if self.policies.len() > MAX_LIST {
            return Err(ConfigError::invalid(
                "sla.policies",
                format!("at most {MAX_LIST} policies"),
            ));
        }
        let calendars = self.validate_calendars()?;
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            if !names.insert(p.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("sla.policies[{i}].name"),
                    format!("`{}` is used twice", p.name),
                ));
            }
            self.validate_policy(i, p)?;
            if let Some(cal) = calendars.get(&p.calendar) {
                validate_reach(i, p, cal)?;
            }
        }
        Ok(())
    }

    /// The calendars: how many, their sizes, the reserved name, and that
    /// each compiles; the compiled calendars.
    fn validate_calendars(&self) -> Result<Calendars, ConfigError> {
        if self.calendars.len() > MAX_LIST {
            return Err(ConfigError::invalid(
                "sla.calendars",
                format!("at most {MAX_LIST} calendars"),
            ));
        }
        for (name, c) in &self.calendars {
            if c.holidays.len() > MAX_HOLIDAYS {
                return Err(ConfigError::invalid(
                    format!("sla.calendars.{name}.holidays"),
                    format!("at most {MAX_HOLIDAYS} dates"),
                ));
            }
            if let Some((day, _)) = c.hours.iter().find(|(_, r)| r.len() > MAX_DAY_RANGES) {
                return Err(ConfigError::invalid(
                    format!("sla.calendars.{name}.hours.{day}"),
                    format!("at most {MAX_DAY_RANGES} ranges a day"),
                ));
            }
        }
        if self.calendars.contains_key("24x7") {
            return Err(ConfigError::invalid(
                "sla.calendars.24x7",
                "`24x7` is reserved for always-open",
            ));
        }
        self.calendars()
    }

    /// Policy `i` (whose name is checked unique by the caller): its name,
    /// calendar, targets and match values.
    fn validate_policy(&self, i: usize, p: &SlaPolicy) -> Result<(), ConfigError> {
        let key = |k: &str| format!("sla.policies[{i}].{k}");
        if p.name.is_empty() || p.name.len() > 64 {
            return Err(ConfigError::invalid(
                key("name"),
                "must be 1..64 characters",
            ));
        }
        if p.calendar != "24x7" && !self.calendars.contains_key(&p.calendar) {
            return Err(ConfigError::invalid(
                key("calendar"),
                format!(
                    "unknown calendar `{}` (define it under [sla.calendars.{}] or use 24x7)",
                    p.calendar, p.calendar
                ),
            ));
        }
        for (k, t) in p.targets() {
            duration_in_range(&key(k), "sla.policies.*", t)?;
        }
        // An empty list would match nothing (or, read as absent,
        // anything): a policy that cannot be meant as written.
        for (k, m) in [
            ("match.channel", &p.matches.channel),
            ("match.priority", &p.matches.priority),
            ("match.queue", &p.matches.queue),
        ] {
            if m.as_ref().is_some_and(|m| m.values().is_empty()) {
                return Err(ConfigError::invalid(
                    key(k),
                    "an empty list matches nothing: list values, or leave the key out to match any",
                ));
            }
        }
        if let Some(c) = &p.matches.channel {
            for v in c.values() {
                if crate::event::Channel::parse(&v).is_none() {
                    return Err(ConfigError::invalid(
                        key("match.channel"),
                        format!("unknown channel `{v}`"),
                    ));
                }
            }
        }
        if let Some(c) = &p.matches.priority {
            for v in c.values() {
                if crate::event::Priority::parse(&v).is_none() {
                    return Err(ConfigError::invalid(
                        key("match.priority"),
                        format!("unknown priority `{v}`"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Policy `i`'s targets are reachable on its business calendar `cal`
/// within the deadline search's horizon ([`crate::calendar::Calendar::reach_ms`]):
/// a longer one would leave its clocks without a deadline, never judged.
fn validate_reach(
    i: usize,
    p: &SlaPolicy,
    cal: &crate::calendar::Calendar,
) -> Result<(), ConfigError> {
    let reach = cal.reach_ms();
    for (k, t) in p.targets() {
        if t.ms() > reach {
            return Err(ConfigError::invalid(
                format!("sla.policies[{i}].{k}"),
                format!(
                    "{t} of business time may not be reached within the three years a deadline is searched on calendar `{}` (at most {} hours are sure to be open in that time)",
                    p.calendar,
                    reach.max(0) / 3_600_000
                ),
            ));
        }
    }
    Ok(())
}
