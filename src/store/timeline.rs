//! A call's timeline: what happened at each of its steps, and when, for the
//! supervisors' view of one call. Each write of the record carries the
//! events its step added, and a merge takes the union ([`merge`]), so steps
//! taken on different instances add up to one timeline in any order.
//!
//! Nothing the caller keyed is ever part of it: an entry is kept as its kind
//! only (accepted as an entry, refused, silence, opt-out), and a CRM question
//! as which question it was, its answer's class and how long the caller
//! waited on it.

use super::{AgentState, RecordOutcome, FINAL_STATUSES};
use crate::flow::{Entry, IdvMethod, IdvStatus, Lookup, Prompt, Stage, Verification};
use serde::{Deserialize, Serialize};

/// A call keeps at most this many events (a call has a few steps, a few
/// status callbacks and a few agent states; this only bounds a stored row).
pub const MAX_EVENTS: usize = 64;

/// One thing that happened in a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix milliseconds.
    pub at: u64,
    #[serde(flatten)]
    pub what: What,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum What {
    /// The caller keyed at a prompt: the entry's kind, never its digits.
    Entry { stage: Stage, entry: EntryKind },
    /// A CRM question the step asked (a cached answer included), its
    /// answer's class and the milliseconds the caller waited on it.
    Crm { question: Question, answer: Answer, ms: u64 },
    /// A question the step did not put to the CRM, and why.
    NotAsked { question: Question, why: NotAsked },
    /// What the caller was played, in order, and the prompt the Gather then
    /// waits on (none: the call was handed on).
    Prompt { prompts: Vec<Prompt>, gather: Option<Stage> },
    /// The call was handed on.
    Handoff { outcome: RecordOutcome, idv_status: IdvStatus, idv_method: IdvMethod },
    /// The agent a `dial` hand-off rang did not answer: the call was put in
    /// `queue`.
    Fallback { queue: String },
    /// Where the call is with the agents (a route Twilio requested for it).
    Agent { state: AgentState },
    /// A status callback from Twilio, as applied, with its `SequenceNumber`.
    Status {
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence: Option<u64>,
    },
}

impl What {
    /// Orders the events of one instant as a step makes them.
    fn rank(&self) -> u8 {
        match self {
            Self::Entry { .. } => 0,
            Self::Crm { .. } | Self::NotAsked { .. } => 1,
            Self::Prompt { .. } => 2,
            Self::Handoff { .. } | Self::Fallback { .. } => 3,
            Self::Agent { .. } => 4,
            Self::Status { .. } => 5,
        }
    }
}

/// An entry's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Digits of the right length and shape (what the CRM made of them is
    /// the next event).
    Accepted,
    /// The wrong length or shape: refused without asking the CRM.
    Refused,
    /// Nothing keyed.
    Silence,
    /// The opt-out key.
    OptOut,
}

impl EntryKind {
    pub fn of(entry: &Entry) -> Self {
        match entry {
            Entry::Digits(_) => Self::Accepted,
            Entry::Malformed => Self::Refused,
            Entry::Silence => Self::Silence,
            Entry::OptOut => Self::OptOut,
        }
    }
}

/// Which question the CRM was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Question {
    /// Who has the caller's number.
    CallerId,
    /// Who has the keyed identifier.
    Identifier,
    /// Whether the keyed factor is the customer's.
    Verify,
}

/// The class of the CRM's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Found,
    NotFound,
    /// Several customers.
    Ambiguous,
    Verified,
    Rejected,
    /// An error, a timeout or an open breaker.
    Failed,
}

impl Answer {
    /// A lookup's answer; `None` when the CRM was not asked.
    pub fn of_lookup(lookup: &Lookup) -> Option<Self> {
        match lookup {
            Lookup::NotAsked => None,
            Lookup::Found(_) => Some(Self::Found),
            Lookup::NotFound => Some(Self::NotFound),
            Lookup::Ambiguous => Some(Self::Ambiguous),
            Lookup::Failed => Some(Self::Failed),
        }
    }

    /// A verification's answer, or why the CRM was not asked.
    pub fn of_verification(v: Verification) -> Option<Result<Self, NotAsked>> {
        match v {
            Verification::NotAsked => None,
            Verification::Verified => Some(Ok(Self::Verified)),
            Verification::Rejected => Some(Ok(Self::Rejected)),
            Verification::Failed => Some(Ok(Self::Failed)),
            Verification::Locked => Some(Err(NotAsked::Locked)),
            Verification::Unavailable => Some(Err(NotAsked::CountersUnavailable)),
        }
    }
}

