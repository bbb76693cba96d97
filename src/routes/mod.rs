//! The HTTP surface: one function builds the route table from the path map
//! ([`crate::paths`]), shared by the server and the tests. Handlers parse,
//! call the step service or the store, and answer.

pub mod agent;
mod api;
mod audit;
pub mod dashboard;
mod demo;
mod fallback;
mod handoff;
pub mod health;
mod metrics;
mod reports;
mod stats;
mod status;
mod voice;

use crate::audit::Audit;
use crate::auth::checker::PasswordChecker;
use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::handoff::HandoffTokens;
use crate::keyring::links::ScreenPopLinks;
use crate::keyring::session::Sessions;
use crate::paths::Route;
use crate::store::sessions::SessionStore;
use crate::store::CallStore;
use actix_web::{web, HttpResponse};
use std::sync::Arc;

/// What the pages and the API share (the voice and handoff routes use the
/// step service, [`crate::call::CallService`], registered beside it).
pub struct AppState {
    pub config: Arc<Config>,
    pub store: CallStore,
    /// The public base URL, without a trailing slash.
    pub public_base: String,
    /// Checks screen-pop links.
    pub links: ScreenPopLinks,
    /// Signs and opens login session cookies.
    pub sessions: Sessions,
    /// Checks the token on redirect handoffs (the demo self-service app).
    pub tokens: HandoffTokens,
    /// Which sessions are live (revocable on every instance).
    pub session_store: SessionStore,
    /// Checks login passwords, a few at a time.
    pub password_checker: PasswordChecker,
    /// Backs failed logins off per address and name.
    pub login_throttle: LoginThrottle,
    /// Who did what: logins, screen pops, lockouts lifted, erasures.
    pub audit: Audit,
    /// The dashboard's latest figures, shared by its watchers.
    pub dashboard: dashboard::Shared,
}

/// Registers every route of the path map with its handler: the webhooks
/// every call makes first, then the others in the map's order. actix
/// matches a request against each resource in turn (a pattern with a
/// `{segment}` through a regex), so the webhooks do not wait behind the
/// pages and the API. The voice webhooks are one scope, `/voice`: the path
/// map reads a path under it back into its route (`voice::under_voice`),
/// with no regex per pattern tried, and keeps `Dialed` before `Entry`,
/// whose `{stage}` would claim it. The status callback comes next.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(Route::Voice.pattern())
            .service(web::resource("").route(web::route().to(voice::start)))
            .default_service(web::to(voice::under_voice)),
    );
    let mut routes = Route::ALL;
    routes.sort_by_key(|r| *r != Route::Status);
    for route in routes {
        let resource = web::resource(route.pattern());
        cfg.service(match route {
            Route::Health => resource.route(web::get().to(health::healthz)),
            Route::ApiCall => resource.route(web::get().to(api::call)),
            Route::ApiLockout => resource.route(web::get().to(api::lockout)).route(web::delete().to(api::unlock)),
            Route::ApiAudit => resource.route(web::get().to(audit::list)),
            Route::ApiCustomerRecords => {
                resource.route(web::delete().to(api::erase_customer)).default_service(web::to(api::only_delete))
            }
            Route::ApiStats => resource.route(web::get().to(stats::stats)),
            Route::AgentCalls => resource.route(web::get().to(agent::list)),
            Route::Dashboard => resource.route(web::get().to(dashboard::page)),
            Route::DashboardEvents => resource.route(web::get().to(dashboard::events)),
            Route::DashboardExport => resource.route(web::get().to(dashboard::export)),
            Route::DashboardScript => resource.route(web::get().to(dashboard::script)),
            Route::Reports => resource.route(web::get().to(reports::page)),
            Route::ReportExport => resource.route(web::get().to(reports::export)),
            Route::ReportCalls => resource.route(web::get().to(reports::calls)),
            Route::ReportFiles => resource.route(web::get().to(reports::files)),
            Route::ReportFile => resource.route(web::get().to(reports::file)),
            Route::ScreenPop => resource.route(web::get().to(agent::screen_pop)),
            Route::CallTimeline => resource.route(web::get().to(agent::timeline_export)),
            Route::Login => resource
                .app_data(agent::login_form_config())
                .route(web::get().to(agent::login_form))
                .route(web::post().to(agent::login_submit))
                .default_service(web::to(agent::method_not_allowed)),
            Route::Logout => {
                resource.route(web::post().to(agent::logout)).default_service(web::to(agent::method_not_allowed))
            }
            Route::Stylesheet => resource.route(web::get().to(agent::stylesheet)),
            Route::Metrics => resource.route(web::get().to(metrics::metrics)),
            Route::Status => resource.route(web::route().to(status::status)),
            Route::SelfServiceDemo => resource.route(web::route().to(demo::self_service)),
            Route::Hold => resource.route(web::route().to(handoff::hold)),
            Route::HoldAudio => {
                resource.route(web::get().to(handoff::hold_audio)).route(web::head().to(handoff::hold_audio))
            }
            Route::QueueConnect => resource.route(web::route().to(handoff::queue_connect)),
            Route::Whisper => resource.route(web::route().to(handoff::whisper)),
            Route::Voice | Route::VoiceOnLine | Route::Dialed | Route::Entry => continue,
            Route::Fallback => resource.route(web::route().to(fallback::fallback)),
        });
    }
}

/// A TwiML response.
pub fn twiml(body: impl actix_web::body::MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
}

/// A refusal: the status and the reason, in plain text.
pub(crate) fn refusal(status: actix_web::http::StatusCode, reason: &dyn std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(format!("{reason}\n"))
}
