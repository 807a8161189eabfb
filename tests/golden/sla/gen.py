#!/usr/bin/env python3
"""Golden SLA scenario for frontline: an independent oracle.

The SLA extension of tests/golden/gen.py. Writes, into OUT_DIR (default: next
to this file):

  events.jsonl     the scenario (JSON lines, in arrival order)
  frontline.toml   the config of the run (SLA policies, calendars, KPI targets)
  expected.prom    the expected final exposition of
                   `frontline replay --input events.jsonl --config frontline.toml`

The expected numbers come from the small model below (class Model), written
from SPEC.md (§1, §2, §4, §5, §7) and docs/sla.md, docs/metrics.md,
docs/events.md alone, without looking at the Rust engine, so that a
disagreement points at a bug on one side or at an ambiguity in the documents.

Python 3.11, standard library only (zoneinfo needs the system tz database),
deterministic (hand-written events, no randomness, no wall clock).

The scenario runs from Wednesday 2026-03-25 to Tuesday 2026-03-31 11:00Z and
crosses the spring-forward night of Europe/Berlin (Sun 2026-03-29 02:00 CET ->
03:00 CEST). Every block says what it exercises and the effect worked out by
hand; `hand_checks()` asserts those hand-reasoned deadlines, verdicts and
business durations against the model, and `Model` refuses (ScenarioError) any
step whose outcome would depend on a reading the documents leave open (see
AMBIGUITIES below), so the scenario cannot silently drift into one.

Usage: python3 tests/golden/sla/gen.py [OUT_DIR]
       python3 tests/golden/sla/gen.py --wild SEED OUT_DIR
           the same scenario with random traffic added (`wild`): no hand
           checks; exit 3 when the model finds the scenario ambiguous

Readings taken where the documents leave a choice (kept out of the scenario
where possible, otherwise stated):

  R1  support_sla_at_risk / support_sla_active_breaches are "gauges that count
      things" (docs/metrics.md): once a label set has been non-zero it keeps
      exporting 0, also when it was non-zero only in the middle of one input
      line (at risk and breached by the same clock jump, breached and
      answered by the same reply): timers fire in due order, so the clock was
      in that state in event time (docs/sla.md, "Gauges keep their series").
      SLA_GAUGES_KEEP_ZERO switches the reading.
  R2  every configured target is added to the bucket bounds of the matching
      histogram *and* of its business twin (the twin uses the calendar-time
      twin's buckets, docs/metrics.md "Histogram buckets").
  R3  the business-time histograms take every first-response / reply /
      resolution observation of a ticket whose policy in force at the
      observation uses a business calendar, whether or not that policy has a
      target for that clock (SPEC §4 "its first response, reply and
      resolution observations also go to ...").
  R4  a deadline fires when the event clock *passes* it (due < clock); a
      completing event exactly at the deadline is met. A clock is at risk
      once the event clock reaches its at-risk instant (SPEC §4: elapsed >=
      warn_fraction of the target). The scenario puts no other event exactly
      on an at-risk instant or deadline.
  R5  (decided in docs/sla.md, "A breach found late" and "Verdicts a late
      event brings") a breach found by the event clock passing its deadline
      is counted in the window pane of its deadline however far the clock
      jumped, as long as that pane is within the window; one an event finds
      behind the clock (a late event, or a change that brings a deadline the
      clock has passed) is counted only if its pane is still open, not
      behind the watermark (SPEC §2: a late event changes no window).
"""

import datetime
import json
import math
import os
import sys
from collections import defaultdict
from fractions import Fraction
from zoneinfo import ZoneInfo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from seeds import Lcg, command_line, run_model  # noqa: E402


class ScenarioError(Exception):
    """The scenario does not do what its comments say (or hits an ambiguity)."""


def need(cond, msg):
    if not cond:
        raise ScenarioError(msg)


# --------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------

UTC = datetime.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def local_ms(tz, y, mo, d, h, mi, s=0, ms=0):
    """A local wall time in `tz` -> epoch ms; refuses times in a DST gap or fold."""
    naive = datetime.datetime(y, mo, d, h, mi, s)
    a = datetime.datetime(y, mo, d, h, mi, s, tzinfo=tz).replace(fold=0)
    b = a.replace(fold=1)
    need(a.utcoffset() == b.utcoffset(), f"{naive} is ambiguous in {tz}")
    t = int(a.timestamp())
    back = datetime.datetime.fromtimestamp(t, tz).replace(tzinfo=None)
    need(back == naive, f"{naive} does not exist in {tz}")
    return t * 1000 + ms


def parse_local(s):
    """'2026-03-27 14:30[:ss[.mmm]]' -> (y, mo, d, h, mi, s, ms)."""
    date, time = s.split(" ")
    y, mo, d = (int(x) for x in date.split("-"))
    parts = time.split(":")
    h, mi = int(parts[0]), int(parts[1])
    sec, ms = 0, 0
    if len(parts) > 2:
        sec_s, _, frac = parts[2].partition(".")
        sec = int(sec_s)
        ms = int((frac + "000")[:3]) if frac else 0
    return y, mo, d, h, mi, sec, ms


def Z(s):
    """UTC '2026-03-30 07:30[:ss[.mmm]]' -> epoch ms."""
    return local_ms(UTC, *parse_local(s))


def BER(s):
    """Europe/Berlin local '2026-03-27 14:30' -> epoch ms."""
    return local_ms(BERLIN, *parse_local(s))


def NYC(s):
    """America/New_York local time -> epoch ms."""
    return local_ms(NEW_YORK, *parse_local(s))


def iso(ms):
    base = datetime.datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ms % 1000:03d}Z"


def hz(ms):
    """Short UTC rendering for messages."""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%a %d %H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------
# Configuration (frontline.toml is generated from these structures)
# --------------------------------------------------------------------------

LATENESS = 30 * MIN            # time.allowed_lateness = "30m" (default 10m)
PANE = 10_000                  # windows.pane 10s (default)
WINDOWS = [("5m", 5 * MIN), ("1h", HOUR), ("24h", DAY)]
SHORT_ABANDON = 5_000
IDLE_CALL_TTL = DAY            # state.idle_call_ttl 1d
SL_THRESHOLD = 20_000
WARN_FRACTION = Fraction(3, 4)  # sla.warn_fraction = 0.75 (default 0.8)
BUCKETS = [1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400,
           28800, 43200, 86400, 172800, 259200, 604800]
QUANTILES = ["0.5", "0.9", "0.95", "0.99"]
KPI_TARGETS = [("sla_first_response", 0.9), ("sla_resolution", 0.95), ("service_level", 0.8)]
SLA_GAUGES_KEEP_ZERO = True    # reading R1

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

CALENDARS = {
    # Lunch break Mon-Thu, short Friday, a holiday on Thursday 2026-03-26.
    "office": {
        "timezone": "Europe/Berlin",
        "hours": {"mon": ["09:00-12:30", "13:30-17:00"], "tue": ["09:00-12:30", "13:30-17:00"],
                  "wed": ["09:00-12:30", "13:30-17:00"], "thu": ["09:00-12:30", "13:30-17:00"],
                  "fri": ["09:00-15:00"]},
        "holidays": ["2026-03-26", "2026-12-24", "2026-12-25"],
    },
    # A night desk, every day: open 00:00-06:00 and 18:00-24:00 local time.
    # On Sun 2026-03-29 the 00:00-06:00 range lasts 5 real hours (spring forward).
    "nightly": {
        "timezone": "Europe/Berlin",
        "hours": {d: ["00:00-06:00", "18:00-24:00"] for d in WEEKDAYS},
        "holidays": [],
    },
    # A desk in New York (EDT, UTC-4, in this week), closed on Fri 2026-03-27.
    "americas": {
        "timezone": "America/New_York",
        "hours": {d: ["08:00-18:00"] for d in WEEKDAYS[:5]},
        "holidays": ["2026-03-27"],
    },
}

# Matched in order; `match` fields: channel, priority, queue (a list or a single value).
POLICIES = [
    {"name": "urgent", "match": {"priority": ["urgent"]}, "calendar": "office",
     "first_response": "1h", "next_response": "2h", "resolution": "8h"},
    {"name": "vip", "match": {"queue": ["vip"]}, "calendar": "office",
     "first_response": "45m", "resolution": "20h"},
    {"name": "us", "match": {"queue": "us"}, "calendar": "americas",
     "first_response": "2h", "resolution": "1d"},
    {"name": "night", "match": {"channel": ["social"]}, "calendar": "nightly",
     "first_response": "4h", "resolution": "6h"},
    {"name": "chat", "match": {"channel": ["chat"]},
     "first_response": "10m", "next_response": "15m", "resolution": "1d"},
    {"name": "sales_calls", "match": {"channel": "phone", "queue": ["sales"]}, "answer": "45s"},
    {"name": "phone", "match": {"channel": ["phone"]}, "calendar": "24x7", "answer": "20s"},
    {"name": "standard", "calendar": "24x7",
     "first_response": "5h", "next_response": "3h", "resolution": "3d"},
]
CLOCKS = ["first_response", "next_response", "resolution", "answer"]


def dur_ms(s):
    unit = {"s": 1000, "m": MIN, "h": HOUR, "d": DAY}[s[-1]]
    return int(s[:-1]) * unit


