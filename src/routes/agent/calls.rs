//! The call pages: the screen pop for one call (opened by a signed link or
//! with a login) and the lists of live and ended calls (login only).

use super::guard::Authenticated;
use super::login::{login_page, safe_next};
use super::page::{html, CallPage, CallsPage, MessagePage};
use super::timeline;
use super::view::{CallView, Presence};
use crate::audit::{Action, Actor, Target};
use crate::clock::now;
use crate::config::Role;
use crate::paths::screen_pop as screen_pop_path;
use crate::routes::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// How many recent calls the list looks through, and shows at most.
const LIST_SCAN: usize = 500;
const LIST_MAX: usize = 100;

/// What a screen-pop link's query proved.
enum Link {
    Absent,
    Valid,
    Expired,
    Invalid,
}

fn check_link(state: &AppState, req: &HttpRequest, path: &str, now: u64) -> Link {
    let (mut exp, mut sig) = (None, None);
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "exp" => exp = Some(v.into_owned()),
            "sig" => sig = Some(v.into_owned()),
            _ => {}
        }
    }
    match (exp, sig) {
        (None, None) => Link::Absent,
        (Some(exp), Some(sig)) => match exp.parse::<u64>() {
            Ok(exp) if state.links.verify(path, exp, &sig, now) => Link::Valid,
            // Signed by us, but too late.
            Ok(exp) if state.links.verify(path, exp, &sig, 0) => Link::Expired,
            _ => Link::Invalid,
        },
        _ => Link::Invalid,
    }
}

/// `GET /agent/calls/{CallSid}`: the screen pop.
pub async fn screen_pop(
    state: web::Data<AppState>,
    req: HttpRequest,
    sid: web::Path<String>,
    who: Option<Authenticated>,
) -> HttpResponse {
    let now = now();
    let path = screen_pop_path(&sid);
    let link = check_link(&state, &req, &path, now);
    let session_user = who.as_ref().and_then(Authenticated::session_user);
    // A login opens any call; without one, only a valid link opens its call.
    if who.is_none() && !matches!(link, Link::Valid) {
        let (status, notice) = match link {
            Link::Expired => (StatusCode::FORBIDDEN, "This screen-pop link has expired. Log in to open the call."),
            Link::Invalid => (
                StatusCode::FORBIDDEN,
                "This screen-pop link is not valid (altered or cut short). Log in to open the call.",
            ),
            _ => (StatusCode::UNAUTHORIZED, "Log in to open this call."),
        };
        tracing::info!(status = status.as_u16(), "screen pop refused");
        let demo = state.config.secrets.users.demo;
        return login_page(status, Some(notice.into()), safe_next(Some(&path)), String::new(), demo);
    }
    // Who opened it, audited in the background (a page never waits on it).
    let actor = who.as_ref().map_or(Actor::ScreenPopLink, |w| Actor::of(&w.0));
    match state.store.get(&sid).await {
        Some(record) => {
            state.audit.record(&actor, Action::ScreenPop, Target::Call(&sid), serde_json::json!({}));
            let line = state.config.lines.get(&record.service_line);
            let call = CallView::new(&record, line, now);
            let supervisor = who.as_ref().is_some_and(|w| w.0.role == Role::Supervisor);
            let timeline = supervisor.then(|| timeline::rows(&record.timeline, line));
            html(StatusCode::OK, &CallPage { session_user, call, timeline })
        }
        None => {
            let hours = state.config.server.call_record_ttl.as_secs() / 3600;
            let message = format!("Vouch has no record of call {}. Calls are kept for {hours} hours.", sid.as_str());
            html(StatusCode::NOT_FOUND, &MessagePage { session_user, title: "No such call".into(), message })
        }
    }
}

/// `GET /agent`: the live calls, newest first (in the IVR, waiting for or
/// with an agent, or handed where Vouch cannot see); `?show=recent`: the
/// calls that have ended, most recently updated first.
pub async fn list(state: web::Data<AppState>, who: Authenticated, req: HttpRequest) -> HttpResponse {
    let now = now();
    let recent = url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, v)| k == "show" && v == "recent");
    let calls: Vec<CallView> = state
        .store
        .recent(LIST_SCAN)
        .await
        .iter()
        .filter(|r| (Presence::of(r, now) == Presence::Ended) == recent)
        .take(LIST_MAX)
        .map(|r| CallView::new(r, state.config.lines.get(&r.service_line), now))
        .collect();
    html(StatusCode::OK, &CallsPage { session_user: who.session_user(), calls, recent })
}
