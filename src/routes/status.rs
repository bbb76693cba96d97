//! `POST /status`: Twilio's call status callback (set it as the number's
//! "Call status changes" URL). It completes the call's record with the
//! final `CallStatus` and `CallDuration`; a caller who hung up while still
//! in the IVR is recorded as `abandoned`. Callbacks may arrive out of order
//! or twice ([`CallRecord::apply_status`] sorts that out). A callback for a
//! call Vouch has no record of (never seen, or seen by another deployment)
//! is logged and otherwise ignored: a record is only ever created by the
//! call's first webhook, so it always names its line.

use super::{refusal, twiml, AppState};
use crate::store::CallRecord;
use crate::twilio::params::CallStatus;
use crate::twilio::twiml::Response;
use crate::twilio::webhook::Webhook;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub async fn status(state: web::Data<AppState>, hook: Webhook) -> HttpResponse {
    let status = match &hook.call_status {
        Some(known) if !matches!(known, CallStatus::Unknown(_)) => known.as_str(),
        other => {
            let raw = other.as_ref().map_or("", CallStatus::as_str);
            tracing::warn!(call_status = %raw, "status callback with a missing or unknown CallStatus");
            return refusal(StatusCode::BAD_REQUEST, &"missing or unknown CallStatus");
        }
    };
    let (sequence, duration) = (hook.sequence, hook.duration_secs);
    match state.store.get(hook.call_sid.as_str()).await {
        Some(mut record) => {
            if record.apply_status(status, sequence, duration, crate::clock::now()) {
                log_status(&record);
                state.store.put(record).await;
            } else {
                tracing::debug!(call_status = status, sequence, "stale or repeated status callback: ignored");
            }
        }
        None => tracing::info!(call_status = status, "status callback for a call with no record: ignored"),
    }
    twiml(Response::new().render())
}

fn log_status(r: &CallRecord) {
    if r.ended_at.is_some() {
        tracing::info!(
            call_status = r.call_status.as_deref().unwrap_or(""),
            duration_secs = r.call_duration,
            outcome = ?r.outcome,
            "call ended"
        );
    } else {
        tracing::debug!(call_status = r.call_status.as_deref().unwrap_or(""), "call status");
    }
}
