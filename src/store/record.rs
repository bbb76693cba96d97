//! A call's record: what the admin API and the agent pages show, and what
//! the database keeps. Nothing the caller keyed is ever part of it.

use super::attributes;
use super::timeline::{self, Event, What};
use crate::flow::{Customer, HandoffContext, IdvMethod, IdvStatus};
use serde::Serialize;

/// How a call left (or has not yet left) the IVR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    InProgress,
    SelfService,
    Agent,
    OptedOut,
    CrmUnavailable,
    /// Handed to an agent as identified because verification could not be
    /// run: the security counters' store was unreachable (fail closed).
    VerificationUnavailable,
    /// The caller hung up while still in the IVR.
    Abandoned,
}

impl RecordOutcome {
    /// Its API name (as serialized), also the database's and `/metrics`'.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::SelfService => "self_service",
            Self::Agent => "agent",
            Self::OptedOut => "opted_out",
            Self::CrmUnavailable => "crm_unavailable",
            Self::VerificationUnavailable => "verification_unavailable",
            Self::Abandoned => "abandoned",
        }
    }

    /// How far a call has got: an outcome only moves forward. A handoff
    /// outranks `abandoned` (a hangup after the handoff, or a status
    /// callback written on a stale copy), which outranks `in_progress`.
    fn rank(self) -> u8 {
        match self {
            RecordOutcome::InProgress => 0,
            RecordOutcome::Abandoned => 1,
            _ => 2,
        }
    }
}

fn idv_rank(s: IdvStatus) -> u8 {
    match s {
        IdvStatus::Unidentified => 0,
        IdvStatus::Identified => 1,
        IdvStatus::Verified => 2,
    }
}

/// The first of two times, either of which may be missing.
fn first(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What [`CallRecord::merge`] found: whether part of the incoming write
/// was behind what the database already had, and so was superseded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// The flow's fields (identification, outcome, tries) were behind.
    pub flow_superseded: bool,
    /// The incoming status callback was older than the one applied.
    pub status_superseded: bool,
}

impl Merged {
    pub fn superseded(self) -> bool {
        self.flow_superseded || self.status_superseded
    }
}

/// What one step of the flow changes in a call's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// Still in the IVR: the tries so far, and the customer once identified.
    Asking {
        identify_attempts: u8,
        verify_attempts: u8,
        lockout: bool,
        /// The customer, and how they were identified, once they are.
        identified: Option<(Customer, IdvMethod)>,
    },
    /// Handed on with `context`, to `placed`.
    HandedOff {
        context: HandoffContext,
        outcome: RecordOutcome,
        identify_attempts: u8,
        verify_attempts: u8,
        placed: Placement,
    },
}

/// Where a hand-off put the call with the agents, as far as Vouch knows:
/// no customer data, kept in the reports' rollups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The queue: a plain `<Enqueue>`'s, or the one a `dial` hand-off fell
    /// back to when nobody answered. TaskRouter picks its own TaskQueue,
    /// which Vouch does not see.
    pub queue: Option<String>,
    /// The agent a `dial` hand-off rang (`client:alice`, a `sip:` URI or a
    /// number), whether or not they answered.
    pub agent: Option<String>,
}

/// Where a handed-off call is with the agents, as Vouch sees it from the
/// routes Twilio requests for it. Only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Neither of the below (yet): in the IVR, or handed where Vouch
    /// cannot see (TaskRouter, a wait URL of another server).
    #[default]
    Unseen,
    /// Its hold route (`/hold`, the `<Enqueue waitUrl>`) was requested.
    Waiting,
    /// A plain queue's connect document, a dialled agent's whisper, or the
    /// `<Dial action>` after an answered agent call was requested.
    WithAgent,
}

impl AgentState {
    /// The stored column: NULL for [`AgentState::Unseen`].
    pub fn as_column(self) -> Option<&'static str> {
        match self {
            Self::Unseen => None,
            Self::Waiting => Some("waiting"),
            Self::WithAgent => Some("with_agent"),
        }
    }

    /// Reads the column back; an unknown value (a newer release's) reads as
    /// the furthest state this release knows.
    pub fn from_column(v: Option<&str>) -> Self {
        match v {
            None => Self::Unseen,
            Some("waiting") => Self::Waiting,
            Some(_) => Self::WithAgent,
        }
    }
}

