//! `POST /status`: Twilio's call status callback (set it as the number's
//! "Call status changes" URL). It completes the call's record with the
//! final `CallStatus` and `CallDuration`; a caller who hung up while still
//! in the IVR is recorded as `abandoned`. Callbacks may arrive out of order
//! or twice ([`CallRecord::apply_status`] sorts that out). A callback for a
//! call Vouch has no record of (never seen, or seen by another deployment)
//! is logged and otherwise ignored: a record is only ever created by the
//! call's first webhook, so it always names its line.

use super::{now, twiml, AppState};
use crate::store::CallRecord;
use crate::twilio::twiml::Response;
use crate::twilio::webhook::Webhook;
use actix_web::{web, HttpResponse};

/// Every `CallStatus` Twilio sends.
const KNOWN: [&str; 9] =
    ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"];

pub async fn status(state: web::Data<AppState>, hook: Webhook) -> HttpResponse {
    let status = hook.params.get("CallStatus").map(str::trim).unwrap_or("");
    if !KNOWN.contains(&status) {
        tracing::warn!(call_status = %status.chars().take(32).collect::<String>(), "status callback with a missing or unknown CallStatus");
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("missing or unknown CallStatus\n");
    }
    let number = |name: &str| hook.params.get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let (sequence, duration) = (number("SequenceNumber"), number("CallDuration"));
    match state.store.get(&hook.call_sid).await {
        Some(mut record) => {
            if record.apply_status(status, sequence, duration, now()) {
                log_status(&record);
                state.store.put(record).await;
            } else {
                tracing::debug!(call_status = status, sequence, "stale or repeated status callback: ignored");
            }
        }
        None => tracing::info!(call_status = status, "status callback for a call with no record: ignored"),
    }
    twiml(&Response::new())
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
