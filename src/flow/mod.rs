//! The call flow as a pure state machine.
//!
//! Input: the flow state carried by the webhook (sealed, in the action URL),
//! what the caller keyed, and what the CRM said. Output: a [`Reply`] (what the
//! caller hears next and where the call goes) and the next state. There is
//! no I/O here: the web layer asks the CRM the question the entry implies,
//! feeds the answer in, and renders the reply as TwiML.

pub mod entry;
pub mod phone;

use serde::{Deserialize, Serialize};

pub use entry::{Entry, EntryRules};
pub use phone::{Attestation, CallerNumber, E164};

/// A customer as the CRM knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    /// The extra attributes the CRM returned (segment, tier…), by the names
    /// the configuration gives them, in its order. Kept on the call record,
    /// shown on the screen pop and added to TaskRouter attributes; never
    /// serialized, so they never travel in the sealed flow state (a later
    /// step reads them back from the record).
    #[serde(skip)]
    pub attributes: Vec<(String, String)>,
}

impl Customer {
    /// Whether `raw` could be an id a CRM gave: not empty, not absurdly
    /// long, no control characters. What an operator types to name a
    /// customer (the API's paths, `vouch lockouts clear`) is checked by it.
    pub fn plausible_id(raw: &str) -> bool {
        !raw.is_empty() && raw.len() <= 256 && !raw.chars().any(char::is_control)
    }
}

/// The three statuses an agent sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdvStatus {
    Verified,
    Identified,
    Unidentified,
}

/// How the caller was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdvMethod {
    Ani,
    Keyed,
    /// Keyed, on a line that asks for the identifier first, and the caller's
    /// number names the same customer (`identifier_first`).
    KeyedAni,
    None,
}

/// Which prompt a Gather is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Identify,
    Verify,
}

impl Stage {
    /// The stage a path segment names (`identify`, `verify`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "identify" => Some(Self::Identify),
            "verify" => Some(Self::Verify),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "identify",
            Self::Verify => "verify",
        }
    }
    /// The prompt its Gather plays.
    pub fn prompt(self) -> Prompt {
        match self {
            Self::Identify => Prompt::AskIdentifier,
            Self::Verify => Prompt::AskFactor,
        }
    }
}

impl IdvStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Identified => "identified",
            Self::Unidentified => "unidentified",
        }
    }
}

impl IdvMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ani => "ani",
            Self::Keyed => "keyed",
            Self::KeyedAni => "keyed_ani",
            Self::None => "none",
        }
    }
}

/// The flow state between two webhooks of one call. It travels sealed (encrypted) in
/// the action URL, so it holds nothing the caller keyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    #[serde(rename = "l")]
    pub line: String,
    #[serde(rename = "s")]
    pub stage: Stage,
    /// Tries made at the identifier prompt so far.
    #[serde(rename = "i")]
    pub identify_attempts: u8,
    /// Tries made at the verification prompt so far.
    #[serde(rename = "v")]
    pub verify_attempts: u8,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Customer>,
    #[serde(rename = "m")]
    pub method: IdvMethod,
    /// STIR/SHAKEN attestation of the caller's number, from the first webhook.
    #[serde(rename = "a", default)]
    pub attestation: Attestation,
    /// The customer's verification was found locked during this call.
    #[serde(rename = "k", default, skip_serializing_if = "std::ops::Not::not")]
    pub lockout: bool,
    /// On a line that asks for the identifier first, until the caller is
    /// identified: [`caller_id_digest`] of the customer the caller's number
    /// named, or [`NO_CALLER_ID_DIGEST`] when it named none. The same length
    /// either way, so the sealed state is as long whatever the number said.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
}

/// What a state on an identifier-first line holds when the caller's number
/// named no customer.
pub const NO_CALLER_ID_DIGEST: &str = "0000000000000000";

