//! `GET /api/stats`: how ID&V is doing, for supervisors (and the admin
//! token): per line and over all lines, for calls started in a time range
//! (`from` and `to`, Unix seconds, `to` excluded; by default the last 24
//! hours), the funnel, what fell out of it, containment and time in the
//! IVR, and the calls live now. Counted in the database, so every instance
//! answers the same. Counts only: no customer data.

use super::agent::Authenticated;
use super::AppState;
use crate::config::Role;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// The longest range one request may ask for.
const MAX_RANGE_SECS: u64 = 400 * 86_400;
const DAY_SECS: u64 = 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    from: Option<u64>,
    to: Option<u64>,
}

fn refused(status: actix_web::http::StatusCode, reason: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": reason.to_string() }))
}

pub async fn stats(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    use actix_web::http::StatusCode;
    if who.0.role != Role::Supervisor {
        return refused(StatusCode::FORBIDDEN, "the figures need the supervisor role");
    }
    let q: StatsQuery = match serde_urlencoded::from_str(req.query_string()) {
        Ok(q) => q,
        Err(e) => return refused(StatusCode::BAD_REQUEST, format!("{e} (from and to: Unix seconds)")),
    };
    let now = crate::clock::now();
    let to = q.to.unwrap_or(now + 1);
    let from = q.from.unwrap_or(to.saturating_sub(DAY_SECS));
    if from >= to {
        return refused(StatusCode::BAD_REQUEST, "from must be before to");
    }
    if to - from > MAX_RANGE_SECS {
        return refused(StatusCode::BAD_REQUEST, format!("a range of at most {} days", MAX_RANGE_SECS / DAY_SECS));
    }
    let Some(db) = state.store.db() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the figures are counted in the database: with DATABASE_URL=memory: there is none",
        );
    };
    let lines: Vec<&str> = state.config.lines.iter().map(|l| l.name.as_str()).collect();
    match db.stats(&lines, from, to, now).await {
        Ok(stats) => HttpResponse::Ok().json(stats),
        Err(e) => {
            tracing::warn!(error = %e, "the figures could not be read");
            refused(StatusCode::SERVICE_UNAVAILABLE, "the database did not answer: try again")
        }
    }
}
