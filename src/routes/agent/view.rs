//! A call record as an agent reads it: plain words for the status, the
//! method and the outcome, and times in UTC. Pure, so it is tested here;
//! the templates only place these strings (and escape them).

use crate::config::Line;
use crate::flow::{IdvMethod, IdvStatus};
use crate::store::{AgentState, CallRecord, RecordOutcome, FINAL_STATUSES, LIVE_FOR_SECS};

/// Everything the screen pop and the list show about one call.
#[derive(Debug, Clone)]
pub struct CallView {
    pub call_sid: String,
    /// CSS class: `verified`, `identified` or `unidentified`.
    pub status_class: &'static str,
    /// The badge's words: never colour alone.
    pub status_text: &'static str,
    /// A symbol beside the words, for a glance.
    pub status_icon: &'static str,
    /// One sentence on what the status means for this call.
    pub status_detail: String,
    pub customer_name: Option<String>,
    pub customer_id: Option<String>,
    /// The customer's extra attributes from the CRM, in configuration order.
    pub attributes: Vec<(String, String)>,
    pub line: String,
    /// Masked, as stored.
    pub caller: String,
    pub method: String,
    pub identify_tries: u8,
    pub verify_tries: u8,
    pub opted_out: bool,
    /// The customer's verification was locked after repeated failures.
    pub lockout: bool,
    pub outcome: &'static str,
    /// The queue the call was put in, where known.
    pub queue: Option<String>,
    /// The agent a `dial` hand-off rang.
    pub agent: Option<String>,
    pub started: Moment,
    /// When the caller reached (or was sent to) an agent; `None` while not.
    pub reached_agent: Option<Moment>,
    /// Where the call is now, as Vouch sees it.
    pub presence: Presence,
    /// When the call ended (its final status, or its last news for a call
    /// whose status never came); `None` while it is live.
    pub ended: Option<Moment>,
}

/// Where a call is, as Vouch sees it from the webhooks and routes Twilio
/// requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Still answering Vouch's prompts.
    InIvr,
    /// Waiting for an agent: its hold route is being requested.
    Waiting,
    /// With an agent: a queue's connect document, a dialled agent's
    /// whisper or the dial's action was requested.
    WithAgent,
    /// Handed where Vouch cannot see further: TaskRouter, a wait URL of
    /// another server, a self-service app.
    HandedOff,
    /// Over: a final status, a hang-up in the IVR, or no news for
    /// [`LIVE_FOR_SECS`].
    Ended,
}

impl Presence {
    pub fn of(r: &CallRecord, now: u64) -> Self {
        let final_status = r.call_status.as_deref().is_some_and(|s| FINAL_STATUSES.contains(&s));
        if r.ended_at.is_some()
            || final_status
            || r.outcome == RecordOutcome::Abandoned
            || now.saturating_sub(r.updated_at) > LIVE_FOR_SECS
        {
            return Self::Ended;
        }
        match (r.agent_state, r.outcome) {
            (AgentState::WithAgent, _) => Self::WithAgent,
            (AgentState::Waiting, _) => Self::Waiting,
            (AgentState::Unseen, RecordOutcome::InProgress) => Self::InIvr,
            (AgentState::Unseen, _) => Self::HandedOff,
        }
    }

    /// The words the desk shows.
    pub fn text(self) -> &'static str {
        match self {
            Self::InIvr => "in the IVR",
            Self::Waiting => "waiting for an agent",
            Self::WithAgent => "with an agent",
            Self::HandedOff => "handed off",
            Self::Ended => "ended",
        }
    }

    /// Its CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Self::InIvr => "ivr",
            Self::Waiting => "waiting",
            Self::WithAgent => "with-agent",
            Self::HandedOff => "handed-off",
            Self::Ended => "ended",
        }
    }
}

/// A point in time, machine- and human-readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// `2026-11-25T20:00:05Z`, for `<time datetime>`.
    pub iso: String,
    /// `2026-11-25 20:00:05 UTC (3 min ago)`.
    pub text: String,
    /// `20:00:05 UTC, 3 min ago`: for lists of today's calls.
    pub short: String,
    /// In the line's time zone, when it has one:
    /// `2026-11-25 20:00:05 GMT (Europe/London)`.
    pub local: Option<String>,
}

