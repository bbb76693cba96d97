//! A call's timeline as the supervisor's screen pop shows it: one row per
//! event, with its time and what it means in words. The events never hold
//! what the caller keyed, so neither do the rows.

use super::view::{civil_from_days, outcome_text};
use crate::config::Line;
use crate::flow::{IdvMethod, Prompt, Stage};
use crate::store::timeline::{Answer, EntryKind, Event, NotAsked, Question, What};
use crate::store::AgentState;

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRow {
    /// `2026-11-25T20:00:05.123Z`, for `<time datetime>`.
    pub iso: String,
    /// `20:00:05.123`, UTC.
    pub clock: String,
    /// Since the call's first event: `+4.2 s`.
    pub offset: String,
    /// When, in Unix milliseconds, and since the first event (for files).
    pub at_ms: u64,
    pub since_ms: u64,
    /// What kind of event, in a word: `Entry`, `CRM`, `Played`…
    pub kind: &'static str,
    /// CSS class of the kind.
    pub class: &'static str,
    /// What happened, in words.
    pub text: String,
}

/// The rows for `events`, on `line` (its words for the identifier and the
/// factor), in the events' order.
pub fn rows(events: &[Event], line: Option<&Line>) -> Vec<TimelineRow> {
    let identifier = line.map_or("identifier", |l| l.identifier_name.as_str());
    let factor = line.map_or("verification", |l| l.factor_name.as_str());
    let stage_name = |s: Stage| match s {
        Stage::Identify => identifier,
        Stage::Verify => factor,
    };
    let start = events.first().map_or(0, |e| e.at);
    events
        .iter()
        .map(|e| {
            let (kind, class, text) = match &e.what {
                What::Entry { stage, entry } => {
                    let what = match entry {
                        EntryKind::Accepted => "an entry of the right length, sent on",
                        EntryKind::Refused => "refused: the wrong length or not digits (the CRM was not asked)",
                        EntryKind::Silence => "nothing keyed",
                        EntryKind::OptOut => "the opt-out key",
                    };
                    ("Entry", "entry", format!("At the {} prompt: {what}.", stage_name(*stage)))
                }
                What::Crm { question, answer, ms } => {
                    let answer = match answer {
                        Answer::Found => "found a customer",
                        Answer::NotFound => "found nobody",
                        Answer::Ambiguous => "found several customers",
                        Answer::Verified => "verified",
                        Answer::Rejected => "rejected",
                        Answer::Failed => "failed (an error, a timeout or an open circuit breaker)",
                    };
                    ("CRM", "crm", format!("{}: {answer}, in {ms} ms.", question_text(*question, identifier, factor)))
                }
                What::NotAsked { question, why } => {
                    let why = match why {
                        NotAsked::Throttled => "too many unknown identifiers lately from this caller's number",
                        NotAsked::Locked => "this customer's verification is locked after repeated failures",
                        NotAsked::CountersUnavailable => "the security counters could not be reached (fail closed)",
                    };
                    let question = question_text(*question, identifier, factor);
                    ("CRM", "crm not-asked", format!("{question}: not asked, as {why}."))
                }
                What::Prompt { prompts, gather } => {
                    let played: Vec<String> = prompts.iter().map(|p| prompt_text(*p)).collect();
                    let played = if played.is_empty() { "nothing".to_string() } else { played.join(", ") };
                    let text = match gather {
                        Some(stage) => format!("Played {played}; waiting for the {}.", stage_name(*stage)),
                        None => format!("Played {played}."),
                    };
                    ("Played", "prompt", text)
                }
                What::Handoff { outcome, idv_status, idv_method } => {
                    let how = match idv_method {
                        IdvMethod::Ani => "by caller ID".to_string(),
                        IdvMethod::Keyed => format!("by keyed {identifier}"),
                        IdvMethod::KeyedAni => format!("by keyed {identifier}, matching caller ID"),
                        IdvMethod::None => String::new(),
                    };
                    let status = match how.is_empty() {
                        true => idv_status.as_str().to_string(),
                        false => format!("{} {how}", idv_status.as_str()),
                    };
                    ("Hand-off", "handoff", format!("Handed on, {}: {status}.", outcome_text(*outcome)))
                }
                What::Fallback { queue } => (
                    "Hand-off",
                    "handoff",
                    format!("The agent did not answer: put in the queue \u{201c}{queue}\u{201d}."),
                ),
                What::Agent { state } => {
                    let text = match state {
                        AgentState::Unseen => "Handed where Vouch cannot see.",
                        AgentState::Waiting => "Waiting for an agent (on hold).",
                        AgentState::WithAgent => "With an agent.",
                    };
                    ("Agent", "agent", text.to_string())
                }
                What::Status { status, .. } => ("Status", "status", format!("Twilio reported the call {status}.")),
            };
            let (iso, clock) = clock(e.at);
            let offset = format!("+{:.1} s", e.at.saturating_sub(start) as f64 / 1000.0);
            let (at_ms, since_ms) = (e.at, e.at.saturating_sub(start));
            TimelineRow { iso, clock, offset, at_ms, since_ms, kind, class, text }
        })
        .collect()
}

