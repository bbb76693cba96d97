//! The voice webhooks: a call's first request, and each entry after a
//! Gather. Each parses the path, hands the verified webhook to the step
//! service, and answers its TwiML; a retried request gets the answer
//! already given.

use super::{refusal, twiml};
use crate::call::{CallService, StepError};
use crate::twilio::webhook::Webhook;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};

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
    if let Some(again) = calls.answered_before(&hook).await {
        return Ok(twiml(again));
    }
    let line = calls.line_for_number(hook.dialled.as_deref());
    let turn = calls.start(line, &hook).await?;
    Ok(twiml(calls.answer(&hook, turn).await))
}

/// `POST /voice/{line}`.
pub async fn start_on_line(
    calls: web::Data<CallService>,
    line: web::Path<String>,
    hook: Webhook,
) -> Result<HttpResponse, StepError> {
    if let Some(again) = calls.answered_before(&hook).await {
        return Ok(twiml(again));
    }
    let turn = calls.start(calls.line_named(&line), &hook).await?;
    Ok(twiml(calls.answer(&hook, turn).await))
}

/// `POST /voice/{line}/{identify|verify}?state=…`.
pub async fn entry(
    calls: web::Data<CallService>,
    path: web::Path<(String, String)>,
    hook: Webhook,
) -> Result<HttpResponse, StepError> {
    if let Some(again) = calls.answered_before(&hook).await {
        return Ok(twiml(again));
    }
    let (line, stage) = calls.entry_point(&path.0, &path.1)?;
    let turn = calls.step(line, stage, &hook).await?;
    Ok(twiml(calls.answer(&hook, turn).await))
}
