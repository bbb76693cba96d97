//! One service line, resolved: the flow's rules, every prompt, and where
//! calls go when the flow ends.

use super::error::ConfigError;
use super::file::{CallerIdFile, IdentifierFile, LineFile, PromptFile, VerificationFile};
use super::handoff::{self, Handoff};
use super::urls::http_url;
use crate::flow::{CallerIdUse, EntryRules, LineRules, Prompt, E164};
use std::collections::HashMap;

/// What the caller hears for one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speech {
    Say { text: String, voice: Option<String>, language: Option<String> },
    Play { url: String },
}

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
    /// The line's default `<Say>` voice and language (also for whispers).
    pub voice: Option<String>,
    pub language: Option<String>,
    /// `None`: silence (the prompt was configured as "").
    prompts: HashMap<Prompt, Option<Speech>>,
    ask_identifier: Option<Speech>,
    ask_factor: Option<Speech>,
}

/// Twilio rejects longer `<Say>` texts for some voices (13521).
const MAX_SAY_CHARS: usize = 3000;

impl Line {
    /// The speech for a prompt, or `None` when it is configured silent.
    pub fn speech(&self, prompt: Prompt) -> Option<&Speech> {
        match prompt {
            Prompt::AskIdentifier => self.ask_identifier.as_ref(),
            Prompt::AskFactor => self.ask_factor.as_ref(),
            other => self.prompts.get(&other).and_then(Option::as_ref),
        }
    }

    /// Where a call goes when a dialled agent does not answer: the line's
    /// first queue (agent, then next step, then opt-out), else a queue
    /// named after the line. Never another Dial, so a fallback cannot loop.
    pub fn fallback_queue(&self) -> Handoff {
        [&self.agent, &self.next, &self.opt_out]
            .into_iter()
            .find(|h| matches!(h, Handoff::Enqueue { .. }))
            .cloned()
            .unwrap_or_else(|| Handoff::Enqueue {
                queue: self.name.clone(),
                workflow_sid: None,
                wait_url: None,
                task_priority: None,
                task_timeout_secs: None,
            })
    }