fn question_text(q: Question, identifier: &str, factor: &str) -> String {
    match q {
        Question::CallerId => "Caller-ID lookup".to_string(),
        Question::Identifier => format!("{} lookup", capitalised(identifier)),
        Question::Verify => format!("{} check", capitalised(factor)),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// A prompt by its configuration key, in quotes: `"ask_factor"`.
fn prompt_text(p: Prompt) -> String {
    serde_json::to_string(&p).unwrap_or_default()
}

/// Unix milliseconds as ISO 8601 and as a UTC clock time.
fn clock(ms: u64) -> (String, String) {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (y, m, d) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    let time = format!("{:02}:{:02}:{:02}.{milli:03}", s / 3600, s % 3600 / 60, s % 60);
    (format!("{y:04}-{m:02}-{d:02}T{time}Z"), time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::IdvStatus;
    use crate::store::RecordOutcome;

    #[test]
    fn each_event_reads_in_words_with_its_time_and_offset() {
        let t0 = 1_764_700_000_000; // 2025-12-02T18:26:40Z
        let events = vec![
            Event { at: t0, what: What::Crm { question: Question::CallerId, answer: Answer::Found, ms: 14 } },
            Event {
                at: t0 + 2,
                what: What::Prompt { prompts: vec![Prompt::Welcome, Prompt::AskFactor], gather: Some(Stage::Verify) },
            },
            Event { at: t0 + 6_300, what: What::Entry { stage: Stage::Verify, entry: EntryKind::Refused } },
            Event { at: t0 + 9_000, what: What::NotAsked { question: Question::Verify, why: NotAsked::Locked } },
            Event {
                at: t0 + 9_001,
                what: What::Handoff {
                    outcome: RecordOutcome::Agent,
                    idv_status: IdvStatus::Identified,
                    idv_method: IdvMethod::Ani,
                },
            },
            Event { at: t0 + 9_500, what: What::Fallback { queue: "support".into() } },
            Event { at: t0 + 12_000, what: What::Agent { state: AgentState::Waiting } },
            Event { at: t0 + 60_000, what: What::Status { status: "completed".into(), sequence: Some(4) } },
        ];
        let rows = rows(&events, None);
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Caller-ID lookup: found a customer, in 14 ms.",
                r#"Played "welcome", "ask_factor"; waiting for the verification."#,
                "At the verification prompt: refused: the wrong length or not digits (the CRM was not asked).",
                "Verification check: not asked, as this customer's verification is locked after repeated failures.",
                "Handed on, sent to an agent: identified by caller ID.",
                "The agent did not answer: put in the queue \u{201c}support\u{201d}.",
                "Waiting for an agent (on hold).",
                "Twilio reported the call completed.",
            ]
        );
        assert_eq!((rows[0].iso.as_str(), rows[0].clock.as_str()), ("2025-12-02T18:26:40.000Z", "18:26:40.000"));
        assert_eq!((rows[2].clock.as_str(), rows[2].offset.as_str()), ("18:26:46.300", "+6.3 s"));
        assert_eq!(rows[7].offset, "+60.0 s");
    }
}
