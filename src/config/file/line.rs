//! The shape of one `[lines.NAME]` table: the flow's rules, prompts and
//! handoffs. Numeric bounds follow each table; their keys are relative to
//! the line (or, for a handoff's, to the handoff), since every line has them.

use crate::config::bound::Bound;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFile {
    #[serde(default)]
    pub numbers: Vec<String>,
    /// `true`/`"always"`, `"attested"` (only with STIR/SHAKEN A attestation),
    /// or `false`/`"never"`.
    pub caller_id_lookup: Option<CallerIdFile>,
    /// Always ask for the identifier first; the caller's number (when
    /// `caller_id_lookup` allows a lookup) only cross-checks it.
    pub identifier_first: Option<bool>,
    /// Whether the customer's name goes into what the line hands on
    /// through Twilio (Task attributes, `<Parameter>`s, SIP headers, the
    /// redirect's token, the whisper). Default true.
    pub handoff_customer_name: Option<bool>,
    /// Whether scheduled reports may list this line's calls (customer
    /// data) beside their counts (`calls = true` on a schedule). Default
    /// false.
    pub scheduled_call_lists: Option<bool>,
    pub retries: Option<u8>,
    pub opt_out_key: Option<String>,
    pub gather_timeout_secs: Option<u8>,
    /// Defaults for every `<Say>` of this line.
    pub voice: Option<String>,
    pub language: Option<String>,
    /// The line's IANA time zone (`Europe/London`): the agent desk shows
    /// times in it beside UTC.
    pub time_zone: Option<String>,
    #[serde(default)]
    pub identifier: IdentifierFile,
    #[serde(default)]
    pub verification: VerificationFile,
    #[serde(default)]
    pub prompts: PromptsFile,
    pub next: Option<HandoffFile>,
    pub agent: Option<HandoffFile>,
    pub opt_out: Option<HandoffFile>,
    /// This line's own identifier and verify actions.
    pub crm: Option<super::LineCrmFile>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl LineFile {
    pub const RETRIES: Bound<u8> = Bound { key: "retries", default: 3, min: 0, max: 10, says: "at most {max}" };
    pub const GATHER_TIMEOUT_SECS: Bound<u8> =
        Bound { key: "gather_timeout_secs", default: 6, min: 1, max: 60, says: "must be {min}..={max}" };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierFile {
    pub name: Option<String>,
    pub min_digits: Option<usize>,
    pub max_digits: Option<usize>,
    pub prompt: Option<PromptFile>,
}

/// The digit counts' default and range.
impl IdentifierFile {
    /// Both `min_digits` and `max_digits`, checked together (the error names
    /// the table); an unset `max_digits` is the larger of `min_digits` and
    /// the default.
    pub const DIGITS: Bound<usize> = Bound {
        key: "identifier",
        default: 8,
        min: 1,
        max: 32,
        says: "digit bounds {value} need {min} <= min_digits <= max_digits <= {max}",
    };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationFile {
    pub required: Option<bool>,
    /// Sent to the CRM as `factor` (`pin`, `dob`, `last4`…).
    pub factor: Option<String>,
    /// How prompts call it ("PIN").
    pub name: Option<String>,
    pub length: Option<usize>,
    pub prompt: Option<PromptFile>,
}

/// The factor length's default and range.
impl VerificationFile {
    pub const LENGTH: Bound<usize> =
        Bound { key: "verification.length", default: 4, min: 1, max: 16, says: "must be {min}..={max} digits" };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsFile {
    pub welcome: Option<PromptFile>,
    pub not_found: Option<PromptFile>,
    pub invalid_identifier: Option<PromptFile>,
    pub factor_rejected: Option<PromptFile>,
    pub no_input: Option<PromptFile>,
    pub verified: Option<PromptFile>,
    /// Said when a line without verification hands an identified caller on.
    pub identified: Option<PromptFile>,
    pub opted_out: Option<PromptFile>,
    pub too_many_tries: Option<PromptFile>,
    pub crm_unavailable: Option<PromptFile>,
    pub to_agent: Option<PromptFile>,
    /// Said on hold by Vouch's `/hold` wait URL, before the music.
    pub hold: Option<PromptFile>,
    /// Said when a dialled agent did not answer, before the queue.
    pub agent_unavailable: Option<PromptFile>,
    /// Said to the caller when an agent dequeues them (`/queue/connect`).
    pub connecting: Option<PromptFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CallerIdFile {
    Bool(bool),
    Mode(String),
}

/// A prompt: plain text (said with the line's voice), a table with `say`
/// and its own voice/language, or a `play` URL. An empty text is silence.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptFile {
    Text(String),
    Say { say: String, voice: Option<String>, language: Option<String> },
    Play { play: String },
}

/// Where a call goes. `type` picks the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HandoffFile {
    /// `<Redirect>` to a URL (a self-service app), the context in a token
    /// in its query: encrypted (a JWE) unless `context = "plain"`.
    Redirect { url: String, context: Option<String> },
    /// `<Enqueue>` into a queue, through TaskRouter when `workflow_sid` is set.
    Enqueue {
        queue: String,
        workflow_sid: Option<String>,
        /// `/hold`: Vouch's own hold message and music.
        wait_url: Option<String>,
        task_priority: Option<u32>,
        task_timeout_secs: Option<u32>,
    },
    /// `<Dial><Number>`, with a whisper to the agent.
    DialNumber {
        number: String,
        caller_id: Option<String>,
        timeout_secs: Option<u32>,
        answer_on_bridge: Option<bool>,
        whisper: Option<bool>,
    },
    /// `<Dial><Client>`: a Voice SDK agent, the context in `<Parameter>`s.
    DialClient {
        identity: String,
        caller_id: Option<String>,
        timeout_secs: Option<u32>,
        answer_on_bridge: Option<bool>,
        whisper: Option<bool>,
    },
    /// `<Dial><Sip>`: the context in `X-` headers on the URI.
    DialSip {
        uri: String,
        caller_id: Option<String>,
        timeout_secs: Option<u32>,
        answer_on_bridge: Option<bool>,
        whisper: Option<bool>,
    },
}

/// A dial's ring time range.
impl HandoffFile {
    /// How long a dial rings. The default is Twilio's own, for reference:
    /// Vouch sends no timeout unless one is set, so a set value is checked
    /// ([`Bound::check`]) and an unset one stays unset.
    pub const TIMEOUT_SECS: Bound<u32> = Bound {
        key: "timeout_secs",
        default: 30,
        min: 5,
        max: 600,
        says: "{value} is outside Twilio's {min}..={max} seconds",
    };
}
