#!/usr/bin/env python3
"""Golden scenario for the per-agent families: an independent oracle.

Writes, next to this file:

  events.jsonl     the scenario (JSON lines, in arrival order: ts order,
                   but for the random traffic's events sent late)
  frontline.toml   the config of the run ([agents] per_agent_metrics on,
                   labels.max_agents = 5 so that the cap is reached)
  expected.prom    the expected support_agent_* series (and the agent
                   overflow counter) of `frontline replay`, status time by
                   status and queue included

The model below implements the crediting rules of SPEC.md §3/§5.1 and
docs/metrics.md ("Per-agent performance") from those documents alone:

- a ticket's agent: the agent its first resolution was credited to, else its
  last assignee, else its last public replier;
- a first resolution: ticket.resolved.agent_id, else the ticket's agent;
  it counts a handled contact, an FCR (at most one public reply, never
  escalated), and its logged work as handle time when any was logged;
- a ticket's first public reply: first response time to its writer;
- a ticket's first escalation: to the ticket's agent;
- a call: to the agent who answered it; handle = talk + after-call work at
  the wrap-up end, in the queue it is in then, or talk alone when no
  wrap-up comes within the after-call-work timeout (10 min, SPEC §5.1), at
  the timeout (a wrap-up after it credits nothing); FCR at call.ended
  resolved, never transferred; escalation by transfer labelled with the
  queue before;
- a CSAT response: its own agent_id, else the ticket's agent, else the
  answering agent of its call; no agent known: "unknown"; a call finished
  more than state.finished_call_ttl (1 h) before, and swept (every 15 min),
  is no longer known;
- the `agent` label keeps its value for the first max_agents agents an event
  names (a status change, an assignment, a public reply, an answered call,
  a first resolution's or a survey's agent_id); the rest are "other", and
  the overflow counter counts each event whose credit is "other" (once,
  whatever number of families the event credits) and each status change
  that makes an agent over the cap known;
- an agent's status time, per agent, queue and status, exactly as
  support_agent_status_seconds_total counts it: each interval from a status
  change to the next, in the queue of the change (or the agent's last one),
  ending at the idle timeout after the agent's last change if that comes
  first; the open interval ends at the event clock (the last ts).

Python 3.11, standard library only, deterministic. The hand-worked values in
the comments are asserted in hand_checks().

Usage: python3 tests/golden/agents/gen.py [OUT_DIR]  (default: next to this file)
       python3 tests/golden/agents/gen.py --wild SEED OUT_DIR
           the same scenario with random traffic after it (`wild`), no hand
           checks
"""

import json
import os
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from seeds import Lcg, command_line  # noqa: E402

MAX_AGENTS = 5
IDLE_MIN = 30
ACW_TIMEOUT_MIN = 10           # kpi.acw_timeout, the default
FINISHED_CALL_TTL_MIN = 60     # state.finished_call_ttl, the default
CONFIG_TOML = f"""\
[agents]
per_agent_metrics = true
idle_timeout = "{IDLE_MIN}m"

[labels]
max_agents = {MAX_AGENTS}
"""

T0 = 1_794_819_600_000  # 2026-11-16T09:00:00Z
S = 1000
M = 60 * S


