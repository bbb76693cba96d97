//! The HTTP surface: one function builds the route table, shared by the
//! server and the tests.

pub mod agent;
mod api;
mod defence;
mod demo;
mod handoff;
mod health;
mod metrics;
mod status;
mod voice;

use crate::config::Config;
use crate::crm::CrmClient;
use crate::handoff::{paths, HandoffTokens};
use crate::keyring::flow_state::FlowStates;
use crate::keyring::links::{screen_pop_path, ScreenPopLinks};
use crate::keyring::session::Sessions;
use crate::store::CallStore;
use actix_web::web;
use std::sync::Arc;

/// Shared by every handler.
pub struct AppState {
    pub config: Arc<Config>,
    pub crm: CrmClient,
    pub signer: FlowStates,
    pub store: CallStore,
    /// The public base URL, without a trailing slash.
    pub public_base: String,
    /// Signs screen-pop links.
    pub links: ScreenPopLinks,
    /// Signs and opens login session cookies.
    pub sessions: Sessions,
    /// Signs the token on redirect handoffs.
    pub tokens: HandoffTokens,
    /// Answers already given, by CallSid and idempotency token: Twilio's
    /// retries of a request get the same answer, without a second CRM call.
    pub answered: moka::future::Cache<String, String>,
}

impl AppState {
    /// URLs and signers for TwiML answering `call_sid` now.
    pub fn urls<'a>(&'a self, call_sid: &'a str) -> crate::ivr::Urls<'a> {
        crate::ivr::Urls { base: &self.public_base, call_sid, now: now(), links: &self.links, tokens: &self.tokens }
    }

    /// The signed, expiring screen-pop link for a call (absolute), to hand
    /// to the agent with the call.
    pub fn screen_pop_url(&self, call_sid: &str, now: u64) -> String {
        format!("{}{}", self.public_base, self.links.sign(&screen_pop_path(call_sid), now))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/api/calls/{call_sid}", web::get().to(api::call))
        .route("/api/lockouts/{customer_id}", web::get().to(api::lockout))
        .route("/api/lockouts/{customer_id}", web::delete().to(api::unlock))
        .route("/agent", web::get().to(agent::list))
        .route("/agent/calls/{call_sid}", web::get().to(agent::screen_pop))
        .service(
            web::resource("/agent/login")
                .app_data(agent::login_form_config())
                .route(web::get().to(agent::login_form))
                .route(web::post().to(agent::login_submit))
                .default_service(web::to(agent::method_not_allowed)),
        )
        .service(
            web::resource("/agent/logout")
                .route(web::post().to(agent::logout))
                .default_service(web::to(agent::method_not_allowed)),
        )
        .route("/static/agent.css", web::get().to(agent::stylesheet))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/status", web::route().to(status::status))
        .route("/demo/self-service", web::route().to(demo::self_service))
        .route(paths::HOLD, web::route().to(handoff::hold))
        .route(paths::HOLD_AUDIO, web::get().to(handoff::hold_audio))
        .route(paths::HOLD_AUDIO, web::head().to(handoff::hold_audio))
        .route(paths::QUEUE_CONNECT, web::route().to(handoff::queue_connect))
        .route("/whisper/{call_sid}", web::route().to(handoff::whisper))
        .route("/voice", web::route().to(voice::start))
        .route("/voice/{line}", web::route().to(voice::start_on_line))
        // Before `{stage}`, which would otherwise claim it.
        .route("/voice/{line}/dialed", web::route().to(handoff::dialed))
        .route("/voice/{line}/{stage}", web::route().to(voice::entry));
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A TwiML response.
pub fn twiml(doc: &crate::twilio::twiml::Response) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(doc.render())
}
