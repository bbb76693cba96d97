//! The voice webhooks: the call's first request, and each entry after a
//! Gather. Each handler parses, asks the CRM the one question the step needs,
//! runs the pure flow, records the result and renders TwiML.

use super::{defence, now, AppState};
use crate::config::{Handoff, Line, Secret};
use crate::flow::{
    self, phone::mask, Attestation, CallerNumber, Entry, Input, Lookup, Outcome, Reply, Stage, Verification,
};
use crate::ivr;
use crate::store::{CallRecord, RecordOutcome};
use crate::twilio::webhook::Webhook;
use actix_web::{web, HttpResponse};
use std::future::Future;

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error("unknown service line {0:?}")]
    UnknownLine(String),
    #[error("unknown step {0:?}")]
    UnknownStage(String),
    #[error("missing state parameter")]
    MissingState,
    #[error("{0}")]
    State(#[from] crate::keyring::flow_state::StateError),
    #[error("{0}")]
    Flow(#[from] flow::FlowError),
}

impl actix_web::ResponseError for StepError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Self::UnknownLine(_) | Self::UnknownStage(_) => actix_web::http::StatusCode::NOT_FOUND,
            _ => actix_web::http::StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("text/plain; charset=utf-8").body(format!("{self}\n"))
    }
}

/// `POST /voice`: the line is the one claiming the dialled number.
pub async fn start(state: web::Data<AppState>, hook: Webhook) -> HttpResponse {
    let to = hook.params.get("To");
    let (line, fallback) = state.config.lines.for_number(to);
    if fallback {
        tracing::info!(to = %mask(to.unwrap_or("")), line = %line.name, "no line claims this number: using the default line");
    }
    begin(&state, line, &hook).await
}

/// `POST /voice/{line}`.
pub async fn start_on_line(state: web::Data<AppState>, path: web::Path<String>, hook: Webhook) -> HttpResponse {
    let line = match state.config.lines.get(&path) {
        Some(line) => line,
        None => {
            let line = state.config.lines.default();
            tracing::warn!(requested = %path.as_str(), line = %line.name, "unknown line in the Voice URL: using the default line");
            line
        }
    };
    begin(&state, line, &hook).await
}

/// Twilio retries a request (with the same `I-Twilio-Idempotency-Token`)
/// when the answer was slow or lost: it gets the answer already given, so
/// the CRM is not asked again and no try is counted twice.
async fn answered_before(state: &AppState, hook: &Webhook) -> Option<HttpResponse> {
    let key = format!("{}:{}", hook.call_sid, hook.idempotency_token.as_deref()?);
    let body = state.answered.get(&key).await?;
    tracing::info!("a retried webhook: answering as before");
    Some(HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body))
}

async fn begin(state: &AppState, line: &Line, hook: &Webhook) -> HttpResponse {
    if let Some(again) = answered_before(state, hook).await {
        return again;
    }
    let caller = CallerNumber::parse(hook.params.get("From"));
    let attestation = Attestation::parse(hook.params.get("StirVerstat"));
    let input = if defence::throttled(state, &caller).await {
        Input::Throttled
    } else {
        let ani = match line.rules.lookup_number(&caller, attestation) {
            Some(number) => within_deadline(state, state.crm.find_by_phone(number), Lookup::Failed).await,
            None => Lookup::NotAsked,
        };
        tracing::info!(line = %line.name, caller = %mask(hook.params.get("From").unwrap_or("")), ani = lookup_kind(&ani), "call started");
        Input::Start { ani }
    };
    let reply = match flow::step(&line.rules, line.rules.fresh_state(attestation), input) {
        Ok(r) => r,
        // Unreachable: a fresh state always matches its own line.
        Err(e) => return actix_web::ResponseError::error_response(&StepError::Flow(e)),
    };
    let mut record = CallRecord::new(&hook.call_sid, &line.name, mask(hook.params.get("From").unwrap_or("")), now());
    record.stir_verstat = hook.params.get("StirVerstat").map(str::to_string);
    respond(state, line, hook, reply, record).await
}

