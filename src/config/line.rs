//! One service line, resolved: the flow's rules, every prompt, and where
//! calls go when the flow ends. The parts are checked in their own modules
//! ([`super::entry`], [`super::prompts`], [`super::handoff`]); this one
//! checks the rest and puts them together.

use super::crm_actions::{self, ActionLimits};
use super::entry::{self, Entries};
use super::error::ConfigError;
use super::file::{CallerIdFile, HandoffFile, LineFile};
use super::handoff::{self, Handoff};
use super::prompts::{Prompts, Speech, ToPerson};
use crate::flow::{CallerIdUse, LineRules, Prompt, E164};

/// One service line, checked.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub numbers: Vec<String>,
    pub rules: LineRules,
    pub gather_timeout_secs: u8,
    pub identifier_name: String,
    /// What the CRM's verify endpoint is told the factor is.
    pub factor: String,
    pub factor_name: String,
    pub next: Handoff,
    pub agent: Handoff,
    pub opt_out: Handoff,
    /// Whether the customer's name goes into what the line hands on
    /// through Twilio (`handoff_customer_name`); the screen pop and the
    /// call record keep it either way.
    pub handoff_customer_name: bool,
    /// Whether scheduled reports may list this line's calls
    /// (`scheduled_call_lists`, default false): a call list holds customer
    /// data.
    pub scheduled_call_lists: bool,
    /// The line's default `<Say>` voice and language (also for whispers).
    pub voice: Option<String>,
    pub language: Option<String>,
    /// The line's time zone (`[lines.NAME] time_zone`), if set.
    pub time_zone: Option<LineTimeZone>,
    /// This line's own identifier and verify actions, when it has them.
    pub crm: crate::crm::action::LineCrm,
    prompts: Prompts,
}

impl Line {
    /// The speech for a prompt, or `None` when it is configured silent.
    pub fn speech(&self, prompt: Prompt) -> Option<&Speech> {
        self.prompts.speech(prompt)
    }

    /// Where a call goes when a dialled agent does not answer: the line's
    /// first queue (agent, then next step, then opt-out), else a queue
    /// named after the line. Never another Dial, so a fallback cannot loop.
    pub fn fallback_queue(&self) -> Handoff {
        [&self.agent, &self.next, &self.opt_out]
            .into_iter()
            .find(|h| matches!(h, Handoff::Enqueue { .. }))
            .cloned()
            .unwrap_or_else(|| Handoff::queue_named(&self.name))
    }

    /// Checks `[lines.NAME]` part by part. The order is the one mistakes
    /// have always been reported in (the caller-ID mode last), so a file
    /// with several still names the same one first.
    pub(super) fn resolve(name: &str, f: LineFile, limits: ActionLimits) -> Result<Self, ConfigError> {
        let at = format!("lines.{name}");
        check_name(name)?;
        check_numbers(&at, &f.numbers)?;
        let retries = LineFile::RETRIES.read(f.retries).map_err(|e| e.under(&at))?;
        let opt_out_key = entry::opt_out_key(&at, f.opt_out_key.as_deref())?;
        let gather_timeout_secs =
            LineFile::GATHER_TIMEOUT_SECS.read(f.gather_timeout_secs).map_err(|e| e.under(&at))?;
        let entries = Entries::resolve(&at, &f.identifier, &f.verification, opt_out_key)?;
        let to_person = ToPerson {
            next: reaches_a_person(f.next.as_ref(), f.agent.as_ref()),
            opt_out: reaches_a_person(f.opt_out.as_ref(), f.agent.as_ref()),
        };
        let prompts = Prompts::resolve(&at, &f, &entries, to_person)?;
        // Unset, the next step and the opt-out go where agents are.
        let agent = handoff_or(&at, "agent", f.agent, || Handoff::queue_named(name))?;
        let next = handoff_or(&at, "next", f.next, || agent.clone())?;
        let opt_out = handoff_or(&at, "opt_out", f.opt_out, || agent.clone())?;
        let caller_id = caller_id_use(&at, f.caller_id_lookup)?;
        let time_zone =
            f.time_zone.as_deref().map(|name| LineTimeZone::named(&format!("{at}.time_zone"), name)).transpose()?;
        let crm = crm_actions::resolve_line(&format!("{at}.crm"), f.crm.as_ref(), limits)?;
        Ok(Self {
            name: name.to_string(),
            numbers: f.numbers,
            rules: LineRules {
                name: name.to_string(),
                caller_id,
                identifier: entries.identifier,
                verification: entries.verification,
                retries,
                identifier_first: f.identifier_first.unwrap_or(false),
            },
            gather_timeout_secs,
            identifier_name: entries.identifier_name,
            factor: entries.factor,
            factor_name: entries.factor_name,
            next,
            agent,
            opt_out,
            handoff_customer_name: f.handoff_customer_name.unwrap_or(true),
            scheduled_call_lists: f.scheduled_call_lists.unwrap_or(false),
            voice: f.voice,
            language: f.language,
            time_zone,
            crm,
            prompts,
        })
    }
}

