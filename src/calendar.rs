//! Business-hours calendars (SPEC §4): weekly opening hours in an IANA time
//! zone, minus holidays. Open intervals are computed per local date and
//! converted to instants with `jiff`, so DST changes, midnight and lunch
//! breaks are handled by the time-zone database, not by offsets of our own.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// How far ahead a deadline is searched before giving up (a calendar whose
/// open hours are all holidays would otherwise never reach its target).
/// A policy whose target this may not reach on its calendar is refused at
/// start ([`Calendar::reach_ms`]).
const MAX_DAYS: usize = 3 * 366;

/// A compiled business calendar.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    /// Open ranges per weekday (Monday first), in minutes since local midnight, sorted.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<Date>,
    /// Each local date's open intervals as instants, computed once: every
    /// clock on the same days reuses them instead of asking the time-zone
    /// database again. Indexed by days since 1970-01-01.
    days: Vec<OnceLock<Intervals>>,
}

/// A date's open intervals, as instants (ms).
type Intervals = Box<[(i64, i64)]>;

/// Dates cached: 1970-01-01 plus this many days (to 2149).
const CACHED_DAYS: usize = 1 << 16;

/// Days since 1970-01-01 of a date (H. Hinnant's algorithm).
fn day_index(d: Date) -> i64 {
    let (y, m, dd) = (d.year() as i64, d.month() as i64, d.day() as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + dd - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Why a calendar definition is invalid (the caller adds the key).
#[derive(Debug, PartialEq, Eq)]
pub struct CalendarError {
    /// The sub-key (`hours.mon`, `timezone`, `holidays[2]`).
    pub key: String,
    /// Why.
    pub reason: String,
}

fn err(key: impl Into<String>, reason: impl Into<String>) -> CalendarError {
    CalendarError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Weekday keys, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `HH:MM`, two digits each (`+9:00` is not a time, though `+9` parses
/// as a number).
fn parse_hm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

impl Calendar {
    /// Builds a calendar from its config parts.
    pub fn new<'a>(
        timezone: &str,
        hours: impl IntoIterator<Item = (&'a str, &'a [String])>,
        holidays: &[String],
    ) -> Result<Calendar, CalendarError> {
        let tz = TimeZone::get(timezone)
            .map_err(|_| err("timezone", format!("`{timezone}` is not an IANA time zone")))?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, ranges) in hours {
            let key = format!("hours.{day}");
            let Some(i) = DAYS.iter().position(|d| *d == day) else {
                return Err(err(
                    key,
                    "not a weekday (mon, tue, wed, thu, fri, sat, sun)",
                ));
            };
            for r in ranges {
                let (a, b) = r
                    .split_once('-')
                    .and_then(|(a, b)| Some((parse_hm(a.trim())?, parse_hm(b.trim())?)))
                    .ok_or_else(|| err(&key, format!("`{r}` is not a range like 09:00-17:00")))?;
                if a == b {
                    return Err(err(
                        &key,
                        format!("`{r}` is empty: it must end after it starts"),
                    ));
                }
                if a > b {
                    // Overnight opening is two ranges, one on each day.
                    return Err(err(
                        &key,
                        format!(
                            "`{r}` ends before it starts (for hours past midnight, close this day at 24:00 and open the next at 00:00)"
                        ),
                    ));
                }
                week[i].push((a, b));
            }
            week[i].sort_unstable();
            if let Some(w) = week[i].windows(2).find(|w| w[1].0 < w[0].1) {
                return Err(err(
                    &key,
                    format!(
                        "ranges overlap ({} and {})",
                        fmt_range(w[0]),
                        fmt_range(w[1])
                    ),
                ));
            }
        }
        if week.iter().all(|d| d.is_empty()) {
            return Err(err("hours", "no open hours on any day"));
        }
        let mut hs = BTreeSet::new();
        for (i, h) in holidays.iter().enumerate() {
            // `YYYY-MM-DD` only: the date parser also takes a date with a
            // time or a zone after it, or a signed six-digit year, and a
            // time given here would be dropped without a word.
            let digits = |r: std::ops::Range<usize>| h.as_bytes()[r].iter().all(u8::is_ascii_digit);
            let shaped = h.len() == 10
                && h.as_bytes()[4] == b'-'
                && h.as_bytes()[7] == b'-'
                && digits(0..4)
                && digits(5..7)
                && digits(8..10);
            let d: Date = shaped.then(|| h.parse().ok()).flatten().ok_or_else(|| {
                err(
                    format!("holidays[{i}]"),
                    format!("`{h}` is not a date like 2026-12-24"),
                )
            })?;
            hs.insert(d);
        }
        Ok(Calendar {
            tz,
            week,
            holidays: hs,
            days: (0..CACHED_DAYS).map(|_| OnceLock::new()).collect(),
        })
    }

    fn instant(&self, d: Date, minutes: u32) -> i64 {
        let (d, minutes) = if minutes == 24 * 60 {
            (d.tomorrow().unwrap_or(d), 0)
        } else {
            (d, minutes)
        };
        let t =
            Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).unwrap_or(Time::midnight());
        let local = self.tz.to_ambiguous_timestamp(d.to_datetime(t));
        let at = match local.offset() {
            // A time the clocks skip (a DST gap) never shows on them: a
            // range that begins or ends there begins or ends where they
            // jump, so that `02:30` closing a range and `03:00` opening the
            // next, in a zone that jumps from 02:00 to 03:00, are one instant
            // and no time is counted twice (the usual "compatible" reading
            // put 02:30 an hour after 02:00, past 03:00). A range wholly in
            // the gap is empty.
            AmbiguousOffset::Gap { .. } => local.earlier().ok().and_then(|before| {
                self.tz
                    .following(before)
                    .next()
                    .map(|jump| jump.timestamp())
            }),
            // In a fold (the clocks go back) the first time it shows.
            _ => local.compatible().ok(),
        };
        at.map_or(i64::MAX, |ts| ts.as_millisecond())
    }

    fn compute_open(&self, d: Date) -> Box<[(i64, i64)]> {
        let ranges: &[(u32, u32)] = if self.holidays.contains(&d) {
            &[]
        } else {
            &self.week[d.weekday().to_monday_zero_offset() as usize]
        };
        ranges
            .iter()
            .map(|&(a, b)| (self.instant(d, a), self.instant(d, b)))
            .collect()
    }

    /// Open milliseconds in `[from, to)`.
    pub fn business_ms(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        // A local date lies within a day of the UTC date of the same
        // instant; starting two days early covers every offset and DST shift.
        for idx in from.div_euclid(DAY) - 2..=to.div_euclid(DAY) + 1 {
            for &(a, b) in self.open_day(idx).iter() {
                let (a, b) = (a.max(from), b.min(to));
                if b > a {
                    total += b - a;
                }
            }
        }
        total
    }

    /// The first instant at which `ms` open milliseconds have elapsed since
    /// `from`; `None` if that is beyond the search horizon.
    pub fn add_business(&self, from: i64, ms: i64) -> Option<i64> {
        let mut left = ms.max(0);
        let first = from.div_euclid(DAY) - 2;
        for idx in first..first + MAX_DAYS as i64 + 3 {
            for &(a, b) in self.open_day(idx).iter() {
                let a = a.max(from);
                if b <= a {
                    continue;
                }
                if left <= b - a {
                    return Some(a + left);
                }
                left -= b - a;
            }
        }
        None
    }

    /// Business time a deadline search finds from any start, at least:
    /// the open time of the whole weeks in its horizon, less the most open
    /// time the holidays of any stretch that long take, and less what
    /// daylight-saving changes can take (two hours at each, two a year).
    /// A target beyond it could fail to get a deadline at all, and so never
    /// be judged.
    pub fn reach_ms(&self) -> i64 {
        const MIN: i64 = 60_000;
        let day_open = |d: usize| -> i64 {
            self.week[d]
                .iter()
                .map(|&(a, b)| i64::from(b - a) * MIN)
                .sum()
        };
        let weekly: i64 = (0..7).map(day_open).sum();
        // The search covers the start's own date (from the start, so
        // perhaps nothing of it) and MAX_DAYS whole days after: at least
        // this many whole weeks.
        let span = MAX_DAYS as i64 + 1;
        let weeks = MAX_DAYS as i64 / 7;
        // Each holiday takes its weekday's open time; the most any `span`
        // consecutive days' holidays take (dates are sorted).
        let hols: Vec<(i64, i64)> = self
            .holidays
            .iter()
            .map(|&d| {
                let wd = d.weekday().to_monday_zero_offset() as usize;
                (day_index(d), day_open(wd))
            })
            .collect();
        let (mut lo, mut taken, mut most) = (0, 0, 0);
        for &(day, open) in &hols {
            taken += open;
            while hols[lo].0 <= day - span {
                taken -= hols[lo].1;
                lo += 1;
            }
            most = most.max(taken);
        }
        let years = span / 365 + 1;
        let dst = years * 2 * 2 * 3_600_000;
        weekly * weeks - most - dst
    }

    /// The open intervals of the local date `idx` days after 1970-01-01.
    fn open_day(&self, idx: i64) -> std::borrow::Cow<'_, [(i64, i64)]> {
        let date = || civil_from_days(idx);
        match usize::try_from(idx).ok().and_then(|i| self.days.get(i)) {
            Some(slot) => std::borrow::Cow::Borrowed(slot.get_or_init(|| match date() {
                Some(d) => self.compute_open(d),
                None => Box::new([]),
            })),
            None => std::borrow::Cow::Owned(
                date()
                    .map(|d| self.compute_open(d).into_vec())
                    .unwrap_or_default(),
            ),
        }
    }
}

