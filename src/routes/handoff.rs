//! The routes handoffs point Twilio at: the hold document and its music,
//! the whisper an answering agent hears, the `<Queue url>` document for
//! plain queues, and the `<Dial action>` that falls back to a queue when no
//! agent answers. Each reads the call's record; none can strand a caller.

use super::{twiml, AppState};
use crate::config::Line;
use crate::flow::{Context, IdvMethod, IdvStatus, Prompt};
use crate::handoff::{self, paths, whisper};
use crate::ivr::prompts;
use crate::twilio::twiml::{Response, Speak, Verb};
use crate::twilio::webhook::{valid_call_sid, Webhook};
use actix_web::{web, HttpResponse};

/// A short, quiet hold tone (8 kHz mono WAV, made by `static/hold.py`).
const HOLD_WAV: &[u8] = include_bytes!("../../static/hold.wav");

#[derive(Debug, thiserror::Error)]
enum HandoffError {
    #[error("unknown service line {0:?}")]
    UnknownLine(String),
    #[error("the path does not name a CallSid (CA + 32 hex)")]
    BadCallSid,
    #[error("ParentCallSid does not match the call in the URL")]
    OtherCall,
}

impl actix_web::ResponseError for HandoffError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Self::UnknownLine(_) => actix_web::http::StatusCode::NOT_FOUND,
            Self::BadCallSid | Self::OtherCall => actix_web::http::StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("text/plain; charset=utf-8").body(format!("{self}\n"))
    }
}

/// The call's handed-on context and line, from its record. A call Vouch no
/// longer knows (expired, or never seen) is treated as not identified.
async fn context_of<'a>(state: &'a AppState, call_sid: &str, line: Option<&'a Line>) -> (Context, &'a Line) {
    let record = state.store.get(call_sid).await;
    let line = line
        .or_else(|| record.as_ref().and_then(|r| state.config.lines.get(&r.service_line)))
        .unwrap_or_else(|| state.config.lines.default());
    let context = match record {
        Some(r) => Context {
            ani_attestation: crate::flow::Attestation::parse(r.stir_verstat.as_deref()),
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            idv_status: r.idv_status,
            idv_method: r.idv_method,
            service_line: r.service_line,
            opted_out: r.opted_out,
            lockout: r.lockout,
        },
        None => {
            tracing::warn!("no record of this call: handing on as not identified");
            Context {
                customer_id: None,
                customer_name: None,
                idv_status: IdvStatus::Unidentified,
                idv_method: IdvMethod::None,
                service_line: line.name.clone(),
                opted_out: false,
                ani_attestation: Default::default(),
                lockout: false,
            }
        }
    };
    (context, line)
}

fn say(line: &Line, text: String) -> Verb {
    Verb::Speak(Speak::Say { text, voice: line.voice.clone(), language: line.language.clone() })
}

/// `POST /hold`, an `<Enqueue waitUrl>`: the hold message, then the music
/// three times; Twilio requests it again each time it ends.
pub async fn hold(state: web::Data<AppState>, hook: Webhook) -> HttpResponse {
    let (_, line) = context_of(&state, &hook.call_sid, None).await;
    let mut doc = Response::new();
    for s in prompts(line, &[Prompt::Hold]) {
        doc.push(Verb::Speak(s));
    }
    let music = format!("{}{}", state.public_base, paths::HOLD_AUDIO);
    doc.push(Verb::Speak(Speak::Play { url: music, loops: Some(3) }));
    twiml(&doc)
}

/// `GET /static/hold.wav`: Twilio fetches `<Play>` media unsigned.
pub async fn hold_audio() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("audio/wav")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(HOLD_WAV)
}

/// `POST /whisper/{CallSid}`, a `<Dial>` noun's `url`: Twilio runs it on
/// the agent's leg once they answer, before bridging. The request's own
/// CallSid is the agent's leg and `ParentCallSid` the caller's; the path
/// names the caller's call, whose record says what to tell the agent.
pub async fn whisper(
    state: web::Data<AppState>,
    path: web::Path<String>,
    hook: Webhook,
) -> Result<HttpResponse, actix_web::Error> {
    let caller = path.into_inner();
    if !valid_call_sid(&caller) {
        return Err(HandoffError::BadCallSid.into());
    }
    if hook.params.get("ParentCallSid").is_some_and(|p| p != caller) {
        tracing::warn!(caller = %caller, "whisper requested by a leg of another call");
        return Err(HandoffError::OtherCall.into());
    }
    let (context, line) = context_of(&state, &caller, None).await;
    tracing::info!(caller = %caller, status = context.idv_status.as_str(), "agent whispered");
    let mut doc = Response::new();
    doc.push(say(line, whisper::text(&context, &line.identifier_name)));
    Ok(twiml(&doc))
}

/// `POST /queue/connect`, for agents who dequeue a plain queue with
/// `<Dial><Queue url>`. Twilio runs this document on the dequeued *caller's*
/// leg (its CallSid is the caller's, `DequeingCallSid` the agent's), so it
/// tells the caller they are through and says nothing about who they are:
/// on a plain queue only the agent's screen pop can show that.
pub async fn queue_connect(state: web::Data<AppState>, hook: Webhook) -> HttpResponse {
    let (context, line) = context_of(&state, &hook.call_sid, None).await;
    let agent = hook.params.get("DequeingCallSid").filter(|s| valid_call_sid(s)).unwrap_or("unknown");
    tracing::info!(agent_call_sid = %agent, status = context.idv_status.as_str(), "caller dequeued by an agent");
    let mut doc = Response::new();
    for s in prompts(line, &[Prompt::Connecting]) {
        doc.push(Verb::Speak(s));
    }
    twiml(&doc)
}

/// `POST /voice/{line}/dialed`, the `<Dial action>`: after a bridged call,
/// hang up; when the agent did not answer (busy, no answer, failed), put
/// the caller in the line's queue with their context, never a dead line.
pub async fn dialed(
    state: web::Data<AppState>,
    path: web::Path<String>,
    hook: Webhook,
) -> Result<HttpResponse, actix_web::Error> {
    let name = path.into_inner();
    let line = state.config.lines.get(&name).ok_or(HandoffError::UnknownLine(name))?;
    let status = hook.params.get("DialCallStatus").unwrap_or("");
    let mut doc = Response::new();
    if matches!(status, "completed" | "answered") {
        tracing::info!(dial_status = status, "agent call ended");
        doc.push(Verb::Hangup);
        return Ok(twiml(&doc));
    }
    let (context, line) = context_of(&state, &hook.call_sid, Some(line)).await;
    tracing::info!(dial_status = status, "agent did not answer: falling back to the queue");
    for s in prompts(line, &[Prompt::AgentUnavailable]) {
        doc.push(Verb::Speak(s));
    }
    doc.push(handoff::verb(&line.name, &line.fallback_queue(), &context, &state.urls(&hook.call_sid)));
    Ok(twiml(&doc))
}
