//! Durations as written in the config (`30s`, `15m`, `1h30m`) and the
//! accepted range of every duration key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::ConfigError;

/// A duration written as `30s`, `15m`, `8h`, `2d`, `500ms` (or a combination
/// such as `1h30m`), held in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Dur(pub i64);

impl Dur {
    /// Milliseconds.
    pub fn ms(self) -> i64 {
        self.0
    }
    /// From whole seconds.
    pub const fn secs(s: i64) -> Dur {
        Dur(s * 1000)
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty duration".into());
        }
        let bytes = t.as_bytes();
        let mut i = 0;
        let mut total: i64 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(format!("`{s}` is not a duration like 30s, 15m, 8h, 2d"));
            }
            let n: i64 = t[start..i]
                .parse()
                .map_err(|_| format!("`{s}`: number too large"))?;
            let fstart = i;
            if i < bytes.len() && bytes[i] == b'.' {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let fraction = &t[fstart..i];
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit_ms = match &t[ustart..i] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 7 * 86_400_000,
                "" if fraction.is_empty() => {
                    return Err(format!("`{s}`: a unit is required (ms, s, m, h, d, w)"))
                }
                "" => return Err(format!("`{s}`: decimals are not supported")),
                u => return Err(format!("`{s}`: unknown unit `{u}` (ms, s, m, h, d, w)")),
            };
            if !fraction.is_empty() {
                return Err(decimal_hint(s, n, &fraction[1..], unit_ms));
            }
            total = n
                .checked_mul(unit_ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("`{s}`: duration too large"))?;
        }
        Ok(Dur(total))
    }
}

/// The error for a decimal duration such as `1.5m`, with the whole-number
/// spelling of the same length when there is one (`90s`).
fn decimal_hint(s: &str, whole: i64, fraction: &str, unit_ms: i64) -> String {
    let digits = fraction.len().min(18) as u32;
    let frac: i128 = fraction[..digits as usize].parse().unwrap_or(0);
    let scale = 10i128.pow(digits);
    let num = (i128::from(whole) * scale + frac) * i128::from(unit_ms);
    let same = (num % scale == 0)
        .then(|| i64::try_from(num / scale).ok())
        .flatten()
        .filter(|ms| *ms > 0);
    match same {
        Some(ms) => format!(
            "`{s}`: decimals are not supported; write whole units, e.g. {}",
            Dur(ms)
        ),
        None => format!("`{s}`: decimals are not supported; write whole units (ms, s, m, h, d, w)"),
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole days only past one day, so `24h` reads as people write it.
        let ms = self.0;
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
        ] {
            if ms != 0 && ms % size == 0 && (unit != "d" || ms > size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

const MS: i64 = 1;
const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// The accepted range of each duration key, in milliseconds (inclusive).
/// Past these a value is a typo, not a choice, and at the extremes event
/// time arithmetic would overflow (docs/operations.md lists them).
pub const DURATION_RANGES: [(&str, i64, i64); 23] = [
    ("time.allowed_lateness", 0, 7 * DAY),
    ("time.idle_timeout", SEC, DAY),
    ("time.dedup_horizon", SEC, 7 * DAY),
    ("time.max_future_skew", SEC, DAY),
    ("time.max_event_age", MIN, 365 * DAY),
    ("agents.idle_timeout", MIN, 30 * DAY),
    ("windows.pane", SEC, HOUR),
    ("windows.sizes", SEC, 31 * DAY),
    ("kpi.repeat_window", MIN, 90 * DAY),
    ("kpi.short_abandon", 0, HOUR),
    ("kpi.service_level_threshold", 0, DAY),
    ("kpi.acw_timeout", SEC, DAY),
    ("state.resolved_ticket_ttl", MIN, 365 * DAY),
    ("state.idle_ticket_ttl", HOUR, 365 * DAY),
    ("state.finished_call_ttl", MIN, 30 * DAY),
    ("state.idle_call_ttl", MIN, 30 * DAY),
    ("sla.policies.*", SEC, 365 * DAY),
    ("http.ready_max_watermark_lag", SEC, 30 * DAY),
    ("http.publish_interval", 10 * MS, MIN),
    ("http.read_timeout", 100 * MS, 10 * MIN),
    ("http.write_timeout", 100 * MS, 10 * MIN),
    ("checkpoint.interval", 100 * MS, HOUR),
    ("checkpoint.write_timeout", SEC, 10 * MIN),
];

/// Checks `d` against the range of `range_key` in [`DURATION_RANGES`],
/// naming `key` (which may carry an index, `windows.sizes[2]`).
pub(super) fn duration_in_range(key: &str, range_key: &str, d: Dur) -> Result<(), ConfigError> {
    let (_, min, max) = DURATION_RANGES
        .iter()
        .find(|(k, _, _)| *k == range_key)
        .copied()
        .unwrap_or((range_key, 0, i64::MAX));
    if d.ms() < min || d.ms() > max {
        let low = if min == 0 {
            "0s".to_string()
        } else {
            Dur(min).to_string()
        };
        return Err(ConfigError::invalid(
            key,
            format!(
                "{d} is out of range: must be between {low} and {}",
                Dur(max)
            ),
        ));
    }
    Ok(())
}
