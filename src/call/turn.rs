//! A step's result in decided terms: the flow's [`Reply`] with its
//! destination resolved to the line's handoff, its next state sealed, the
//! Gather's entry rules picked, and the change it makes to the call record.
//! Each of these is decided here, once; rendering only follows them.

use super::CallService;
use crate::config::{DialTo, Handoff, Line};
use crate::flow::phone::mask;
use crate::flow::{Destination, FlowState, Outcome, Prompt, Reply};
use crate::render::Then;
use crate::store::timeline::{Event, What};
use crate::store::{CrmAsk, Placement, RecordChange, RecordOutcome};
use crate::twilio::params::CallSid;

/// What one webhook answers, and what it changes.
#[derive(Debug)]
pub struct Turn<'l> {
    pub line: &'l Line,
    /// What the caller hears first.
    pub preface: Vec<Prompt>,
    /// Then: a Gather, or the handoff.
    pub then: Then<'l>,
    /// What changes in the call's record.
    pub change: RecordChange,
    /// The CRM question the step asked, if it asked one.
    pub crm: Option<CrmAsk>,
    /// What the step adds to the call's timeline: its entry and CRM
    /// question, then what the caller is played or where they are handed.
    pub events: Vec<Event>,
    /// The call's first webhook: its record starts here.
    pub first: bool,
    /// Unix seconds: when the step was taken.
    pub now: u64,
}

impl CallService {
    /// The turn for `reply` on `call_sid`, its next state sealed now,
    /// after the timeline's `events` so far.
    pub(super) fn turn<'l>(
        &self,
        line: &'l Line,
        reply: Reply,
        call_sid: &CallSid,
        first: bool,
        mut events: Vec<Event>,
    ) -> Turn<'l> {
        let now_ms = crate::store::timeline::now_ms();
        let now = now_ms / 1000;
        let mut turn =
            Turn::of(line, reply, |state| self.signers.states.seal(state, call_sid.as_str(), now), first, now_ms);
        events.append(&mut turn.events);
        turn.events = events;
        turn
    }
}

impl<'l> Turn<'l> {
    /// Decides what `reply` means on `line`, at `now_ms` (Unix
    /// milliseconds); `seal` seals the next state.
    pub fn of(line: &'l Line, reply: Reply, seal: impl FnOnce(&FlowState) -> String, first: bool, now_ms: u64) -> Self {
        let (preface, then, change, what) = match reply {
            Reply::Ask { preface, state } => {
                let change = RecordChange::Asking {
                    identify_attempts: state.identify_attempts,
                    verify_attempts: state.verify_attempts,
                    lockout: state.lockout,
                    identified: state.customer.clone().map(|c| (c, state.method)),
                };
                let rules = line.rules.entry_rules(state.stage);
                let sealed = seal(&state);
                let mut prompts = preface.clone();
                prompts.push(state.stage.prompt());
                let what = What::Prompt { prompts, gather: Some(state.stage) };
                (preface, Then::Ask { stage: state.stage, rules, state: sealed }, change, what)
            }
            Reply::Handoff { preface, to, outcome, context, identify_attempts, verify_attempts } => {
                let handoff = handoff_to(line, to);
                let outcome = record_outcome(outcome, handoff);
                tracing::info!(
                    status = context.idv_status.as_str(),
                    method = context.idv_method.as_str(),
                    customer = %mask(context.customer_id.as_deref().unwrap_or("")),
                    outcome = ?outcome,
                    "call handed on"
                );
                let what = What::Handoff { outcome, idv_status: context.idv_status, idv_method: context.idv_method };
                let change = RecordChange::HandedOff {
                    context: context.clone(),
                    outcome,
                    identify_attempts,
                    verify_attempts,
                    placed: placement(handoff),
                };
                (preface, Then::Handoff { handoff, context }, change, what)
            }
        };
        let mut events = Vec::with_capacity(2);
        if !preface.is_empty() && matches!(what, What::Handoff { .. }) {
            events.push(Event { at: now_ms, what: What::Prompt { prompts: preface.clone(), gather: None } });
        }
        events.push(Event { at: now_ms, what });
        Turn { line, preface, then, change, crm: None, events, first, now: now_ms / 1000 }
    }
}

/// The line's handoff for a destination.
fn handoff_to(line: &Line, to: Destination) -> &Handoff {
    match to {
        Destination::Next => &line.next,
        Destination::Agent => &line.agent,
        Destination::OptOut => &line.opt_out,
    }
}

/// Where `handoff` puts a call with the agents, as far as Vouch can see:
/// a plain queue's name, a dialled agent (TaskRouter picks its own queue
/// and worker; a redirect goes to no agent).
pub fn placement(handoff: &Handoff) -> Placement {
    match handoff {
        Handoff::Enqueue { queue, workflow_sid: None, .. } => Placement { queue: Some(queue.clone()), agent: None },
        Handoff::Enqueue { .. } | Handoff::Redirect { .. } => Placement::default(),
        Handoff::Dial { to, .. } => {
            let agent = match to {
                DialTo::Number(n) | DialTo::Sip(n) => n.clone(),
                DialTo::Client(identity) => format!("client:{identity}"),
            };
            Placement { queue: None, agent: Some(agent) }
        }
    }
}

/// How the record tells the flow's outcome: a completed flow went to
/// self-service or to an agent, by where its handoff points.
fn record_outcome(outcome: Outcome, handoff: &Handoff) -> RecordOutcome {
    match outcome {
        Outcome::OptedOut => RecordOutcome::OptedOut,
        Outcome::CrmUnavailable => RecordOutcome::CrmUnavailable,
        Outcome::VerificationUnavailable => RecordOutcome::VerificationUnavailable,
        Outcome::Agent => RecordOutcome::Agent,
        Outcome::Completed => match handoff {
            Handoff::Redirect { .. } => RecordOutcome::SelfService,
            Handoff::Enqueue { .. } | Handoff::Dial { .. } => RecordOutcome::Agent,
        },
    }
}
