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

/// `GET /agent/calls/{CallSid}/timeline?format=csv|xlsx|pdf`: the call's
/// timeline as its page shows a supervisor, as a file. Supervisors only
/// (a signed screen-pop link is not enough), and audited: the timeline is
/// part of the call's record.
pub async fn timeline_export(
    state: web::Data<AppState>,
    who: Authenticated,
    sid: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    use crate::report::Format;
    let plain = |status: StatusCode, why: String| crate::routes::refusal(status, &why);
    if who.0.role != Role::Supervisor {
        return plain(StatusCode::FORBIDDEN, "A call's timeline needs the supervisor role.".into());
    }
    let mut format = None;
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        match k.as_ref() {
            "format" => format = Some(v.into_owned()),
            other => return plain(StatusCode::BAD_REQUEST, format!("{other}: unknown field; a timeline takes format")),
        }
    }
    let Some(format) = format.as_deref().map(str::trim).and_then(Format::parse) else {
        let given = format.map_or_else(|| "no format".to_string(), |f| format!("{f:?}"));
        return plain(StatusCode::BAD_REQUEST, format!("format: {given}; a timeline downloads as csv, xlsx or pdf"));
    };
    let Some(record) = state.store.get(&sid).await else {
        return plain(StatusCode::NOT_FOUND, format!("Vouch has no record of call {}.", sid.as_str()));
    };
    let rows = timeline::rows(&record.timeline, state.config.lines.get(&record.service_line));
    let utc = crate::config::LineTimeZone::utc();
    let facts = [
        ("Call SID", record.call_sid.clone()),
        ("Line", record.service_line.clone()),
        ("Started", utc.format(record.started_at)),
    ];
    let name = format!("vouch-timeline_{}.{}", record.call_sid, format.as_str());
    let file = match web::block(move || timeline_file(&rows, &facts, format)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "a timeline could not be written");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "The timeline could not be written.".into());
        }
        Err(e) => {
            tracing::error!(error = %e, "a timeline's export was cancelled");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "The timeline could not be written.".into());
        }
    };
    let actor = Actor::of(&who.0);
    let detail = serde_json::json!({ "format": format.as_str() });
    state.audit.record(&actor, Action::TimelineExported, Target::Call(&sid), detail);
    crate::routes::reports::attachment(format.content_type(), &name).body(file)
}

/// What a timeline's XLSX and PDF say under their facts.
#[cfg(feature = "exports")]
const TIMELINE_NOTE: &str = "Times in UTC. What the caller keyed is never recorded, so it is not here.";

/// A timeline's `rows` as a file: CSV with the time in ISO 8601 and the
/// seconds since the start as a number; XLSX and PDF headed by `facts`
/// (the call, its line, its start) with the page's columns.
#[cfg_attr(not(feature = "exports"), allow(unused_variables))]
fn timeline_file(
    rows: &[timeline::TimelineRow],
    facts: &[(&'static str, String)],
    format: crate::report::Format,
) -> Result<Vec<u8>, crate::report::ExportError> {
    use crate::report::Format;
    #[cfg(feature = "exports")]
    const HEADS: [&str; 4] = ["Time (UTC)", "Since start", "Step", "What happened"];
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["time_utc", "since_start_seconds", "step", "what_happened"])?;
            for r in rows {
                let since = format!("{:.3}", r.since_ms as f64 / 1000.0);
                w.write_record([r.iso.as_str(), since.as_str(), r.kind, r.text.as_str()])?;
            }
            w.into_inner().map_err(|e| crate::report::ExportError::Csv(e.into_error().into()))
        }
        #[cfg(feature = "exports")]
        Format::Xlsx => {
            use crate::report::xlsx::{table, Cell};
            let cells: Vec<Vec<Cell>> = rows
                .iter()
                .map(|r| {
                    let at = jiff::Timestamp::from_millisecond(i64::try_from(r.at_ms).unwrap_or(0))
                        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).datetime())
                        .unwrap_or_default();
                    vec![
                        Cell::Time(at, "yyyy-mm-dd hh:mm:ss.000"),
                        Cell::Number(r.since_ms as f64 / 1000.0, r#"0.0" s""#),
                        Cell::Text(r.kind.to_string()),
                        Cell::Text(r.text.clone()),
                    ]
                })
                .collect();
            let heads = [(HEADS[0], 24.0), (HEADS[1], 12.0), (HEADS[2], 10.0), (HEADS[3], 90.0)];
            Ok(table("Timeline", ("Vouch: a call's timeline", facts, TIMELINE_NOTE), &heads, &cells)?)
        }
        #[cfg(feature = "exports")]
        Format::Pdf => {
            use crate::report::pdf;
            let heading = pdf::Heading {
                title: "Vouch: a call's timeline".into(),
                lines: pdf::filter_lines(facts, 3),
                note: TIMELINE_NOTE.into(),
            };
            let table = pdf::Table {
                name: "Timeline",
                heads: HEADS.iter().map(|h| h.to_string()).collect(),
                numeric: vec![false, true, false, false],
                rows: rows
                    .iter()
                    .map(|r| vec![r.clock.clone(), r.offset.clone(), r.kind.into(), r.text.clone()])
                    .collect(),
                total: false,
                empty: "No steps recorded for this call.",
            };
            pdf::list(&heading, &table)
        }
        #[cfg(not(feature = "exports"))]
        Format::Xlsx | Format::Pdf => Err(crate::report::ExportError::Unsupported(format.as_str())),
    }
}
