//! Logging in and out. A login sets a signed, expiring session cookie
//! (HttpOnly, SameSite=Strict, Secure behind https); there is no session
//! store. SameSite=Strict plus state changes only by POST is the CSRF
//! defence: another site's form cannot send the cookie along.

use super::page::{html, LoginPage};
use crate::auth;
use crate::clock::now;
use crate::keyring::session;
use crate::paths::{self, Route};
use crate::routes::AppState;
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

/// Where to go after logging in: the call list or a screen pop, nothing
/// else (an open redirect would let a link send agents anywhere after
/// logging in).
pub fn safe_next(next: Option<&str>) -> String {
    let page = next.and_then(|n| paths::recognise(n).map(|r| (n, r.route)));
    match page {
        Some((n, Route::AgentCalls | Route::ScreenPop)) if n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') => {
            n.to_string()
        }
        _ => Route::AgentCalls.pattern().to_string(),
    }
}

/// A login form that does not decode gets a 4xx naming what was wrong.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(8 * 1024).error_handler(|err, _| {
        let status = actix_web::ResponseError::status_code(&err);
        let reason = match &err {
            actix_web::error::UrlencodedError::ContentType => {
                "the login form must be sent as application/x-www-form-urlencoded".to_string()
            }
            other => format!("the login form did not decode: {other}"),
        };
        actix_web::error::InternalError::from_response(
            err,
            HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(format!("{reason}\n")),
        )
        .into()
    })
}

pub fn login_page(status: StatusCode, notice: Option<String>, next: String, name: String, demo: bool) -> HttpResponse {
    html(status, &LoginPage { session_user: None, notice, next, name, demo })
}

/// `GET /agent/login`: the form.
pub async fn form(state: web::Data<AppState>, q: web::Query<LoginQuery>) -> HttpResponse {
    login_page(StatusCode::OK, None, safe_next(q.next.as_deref()), String::new(), state.config.secrets.users.demo)
}

/// `POST /agent/login`: a right name and password get the cookie and a 303
/// to where they were going; anything else gets the form again (401).
pub async fn submit(state: web::Data<AppState>, form: web::Form<LoginForm>) -> HttpResponse {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let secrets = &state.config.secrets;
    // Argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    let (name, password, users) = (form.name.trim().to_string(), form.password, state.clone());
    let checked =
        web::block(move || auth::login(&users.config.secrets, &name, &password).map(|role| (name, role))).await;
    match checked {
        Ok(Some((name, role))) => {
            tracing::info!(user = %name, role = role.as_str(), "logged in");
            let cookie = Cookie::build(session::COOKIE, state.sessions.issue(&name, role, now()))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.public_base.starts_with("https://"))
                .max_age(Duration::seconds(session::SESSION_TTL_SECS as i64))
                .finish();
            HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, next)).finish()
        }
        Ok(None) => {
            // The typed name is not logged: people type passwords into it.
            tracing::warn!("login refused: wrong name or password");
            let notice = Some("Wrong name or password.".to_string());
            login_page(StatusCode::UNAUTHORIZED, notice, next, form.name, secrets.users.demo)
        }
        Err(e) => {
            tracing::error!(error = %e, "the password check did not run");
            HttpResponse::ServiceUnavailable().content_type("text/plain; charset=utf-8").body("try again\n")
        }
    }
}

/// `POST /agent/logout`: clears the cookie. (The signed value stays valid
/// until it expires; it is gone from this browser, which is what logging
/// out of a shared desk needs.)
pub async fn logout(state: web::Data<AppState>) -> HttpResponse {
    let mut cookie = Cookie::build(session::COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_base.starts_with("https://"))
        .finish();
    cookie.make_removal();
    HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, Route::Login.pattern())).finish()
}
