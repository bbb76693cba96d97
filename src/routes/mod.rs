//! The HTTP surface: one function builds the route table, shared by the
//! server and the tests.

mod api;
mod demo;
mod handoff;
mod health;
mod voice;

use crate::config::Config;
use crate::crm::CrmClient;
use crate::handoff::{paths, HandoffTokens};
use crate::links::LinkSigner;
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
    /// Signs the agent screen pop links handoffs carry.
    pub links: LinkSigner,
    /// Signs the token on redirect handoffs.
    pub tokens: HandoffTokens,
}

impl AppState {
    /// URLs and signers for TwiML answering `call_sid` now.
    pub fn urls<'a>(&'a self, call_sid: &'a str) -> crate::ivr::Urls<'a> {
        crate::ivr::Urls { base: &self.public_base, call_sid, now: now(), links: &self.links, tokens: &self.tokens }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/api/calls/{call_sid}", web::get().to(api::call))
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