/// Twilio's final call statuses: the call is over.
pub const FINAL_STATUSES: [&str; 5] = ["completed", "busy", "failed", "no-answer", "canceled"];

/// A call whose final status never arrives (no status callback set up)
/// counts as ended this long after Vouch last heard of it. A caller on hold
/// is heard of at least every minute (the hold route).
pub const LIVE_FOR_SECS: u64 = 2 * 3600;

/// One call. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub call_sid: String,
    pub service_line: String,
    /// Masked.
    pub caller: String,
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    /// The customer's extra attributes from the CRM, in configuration
    /// order; a JSON object in the API (`{}` when none). They go with the
    /// customer: erased and purged with the record.
    #[serde(serialize_with = "attributes::serialize")]
    pub attributes: Vec<(String, String)>,
    pub idv_status: IdvStatus,
    pub idv_method: IdvMethod,
    pub opted_out: bool,
    /// The customer's verification was locked during the call.
    pub lockout: bool,
    pub outcome: RecordOutcome,
    pub identify_attempts: u8,
    pub verify_attempts: u8,
    /// Twilio's `StirVerstat` on the first webhook, when present.
    pub stir_verstat: Option<String>,
    /// The latest `CallStatus` from a status callback.
    pub call_status: Option<String>,
    /// `CallDuration` (seconds) from the final status callback.
    pub call_duration: Option<u64>,
    /// The `SequenceNumber` of the status callback applied last.
    #[serde(skip)]
    pub status_sequence: Option<u64>,
    pub started_at: u64,
    pub identified_at: Option<u64>,
    pub verified_at: Option<u64>,
    pub handed_off_at: Option<u64>,
    pub ended_at: Option<u64>,
    pub updated_at: u64,
    /// The stored row's revision, assigned by the database (each merged
    /// write adds one; a write is stored by compare-and-set on it).
    #[serde(skip)]
    pub revision: u64,
    /// Only a status callback is known so far (it arrived before the
    /// call's first webhook was written): the first webhook's write
    /// completes it. Never shown.
    #[serde(skip)]
    pub partial: bool,
    /// Where the call is with the agents, once handed off.
    pub agent_state: AgentState,
    /// The CRM questions the call's steps asked, those that failed, and
    /// the milliseconds the caller waited on them (see [`CrmAsk`]).
    pub crm_asked: u32,
    pub crm_failed: u32,
    pub crm_wait_ms: u64,
    /// The queue the call was put in, where known (see [`Placement`]).
    pub queue: Option<String>,
    /// The agent a `dial` hand-off rang (see [`Placement`]).
    pub agent: Option<String>,
    /// What happened at each step, and when (see [`timeline`]): shown to
    /// supervisors. Nothing the caller keyed.
    pub timeline: Vec<Event>,
}

/// One CRM question a step asked, as the caller waited on it: a caller-ID
/// or identifier lookup, or a verification (an answer from Vouch's cache
/// included). Failed: an error, a timeout or an open breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmAsk {
    pub wait: std::time::Duration,
    pub failed: bool,
}

impl CallRecord {
    /// About the bytes this record holds in memory: itself, its strings and
    /// its timeline (allocator overhead aside). Weighs the cache of live
    /// calls.
    pub fn approx_bytes(&self) -> usize {
        let text = |s: &String| s.capacity();
        let maybe = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let strings = text(&self.call_sid)
            + text(&self.service_line)
            + text(&self.caller)
            + maybe(&self.customer_id)
            + maybe(&self.customer_name)
            + maybe(&self.stir_verstat)
            + maybe(&self.call_status)
            + maybe(&self.queue)
            + maybe(&self.agent);
        let attributes = self.attributes.capacity() * std::mem::size_of::<(String, String)>()
            + self.attributes.iter().map(|(k, v)| k.capacity() + v.capacity()).sum::<usize>();
        let events = self.timeline.capacity() * std::mem::size_of::<Event>()
            + self
                .timeline
                .iter()
                .map(|e| match &e.what {
                    What::Prompt { prompts, .. } => prompts.capacity() * std::mem::size_of::<crate::flow::Prompt>(),
                    What::Fallback { queue: text } | What::Status { status: text, .. } => text.capacity(),
                    _ => 0,
                })
                .sum::<usize>();
        std::mem::size_of::<Self>() + strings + attributes + events
    }

