//! The agent's desk: the screen pop for one call, the list of calls with
//! agents, and logging in. Server-rendered HTML (askama) and one stylesheet.

mod calls;
mod guard;
mod login;
mod page;
mod timeline;
pub(crate) mod view;

pub use calls::{list, screen_pop, timeline_export};
pub use guard::{Authenticated, Refused};
pub use login::{form as login_form, form_config as login_form_config, logout, submit as login_submit};
pub use page::{html, html_with_script, MessagePage};
pub use view::{moment, CallView, Moment};

/// The stylesheet, embedded so the binary stays self-contained.
const AGENT_CSS: &str = include_str!("../../../static/agent.css");

/// `GET /static/agent.css`.
pub async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(AGENT_CSS)
}

/// Any other method on a page that takes only some.
pub async fn method_not_allowed(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed().content_type("text/plain; charset=utf-8").body(format!(
        "{} is not allowed on {}\n",
        req.method(),
        req.path()
    ))
}