/// Stands for the customer a caller's number named, in the state of an
/// identifier-first line: 16 hex digits of SHA-256 over the customer id,
/// compared with the keyed identifier's customer.
pub fn caller_id_digest(customer_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(b"vouch-caller-id-customer\n").chain_update(customer_id).finalize();
    hex::encode(&digest[..8])
}

/// When the caller's number may identify them (per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerIdUse {
    Always,
    /// Only when the carrier fully attests the number (`TN-Validation-Passed-A`).
    Attested,
    Never,
}

/// The parts of a service line's configuration the flow decides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRules {
    pub name: String,
    pub caller_id: CallerIdUse,
    pub identifier: EntryRules,
    /// `None`: identification alone is enough.
    pub verification: Option<EntryRules>,
    /// Re-asks after a failed try (so `retries + 1` tries in all).
    pub retries: u8,
    /// Always ask for the identifier first: the caller's number is looked
    /// up only to cross-check the keyed identifier, so the first prompt is
    /// the same whether or not the number is on file.
    pub identifier_first: bool,
}

/// What the CRM said to a lookup, or why it was not asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nobody asked (lookup disabled, or an unusable number).
    NotAsked,
    Found(Customer),
    NotFound,
    /// Several customers share the number.
    Ambiguous,
    /// Timeout, an unexpected status or an unparsable body.
    Failed,
}

/// What the CRM said to a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    NotAsked,
    Verified,
    Rejected,
    Failed,
    /// Not asked: the customer's verification is locked after too many
    /// failures across calls. To the caller it sounds like a rejection.
    Locked,
    /// Not asked: the lockout counter could not count the try (the store
    /// is unreachable), so no guess is spent. The caller goes to an agent,
    /// identified, with the words of any agent hand-off.
    Unavailable,
}

/// One step's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The call's first webhook, with the caller-ID lookup's answer.
    Start { ani: Lookup },
    /// Too many unknown identifiers lately from this caller's number (or
    /// from withheld caller IDs on this line): straight to an agent,
    /// unidentified, with the words of any agent hand-off. At the call's
    /// first webhook (`keyed: false`), or at the identifier prompt for an
    /// identifier the CRM was not asked about (`keyed: true`: a try).
    Throttled { keyed: bool },
    /// An entry at the identifier prompt, with the CRM's answer if asked.
    Identifier { entry: Entry, lookup: Lookup },
    /// An entry at the verification prompt, with the CRM's answer if asked.
    Factor { entry: Entry, verification: Verification },
}

/// Each prompt a line can configure. The reply names them; rendering picks
/// the text or audio. Serialized by its key under `[lines.NAME.prompts]`
/// (`ask_identifier`), as a call's timeline keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    Welcome,
    AskIdentifier,
    AskFactor,
    /// The identifier matched no customer.
    NotFound,
    /// The identifier had the wrong length or shape.
    InvalidIdentifier,
    /// The factor was wrong (or malformed: the caller is not told which).
    FactorRejected,
    /// The caller keyed nothing.
    NoInput,
    Verified,
    /// The caller is identified and the line asks no verification: said
    /// before the call is handed on, so it does not go quiet.
    Identified,
    OptedOut,
    TooManyTries,
    CrmUnavailable,
    ToAgent,
    /// Said on hold (Vouch's wait URL), not by the flow itself.
    Hold,
    /// A dialled agent did not answer; said before the fallback queue.
    AgentUnavailable,
    /// Said to a caller an agent dequeues from a plain queue.
    Connecting,
}

/// Where a finished flow sends the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The line's next step (self-service or an agent queue).
    Next,
    /// The line's agent queue.
    Agent,
    /// The line's opt-out path (the agent queue unless configured).
    OptOut,
}

/// How the flow ended, for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Handed to the line's next step after ID&V.
    Completed,
    /// Sent to an agent after running out of tries.
    Agent,
    OptedOut,
    CrmUnavailable,
    /// Sent to an agent as identified: verification could not be run (the
    /// security counters' store was unreachable; failing closed).
    VerificationUnavailable,
}