def scenario():
    """(ts offset ms, type, fields), one block per contact; the blocks
    interleave in time, and the run takes them in ts order (the order of
    first credits decides who gets the five `agent` places)."""
    ev = []

    def e(at, type_, **f):
        ev.append((at, type_, f))

    # T1 (billing): assigned to ann, ann replies at 10m (FRT 600 s → ann),
    # logs 300 s, bob resolves at 60m: handled/FCR/handle 300 s → bob.
    e(0, "ticket.created", ticket_id="T1", customer_id="c1", channel="email", queue="billing")
    e(1 * M, "ticket.assigned", ticket_id="T1", agent_id="ann")
    e(10 * M, "ticket.agent_replied", ticket_id="T1", agent_id="ann")
    e(20 * M, "ticket.work_logged", ticket_id="T1", agent_id="ann", seconds=300)
    e(60 * M, "ticket.resolved", ticket_id="T1", agent_id="bob")
    # T2 (tech): assigned to ann, re-assigned to cyd with queue billing; cyd
    # replies at 5m (FRT 300 s → cyd, billing); resolved without agent → cyd.
    e(0, "ticket.created", ticket_id="T2", customer_id="c2", channel="chat", queue="tech")
    e(1 * M, "ticket.assigned", ticket_id="T2", agent_id="ann")
    e(2 * M, "ticket.assigned", ticket_id="T2", agent_id="cyd", queue="billing")
    e(5 * M, "ticket.agent_replied", ticket_id="T2", agent_id="cyd")
    e(70 * M, "ticket.resolved", ticket_id="T2")
    # T3 (tech): never assigned; dan replies (FRT 120 s → dan), eve replies
    # publicly, fay privately; escalated → eve (last public replier);
    # resolved without agent → eve; two replies + escalation: no FCR.
    # Reopened and resolved again by ann: not a new handled contact.
    e(0, "ticket.created", ticket_id="T3", customer_id="c3", channel="web", queue="tech")
    e(2 * M, "ticket.agent_replied", ticket_id="T3", agent_id="dan")
    e(3 * M, "ticket.agent_replied", ticket_id="T3", agent_id="eve")
    e(4 * M, "ticket.agent_replied", ticket_id="T3", agent_id="fay", public=False)
    e(5 * M, "ticket.escalated", ticket_id="T3")
    e(6 * M, "ticket.work_logged", ticket_id="T3", agent_id="eve", seconds=90.5)
    e(80 * M, "ticket.resolved", ticket_id="T3")
    e(81 * M, "ticket.reopened", ticket_id="T3")
    e(82 * M, "ticket.resolved", ticket_id="T3", agent_id="ann")
    # Surveys on tickets in state: T1 → bob (its resolver), with its own
    # agent_id → ann; T3 → eve.
    e(90 * M, "survey.csat", score=5, ticket_id="T1")
    e(90 * M, "survey.csat", score=3, ticket_id="T1", agent_id="ann")
    e(91 * M, "survey.csat", score=4, ticket_id="T3")
    # T4 (queue missing → unknown): no agent anywhere; resolved → unknown.
    e(95 * M, "ticket.created", ticket_id="T4", customer_id="c4")
    e(96 * M, "ticket.resolved", ticket_id="T4")
    # Calls (sales). K1: answered by gus (the 6th agent credited: other, as
    # are all his credits), transferred with escalation to tier2 (escalation
    # → other, sales), ended resolved (transferred: no FCR), wrap-up: handle
    # = 60 s talk + 15 s ACW = 75 s in tier2.
    e(100 * M, "call.queued", call_id="K1", customer_id="c5", queue="sales")
    e(100 * M + 20 * S, "call.answered", call_id="K1", agent_id="gus")
    e(100 * M + 40 * S, "call.transferred", call_id="K1", queue="tier2", escalation=True)
    e(101 * M + 20 * S, "call.ended", call_id="K1", resolved=True)
    e(101 * M + 35 * S, "call.wrapup_ended", call_id="K1")
    # K2: answered by cyd, hold inside the talk, ended resolved: FCR → cyd;
    # handle = 120 s talk + 30 s ACW = 150 s in sales.
    e(110 * M, "call.queued", call_id="K2", customer_id="c6", queue="sales")
    e(110 * M + 10 * S, "call.answered", call_id="K2", agent_id="cyd")
    e(110 * M + 30 * S, "call.hold_started", call_id="K2")
    e(110 * M + 50 * S, "call.hold_ended", call_id="K2")
    e(112 * M + 10 * S, "call.ended", call_id="K2", resolved=True)
    e(112 * M + 40 * S, "call.wrapup_ended", call_id="K2")
    # K3: escalated while waiting → unknown, sales; abandoned.
    e(120 * M, "call.queued", call_id="K3", customer_id="c7", queue="sales")
    e(120 * M + 5 * S, "call.transferred", call_id="K3", queue="tier2", escalation=True)
    e(120 * M + 30 * S, "call.abandoned", call_id="K3")
    # Surveys on calls: K2 → cyd (sales); K1 → gus → other (tier2, its
    # queue now); a call not in state → unknown/unknown; an own agent_id
    # over the cap (hal) → other with the survey's queue vip.
    e(125 * M, "survey.csat", score=5, call_id="K2")
    e(125 * M, "survey.csat", score=2, call_id="K1")
    e(125 * M, "survey.csat", score=1, call_id="nope")
    e(126 * M, "survey.csat", score=4, agent_id="hal", queue="vip")
    # Status changes (idle timeout 30 min; the clock ends at 126m).
    # ann, billing: available 60–65m, busy 65–75m, after-call work 75–80m,
    # available from 80m, silent after: until the idle timeout at 110m.
    e(60 * M, "agent.status_changed", agent_id="ann", status="available", queue="billing")
    e(65 * M, "agent.status_changed", agent_id="ann", status="busy")
    e(75 * M, "agent.status_changed", agent_id="ann", status="after_call_work")
    e(80 * M, "agent.status_changed", agent_id="ann", status="available")
    # cyd: available 62–70m and on break 70–72m with no queue (unknown),
    # available in sales 72–95m, offline from 95m until the idle timeout
    # at 125m.
    e(62 * M, "agent.status_changed", agent_id="cyd", status="available")
    e(70 * M, "agent.status_changed", agent_id="cyd", status="break")
    e(72 * M, "agent.status_changed", agent_id="cyd", status="available", queue="sales")
    e(95 * M, "agent.status_changed", agent_id="cyd", status="offline")
    # gus (over the cap: other, counted once when his status makes him
    # known): busy in sales 100–103m, available 103–126m (the clock).
    e(100 * M, "agent.status_changed", agent_id="gus", status="busy", queue="sales")
    e(103 * M, "agent.status_changed", agent_id="gus", status="available")
    return ev


