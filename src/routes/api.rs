//! The call API: a call's context as JSON, for the admin token
//! (`VOUCH_ADMIN_TOKEN`), an API token, or a logged-in agent or supervisor.

use super::agent::Authenticated;
use super::AppState;
use crate::audit::{Action, Actor, Target};
use crate::call::CallService;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// `GET /api/calls/{CallSid}`: the call's record. Its `timeline` (each
/// step, with its time) is for supervisors and the admin token only.
pub async fn call(state: web::Data<AppState>, who: Authenticated, sid: web::Path<String>) -> HttpResponse {
    let Some(record) = state.store.get(&sid).await else {
        return HttpResponse::NotFound().json(serde_json::json!({ "error": "no such call" }));
    };
    let handed_off = record.handed_off_at.is_some();
    let mut body = serde_json::to_value(record).unwrap_or_default();
    if let (Some(fields), false) = (body.as_object_mut(), who.0.role == crate::config::Role::Supervisor) {
        fields.remove("timeline");
    }
    // A handed-off call's screen pop, signed as the hand-off signs it: a
    // plain <Enqueue> has no way to carry it to an agent, so this is
    // where to find it.
    if let (true, Some(fields)) = (handed_off, body.as_object_mut()) {
        let link = state.links.sign(&crate::paths::screen_pop(&sid), crate::clock::now());
        let url = crate::paths::Urls::new(state.config.server.public_url.as_str()).absolute(&link);
        fields.insert("screen_pop_url".into(), serde_json::Value::String(url));
    }
    HttpResponse::Ok().json(body)
}

/// Only supervisors (and the admin token) may see or lift lockouts, or erase.
fn refused_unless_supervisor(who: &Authenticated) -> Option<HttpResponse> {
    (who.0.role != crate::config::Role::Supervisor)
        .then(|| HttpResponse::Forbidden().json(serde_json::json!({ "error": "this needs the supervisor role" })))
}

fn counters_unavailable(e: crate::store::guard::GuardError) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(serde_json::json!({ "error": e.to_string() }))
}

/// `GET /api/lockouts/{customer_id}`: failed verifications in the window.
pub async fn lockout(
    state: web::Data<AppState>,
    calls: web::Data<CallService>,
    who: Authenticated,
    id: web::Path<String>,
) -> HttpResponse {
    if let Some(refused) = refused_unless_supervisor(&who) {
        return refused;
    }
    let (failures, locked) = calls.lockout_status(&id).await;
    HttpResponse::Ok().json(serde_json::json!({
        "customer_id": id.as_str(),
        "failures": failures,
        "locked": locked,
        "limit": state.config.security.lockout_failures,
        "window_secs": state.config.security.lockout_window.as_secs(),
    }))
}

/// `DELETE /api/lockouts/{customer_id}`: lifts the lockout now.
/// Audited: who lifted it, the customer as a keyed hash.
pub async fn unlock(
    state: web::Data<AppState>,
    calls: web::Data<CallService>,
    who: Authenticated,
    id: web::Path<String>,
) -> HttpResponse {
    if let Some(refused) = refused_unless_supervisor(&who) {
        return refused;
    }
    match calls.unlock(&id).await {
        Ok(()) => {
            let actor = Actor::of(&who.0);
            // Logged (as an error) when it cannot be stored; the lockout is lifted either way.
            let audited =
                state.audit.record_now(&actor, Action::LockoutLifted, Target::Customer(&id), json!({})).await.is_ok();
            tracing::info!(customer = %crate::flow::phone::mask(&id), by = %who.0.name, "lockout lifted");
            HttpResponse::Ok().json(json!({ "customer_id": id.as_str(), "locked": false, "audited": audited }))
        }
        Err(e) => counters_unavailable(e),
    }
}

// Erasure.

/// Refuses a customer id no CRM would have given: empty, absurdly long, or
/// with control characters.
fn refused_customer_id(raw: &str) -> Option<HttpResponse> {
    (!crate::flow::Customer::plausible_id(raw))
        .then(|| HttpResponse::BadRequest().json(serde_json::json!({ "error": "not a customer id" })))
}