    pub(super) fn resolve(name: &str, f: LineFile) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("lines.{name}.{k}");
        if name.is_empty()
            || name.len() > 32
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(format!("lines.{name}"), "a line name is 1–32 of a-z, 0-9, - and _"));
        }
        for (i, n) in f.numbers.iter().enumerate() {
            if E164::parse(n).is_none() {
                return Err(ConfigError::new(
                    format!("lines.{name}.numbers[{i}]"),
                    format!("{n:?} is not an E.164 number"),
                ));
            }
        }
        let at = format!("lines.{name}");
        let retries = LineFile::RETRIES.read(f.retries).map_err(|e| e.under(&at))?;
        let opt_out_key = match f.opt_out_key.as_deref().unwrap_or("*") {
            "" => None,
            k if k.len() == 1 && (k == "*" || k.as_bytes()[0].is_ascii_digit()) => k.chars().next(),
            other => {
                return Err(ConfigError::new(
                    key("opt_out_key"),
                    format!("{other:?} must be one key: 0-9 or * (# ends an entry), or \"\" to disable"),
                ))
            }
        };
        let gather_timeout_secs =
            LineFile::GATHER_TIMEOUT_SECS.read(f.gather_timeout_secs).map_err(|e| e.under(&at))?;

        let identifier_name = f.identifier.name.clone().unwrap_or_else(|| "account number".into());
        let digits = IdentifierFile::DIGITS;
        let min = f.identifier.min_digits.unwrap_or(digits.default);
        let max = f.identifier.max_digits.unwrap_or(min.max(digits.default));
        if !(digits.min <= min && min <= max && max <= digits.max) {
            return Err(digits.refuse(format!("{min}..={max}")).under(&at));
        }
        let identifier = EntryRules { min_digits: min, max_digits: max, opt_out_key };

        let required = f.verification.required.unwrap_or(true);
        let length = VerificationFile::LENGTH.read(f.verification.length).map_err(|e| e.under(&at))?;
        let factor = f.verification.factor.clone().unwrap_or_else(|| "pin".into());
        if factor.is_empty() || factor.len() > 32 || !factor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigError::new(key("verification.factor"), "1–32 of a-z, 0-9 and _"));
        }
        let factor_name = f.verification.name.clone().unwrap_or_else(|| factor.to_uppercase());
        let verification = required.then_some(EntryRules { min_digits: length, max_digits: length, opt_out_key });

        let voice = f.voice.clone();
        let language = f.language.clone();
        let speech = |k: &str, p: Option<PromptFile>, default: String| -> Result<Option<Speech>, ConfigError> {
            resolve_prompt(&key(k), p, default, &voice, &language)
        };
        let star = if opt_out_key == Some('*') {
            " If you don't have it, press star.".to_string()
        } else if let Some(k) = opt_out_key {
            format!(" If you don't have it, press {k}.")
        } else {
            String::new()
        };
        let fixed = if min == max { format!("{min}-digit ") } else { String::new() };
        let ask_identifier = speech(
            "identifier.prompt",
            f.identifier.prompt.clone(),
            format!("Please enter your {fixed}{identifier_name}, followed by the pound key.{star}"),
        )?;
        let ask_factor = speech(
            "verification.prompt",
            f.verification.prompt.clone(),
            format!("For your security, please enter your {length}-digit {factor_name}, followed by the pound key."),
        )?;
        let p = f.prompts;
        let mut prompts = HashMap::new();
        for (prompt, k, given, default) in [
            (Prompt::Welcome, "welcome", p.welcome, "Thank you for calling.".to_string()),
            (Prompt::NotFound, "not_found", p.not_found, format!("Sorry, we couldn't find that {identifier_name}.")),
            (
                Prompt::InvalidIdentifier,
                "invalid_identifier",
                p.invalid_identifier,
                format!("Sorry, that doesn't look like a valid {identifier_name}."),
            ),
            (
                Prompt::FactorRejected,
                "factor_rejected",
                p.factor_rejected,
                format!("Sorry, that {factor_name} wasn't accepted."),
            ),
            (Prompt::NoInput, "no_input", p.no_input, "Sorry, we didn't get that.".to_string()),
            (Prompt::Verified, "verified", p.verified, "Thank you, you're verified.".to_string()),
            (Prompt::OptedOut, "opted_out", p.opted_out, "No problem.".to_string()),
            (Prompt::TooManyTries, "too_many_tries", p.too_many_tries, "Let's get you some help.".to_string()),
            (
                Prompt::CrmUnavailable,
                "crm_unavailable",
                p.crm_unavailable,
                "We're sorry, we can't look up your details right now.".to_string(),
            ),
            (Prompt::ToAgent, "to_agent", p.to_agent, "Please hold while we connect you to an agent.".to_string()),
            (Prompt::Hold, "hold", p.hold, "Thanks for holding. An agent will be with you shortly.".to_string()),
            (
                Prompt::AgentUnavailable,
                "agent_unavailable",
                p.agent_unavailable,
                "Sorry, that agent couldn't take your call. Please hold for the next available agent.".to_string(),
            ),
            (Prompt::Connecting, "connecting", p.connecting, "Thanks for waiting. Connecting you now.".to_string()),
        ] {
            prompts.insert(prompt, speech(&format!("prompts.{k}"), given, default)?);
        }

        let agent = match f.agent {
            Some(h) => handoff::resolve(&key("agent"), h)?,
            None => Handoff::Enqueue {
                queue: name.to_string(),
                workflow_sid: None,
                wait_url: None,
                task_priority: None,
                task_timeout_secs: None,
            },
        };
        let next = match f.next {
            Some(h) => handoff::resolve(&key("next"), h)?,
            None => agent.clone(),
        };
        let opt_out = match f.opt_out {
            Some(h) => handoff::resolve(&key("opt_out"), h)?,
            None => agent.clone(),
        };

        Ok(Self {
            name: name.to_string(),
            numbers: f.numbers,
            rules: LineRules {
                name: name.to_string(),
                caller_id: match f.caller_id_lookup {
                    None | Some(CallerIdFile::Bool(true)) => CallerIdUse::Always,
                    Some(CallerIdFile::Bool(false)) => CallerIdUse::Never,
                    Some(CallerIdFile::Mode(m)) => match m.as_str() {
                        "always" => CallerIdUse::Always,
                        "attested" => CallerIdUse::Attested,
                        "never" => CallerIdUse::Never,
                        other => {
                            return Err(ConfigError::new(
                                key("caller_id_lookup"),
                                format!(
                                "{other:?}: use true/\"always\", \"attested\" (STIR/SHAKEN A only) or false/\"never\""
                            ),
                            ))
                        }
                    },
                },
                identifier,
                verification,
                retries,
            },
            gather_timeout_secs,
            identifier_name,
            factor,
            factor_name,
            next,
            agent,
            opt_out,
            voice,
            language,
            prompts,
            ask_identifier,
            ask_factor,
        })
    }
}

fn resolve_prompt(
    key: &str,
    given: Option<PromptFile>,
    default: String,
    voice: &Option<String>,
    language: &Option<String>,
) -> Result<Option<Speech>, ConfigError> {
    let say = |text: String, v: Option<String>, l: Option<String>| -> Result<Option<Speech>, ConfigError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        if text.chars().count() > MAX_SAY_CHARS {
            return Err(ConfigError::new(key, format!("longer than {MAX_SAY_CHARS} characters (Twilio error 13521)")));
        }
        Ok(Some(Speech::Say { text, voice: v.or_else(|| voice.clone()), language: l.or_else(|| language.clone()) }))
    };
    match given {
        None => say(default, None, None),
        Some(PromptFile::Text(t)) => say(t, None, None),
        Some(PromptFile::Say { say: t, voice: v, language: l }) => say(t, v, l),
        Some(PromptFile::Play { play }) => Ok(Some(Speech::Play { url: http_url(key, &play)?.to_string() })),
    }
}
