//! The voice webhooks: a call's first request, and each entry after a
//! Gather. Each parses the path, hands the verified webhook to the step
//! service, and answers its TwiML. Each runs once: a retried or replayed
//! request gets the answer already given.

use super::{refusal, twiml};
use crate::call::{CallService, StepError, Turn};
use crate::paths::{self, Recognised, Route};
use crate::store::claims::Claim;
use crate::twilio::webhook::Webhook;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use std::future::Future;

impl ResponseError for StepError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::UnknownLine(_) | Self::UnknownStage(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        refusal(self.status_code(), self)
    }
}

/// `POST /voice`: the line is the one claiming the dialled number.
pub async fn start(calls: web::Data<CallService>, hook: Webhook) -> Result<HttpResponse, StepError> {
    let line = calls.line_for_number(hook.dialled.as_deref());
    once(&calls, &hook, true, Box::pin(calls.start(line, &hook))).await
}

/// Every path under `/voice/`: read back into its route by the path map
/// and handed to that route's handler, without actix's router, which
/// matches a pattern with a `{segment}` through a regex (three of them
/// for an entry, the most frequent webhook after the first). A path no
/// route serves is the router's bare 404, before its body is read.
pub async fn under_voice(
    req: HttpRequest,
    calls: web::Data<CallService>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let found = paths::recognise(req.match_info().as_str());
    let Some(Recognised { route, params }) = found else { return Ok(no_webhook_here()) };
    let hook = Webhook::from_request(&req, &mut payload.into_inner()).await?;
    match (route, params.as_slice()) {
        (Route::VoiceOnLine, [line]) => Ok(start_on_line(&calls, line, hook).await?),
        (Route::Dialed, [line]) => super::handoff::dialed(&calls, line, hook).await,
        (Route::Entry, [line, stage]) => Ok(entry(&calls, line, stage, hook).await?),
        _ => Ok(no_webhook_here()),
    }
}

fn no_webhook_here() -> HttpResponse {
    HttpResponse::NotFound().finish()
}

/// `POST /voice/{line}`.
async fn start_on_line(calls: &CallService, line: &str, hook: Webhook) -> Result<HttpResponse, StepError> {
    once(calls, &hook, true, Box::pin(calls.start(calls.line_named(line), &hook))).await
}

/// `POST /voice/{line}/{identify|verify}?state=…`.
async fn entry(calls: &CallService, line: &str, stage: &str, hook: Webhook) -> Result<HttpResponse, StepError> {
    let (line, stage) = calls.entry_point(line, stage)?;
    once(calls, &hook, false, Box::pin(calls.step(line, stage, &hook))).await
}

/// Runs `step` only if this request is the first to carry its state (a
/// `first` webhook: its CallSid), and answers it; any other copy gets the
/// first one's answer. A refused step gives its claim up.
async fn once<'l>(
    calls: &CallService,
    hook: &Webhook,
    first: bool,
    step: impl Future<Output = Result<Turn<'l>, StepError>>,
) -> Result<HttpResponse, StepError> {
    let ticket = match calls.claim(hook, first).await? {
        Claim::Answered(again) => return Ok(twiml(again.into_bytes())),
        Claim::Ours(ticket) => ticket,
    };
    match step.await {
        Ok(turn) => Ok(twiml(calls.answer(hook, ticket, turn).await.into_bytes())),
        Err(e) => {
            calls.release(ticket).await;
            Err(e)
        }
    }
}
