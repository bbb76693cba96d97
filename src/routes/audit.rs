//! `GET /api/audit`: the audit log, for supervisors (and the admin token),
//! newest first, as JSON or as JSON lines (`?format=jsonl`, or
//! `Accept: application/x-ndjson`) for export.
//!
//! Filters: `action`, `actor`, `customer` (an id: matched by its keyed
//! hash), `call` (a CallSid), `since` and `until` (Unix seconds,
//! inclusive), `limit` (default 100, at most 10 000).

use super::agent::{moment, Authenticated};
use super::AppState;
use crate::audit::{Action, Target};
use crate::config::Role;
use crate::store::audit::{AuditFilter, AuditRow};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    customer: Option<String>,
    call: Option<String>,
    since: Option<u64>,
    until: Option<u64>,
    limit: Option<usize>,
    format: Option<String>,
}

fn bad_request(reason: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "error": reason.to_string() }))
}

/// An entry as the API shows it: the detail as JSON, and the time in words.
fn shown(r: AuditRow, now: u64) -> serde_json::Value {
    let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::String(r.detail));
    serde_json::json!({
        "id": r.id,
        "at": r.at,
        "time": moment(r.at, now).iso,
        "actor": r.actor,
        "action": r.action,
        "target": r.target,
        "detail": detail,
    })
}

pub async fn list(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    if who.0.role != Role::Supervisor {
        return HttpResponse::Forbidden()
            .json(serde_json::json!({ "error": "the audit log needs the supervisor role" }));
    }
    let q: AuditQuery = match serde_urlencoded::from_str(req.query_string()) {
        Ok(q) => q,
        Err(e) => {
            return bad_request(format!(
                "{e} (filters: action, actor, customer, call, since, until, limit, format=json|jsonl)"
            ))
        }
    };
    if let Some(action) = &q.action {
        if !Action::ALL.iter().any(|a| a.as_str() == action) {
            let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            return bad_request(format!("unknown action {action:?}: one of {}", known.join(", ")));
        }
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return bad_request(format!("limit must be 1 to {MAX_LIMIT}"));
    }
    let target = match (&q.customer, &q.call) {
        (Some(_), Some(_)) => return bad_request("filter by customer or by call, not both"),
        (Some(id), None) => Some(state.audit.target(Target::Customer(id))),
        (None, Some(sid)) => Some(state.audit.target(Target::Call(sid))),
        (None, None) => None,
    };
    let accepts_lines =
        req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/x-ndjson"));
    let lines = match q.format.as_deref() {
        Some("jsonl" | "ndjson") => true,
        Some("json") => false,
        Some(other) => return bad_request(format!("unknown format {other:?}: json or jsonl")),
        None => accepts_lines,
    };
    let filter = AuditFilter { action: q.action, actor: q.actor, target, since: q.since, until: q.until, limit };
    let rows = match state.audit.query(&filter).await {
        Ok(rows) => rows,
        Err(e) => return HttpResponse::ServiceUnavailable().json(serde_json::json!({ "error": e.to_string() })),
    };
    let now = crate::clock::now();
    let entries = rows.into_iter().map(|r| shown(r, now));
    if lines {
        let mut body = String::new();
        for e in entries {
            body.push_str(&e.to_string());
            body.push('\n');
        }
        HttpResponse::Ok()
            .content_type("application/x-ndjson")
            .insert_header(("Content-Disposition", "attachment; filename=\"vouch-audit.jsonl\""))
            .insert_header(("Cache-Control", "no-store"))
            .body(body)
    } else {
        let entries: Vec<serde_json::Value> = entries.collect();
        HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(serde_json::json!({ "entries": entries }))
    }
}
