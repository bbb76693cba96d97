//! The call API: a call's context as JSON, for the admin token
//! (`VOUCH_ADMIN_TOKEN`), an API token, or a logged-in agent or supervisor.

use super::agent::Authenticated;
use super::AppState;
use crate::audit::{Action, Actor, Target};
use crate::call::CallService;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn call(state: web::Data<AppState>, _who: Authenticated, sid: web::Path<String>) -> HttpResponse {
    match state.store.get(&sid).await {
        Some(record) => HttpResponse::Ok().json(record),
        None => HttpResponse::NotFound().json(serde_json::json!({ "error": "no such call" })),
    }
}

/// Only supervisors (and the admin token) may see or lift lockouts.
fn refused_unless_supervisor(who: &Authenticated) -> Option<HttpResponse> {
    (who.0.role != crate::config::Role::Supervisor)
        .then(|| HttpResponse::Forbidden().json(serde_json::json!({ "error": "lockouts need the supervisor role" })))
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
