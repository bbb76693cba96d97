//! The call-step service: everything one webhook of the ID&V flow needs,
//! between the HTTP handlers (which parse and answer) and the pure flow
//! (which decides). It owns the CRM client, the store with its lockout and
//! enumeration counters, the limits, the webhook deadline and the signers.
//!
//! A step is [`CallService::start`] (a call's first webhook) or
//! [`CallService::step`] (an entry at a prompt): each asks the CRM the one
//! question the step needs, within the deadline and the defences, runs the
//! flow, and returns a [`Turn`]: what the caller hears, then what happens,
//! and the change to the call's record. [`CallService::answer`] renders it,
//! keeps the record and stores the answer with the webhook's claim.
//!
//! Each webhook runs once: [`CallService::claim`] takes its flow state (a
//! first webhook: its CallSid) in the store before the step runs, and any
//! other request carrying the same state (Twilio's retry, a replayed
//! capture) gets the stored answer instead, whatever its idempotency header
//! says (see [`crate::store::claims`]).

mod defence;
mod fallback;
mod metrics;
mod turn;

use defence::{IdentifierTry, VerifyLatency};

pub use metrics::CallMetrics;
pub use turn::{placement, Turn};

use crate::clock::now;
use crate::config::{Config, Line, Secret};
use crate::crm::CrmClient;
use crate::flow::phone::mask;
use crate::flow::{self, Entry, FlowError, HandoffContext, Input, Lookup, Stage, Verification};
use crate::handoff::{HandoffTokens, Links};
use crate::keyring::flow_state::{FlowStates, StateError};
use crate::keyring::links::ScreenPopLinks;
use crate::paths::Urls;
use crate::render;
use crate::store::claims::{AnswerBody, Claim, ClaimKey, Claims, Ticket};
use crate::store::timeline::{now_ms, Answer, EntryKind, Event, NotAsked, Question, What};
use crate::store::{CallRecord, CallStore, CrmAsk};
use crate::twilio::params::{CallSid, Keyed};
use crate::twilio::webhook::Webhook;
use std::future::Future;
use std::sync::Arc;