/// The context handed on with the call (the names in PRODUCT.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffContext {
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub idv_status: IdvStatus,
    pub idv_method: IdvMethod,
    pub service_line: String,
    pub opted_out: bool,
    /// STIR/SHAKEN attestation of the caller's number: `A`, `B`, `C`,
    /// `failed` or `none`. Never a verification by itself.
    pub ani_attestation: Attestation,
    /// The customer's verification is locked (too many failures across
    /// calls): the caller could not be verified whatever they keyed.
    pub lockout: bool,
    /// The customer's extra attributes from the CRM (see [`Customer`]):
    /// only TaskRouter attributes and the screen pop carry them, never a
    /// URL, a token, a `<Parameter>` or a SIP header.
    #[serde(skip)]
    pub attributes: Vec<(String, String)>,
}

impl HandoffContext {
    /// A caller Vouch knows nothing about, on `line`.
    pub fn unidentified(line: &str) -> Self {
        Self {
            customer_id: None,
            customer_name: None,
            idv_status: IdvStatus::Unidentified,
            idv_method: IdvMethod::None,
            service_line: line.to_string(),
            opted_out: false,
            ani_attestation: Attestation::None,
            lockout: false,
            attributes: Vec::new(),
        }
    }

    #[cfg(test)]
    /// Ada Lovelace, verified by caller ID on the support line: a fixture.
    pub fn example() -> Self {
        Self {
            customer_id: Some("12345678".into()),
            customer_name: Some("Ada Lovelace".into()),
            idv_status: IdvStatus::Verified,
            idv_method: IdvMethod::Ani,
            service_line: "support".into(),
            opted_out: false,
            ani_attestation: Attestation::None,
            lockout: false,
            attributes: Vec::new(),
        }
    }
}

/// What happens next on the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Play `preface`, then ask at `state.stage` (a Gather).
    Ask { preface: Vec<Prompt>, state: FlowState },
    /// Play `preface`, then hand the call on.
    Handoff {
        preface: Vec<Prompt>,
        to: Destination,
        outcome: Outcome,
        context: HandoffContext,
        /// Tries made, for the record.
        identify_attempts: u8,
        verify_attempts: u8,
    },
}

/// A misuse of the machine by its caller (the web layer), never by the
/// person on the phone: it maps to a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("an entry arrived for the {0} prompt but the call is at another step")]
    WrongStage(&'static str),
    #[error("the call's state names line {state:?} but the request is for {line:?}")]
    WrongLine { state: String, line: String },
}

impl LineRules {
    /// The initial state, before caller-ID lookup.
    pub fn fresh_state(&self, attestation: Attestation) -> FlowState {
        FlowState {
            line: self.name.clone(),
            stage: Stage::Identify,
            identify_attempts: 0,
            verify_attempts: 0,
            customer: None,
            method: IdvMethod::None,
            attestation,
            lockout: false,
            caller_id: None,
        }
    }

    /// Whether a caller-ID lookup should be made for this number, given
    /// what the carrier said about it.
    pub fn lookup_number<'a>(&self, caller: &'a CallerNumber, attestation: Attestation) -> Option<&'a E164> {
        match self.caller_id {
            CallerIdUse::Always => caller.usable(),
            CallerIdUse::Attested if attestation == Attestation::A => caller.usable(),
            CallerIdUse::Attested | CallerIdUse::Never => None,
        }
    }

    /// The rules an entry at `stage` is held to.
    pub fn entry_rules(&self, stage: Stage) -> &EntryRules {
        match stage {
            Stage::Identify => &self.identifier,
            // A verify stage exists only on lines that verify.
            Stage::Verify => self.verification.as_ref().unwrap_or(&self.identifier),
        }
    }

    fn tries(&self) -> u8 {
        self.retries.saturating_add(1)
    }
}