def wild(rng):
    """Random traffic for `gen.py --wild SEED` (tests/golden.rs runs a few
    seeds), as (ts offset ms, type, fields) after the scenario's 126 minutes:
    eight agents, the scenario's five with an `agent` place and three over
    the cap (these three changing status at most 21 minutes apart, so that
    even with changes overtaken by the next, less than the idle timeout
    passes between two changes applied: the others were last heard of more
    than the idle timeout before, which the model leaves out), 30 tickets
    assigned, replied to, escalated, worked on, resolved and reopened by
    them, 20 calls answered, put on hold, transferred and ended, then
    wrapped up within 9 minutes, or never (the after-call-work timeout
    handles them), or after the timeout; surveys naming a ticket, a call
    (within 40 minutes of its last event, or more than 100 minutes after it
    was to finish, when it has expired), an agent or nothing. Every event is sent at its own time here; `arrival_delay` sends
    some later."""
    ev = []
    start, span = 130 * M, 180 * M
    over_cap = ["w1", "w2", "w3"]
    agents = ["ann", "bob", "cyd", "dan", "eve"] + over_cap
    queues = ["billing", "tech", "sales"]
    tickets = []

    def e(at, type_, **f):
        ev.append((at, type_, f))

    for a in over_cap:
        t = start + rng.randint(0, 20 * M)
        while t < start + span:
            f = dict(agent_id=a, status=rng.choice(
                ["available", "busy", "after_call_work", "break", "offline"]))
            if rng.chance(40):
                f["queue"] = rng.choice(queues)
            e(t, "agent.status_changed", **f)
            t += rng.randint(S, 21 * M)
    for i in range(30):
        tid = f"TW{i}"
        t = start + rng.randint(0, span - 30 * M)
        f = dict(ticket_id=tid, customer_id=f"cw-t{i}", channel="email")
        if rng.chance(80):
            f["queue"] = rng.choice(queues)
        e(t, "ticket.created", **f)
        tickets.append(tid)
        resolved = ever_resolved = replied = False
        for _ in range(rng.randint(0, 7)):
            t += rng.randint(S, 10 * M)
            k = rng.randint(1, 7)
            if k == 1:
                g = dict(ticket_id=tid, agent_id=rng.choice(agents))
                if rng.chance(30):
                    g["queue"] = rng.choice(queues)
                e(t, "ticket.assigned", **g)
            elif k == 2:
                # SPEC §3: a ticket solved without a public reply has no first
                # response, so none comes after its resolution here.
                public = rng.chance(75) and (replied or not ever_resolved)
                replied = replied or public
                e(t, "ticket.agent_replied", ticket_id=tid, agent_id=rng.choice(agents),
                  public=public)
            elif k == 3:
                e(t, "ticket.escalated", ticket_id=tid)
            elif k == 4:
                e(t, "ticket.work_logged", ticket_id=tid, agent_id=rng.choice(agents),
                  seconds=rng.randint(0, 600) + (0.5 if rng.chance(20) else 0))
            elif k <= 6 and not resolved:
                g = dict(ticket_id=tid)
                if rng.chance(50):
                    g["agent_id"] = rng.choice(agents)
                e(t, "ticket.resolved", **g)
                resolved = ever_resolved = True
            elif k == 7 and resolved:
                e(t, "ticket.reopened", ticket_id=tid)
                resolved = False
    for i in range(20):
        cid = f"KW{i}"
        t = start + rng.randint(0, span - 30 * M)
        e(t, "call.queued", call_id=cid, customer_id=f"cw-k{i}", queue=rng.choice(queues))
        t += rng.randint(S, 60 * S)
        if rng.chance(15):
            if rng.chance(50):
                e(t, "call.transferred", call_id=cid, queue=rng.choice(queues),
                  escalation=rng.chance(50))
                t += rng.randint(S, 30 * S)
            e(t, "call.abandoned", call_id=cid)
            continue
        e(t, "call.answered", call_id=cid, agent_id=rng.choice(agents))
        for _ in range(rng.randint(0, 2)):
            t += rng.randint(S, 60 * S)
            if rng.chance(50):
                e(t, "call.hold_started", call_id=cid)
                t += rng.randint(S, 60 * S)
                e(t, "call.hold_ended", call_id=cid)
            else:
                e(t, "call.transferred", call_id=cid, queue=rng.choice(queues),
                  escalation=rng.chance(50))
        t += rng.randint(S, 5 * M)
        g = dict(call_id=cid)
        if rng.chance(70):
            g["resolved"] = rng.chance(60)
        e(t, "call.ended", **g)
        k = rng.randint(1, 20)
        if k <= 14:
            finish = t + rng.randint(S, (ACW_TIMEOUT_MIN - 1) * M)
            e(finish, "call.wrapup_ended", call_id=cid)
        else:
            finish = t + ACW_TIMEOUT_MIN * M
            if k <= 17:
                # after the timeout: out of order, credits nothing
                e(finish + rng.randint(S, 10 * M), "call.wrapup_ended", call_id=cid)
        if rng.chance(40):
            # A finished call is kept for its surveys for an hour after it
            # finished (docs/events.md, "Expiry"); swept every quarter hour.
            at = finish + (rng.randint(S, 40 * M) if rng.chance(60) else
                           rng.randint(100 * M, 120 * M))
            e(at, "survey.csat", call_id=cid, score=rng.randint(1, 5))
    for _ in range(12):
        t = start + rng.randint(0, span)
        f = dict(score=rng.randint(1, 5))
        k = rng.randint(1, 3)
        if k == 1:
            f["ticket_id"] = rng.choice(tickets)
        elif k == 2:
            f["agent_id"] = rng.choice(agents)
            if rng.chance(50):
                f["queue"] = rng.choice(queues)
        e(t, "survey.csat", **f)
    # The last event comes after every survey.
    e(start + span + 140 * M, "ticket.created", ticket_id="TW-END", customer_id="cw-end")
    return ev


