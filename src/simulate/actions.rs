//! What each scheduled [`Action`] does when its time comes.

use super::{Action, Simulator, Ticket, ACW_MEDIAN, ACW_SIGMA, H, M, S};

impl Simulator {
    /// Does `action`, whose time has come.
    pub(super) fn step(&mut self, action: Action) {
        match action {
            Action::Arrival => self.arrival(),
            Action::Return {
                customer,
                queue,
                cat,
                call,
            } => self.contact(customer, queue, cat, call),
            Action::Staffing => self.staffing(),
            Action::CallAbandon { call } => self.call_abandon(call),
            Action::CallHold { call } => self.call_hold(call),
            Action::CallUnhold { call } => self.call_unhold(call),
            Action::CallEnd { call } => self.call_end(call),
            Action::Wrapup {
                call,
                agent,
                report,
            } => self.wrapup(call, agent, report),
            Action::WorkDone { agent, ticket } => {
                self.ticket_work(agent, ticket);
                self.release(agent);
            }
            Action::CustomerReply { ticket } => self.customer_reply(ticket),
            Action::AfterResolution { ticket } => self.after_resolution(ticket),
            Action::AgentBreak { agent } => self.agent_break(agent),
            Action::AgentBack { agent } => self.agent_back(agent),
        }
    }

