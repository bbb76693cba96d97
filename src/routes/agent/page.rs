//! The agent pages' templates (askama, HTML-escaped) and the one function
//! that sends any of them with the headers personal data calls for.

use super::view::CallView;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// No scripts, no third parties; framing stays allowed because Flex and
/// CRMs show screen pops in an iframe.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'";

/// A page kept current by Vouch's own script (the dashboard): [`CSP`] with
/// scripts and event streams from Vouch itself, nothing inline.
const CSP_WITH_SCRIPT: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'";

/// The screen pop: one call.
#[derive(Template)]
#[template(path = "agent/call.html")]
pub struct CallPage {
    /// The logged-in user, for the header (`None` when opened by a link).
    pub session_user: Option<String>,
    pub call: CallView,
    /// The call's timeline, for a supervisor (`None` for anyone else).
    pub timeline: Option<Vec<super::timeline::TimelineRow>>,
}

/// The live calls, or (`recent`) the calls that have ended.
#[derive(Template)]
#[template(path = "agent/calls.html")]
pub struct CallsPage {
    pub session_user: Option<String>,
    pub calls: Vec<CallView>,
    pub recent: bool,
}

/// The login form, also shown (with a notice) when a page is refused.
#[derive(Template)]
#[template(path = "agent/login.html")]
pub struct LoginPage {
    pub session_user: Option<String>,
    pub notice: Option<String>,
    /// Where to go after logging in (a checked local path).
    pub next: String,
    /// The name typed, kept after a failed attempt.
    pub name: String,
    /// Show the demo user's name and password.
    pub demo: bool,
}

/// A short message, e.g. for an unknown call.
#[derive(Template)]
#[template(path = "agent/message.html")]
pub struct MessagePage {
    pub session_user: Option<String>,
    pub title: String,
    pub message: String,
}

/// Renders a page. Pages carry customer data: never cached, never sent on
/// as a referrer (screen-pop links carry their signature in the query).
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    render(status, page, CSP)
}

/// [`html`] for a page that runs Vouch's own script.
pub fn html_with_script(status: StatusCode, page: &impl Template) -> HttpResponse {
    render(status, page, CSP_WITH_SCRIPT)
}

fn render(status: StatusCode, page: &impl Template, csp: &'static str) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Content-Security-Policy", csp))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("the page failed to render\n")
        }
    }
}