class Model:
    def __init__(self):
        self.counters = defaultdict(int)   # (family, labels tuple) → n
        self.sums = defaultdict(lambda: [0, 0])  # (family, agent, queue) → [ms, n]
        self.known = []                    # agents with their own label
        self.overflow = 0
        self.tickets = {}
        self.calls = {}
        self.agents = {}                   # name → [status, since, queue, last, label]
        self.status_ms = defaultdict(int)  # (agent label, queue, status) → ms
        self.clock = None
        self.acw = {}                      # call id → its after-call-work timeout
        self.held = defaultdict(list)      # entity id → its early arrivals
        self.seq = 0

    def name(self, agent):
        """The label of an agent an event names (None: no agent)."""
        if agent is None or agent in self.known:
            return agent
        if len(self.known) < MAX_AGENTS:
            self.known.append(agent)
            return agent
        return "other"

    def label(self, agent):
        """The label a credit goes to; over the cap it counts."""
        a = self.name(agent)
        if a is None:
            return "unknown"
        if a == "other":
            self.overflow += 1
        return a

    def book(self, a, to):
        status, since, queue, last, label = a
        end = min(to, last + IDLE_MIN * M)
        if end > since:
            self.status_ms[(label, queue, status)] += end - since

    def status(self, ts, f):
        a = self.agents.get(f["agent_id"])
        if a is None:
            label = self.name(f["agent_id"])
            if label == "other":
                self.overflow += 1
            self.agents[f["agent_id"]] = [f["status"], ts, f.get("queue", "unknown"), ts, label]
            return
        if ts < a[3]:
            # Dated before the agent's latest change, it arrived after it:
            # out of order, it changes nothing (docs/events.md).
            return
        # The scenario never lets an agent go silent past the idle timeout
        # and come back (the engine may have forgotten it by then).
        assert ts - a[3] <= IDLE_MIN * M
        self.book(a, ts)
        a[0], a[1], a[3] = f["status"], ts, ts
        a[2] = f.get("queue", a[2])

    def finish(self):
        # End of input: after-call-work timeouts due by the clock fire.
        self.timeouts(self.clock, True)
        for a in self.agents.values():
            self.book(a, self.clock)

    def timeouts(self, ts, at_end=False):
        """After-call-work timeouts the clock passes on reaching `ts` (and at
        the end of input, those due at it too), in due order."""
        for cid, due in sorted(self.acw.items(), key=lambda x: x[1]):
            assert due != ts or at_end, f"{cid}: an event exactly at its ACW timeout"
            if due <= ts:
                del self.acw[cid]
                c = self.calls[cid]
                self.handled(c, c["ended"] - c["answered"], due)

    def handled(self, c, ms, at):
        a = self.label(c["agent"])
        self.count("support_agent_contacts_handled_total", a, c["queue"])
        self.observe("support_agent_handle_seconds", a, c["queue"], ms)
        c["finished"], c["state"] = at, "done"

    # `count` and `observe` take the label: an event resolves its agent once,
    # however many families it credits (the overflow counts events).
    def count(self, family, label, queue, score=None):
        labels = (("agent", label), ("queue", queue))
        if score is not None:
            labels += (("score", str(score)),)
        self.counters[(family, labels)] += 1

    def observe(self, family, label, queue, ms):
        s = self.sums[(family, label, queue)]
        s[0] += ms
        s[1] += 1

    @staticmethod
    def ticket_agent(t):
        return t["resolver"] or t["assigned"] or t["replied"]

    def apply(self, ts, type_, f):
        """One event, in arrival order."""
        self.seq += 1
        self.clock = ts if self.clock is None else max(self.clock, ts)
        self.timeouts(self.clock)
        kind = type_.split(".")[0]
        if kind in ("ticket", "call") and type_ not in ("ticket.created", "call.queued"):
            key = f[kind + "_id"]
            if key not in (self.tickets if kind == "ticket" else self.calls):
                # an early arrival, held until its opening event comes
                # (docs/events.md); the delays here never let the watermark
                # pass it first
                self.held[key].append((ts, self.seq, type_, f))
                return
        self.step(ts, type_, f)
        if type_ in ("ticket.created", "call.queued"):
            key = f["ticket_id"] if kind == "ticket" else f["call_id"]
            for hts, _, htype, hf in sorted(self.held.pop(key, []), key=lambda h: h[:2]):
                self.step(hts, htype, hf)

    def step(self, ts, type_, f):
        if type_ == "agent.status_changed":
            self.status(ts, f)
            return
        if type_ == "ticket.created":
            self.tickets[f["ticket_id"]] = dict(
                created=ts, queue=f.get("queue", "unknown"), assigned=None,
                replied=None, resolver=None, public=0, escalated=False,
                work=None, resolved=False, ever=False)
            return
        if type_ == "call.queued":
            self.calls[f["call_id"]] = dict(
                queue=f["queue"], agent=None, transferred=False, escalated=False,
                answered=None, ended=None, finished=None, state="waiting", hold=None)
            return
        if type_ == "survey.csat":
            agent = f.get("agent_id")
            t = self.tickets.get(f.get("ticket_id"))
            c = self.calls.get(f.get("call_id"))
            if c is not None and c["finished"] is not None:
                age = ts - c["finished"]
                assert not (FINISHED_CALL_TTL_MIN * M - 20 * M < age < (FINISHED_CALL_TTL_MIN + 30) * M), \
                    f"a survey near its call's expiry ({age} ms)"
                if age > FINISHED_CALL_TTL_MIN * M:
                    c = None
            queue = f.get("queue") or (t or c or {}).get("queue", "unknown")
            if agent is None:
                agent = self.ticket_agent(t) if t else (c["agent"] if c else None)
            self.count("support_agent_csat_responses_total", self.label(agent), queue,
                       f["score"])
            return
        if type_.startswith("ticket."):
            t = self.tickets[f["ticket_id"]]
            q = t["queue"]
            if type_ == "ticket.assigned":
                self.name(f["agent_id"])
                t["assigned"] = f["agent_id"]
                t["queue"] = f.get("queue", q)
            elif type_ == "ticket.agent_replied":
                if not f.get("public", True):
                    return
                self.name(f["agent_id"])
                # solved before its first public reply: no first response,
                # even when the reply arrives after (SPEC §3, docs/events.md)
                if t["public"] == 0 and not t["ever"]:
                    self.observe("support_agent_first_response_seconds",
                                 self.label(f["agent_id"]), q, ts - t["created"])
                t["public"] += 1
                t["replied"] = f["agent_id"]
            elif type_ == "ticket.escalated":
                if not t["escalated"]:
                    t["escalated"] = True
                    self.count("support_agent_escalations_total",
                               self.label(self.ticket_agent(t)), q)
            elif type_ == "ticket.work_logged":
                t["work"] = (t["work"] or 0) + round(f["seconds"] * 1000)
            elif type_ == "ticket.resolved":
                if t["resolved"]:
                    return      # out of order
                t["resolved"] = True
                if t["ever"]:
                    return
                t["ever"] = True
                agent = f.get("agent_id") or self.ticket_agent(t)
                a = self.label(agent)
                self.count("support_agent_contacts_handled_total", a, q)
                if t["public"] <= 1 and not t["escalated"]:
                    self.count("support_agent_first_contact_resolutions_total", a, q)
                if t["work"] is not None:
                    self.observe("support_agent_handle_seconds", a, q, t["work"])
                t["resolver"] = agent
            elif type_ == "ticket.reopened" and t["resolved"]:
                t["resolved"] = False
            return
        # A call's impossible transitions, and steps dated before the step
        # they end, are out of order and credit nothing (docs/events.md).
        c = self.calls[f["call_id"]]
        q = c["queue"]
        if type_ == "call.answered":
            if c["state"] != "waiting":
                return
            self.name(f["agent_id"])
            c["agent"] = f["agent_id"]
            c["answered"], c["state"] = ts, "talking"
        elif type_ == "call.abandoned":
            if c["state"] == "waiting":
                c["state"] = "done"
        elif type_ == "call.hold_started":
            if c["state"] == "talking" and c["hold"] is None:
                c["hold"] = ts
        elif type_ == "call.hold_ended":
            if c["hold"] is not None and ts >= c["hold"]:
                c["hold"] = None
        elif type_ == "call.transferred":
            if c["state"] == "done":
                return
            c["transferred"] = True
            if f.get("escalation") and not c["escalated"]:
                c["escalated"] = True
                self.count("support_agent_escalations_total", self.label(c["agent"]), q)
            c["queue"] = f["queue"]
        elif type_ == "call.ended":
            if c["state"] != "talking" or ts < c["answered"] or (
                    c["hold"] is not None and ts < c["hold"]):
                return
            c["ended"], c["state"], c["hold"] = ts, "acw", None
            self.acw[f["call_id"]] = ts + ACW_TIMEOUT_MIN * M
            if f.get("resolved") and not c["transferred"]:
                self.count("support_agent_first_contact_resolutions_total",
                           self.label(c["agent"]), q)
        elif type_ == "call.wrapup_ended":
            if c["state"] != "acw" or ts < c["ended"]:
                return      # after the timeout, or before the end: no credit
            del self.acw[f["call_id"]]
            self.handled(c, (c["ended"] - c["answered"]) + (ts - c["ended"]), ts)

    def exposition(self):
        lines = []
        for (family, labels), n in sorted(self.counters.items()):
            lines.append(f"{family}{{{fmt(labels)}}} {n}")
        for (family, agent, queue), (ms, n) in sorted(self.sums.items()):
            labels = (("agent", agent), ("queue", queue))
            lines.append(f'{family}_bucket{{{fmt(labels + (("le", "+Inf"),))}}} {n}')
            lines.append(f"{family}_sum{{{fmt(labels)}}} {ms / 1000!r}")
            lines.append(f"{family}_count{{{fmt(labels)}}} {n}")
        for (agent, queue, status), ms in sorted(self.status_ms.items()):
            labels = (("agent", agent), ("queue", queue), ("status", status))
            lines.append(f"support_agent_time_in_status_seconds_total{{{fmt(labels)}}} {ms / 1000!r}")
        # Summed over agents: the family by status and queue.
        by_status = defaultdict(int)
        for (_, queue, status), ms in self.status_ms.items():
            by_status[(status, queue)] += ms
        for (status, queue), ms in sorted(by_status.items()):
            labels = (("status", status), ("queue", queue))
            lines.append(f"support_agent_status_seconds_total{{{fmt(labels)}}} {ms / 1000!r}")
        lines.append(f'frontline_label_overflow_total{{label="agent"}} {self.overflow}')
        lines.append('frontline_label_overflow_total{label="queue"} 0')
        lines.append('frontline_label_overflow_total{label="series"} 0')
        return lines