/// `DELETE /api/customers/{customer_id}/records` (supervisors only): erases
/// the customer's call records, their lockout counter and the recordings
/// (`--record-dir`) of their calls. Answers what was removed; erasing again
/// (or an unknown customer) removes nothing and says so.
pub async fn erase_customer(state: web::Data<AppState>, who: Authenticated, id: web::Path<String>) -> HttpResponse {
    if let Some(refused) = refused_unless_supervisor(&who) {
        return refused;
    }
    if let Some(refused) = refused_customer_id(&id) {
        return refused;
    }
    let id = id.as_str();
    let unavailable = |e: crate::store::EraseError| {
        tracing::warn!(error = %e, "erasure not done");
        HttpResponse::ServiceUnavailable().json(serde_json::json!({ "error": e.to_string() }))
    };
    // Recordings first: once the records are gone, nothing names their calls.
    let known = match state.store.calls_of_customer(id).await {
        Ok(sids) => sids,
        Err(e) => return unavailable(e),
    };
    let dir = state.config.server.record_dir.clone();
    let mut files = match remove_recordings(dir.clone(), known.iter().cloned().collect()).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "erasure not done: the recordings could not be removed");
            return HttpResponse::InternalServerError()
                .json(serde_json::json!({ "error": format!("the recordings could not be removed: {e}") }));
        }
    };
    let erased = match state.store.erase_customer(id, &known).await {
        Ok(erased) => erased,
        Err(e) => return unavailable(e),
    };
    // Calls that came to light during the erasure.
    let later: Vec<String> = erased.call_sids.iter().filter(|s| !known.contains(*s)).cloned().collect();
    match remove_recordings(dir, later).await {
        Ok(n) => files += n,
        Err(e) => tracing::error!(error = %e, "the recordings of a call found during the erasure were not removed"),
    }
    let records = erased.call_sids.len();
    // Every stored call list that lists these calls, rewritten without them.
    let report_files = match erase_from_call_lists(&state, &erased.call_sids).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "erasure not finished: the stored call lists could not be rewritten");
            return HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "error": format!("the records are erased, the stored call lists are not (try again): {e}")
            }));
        }
    };
    // Audited with the customer as a keyed hash (the id itself is gone).
    let detail =
        json!({ "records": records, "counters": erased.counters, "files": files, "report_files": report_files });
    let audited =
        state.audit.record_now(&Actor::of(&who.0), Action::Erasure, Target::Customer(id), detail).await.is_ok();
    tracing::info!(
        by = %who.0.name,
        customer = %state.audit.target(Target::Customer(id)),
        records,
        counters = erased.counters,
        files,
        report_files,
        audited,
        "customer records erased"
    );
    HttpResponse::Ok().json(serde_json::json!({
        "records": records,
        "counters": erased.counters,
        "files": files,
        "report_files": report_files,
    }))
}

/// Rewrites the stored call lists that list `call_sids` without them, and
/// their copies in their schedule's directory; how many files.
async fn erase_from_call_lists(state: &AppState, call_sids: &[String]) -> Result<usize, sqlx::Error> {
    let Some(db) = state.store.db() else { return Ok(0) };
    let rewritten = db.erase_calls_from_files(call_sids).await?;
    for (file, body) in &rewritten {
        let schedule = state.config.reports.schedules.iter().find(|s| s.name == file.schedule);
        let Some(dir) = schedule.and_then(|s| s.directory.as_deref()) else { continue };
        if dir.join(&file.name).is_file() {
            if let Err(e) = crate::report::schedule::write_file(dir, &file.name, body) {
                tracing::error!(file = %file.name, error = %e, "a call list's copy in its directory was not rewritten");
            }
        }
    }
    Ok(rewritten.len())
}

/// Deletes the recordings of `call_sids`, if recordings are made at all.
async fn remove_recordings(dir: Option<std::path::PathBuf>, call_sids: Vec<String>) -> std::io::Result<usize> {
    let Some(dir) = dir else { return Ok(0) };
    if call_sids.is_empty() {
        return Ok(0);
    }
    tokio::task::spawn_blocking(move || crate::recording::remove_calls(&dir, &call_sids))
        .await
        .map_err(std::io::Error::other)?
}

/// Any other method on an erasure path.
pub async fn only_delete() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "DELETE"))
        .json(serde_json::json!({ "error": "only DELETE erases a customer's records" }))
}