/// How long a step that needs the customer's attributes from another
/// instance's record waits for the database.
const ATTRIBUTES_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// Why a step cannot run: a misuse of the webhook, never the caller's doing.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("unknown service line {0:?}")]
    UnknownLine(String),
    #[error("unknown step {0:?}")]
    UnknownStage(String),
    #[error("missing state parameter")]
    MissingState,
    #[error("{0}")]
    State(#[from] StateError),
    #[error("{0}")]
    Flow(#[from] FlowError),
}

/// The signers a step's answer carries links and tokens from.
pub struct Signers {
    pub states: FlowStates,
    pub screen_pops: ScreenPopLinks,
    pub tokens: HandoffTokens,
}

pub struct CallService {
    config: Arc<Config>,
    crm: CrmClient,
    store: CallStore,
    urls: Urls,
    signers: Signers,
    /// Which webhooks were taken, and their answers: each runs once.
    claims: Claims,
    /// Recent CRM verify durations: locked answers take as long.
    verify_latency: VerifyLatency,
    /// Calls started and handed on, for `/metrics`.
    metrics: CallMetrics,
}

impl CallService {
    pub fn new(config: Arc<Config>, crm: CrmClient, store: CallStore, urls: Urls, signers: Signers) -> Self {
        let claims = store.claims(config.server.webhook_deadline, config.server.state_ttl);
        let metrics = CallMetrics::for_lines(config.lines.iter().map(|l| l.name.as_str()));
        Self { config, crm, store, urls, signers, claims, verify_latency: VerifyLatency::new(), metrics }
    }

    /// Calls started and handed on, for `/metrics`.
    pub fn metrics(&self) -> &CallMetrics {
        &self.metrics
    }

    /// The line named `name`.
    pub fn line(&self, name: &str) -> Option<&Line> {
        self.config.lines.get(name)
    }

    /// Vouch's public URLs.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The line that claims the dialled number, else the default line.
    pub fn line_for_number(&self, dialled: Option<&str>) -> &Line {
        let (line, fallback) = self.config.lines.for_number(dialled);
        if fallback {
            tracing::info!(to = %mask(dialled.unwrap_or("")), line = %line.name, "no line claims this number: using the default line");
        }
        line
    }

    /// The line a Voice URL names, else the default line: a misconfigured
    /// URL still answers the call.
    pub fn line_named(&self, name: &str) -> &Line {
        self.config.lines.get(name).unwrap_or_else(|| {
            let line = self.config.lines.default();
            tracing::warn!(requested = %name, line = %line.name, "unknown line in the Voice URL: using the default line");
            line
        })
    }

    /// The line and prompt an entry's path names.
    pub fn entry_point(&self, line: &str, stage: &str) -> Result<(&Line, Stage), StepError> {
        let line = self.config.lines.get(line).ok_or_else(|| StepError::UnknownLine(line.to_string()))?;
        let stage = Stage::parse(stage).ok_or_else(|| StepError::UnknownStage(stage.to_string()))?;
        Ok((line, stage))
    }

    /// Claims this webhook before its step runs: by its flow state, or for
    /// a call's `first` webhook by its CallSid. Another request that carried
    /// the same earlier (a retry, a replay) gets that request's answer,
    /// waiting for it if it is still being answered; the idempotency header
    /// plays no part, as nothing signs it.
    pub async fn claim(&self, hook: &Webhook, first: bool) -> Result<Claim, StepError> {
        let sid = hook.call_sid.as_str();
        let key = match first {
            true => ClaimKey::start(sid),
            false => ClaimKey::state(hook.state.as_deref().ok_or(StepError::MissingState)?, sid),
        };
        let claim = self.claims.claim(&key).await;
        if matches!(claim, Claim::Answered(_)) {
            tracing::info!("a webhook already answered: sending the same answer, the step is not run again");
        }
        Ok(claim)
    }

    /// Gives up the claim of a webhook whose step was refused.
    pub async fn release(&self, ticket: Ticket) {
        self.claims.release(ticket).await;
    }

    /// A call's first webhook: the caller-ID lookup, unless the number is
    /// throttled.
    pub async fn start<'l>(&self, line: &'l Line, hook: &Webhook) -> Result<Turn<'l>, StepError> {
        let mut crm = None;
        let mut events = Vec::new();
        let input = if self.throttled(line, &hook.caller).await {
            events.push(not_asked(Question::CallerId, NotAsked::Throttled));
            Input::Throttled { keyed: false }
        } else {
            let ani = match line.rules.lookup_number(&hook.caller, hook.attestation) {
                Some(number) => self.lookup(self.crm.find_by_phone(number), &mut crm).await,
                None => Lookup::NotAsked,
            };
            events.extend(crm_event(Question::CallerId, Answer::of_lookup(&ani), crm));
            tracing::info!(line = %line.name, caller = %hook.caller_masked, ani = lookup_kind(&ani), "call started");
            Input::Start { ani }
        };
        let reply = flow::step(&line.rules, line.rules.fresh_state(hook.attestation), input)?;
        Ok(Turn { crm, ..self.turn(line, reply, &hook.call_sid, true, events) })
    }

    /// An entry at `stage`: the state the action URL carried is opened,
    /// the entry classified, and the CRM asked what the entry implies.
    pub async fn step<'l>(&self, line: &'l Line, stage: Stage, hook: &Webhook) -> Result<Turn<'l>, StepError> {
        let token = hook.state.as_deref().ok_or(StepError::MissingState)?;
        let mut state = self.signers.states.open(token, hook.call_sid.as_str(), now()).map_err(|e| {
            tracing::warn!(error = %e, "flow state refused");
            StepError::State(e)
        })?;
        if state.stage != stage {
            return Err(FlowError::WrongStage(stage.as_str()).into());
        }
        if let Some(customer) = state.customer.as_mut() {
            customer.attributes = self.attributes_on_record(&hook.call_sid, &customer.id).await;
        }
        let entry = Entry::classify(hook.digits.as_ref().map(Keyed::expose), line.rules.entry_rules(stage));
        let mut events = vec![Event { at: now_ms(), what: What::Entry { stage, entry: EntryKind::of(&entry) } }];
        let mut crm = None;
        let input = match stage {
            Stage::Identify => {
                // Each identifier try counts against the caller's enumeration
                // limit before the CRM is asked; at the limit it is not asked.
                let lookup = match &entry {
                    Entry::Digits(id) => match self.identifier_try(line, &hook.caller).await {
                        IdentifierTry::Allowed(reservation) => {
                            let lookup = self.lookup(self.crm.find_by_id(line, id), &mut crm).await;
                            self.settle_identifier_try(reservation, &lookup);
                            Some(lookup)
                        }
                        IdentifierTry::Throttled => None,
                    },
                    _ => Some(Lookup::NotAsked),
                };
                let attempt = state.identify_attempts.saturating_add(1);
                match lookup {
                    Some(lookup) => {
                        events.extend(crm_event(Question::Identifier, Answer::of_lookup(&lookup), crm));
                        tracing::info!(entry = ?entry, lookup = lookup_kind(&lookup), attempt, "identifier entered");
                        Input::Identifier { entry, lookup }
                    }
                    None => {
                        events.push(not_asked(Question::Identifier, NotAsked::Throttled));
                        tracing::info!(entry = ?entry, lookup = "throttled", attempt, "identifier entered");
                        Input::Throttled { keyed: true }
                    }
                }
            }
            Stage::Verify => {
                let verification = match (&entry, &state.customer) {
                    (Entry::Digits(value), Some(c)) => {
                        let verification;
                        (verification, crm) = self.verify(line, &c.id, &Secret::new(value.as_str())).await;
                        verification
                    }
                    _ => Verification::NotAsked,
                };
                match Answer::of_verification(verification) {
                    Some(Ok(answer)) => events.extend(crm_event(Question::Verify, Some(answer), crm)),
                    Some(Err(why)) => events.push(not_asked(Question::Verify, why)),
                    None => {}
                }
                tracing::info!(entry = ?entry, verification = ?verification, attempt = state.verify_attempts + 1, "factor entered");
                Input::Factor { entry, verification }
            }
        };
        let reply = flow::step(&line.rules, state, input)?;
        Ok(Turn { crm, ..self.turn(line, reply, &hook.call_sid, false, events) })
    }

    /// The TwiML for `turn`, on the claim `ticket` holds. Keeps the
    /// record's change and stores the answer with the claim; returns the
    /// answer to send (another copy's, should one have answered first).
    pub async fn answer(&self, hook: &Webhook, ticket: Ticket, turn: Turn<'_>) -> AnswerBody {
        let body =
            render::document(turn.line, &turn.preface, &turn.then, &self.links(&hook.call_sid, turn.now)).render();
        self.metrics.count(&turn);
        // The record and the stored answer, side by side: neither waits for
        // the other's database round trip.
        let (_, sent) = tokio::join!(self.keep_record(hook, &turn), self.claims.settle(ticket, body));
        sent
    }

    /// Applies `turn`'s change to the call's record: a new one at the first
    /// webhook, else this instance's copy, if any.
    ///
    /// Nothing is read from the database, so no webhook waits for it here.
    /// A first webhook runs once per call (its `start:` claim, decided by
    /// the store), and every write is merged field by field into the stored
    /// row, each field only moving forward: a step taken on another
    /// instance, or a first webhook run again after its claim lapsed, can
    /// never undo what the record already says.
    async fn keep_record(&self, hook: &Webhook, turn: &Turn<'_>) {
        let known = match turn.first {
            true => None,
            false => self.store.local(hook.call_sid.as_str()).await,
        };
        let mut record = known.unwrap_or_else(|| {
            let mut r = CallRecord::new(hook.call_sid.as_str(), &turn.line.name, hook.caller_masked.clone(), turn.now);
            r.stir_verstat.clone_from(&hook.stir_verstat);
            r
        });
        record.apply(&turn.change, turn.now);
        if let Some(ask) = turn.crm {
            record.asked_crm(ask);
        }
        record.add_events(&turn.events);
        self.store.put(record).await;
    }

    /// The attributes the call's record keeps for `customer_id`: the flow
    /// state carries the customer's id and name but never their attributes,
    /// so a step after the one that identified them reads them back here
    /// (this instance's copy, else the database, briefly). Unknown: none.
    async fn attributes_on_record(&self, call_sid: &CallSid, customer_id: &str) -> Vec<(String, String)> {
        let sid = call_sid.as_str();
        let theirs = |r: &CallRecord| r.customer_id.as_deref() == Some(customer_id);
        // Only a step on another instance than the last (or after this
        // copy expired) asks the database.
        if let Some(r) = self.store.local(sid).await.filter(theirs) {
            return r.attributes;
        }
        self.store
            .get_within(sid, ATTRIBUTES_READ_TIMEOUT)
            .await
            .filter(theirs)
            .map(|r| r.attributes)
            .unwrap_or_default()
    }

    /// The context a call was handed on with, and its line, from its record.
    /// A call Vouch no longer knows (expired, or never seen) is treated as
    /// not identified, on `line` or the default line.
    pub async fn handed_on<'a>(&'a self, call_sid: &CallSid, line: Option<&'a Line>) -> (HandoffContext, &'a Line) {
        let record = self.store.get(call_sid.as_str()).await;
        let line = line
            .or_else(|| record.as_ref().and_then(|r| self.config.lines.get(&r.service_line)))
            .unwrap_or_else(|| self.config.lines.default());
        let context = match record {
            Some(r) => r.context(),
            None => {
                tracing::warn!("no record of this call: handing on as not identified");
                HandoffContext::unidentified(&line.name)
            }
        };
        (context, line)
    }

    /// Notes that a `dial` hand-off nobody answered put the call in
    /// `queue` (its fallback), when that queue is a plain one.
    pub async fn note_fallback(&self, call_sid: &CallSid, queue: &crate::config::Handoff) {
        if let Some(name) = turn::placement(queue).queue {
            self.store.note_queue(call_sid.as_str(), &name).await;
        }
    }

    /// Notes where a handed-off call is with the agents.
    pub async fn note_agent_state(&self, call_sid: &CallSid, state: crate::store::AgentState) {
        self.store.note_agent_state(call_sid.as_str(), state, now()).await;
    }

    /// The URLs and signed links a handoff of `call_sid` carries, as of `now`.
    pub fn links<'a>(&'a self, call_sid: &'a CallSid, now: u64) -> Links<'a> {
        Links {
            urls: &self.urls,
            call_sid: call_sid.as_str(),
            now,
            screen_pops: &self.signers.screen_pops,
            tokens: &self.signers.tokens,
        }
    }

    /// A CRM lookup bounded by the webhook deadline, whatever the CRM does
    /// (past it, failed), noted in `asked` as the step's CRM question.
    async fn lookup(&self, fut: impl Future<Output = Lookup>, asked: &mut Option<CrmAsk>) -> Lookup {
        let started = std::time::Instant::now();
        let lookup = match crate::clock::within(self.config.server.webhook_deadline, fut).await {
            Some(lookup) => lookup,
            None => {
                tracing::warn!("CRM call exceeded the webhook deadline");
                Lookup::Failed
            }
        };
        *asked = Some(CrmAsk { wait: started.elapsed(), failed: matches!(lookup, Lookup::Failed) });
        lookup
    }
}

/// The timeline's event for a CRM question answered now, when it was asked.
fn crm_event(question: Question, answer: Option<Answer>, asked: Option<CrmAsk>) -> Option<Event> {
    let (answer, asked) = (answer?, asked?);
    let ms = u64::try_from(asked.wait.as_millis()).unwrap_or(u64::MAX);
    Some(Event { at: now_ms(), what: What::Crm { question, answer, ms } })
}

/// The timeline's event for a question not put to the CRM.
fn not_asked(question: Question, why: NotAsked) -> Event {
    Event { at: now_ms(), what: What::NotAsked { question, why } }
}

fn lookup_kind(l: &Lookup) -> &'static str {
    match l {
        Lookup::NotAsked => "not_asked",
        Lookup::Found(_) => "found",
        Lookup::NotFound => "not_found",
        Lookup::Ambiguous => "ambiguous",
        Lookup::Failed => "failed",
    }
}
