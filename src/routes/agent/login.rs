//! Logging in and out. A login sets a signed, expiring session cookie
//! (HttpOnly, SameSite=Strict, Secure behind https) naming a session kept
//! in the session store; logging out revokes it there. SameSite=Strict
//! plus state changes only by POST is the CSRF defence: another site's
//! form cannot send the cookie along. Password checks are bounded
//! ([`crate::auth::checker`]) and failures back off per address and name
//! ([`crate::auth::throttle`]); every attempt is audited.

use super::page::{html, LoginPage};
use crate::audit::{Action, Actor, Target};
use crate::auth::checker::Busy;
use crate::auth::throttle::retry_after_secs;
use crate::auth::{self, LoginCheck};
use crate::clock::now;
use crate::keyring::session;
use crate::paths::{self, Route};
use crate::routes::AppState;
use crate::store::sessions::StoredSession;
use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

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
        actix_web::error::InternalError::from_response(err, crate::routes::refusal(status, &reason)).into()
    })
}

pub fn login_page(status: StatusCode, notice: Option<String>, next: String, name: String, demo: bool) -> HttpResponse {
    html(status, &LoginPage { session_user: None, notice, next, name, demo })
}

/// `GET /agent/login`: the form.
pub async fn form(state: web::Data<AppState>, q: web::Query<LoginQuery>) -> HttpResponse {
    login_page(StatusCode::OK, None, safe_next(q.next.as_deref()), String::new(), state.config.secrets.users.demo)
}

/// The client's address, for the per-address throttle: the peer, or when
/// the peer is a proxy on a private or loopback address (Fly.io's, a load
/// balancer's), the address it appended last to `X-Forwarded-For`. A
/// client on the internet cannot pose as another address by sending the
/// header: its own peer address is public, and is used.
pub fn client_address(req: &HttpRequest) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let proxied = match peer {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    if !proxied {
        return peer;
    }
    req.headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .last()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(peer)
}

/// The login page again, 429, with `Retry-After`.
fn too_many(notice: String, wait_secs: u64, next: String, name: String, demo: bool) -> HttpResponse {
    let mut page = login_page(StatusCode::TOO_MANY_REQUESTS, Some(notice), next, name, demo);
    page.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(wait_secs));
    page
}

/// `POST /agent/login`: a right name and password get the cookie and a 303
/// to where they were going; anything else gets the form again (401), or
/// 429 with `Retry-After` while this address or name is backing off after
/// failures, or while the password checker is full.
pub async fn submit(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let secrets = &state.config.secrets;
    let demo = secrets.users.demo;
    let name = form.name.trim().to_string();
    let address = client_address(&req);
    if let Some(wait) = state.login_throttle.blocked(address, &name, Instant::now()) {
        let secs = retry_after_secs(wait);
        tracing::info!(retry_after_secs = secs, "login refused: backing off after failed logins");
        let notice = format!("Too many failed logins: wait {secs} s before trying again.");
        return too_many(notice, secs, next, form.name, demo);
    }
    let checked = auth::login(secrets, &state.password_checker, &name, &form.password).await;
    let known = secrets.users.user(&name).is_some();
    // The typed name is stored only when it is a user's: people type
    // passwords into it.
    let actor = if known { Actor::User(name.clone()) } else { Actor::UnknownUser };
    let detail = serde_json::json!({ "address": address.to_string() });
    match checked {
        Ok(LoginCheck::Valid(role)) => {
            state.login_throttle.succeed(address, &name);
            let Some(user) = secrets.users.user(&name) else {
                return HttpResponse::InternalServerError().finish();
            };
            let (id, now) = (session::new_id(), now());
            let fingerprint = state.sessions.fingerprint(&user.password_hash);
            let stored = StoredSession {
                id: id.clone(),
                user: name.clone(),
                fingerprint: fingerprint.clone(),
                expires_at: now + session::SESSION_TTL_SECS,
                revoked: false,
            };
            if let Err(e) = state.session_store.create(&stored, now).await {
                tracing::error!(error = %e, "login refused: the session could not be stored");
                return HttpResponse::ServiceUnavailable()
                    .insert_header((header::RETRY_AFTER, "5"))
                    .content_type("text/plain; charset=utf-8")
                    .body("the session store is unavailable: try again\n");
            }
            let _ = state.audit.record_now(&actor, Action::Login, Target::User(&name), detail).await;
            tracing::info!(user = %name, role = role.as_str(), "logged in");
            let cookie = Cookie::build(session::COOKIE, state.sessions.issue(&name, role, &id, &fingerprint, now))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.public_base.starts_with("https://"))
                .max_age(Duration::seconds(session::SESSION_TTL_SECS as i64))
                .finish();
            HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, next)).finish()
        }
        Ok(refused) => {
            let blocked = state.login_throttle.fail(address, &name, Instant::now());
            let why = if refused == LoginCheck::NoUsers { "no users are configured" } else { "wrong name or password" };
            let mut detail = detail;
            detail["reason"] = why.into();
            if let Some(block) = blocked {
                detail["backoff_secs"] = retry_after_secs(block).into();
            }
            let _ = state.audit.record_now(&actor, Action::LoginFailed, Target::None, detail).await;
            // The typed name is not logged: people type passwords into it.
            tracing::warn!(reason = why, "login refused");
            let notice = match refused {
                LoginCheck::NoUsers => "Nobody can log in: no users are configured (VOUCH_USERS_FILE).",
                _ => "Wrong name or password.",
            };
            login_page(StatusCode::UNAUTHORIZED, Some(notice.to_string()), next, form.name, demo)
        }
        Err(Busy) => {
            tracing::warn!("login refused: too many password checks at once");
            let notice = "Vouch is busy checking other logins: try again in a moment.".to_string();
            too_many(notice, 1, next, form.name, demo)
        }
    }
}

/// `POST /agent/logout`: revokes the session in the store (on every
/// instance sharing it) and clears the cookie.
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let now = now();
    if let Some(s) = req.cookie(session::COOKIE).and_then(|c| state.sessions.open(c.value(), now)) {
        if let Err(e) = state.session_store.revoke(&s.id, now).await {
            tracing::error!(error = %e, "logout: the session could not be revoked");
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .content_type("text/plain; charset=utf-8")
                .body("the session store is unavailable: you are still logged in, try again\n");
        }
        let actor = Actor::User(s.user.clone());
        let _ = state.audit.record_now(&actor, Action::Logout, Target::User(&s.user), serde_json::json!({})).await;
        tracing::info!(user = %s.user, "logged out");
    }
    let mut cookie = Cookie::build(session::COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_base.starts_with("https://"))
        .finish();
    cookie.make_removal();
    HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, Route::Login.pattern())).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn address(peer: &str, forwarded: Option<&str>) -> String {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(f) = forwarded {
            req = req.insert_header(("x-forwarded-for", f));
        }
        client_address(&req.to_http_request()).to_string()
    }

    #[test]
    fn only_a_private_or_loopback_peer_is_believed_about_the_client_address() {
        assert_eq!(address("127.0.0.1:5000", Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(address("[fdaa::3]:5000", Some("198.51.100.1, 203.0.113.7")), "203.0.113.7", "the last hop");
        assert_eq!(address("10.0.0.2:5000", Some("not an address")), "10.0.0.2");
        assert_eq!(address("10.0.0.2:5000", None), "10.0.0.2");
        assert_eq!(address("198.51.100.9:5000", Some("203.0.113.7")), "198.51.100.9", "a public peer poses as nobody");
    }
}