    pub fn new(call_sid: &str, line: &str, caller: String, now: u64) -> Self {
        Self {
            call_sid: call_sid.to_string(),
            service_line: line.to_string(),
            caller,
            customer_id: None,
            customer_name: None,
            attributes: Vec::new(),
            idv_status: IdvStatus::Unidentified,
            idv_method: IdvMethod::None,
            opted_out: false,
            lockout: false,
            outcome: RecordOutcome::InProgress,
            identify_attempts: 0,
            verify_attempts: 0,
            stir_verstat: None,
            call_status: None,
            call_duration: None,
            status_sequence: None,
            started_at: now,
            identified_at: None,
            verified_at: None,
            handed_off_at: None,
            ended_at: None,
            updated_at: now,
            revision: 0,
            partial: false,
            agent_state: AgentState::Unseen,
            crm_asked: 0,
            crm_failed: 0,
            crm_wait_ms: 0,
            queue: None,
            agent: None,
            timeline: Vec::new(),
        }
    }

    /// Counts a CRM question one of the call's steps asked.
    pub fn asked_crm(&mut self, ask: CrmAsk) {
        self.crm_asked = self.crm_asked.saturating_add(1);
        self.crm_failed = self.crm_failed.saturating_add(u32::from(ask.failed));
        let ms = u64::try_from(ask.wait.as_millis()).unwrap_or(u64::MAX);
        self.crm_wait_ms = self.crm_wait_ms.saturating_add(ms);
    }

    /// A write that only says where the call is with the agents, merged
    /// onto the call's record (kept apart, as a pending status is, when
    /// there is none yet).
    pub fn agent_state_only(call_sid: &str, state: AgentState, now: u64) -> Self {
        let mut r = Self::new(call_sid, "", String::new(), now);
        r.partial = true;
        r.agent_state = state;
        r.timeline.push(Event { at: now.saturating_mul(1000), what: What::Agent { state } });
        r
    }

    /// A write that only says which queue the call was put in (a `dial`
    /// hand-off's fallback), merged onto the call's record.
    pub fn queue_only(call_sid: &str, queue: &str, now_ms: u64) -> Self {
        let mut r = Self::new(call_sid, "", String::new(), now_ms / 1000);
        r.partial = true;
        r.queue = Some(queue.to_string());
        r.timeline.push(Event { at: now_ms, what: What::Fallback { queue: queue.to_string() } });
        r
    }

    /// A placeholder holding only a status callback, for a call with no
    /// record yet: kept until the call's first webhook is written.
    pub fn pending_status(
        call_sid: &str,
        status: &str,
        sequence: Option<u64>,
        duration: Option<u64>,
        now: u64,
    ) -> Self {
        let mut r = Self::new(call_sid, "", String::new(), now);
        r.partial = true;
        r.apply_status(status, sequence, duration, now);
        r
    }