def fmt(labels):
    return ",".join(f'{k}="{v}"' for k, v in labels)


def hand_checks(m):
    c = m.counters

    def n(family, agent, queue, score=None):
        labels = (("agent", agent), ("queue", queue))
        if score is not None:
            labels += (("score", str(score)),)
        return c.get((family, labels), 0)

    # First named in ts order: ann assigned T1 (1m), cyd assigned T2 (2m),
    # dan's reply on T3 (2m), eve's (3m), bob's resolution of T1 (60m): the
    # five places. gus (his status at 100m, K1) and hal (a survey) are other.
    assert m.known == ["ann", "cyd", "dan", "eve", "bob"], m.known
    # gus: his first status change, three events that credit him (K1's
    # transfer, its wrap-up end with the handled contact and its handle
    # time, its CSAT); hal: one CSAT.
    assert m.overflow == 5, m.overflow
    h = "support_agent_contacts_handled_total"
    assert n(h, "bob", "billing") == 1 and n(h, "cyd", "billing") == 1
    assert n(h, "eve", "tech") == 1 and n(h, "unknown", "unknown") == 1
    assert n(h, "other", "tier2") == 1 and n(h, "cyd", "sales") == 1
    assert n(h, "ann", "tech") == 0, "a re-resolution is not a new contact"
    assert sum(v for (f, _), v in c.items() if f == h) == 6
    fcr = "support_agent_first_contact_resolutions_total"
    # T1 (one reply), T2 (one reply), T4 (none), K2 (not transferred).
    assert n(fcr, "bob", "billing") == 1 and n(fcr, "cyd", "billing") == 1
    assert n(fcr, "cyd", "sales") == 1 and n(fcr, "unknown", "unknown") == 1
    assert sum(v for (f, _), v in c.items() if f == fcr) == 4
    esc = "support_agent_escalations_total"
    assert n(esc, "eve", "tech") == 1 and n(esc, "other", "sales") == 1
    assert n(esc, "unknown", "sales") == 1
    csat = "support_agent_csat_responses_total"
    assert n(csat, "bob", "billing", 5) == 1 and n(csat, "ann", "billing", 3) == 1
    assert n(csat, "eve", "tech", 4) == 1 and n(csat, "cyd", "sales", 5) == 1
    assert n(csat, "other", "tier2", 2) == 1 and n(csat, "unknown", "unknown", 1) == 1
    assert n(csat, "other", "vip", 4) == 1
    s = m.sums
    hs = "support_agent_handle_seconds"
    assert s[(hs, "bob", "billing")] == [300_000, 1]
    assert s[(hs, "eve", "tech")] == [90_500, 1]
    assert s[(hs, "other", "tier2")] == [75_000, 1]
    assert s[(hs, "cyd", "sales")] == [150_000, 1]
    assert len(s) == 4 + 3
    frt = "support_agent_first_response_seconds"
    assert s[(frt, "ann", "billing")] == [600_000, 1]
    assert s[(frt, "cyd", "billing")] == [300_000, 1]
    assert s[(frt, "dan", "tech")] == [120_000, 1]
    st = m.status_ms
    assert st[("ann", "billing", "available")] == (5 + 30) * M
    assert st[("ann", "billing", "busy")] == 10 * M
    assert st[("ann", "billing", "after_call_work")] == 5 * M
    assert st[("cyd", "unknown", "available")] == 8 * M
    assert st[("cyd", "unknown", "break")] == 2 * M
    assert st[("cyd", "sales", "available")] == 23 * M
    assert st[("cyd", "sales", "offline")] == 30 * M
    assert st[("other", "sales", "busy")] == 3 * M
    assert st[("other", "sales", "available")] == 23 * M
    assert len(st) == 9