/// Advances the flow by one step. `state` is `None` only for `Input::Start`.
pub fn step(rules: &LineRules, state: FlowState, input: Input) -> Result<Reply, FlowError> {
    if state.line != rules.name {
        return Err(FlowError::WrongLine { state: state.line, line: rules.name.clone() });
    }
    match input {
        Input::Start { ani } => Ok(start(rules, state, ani)),
        Input::Throttled { keyed } => {
            if state.stage != Stage::Identify {
                return Err(FlowError::WrongStage(Stage::Identify.as_str()));
            }
            let (state, preface) = match keyed {
                true => (FlowState { identify_attempts: state.identify_attempts.saturating_add(1), ..state }, vec![]),
                false => (state, vec![Prompt::Welcome]),
            };
            Ok(handoff(state, preface, Destination::Agent, Outcome::Agent, IdvStatus::Unidentified, false))
        }
        Input::Identifier { entry, lookup } => {
            if state.stage != Stage::Identify {
                return Err(FlowError::WrongStage(Stage::Identify.as_str()));
            }
            Ok(identifier(rules, state, entry, lookup))
        }
        Input::Factor { entry, verification } => {
            if state.stage != Stage::Verify || state.customer.is_none() {
                return Err(FlowError::WrongStage(Stage::Verify.as_str()));
            }
            Ok(factor(rules, state, entry, verification))
        }
    }
}

fn start(rules: &LineRules, state: FlowState, ani: Lookup) -> Reply {
    if rules.identifier_first {
        // Whatever the number said, the caller hears the same: the
        // identifier prompt. The state remembers (sealed) whom it named.
        let caller_id = Some(match ani {
            Lookup::Found(customer) => caller_id_digest(&customer.id),
            Lookup::NotAsked | Lookup::NotFound | Lookup::Ambiguous | Lookup::Failed => NO_CALLER_ID_DIGEST.into(),
        });
        return Reply::Ask {
            preface: vec![Prompt::Welcome],
            state: FlowState { stage: Stage::Identify, caller_id, ..state },
        };
    }
    match ani {
        Lookup::Found(customer) => identified(rules, state, customer, IdvMethod::Ani, vec![Prompt::Welcome]),
        // No match, a shared phone, no lookup or a CRM failure: ask.
        Lookup::NotAsked | Lookup::NotFound | Lookup::Ambiguous | Lookup::Failed => {
            Reply::Ask { preface: vec![Prompt::Welcome], state: FlowState { stage: Stage::Identify, ..state } }
        }
    }
}

/// The caller is identified: verify them, or hand them on identified.
fn identified(
    rules: &LineRules,
    state: FlowState,
    customer: Customer,
    method: IdvMethod,
    preface: Vec<Prompt>,
) -> Reply {
    let state = FlowState { customer: Some(customer), method, caller_id: None, ..state };
    if rules.verification.is_some() {
        Reply::Ask { preface, state: FlowState { stage: Stage::Verify, verify_attempts: 0, ..state } }
    } else {
        let mut preface = preface;
        preface.push(Prompt::Identified);
        handoff(state, preface, Destination::Next, Outcome::Completed, IdvStatus::Identified, false)
    }
}

fn identifier(rules: &LineRules, state: FlowState, entry: Entry, lookup: Lookup) -> Reply {
    let attempts = state.identify_attempts.saturating_add(1);
    let state = FlowState { identify_attempts: attempts, ..state };
    let failure = match entry {
        Entry::OptOut => return opted_out(state, IdvStatus::Unidentified),
        Entry::Silence => Prompt::NoInput,
        Entry::Malformed => Prompt::InvalidIdentifier,
        Entry::Digits(_) => match lookup {
            Lookup::Found(customer) => {
                // A number that named this very customer corroborates the
                // keyed identifier; one that named another (or none) changes
                // nothing the caller hears.
                let method = match &state.caller_id {
                    Some(digest) if *digest == caller_id_digest(&customer.id) => IdvMethod::KeyedAni,
                    _ => IdvMethod::Keyed,
                };
                return identified(rules, state, customer, method, Vec::new());
            }
            Lookup::NotFound | Lookup::Ambiguous => Prompt::NotFound,
            Lookup::Failed | Lookup::NotAsked => return crm_unavailable(state, IdvStatus::Unidentified),
        },
    };
    failed_try(rules, state, attempts, failure, IdvStatus::Unidentified)
}