def toml_value(v):
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def config_toml():
    out = ["# Generated by tests/golden/sla/gen.py: the config of the golden SLA scenario.",
           "", "[time]", 'allowed_lateness = "30m"', "",
           "[kpi_targets]"]
    out += [f"{k} = {v!r}" for k, v in KPI_TARGETS]
    out += ["", "[sla]", f"warn_fraction = {float(WARN_FRACTION)!r}"]
    for p in POLICIES:
        out += ["", "[[sla.policies]]"]
        for k, v in p.items():
            out.append(f"{k} = {toml_value(v)}")
    for name, c in CALENDARS.items():
        out += ["", f"[sla.calendars.{name}]", f"timezone = {toml_value(c['timezone'])}",
                f"hours = {toml_value(c['hours'])}", f"holidays = {toml_value(c['holidays'])}"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Calendars (SPEC §4, docs/sla.md): open time, business elapsed, deadlines
# --------------------------------------------------------------------------

class AlwaysOpen:
    name = "24x7"
    business = False

    def open_intervals(self, a, b):
        if b is None:
            yield (a, a + 1000 * 365 * DAY)
        elif a < b:
            yield (a, b)


class BusinessCalendar:
    business = True

    def __init__(self, name, spec):
        self.name = name
        self.tz = ZoneInfo(spec["timezone"])
        self.hours = {}
        for day, ranges in spec["hours"].items():
            rs = []
            for r in ranges:
                s, e = r.split("-")
                sh, sm = (int(x) for x in s.split(":"))
                eh, em = (int(x) for x in e.split(":"))
                need((eh, em) <= (24, 0) and (sh, sm) < (eh, em), f"bad range {r}")
                rs.append(((sh, sm), (eh, em)))
            self.hours[WEEKDAYS.index(day)] = sorted(rs)
        self.holidays = {datetime.date.fromisoformat(d) for d in spec["holidays"]}

    def _wall(self, date, hm):
        h, m = hm
        if (h, m) == (24, 0):
            date, h, m = date + datetime.timedelta(days=1), 0, 0
        return local_ms(self.tz, date.year, date.month, date.day, h, m)

    def day_intervals(self, date):
        if date in self.holidays:
            return []
        return [(self._wall(date, s), self._wall(date, e)) for s, e in self.hours.get(date.weekday(), [])]

    def open_intervals(self, a, b):
        """Open intervals (epoch ms) clipped to [a, b); b may be None (unbounded)."""
        date = datetime.datetime.fromtimestamp(a / 1000, self.tz).date() - datetime.timedelta(days=1)
        for _ in range(10_000):
            for s, e in self.day_intervals(date):
                s, e = max(s, a), e if b is None else min(e, b)
                if s < e:
                    yield (s, e)
            date += datetime.timedelta(days=1)
            if b is not None and self._wall(date, (0, 0)) - DAY >= b:
                return
        raise ScenarioError(f"calendar {self.name} never opens")


CALS = {"24x7": AlwaysOpen()}
for _n, _c in CALENDARS.items():
    CALS[_n] = BusinessCalendar(_n, _c)


def business_ms(cal, a, b):
    return sum(e - s for s, e in cal.open_intervals(a, b)) if a < b else 0


def reach(cal, segs, amount):
    """First instant at which the open time of `cal` inside the clock's running
    segments [(start, end or None)] reaches `amount`; None if it is not reached
    (the clock is paused before)."""
    acc = 0
    for s, e in segs:
        for os_, oe in cal.open_intervals(s, e):
            if acc + (oe - os_) >= amount:
                return os_ + (amount - acc)
            acc += oe - os_
    return None


class Policy:
    def __init__(self, spec):
        self.name = spec["name"]
        self.match = {k: (v if isinstance(v, list) else [v]) for k, v in spec.get("match", {}).items()}
        self.cal = CALS[spec.get("calendar", "24x7")]
        self.targets = {k: dur_ms(spec[k]) for k in CLOCKS if k in spec}

    def matches(self, fields):
        return all(fields[k] in vs for k, vs in self.match.items())


POLS = [Policy(p) for p in POLICIES]


def choose_policy(channel, priority, queue):
    for p in POLS:
        if p.matches({"channel": channel, "priority": priority, "queue": queue}):
            return p
    return None


# --------------------------------------------------------------------------
# Scenario builder
# --------------------------------------------------------------------------

class Item:
    def __init__(self, line, arrive, seq, expect, ts):
        self.line, self.arrive, self.seq, self.ts = line, arrive, seq, ts
        self.expect = set(expect)   # outcomes it must have: held
        self.out = set()


class Scenario:
    def __init__(self):
        self.items = []
        self.nid = 0

    def ev(self, type_, ts, *, arrive=None, expect=(), **fields):
        self.nid += 1
        obj = {"event_id": f"sla-{self.nid:04d}", "type": type_, "ts": iso(ts)}
        obj.update(fields)
        line = json.dumps(obj, separators=(",", ":"))
        arrive = ts if arrive is None else arrive
        need(arrive >= ts, f"an event is sent before it happens: {line}")
        it = Item(line, arrive, len(self.items), expect, ts)
        self.items.append(it)
        return it

    def ordered(self):
        return sorted(self.items, key=lambda it: (it.arrive, it.seq))


END = Z("2026-03-31 11:00")    # the last event, hence the final event clock


def build():
    S = Scenario()
    block_holiday(S)
    block_friday_dst(S)
    block_dst_night(S)
    block_monday(S)
    block_policy_changes(S)
    block_pause_and_stops(S)
    block_tuesday_chat(S)
    block_calls(S)
    block_late(S)
    ticks(S)
    return S


def T(S, type_, tid, ts, **kw):
    return S.ev(type_, ts, ticket_id=tid, **kw)


def created(S, tid, ts, channel, priority, queue, **kw):
    return S.ev("ticket.created", ts, ticket_id=tid, customer_id="cust-" + tid.lower(),
                channel=channel, priority=priority, queue=queue, **kw)


def block_holiday(S):
    """Holiday skipped (office), and the americas calendar.

    T-HOL {email, urgent, billing} -> policy urgent (office, FR 1h, res 8h).
      created Wed 25 Mar 16:30 CET (15:30Z). FR: Wed 16:30-17:00 = 30 min,
      Thu 26 Mar is a holiday, Fri 09:00 + 30 min -> deadline Fri 09:30 CET
      (08:30Z); at risk (45 min) Fri 09:15 CET (08:15Z).
      Reply Fri 09:20 CET (08:20Z) -> FR met. Business FR = 50 min = 3000 s
      (calendar 40 h 50 min = 147000 s).
      Resolution 8h: Wed 0.5 h, Fri 09:00-15:00 6 h, Mon 30 Mar (now CEST)
      09:00 + 1.5 h -> deadline Mon 10:30 CEST (08:30Z). Resolved Fri 14:00 CET
      (13:00Z) -> met; business 0.5 h + 5 h = 19800 s. One public reply -> FCR.
    T-US {email, normal, us} -> policy us (americas: New York 08:00-18:00,
      holiday Fri 27 Mar; FR 2h). created Thu 26 Mar 17:30 EDT (21:30Z):
      Thu 30 min, Fri holiday, weekend closed, Mon 08:00 + 1.5 h -> deadline
      Mon 09:30 EDT (13:30Z); at risk (1.5 h) Mon 09:00 EDT (13:00Z).
      Reply Mon 08:50 EDT (12:50Z) -> met, business 30 + 50 min = 4800 s.
      Resolution 1d (24 business hours): 10.5 h by the end -> not at risk.
    """
    created(S, "T-HOL", BER("2026-03-25 16:30"), "email", "urgent", "billing")
    T(S, "ticket.assigned", "T-HOL", BER("2026-03-25 16:35"), agent_id="A1", queue="billing")
    T(S, "ticket.agent_replied", "T-HOL", BER("2026-03-27 09:20"), agent_id="A1")
    T(S, "ticket.resolved", "T-HOL", BER("2026-03-27 14:00"), agent_id="A1")

    created(S, "T-US", NYC("2026-03-26 17:30"), "email", "normal", "us")
    T(S, "ticket.agent_replied", "T-US", NYC("2026-03-30 08:50"), agent_id="A5")


def block_friday_dst(S):
    """Friday afternoon near close -> Monday, across the DST change.

    T-FRI {web, urgent, tech} -> urgent (office). created Fri 27 Mar 14:30 CET
      (13:30Z). FR 1h: Fri 14:30-15:00 = 30 min, Mon 30 Mar 09:00 CEST + 30 min
      -> deadline Mon 09:30 CEST = 07:30Z (a fixed +01:00 offset would say
      08:30Z); at risk Mon 09:15 CEST (07:15Z).
      No reply by then: breached at 07:30Z (a tick at 07:35Z passes it), an
      active breach until the reply at Mon 08:00Z, which is not met.
      Business FR = 30 min + 1 h = 5400 s.
      Resolution 8h: Fri 0.5 h, Mon 09:00-12:30 3.5 h, 13:30-17:00 3.5 h,
      Tue 09:00 + 0.5 h -> deadline Tue 31 Mar 09:30 CEST (07:30Z); at risk
      (6 h) Mon 15:30 CEST (13:30Z). Never resolved: breached Tue 07:30Z and
      still an active breach at the end.
    """
    created(S, "T-FRI", BER("2026-03-27 14:30"), "web", "urgent", "tech")
    T(S, "ticket.agent_replied", "T-FRI", Z("2026-03-30 08:00"), agent_id="A2")


def block_dst_night(S):
    """The nightly calendar (00:00-06:00 and 18:00-24:00 every day, Berlin)
    across the spring-forward night Sat 28 -> Sun 29 Mar.

    T-DST {social, normal, tech} -> night (FR 4h, res 6h). created Sat 23:30 CET
      (22:30Z). Open continuously from then to Sun 06:00 CEST = 04:00Z (the
      Sunday 00:00-06:00 range lasts 5 real hours).
      FR: deadline 22:30Z + 4 h = Sun 02:30Z = 04:30 CEST (local wall-clock
      arithmetic would say 03:30 local); at risk (3 h) Sun 01:30Z.
      Reply Sun 02:20Z -> met. Business FR = 3 h 50 min = 13800 s.
      Resolution 6h: 5.5 h by Sun 04:00Z, then Sun 18:00 CEST (16:00Z) + 30 min
      -> deadline Sun 18:30 CEST = 16:30Z (wall-clock arithmetic: 04:00Z);
      at risk (4.5 h) Sun 03:00Z. Resolved Sun 16:20Z -> met; business
      5 h 50 min = 21000 s (calendar 17 h 50 min = 64200 s).
    T-MID {social, low, billing} -> night. created Sun 29 Mar 21:00 CEST (19:00Z).
      "18:00-24:00" then Monday's "00:00-06:00": open continuously to Mon 04:00Z.
      FR deadline 23:00Z, at risk 22:00Z; breached at 23:00Z (tick 23:05Z),
      active until the reply at 23:25Z (business 4 h 25 min = 15900 s).
      Resolution deadline Mon 01:00Z, at risk 23:30Z; resolved Mon 00:45Z -> met
      (business 5 h 45 min = 20700 s).
    """
    created(S, "T-DST", BER("2026-03-28 23:30"), "social", "normal", "tech")
    T(S, "ticket.agent_replied", "T-DST", Z("2026-03-29 02:20"), agent_id="A3")
    T(S, "ticket.resolved", "T-DST", Z("2026-03-29 16:20"), agent_id="A3")

    created(S, "T-MID", BER("2026-03-29 21:00"), "social", "low", "billing")
    T(S, "ticket.agent_replied", "T-MID", Z("2026-03-29 23:25"), agent_id="A3")
    T(S, "ticket.resolved", "T-MID", Z("2026-03-30 00:45"), agent_id="A3")


def block_monday(S):
    """Weekend creation, re-choice on a queue change (office Mon: 07:00-10:30Z,
    11:30-15:00Z; Tue the same).

    T-WKND {email, normal, vip} -> vip (office, FR 45m, res 20h, no next_response).
      created Sat 28 Mar 10:00 CET (09:00Z, closed). FR deadline Mon 09:45 CEST
      (07:45Z); at risk (33 min 45 s) Mon 07:33:45Z. Reply Mon 07:40Z -> met
      (business 2400 s). Customer writes Mon 12:00Z, reply 13:00Z: reply time
      3600 s, also in support_reply_business_seconds (reading R3) although vip
      has no next_response target (no SLA series for it).
      Resolution 20h: 10.5 business hours by the end -> not at risk.
    T-QUEUE {email, normal, billing} -> standard (24x7, FR 5h) at creation Mon
      06:00Z; assigned to queue vip at 06:30Z -> vip, FR 45 min in office time
      measured from creation: opens 07:00Z -> deadline 07:45Z, at risk
      07:33:45Z. Breached at 07:45Z (tick 07:47Z), the reply at 07:50Z is not
      met. Business FR = reply = 50 min = 3000 s, labels queue vip.
    """
    created(S, "T-WKND", BER("2026-03-28 10:00"), "email", "normal", "vip")
    T(S, "ticket.agent_replied", "T-WKND", Z("2026-03-30 07:40"), agent_id="A4")
    T(S, "ticket.customer_replied", "T-WKND", Z("2026-03-30 12:00"))
    T(S, "ticket.agent_replied", "T-WKND", Z("2026-03-30 13:00"), agent_id="A4")

    created(S, "T-QUEUE", Z("2026-03-30 06:00"), "email", "normal", "billing")
    T(S, "ticket.assigned", "T-QUEUE", Z("2026-03-30 06:30"), agent_id="A4", queue="vip")
    T(S, "ticket.agent_replied", "T-QUEUE", Z("2026-03-30 07:50"), agent_id="A4")


def block_policy_changes(S):
    """A priority change re-chooses the policy; clocks measured from their start.

    T-SHORT {email, low, tech} -> standard (FR 5h, deadline 13:00Z) at Mon 08:00Z.
      09:05Z priority urgent -> urgent, FR 1h of office time from 08:00Z ->
      deadline 09:00Z, already passed: breached at once (counted at 09:00Z,
      labels {first_response, urgent, urgent, tech}); active until the reply
      at 09:30Z (business 5400 s). Resolution under urgent from 08:00Z:
      Mon 2.5 h + 3.5 h, Tue 07:00Z + 2 h -> deadline Tue 09:00Z, at risk
      Mon 15:00Z (the close). Resolved Tue 08:30Z -> met; business 7.5 h =
      27000 s (calendar 24.5 h = 88200 s). One reply -> FCR {email, urgent, tech}.
    T-LONG {email, urgent, billing} -> urgent at Mon 07:10Z: FR deadline 08:10Z,
      at risk 07:55Z. Breached at 08:10Z (tick 08:15Z) with labels
      {first_response, urgent, urgent, billing}. 08:30Z priority normal ->
      standard (FR 5h, deadline 12:10Z): the breach stands; the active breach
      moves to {first_response, standard, normal, billing} and is still active
      at the end (no reply).
    T-LIFT {web, urgent, sales} -> urgent at Mon 11:30Z: FR deadline 12:30Z, at
      risk 12:15Z (tick 12:20Z: at risk). 12:25Z priority high -> standard: FR
      deadline 16:30Z, at risk 15:15Z: lifted out of risk. Reply 14:00Z -> met
      {first_response, standard, high, sales}; no business observation (24x7).
    T-GAIN {email, normal, vip} -> vip at Mon 07:05Z. Reply 07:30Z (FR met,
      deadline 07:50Z). The customer writes at 08:00Z: a next_response clock
      runs without a target (vip has none). 09:00Z priority urgent -> urgent:
      next_response 2h from 08:00Z -> deadline 10:00Z, at risk 09:30Z; reply
      09:40Z -> met {next_response, urgent, urgent, vip}, reply business 6000 s.
      Resolution under urgent from 07:05Z: Mon 3 h 25 min + 3.5 h, Tue
      07:00Z + 1 h 5 min -> deadline Tue 08:05Z (at risk Mon 14:05Z). Breached
      Tue 08:05Z; resolved Tue 10:00Z: the breach stands, the active breach
      ends. Business resolution 9 h 55 min = 35700 s.
    """
    created(S, "T-SHORT", Z("2026-03-30 08:00"), "email", "low", "tech")
    T(S, "ticket.priority_changed", "T-SHORT", Z("2026-03-30 09:05"), priority="urgent")
    T(S, "ticket.agent_replied", "T-SHORT", Z("2026-03-30 09:30"), agent_id="A2")
    T(S, "ticket.resolved", "T-SHORT", Z("2026-03-31 08:30"), agent_id="A2")

    created(S, "T-LONG", Z("2026-03-30 07:10"), "email", "urgent", "billing")
    T(S, "ticket.priority_changed", "T-LONG", Z("2026-03-30 08:30"), priority="normal")

    created(S, "T-LIFT", Z("2026-03-30 11:30"), "web", "urgent", "sales")
    T(S, "ticket.priority_changed", "T-LIFT", Z("2026-03-30 12:25"), priority="high")
    T(S, "ticket.agent_replied", "T-LIFT", Z("2026-03-30 14:00"), agent_id="A4")

    created(S, "T-GAIN", Z("2026-03-30 07:05"), "email", "normal", "vip")
    T(S, "ticket.agent_replied", "T-GAIN", Z("2026-03-30 07:30"), agent_id="A4")
    T(S, "ticket.customer_replied", "T-GAIN", Z("2026-03-30 08:00"))
    T(S, "ticket.priority_changed", "T-GAIN", Z("2026-03-30 09:00"), priority="urgent")
    T(S, "ticket.agent_replied", "T-GAIN", Z("2026-03-30 09:40"), agent_id="A4")
    T(S, "ticket.resolved", "T-GAIN", Z("2026-03-31 10:00"), agent_id="A4")


def block_pause_and_stops(S):
    """Pending pause, next_response, and clocks stopped without a verdict.

    T-PEND {email, urgent, billing} -> urgent, created Mon 07:00Z. Reply 07:20Z
      -> FR met (business 1200 s). Pending 09:00Z; the customer writes at
      12:00Z (status open again: the resolution clock resumes; and a
      next_response clock starts: 2h -> deadline 14:00Z, at risk 13:30Z);
      reply 13:45Z -> next_response met, reply business 6300 s.
      Resolution 8h without the pause would end Tue 08:00Z; the pause holds
      2 business hours (09:00-10:30Z, 11:30-12:00Z) -> deadline Tue 10:00Z,
      at risk Tue 08:00Z. Resolved Tue 09:30Z -> met. Business resolution (the
      pause not excluded) = Mon 7 h + Tue 2.5 h = 34200 s; calendar 95400 s.
    T-NOFR {sms, urgent, tech} -> urgent at Mon 13:00Z: FR at risk 13:45Z (tick
      13:50Z), resolved 13:55Z without a reply: the first-response clock stops
      without a verdict (and leaves at-risk); resolution met (business 3300 s);
      FCR (no reply, no escalation).
    T-CLOSEBR {email, low, sales} -> standard at Mon 10:00Z: FR breached at
      15:00Z (tick 15:05Z), closed 16:00Z: the active breach ends, the
      resolution clock stops without a verdict.
    T-CLOSERISK {web, normal, sales} -> standard at Mon 12:00Z: FR at risk from
      15:45Z (tick 15:50Z); 16:00:30Z priority low (still standard): the
      at-risk clock moves to priority="low"; closed 16:30Z: leaves at-risk,
      no verdict.
    T-MOVE {web, normal, sales} -> standard at Mon 11:00Z: FR breached at
      16:00Z (tick 16:05Z), labels {first_response, standard, normal, sales};
      assigned to queue billing at 17:00Z (still standard): the active breach
      moves to queue billing (where T-LONG's is: 2 at the end), the counted
      breach stays with queue sales.
    C-IDLE {phone, tech} queued Mon 09:00Z, never answered: breached 09:00:20Z;
      no event for idle_call_ttl (1 d): dropped (swept every 15 min) by
      Tue 09:15Z, leaving the queue gauges; its active breach ends.
    T-NEXT {email, urgent, tech} -> urgent at Mon 13:00Z; reply 13:10Z (FR met).
      The customer writes Mon 14:30Z (16:30 CEST): next_response 2h = Mon 30 min
      + Tue 09:00 CEST + 1.5 h -> deadline Tue 10:30 CEST (08:30Z), at risk
      Tue 08:00Z. The customer writes again Tue 07:00Z: an unanswered message
      is before it, so no new clock (the deadline stays 08:30Z). No reply:
      breached 08:30Z, active at the end. Resolution
      (from 13:00Z): 5.5 business hours by the end -> not at risk.
    T-CHATHOLD {chat, normal, tech} -> chat (24x7, res 1d) at Mon 10:00Z;
      reply 10:05Z (FR met). on_hold 10:10Z (no pause), pending 11:00Z,
      open 15:00Z: a 4 h pause -> resolution deadline Tue 14:00Z, at risk
      (18 h of running) Tue 08:00Z. Resolved Tue 10:30Z -> met (in the 1h window).
    """
    created(S, "T-PEND", Z("2026-03-30 07:00"), "email", "urgent", "billing")
    T(S, "ticket.agent_replied", "T-PEND", Z("2026-03-30 07:20"), agent_id="A1")
    T(S, "ticket.status_changed", "T-PEND", Z("2026-03-30 09:00"), status="pending")
    T(S, "ticket.customer_replied", "T-PEND", Z("2026-03-30 12:00"))
    T(S, "ticket.agent_replied", "T-PEND", Z("2026-03-30 13:45"), agent_id="A1")
    T(S, "ticket.resolved", "T-PEND", Z("2026-03-31 09:30"), agent_id="A1")

    created(S, "T-NOFR", Z("2026-03-30 13:00"), "sms", "urgent", "tech")
    T(S, "ticket.resolved", "T-NOFR", Z("2026-03-30 13:55"))

    created(S, "T-CLOSEBR", Z("2026-03-30 10:00"), "email", "low", "sales")
    T(S, "ticket.closed", "T-CLOSEBR", Z("2026-03-30 16:00"))

    created(S, "T-CLOSERISK", Z("2026-03-30 12:00"), "web", "normal", "sales")
    T(S, "ticket.priority_changed", "T-CLOSERISK", Z("2026-03-30 16:00:30"), priority="low")
    T(S, "ticket.closed", "T-CLOSERISK", Z("2026-03-30 16:30"))

    created(S, "T-MOVE", Z("2026-03-30 11:00"), "web", "normal", "sales")
    T(S, "ticket.assigned", "T-MOVE", Z("2026-03-30 17:00"), agent_id="A5", queue="billing")

    S.ev("call.queued", Z("2026-03-30 09:00"), call_id="C-IDLE", customer_id="cust-c-idle", queue="tech")

    created(S, "T-NEXT", Z("2026-03-30 13:00"), "email", "urgent", "tech")
    T(S, "ticket.agent_replied", "T-NEXT", Z("2026-03-30 13:10"), agent_id="A2")
    T(S, "ticket.customer_replied", "T-NEXT", Z("2026-03-30 14:30"))
    T(S, "ticket.customer_replied", "T-NEXT", Z("2026-03-31 07:00"))   # not a new clock

    created(S, "T-CHATHOLD", Z("2026-03-30 10:00"), "chat", "normal", "tech")
    T(S, "ticket.agent_replied", "T-CHATHOLD", Z("2026-03-30 10:05"), agent_id="A3")
    T(S, "ticket.status_changed", "T-CHATHOLD", Z("2026-03-30 10:10"), status="on_hold")
    T(S, "ticket.status_changed", "T-CHATHOLD", Z("2026-03-30 11:00"), status="pending")
    T(S, "ticket.status_changed", "T-CHATHOLD", Z("2026-03-30 15:00"), status="open")
    T(S, "ticket.resolved", "T-CHATHOLD", Z("2026-03-31 10:30"), agent_id="A3")


def block_tuesday_chat(S):
    """Tuesday morning: the windows (end 11:00:00Z: the 5m window holds panes
    from 10:55:10, the 1h window from 10:00:10, the 24h window from Mon 11:00:10).

    T-ATRISK {email, urgent, sales} -> urgent at Tue 09:40Z (11:40 CEST): FR 1h
      = 50 min before lunch (12:30-13:30 CEST) + 10 min -> deadline 13:40 CEST
      (11:40Z), at risk (45 min) 10:25Z. At the end (11:00Z, lunch): at risk,
      not breached (ignoring the lunch break would breach it at 10:40Z). A
      private note at 10:30:05Z is not a response.
    T-CHAT1 {chat, normal, sales} -> chat (FR 10m, next 15m) at 10:20Z: reply
      10:27Z (met), customer 10:30Z, reply 10:40Z (next_response met),
      customer 10:46Z: next_response deadline 11:01Z, at risk 10:57:15Z ->
      at risk at the end.
    T-CHATHELD {chat, normal, tech}: created 10:35Z but sent at 10:52:30Z; its
      reply (10:43Z) arrives first and is held. By 10:52:30 the event clock
      has passed the FR deadline 10:45Z, yet the held reply is judged by its
      own ts: met (8 min).
    T-CHAT3 {chat, normal, tech} at 10:46Z: FR at risk 10:53:30Z (tick
      10:54Z), breached 10:56Z (tick 10:56:30Z): in the 5m window, active at
      the end.
    T-CHAT2 {chat, normal, billing} at 10:50Z: reply 10:57Z (FR met),
      resolved 10:58Z (resolution met): both verdicts in the 5m window.
    T-LAST {chat, normal, sales} at 10:58:30Z: a creation inside the 5m window
      (so its resolution ratio has a denominator); nothing due by the end.
    """
    created(S, "T-ATRISK", Z("2026-03-31 09:40"), "email", "urgent", "sales")
    T(S, "ticket.agent_replied", "T-ATRISK", Z("2026-03-31 10:30:05"), agent_id="A1", public=False)

    created(S, "T-CHAT1", Z("2026-03-31 10:20"), "chat", "normal", "sales")
    T(S, "ticket.agent_replied", "T-CHAT1", Z("2026-03-31 10:27"), agent_id="A3")
    T(S, "ticket.customer_replied", "T-CHAT1", Z("2026-03-31 10:30"))
    T(S, "ticket.agent_replied", "T-CHAT1", Z("2026-03-31 10:40"), agent_id="A3")
    T(S, "ticket.customer_replied", "T-CHAT1", Z("2026-03-31 10:46"))

    created(S, "T-CHATHELD", Z("2026-03-31 10:35"), "chat", "normal", "tech",
            arrive=Z("2026-03-31 10:52:30"))
    T(S, "ticket.agent_replied", "T-CHATHELD", Z("2026-03-31 10:43"), agent_id="A2", expect={"held"})

    created(S, "T-CHAT3", Z("2026-03-31 10:46"), "chat", "normal", "tech")

    created(S, "T-CHAT2", Z("2026-03-31 10:50"), "chat", "normal", "billing")
    T(S, "ticket.agent_replied", "T-CHAT2", Z("2026-03-31 10:57"), agent_id="A1")
    T(S, "ticket.resolved", "T-CHAT2", Z("2026-03-31 10:58"), agent_id="A1")

    created(S, "T-LAST", Z("2026-03-31 10:58:30"), "chat", "normal", "sales")


def block_late(S):
    """Events sent late (older than the watermark, SPEC §2): applied to the
    clocks, judged by their own ts, and counted in no window. Two ticks of
    this block's own (Tue 08:45Z, 09:45Z) put the clock where it says.

    T-LATEPAUSE {chat, normal, billing} -> chat (24x7, resolution 1d) at Mon
      10:00Z; reply 10:05Z (FR met). Resolution at risk (18 h) Tue 04:00Z,
      fired by Tuesday's events. Its pending, dated Tue 03:30Z, is sent Tue
      08:40Z (late): the clock had run 17.5 h when it paused, so it is not at
      risk any more (docs/sla.md, "At risk while paused"). Open again Tue
      10:40Z: at risk after 30 more minutes, 11:10Z (after the end), deadline
      6.5 h after, 17:10Z.
    T-LATEPRIO {web, normal, tech} -> standard (FR 5h) at Tue 06:00Z. Priority
      urgent dated 08:10Z, sent 08:50Z (late; the clock is past 08:45Z): urgent
      is FR 1h in office hours, which open at 09:00 CEST = 07:00Z, so its
      at-risk instant (45 min) 07:45Z and deadline 08:00Z have both passed:
      at risk and breached at once, the breach dated 08:00Z and, behind the
      watermark, in no window pane. The reply at 09:00Z (on time) stops the
      active breach.
    T-LATEREPLY {chat, normal, sales} -> chat (FR 10m): created Tue 09:00Z and
      replied 09:08Z, both sent 50 min late (09:50Z, 09:58Z; the clock is past
      09:45Z). The creation starts a clock whose deadline (09:10Z) the event
      clock has passed: breached at once, in no window pane. The reply, in
      time by its ts, comes after the breach: it stands. First response
      480 s in the histogram, not in the windows.
    T-LATEMET {web, normal, sales} -> standard (FR 5h) at Tue 08:00Z; its reply
      dated 08:30Z is sent 09:50Z (late): met (deadline 13:00Z), counted in
      support_sla_achieved_total but in no window pane.
    T-LATEPENDING {chat, normal, billing} -> chat (24x7, resolution 1d) at Mon
      06:00Z, replied 06:05Z (FR met); pending 12:00Z-14:00Z. A pending dated
      08:00Z and its open dated 12:30Z, which overlaps the first interval,
      are sent Mon 20:00Z and 20:01Z (late), after it: the clock stops for
      their union, 08:00Z-14:00Z (docs/sla.md, "Pending time out of
      order"), so it has run 2 h by 14:00Z. At risk (18 h) Tue 06:00Z,
      deadline Tue 12:00Z; resolved Tue 09:30Z: met. Counting the first
      interval alone, the deadline would have been Tue 08:00Z.
    Seven late events in all.
    """
    created(S, "T-LATEPAUSE", Z("2026-03-30 10:00"), "chat", "normal", "billing")
    T(S, "ticket.agent_replied", "T-LATEPAUSE", Z("2026-03-30 10:05"), agent_id="A2")
    T(S, "ticket.status_changed", "T-LATEPAUSE", Z("2026-03-31 03:30"), status="pending",
      arrive=Z("2026-03-31 08:40"))
    T(S, "ticket.status_changed", "T-LATEPAUSE", Z("2026-03-31 10:40"), status="open")

    S.ev("customer.subscribed", Z("2026-03-31 08:45"), customer_id="c-tick")
    created(S, "T-LATEPRIO", Z("2026-03-31 06:00"), "web", "normal", "tech")
    T(S, "ticket.priority_changed", "T-LATEPRIO", Z("2026-03-31 08:10"), priority="urgent",
      arrive=Z("2026-03-31 08:50"))
    T(S, "ticket.agent_replied", "T-LATEPRIO", Z("2026-03-31 09:00"), agent_id="A1")

    S.ev("customer.subscribed", Z("2026-03-31 09:45"), customer_id="c-tick")
    created(S, "T-LATEREPLY", Z("2026-03-31 09:00"), "chat", "normal", "sales",
            arrive=Z("2026-03-31 09:50"))
    T(S, "ticket.agent_replied", "T-LATEREPLY", Z("2026-03-31 09:08"), agent_id="A2",
      arrive=Z("2026-03-31 09:58"))

    created(S, "T-LATEMET", Z("2026-03-31 08:00"), "web", "normal", "sales")
    T(S, "ticket.agent_replied", "T-LATEMET", Z("2026-03-31 08:30"), agent_id="A1",
      arrive=Z("2026-03-31 09:50"))

    created(S, "T-LATEPENDING", Z("2026-03-30 06:00"), "chat", "normal", "billing")
    T(S, "ticket.agent_replied", "T-LATEPENDING", Z("2026-03-30 06:05"), agent_id="A2")
    T(S, "ticket.status_changed", "T-LATEPENDING", Z("2026-03-30 12:00"), status="pending")
    T(S, "ticket.status_changed", "T-LATEPENDING", Z("2026-03-30 14:00"), status="open")
    T(S, "ticket.status_changed", "T-LATEPENDING", Z("2026-03-30 08:00"), status="pending",
      arrive=Z("2026-03-30 20:00"))
    T(S, "ticket.status_changed", "T-LATEPENDING", Z("2026-03-30 12:30"), status="open",
      arrive=Z("2026-03-30 20:01"))
    T(S, "ticket.resolved", "T-LATEPENDING", Z("2026-03-31 09:30"), agent_id="A2")


def block_calls(S):
    """Answer clocks (Tue 31 Mar). phone: 20s (at risk 15s); sales_calls
    (channel phone AND queue sales): 45s (at risk 33.75s); a chat-channel call
    matches the chat policy, which has no answer target: no SLA series.

    C-HELD billing: queued 10:30:00 (sent 10:30:45), answered 10:30:12 arrives
      first (held); the clock passes the deadline 10:30:20 (tick 10:30:30)
      before the queued arrives; judged by its own ts: met, wait 12 s.
    C-HELDLATE billing: queued 10:31:00 (sent 10:31:50), answered 10:31:25 held:
      25 s > 20 s -> breached (at 10:31:20), not met.
    C-ABBR billing: queued 10:35:00, at risk 10:35:15 (tick 10:35:17), breached
      10:35:20 (tick 10:35:30), abandoned 10:36:00: the active breach ends.
    C-EDGE billing: queued 10:45:00, answered 10:45:20.000 exactly at the
      deadline -> met ("at or before the deadline").
    C-SALES sales: queued 10:40:00, answered 10:40:30 -> met under sales_calls
      (it would breach the 20s phone target).
    C-CHAN {chat, tech}: answered after 60 s; policy chat has no answer target.
    C-AB tech: abandoned after 10 s: no verdict, never at risk.
    C-ABRISK tech: queued 10:52:00, at risk 10:52:15 (tick 10:52:17),
      abandoned 10:52:18: leaves at-risk, no verdict.
    C-AT tech: queued 10:59:43, at risk 10:59:58, deadline 11:00:03: at risk at
      the end (and the oldest waiting call, 17 s).
    """
    def q(cid, ts, queue, **kw):
        return S.ev("call.queued", ts, call_id=cid, customer_id="cust-" + cid.lower(), queue=queue, **kw)

    def ans(cid, ts, agent, **kw):
        return S.ev("call.answered", ts, call_id=cid, agent_id=agent, **kw)

    q("C-HELD", Z("2026-03-31 10:30:00"), "billing", arrive=Z("2026-03-31 10:30:45"))
    ans("C-HELD", Z("2026-03-31 10:30:12"), "A1", expect={"held"})
    q("C-HELDLATE", Z("2026-03-31 10:31:00"), "billing", arrive=Z("2026-03-31 10:31:50"))
    ans("C-HELDLATE", Z("2026-03-31 10:31:25"), "A2", expect={"held"})
    q("C-ABBR", Z("2026-03-31 10:35:00"), "billing")
    S.ev("call.abandoned", Z("2026-03-31 10:36:00"), call_id="C-ABBR")
    q("C-EDGE", Z("2026-03-31 10:45:00"), "billing")
    ans("C-EDGE", Z("2026-03-31 10:45:20.000"), "A3")
    q("C-SALES", Z("2026-03-31 10:40:00"), "sales")
    ans("C-SALES", Z("2026-03-31 10:40:30"), "A4")
    q("C-CHAN", Z("2026-03-31 10:33:00"), "tech", channel="chat")
    ans("C-CHAN", Z("2026-03-31 10:34:00"), "A5")
    q("C-AB", Z("2026-03-31 10:50:00"), "tech")
    S.ev("call.abandoned", Z("2026-03-31 10:50:10"), call_id="C-AB")
    q("C-ABRISK", Z("2026-03-31 10:52:00"), "tech")
    S.ev("call.abandoned", Z("2026-03-31 10:52:18"), call_id="C-ABRISK")
    q("C-AT", Z("2026-03-31 10:59:43"), "tech")


TICK_TIMES = [
    # Wed .. Fri: the holiday block
    "2026-03-26 12:00", "2026-03-27 08:17", "2026-03-27 16:00",
    # the DST night and Sunday
    "2026-03-28 12:00", "2026-03-29 01:45", "2026-03-29 03:10", "2026-03-29 12:00",
    "2026-03-29 22:05", "2026-03-29 23:05", "2026-03-29 23:35",
    # Monday
    "2026-03-30 07:20", "2026-03-30 07:35", "2026-03-30 07:47", "2026-03-30 08:00:30",
    "2026-03-30 08:15", "2026-03-30 09:35", "2026-03-30 12:20", "2026-03-30 13:35",
    "2026-03-30 13:50", "2026-03-30 14:10", "2026-03-30 15:05", "2026-03-30 15:50",
    "2026-03-30 16:05", "2026-03-30 18:00", "2026-03-30 22:00", "2026-03-30 09:01",
    # Tuesday
    "2026-03-31 04:00", "2026-03-31 07:40", "2026-03-31 08:05", "2026-03-31 08:10",
    "2026-03-31 08:35", "2026-03-31 10:26", "2026-03-31 10:30:30", "2026-03-31 10:35:17",
    "2026-03-31 10:35:30", "2026-03-31 10:54", "2026-03-31 10:56:30",
    "2026-03-31 10:52:17",
]


def ticks(S):
    """Clock ticks: customer.subscribed of one customer (it only keeps
    support_customers_active at 1). They move the event clock past at-risk
    instants and deadlines so that each at-risk / breach state is seen
    between events and each breach fires within the lateness (reading R5).
    The last one sets the final event clock to END."""
    for s in TICK_TIMES:
        S.ev("customer.subscribed", Z(s), customer_id="c-tick")
    S.ev("customer.subscribed", END, customer_id="c-tick")


def wild(S, rng):
    """Random traffic for `gen.py --wild SEED` (tests/golden.rs runs a few
    seeds): 40 tickets over the week, each matched to a policy by a random
    channel, priority and queue (business calendars across the holiday and
    the DST night included), with random replies, customer messages, pauses,
    priority and queue changes, resolutions and closes; 20 calls answered,
    abandoned or left waiting, two in five moved to another queue while
    waiting (which can bring a shorter target already passed); and ticks at
    random gaps of a minute to two hours, so that the clock passes deadlines
    by small steps and by jumps beyond the lateness (R5). Most tickets and
    calls send their events when they happen; the others send them all a
    fixed delay after, behind the event clock: within the lateness, or late
    (SPEC §2), so that a late event starts, pauses, re-targets or completes
    a clock whose at-risk instant or deadline the clock has already passed.
    Three tickets in ten send their events but creation and close each with
    a delay of its own, so that one may arrive after a later-dated event of
    its ticket: a reply after the resolution, a customer message after the
    reply that would answer it, a priority change after the reply it would
    have re-targeted, a pending interval after a later one or overlapping
    it, a resume before its pause. A seed whose scenario the model finds
    ambiguous is refused (exit 3)."""
    start, last = Z("2026-03-25 00:00"), END - HOUR
    chans = ["email", "chat", "social", "web", "sms"]
    prios = ["low", "normal", "high", "urgent"]
    queues = ["billing", "tech", "sales", "vip", "us"]

    def delay():
        k = rng.randint(1, 20)
        if k <= 12:
            return 0
        if k <= 15:
            return rng.randint(MIN, LATENESS - MIN)        # behind the clock, not late
        return rng.randint(LATENESS + MIN, 3 * HOUR)       # late

    def T(S, type_, tid, ts, **kw):        # this ticket's events, sent `d` after
        nonlocal latest
        arrive = ts + d
        if type_ == "ticket.closed":
            arrive = max(arrive, latest)
        elif mixed:
            arrive = max(ts + rng.choice([0, rng.randint(MIN, LATENESS - MIN),
                                          rng.randint(LATENESS + MIN, 8 * HOUR)]), opened)
        latest = max(latest, arrive)
        return S.ev(type_, ts, ticket_id=tid, arrive=arrive, **kw)

    for i in range(40):
        tid = f"T-W{i:02d}"
        t = rng.randint(start, last - DAY // 2)
        d = delay()
        # a mixed ticket's events but its creation and close each take their
        # own delay, so that they may overtake earlier ones (applied where
        # they arrive, docs/events.md); its creation and close keep their
        # place
        mixed = rng.chance(30)
        opened = latest = t + d           # when its creation arrives
        created(S, tid, t, rng.choice(chans), rng.choice(prios), rng.choice(queues),
                arrive=t + d)
        status, resolved, replied, waiting = "open", False, False, False
        for _ in range(rng.randint(4, 10) if mixed else rng.randint(0, 7)):
            t += rng.randint(MIN, 2 * HOUR) if mixed else \
                rng.choice([rng.randint(MIN, HOUR), rng.randint(HOUR, 12 * HOUR)])
            if t >= last:
                break
            k = rng.randint(1, 10)
            if mixed and k in (6, 7) and rng.chance(60):
                k = 5              # more pending intervals to overtake each other
            if resolved:
                if k <= 3:
                    T(S, "ticket.closed", tid, t)
                    break
                continue
            if k <= 3:
                public = rng.chance(80)
                T(S, "ticket.agent_replied", tid, t, agent_id=rng.choice(["A1", "A2"]),
                  public=public)
                replied, waiting = replied or public, waiting and not public
            elif k == 4:
                T(S, "ticket.customer_replied", tid, t)
                status, waiting = "open", True
            elif k == 5:
                new = rng.choice(["open", "on_hold"] if status == "pending" else
                                 ["open", "pending", "on_hold"])
                T(S, "ticket.status_changed", tid, t, status=new)
                status = new
            elif k == 6:
                T(S, "ticket.priority_changed", tid, t, priority=rng.choice(prios))
            elif k == 7:
                T(S, "ticket.assigned", tid, t, agent_id="A3", queue=rng.choice(queues))
            elif k <= 9 and not (waiting and replied):
                T(S, "ticket.resolved", tid, t, agent_id="A1")
                resolved = True
            elif k == 10:
                T(S, "ticket.closed", tid, t)
                break
    for i in range(20):
        cid = f"C-W{i:02d}"
        t = rng.randint(start, last)
        d = delay()
        queue = rng.choice(["tech", "sales", "billing"])
        S.ev("call.queued", t, call_id=cid, customer_id="cust-" + cid.lower(), queue=queue,
             arrive=t + d)
        end = t + rng.randint(1_000, 90_000)
        if end - t > 2_000 and rng.chance(40):
            # moved to another queue while waiting: the policy is chosen again
            at = t + rng.randint(1_000, end - t - 1_000)
            S.ev("call.transferred", at, call_id=cid,
                 queue=rng.choice(["tech", "sales", "billing"]), arrive=at + d)
        if rng.chance(60):
            S.ev("call.answered", end, call_id=cid, agent_id="A4", arrive=end + d)
        elif rng.chance(60):
            S.ev("call.abandoned", end, call_id=cid, arrive=end + d)
    t = start + 10 * MIN + 17
    while t < END - MIN:
        S.ev("customer.subscribed", t, customer_id="c-tick")
        t += rng.randint(MIN, 2 * HOUR)


# --------------------------------------------------------------------------
# Decoding (all lines of this scenario are valid; SPEC §1, docs/events.md)
# --------------------------------------------------------------------------

def decode(line):
    obj = json.loads(line)
    ts = obj["ts"]
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    obj["ts"] = int(d.timestamp()) * 1000 + d.microsecond // 1000
    return obj


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------

def qlabel(v):
    return v if v else "unknown"


class Ticket:
    kind = "ticket"


class Call:
    kind = "call"


class Clock:
    """One SLA clock (SPEC §4, docs/sla.md "The clocks")."""

    def __init__(self, ent, sla, start):
        self.ent, self.sla, self.start = ent, sla, start
        self.segs = [[start, None]]       # running intervals; None = running now
        self.closed = []                  # pending intervals, in arrival order
        self.since = None                 # pending since
        self.stopped = False
        self.verdict = None               # None, "met", "breached"
        self.at_risk = False
        self.announced = False            # its at_risk event is out (the stream)
        self.target = self.cal = self.policy = None
        self.risk_at = self.deadline = None

    def paused(self):
        return self.since is not None

    def set_segs(self):
        """The running intervals: from the start, outside the union of the
        pending intervals, up to a pending still open (docs/sla.md, "Pending
        time out of order")."""
        pending = list(self.closed)
        if self.since is not None:
            pending.append((self.since, None))          # open: to the end of time
        cur, segs = self.start, []
        for a, b in sorted(pending, key=lambda p: p[0]):
            if a > cur:
                segs.append([cur, a])
            if b is None:
                self.segs = segs
                return
            cur = max(cur, b)
        self.segs = segs + [[cur, None]]

    def labels(self):
        e = self.ent
        return (("sla", self.sla), ("policy", self.policy.name),
                ("priority", e.priority if e.kind == "ticket" else "normal"), ("queue", e.queue))


class Model:
    def __init__(self):
        self.clock = None
        self.counters = defaultdict(lambda: defaultdict(float))
        self.hists = defaultdict(lambda: defaultdict(list))
        self.gauges = defaultdict(lambda: defaultdict(int))     # keep-0 ticket/call gauges
        self.win = []                  # (ts, key, value)
        self.log = []                  # (what, entity, value, labels, ts): hand checks
        self.tickets, self.calls = {}, {}
        self.held = defaultdict(list)
        self.clocks = []               # every SLA clock ever started
        self.stream = []               # the SLA event stream: (kind, id, clock, policy, at)
        self.breach_log = []           # (clock, deadline, windowed)
        self.sla_seen = defaultdict(set)
        self.customers = set()
        self.active = set()
        self.customer_touched = False
        self.seq = 0
        self.late = False              # the event being applied is late
        self.passing = False           # the clock is passing deadlines (R5)

    # ---- helpers ----
    def inc(self, name, labels=(), v=1):
        self.counters[name][tuple(labels)] += v

    def observe(self, name, labels, ms, entity, ts):
        need(ms >= 0, f"negative duration {name} {entity}")
        self.hists[name][tuple(labels)].append(ms)
        self.log.append((name, entity, ms, dict(labels), ts))

    def watermark(self):
        return self.clock - LATENESS

    def pane_open(self, ts):
        return ts >= self.watermark()

    def check_unambiguous(self, ts):
        wm = self.watermark()
        need((ts < wm) == ((ts // PANE) * PANE + PANE <= wm),
             f"{hz(ts)} is too close to the watermark {hz(wm)}")

    def wadd(self, ts, key, value, windowed):
        """A window item at `ts`. A late event (older than the watermark, SPEC
        §2) still updates counters and state but changes no window, and
        neither does what it completes at its own `ts`."""
        if not windowed:
            return
        if self.pane_open(ts):
            self.win.append((ts, key, value))
        else:
            need(self.late, f"window item {key} at {hz(ts)} behind the watermark")

    def gauge_move(self, name, before, after):
        if before == after:
            return
        if before is not None:
            self.gauges[name][before] -= 1
        if after is not None:
            self.gauges[name][after] += 1

    # ---- SLA gauges (computed from the clocks) ----
    def sla_gauges(self):
        g = {"support_sla_at_risk": defaultdict(int), "support_sla_active_breaches": defaultdict(int)}
        for c in self.clocks:
            if c.stopped:
                continue
            if c.at_risk:
                need(c.verdict is None, "at risk with a verdict")
                g["support_sla_at_risk"][c.labels()] += 1
            if c.verdict == "breached":
                g["support_sla_active_breaches"][c.labels()] += 1
        return g

    def sla_note(self):
        """Records the SLA gauges' label sets that are non-zero now (R1)."""
        for name, vals in self.sla_gauges().items():
            for k, v in vals.items():
                if v:
                    self.sla_seen[name].add(k)

    # ---- SLA clocks ----
    def policy_fields(self, e):
        return (e.channel, e.priority if e.kind == "ticket" else "normal", e.queue)

    def note(self, kind, c, at):
        """An event of the SLA stream (docs/sla.md, "The SLA event stream"):
        only of a clock whose policy gives it a target, or that has breached."""
        if c.target is not None or c.verdict == "breached":
            self.stream.append((kind, c.ent.id, c.sla, c.policy.name, at))

    def start_clock(self, e, sla, ts):
        c = Clock(e, sla, ts)
        e.clocks[sla] = c
        self.clocks.append(c)
        self.recompute(c)
        self.note("applied", c, ts)
        return c

    def recompute(self, c):
        """The policy in force gives the clock its target and calendar; the
        deadline and at-risk instant are measured from the clock's start over
        its running segments (SPEC §4, docs/sla.md "Policy changes")."""
        c.policy = c.ent.policy
        c.target = c.policy.targets.get(c.sla) if c.policy else None
        c.cal = c.policy.cal if c.policy else None
        if c.verdict is None:
            c.at_risk = False
        # (a breached clock whose new policy has no target stays an active
        # breach under the new labels until it stops: docs/sla.md)
        if c.target is None:
            c.risk_at = c.deadline = None
            return
        # (for a breached clock these are informative only: the breach stands)
        c.risk_at = reach(c.cal, c.segs, int(c.target * WARN_FRACTION))
        c.deadline = reach(c.cal, c.segs, c.target)

    def fire(self, upto):
        """Deadlines due strictly before `upto` fire, at-risk instants at or
        before it, in due order (R4)."""
        while True:
            best = None
            for c in self.clocks:
                if c.stopped or c.verdict is not None or c.target is None:
                    continue
                if not c.at_risk and c.risk_at is not None and c.risk_at <= upto:
                    cand = (c.risk_at, 0, id(c), c)
                elif c.deadline is not None and c.deadline < upto:
                    cand = (c.deadline, 1, id(c), c)
                else:
                    continue
                if best is None or cand[:2] < best[:2]:
                    best = cand
            if best is None:
                return
            due, what, _, c = best
            if what == 0:
                c.at_risk = True
                # a clock a change leaves at risk (recompute clears the flag
                # and this sets it again) announces nothing new: its
                # policy_changed or paused event says so (docs/sla.md)
                if not c.announced:
                    self.log.append(("at_risk", c.ent.id, c.sla, dict(c.labels()), due))
                    self.note("at_risk", c, due)
                c.announced = True
            else:
                self.breach(c, due)
            self.sla_note()

    def breach(self, c, due):
        c.verdict, c.at_risk = "breached", False
        self.inc("support_sla_breaches_total", c.labels())
        if self.passing:
            w = True
        else:
            self.check_unambiguous(due)
            w = self.pane_open(due)
        self.breach_log.append((c, due, w))
        if w:
            self.win.append((due, ("sla_breached", c.sla), 1))
        self.log.append(("breached", c.ent.id, c.sla, dict(c.labels()), due))
        self.note("breached", c, due)

    def complete(self, c, ts, windowed):
        """The completing event of a clock at `ts`: met or (already) breached."""
        if c is None or c.stopped:
            return
        if c.target is not None and c.verdict is None:
            need(c.deadline is None or ts <= c.deadline, "completion after an unfired deadline")
            need(c.risk_at is None or ts != c.risk_at, f"{c.ent.id} completes exactly at its at-risk instant (R4)")
            c.verdict = "met"
            c.at_risk = False
            self.inc("support_sla_achieved_total", c.labels())
            self.wadd(ts, ("sla_met", c.sla), 1, windowed)
            self.log.append(("met", c.ent.id, c.sla, dict(c.labels()), ts))
            self.note("achieved", c, ts)
        elif c.verdict == "breached":
            self.log.append(("after_breach", c.ent.id, c.sla, dict(c.labels()), ts))
            self.note("stopped", c, ts)       # the end of the active breach
        c.stopped = True
        self.sla_note()

    def stop(self, c, ts):
        """Stopped without a verdict (resolution / close / abandon)."""
        if c is None or c.stopped:
            return
        if c.verdict is None and c.target is not None:
            self.log.append(("stopped", c.ent.id, c.sla, dict(c.labels()), ts))
        if c.verdict != "met":
            self.note("stopped", c, ts)
        c.stopped = True
        c.at_risk = False
        self.sla_note()

    def rechoose(self, e, ts):
        new = choose_policy(*self.policy_fields(e))
        old, e.policy = e.policy, new
        for c in e.clocks.values():
            if c is not None and not c.stopped:
                had_target = c.target is not None
                self.recompute(c)
                if new.name != old.name and (had_target or c.target is not None or c.verdict == "breached"):
                    self.stream.append(("policy_changed", c.ent.id, c.sla, c.policy.name, ts))
        self.fire(ts)

    # ---- main loop ----
    def run(self, items):
        for it in items:
            self.process(it)
            self.sla_note()
            for c in self.clocks:
                c.announced = c.announced and c.at_risk
        self.finish()

    def process(self, it):
        self.seq += 1
        ev = decode(it.line)
        self.inc("frontline_events_total", [("type", ev["type"])])
        ts = ev["ts"]
        self.late = False
        if self.clock is not None:
            self.check_unambiguous(ts)
            # SPEC §2: older than the watermark is late; it is still applied
            self.late = ts < self.watermark()
            if self.late:
                self.inc("frontline_late_events_total")
        if self.clock is None or ts > self.clock:
            self.clock = ts
        # SLA timers due before the new event clock fire first (R4)
        self.passing = True
        self.fire(self.clock)
        self.passing = False
        self.dispatch(ev, it)
        # and timers a late or delayed event left behind the clock fire at
        # once (docs/events.md, "Timers behind the clock")
        self.fire(self.clock)
        self.late = False

    def dispatch(self, ev, it):
        typ = ev["type"]
        kind = typ.split(".")[0]
        if kind in ("ticket", "call"):
            key = ev["ticket_id"] if kind == "ticket" else ev["call_id"]
            store = self.tickets if kind == "ticket" else self.calls
            opening = "ticket.created" if kind == "ticket" else "call.queued"
            if key in store:
                need(typ != opening and ev["ts"] >= store[key].opened, "impossible transition")
                # an event behind its own ticket's latest is applied where it
                # arrives, by its own ts (docs/events.md)
                need(ev["ts"] >= store[key].last or typ not in (
                        "ticket.closed", "call.answered", "call.abandoned"),
                     f"an event behind its own {kind}'s latest (not modelled): {it.line}")
                self.apply(ev)
                return
            if typ != opening:
                self.held[(kind, key)].append((ev["ts"], self.seq, ev, it))
                it.out.add("held")
                return
            self.apply(ev)
            for ts, _, hev, hit in sorted(self.held.pop((kind, key), []), key=lambda h: h[:2]):
                need(self.pane_open(ts) and ts >= store[key].opened, "held event not applicable")
                self.fire(ts)        # judged by its own ts: only what was due before it
                self.apply(hev)
            return
        self.apply(ev)

    def apply(self, ev):
        getattr(self, "on_" + ev["type"].replace(".", "_"))(ev)
        kind = ev["type"].split(".")[0]
        if kind in ("ticket", "call"):
            # the entity's latest event (closed tickets have left the store)
            e = (self.tickets if kind == "ticket" else self.calls).get(ev[kind + "_id"])
            if e is not None:
                e.last = max(getattr(e, "last", ev["ts"]), ev["ts"])

    # ---- tickets ----
    @staticmethod
    def tkey(t):
        return None if t.resolved or t.closed else (("status", t.status), ("priority", t.priority), ("queue", t.queue))

    def tlabels(self, t):
        return [("channel", t.channel), ("priority", t.priority), ("queue", t.queue)]

    def tmut(self, t, fn):
        before = self.tkey(t)
        fn()
        self.gauge_move("support_tickets_open", before, self.tkey(t))

    def contact(self, cust, channel, queue, ts):
        need(cust not in self.customers, "one contact per customer (no repeat contacts here)")
        self.customers.add(cust)
        self.inc("support_contacts_total", [("channel", channel), ("queue", queue)])
        self.wadd(ts, "contacts", 1, True)

    def business_twin(self, t, name, a, b, ts):
        """R3: the observation again in the business calendar of the policy in force."""
        p = t.policy
        if p is not None and p.cal.business:
            self.observe(name.replace("_seconds", "_business_seconds"), self.tlabels(t),
                         business_ms(p.cal, a, b), t.id, ts)

    def on_ticket_created(self, ev):
        t = Ticket()
        t.id, t.opened = ev["ticket_id"], ev["ts"]
        t.channel = ev.get("channel", "other")
        t.priority = ev.get("priority", "normal")
        t.queue = qlabel(ev.get("queue"))
        t.status, t.resolved, t.closed = "open", False, False
        t.public_replies, t.frt_done, t.unanswered = 0, False, ev["ts"]
        t.clocks = {"first_response": None, "next_response": None, "resolution": None}
        t.policy = choose_policy(*self.policy_fields(t))
        self.tickets[t.id] = t
        self.gauge_move("support_tickets_open", None, self.tkey(t))
        self.inc("support_tickets_created_total", self.tlabels(t))
        self.wadd(ev["ts"], "tickets_created", 1, True)
        self.contact(ev["customer_id"], t.channel, t.queue, ev["ts"])
        self.start_clock(t, "first_response", t.opened)
        self.start_clock(t, "resolution", t.opened)

    def on_ticket_assigned(self, ev):
        t = self.tickets[ev["ticket_id"]]
        if "queue" in ev and qlabel(ev["queue"]) != t.queue:
            self.tmut(t, lambda: setattr(t, "queue", qlabel(ev["queue"])))
            self.rechoose(t, ev["ts"])

    def on_ticket_priority_changed(self, ev):
        t = self.tickets[ev["ticket_id"]]
        if ev["priority"] != t.priority:
            self.tmut(t, lambda: setattr(t, "priority", ev["priority"]))
            self.rechoose(t, ev["ts"])

    def ooo(self, ev):
        self.inc("frontline_out_of_order_events_total", [("type", ev["type"])])

    def on_ticket_agent_replied(self, ev):
        t, ts = self.tickets[ev["ticket_id"]], ev["ts"]
        if not ev.get("public", True):
            return
        if t.unanswered is not None and ts < t.unanswered:
            # dated before the customer message it would answer (SPEC §2)
            return self.ooo(ev)
        t.public_replies += 1
        # solved before its first public reply: no first response (SPEC §3)
        first = not t.frt_done and not t.resolved
        t.frt_done = True
        if first:
            ms = ts - t.opened
            self.observe("support_first_response_seconds", self.tlabels(t), ms, t.id, ts)
            self.business_twin(t, "support_first_response_seconds", t.opened, ts, ts)
            self.wadd(ts, ("dur", "first_response"), ms, True)
            self.complete(t.clocks["first_response"], ts, True)
        if t.unanswered is not None:
            ms = ts - t.unanswered
            self.observe("support_reply_seconds", self.tlabels(t), ms, t.id, ts)
            self.business_twin(t, "support_reply_seconds", t.unanswered, ts, ts)
            self.wadd(ts, ("dur", "reply"), ms, True)
            t.unanswered = None
            self.complete(t.clocks["next_response"], ts, True)
            t.clocks["next_response"] = None

    def on_ticket_customer_replied(self, ev):
        t, ts = self.tickets[ev["ticket_id"]], ev["ts"]
        if t.unanswered is None:
            t.unanswered = ts
            # a customer message that finds no unanswered one before it,
            # on a resolved ticket too (docs/sla.md)
            self.start_clock(t, "next_response", ts)
        if t.resolved:
            return                 # waits for a reply, not reopened (docs/events.md)
        if t.status == "pending":
            self.resume(t, ts)
        self.tmut(t, lambda: setattr(t, "status", "open"))

    def resume(self, t, ts):
        c = t.clocks["resolution"]
        if c is not None and not c.stopped and c.paused():
            # a resume dated before its pause ends it where it began
            c.closed.append((c.since, max(ts, c.since)))
            c.since = None
            c.set_segs()
            self.recompute(c)
            self.note("resumed", c, ts)

    def on_ticket_status_changed(self, ev):
        t, ts = self.tickets[ev["ticket_id"]], ev["ts"]
        if t.resolved:
            return self.ooo(ev)     # docs/events.md: impossible transition
        new = ev["status"]
        c = t.clocks["resolution"]
        if new == "pending" and t.status != "pending" and c is not None and not c.stopped:
            # docs/sla.md, "At risk while paused": a clock at risk stays at
            # risk through the pause (recompute clears the flag, and the
            # at-risk instant, already reached, sets it again in this step);
            # a breached one stays an active breach until it stops.
            c.since = ts
            c.set_segs()
            self.recompute(c)
            self.note("paused", c, ts)
        if new != "pending" and t.status == "pending":     # on_hold does not pause
            self.resume(t, ts)
        self.tmut(t, lambda: setattr(t, "status", new))

    def on_ticket_resolved(self, ev):
        t, ts = self.tickets[ev["ticket_id"]], ev["ts"]
        need(not t.resolved, "second resolution (not in this scenario)")
        # a customer message still waits for its reply: a resolution is no
        # answer (SPEC §3, reply time), though it stops the clock
        self.tmut(t, lambda: setattr(t, "resolved", True))
        labels = self.tlabels(t)
        self.inc("support_tickets_resolved_total", labels)
        self.wadd(ts, "ticket_first_res", 1, True)
        self.wadd(ts, "fcr_den", 1, True)
        ms = ts - t.opened
        self.observe("support_resolution_seconds", labels, ms, t.id, ts)
        self.business_twin(t, "support_resolution_seconds", t.opened, ts, ts)
        self.wadd(ts, ("dur", "resolution"), ms, True)
        if t.public_replies <= 1:
            self.inc("support_first_contact_resolutions_total", labels)
            self.wadd(ts, "fcr_num", 1, True)
        self.stop(t.clocks["first_response"], ts)
        self.stop(t.clocks["next_response"], ts)
        self.complete(t.clocks["resolution"], ts, True)

    def on_ticket_closed(self, ev):
        t, ts = self.tickets.pop(ev["ticket_id"]), ev["ts"]
        self.tmut(t, lambda: setattr(t, "closed", True))
        for c in t.clocks.values():
            self.stop(c, ts)

    # ---- calls ----
    def in_queue(self, c, delta):
        self.gauges["support_calls_in_queue"][(("queue", c.queue),)] += delta
        self.gauges["support_oldest_call_wait_seconds"][(("queue", c.queue),)] += 0

    def on_call_queued(self, ev):
        c = Call()
        c.id, c.opened = ev["call_id"], ev["ts"]
        c.queue = qlabel(ev.get("queue"))
        c.channel = ev.get("channel", "phone")
        c.priority = "normal"
        c.state = "waiting"
        c.clocks = {"answer": None}
        c.policy = choose_policy(*self.policy_fields(c))
        self.calls[c.id] = c
        self.inc("support_calls_offered_total", [("queue", c.queue)])
        self.in_queue(c, +1)
        self.contact(ev["customer_id"], c.channel, c.queue, ev["ts"])
        self.start_clock(c, "answer", c.opened)

    def on_call_transferred(self, ev):
        c, ts = self.calls[ev["call_id"]], ev["ts"]
        need(c.state == "waiting", "impossible transition")
        q = qlabel(ev.get("queue"))
        if q == c.queue:
            return
        self.in_queue(c, -1)
        c.queue = q
        self.in_queue(c, +1)
        # a queue change chooses the policy again (docs/sla.md, "Policy
        # changes"): calls match as normal priority
        self.rechoose(c, ts)

    def on_call_answered(self, ev):
        c, ts = self.calls[ev["call_id"]], ev["ts"]
        need(c.state == "waiting", "impossible transition")
        self.in_queue(c, -1)
        c.state = "talking"
        ms = ts - c.opened
        q = [("queue", c.queue)]
        self.inc("support_calls_answered_total", q)
        self.observe("support_answer_wait_seconds", q, ms, c.id, ts)
        self.wadd(ts, ("dur", "answer_wait"), ms, True)
        self.wadd(ts, "answered", 1, True)
        if ms <= SL_THRESHOLD:
            self.inc("support_calls_answered_within_threshold_total", q)
            self.wadd(ts, "within", 1, True)
        self.complete(c.clocks["answer"], ts, True)

    def on_call_abandoned(self, ev):
        c, ts = self.calls[ev["call_id"]], ev["ts"]
        need(c.state == "waiting", "impossible transition")
        self.in_queue(c, -1)
        c.state = "abandoned"
        ms = ts - c.opened
        q = [("queue", c.queue)]
        self.inc("support_calls_abandoned_total", q)
        self.observe("support_abandon_wait_seconds", q, ms, c.id, ts)
        self.wadd(ts, "abandons", 1, True)
        if ms < SHORT_ABANDON:
            self.inc("support_calls_short_abandoned_total", q)
            self.wadd(ts, "short_abandons", 1, True)
        self.stop(c.clocks["answer"], ts)

    # ---- customers (the ticks) ----
    def on_customer_subscribed(self, ev):
        self.customer_touched = True
        self.active.add(ev["customer_id"])

    # ---- end of input (SPEC §2, §6: every timer due by then fires) ----
    def finish(self):
        need(self.clock == END, "the last event sets the clock")
        need(not self.held, "a held event is neither applied nor dropped")
        # state.idle_call_ttl (1 d), swept every quarter of finished_call_ttl (15 min)
        for c in list(self.calls.values()):
            age = self.clock - c.last
            need(not (IDLE_CALL_TTL <= age <= IDLE_CALL_TTL + 16 * MIN), f"{c.id}: expiry not settled")
            if age > IDLE_CALL_TTL + 16 * MIN:
                if c.state == "waiting":
                    self.in_queue(c, -1)
                self.stop(c.clocks["answer"], None)   # at the sweep's time
                del self.calls[c.id]
                self.log.append(("expired", c.id, None, {}, self.clock))
        for c in self.clocks:
            if not c.stopped and c.verdict is None and c.target is not None:
                for due in (c.risk_at, c.deadline):
                    need(due != END, f"{c.ent.id} {c.sla}: a timer exactly at the end (R4)")
        for key in list(self.gauges["support_oldest_call_wait_seconds"]):
            q = key[0][1]
            waits = [c.opened for c in self.calls.values() if c.state == "waiting" and c.queue == q]
            self.gauges["support_oldest_call_wait_seconds"][key] = (self.clock - min(waits)) / 1000 if waits else 0

    # ---- windows ----
    def window(self, w_ms):
        lo = self.clock // PANE - w_ms // PANE
        cnt = defaultdict(int)
        durs = defaultdict(list)
        for ts, k, v in self.win:
            if ts // PANE <= lo:
                continue
            if isinstance(k, tuple) and k[0] == "dur":
                durs[k[1]].append(v)
            else:
                cnt[k] += v
        return cnt, durs


def hdr_lowest(v):
    if v < 2048:
        return v
    k = v.bit_length() - 1
    width = 1 << (k - 10)
    return v - (v % width)


def quantile(ms_values, q):
    secs = sorted((ms + 500) // 1000 for ms in ms_values)
    rank = max(1, math.ceil(Fraction(q) * len(secs)))
    return hdr_lowest(secs[rank - 1])


# --------------------------------------------------------------------------
# Exposition
# --------------------------------------------------------------------------

def fmt(v):
    return str(v) if isinstance(v, int) else repr(float(v))


def line(name, labels, value):
    if labels:
        lab = ",".join(f'{k}="{v}"' for k, v in labels)
        return f"{name}{{{lab}}} {fmt(value)}"
    return f"{name} {fmt(value)}"


def buckets_for(metric_key):
    """Default bounds plus every configured target of the matching clock (R2)."""
    clock = {"first_response": "first_response", "reply": "next_response",
             "resolution": "resolution", "answer_wait": "answer"}.get(metric_key)
    bs = {b * 1000 for b in BUCKETS}
    if clock:
        bs |= {p.targets[clock] for p in POLS if clock in p.targets}
    return sorted(bs)


INT_COUNTERS = [
    "support_tickets_created_total", "support_tickets_resolved_total",
    "support_first_contact_resolutions_total", "support_contacts_total",
    "support_calls_offered_total", "support_calls_answered_total",
    "support_calls_answered_within_threshold_total", "support_calls_abandoned_total",
    "support_calls_short_abandoned_total", "support_sla_achieved_total",
    "support_sla_breaches_total", "frontline_events_total",
    "frontline_out_of_order_events_total",
]
HISTOGRAMS = [
    ("support_first_response_seconds", "first_response"), ("support_reply_seconds", "reply"),
    ("support_resolution_seconds", "resolution"),
    ("support_first_response_business_seconds", "first_response"),
    ("support_reply_business_seconds", "reply"),
    ("support_resolution_business_seconds", "resolution"),
    ("support_answer_wait_seconds", "answer_wait"), ("support_abandon_wait_seconds", "abandon_wait"),
]
KEEP0_GAUGES = ["support_tickets_open", "support_calls_in_queue", "support_oldest_call_wait_seconds"]
DUR_METRICS = ["first_response", "reply", "resolution", "handle", "answer_wait"]


def exposition(m):
    out = []
    for name in INT_COUNTERS:
        for labels, v in sorted(m.counters.get(name, {}).items()):
            out.append(line(name, labels, int(v)))
    for name, key in HISTOGRAMS:
        bs = buckets_for(key)
        for labels, values in sorted(m.hists.get(name, {}).items()):
            for b in bs:
                out.append(line(name + "_bucket", list(labels) + [("le", repr(b / 1000))],
                                sum(1 for ms in values if ms <= b)))
            out.append(line(name + "_bucket", list(labels) + [("le", "+Inf")], len(values)))
            out.append(line(name + "_sum", labels, sum(values) / 1000))
            out.append(line(name + "_count", labels, len(values)))
    for name in KEEP0_GAUGES:
        for labels, v in sorted(m.gauges.get(name, {}).items()):
            need(v >= 0, f"negative gauge {name}{labels}")
            out.append(line(name, labels, v if name != "support_oldest_call_wait_seconds" else float(v)))
    now = m.sla_gauges()
    for name in ("support_sla_at_risk", "support_sla_active_breaches"):
        keys = set(k for k, v in now[name].items() if v)
        if SLA_GAUGES_KEEP_ZERO:
            keys |= m.sla_seen[name]
        for labels in sorted(keys):
            out.append(line(name, labels, now[name].get(labels, 0)))
    if m.customer_touched:
        out.append(line("support_customers_active", [], len(m.active)))
    # processor health that this scenario pins down (nothing bad or duplicate)
    for name in ("frontline_dead_letters_total", "frontline_duplicate_events_total"):
        out.append(line(name, [], 0))
    out.append(line("frontline_late_events_total", [],
                    int(m.counters["frontline_late_events_total"].get((), 0))))
    # The scenario stays under every cap and under the default series
    # budget (labels.max_series = 20000): nothing overflows.
    for lab in ("agent", "queue", "series"):
        out.append(line("frontline_label_overflow_total", [("label", lab)], 0))
    out.append(line("frontline_event_clock_seconds", [], m.clock / 1000))
    out.append(line("frontline_watermark_seconds", [], (m.clock - LATENESS) / 1000))
    for k, v in KPI_TARGETS:
        out.append(line("support_kpi_target", [("kpi", k)], float(v)))
    out.append(line("support_kpi_formula_info", [("kpi", "service_level"), ("formula", "default")], 1))
    out.append(line("support_kpi_formula_info", [("kpi", "abandonment"), ("formula", "default")], 1))

    for wname, w_ms in WINDOWS:
        cnt, durs = m.window(w_ms)
        W = [("window", wname)]
        for metric in DUR_METRICS:
            vals = durs.get(metric, [])
            if not vals:
                continue
            for q in QUANTILES:
                out.append(line("support_window_seconds",
                                [("metric", metric)] + W + [("quantile", q)], float(quantile(vals, q))))
            out.append(line("support_window_mean_seconds", [("metric", metric)] + W,
                            sum(vals) / len(vals) / 1000))
            out.append(line("support_window_events", [("metric", metric)] + W, len(vals)))
        answered_abandoned = cnt["answered"] + cnt["abandons"] - cnt["short_abandons"]
        ratios = [
            ("first_contact_resolution", "first_contact_resolution", cnt["fcr_num"], cnt["fcr_den"]),
            ("escalation", "escalation", 0, cnt["contacts"]),
            ("reopen", "reopen", 0, cnt["ticket_first_res"]),
            ("resolution", "resolution_rate", cnt["ticket_first_res"], cnt["tickets_created"]),
            ("repeat_contact", "repeat_contact", 0, cnt["contacts"]),
            ("abandonment", "abandonment", cnt["abandons"] - cnt["short_abandons"], answered_abandoned),
            ("service_level", "service_level", cnt["within"], answered_abandoned),
        ]
        for sla in ("first_response", "resolution"):
            met, br = cnt[("sla_met", sla)], cnt[("sla_breached", sla)]
            ratios.append(("sla_" + sla, "sla_" + sla, met, met + br))
        for kpi, ev_metric, num, den in ratios:
            if den <= 0:
                need(num == 0, f"window {wname} {kpi}: numerator without denominator")
                continue
            out.append(line("support_window_ratio", [("kpi", kpi)] + W, min(1.0, max(0.0, num / den))))
            out.append(line("support_window_events", [("metric", ev_metric)] + W, den))
    return out


# --------------------------------------------------------------------------
# Hand-reasoned checks: the numbers in the block comments, asserted.
# --------------------------------------------------------------------------

def hand_checks(m, items):
    def eq(got, want, what):
        need(got == want, f"{what}: model says {got!r}, the comment says {want!r}")

    for it in items:
        need(it.out == it.expect, f"line {it.line[:100]}: outcome {it.out}, expected {it.expect}")

    clocks = {(c.ent.id, c.sla): c for c in m.clocks}

    def dl(ent, sla):
        return clocks[(ent, sla)].deadline

    def risk(ent, sla):
        return clocks[(ent, sla)].risk_at

    SLA_WORDS = ("at_risk", "met", "breached", "after_breach", "stopped")

    def sla_log(ent):
        return [(w, sla, lab, ts) for (w, e, sla, lab, ts) in m.log if e == ent and w in SLA_WORDS]

    def verdicts(ent):
        return [(w, sla) for (w, sla, _, _) in sla_log(ent) if w != "at_risk"]

    def obs(name, ent):
        return [ms / 1000 for (n, e, ms, _, _) in m.log if n == name and e == ent]

    # -- the calendars themselves
    office, nightly, americas = CALS["office"], CALS["nightly"], CALS["americas"]
    eq(business_ms(office, BER("2026-03-25 00:00"), BER("2026-03-28 00:00")), (7 + 0 + 6) * HOUR,
       "office Wed 7 h (lunch excluded), Thu holiday 0, Fri 6 h")
    eq(business_ms(nightly, BER("2026-03-29 00:00"), BER("2026-03-29 12:00")), 5 * HOUR,
       "nightly Sun 29 Mar 00:00-06:00 lasts 5 real hours")
    eq(business_ms(nightly, BER("2026-03-28 00:00"), BER("2026-03-28 12:00")), 6 * HOUR,
       "nightly Sat 28 Mar 00:00-06:00 lasts 6 hours")
    eq(business_ms(americas, NYC("2026-03-27 00:00"), NYC("2026-03-30 00:00")), 0,
       "americas: holiday Friday and weekend")

    # -- holiday
    eq(dl("T-HOL", "first_response"), BER("2026-03-27 09:30"), "T-HOL: Wed 16:30 CET + 1h skipping Thu holiday -> Fri 09:30 CET")
    eq(dl("T-HOL", "first_response"), Z("2026-03-27 08:30"), "T-HOL FR deadline in UTC")
    eq(risk("T-HOL", "first_response"), Z("2026-03-27 08:15"), "T-HOL FR at risk")
    eq(dl("T-HOL", "resolution"), BER("2026-03-30 10:30"), "T-HOL res: 8h -> Mon 10:30 CEST")
    eq(verdicts("T-HOL"), [("met", "first_response"), ("met", "resolution")], "T-HOL verdicts")
    eq(obs("support_first_response_business_seconds", "T-HOL"), [3000.0], "T-HOL FR business")
    eq(obs("support_first_response_seconds", "T-HOL"), [147000.0], "T-HOL FR calendar")
    eq(obs("support_resolution_business_seconds", "T-HOL"), [19800.0], "T-HOL res business")
    eq(dl("T-US", "first_response"), NYC("2026-03-30 09:30"), "T-US: Thu 17:30 EDT + 2h, Fri holiday -> Mon 09:30 EDT")
    eq(dl("T-US", "first_response"), Z("2026-03-30 13:30"), "T-US FR deadline UTC")
    eq(obs("support_first_response_business_seconds", "T-US"), [4800.0], "T-US FR business")

    # -- Friday -> Monday across DST
    eq(dl("T-FRI", "first_response"), BER("2026-03-30 09:30"), "T-FRI: Fri 14:30 CET, 1h in Fri 09:00-15:00 -> Mon 09:30 CEST")
    eq(dl("T-FRI", "first_response"), Z("2026-03-30 07:30"), "T-FRI FR deadline UTC (not 08:30Z)")
    eq(risk("T-FRI", "first_response"), Z("2026-03-30 07:15"), "T-FRI FR at risk")
    eq(dl("T-FRI", "resolution"), BER("2026-03-31 09:30"), "T-FRI res 8h -> Tue 09:30 CEST")
    eq(risk("T-FRI", "resolution"), BER("2026-03-30 15:30"), "T-FRI res at risk Mon 15:30 CEST")
    eq(verdicts("T-FRI"), [("breached", "first_response"), ("after_breach", "first_response"),
                           ("breached", "resolution")], "T-FRI verdicts")
    eq(obs("support_first_response_business_seconds", "T-FRI"), [5400.0], "T-FRI FR business")

    # -- DST night
    eq(dl("T-DST", "first_response"), BER("2026-03-29 04:30"), "T-DST FR: Sat 23:30 CET + 4h -> Sun 04:30 CEST")
    eq(dl("T-DST", "first_response"), Z("2026-03-29 02:30"), "T-DST FR UTC")
    eq(dl("T-DST", "resolution"), BER("2026-03-29 18:30"), "T-DST res: 6h, 00:00-06:00 is 5h that night -> Sun 18:30 CEST")
    eq(risk("T-DST", "resolution"), Z("2026-03-29 03:00"), "T-DST res at risk")
    eq(verdicts("T-DST"), [("met", "first_response"), ("met", "resolution")], "T-DST verdicts")
    eq(obs("support_first_response_business_seconds", "T-DST"), [13800.0], "T-DST FR business")
    eq(obs("support_resolution_business_seconds", "T-DST"), [21000.0], "T-DST res business")
    eq(obs("support_resolution_seconds", "T-DST"), [64200.0], "T-DST res calendar")
    eq(dl("T-MID", "first_response"), Z("2026-03-29 23:00"), "T-MID: 18:00-24:00 runs into Monday's 00:00")
    eq(dl("T-MID", "resolution"), Z("2026-03-30 01:00"), "T-MID res")
    eq(verdicts("T-MID"), [("breached", "first_response"), ("after_breach", "first_response"),
                           ("met", "resolution")], "T-MID verdicts")
    eq(obs("support_first_response_business_seconds", "T-MID"), [15900.0], "T-MID FR business")
    eq(obs("support_resolution_business_seconds", "T-MID"), [20700.0], "T-MID res business")

    # -- Monday
    eq(dl("T-WKND", "first_response"), BER("2026-03-30 09:45"), "T-WKND: Sat, 45m -> Mon 09:45 CEST")
    eq(risk("T-WKND", "first_response"), Z("2026-03-30 07:33:45"), "T-WKND at risk")
    eq(verdicts("T-WKND"), [("met", "first_response")], "T-WKND verdicts")
    eq(obs("support_reply_business_seconds", "T-WKND"), [2400.0, 3600.0], "T-WKND reply business (R3)")
    eq(dl("T-QUEUE", "first_response"), Z("2026-03-30 07:45"), "T-QUEUE vip FR from creation")
    eq(verdicts("T-QUEUE"), [("breached", "first_response"), ("after_breach", "first_response")], "T-QUEUE")
    eq([lab for (w, s, lab, _) in sla_log("T-QUEUE") if w == "breached"],
       [{"sla": "first_response", "policy": "vip", "priority": "normal", "queue": "vip"}], "T-QUEUE breach labels")
    eq(obs("support_first_response_business_seconds", "T-QUEUE"), [3000.0], "T-QUEUE FR business")

    # -- policy changes
    eq([(w, lab["policy"], ts) for (w, s, lab, ts) in sla_log("T-SHORT")
        if s == "first_response" and w != "at_risk"],
       [("breached", "urgent", Z("2026-03-30 09:00")), ("after_breach", "urgent", Z("2026-03-30 09:30"))],
       "T-SHORT: shortened past its deadline -> breached at once, at the deadline")
    eq(dl("T-SHORT", "resolution"), Z("2026-03-31 09:00"), "T-SHORT res deadline")
    eq(risk("T-SHORT", "resolution"), Z("2026-03-30 15:00"), "T-SHORT res at risk at the close")
    eq(obs("support_resolution_business_seconds", "T-SHORT"), [27000.0], "T-SHORT res business")
    eq(obs("support_first_response_business_seconds", "T-SHORT"), [5400.0], "T-SHORT FR business")
    eq([(w, lab["policy"], lab["priority"]) for (w, s, lab, _) in sla_log("T-LONG")],
       [("at_risk", "urgent", "urgent"), ("breached", "urgent", "urgent")], "T-LONG breach labels")
    c = clocks[("T-LONG", "first_response")]
    eq((c.verdict, c.stopped, c.policy.name, c.deadline), ("breached", False, "standard", Z("2026-03-30 12:10")),
       "T-LONG: lengthened after the breach, the breach stands")
    eq([(w, lab["policy"]) for (w, s, lab, _) in sla_log("T-LIFT")],
       [("at_risk", "urgent"), ("met", "standard")], "T-LIFT lifted out of risk, then met")
    eq(obs("support_first_response_business_seconds", "T-LIFT"), [], "T-LIFT no business obs")
    eq([(w, s, lab["policy"]) for (w, s, lab, _) in sla_log("T-GAIN")],
       [("met", "first_response", "vip"), ("at_risk", "next_response", "urgent"),
        ("met", "next_response", "urgent"), ("at_risk", "resolution", "urgent"),
        ("breached", "resolution", "urgent"), ("after_breach", "resolution", "urgent")], "T-GAIN")
    eq(dl("T-GAIN", "resolution"), Z("2026-03-31 08:05"), "T-GAIN res deadline")
    eq(obs("support_reply_business_seconds", "T-GAIN"), [1500.0, 6000.0], "T-GAIN reply business")
    eq(obs("support_resolution_business_seconds", "T-GAIN"), [35700.0], "T-GAIN res business")

    # -- pause and stops
    eq(dl("T-PEND", "resolution"), Z("2026-03-31 10:00"), "T-PEND: pending 2 business hours moves the deadline")
    eq(risk("T-PEND", "resolution"), Z("2026-03-31 08:00"), "T-PEND at risk")
    eq(verdicts("T-PEND"), [("met", "first_response"), ("met", "next_response"), ("met", "resolution")], "T-PEND")
    eq(obs("support_resolution_business_seconds", "T-PEND"), [34200.0], "T-PEND res business")
    eq(obs("support_resolution_seconds", "T-PEND"), [95400.0], "T-PEND res calendar")
    eq(obs("support_reply_business_seconds", "T-PEND"), [1200.0, 6300.0], "T-PEND reply business")
    eq(verdicts("T-NOFR"), [("stopped", "first_response"), ("met", "resolution")], "T-NOFR")
    eq(verdicts("T-CLOSEBR"), [("breached", "first_response"), ("stopped", "resolution")], "T-CLOSEBR")
    eq(verdicts("T-CLOSERISK"), [("stopped", "first_response"), ("stopped", "resolution")], "T-CLOSERISK")
    eq(dl("T-NEXT", "next_response"), BER("2026-03-31 10:30"), "T-NEXT: Mon 16:30 CEST + 2h -> Tue 10:30 CEST")
    eq(verdicts("T-NEXT"), [("met", "first_response"), ("breached", "next_response")], "T-NEXT")
    eq(dl("T-CHATHOLD", "resolution"), Z("2026-03-31 14:00"), "T-CHATHOLD: on_hold does not pause, pending does")

    # -- Tuesday
    eq(dl("T-ATRISK", "first_response"), BER("2026-03-31 13:40"), "T-ATRISK: 11:40 CEST + 1h over lunch -> 13:40 CEST")
    eq(risk("T-ATRISK", "first_response"), Z("2026-03-31 10:25"), "T-ATRISK at risk")
    eq(verdicts("T-CHATHELD"), [("met", "first_response")], "T-CHATHELD held reply judged by its ts")
    eq(verdicts("T-CHAT3"), [("breached", "first_response")], "T-CHAT3")
    eq(verdicts("C-HELD"), [("met", "answer")], "C-HELD")
    eq(verdicts("C-HELDLATE"), [("breached", "answer"), ("after_breach", "answer")], "C-HELDLATE")
    eq(verdicts("C-ABBR"), [("breached", "answer")], "C-ABBR")
    eq(verdicts("C-EDGE"), [("met", "answer")], "C-EDGE exactly at the deadline")
    eq([(w, lab["policy"]) for (w, s, lab, _) in sla_log("C-SALES")], [("met", "sales_calls")], "C-SALES")
    eq(verdicts("C-CHAN"), [], "C-CHAN no target")
    eq(verdicts("C-AB"), [("stopped", "answer")], "C-AB")
    eq(verdicts("C-ABRISK"), [("stopped", "answer")], "C-ABRISK")

    # -- late events (block_late)
    eq(int(m.counters["frontline_late_events_total"][()]), 7, "seven late events")
    eq(sla_log("T-LATEPAUSE")[-1][0::3], ("at_risk", Z("2026-03-31 04:00")), "T-LATEPAUSE at risk")
    eq(verdicts("T-LATEPAUSE"), [("met", "first_response")], "T-LATEPAUSE")
    lp = clocks[("T-LATEPAUSE", "resolution")]
    eq((lp.at_risk, lp.risk_at, lp.deadline), (False, Z("2026-03-31 11:10"), Z("2026-03-31 17:10")),
       "T-LATEPAUSE: out of risk since the late pause, until 11:10Z")
    eq([(w, sla, lab["policy"], ts) for (w, sla, lab, ts) in sla_log("T-LATEPRIO")],
       [("at_risk", "first_response", "urgent", Z("2026-03-31 07:45")),
        ("breached", "first_response", "urgent", Z("2026-03-31 08:00")),
        ("after_breach", "first_response", "urgent", Z("2026-03-31 09:00"))], "T-LATEPRIO")
    eq(verdicts("T-LATEREPLY"), [("breached", "first_response"), ("after_breach", "first_response")],
       "T-LATEREPLY")
    eq(obs("support_first_response_seconds", "T-LATEREPLY"), [480.0], "T-LATEREPLY first response")
    eq(verdicts("T-LATEMET"), [("met", "first_response")], "T-LATEMET")
    eq(verdicts("T-LATEPENDING"), [("met", "first_response"), ("met", "resolution")], "T-LATEPENDING")
    lpp = clocks[("T-LATEPENDING", "resolution")]
    eq((lpp.risk_at, lpp.deadline), (Z("2026-03-31 06:00"), Z("2026-03-31 12:00")),
       "T-LATEPENDING: paused for the union of its pending intervals")
    eq(sla_log("T-LATEPENDING")[-2][0::3], ("at_risk", Z("2026-03-31 06:00")), "T-LATEPENDING at risk")
    eq([(c.ent.id, due, w) for (c, due, w) in m.breach_log
        if c.ent.id in ("T-LATEPRIO", "T-LATEREPLY")],
       [("T-LATEPRIO", Z("2026-03-31 08:00"), False), ("T-LATEREPLY", Z("2026-03-31 09:10"), False)],
       "late breaches: behind the watermark")

    eq(verdicts("C-IDLE"), [("breached", "answer")], "C-IDLE breached")
    eq([e for (w, e, *_ ) in m.log if w == "expired"], ["C-IDLE"], "C-IDLE expired")
    eq([(w, lab["queue"]) for (w, s, lab, _) in sla_log("T-MOVE")], [("at_risk", "sales"), ("breached", "sales")], "T-MOVE")
    eq(m.gauges["support_calls_in_queue"][(("queue", "tech"),)], 1, "tech queue: C-AT only")
    eq(m.gauges["support_oldest_call_wait_seconds"][(("queue", "tech"),)], 17.0, "oldest tech call")

    # -- the gauges at the end
    g = m.sla_gauges()
    at_risk = {tuple(v for _, v in k): n for k, n in g["support_sla_at_risk"].items() if n}
    eq(at_risk, {("first_response", "urgent", "urgent", "sales"): 1,
                 ("next_response", "chat", "normal", "sales"): 1,
                 ("answer", "phone", "normal", "tech"): 1}, "at risk at the end")
    active = {tuple(v for _, v in k): n for k, n in g["support_sla_active_breaches"].items() if n}
    eq(active, {("resolution", "urgent", "urgent", "tech"): 1,
                ("first_response", "standard", "normal", "billing"): 2,
                ("next_response", "urgent", "urgent", "tech"): 1,
                ("first_response", "chat", "normal", "tech"): 1}, "active breaches at the end")


# --------------------------------------------------------------------------

def sla_events(m):
    """The SLA event stream (docs/sla.md, "The SLA event stream"), as JSON
    lines sorted: entity, clock, kind, `at` (epoch ms; null for a stop by
    state expiry, which falls at a sweep) and the policy in force."""
    return sorted(json.dumps({"id": ent, "clock": sla, "kind": kind, "at": at, "policy": policy},
                             sort_keys=True) for kind, ent, sla, policy, at in m.stream)


def main():
    seed, out = command_line(HERE)
    S = build()
    if seed is not None:
        wild(S, Lcg(seed))
    items = S.ordered()
    m = Model()
    lines = run_model(m, items, seed, hand_checks, exposition, ScenarioError)
    with open(os.path.join(out, "events.jsonl"), "w", encoding="utf-8") as f:
        for it in items:
            f.write(it.line + "\n")
    with open(os.path.join(out, "frontline.toml"), "w", encoding="utf-8") as f:
        f.write(config_toml())
    with open(os.path.join(out, "expected.prom"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "expected-sla-events.jsonl"), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in sla_events(m)))
    c = m.counters
    print(f"events.jsonl:   {len(items)} events ({iso(min(it.ts for it in items))} .. {iso(m.clock)})")
    print(f"  tickets {int(sum(c['support_tickets_created_total'].values()))}, "
          f"calls {int(sum(c['support_calls_offered_total'].values()))}, "
          f"SLA achieved {int(sum(c['support_sla_achieved_total'].values()))}, "
          f"breached {int(sum(c['support_sla_breaches_total'].values()))}")
    print(f"expected.prom:  {len(lines)} series")


if __name__ == "__main__":
    main()