    /// Folds `other` (a write of the same call) into this record, field by
    /// field, each only moving forward: identification by rank, the
    /// outcome by rank, tries as the larger, lockout and opt-out once set,
    /// each time stamped the first time, the status callbacks by their
    /// sequence (as [`CallRecord::apply_status`]). The result is the same
    /// whatever order writes arrive in, so a write never needs a fresh
    /// copy. The revision stays this record's (the database assigns the
    /// next). Reports what of `other` was behind.
    pub fn merge(&mut self, other: &CallRecord) -> Merged {
        let mut merged = Merged::default();
        debug_assert_eq!(self.call_sid, other.call_sid);
        if self.partial && !other.partial {
            // The first webhook's record completes a pending status.
            self.service_line.clone_from(&other.service_line);
            self.caller.clone_from(&other.caller);
            self.started_at = other.started_at;
            self.partial = false;
        } else if !other.partial {
            self.started_at = self.started_at.min(other.started_at);
        }
        if !other.partial && !self.partial {
            let ahead = idv_rank(self.idv_status) > idv_rank(other.idv_status)
                || (self.outcome.rank() == 2 && other.outcome.rank() < 2)
                || self.identify_attempts > other.identify_attempts
                || self.verify_attempts > other.verify_attempts
                || (self.lockout && !other.lockout)
                || (self.opted_out && !other.opted_out);
            merged.flow_superseded = ahead;
        }
        if self.stir_verstat.is_none() {
            self.stir_verstat.clone_from(&other.stir_verstat);
        }
        let (mine, theirs) = (idv_rank(self.idv_status), idv_rank(other.idv_status));
        if theirs > mine || (theirs == mine && self.customer_id.is_none() && other.customer_id.is_some()) {
            self.idv_status = other.idv_status;
            self.idv_method = other.idv_method;
            self.take_customer(other.customer_id.as_deref(), other.customer_name.as_deref(), &other.attributes);
        } else if self.customer_id == other.customer_id && self.attributes.is_empty() {
            // A write that read the attributes back when another did not.
            self.attributes.clone_from(&other.attributes);
        }
        if other.outcome.rank() > self.outcome.rank() {
            self.outcome = other.outcome;
        }
        self.identify_attempts = self.identify_attempts.max(other.identify_attempts);
        self.verify_attempts = self.verify_attempts.max(other.verify_attempts);
        self.lockout |= other.lockout;
        self.opted_out |= other.opted_out;
        self.agent_state = self.agent_state.max(other.agent_state);
        self.place(&other.queue, &other.agent);
        // Each write carries the call's counts so far: the larger is later.
        if other.crm_asked > self.crm_asked {
            (self.crm_asked, self.crm_failed, self.crm_wait_ms) =
                (other.crm_asked, other.crm_failed, other.crm_wait_ms);
        }
        self.identified_at = first(self.identified_at, other.identified_at);
        self.verified_at = first(self.verified_at, other.verified_at);
        self.handed_off_at = first(self.handed_off_at, other.handed_off_at);
        if let Some(status) = other.call_status.as_deref() {
            let same = self.call_status.as_deref() == Some(status) && self.status_sequence == other.status_sequence;
            let at = other.ended_at.unwrap_or(other.updated_at);
            let updated = self.updated_at;
            if !self.set_status(status, other.status_sequence, other.call_duration, at) && !same {
                merged.status_superseded = true;
            }
            self.updated_at = updated;
        }
        // A final status on a call still in the IVR: abandoned.
        let ended = self.call_status.as_deref().is_some_and(|s| FINAL_STATUSES.contains(&s));
        if ended && self.outcome == RecordOutcome::InProgress && !self.partial {
            self.outcome = RecordOutcome::Abandoned;
        }
        self.ended_at = first(self.ended_at, other.ended_at);
        self.updated_at = self.updated_at.max(other.updated_at);
        timeline::merge(&mut self.timeline, &other.timeline);
        merged
    }

    /// Takes the customer a write names. Their attributes go with them: a
    /// write naming the same customer without attributes (a step that could
    /// not read them back) keeps those already known.
    fn take_customer(&mut self, id: Option<&str>, name: Option<&str>, attributes: &[(String, String)]) {
        if self.customer_id.as_deref() != id || !attributes.is_empty() {
            self.attributes = attributes.to_vec();
        }
        self.customer_id = id.map(str::to_string);
        self.customer_name = name.map(str::to_string);
    }

    /// Takes the queue and the agent a write knows, each set once: the
    /// first known is kept.
    fn place(&mut self, queue: &Option<String>, agent: &Option<String>) {
        if self.queue.is_none() {
            self.queue.clone_from(queue);
        }
        if self.agent.is_none() {
            self.agent.clone_from(agent);
        }
    }

    /// Adds a step's events to the call's timeline.
    pub fn add_events(&mut self, events: &[Event]) {
        timeline::merge(&mut self.timeline, events);
    }

    /// Records how far identification got, stamping each step the first time.
    pub fn reached(&mut self, status: IdvStatus, now: u64) {
        self.idv_status = status;
        if matches!(status, IdvStatus::Identified | IdvStatus::Verified) {
            self.identified_at.get_or_insert(now);
        }
        if status == IdvStatus::Verified {
            self.verified_at.get_or_insert(now);
        }
    }