def arrival_delay(rng, type_):
    """How long after it happens a random event is sent: three ticket,
    call and status-change events in ten up to 8 minutes late, so that one
    may overtake earlier events of its ticket or call (applied where it
    arrives, docs/events.md), or its opening event (held until it comes),
    and a status change may arrive after a later change of its agent (out
    of order: it changes nothing). Within the allowed lateness (10 min): no
    event is late, no held one dropped, no after-call-work timeout left
    behind the clock. Surveys come at their own time."""
    if type_ != "agent.status_changed" and type_.split(".")[0] not in ("ticket", "call"):
        return 0
    if not rng.chance(30):
        return 0
    return rng.randint(S, 8 * M)


def main():
    seed, out = command_line(HERE)
    events = [(at, at, type_, f) for at, type_, f in scenario()]
    if seed is not None:
        rng = Lcg(seed)
        for at, type_, f in wild(rng):
            events.append((at + arrival_delay(rng, type_), at, type_, f))
    # in arrival order; stable: blocks keep their order at equal times
    events = sorted(events, key=lambda e: e[:2])
    m = Model()
    lines = []
    for i, (_, at, type_, f) in enumerate(events):
        m.apply(T0 + at, type_, f)
        obj = {"event_id": f"a{i + 1}", "type": type_, "ts": T0 + at}
        obj.update(f)
        lines.append(json.dumps(obj, separators=(",", ":")))
    m.finish()
    if seed is None:
        hand_checks(m)  # they count the hand-written blocks alone
    with open(os.path.join(out, "events.jsonl"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "frontline.toml"), "w", encoding="utf-8") as fh:
        fh.write(CONFIG_TOML)
    with open(os.path.join(out, "expected.prom"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(m.exposition()) + "\n")


if __name__ == "__main__":
    main()
