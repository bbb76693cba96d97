//! The HTTP surface: one function builds the route table, shared by the
//! server and the tests.

mod api;
mod demo;
mod health;
mod metrics;
mod status;
mod voice;

use crate::config::Config;
use crate::crm::CrmClient;
use crate::state_token::StateSigner;
use crate::store::CallStore;
use actix_web::web;
use std::sync::Arc;

/// Shared by every handler.
pub struct AppState {
    pub config: Arc<Config>,
    pub crm: CrmClient,
    pub signer: StateSigner,
    pub store: CallStore,
    /// The public base URL, without a trailing slash.
    pub public_base: String,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/api/calls/{call_sid}", web::get().to(api::call))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/status", web::route().to(status::status))
        .route("/demo/self-service", web::route().to(demo::self_service))
        .route("/voice", web::route().to(voice::start))
        .route("/voice/{line}", web::route().to(voice::start_on_line))
        .route("/voice/{line}/{stage}", web::route().to(voice::entry));
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A TwiML response.
pub fn twiml(doc: &crate::twilio::twiml::Response) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(doc.render())
}