/// Why a step did not put its question to the CRM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAsked {
    /// Too many unknown identifiers lately from this caller's number.
    Throttled,
    /// The customer's verification is locked after repeated failures.
    Locked,
    /// The security counters' store did not answer (fail closed).
    CountersUnavailable,
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Stamps events made at `now` (Unix seconds, as the record's times are)
/// with this millisecond, when it is within that second.
pub fn stamp_ms(events: &mut [Event], now: u64) {
    let ms = now_ms();
    if ms / 1000 == now {
        for e in events.iter_mut().filter(|e| e.at == now.saturating_mul(1000)) {
            e.at = ms;
        }
    }
}

/// Folds `theirs` into `mine`: the union, in time order, each event once.
/// An agent state is kept the first time it was reached (Twilio requests
/// the hold route again and again, perhaps of several instances), and a
/// status the first time it was reported (a retried callback). The same
/// whatever order the writes arrive in.
pub fn merge(mine: &mut Vec<Event>, theirs: &[Event]) {
    if theirs.is_empty() || mine.as_slice() == theirs {
        return;
    }
    for e in theirs {
        if !mine.contains(e) {
            mine.push(e.clone());
        }
    }
    normalise(mine);
}

/// Sorts `events` by time (a step's events of one instant in the order the
/// step makes them), keeps each agent state's and status's first, and
/// bounds the list.
pub fn normalise(events: &mut Vec<Event>) {
    events.sort_by(|a, b| {
        (a.at, a.what.rank()).cmp(&(b.at, b.what.rank())).then_with(|| order_key(a).cmp(&order_key(b)))
    });
    let mut states: Vec<AgentState> = Vec::new();
    let mut statuses = StatusOrder::default();
    events.retain(|e| match &e.what {
        What::Agent { state } if states.contains(state) => false,
        What::Agent { state } => {
            states.push(*state);
            true
        }
        What::Status { status, sequence } => statuses.applies(status, *sequence),
        _ => true,
    });
    events.dedup();
    events.truncate(MAX_EVENTS);
}

/// The status callbacks kept so far, in arrival order: a later one is
/// kept only where [`super::CallRecord::apply_status`] would apply it (a
/// higher `SequenceNumber`, never a non-final status after a final one, the
/// same status once), so a callback that arrived late and was not applied
/// is not on the timeline, whichever copy of the record it came with.
#[derive(Default)]
struct StatusOrder {
    seen: Vec<String>,
    sequence: Option<u64>,
    ended: bool,
}

impl StatusOrder {
    fn applies(&mut self, status: &str, sequence: Option<u64>) -> bool {
        let is_final = FINAL_STATUSES.contains(&status);
        let behind = matches!((self.sequence, sequence), (Some(seen), Some(seq)) if seq <= seen);
        if behind || (self.ended && !is_final) || self.seen.iter().any(|s| s == status) {
            return false;
        }
        self.seen.push(status.to_string());
        self.sequence = sequence.or(self.sequence);
        self.ended |= is_final;
        true
    }
}

/// Breaks ties between different events of one instant and rank, so that
/// any order of merges sorts them the same way.
fn order_key(e: &Event) -> String {
    serde_json::to_string(&e.what).unwrap_or_default()
}

/// The column's text: `None` (NULL) when there are no events.
pub fn to_column(events: &[Event]) -> Option<String> {
    (!events.is_empty()).then(|| serde_json::to_string(events).ok()).flatten()
}

/// The events a column holds. An event this release cannot read (a newer
/// release's kind) is left out rather than failing the whole record.
pub fn from_column(text: Option<&str>) -> Result<Vec<Event>, serde_json::Error> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let values: Vec<serde_json::Value> = serde_json::from_str(text)?;
    Ok(values.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: u64, what: What) -> Event {
        Event { at, what }
    }

    fn entry(at: u64) -> Event {
        ev(at, What::Entry { stage: Stage::Verify, entry: EntryKind::Accepted })
    }

    fn crm(at: u64, answer: Answer) -> Event {
        ev(at, What::Crm { question: Question::Verify, answer, ms: 12 })
    }

    fn agent(at: u64, state: AgentState) -> Event {
        ev(at, What::Agent { state })
    }

    #[test]
    fn a_merge_is_the_union_in_time_order_whatever_the_order_of_writes() {
        let first = vec![ev(1_000, What::Prompt { prompts: vec![Prompt::Welcome], gather: Some(Stage::Verify) })];
        let second = vec![entry(5_000), crm(5_000, Answer::Rejected)];
        let third = vec![entry(9_000), crm(9_010, Answer::Verified)];
        let status = vec![ev(20_000, What::Status { status: "completed".into(), sequence: Some(3) })];
        let writes = [&first, &second, &third, &status];
        let mut expected: Vec<Event> = writes.iter().flat_map(|w| w.iter().cloned()).collect();
        normalise(&mut expected);
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]] {
            let mut merged = Vec::new();
            for i in order {
                merge(&mut merged, writes[i]);
                // A write carrying what is already there adds nothing.
                merge(&mut merged, writes[i]);
            }
            assert_eq!(merged, expected, "order {order:?}");
        }
        assert_eq!(expected.len(), 6);
        assert_eq!(expected[1], entry(5_000), "the entry before the CRM's answer of the same instant");
    }

    #[test]
    fn an_agent_state_is_kept_the_first_time_it_was_reached() {
        let mut mine = vec![agent(10_000, AgentState::Waiting)];
        merge(&mut mine, &[agent(70_000, AgentState::Waiting), agent(90_000, AgentState::WithAgent)]);
        merge(&mut mine, &[agent(8_000, AgentState::Waiting)]);
        assert_eq!(mine, vec![agent(8_000, AgentState::Waiting), agent(90_000, AgentState::WithAgent)]);
        let status = |at, s: &str, seq| ev(at, What::Status { status: s.into(), sequence: Some(seq) });
        merge(&mut mine, &[status(95_000, "completed", 3)]);
        merge(&mut mine, &[status(99_000, "completed", 3)]);
        assert_eq!(mine.last(), Some(&status(95_000, "completed", 3)), "a retried callback is the same report");
        assert_eq!(mine.len(), 3);
    }

    #[test]
    fn a_status_that_arrived_late_is_not_on_the_timeline_whichever_copy_brought_it() {
        let status = |at, s: &str, seq| ev(at, What::Status { status: s.into(), sequence: Some(seq) });
        let (ringing, completed) = (status(1_000, "ringing", 0), status(50_000, "completed", 3));
        // In progress (sequence 2) arrived after completed (3): not applied.
        let late = status(51_000, "in-progress", 2);
        let writes = [vec![ringing.clone()], vec![completed.clone()], vec![late.clone(), entry(20_000)]];
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let mut merged = Vec::new();
            for i in order {
                merge(&mut merged, &writes[i]);
            }
            assert_eq!(merged, vec![ringing.clone(), entry(20_000), completed.clone()], "order {order:?}");
        }
        // In time, it is applied: it arrived before completed.
        let mut merged = vec![ringing.clone(), completed.clone()];
        merge(&mut merged, &[status(40_000, "in-progress", 2)]);
        assert_eq!(merged.len(), 3);
        // Nor a non-final status after a final one, whatever its sequence.
        merge(&mut merged, &[status(60_000, "ringing", 9)]);
        assert_eq!(merged.len(), 3);
    }

    #[test]
    fn a_timeline_is_bounded() {
        let mut mine: Vec<Event> = (0..MAX_EVENTS as u64).map(|i| crm(i, Answer::Failed)).collect();
        merge(&mut mine, &[crm(1_000_000, Answer::Verified)]);
        assert_eq!(mine.len(), MAX_EVENTS);
        assert_eq!(mine[0], crm(0, Answer::Failed), "the earliest are kept");
    }

    #[test]
    fn the_column_round_trips_and_skips_what_it_cannot_read() {
        let events = vec![
            entry(5),
            crm(6, Answer::NotFound),
            ev(7, What::NotAsked { question: Question::Verify, why: NotAsked::Locked }),
            ev(
                8,
                What::Prompt { prompts: vec![Prompt::NotFound, Prompt::AskIdentifier], gather: Some(Stage::Identify) },
            ),
            ev(
                9,
                What::Handoff {
                    outcome: RecordOutcome::Agent,
                    idv_status: IdvStatus::Identified,
                    idv_method: IdvMethod::Ani,
                },
            ),
        ];
        let text = to_column(&events).unwrap();
        assert!(text.contains(r#""event":"crm""#) && text.contains(r#""answer":"not_found""#), "{text}");
        assert_eq!(from_column(Some(&text)).unwrap(), events);
        assert_eq!(to_column(&[]), None);
        assert_eq!(from_column(None).unwrap(), vec![]);
        let newer = r#"[{"at":1,"event":"something_new"},{"at":2,"event":"status","status":"ringing"}]"#;
        let ringing = What::Status { status: "ringing".into(), sequence: None };
        assert_eq!(from_column(Some(newer)).unwrap(), vec![ev(2, ringing)]);
        assert!(from_column(Some("not json")).is_err());
    }

    #[test]
    fn an_entry_is_kept_as_its_kind_only() {
        let e = Event {
            at: 1,
            what: What::Entry { stage: Stage::Verify, entry: EntryKind::of(&Entry::Digits("4321".into())) },
        };
        let text = to_column(&[e]).unwrap();
        assert!(!text.contains("4321"), "{text}");
        assert_eq!(text, r#"[{"at":1,"event":"entry","stage":"verify","entry":"accepted"}]"#);
    }
}
