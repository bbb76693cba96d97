//! `GET /metrics`: the call store's write counters, the enumeration
//! throttle's counts, refused webhooks, calls by line, outcome and ID&V
//! result, and the CRM's requests and cache, in Prometheus' text format, behind the same
//! credentials as `/api` (the admin token, an API token or a login)
//! (Prometheus sends it with `authorization: { credentials: … }`). Counts
//! only, no call data; no number in a label.

use super::agent::Authenticated;
use super::AppState;
use crate::call::CallService;
use crate::crm::CrmMetrics;
use crate::store::guard::Enumerator;
use crate::twilio::webhook::WebhookAuth;
use actix_web::{web, HttpResponse};
use std::fmt::Write as _;

pub async fn metrics(
    state: web::Data<AppState>,
    crm: Option<web::Data<CrmMetrics>>,
    calls: Option<web::Data<CallService>>,
    webhooks: Option<web::Data<WebhookAuth>>,
    _who: Authenticated,
) -> HttpResponse {
    let stats = state.store.stats();
    let s = stats.unwrap_or_default();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
    };
    metric(
        "vouch_store_durable",
        "gauge",
        "1 when call records go to a database, 0 when they are kept in memory only.",
        u64::from(stats.is_some()),
    );
    metric("vouch_store_records_written_total", "counter", "Call records written to the database.", s.written);
    metric(
        "vouch_store_write_retries_total",
        "counter",
        "Database writes that failed and were retried (the records stayed buffered).",
        s.retried,
    );
    metric(
        "vouch_store_records_dropped_total",
        "counter",
        "Call record writes lost: the write buffer was full, the database refused them, or shutdown came first.",
        s.dropped,
    );
    metric(
        "vouch_store_writes_superseded_total",
        "counter",
        "Call record writes partly behind the stored row (a stale copy, or an older status callback): the newer stored values were kept (logged at WARN).",
        s.superseded,
    );
    metric("vouch_store_buffer_depth", "gauge", "Call records waiting to be written.", s.depth as u64);
    metric("vouch_store_buffer_capacity", "gauge", "The write buffer's capacity.", s.capacity as u64);
    metric(
        "vouch_store_database_up",
        "gauge",
        "0 while database writes are failing, else 1 (0 without a database).",
        u64::from(stats.is_some() && !s.failing),
    );
    let guard = state.store.guard();
    let name = "vouch_enumeration_throttled_total";
    let _ = write!(
        out,
        "# HELP {name} Calls the enumeration throttle sent straight to an agent, by whose unknown identifiers were counted: \
         one caller number, or every withheld or unusable caller ID on a line together.\n# TYPE {name} counter\n"
    );
    for by in [Enumerator::Caller, Enumerator::Withheld] {
        let _ = writeln!(out, "{name}{{subject=\"{}\"}} {}", by.label(), guard.throttled_total(by));
    }
    if let Some(webhooks) = webhooks {
        let name = "vouch_webhooks_refused_total";
        let _ = write!(
            out,
            "# HELP {name} Webhooks refused before any step ran (403 or 4xx), by reason: no X-Twilio-Signature, \
             a signature that does not match, or a malformed request.\n# TYPE {name} counter\n"
        );
        for (reason, n) in webhooks.refusals() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
    }
    if let Some(calls) = calls {
        calls.metrics().render(&mut out);
    }
    if let Some(crm) = crm {
        crm.render(&mut out);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out)
}
