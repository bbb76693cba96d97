//! The admin API: a call's context as JSON, behind `VOUCH_ADMIN_TOKEN`.

use super::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

fn unauthorized(reason: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", "Bearer"))
        .json(serde_json::json!({ "error": reason }))
}

/// Checks the admin bearer token: `None` when it is right, else the refusal.
pub(super) fn refusal(state: &AppState, req: &HttpRequest) -> Option<HttpResponse> {
    let Some(expected) = &state.config.secrets.admin_token else {
        return Some(unauthorized("the admin API is disabled: set VOUCH_ADMIN_TOKEN"));
    };
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.trim().as_bytes().ct_eq(expected.expose().as_bytes())) {
        return Some(unauthorized("missing or wrong bearer token"));
    }
    None
}

pub async fn call(state: web::Data<AppState>, req: HttpRequest, sid: web::Path<String>) -> HttpResponse {
    if let Some(refused) = refusal(&state, &req) {
        return refused;
    }
    match state.store.get(&sid).await {
        Some(record) => HttpResponse::Ok().json(record),
        None => HttpResponse::NotFound().json(serde_json::json!({ "error": "no such call" })),
    }
}