fn factor(rules: &LineRules, state: FlowState, entry: Entry, verification: Verification) -> Reply {
    let attempts = state.verify_attempts.saturating_add(1);
    let mut state = FlowState { verify_attempts: attempts, ..state };
    let failure = match entry {
        Entry::OptOut => return opted_out(state, IdvStatus::Identified),
        Entry::Silence => Prompt::NoInput,
        // A malformed factor is not announced as such: the caller learns
        // only that it was not accepted.
        Entry::Malformed => Prompt::FactorRejected,
        Entry::Digits(_) => match verification {
            Verification::Verified => {
                return handoff(
                    state,
                    vec![Prompt::Verified],
                    Destination::Next,
                    Outcome::Completed,
                    IdvStatus::Verified,
                    false,
                )
            }
            Verification::Rejected => Prompt::FactorRejected,
            Verification::Locked => {
                state.lockout = true;
                Prompt::FactorRejected
            }
            Verification::Failed | Verification::NotAsked => return crm_unavailable(state, IdvStatus::Identified),
            // Failing closed: no guess was spent, and the caller is not told why.
            Verification::Unavailable => {
                return handoff(
                    state,
                    Vec::new(),
                    Destination::Agent,
                    Outcome::VerificationUnavailable,
                    IdvStatus::Identified,
                    false,
                )
            }
        },
    };
    failed_try(rules, state, attempts, failure, IdvStatus::Identified)
}

/// The caller opted out: the opt-out path, with the status reached so far.
fn opted_out(state: FlowState, status: IdvStatus) -> Reply {
    handoff(state, vec![Prompt::OptedOut], Destination::OptOut, Outcome::OptedOut, status, true)
}

/// The CRM failed: an apology and an agent, with the status reached so far.
fn crm_unavailable(state: FlowState, status: IdvStatus) -> Reply {
    handoff(state, vec![Prompt::CrmUnavailable], Destination::Agent, Outcome::CrmUnavailable, status, false)
}

/// A failed try: ask again, or after the last one hand over to an agent.
fn failed_try(rules: &LineRules, state: FlowState, attempts: u8, failure: Prompt, status: IdvStatus) -> Reply {
    if attempts >= rules.tries() {
        handoff(state, vec![failure, Prompt::TooManyTries], Destination::Agent, Outcome::Agent, status, false)
    } else {
        Reply::Ask { preface: vec![failure], state }
    }
}

fn handoff(
    state: FlowState,
    mut preface: Vec<Prompt>,
    to: Destination,
    outcome: Outcome,
    status: IdvStatus,
    opted_out: bool,
) -> Reply {
    if to == Destination::Agent {
        preface.push(Prompt::ToAgent);
    }
    let (customer_id, customer_name, attributes) = match state.customer {
        Some(c) => (Some(c.id), Some(c.name), c.attributes),
        None => (None, None, Vec::new()),
    };
    Reply::Handoff {
        preface,
        to,
        outcome,
        context: HandoffContext {
            customer_id,
            customer_name,
            idv_status: status,
            idv_method: state.method,
            service_line: state.line,
            opted_out,
            ani_attestation: state.attestation,
            lockout: state.lockout,
            attributes,
        },
        identify_attempts: state.identify_attempts,
        verify_attempts: state.verify_attempts,
    }
}

#[cfg(test)]
mod tests;