    /// A waiting caller's patience ran out.
    fn call_abandon(&mut self, call: u64) {
        if let Some(i) = self.waiting.iter().position(|&w| w == call) {
            self.waiting.remove(i);
            let w = self.calls.remove(&call).expect("a waiting call is known");
            self.emit(
                "call.abandoned",
                Self::cust(w.customer),
                &format!(r#""call_id":"call-{call}""#),
            );
            // Most who gave up try again a little later.
            if self.now - w.queued >= 5 * S && self.rng.chance(0.5) {
                let d = self.rng.exp(15.0 * M as f64).max(M);
                self.at(
                    self.now + d,
                    Action::Return {
                        customer: w.customer,
                        queue: w.queue,
                        cat: w.cat,
                        call: true,
                    },
                );
            }
        }
    }

    /// The agent puts a call in talk on hold, for a while.
    fn call_hold(&mut self, call: u64) {
        if let Some(c) = self.talking(call) {
            self.emit(
                "call.hold_started",
                Self::cust(c),
                &format!(r#""call_id":"call-{call}""#),
            );
            let d = self.rng.exp(40.0 * S as f64).max(S);
            self.at(self.now + d, Action::CallUnhold { call });
        }
    }

    /// The hold ends, unless the call did first.
    fn call_unhold(&mut self, call: u64) {
        if let Some(c) = self.talking(call) {
            self.emit(
                "call.hold_ended",
                Self::cust(c),
                &format!(r#""call_id":"call-{call}""#),
            );
        }
    }

    /// After-call work ends (reported or not); the agent is free again.
    fn wrapup(&mut self, call: u64, agent: usize, report: bool) {
        if let Some(c) = self.calls.remove(&call) {
            if report {
                self.emit(
                    "call.wrapup_ended",
                    Self::cust(c.customer),
                    &format!(r#""call_id":"call-{call}""#),
                );
            }
        }
        self.release(agent);
    }

    /// The customer answers a ticket waiting on them: back to the backlog.
    fn customer_reply(&mut self, ticket: u64) {
        if let Some(t) = self.tickets.get(&ticket) {
            let key = Self::cust(t.customer);
            let p = t.priority;
            self.emit(
                "ticket.customer_replied",
                key,
                &format!(r#""ticket_id":"tkt-{ticket}""#),
            );
            self.backlog[p].push_back(ticket);
            self.dispatch_tickets();
        }
    }

    /// A while after resolution a ticket is reopened or closed.
    fn after_resolution(&mut self, ticket: u64) {
        let Some(t) = self.tickets.get(&ticket) else {
            return;
        };
        let key = Self::cust(t.customer);
        // Unhappy customers reopen more often.
        let p_reopen = if t.satisfied { 0.03 } else { 0.2 };
        if self.rng.chance(p_reopen) {
            self.emit(
                "ticket.reopened",
                key,
                &format!(r#""ticket_id":"tkt-{ticket}""#),
            );
            let t = self.tickets.get_mut(&ticket).expect("checked");
            t.resolved = false;
            let p = t.priority;
            self.backlog[p].push_back(ticket);
            self.dispatch_tickets();
        } else {
            self.emit(
                "ticket.closed",
                key,
                &format!(r#""ticket_id":"tkt-{ticket}""#),
            );
            self.tickets.remove(&ticket);
        }
    }

    /// An agent on shift takes a break when free (or tries again later).
    fn agent_break(&mut self, agent: usize) {
        let g = &self.agents[agent];
        if !g.on_shift || g.on_break {
            // Off duty: the next shift schedules its own break.
        } else if g.busy {
            self.at(self.now + 5 * M, Action::AgentBreak { agent });
        } else {
            self.agents[agent].on_break = true;
            self.agent_status(agent, "break");
            let d = self.rng.exp(12.0 * M as f64).max(5 * M);
            self.at(self.now + d, Action::AgentBack { agent });
        }
    }

    /// Back from a break: offline if the shift ended meanwhile, else
    /// available with the next break scheduled.
    fn agent_back(&mut self, agent: usize) {
        self.agents[agent].on_break = false;
        self.agents[agent].free_since = self.now;
        if !self.agents[agent].on_shift {
            self.agent_status(agent, "offline");
        } else {
            self.agent_status(agent, "available");
            let next = self.now + 90 * M + self.rng.exp(60.0 * M as f64);
            self.at(next, Action::AgentBreak { agent });
            self.work(agent);
        }
    }

    /// The customer of a call still in talk.
    pub(super) fn talking(&self, id: u64) -> Option<usize> {
        self.calls.get(&id).filter(|c| !c.ended).map(|c| c.customer)
    }

    pub(super) fn call_end(&mut self, id: u64) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.ended = true;
        let call = call.clone();
        let key = Self::cust(call.customer);
        let resolved = self.rng.chance(if call.transferred { 0.6 } else { 0.85 });
        self.emit(
            "call.ended",
            key.clone(),
            &format!(r#""call_id":"call-{id}","resolved":{resolved}"#),
        );
        let a = call.agent;
        self.agent_status(a, "after_call_work");
        // Satisfaction: resolution first, then the wait (each minute beyond
        // the 20 s target costs about 12 points).
        let base = if resolved { 0.88 } else { 0.3 };
        let waited = (call.wait - 20 * S).max(0) as f64 / M as f64;
        let satisfied = self.rng.chance((base - 0.12 * waited).max(0.05));
        self.survey(
            &key,
            &format!(r#""call_id":"call-{id}""#),
            satisfied,
            0.25,
            0.08,
            0.1,
        );
        if !resolved && self.rng.chance(0.7) {
            let d = self.rng.exp(3.0 * H as f64).max(5 * M);
            let again = self.rng.chance(0.6);
            self.at(
                self.now + d,
                Action::Return {
                    customer: call.customer,
                    queue: call.queue,
                    cat: call.cat,
                    call: again,
                },
            );
        }
        // Some wrap-ups are never reported (the ACW timeout closes them).
        let report = self.rng.chance(0.97);
        let acw = self.rng.lognormal(ACW_MEDIAN, ACW_SIGMA).max(S);
        self.at(
            self.now + acw,
            Action::Wrapup {
                call: id,
                agent: a,
                report,
            },
        );
    }

    /// A ticket agent finished a reply to ticket `id`: it is resolved, or
    /// waits on the customer.
    pub(super) fn ticket_work(&mut self, agent: usize, id: u64) {
        let Some(t) = self.tickets.get(&id).cloned() else {
            return;
        };
        let key = Self::cust(t.customer);
        let aid = self.agents[agent].id.clone();
        let tid = format!("tkt-{id}");
        self.reply(agent, id, &t, &key, &aid, &tid);
        let t = {
            let tm = self.tickets.get_mut(&id).expect("known");
            tm.replies += 1;
            if tm.first_response.is_none() {
                tm.first_response = Some(self.now - tm.created);
            }
            tm.clone()
        };
        let resolve = if t.replies == 1 {
            self.rng.chance(0.55)
        } else {
            self.rng.chance(0.65)
        };
        if resolve {
            self.resolve(id, &t, key, &aid, &tid);
        } else {
            self.await_customer(id, &t, key, &tid);
        }
    }

    /// The reply's events: a triage move on the first, an internal note
    /// now and then, the public reply, and the work logged.
    fn reply(&mut self, agent: usize, id: u64, t: &Ticket, key: &str, aid: &str, tid: &str) {
        if t.replies == 0 && self.rng.chance(0.3) {
            // Triage moves a ticket to the team that owns it.
            let nq = self.rng.below(self.cfg.queues.len());
            let fields = format!(
                r#""ticket_id":"{tid}","agent_id":"{aid}","queue":"{}""#,
                self.cfg.queues[nq]
            );
            self.emit("ticket.assigned", key.to_string(), &fields);
            self.tickets.get_mut(&id).expect("known").queue = nq;
        }
        if self.rng.chance(0.1) {
            self.emit(
                "ticket.agent_replied",
                key.to_string(),
                &format!(r#""ticket_id":"{tid}","agent_id":"{aid}","public":false"#),
            );
        }
        self.emit(
            "ticket.agent_replied",
            key.to_string(),
            &format!(r#""ticket_id":"{tid}","agent_id":"{aid}""#),
        );
        // The agent's time on this reply is the work logged.
        let secs = (self.now - self.agents[agent].work_started) / S;
        self.emit(
            "ticket.work_logged",
            key.to_string(),
            &format!(r#""ticket_id":"{tid}","agent_id":"{aid}","seconds":{secs}"#),
        );
    }

    /// The reply resolved the ticket: a survey, then a reopen or a close.
    fn resolve(&mut self, id: u64, t: &Ticket, key: String, aid: &str, tid: &str) {
        self.emit(
            "ticket.resolved",
            key.clone(),
            &format!(r#""ticket_id":"{tid}","agent_id":"{aid}""#),
        );
        // Satisfaction: fast first response, few rounds, no escalation.
        let frt_h = t.first_response.unwrap_or(0) as f64 / H as f64;
        let p = 0.9
            - 0.06 * (t.replies.saturating_sub(1)) as f64
            - if t.escalated { 0.1 } else { 0.0 }
            - (0.08 * frt_h).min(0.4);
        let satisfied = self.rng.chance(p.max(0.05));
        let tm = self.tickets.get_mut(&id).expect("known");
        tm.resolved = true;
        tm.satisfied = satisfied;
        self.survey(
            &key,
            &format!(r#""ticket_id":"{tid}""#),
            satisfied,
            0.3,
            0.1,
            0.1,
        );
        let d = self.rng.exp(4.0 * H as f64).max(M);
        self.at(self.now + d, Action::AfterResolution { ticket: id });
    }

    /// The reply did not resolve it: maybe escalated or made urgent, then
    /// waiting on the customer, who answers later.
    fn await_customer(&mut self, id: u64, t: &Ticket, key: String, tid: &str) {
        if !t.escalated && self.rng.chance(0.12) {
            self.emit(
                "ticket.escalated",
                key.clone(),
                &format!(r#""ticket_id":"{tid}","level":2"#),
            );
            self.tickets.get_mut(&id).expect("known").escalated = true;
        }
        if self.rng.chance(0.05) && t.priority > 0 {
            self.emit(
                "ticket.priority_changed",
                key.clone(),
                &format!(r#""ticket_id":"{tid}","priority":"urgent""#),
            );
            self.tickets.get_mut(&id).expect("known").priority = 0;
        }
        // Waiting on the customer, who answers later (which sets the
        // ticket open again); a ticket left pending waits longest.
        let mean = if self.rng.chance(0.3) {
            self.emit(
                "ticket.status_changed",
                key,
                &format!(r#""ticket_id":"{tid}","status":"pending""#),
            );
            8.0 * H as f64
        } else {
            H as f64
        };
        let d = self.rng.exp(mean).max(2 * M);
        self.at(self.now + d, Action::CustomerReply { ticket: id });
    }
}
