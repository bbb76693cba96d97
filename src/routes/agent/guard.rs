//! The extractor that proves a login: a handler taking [`Authenticated`]
//! runs only for a valid session, API token or admin token. Refusals are
//! JSON for `/api` and the login page (401, with the reason) for pages.

use super::login::{login_page, safe_next};
use crate::auth::{self, Presented, Principal, Refusal, Via};
use crate::clock::now;
use crate::keyring::session;
use crate::paths;
use crate::routes::AppState;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use std::future::ready;

/// A request from someone who proved who they are.
pub struct Authenticated(pub Principal);

impl Authenticated {
    /// The name the page header shows with a log-out button (sessions only:
    /// a token has nothing to log out of).
    pub fn session_user(&self) -> Option<String> {
        (self.0.via == Via::Session).then(|| self.0.name.clone())
    }
}

/// Why a request was refused, and how to say it.
#[derive(Debug)]
pub struct Refused {
    refusal: Refusal,
    /// `Some(path)`: a page, answered with the login form returning there.
    page: Option<String>,
    /// A scrape (`/metrics`): answered in plain text, which a Prometheus
    /// log shows as it is.
    plain: bool,
    demo: bool,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.refusal.fmt(f)
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> HttpResponse {
        // Logged here, not at extraction: an optional login (the screen pop)
        // drops the refusal and lets a signed link decide.
        tracing::info!(reason = %self.refusal, "request refused");
        if self.plain {
            return HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer"))
                .content_type("text/plain; charset=utf-8")
                .body(format!("401 Unauthorized: {}\n", self.refusal));
        }
        match &self.page {
            None => HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer"))
                .json(serde_json::json!({ "error": self.refusal.to_string() })),
            Some(path) => {
                let notice = match self.refusal {
                    Refusal::Missing => "Log in to see this page.",
                    Refusal::NoCredentialsConfigured => "Nobody can log in yet: add users in VOUCH_USERS_FILE.",
                    Refusal::BadToken => "Missing or wrong bearer token.",
                    Refusal::BadSession => "Your session has expired or is no longer valid: log in again.",
                };
                login_page(
                    StatusCode::UNAUTHORIZED,
                    Some(notice.into()),
                    safe_next(Some(path)),
                    String::new(),
                    self.demo,
                )
            }
        }
    }
}

impl FromRequest for Authenticated {
    type Error = Refused;
    type Future = LocalBoxFuture<'static, Result<Self, Refused>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let route = paths::recognise(req.path()).map(|r| r.route);
        let plain = route == Some(paths::Route::Metrics);
        let page = (!plain && !route.is_some_and(paths::Route::is_api)).then(|| req.path().to_string());
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Box::pin(ready(Err(Refused {
                refusal: Refusal::NoCredentialsConfigured,
                page,
                plain,
                demo: false,
            })));
        };
        let cookie = req.cookie(session::COOKIE);
        let presented = Presented {
            authorization: req.headers().get("authorization").map(|v| v.to_str().unwrap_or("")),
            session_cookie: cookie.as_ref().map(|c| c.value()),
        };
        let secrets = &state.config.secrets;
        let demo = secrets.users.demo;
        let now = now();
        let principal = auth::authenticate(secrets, &state.sessions, &presented, now);
        Box::pin(async move {
            let principal = principal.map_err(|refusal| Refused { refusal, page: page.clone(), plain, demo })?;
            // A session must still be live in the store: a logout, or a
            // user's removal seen by any instance, revoked it for all.
            if let Some(id) = &principal.session {
                let live = state.session_store.is_live(id, now).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "session refused: the session store did not answer");
                    false
                });
                if !live {
                    return Err(Refused { refusal: Refusal::BadSession, page, plain, demo });
                }
            }
            Ok(Self(principal))
        })
    }
}