/// `POST /voice/{line}/{identify|verify}?state=…`.
pub async fn entry(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    hook: Webhook,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(again) = answered_before(&state, &hook).await {
        return Ok(again);
    }
    let (line_name, stage_name) = path.into_inner();
    let line = state.config.lines.get(&line_name).ok_or_else(|| StepError::UnknownLine(line_name.clone()))?;
    let stage = match stage_name.as_str() {
        "identify" => Stage::Identify,
        "verify" => Stage::Verify,
        other => return Err(StepError::UnknownStage(other.to_string()).into()),
    };
    let token = hook.query.get("state").ok_or(StepError::MissingState)?;
    let flow_state = state.signer.open(token, &hook.call_sid, now()).map_err(|e| {
        tracing::warn!(error = %e, "flow state refused");
        StepError::State(e)
    })?;
    if flow_state.stage != stage {
        return Err(StepError::Flow(flow::FlowError::WrongStage(stage.as_str())).into());
    }
    let digits = hook.params.get("Digits");
    let input = match stage {
        Stage::Identify => {
            let entry = Entry::classify(digits, &line.rules.identifier);
            let lookup = match &entry {
                Entry::Digits(id) => within_deadline(&state, state.crm.find_by_id(id), Lookup::Failed).await,
                _ => Lookup::NotAsked,
            };
            tracing::info!(entry = ?entry, lookup = lookup_kind(&lookup), attempt = flow_state.identify_attempts + 1, "identifier entered");
            if lookup == Lookup::NotFound {
                defence::note_unknown_id(&state, &CallerNumber::parse(hook.params.get("From"))).await;
            }
            Input::Identifier { entry, lookup }
        }
        Stage::Verify => {
            let rules = line.rules.verification.as_ref().unwrap_or(&line.rules.identifier);
            let entry = Entry::classify(digits, rules);
            let verification = match (&entry, &flow_state.customer) {
                (Entry::Digits(value), Some(c)) => {
                    let secret = Secret::new(value.as_str());
                    defence::verify(&state, &c.id, &line.factor, &secret).await
                }
                _ => Verification::NotAsked,
            };
            tracing::info!(entry = ?entry, verification = ?verification, attempt = flow_state.verify_attempts + 1, "factor entered");
            Input::Factor { entry, verification }
        }
    };
    let reply = flow::step(&line.rules, flow_state, input).map_err(StepError::Flow)?;
    let record = match state.store.get(&hook.call_sid).await {
        Some(r) => r,
        None => CallRecord::new(&hook.call_sid, &line.name, mask(hook.params.get("From").unwrap_or("")), now()),
    };
    Ok(respond(&state, line, &hook, reply, record).await)
}

async fn respond(state: &AppState, line: &Line, hook: &Webhook, reply: Reply, mut record: CallRecord) -> HttpResponse {
    let now = now();
    record.updated_at = now;
    match &reply {
        Reply::Ask { state: s, .. } => {
            record.identify_attempts = s.identify_attempts;
            record.verify_attempts = s.verify_attempts;
            record.lockout = s.lockout;
            if let Some(c) = &s.customer {
                record.customer_id = Some(c.id.clone());
                record.customer_name = Some(c.name.clone());
                record.reached(flow::IdvStatus::Identified, now);
                record.idv_method = s.method;
            }
        }
        Reply::Handoff { context, outcome, identify_attempts, verify_attempts, to, .. } => {
            record.identify_attempts = *identify_attempts;
            record.verify_attempts = *verify_attempts;
            let handoff = match to {
                flow::Destination::Next => &line.next,
                flow::Destination::Agent => &line.agent,
                flow::Destination::OptOut => &line.opt_out,
            };
            let outcome = match outcome {
                Outcome::OptedOut => RecordOutcome::OptedOut,
                Outcome::CrmUnavailable => RecordOutcome::CrmUnavailable,
                Outcome::Agent => RecordOutcome::Agent,
                Outcome::Completed => match handoff {
                    Handoff::Redirect { .. } => RecordOutcome::SelfService,
                    Handoff::Enqueue { .. } | Handoff::Dial { .. } => RecordOutcome::Agent,
                },
            };
            record.finish(context, outcome, now);
            tracing::info!(
                status = context.idv_status.as_str(),
                method = context.idv_method.as_str(),
                customer = %mask(context.customer_id.as_deref().unwrap_or("")),
                outcome = ?outcome,
                "call handed on"
            );
        }
    }
    state.store.put(record).await;
    let urls = state.urls(&hook.call_sid);
    let doc = ivr::render(line, &reply, &urls, |s| state.signer.seal(s, &hook.call_sid, now));
    let body = doc.render();
    if let Some(token) = &hook.idempotency_token {
        state.answered.insert(format!("{}:{token}", hook.call_sid), body.clone()).await;
    }
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
}

/// Bounds a CRM call by the webhook deadline, whatever the client does.
pub(super) async fn within_deadline<T>(state: &AppState, fut: impl Future<Output = T>, on_timeout: T) -> T {
    match tokio::time::timeout(state.config.server.webhook_deadline, fut).await {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!("CRM call exceeded the webhook deadline");
            on_timeout
        }
    }
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
