//! `POST /status`: Twilio's call status callback (set it as the number's
//! "Call status changes" URL). It completes the call's record with the
//! final `CallStatus` and `CallDuration`; a caller who hung up while still
//! in the IVR is recorded as `abandoned`. Callbacks may arrive out of order
//! or twice ([`CallRecord::apply_status`] sorts that out, applied by the
//! store as one write merged into the stored row, so the instance taking
//! the callback needs no fresh copy). A callback for a call with no record
//! yet (it overtook the first webhook's buffered write) is kept as a
//! pending status, never shown, and applied when the record is written.

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
    let now = crate::clock::now();
    // One write, merged into the stored row by the database's rules: no
    // instance's copy of the record is trusted to be fresh.
    match state.store.apply_status(hook.call_sid.as_str(), status, sequence, duration, now).await {
        Some(record) => log_status(&record),
        None => tracing::info!(
            call_status = status,
            sequence,
            "status callback for a call this instance holds no copy of (no record yet, or stepped elsewhere): stored, and merged into its record"
        ),
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