const DAY: i64 = 86_400_000;

/// The date `days` after 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> Option<Date> {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
}

fn fmt_range((a, b): (u32, u32)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
}

/// A clock's calendar: always open, or business hours.
#[derive(Clone, Debug)]
pub enum Hours {
    /// `24x7`: calendar time.
    Always,
    /// A business calendar.
    Business(std::sync::Arc<Calendar>),
}

impl Hours {
    /// Open milliseconds in `[from, to)`.
    pub fn elapsed(&self, from: i64, to: i64) -> i64 {
        match self {
            Hours::Always => (to - from).max(0),
            Hours::Business(c) => c.business_ms(from, to),
        }
    }

    /// The instant at which `ms` open milliseconds have elapsed since `from`.
    pub fn add(&self, from: i64, ms: i64) -> Option<i64> {
        match self {
            Hours::Always => from.checked_add(ms.max(0)),
            Hours::Business(c) => c.add_business(from, ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    fn office(tz: &str) -> Calendar {
        let nine_five = vec!["09:00-17:00".to_string()];
        let wed = vec!["09:00-12:30".to_string(), "13:30-17:00".to_string()];
        let fri = vec!["09:00-15:00".to_string()];
        let hours: Vec<(&str, &[String])> = vec![
            ("mon", &nine_five),
            ("tue", &nine_five),
            ("wed", &wed),
            ("thu", &nine_five),
            ("fri", &fri),
        ];
        Calendar::new(tz, hours, &["2026-12-24".into(), "2026-12-25".into()]).unwrap()
    }

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn nine_to_five(tz: &str) -> Calendar {
        let r = vec!["09:00-17:00".to_string()];
        let hours: Vec<(&str, &[String])> = DAYS[..5].iter().map(|d| (*d, r.as_slice())).collect();
        Calendar::new(tz, hours, &[]).unwrap()
    }

    #[test]
    fn friday_afternoon_breaches_monday_morning() {
        // Friday 2026-11-20 16:30 in Berlin (UTC+1) with 30 min left on
        // Friday: 1 h target → Monday 09:30 local = 08:30Z.
        let c = nine_to_five("Europe/Berlin");
        let from = ts("2026-11-20T15:30:00Z");
        assert_eq!(c.add_business(from, H), Some(ts("2026-11-23T08:30:00Z")));
        assert_eq!(c.business_ms(from, ts("2026-11-23T08:30:00Z")), H);
        // Over the weekend nothing accrues.
        assert_eq!(
            c.business_ms(ts("2026-11-21T00:00:00Z"), ts("2026-11-23T08:00:00Z")),
            0
        );
    }

    #[test]
    fn lunch_breaks_and_early_fridays() {
        let c = office("Europe/Berlin");
        // Wednesday 2026-11-18 12:00 local (11:00Z), 1 h: 30 min before lunch, 30 after → 14:00 local.
        assert_eq!(
            c.add_business(ts("2026-11-18T11:00:00Z"), H),
            Some(ts("2026-11-18T13:00:00Z"))
        );
        // Friday closes at 15:00: Friday 14:00 local + 2 h → Monday 10:00 local.
        assert_eq!(
            c.add_business(ts("2026-11-20T13:00:00Z"), 2 * H),
            Some(ts("2026-11-23T09:00:00Z"))
        );
    }

    #[test]
    fn holidays_are_closed() {
        let c = office("Europe/Berlin");
        // Wednesday 2026-12-23 16:00 local + 2 h: 1 h on the 23rd, 24th and
        // 25th are holidays, Saturday/Sunday closed, Monday 28th 10:00 local.
        assert_eq!(
            c.add_business(ts("2026-12-23T15:00:00Z"), 2 * H),
            Some(ts("2026-12-28T09:00:00Z"))
        );
    }

    #[test]
    fn deadline_at_the_end_of_an_open_range_is_that_end() {
        let c = nine_to_five("UTC");
        assert_eq!(
            c.add_business(ts("2026-11-16T16:00:00Z"), H),
            Some(ts("2026-11-16T17:00:00Z"))
        );
        // Starting before opening counts from opening.
        assert_eq!(
            c.add_business(ts("2026-11-16T03:00:00Z"), 30 * M),
            Some(ts("2026-11-16T09:30:00Z"))
        );
    }

    #[test]
    fn dst_spring_forward_and_fall_back_in_berlin() {
        // 24/7 hours in Berlin: the spring-forward night (2026-03-29, 02:00 → 03:00)
        // has 23 h, the fall-back night (2026-10-25) 25 h of local "day".
        let all = vec!["00:00-24:00".to_string()];
        let hours: Vec<(&str, &[String])> = DAYS.iter().map(|d| (*d, all.as_slice())).collect();
        let c = Calendar::new("Europe/Berlin", hours, &[]).unwrap();
        // Saturday 22:00 local (21:00Z) + 5 h of open time = 04:00 local on Sunday (02:00Z).
        assert_eq!(
            c.add_business(ts("2026-03-28T21:00:00Z"), 5 * H),
            Some(ts("2026-03-29T02:00:00Z"))
        );
        assert_eq!(
            c.business_ms(ts("2026-03-28T23:00:00Z"), ts("2026-03-29T22:00:00Z")),
            23 * H
        );
        assert_eq!(
            c.business_ms(ts("2026-10-24T22:00:00Z"), ts("2026-10-25T23:00:00Z")),
            25 * H
        );
    }

    /// Defect: a range boundary in a DST gap was read an hour after the
    /// jump, so `00:00-02:30` overlapped `03:00-24:00` on Berlin's
    /// spring-forward night, its half hour counted twice: a 4 h first
    /// response was due 3.5 h after the ticket came.
    #[test]
    fn a_range_boundary_in_a_dst_gap_is_where_the_clocks_jump() {
        let sun = vec!["00:00-02:30".to_string(), "03:00-24:00".to_string()];
        let c = Calendar::new("Europe/Berlin", vec![("sun", sun.as_slice())], &[]).unwrap();
        // Sunday 00:00 CET (Saturday 23:00Z); the clocks jump at 01:00Z from
        // 02:00 CET to 03:00 CEST. Open without a break from then on.
        let from = ts("2026-03-28T23:00:00Z");
        assert_eq!(
            c.business_ms(from, ts("2026-03-29T02:45:00Z")),
            3 * H + 45 * M
        );
        assert_eq!(
            c.add_business(from, 4 * H),
            Some(ts("2026-03-29T03:00:00Z"))
        );
        // A range wholly in the gap is never open; one that begins in it
        // opens at the jump. New York jumps at 07:00Z from 02:00 EST to
        // 03:00 EDT on 2026-03-08.
        let gap = vec!["02:15-02:45".to_string(), "02:50-03:10".to_string()];
        let ny = Calendar::new("America/New_York", vec![("sun", gap.as_slice())], &[]).unwrap();
        assert_eq!(
            ny.business_ms(ts("2026-03-08T00:00:00Z"), ts("2026-03-09T00:00:00Z")),
            10 * M
        );
        assert_eq!(
            ny.add_business(ts("2026-03-08T00:00:00Z"), 5 * M),
            Some(ts("2026-03-08T07:05:00Z"))
        );
        // The next Sunday, with no gap, both ranges are open.
        assert_eq!(
            ny.business_ms(ts("2026-03-15T00:00:00Z"), ts("2026-03-16T00:00:00Z")),
            50 * M
        );
    }

    #[test]
    fn dst_changes_keep_local_opening_hours() {
        // New York springs forward on 2026-03-08 and falls back on 2026-11-01.
        let c = nine_to_five("America/New_York");
        // Friday 2026-03-06 16:00 EST (21:00Z) + 2 h → Monday 10:00 EDT (14:00Z).
        assert_eq!(
            c.add_business(ts("2026-03-06T21:00:00Z"), 2 * H),
            Some(ts("2026-03-09T14:00:00Z"))
        );
        // Friday 2026-10-30 16:00 EDT (20:00Z) + 2 h → Monday 10:00 EST (15:00Z).
        assert_eq!(
            c.add_business(ts("2026-10-30T20:00:00Z"), 2 * H),
            Some(ts("2026-11-02T15:00:00Z"))
        );
        // Berlin's office also keeps local hours across its own change (2026-03-29):
        // Friday 27th 16:00 CET (15:00Z) + 2 h → Monday 30th 10:00 CEST (08:00Z).
        let b = nine_to_five("Europe/Berlin");
        assert_eq!(
            b.add_business(ts("2026-03-27T15:00:00Z"), 2 * H),
            Some(ts("2026-03-30T08:00:00Z"))
        );
    }

    #[test]
    fn day_indices_round_trip() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2026-11-22",
            "2149-06-01",
            "1969-12-31",
        ] {
            let d: Date = s.parse().unwrap();
            assert_eq!(civil_from_days(day_index(d)), Some(d), "{s}");
        }
        assert_eq!(
            day_index("2026-11-22".parse().unwrap()),
            1_795_305_600_000 / DAY
        );
    }

    #[test]
    fn invalid_definitions_name_the_sub_key() {
        let r = |s: &str| vec![s.to_string()];
        let bad = r("17:00-09:00");
        let e = Calendar::new("UTC", vec![("mon", bad.as_slice())], &[]).unwrap_err();
        assert_eq!(e.key, "hours.mon");
        let two = vec!["09:00-12:00".to_string(), "11:00-13:00".to_string()];
        let e = Calendar::new("UTC", vec![("tue", two.as_slice())], &[]).unwrap_err();
        assert_eq!(e.key, "hours.tue");
        assert!(e.reason.contains("overlap"), "{}", e.reason);
        let ok = r("09:00-17:00");
        let e = Calendar::new("Mars/Olympus", vec![("mon", ok.as_slice())], &[]).unwrap_err();
        assert_eq!(e.key, "timezone");
        let e = Calendar::new("UTC", vec![("monday", ok.as_slice())], &[]).unwrap_err();
        assert_eq!(e.key, "hours.monday");
        let e =
            Calendar::new("UTC", vec![("mon", ok.as_slice())], &["24.12.2026".into()]).unwrap_err();
        assert_eq!(e.key, "holidays[0]");
        let e = Calendar::new("UTC", Vec::<(&str, &[String])>::new(), &[]).unwrap_err();
        assert_eq!(e.key, "hours");
        let e = Calendar::new("UTC", vec![("mon", r("9:00-17:00").as_slice())], &[]).unwrap_err();
        assert_eq!(e.key, "hours.mon");
    }

    /// Defect: a target of more business time than three years hold on a
    /// calendar (300d on office hours) got no deadline and was never
    /// judged. The reach a policy's targets are checked against at start
    /// is found from every start tried, and is not far below the real one.
    #[test]
    fn every_target_within_reach_gets_a_deadline() {
        let sat = vec!["10:00-14:00".to_string()];
        let holidays: Vec<String> = ["2026-12-24", "2026-12-25", "2027-01-01", "2027-12-24"]
            .map(String::from)
            .to_vec();
        let nine_five = vec!["09:00-17:00".to_string()];
        let weekdays: Vec<(&str, &[String])> = DAYS[..5]
            .iter()
            .map(|d| (*d, nine_five.as_slice()))
            .collect();
        let calendars = [
            office("Europe/Berlin"),
            nine_to_five("America/New_York"),
            Calendar::new("Europe/Berlin", vec![("sat", sat.as_slice())], &[]).unwrap(),
            Calendar::new("Europe/Berlin", weekdays, &holidays).unwrap(),
        ];
        for c in &calendars {
            let reach = c.reach_ms();
            assert!(reach > 0);
            // Every hour of three weeks around a DST change and the
            // holidays, and of a week in spring.
            let starts = (0..21 * 24)
                .map(|h| ts("2026-10-19T00:00:00Z") + h * H)
                .chain((0..7 * 24).map(|h| ts("2027-03-22T00:00:00Z") + h * H))
                .chain((0..21 * 24).map(|h| ts("2026-12-14T00:00:00Z") + h * H));
            for from in starts {
                assert!(c.add_business(from, reach).is_some(), "{c:?} from {from}");
            }
            // Within two weeks' open time and the margin for daylight
            // saving of what the search can reach.
            let weekly = c.business_ms(ts("2026-11-02T00:00:00Z"), ts("2026-11-09T00:00:00Z"));
            let from = ts("2026-11-02T00:00:00Z");
            let past = reach + 2 * weekly + 16 * H;
            assert!(c.add_business(from, past).is_none(), "{reach}");
        }
    }

    /// Defect: `+9:00` was read as 09:00 (a number parser takes the sign),
    /// and a holiday with a time or zone after its date, or a signed
    /// six-digit year, was taken with the rest dropped. Times are `HH:MM`
    /// and dates `YYYY-MM-DD`, nothing else.
    #[test]
    fn times_and_dates_are_read_in_their_one_form() {
        let ok = vec!["09:00-17:00".to_string()];
        for range in ["+9:00-17:00", "09:00-+5:00", "09:-1-17:00", "0x:00-17:00"] {
            let hours = vec![range.to_string()];
            let e = Calendar::new("UTC", vec![("mon", hours.as_slice())], &[]).err();
            assert_eq!(e.map(|e| e.key).as_deref(), Some("hours.mon"), "{range}");
        }
        for day in [
            "2026-12-24T10:00:00+05:00",
            "2026-12-24 10:00",
            "20261224",
            "+002026-12-24",
            "2026-12-24Z",
            "2026-02-30",
        ] {
            let e = Calendar::new("UTC", vec![("mon", ok.as_slice())], &[day.into()]).err();
            assert_eq!(e.map(|e| e.key).as_deref(), Some("holidays[0]"), "{day}");
        }
        assert!(Calendar::new("UTC", vec![("mon", ok.as_slice())], &["2026-12-24".into()]).is_ok());
    }
}
