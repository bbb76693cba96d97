//! The call API: a call's context as JSON, for the admin token
//! (`VOUCH_ADMIN_TOKEN`), an API token, or a logged-in agent or supervisor.

use super::agent::Authenticated;
use super::AppState;
use actix_web::{web, HttpResponse};

pub async fn call(state: web::Data<AppState>, _who: Authenticated, sid: web::Path<String>) -> HttpResponse {
    match state.store.get(&sid).await {
        Some(record) => HttpResponse::Ok().json(record),
        None => HttpResponse::NotFound().json(serde_json::json!({ "error": "no such call" })),
    }
}
