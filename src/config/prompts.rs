//! What a line says, resolved: every prompt as configured (text with the
//! line's voice, its own voice, a recording, or silence), or a default
//! worded from the line's entries.

use super::entry::Entries;
use super::error::ConfigError;
use super::file::{LineFile, PromptFile, PromptsFile};
use super::urls::http_url;
use crate::flow::Prompt;
use std::collections::HashMap;

/// What the caller hears for one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speech {
    Say { text: String, voice: Option<String>, language: Option<String> },
    Play { url: String },
}

/// Twilio rejects longer `<Say>` texts for some voices (13521).
const MAX_SAY_CHARS: usize = 3000;

/// Every prompt of one line. `None`: silence (the prompt was configured as "").
#[derive(Debug, Clone)]
pub(super) struct Prompts {
    said: HashMap<Prompt, Option<Speech>>,
    ask_identifier: Option<Speech>,
    ask_factor: Option<Speech>,
}

impl Prompts {
    /// The speech for a prompt, or `None` when it is configured silent.
    pub(super) fn speech(&self, prompt: Prompt) -> Option<&Speech> {
        match prompt {
            Prompt::AskIdentifier => self.ask_identifier.as_ref(),
            Prompt::AskFactor => self.ask_factor.as_ref(),
            other => self.said.get(&other).and_then(Option::as_ref),
        }
    }

    /// `at` is the line's key (`lines.support`). `to_person` says, for the
    /// next step and the opt-out, whether it reaches a person (a queue or a
    /// dial, not a redirect to an app): the defaults then say so.
    pub(super) fn resolve(
        at: &str,
        file: &LineFile,
        entries: &Entries,
        to_person: ToPerson,
    ) -> Result<Self, ConfigError> {
        let speech = |key: &str, given: &Option<PromptFile>, default: String| {
            resolve_prompt(&format!("{at}.{key}"), given.clone(), default, &file.voice, &file.language)
        };
        let ask_identifier = speech("identifier.prompt", &file.identifier.prompt, ask_identifier_default(entries))?;
        let ask_factor =
            speech("verification.prompt", &file.verification.prompt, ask_factor_default(entries, to_person))?;
        let mut said = HashMap::new();
        for (prompt, key, given, default) in others(&file.prompts, entries, to_person) {
            said.insert(prompt, speech(&format!("prompts.{key}"), given, default)?);
        }
        Ok(Self { said, ask_identifier, ask_factor })
    }
}

/// A key as a prompt says it: `*` is "star".
fn said_key(k: char) -> String {
    if k == '*' {
        "star".into()
    } else {
        k.to_string()
    }
}

fn ask_identifier_default(e: &Entries) -> String {
    let rules = &e.identifier;
    let fixed =
        if rules.min_digits == rules.max_digits { format!("{}-digit ", rules.min_digits) } else { String::new() };
    let opt_out =
        rules.opt_out_key.map_or_else(String::new, |k| format!(" If you don't have it, press {}.", said_key(k)));
    format!("Please enter your {fixed}{}, followed by the pound key.{opt_out}", e.identifier_name)
}

fn ask_factor_default(e: &Entries, to_person: ToPerson) -> String {
    let opt_out = match e.verification.as_ref().and_then(|v| v.opt_out_key) {
        Some(k) if to_person.opt_out => format!(" To speak to an agent instead, press {}.", said_key(k)),
        Some(k) => format!(" If you don't have it, press {}.", said_key(k)),
        None => String::new(),
    };
    format!(
        "For your security, please enter your {}-digit {}, followed by the pound key.{opt_out}",
        e.factor_length, e.factor_name
    )
}

/// Whether a line's next step and its opt-out reach a person.
#[derive(Debug, Clone, Copy)]
pub(super) struct ToPerson {
    pub next: bool,
    pub opt_out: bool,
}

/// The prompts under `[lines.NAME.prompts]`: each with its key, what the
/// file gives, and what is said when it gives nothing.
fn others<'a>(
    p: &'a PromptsFile,
    e: &Entries,
    to_person: ToPerson,
) -> [(Prompt, &'static str, &'a Option<PromptFile>, String); 14] {
    let (id, factor) = (&e.identifier_name, &e.factor_name);
    let identified = if to_person.next { "Thank you. Please hold while we connect you." } else { "Thank you." };
    let opted_out =
        if to_person.opt_out { "No problem. Please hold while we connect you to an agent." } else { "No problem." };
    [
        (Prompt::Welcome, "welcome", &p.welcome, "Thank you for calling.".into()),
        (Prompt::NotFound, "not_found", &p.not_found, format!("Sorry, we couldn't find that {id}.")),
        (
            Prompt::InvalidIdentifier,
            "invalid_identifier",
            &p.invalid_identifier,
            format!("Sorry, that doesn't look like a valid {id}."),
        ),
        (
            Prompt::FactorRejected,
            "factor_rejected",
            &p.factor_rejected,
            format!("Sorry, that {factor} wasn't accepted."),
        ),
        (Prompt::NoInput, "no_input", &p.no_input, "Sorry, we didn't get that.".into()),
        (Prompt::Verified, "verified", &p.verified, "Thank you, you're verified.".into()),
        (Prompt::Identified, "identified", &p.identified, identified.into()),
        (Prompt::OptedOut, "opted_out", &p.opted_out, opted_out.into()),
        (Prompt::TooManyTries, "too_many_tries", &p.too_many_tries, "Let's get you some help.".into()),
        (
            Prompt::CrmUnavailable,
            "crm_unavailable",
            &p.crm_unavailable,
            "We're sorry, we can't look up your details right now.".into(),
        ),
        (Prompt::ToAgent, "to_agent", &p.to_agent, "Please hold while we connect you to an agent.".into()),
        (Prompt::Hold, "hold", &p.hold, "Thanks for holding. An agent will be with you shortly.".into()),
        (
            Prompt::AgentUnavailable,
            "agent_unavailable",
            &p.agent_unavailable,
            "Sorry, that agent couldn't take your call. Please hold for the next available agent.".into(),
        ),
        (Prompt::Connecting, "connecting", &p.connecting, "Thanks for waiting. Connecting you now.".into()),
    ]
}

/// One prompt: `given`, else `default`, with the line's voice and language
/// unless the prompt names its own.
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