    /// The context the call was handed on with (or has reached so far).
    pub fn context(&self) -> HandoffContext {
        HandoffContext {
            customer_id: self.customer_id.clone(),
            customer_name: self.customer_name.clone(),
            idv_status: self.idv_status,
            idv_method: self.idv_method,
            service_line: self.service_line.clone(),
            opted_out: self.opted_out,
            ani_attestation: crate::flow::Attestation::parse(self.stir_verstat.as_deref()),
            lockout: self.lockout,
            attributes: self.attributes.clone(),
        }
    }

    /// Applies what a step of the flow changed, at `now`.
    pub fn apply(&mut self, change: &RecordChange, now: u64) {
        self.updated_at = now;
        match change {
            RecordChange::Asking { identify_attempts, verify_attempts, lockout, identified } => {
                self.identify_attempts = *identify_attempts;
                self.verify_attempts = *verify_attempts;
                self.lockout = *lockout;
                if let Some((customer, method)) = identified {
                    self.take_customer(Some(&customer.id), Some(&customer.name), &customer.attributes);
                    self.reached(IdvStatus::Identified, now);
                    self.idv_method = *method;
                }
            }
            RecordChange::HandedOff { context, outcome, identify_attempts, verify_attempts, placed } => {
                self.place(&placed.queue, &placed.agent);
                self.identify_attempts = *identify_attempts;
                self.verify_attempts = *verify_attempts;
                self.take_customer(
                    context.customer_id.as_deref(),
                    context.customer_name.as_deref(),
                    &context.attributes,
                );
                self.reached(context.idv_status, now);
                self.idv_method = context.idv_method;
                self.opted_out = context.opted_out;
                self.lockout = context.lockout;
                self.outcome = *outcome;
                self.handed_off_at.get_or_insert(now);
            }
        }
    }

    /// Applies a Twilio status callback. Callbacks can arrive out of order:
    /// one older than the last applied (by `SequenceNumber`), or a non-final
    /// status after a final one, changes nothing. A final status ends the
    /// call, and a call still in the IVR then becomes `abandoned`. Returns
    /// whether anything changed. An applied status joins the timeline
    /// (at `now`, in seconds: the caller may stamp it more finely).
    pub fn apply_status(&mut self, status: &str, sequence: Option<u64>, duration: Option<u64>, now: u64) -> bool {
        let applied = self.set_status(status, sequence, duration, now);
        if applied {
            let what = What::Status { status: status.to_string(), sequence };
            timeline::merge(&mut self.timeline, &[Event { at: now.saturating_mul(1000), what }]);
        }
        applied
    }

