//! The TOML file's shape, as written by an operator. Everything here is
//! checked and resolved into [`super::Config`]; nothing else reads it.
//! Secrets are deliberately absent: they come from the environment.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub crm: CrmFile,
    #[serde(default)]
    pub database: DatabaseFile,
    /// The line for a `To` number no line claims. Required with several lines.
    pub default_line: Option<String>,
    #[serde(default)]
    pub lines: BTreeMap<String, LineFile>,
    #[serde(default)]
    pub security: SecurityFile,
}

/// Limits across calls (shared by every line and every Vouch on the database).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityFile {
    /// Failed verifications of one customer, within the window, that lock it.
    pub lockout_failures: Option<u64>,
    pub lockout_window_secs: Option<u64>,
    /// Unknown identifiers keyed from one caller number, within the window,
    /// after which that number's calls go straight to an agent.
    pub enumeration_unknown_ids: Option<u64>,
    pub enumeration_window_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// `VOUCH_PUBLIC_URL` overrides it.
    pub public_url: Option<String>,
    /// `PORT` overrides it.
    pub port: Option<u16>,
    pub state_ttl_secs: Option<u64>,
    /// Every webhook is answered within this, whatever the CRM does.
    pub webhook_deadline_ms: Option<u64>,
    pub call_record_ttl_secs: Option<u64>,
    /// On SIGTERM, in-flight webhooks get this long to finish.
    pub shutdown_timeout_secs: Option<u64>,
    /// How long the token on a redirect handoff stays valid.
    pub handoff_token_ttl_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmFile {
    /// `VOUCH_CRM_URL` overrides it; unset: the built-in demo CRM.
    pub url: Option<String>,
    /// Header carrying `VOUCH_CRM_TOKEN`; `Authorization` sends `Bearer <token>`.
    pub auth_header: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub cache_ttl_secs: Option<u64>,
    pub negative_cache_ttl_secs: Option<u64>,
    pub cache_capacity: Option<u64>,
    /// CRM requests in flight at once; past it callers take the agent path.
    pub max_in_flight: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    /// `DATABASE_URL` overrides it; unset: `sqlite://vouch.db`.
    pub url: Option<String>,
    /// Records waiting to be written, at most.
    pub buffer_capacity: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineFile {
    #[serde(default)]
    pub numbers: Vec<String>,
    /// `true`/`"always"`, `"attested"` (only with STIR/SHAKEN A attestation),
    /// or `false`/`"never"`.
    pub caller_id_lookup: Option<CallerIdFile>,
    pub retries: Option<u8>,
    pub opt_out_key: Option<String>,
    pub gather_timeout_secs: Option<u8>,
    /// Defaults for every `<Say>` of this line.
    pub voice: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub identifier: IdentifierFile,
    #[serde(default)]
    pub verification: VerificationFile,
    #[serde(default)]
    pub prompts: PromptsFile,
    pub next: Option<HandoffFile>,
    pub agent: Option<HandoffFile>,
    pub opt_out: Option<HandoffFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierFile {
    pub name: Option<String>,
    pub min_digits: Option<usize>,
    pub max_digits: Option<usize>,
    pub prompt: Option<PromptFile>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptsFile {
    pub welcome: Option<PromptFile>,
    pub not_found: Option<PromptFile>,
    pub invalid_identifier: Option<PromptFile>,
    pub factor_rejected: Option<PromptFile>,
    pub no_input: Option<PromptFile>,
    pub verified: Option<PromptFile>,
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
    /// `<Redirect>` to a URL (a self-service app), the context and a signed
    /// token in its query.
    Redirect { url: String },
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