/// Whether the call has left the IVR for an agent (waiting or talking).
pub fn with_agent(outcome: RecordOutcome) -> bool {
    matches!(
        outcome,
        RecordOutcome::Agent
            | RecordOutcome::OptedOut
            | RecordOutcome::CrmUnavailable
            | RecordOutcome::VerificationUnavailable
    )
}

impl CallView {
    /// `line`: the record's service line, if it is still configured (its
    /// words for the identifier and factor read better than generic ones).
    pub fn new(r: &CallRecord, line: Option<&Line>, now: u64) -> Self {
        let presence = Presence::of(r, now);
        let zone = line.and_then(|l| l.time_zone.as_ref());
        let at = |unix: u64| {
            let mut m = moment(unix, now);
            m.local = zone.map(|z| format!("{} ({})", z.format(unix), z.name));
            m
        };
        let identifier = line.map_or("identifier", |l| l.identifier_name.as_str());
        let factor = line.map_or("verification", |l| l.factor_name.as_str());
        let method = match r.idv_method {
            IdvMethod::Ani => "caller ID".to_string(),
            IdvMethod::Keyed => format!("keyed {identifier}"),
            IdvMethod::KeyedAni => format!("keyed {identifier}, matching caller ID"),
            IdvMethod::None => "none".to_string(),
        };
        let (status_class, status_text, status_icon, status_detail) = match r.idv_status {
            IdvStatus::Verified => {
                ("verified", "Verified", "✓", format!("Identified by {method} and verified by {factor}."))
            }
            IdvStatus::Identified => (
                "identified",
                "Identified only",
                "!",
                format!("Identified by {method}, not verified: confirm who you are talking to."),
            ),
            IdvStatus::Unidentified => {
                ("unidentified", "Not identified", "?", "Not identified: ask who is calling.".to_string())
            }
        };
        let outcome = outcome_text(r.outcome);
        Self {
            call_sid: r.call_sid.clone(),
            status_class,
            status_text,
            status_icon,
            status_detail,
            customer_name: r.customer_name.clone(),
            customer_id: r.customer_id.clone(),
            attributes: r.attributes.clone(),
            line: r.service_line.clone(),
            caller: r.caller.clone(),
            method,
            identify_tries: r.identify_attempts,
            verify_tries: r.verify_attempts,
            opted_out: r.opted_out,
            lockout: r.lockout,
            outcome,
            queue: r.queue.clone(),
            agent: r.agent.clone(),
            started: at(r.started_at),
            reached_agent: with_agent(r.outcome).then(|| at(r.handed_off_at.unwrap_or(r.updated_at))),
            presence,
            ended: (presence == Presence::Ended).then(|| at(r.ended_at.unwrap_or(r.updated_at))),
        }
    }
}

/// An outcome in the desk's words.
pub fn outcome_text(outcome: RecordOutcome) -> &'static str {
    match outcome {
        RecordOutcome::InProgress => "still in the IVR",
        RecordOutcome::SelfService => "sent to self-service",
        RecordOutcome::Agent => "sent to an agent",
        RecordOutcome::OptedOut => "opted out to an agent",
        RecordOutcome::CrmUnavailable => "CRM unavailable: sent to an agent",
        RecordOutcome::VerificationUnavailable => "verification unavailable: sent to an agent as identified",
        RecordOutcome::Abandoned => "hung up in the IVR",
    }
}

/// A Unix time as UTC, with how long ago it was.
pub fn moment(unix: u64, now: u64) -> Moment {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let ago = now.saturating_sub(unix);
    let ago = match ago {
        0..=59 => "just now".to_string(),
        60..=3599 => format!("{} min ago", ago / 60),
        3600..=86_399 => format!("{} h {} min ago", ago / 3600, ago % 3600 / 60),
        _ => format!("{} days ago", ago / 86_400),
    };
    Moment {
        iso: format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
        text: format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC ({ago})"),
        short: format!("{hh:02}:{mm:02}:{ss:02} UTC, {ago}"),
        local: None,
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`), to avoid a date crate for one line.
pub(super) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests;