    /// [`CallRecord::apply_status`] without the timeline (a merge takes the
    /// other write's timeline whole).
    fn set_status(&mut self, status: &str, sequence: Option<u64>, duration: Option<u64>, now: u64) -> bool {
        if let (Some(seen), Some(seq)) = (self.status_sequence, sequence) {
            if seq <= seen {
                return false;
            }
        }
        let is_final = FINAL_STATUSES.contains(&status);
        let was_final = self.call_status.as_deref().is_some_and(|s| FINAL_STATUSES.contains(&s));
        if was_final && !is_final {
            return false;
        }
        self.call_status = Some(status.to_string());
        if sequence.is_some() {
            self.status_sequence = sequence;
        }
        if is_final {
            self.call_duration = duration.or(self.call_duration);
            self.ended_at.get_or_insert(now);
            if self.outcome == RecordOutcome::InProgress {
                self.outcome = RecordOutcome::Abandoned;
            }
        }
        self.updated_at = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CallRecord {
        CallRecord::new("CA1", "support", "+1********01".into(), 100)
    }

    #[test]
    fn a_final_status_for_a_call_still_in_the_ivr_marks_it_abandoned() {
        let mut r = record();
        assert!(r.apply_status("completed", Some(1), Some(42), 160));
        assert_eq!(r.outcome, RecordOutcome::Abandoned);
        assert_eq!((r.call_status.as_deref(), r.call_duration, r.ended_at), (Some("completed"), Some(42), Some(160)));
    }

    #[test]
    fn a_final_status_after_a_handoff_keeps_the_outcome() {
        let mut r = record();
        r.outcome = RecordOutcome::Agent;
        assert!(r.apply_status("completed", None, Some(300), 400));
        assert_eq!(r.outcome, RecordOutcome::Agent);
        assert_eq!(r.call_duration, Some(300));
    }

    #[test]
    fn late_or_stale_callbacks_change_nothing() {
        let mut r = record();
        assert!(r.apply_status("completed", Some(3), Some(42), 160));
        assert!(!r.apply_status("in-progress", Some(2), None, 170), "older sequence");
        assert!(!r.apply_status("ringing", Some(4), None, 170), "non-final after final");
        assert!(!r.apply_status("completed", Some(3), Some(42), 170), "the same callback again");
        assert_eq!((r.call_status.as_deref(), r.updated_at), (Some("completed"), 160));
        let mut early = record();
        assert!(early.apply_status("ringing", Some(0), None, 101));
        assert_eq!(early.outcome, RecordOutcome::InProgress);
        assert_eq!(early.ended_at, None);
    }

    #[test]
    fn a_step_updates_the_tries_and_a_handoff_the_outcome() {
        let mut r = record();
        let ada = Customer { id: "12345678".into(), name: "Ada Lovelace".into(), attributes: Vec::new() };
        let asking = RecordChange::Asking {
            identify_attempts: 1,
            verify_attempts: 2,
            lockout: true,
            identified: Some((ada, IdvMethod::Keyed)),
        };
        r.apply(&asking, 110);
        assert_eq!((r.identify_attempts, r.verify_attempts, r.lockout, r.updated_at), (1, 2, true, 110));
        assert_eq!(
            (r.customer_id.as_deref(), r.idv_status, r.idv_method),
            (Some("12345678"), IdvStatus::Identified, IdvMethod::Keyed)
        );
        assert_eq!((r.identified_at, r.handed_off_at, r.outcome), (Some(110), None, RecordOutcome::InProgress));
        let handed = RecordChange::HandedOff {
            context: HandoffContext::example(),
            outcome: RecordOutcome::SelfService,
            identify_attempts: 1,
            verify_attempts: 3,
            placed: Placement::default(),
        };
        r.apply(&handed, 120);
        assert_eq!((r.idv_status, r.verified_at, r.handed_off_at), (IdvStatus::Verified, Some(120), Some(120)));
        assert_eq!((r.outcome, r.verify_attempts, r.lockout), (RecordOutcome::SelfService, 3, false));
    }

    fn tiered(tier: &str) -> Customer {
        Customer {
            id: "12345678".into(),
            name: "Ada Lovelace".into(),
            attributes: vec![("tier".into(), tier.into()), ("segment".into(), "SMB".into())],
        }
    }

    #[test]
    fn the_attributes_go_with_the_customer_and_a_step_without_them_keeps_them() {
        let mut r = record();
        let asking = |c: Customer| RecordChange::Asking {
            identify_attempts: 0,
            verify_attempts: 0,
            lockout: false,
            identified: Some((c, IdvMethod::Ani)),
        };
        r.apply(&asking(tiered("Gold")), 110);
        assert_eq!(r.attributes, tiered("Gold").attributes);
        // A later step that could not read them back names the customer without them.
        r.apply(&asking(Customer { attributes: Vec::new(), ..tiered("Gold") }), 111);
        assert_eq!(r.attributes, tiered("Gold").attributes, "kept");
        let context = HandoffContext { attributes: tiered("Silver").attributes, ..HandoffContext::example() };
        let handed = RecordChange::HandedOff {
            context,
            outcome: RecordOutcome::Agent,
            identify_attempts: 0,
            verify_attempts: 1,
            placed: Placement::default(),
        };
        r.apply(&handed, 120);
        assert_eq!(r.attributes[0].1, "Silver", "the hand-off's, when it has them");
        assert_eq!(r.context().attributes, r.attributes, "the context read back from the record has them");
        let nobody = HandoffContext { customer_id: None, customer_name: None, ..HandoffContext::example() };
        r.apply(
            &RecordChange::HandedOff {
                context: nobody,
                outcome: RecordOutcome::Agent,
                identify_attempts: 0,
                verify_attempts: 1,
                placed: Placement::default(),
            },
            130,
        );
        assert!(r.attributes.is_empty(), "no customer, no attributes");
        let json = serde_json::to_value(record()).unwrap();
        assert_eq!(json["attributes"], serde_json::json!({}), "the API shows an object, empty when none");
    }

    #[test]
    fn a_merge_keeps_attributes_a_stale_write_lacks() {
        let mut with = record();
        with.apply(
            &RecordChange::Asking {
                identify_attempts: 0,
                verify_attempts: 0,
                lockout: false,
                identified: Some((tiered("Gold"), IdvMethod::Ani)),
            },
            110,
        );
        let mut without = with.clone();
        without.attributes.clear();
        without.verify_attempts = 1;
        let mut a = with.clone();
        a.merge(&without);
        let mut b = without.clone();
        b.merge(&with);
        assert_eq!(
            (a.attributes.clone(), b.attributes.clone()),
            (tiered("Gold").attributes, tiered("Gold").attributes)
        );
        assert_eq!(a, b, "either order");
    }

    #[test]
    fn each_step_is_stamped_once() {
        let mut r = record();
        r.reached(IdvStatus::Identified, 110);
        r.reached(IdvStatus::Verified, 120);
        r.reached(IdvStatus::Verified, 130);
        assert_eq!((r.identified_at, r.verified_at), (Some(110), Some(120)));
    }

    /// The writes of one call (A: first webhook, B: a wrong PIN, A: the
    /// right PIN on A's stale copy, a final status on the oldest copy),
    /// merged in every order: always the same, right, record.
    #[test]
    fn merged_writes_give_the_same_record_in_any_order() {
        let ada = Customer { id: "12345678".into(), name: "Ada Lovelace".into(), attributes: Vec::new() };
        let first = record();
        let mut wrong_pin = first.clone();
        let asking = RecordChange::Asking {
            identify_attempts: 0,
            verify_attempts: 1,
            lockout: false,
            identified: Some((ada, IdvMethod::Ani)),
        };
        wrong_pin.apply(&asking, 110);
        let mut verified = first.clone();
        verified.apply(
            &RecordChange::HandedOff {
                context: HandoffContext::example(),
                outcome: RecordOutcome::SelfService,
                identify_attempts: 0,
                verify_attempts: 2,
                placed: Placement::default(),
            },
            120,
        );
        let status = CallRecord::pending_status("CA1", "completed", Some(3), Some(47), 160);
        let writes = [first, wrong_pin, verified, status];
        let mut results = Vec::new();
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 3, 1], [3, 0, 1, 2], [1, 3, 0, 2]] {
            let mut r = writes[order[0]].clone();
            for &i in &order[1..] {
                r.merge(&writes[i]);
            }
            results.push(r);
        }
        let r = &results[0];
        assert!(results.iter().all(|x| x == r), "{results:#?}");
        assert_eq!((r.idv_status, r.outcome, r.verify_attempts), (IdvStatus::Verified, RecordOutcome::SelfService, 2));
        assert_eq!((r.call_status.as_deref(), r.call_duration, r.ended_at), (Some("completed"), Some(47), Some(160)));
        assert_eq!((r.service_line.as_str(), r.started_at, r.partial), ("support", 100, false));
        assert_eq!((r.identified_at, r.verified_at, r.handed_off_at), (Some(110), Some(120), Some(120)));
    }

    #[test]
    fn a_stale_write_and_an_older_status_are_reported_as_superseded() {
        let mut stored = record();
        stored.apply_status("completed", Some(3), Some(42), 160);
        stored.verify_attempts = 2;
        let older = CallRecord::pending_status("CA1", "in-progress", Some(2), None, 170);
        assert_eq!(stored.clone().merge(&older), Merged { flow_superseded: false, status_superseded: true });
        let mut merged = stored.clone();
        merged.merge(&older);
        assert_eq!(merged.timeline, stored.timeline, "an older status is not applied, nor on the timeline");
        let again = CallRecord::pending_status("CA1", "completed", Some(3), Some(42), 161);
        assert_eq!(stored.clone().merge(&again), Merged::default(), "the same callback twice is no loss");
        let mut merged = stored.clone();
        merged.merge(&again);
        assert_eq!(merged.timeline, stored.timeline, "nor twice on the timeline");
        let stale = record();
        assert_eq!(stored.clone().merge(&stale), Merged { flow_superseded: true, status_superseded: false });
    }
}