/// Line names go into URLs (`/voice/NAME`) and logs: keep them plain.
fn check_name(name: &str) -> Result<(), ConfigError> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if name.is_empty() || name.len() > 32 || !name.bytes().all(plain) {
        return Err(ConfigError::new(format!("lines.{name}"), "a line name is 1–32 of a-z, 0-9, - and _"));
    }
    Ok(())
}

/// The `To` numbers that reach this line, as Twilio sends them (E.164).
fn check_numbers(at: &str, numbers: &[String]) -> Result<(), ConfigError> {
    match numbers.iter().enumerate().find(|(_, n)| E164::parse(n).is_none()) {
        Some((i, n)) => Err(ConfigError::new(format!("{at}.numbers[{i}]"), format!("{n:?} is not an E.164 number"))),
        None => Ok(()),
    }
}

/// The handoff at `{at}.{key}`, or `unset` when the file has none.
fn handoff_or(
    at: &str,
    key: &str,
    given: Option<HandoffFile>,
    unset: impl FnOnce() -> Handoff,
) -> Result<Handoff, ConfigError> {
    match given {
        Some(h) => handoff::resolve(&format!("{at}.{key}"), h),
        None => Ok(unset()),
    }
}

/// `true`/`"always"`, `"attested"` or `false`/`"never"`; always unless set.
fn caller_id_use(at: &str, given: Option<CallerIdFile>) -> Result<CallerIdUse, ConfigError> {
    match given {
        None | Some(CallerIdFile::Bool(true)) => Ok(CallerIdUse::Always),
        Some(CallerIdFile::Bool(false)) => Ok(CallerIdUse::Never),
        Some(CallerIdFile::Mode(m)) => match m.as_str() {
            "always" => Ok(CallerIdUse::Always),
            "attested" => Ok(CallerIdUse::Attested),
            "never" => Ok(CallerIdUse::Never),
            other => Err(ConfigError::new(
                format!("{at}.caller_id_lookup"),
                format!("{other:?}: use true/\"always\", \"attested\" (STIR/SHAKEN A only) or false/\"never\""),
            )),
        },
    }
}

/// Whether a handoff table (unset: the agent's, itself a queue when unset)
/// puts the caller through to a person rather than redirecting to an app.
fn reaches_a_person(given: Option<&HandoffFile>, agent: Option<&HandoffFile>) -> bool {
    !matches!(given.or(agent), Some(HandoffFile::Redirect { .. }))
}

/// An IANA time zone, with the name it was configured by.
#[derive(Debug, Clone)]
pub struct LineTimeZone {
    pub name: String,
    pub zone: jiff::tz::TimeZone,
}

impl LineTimeZone {
    /// The zone `name` names (from the compiled-in zone database); `key`
    /// is the setting, for the error.
    pub fn named(key: &str, name: &str) -> Result<Self, ConfigError> {
        let name = name.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(zone) => Ok(Self { name: name.to_string(), zone }),
            Err(_) => Err(ConfigError::new(
                key,
                format!(
                    "{name:?} is not an IANA time zone name (e.g. \"Europe/London\", \"America/New_York\", \"UTC\")"
                ),
            )),
        }
    }

    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Self { name: "UTC".into(), zone: jiff::tz::TimeZone::UTC }
    }

    /// `unix` (seconds) in this zone, to the minute: `2026-12-03 15:22 GMT`.
    pub fn format_short(&self, unix: u64) -> String {
        let Ok(ts) = jiff::Timestamp::from_second(i64::try_from(unix).unwrap_or(i64::MAX)) else {
            return String::new();
        };
        ts.to_zoned_datetime(self.zone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// `unix` (seconds) in this zone: `2026-12-03 15:22:41 GMT`.
    pub fn format(&self, unix: u64) -> String {
        let Ok(ts) = jiff::Timestamp::from_second(i64::try_from(unix).unwrap_or(i64::MAX)) else {
            return String::new();
        };
        ts.to_zoned_datetime(self.zone.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string()
    }
}
