//! The routes handoffs point Twilio at: the hold document and its music,
//! the whisper an answering agent hears, the `<Queue url>` document for
//! plain queues, and the `<Dial action>` that falls back to a queue when no
//! agent answers. Each reads the call's record; none can strand a caller.

use super::{refusal, twiml};
use crate::call::CallService;
use crate::config::Line;
use crate::flow::Prompt;
use crate::handoff::{self, whisper};
use crate::paths::Route;
use crate::render;
use crate::store::AgentState;
use crate::twilio::params::{CallSid, Related};
use crate::twilio::twiml::{Response, Speak, Verb};
use crate::twilio::webhook::Webhook;
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
        refusal(self.status_code(), self)
    }
}

fn say(line: &Line, text: String) -> Verb {
    Verb::Speak(Speak::Say { text, voice: line.voice.clone(), language: line.language.clone() })
}

/// `POST /hold`, an `<Enqueue waitUrl>`: the hold message, then the music
/// three times; Twilio requests it again each time it ends.
pub async fn hold(calls: web::Data<CallService>, hook: Webhook) -> HttpResponse {
    calls.note_agent_state(&hook.call_sid, AgentState::Waiting).await;
    let (_, line) = calls.handed_on(&hook.call_sid, None).await;
    let mut doc = render::saying(line, &[Prompt::Hold]);
    let music = calls.urls().of(Route::HoldAudio);
    doc.push(Verb::Speak(Speak::Play { url: music, loops: Some(3) }));
    twiml(doc.render())
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
    calls: web::Data<CallService>,
    path: web::Path<String>,
    hook: Webhook,
) -> Result<HttpResponse, actix_web::Error> {
    let caller = CallSid::parse(&path).ok_or(HandoffError::BadCallSid)?;
    let same_call = match &hook.parent_call_sid {
        Related::Absent => true,
        Related::Call(parent) => *parent == caller,
        Related::Malformed => false,
    };
    if !same_call {
        tracing::warn!(caller = %caller, "whisper requested by a leg of another call");
        return Err(HandoffError::OtherCall.into());
    }
    calls.note_agent_state(&caller, AgentState::WithAgent).await;
    let (context, line) = calls.handed_on(&caller, None).await;
    tracing::info!(caller = %caller, status = context.idv_status.as_str(), "agent whispered");
    let mut doc = Response::new();
    doc.push(say(line, whisper::text(&handoff::shared(line, &context), &line.identifier_name)));
    Ok(twiml(doc.render()))
}

/// `POST /queue/connect`, for agents who dequeue a plain queue with
/// `<Dial><Queue url>`. Twilio runs this document on the dequeued *caller's*
/// leg (its CallSid is the caller's, `DequeingCallSid` the agent's), so it
/// tells the caller they are through and says nothing about who they are:
/// on a plain queue only the agent's screen pop can show that.
pub async fn queue_connect(calls: web::Data<CallService>, hook: Webhook) -> HttpResponse {
    calls.note_agent_state(&hook.call_sid, AgentState::WithAgent).await;
    let (context, line) = calls.handed_on(&hook.call_sid, None).await;
    let agent = hook.dequeuing_call_sid.as_ref().map_or("unknown", CallSid::as_str);
    tracing::info!(agent_call_sid = %agent, status = context.idv_status.as_str(), "caller dequeued by an agent");
    twiml(render::saying(line, &[Prompt::Connecting]).render())
}

/// `POST /voice/{line}/dialed`, the `<Dial action>`: after a bridged call,
/// hang up; when the agent did not answer (busy, no answer, failed), put
/// the caller in the line's queue with their context, never a dead line.
pub async fn dialed(calls: &CallService, line: &str, hook: Webhook) -> Result<HttpResponse, actix_web::Error> {
    let line = calls.line(line).ok_or_else(|| HandoffError::UnknownLine(line.to_string()))?;
    let status = hook.dial_status.as_ref().map_or("", |s| s.as_str());
    if hook.dial_status.as_ref().is_some_and(|s| s.answered()) {
        calls.note_agent_state(&hook.call_sid, AgentState::WithAgent).await;
        tracing::info!(dial_status = status, "agent call ended");
        let mut doc = Response::new();
        doc.push(Verb::Hangup);
        return Ok(twiml(doc.render()));
    }
    let (context, line) = calls.handed_on(&hook.call_sid, Some(line)).await;
    tracing::info!(dial_status = status, "agent did not answer: falling back to the queue");
    let mut doc = render::saying(line, &[Prompt::AgentUnavailable]);
    let links = calls.links(&hook.call_sid, crate::clock::now());
    let queue = line.fallback_queue();
    doc.push(handoff::verb(line, &queue, &context, &links));
    calls.note_fallback(&hook.call_sid, &queue).await;
    Ok(twiml(doc.render()))
}
