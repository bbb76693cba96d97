//! The agent's screen pop and call list: who may open them, and what they show.

use crate::desk_helpers::*;
use crate::helpers::*;

/// Zoë keys four wrong PINs: she reaches an agent, identified only.
async fn zoe_reaches_an_agent(app: &TestApp) -> String {
    app.call(ZOE_PHONE, SUPPORT_NUMBER, &["1111#", "2222#", "3333#", "4444#"]).await.call_sid
}

#[tokio::test]
async fn a_signed_link_opens_the_screen_pop_without_a_login() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    let page = app.page(&screen_pop_link(&sid, now()), None, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(page.body.contains("badge-identified"), "{}", page.body);
    assert!(page.body.contains("Identified only"));
    assert!(page.body.contains("24681357"), "the customer's identifier");
    assert!(page.body.contains("caller ID"), "how she was identified");
    assert!(page.body.contains("0 identifier, 4 verification"), "the tries");
    assert!(page.body.contains("sent to an agent"));
    assert!(page.body.contains("<time datetime=\""), "the time she reached the agent");
    // The demo's support line keeps New York time: shown beside UTC, labelled.
    let local = page.body.split("<span class=\"local\">").nth(1).and_then(|s| s.split("</span>").next());
    let local = local.unwrap_or_else(|| panic!("a local time: {}", page.body));
    assert!(local.ends_with("(America/New_York)"), "{local}");
    assert!(local.contains(" EST ") || local.contains(" EDT "), "{local}");
    assert!(!page.body.contains("Log out"), "a link makes nobody logged in");
}

#[tokio::test]
async fn every_name_on_the_page_is_html_escaped() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    let page = app.page(&screen_pop_link(&sid, now()), None, None).await;
    assert!(page.body.contains("Zoë O&#39;Brien &#38; &#60;Sons&#62; &#34;Ltd&#34;"), "{}", page.body);
    assert!(!page.body.contains("<Sons>"), "never raw markup");
}

#[tokio::test]
async fn a_verified_caller_and_an_unknown_one_get_their_own_badges() {
    let app = spawn_desk().await;
    let ada = app.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await.call_sid;
    let page = app.page(&screen_pop_link(&ada, now()), None, None).await;
    assert!(page.body.contains("badge-verified") && page.body.contains(">Verified<"), "{}", page.body);
    assert!(page.body.contains("Ada Lovelace") && page.body.contains("verified by PIN"));

    let stranger = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &["*"]).await.call_sid;
    let page = app.page(&screen_pop_link(&stranger, now()), None, None).await;
    assert!(page.body.contains("badge-unidentified") && page.body.contains("Not identified"), "{}", page.body);
    assert!(page.body.contains("Unknown caller"));
    assert!(page.body.contains("<dt>Opted out</dt><dd>yes</dd>"), "{}", page.body);
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    let old = screen_pop_link(&sid, now() - vouch::keyring::links::SCREEN_POP_TTL_SECS - 60);
    let page = app.page(&old, None, None).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("This screen-pop link has expired"), "{}", page.body);
    assert!(!page.body.contains("Zo"), "nothing about the call");
}

#[tokio::test]
async fn an_altered_link_is_refused() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    let link = screen_pop_link(&sid, now());
    let q = query_of(&format!("http://x{link}"));
    let (exp, sig) = (q["exp"].parse::<u64>().unwrap(), q["sig"].clone());
    let other = call_sid();
    let altered = [
        format!("/agent/calls/{sid}?exp={}&sig={sig}", exp + 3600),
        format!("/agent/calls/{sid}?exp={exp}&sig={}{}", if sig.starts_with('A') { 'B' } else { 'A' }, &sig[1..]),
        format!("/agent/calls/{sid}?exp={exp}&sig={}", &sig[..sig.len() - 2]),
        format!("/agent/calls/{sid}?exp=tomorrow&sig={sig}"),
        format!("/agent/calls/{sid}?exp={exp}"),
        format!("/agent/calls/{other}?exp={exp}&sig={sig}"),
    ];
    for link in altered {
        let page = app.page(&link, None, None).await;
        assert_eq!(page.status, 403, "{link}");
        assert!(page.body.contains("This screen-pop link is not valid"), "{link}: {}", page.body);
    }
}

#[tokio::test]
async fn without_a_link_or_a_login_nothing_opens() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    for path in [format!("/agent/calls/{sid}"), "/agent".to_string()] {
        let page = app.page(&path, None, None).await;
        assert_eq!(page.status, 401, "{path}");
        assert!(page.body.contains("Log in to"), "{path}: {}", page.body);
        assert!(page.body.contains("action=\"/agent/login\""), "the refusal offers the login form");
        assert!(!page.body.contains("Zo"), "nothing about the call");
        let page = app.page(&path, Some("forged.cookie"), None).await;
        assert_eq!(page.status, 401, "{path} with a forged cookie");
        let page = app.page(&path, None, Some("wrong-token-wrong-token")).await;
        assert_eq!(page.status, 401, "{path} with a wrong token");
    }
    assert_eq!(app.api_call(&sid, None).await.0, 401);
}

#[tokio::test]
async fn a_login_opens_any_call_and_an_unknown_call_is_404() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    let session = app.session(AGENT, AGENT_PASSWORD).await;
    let page = app.page(&format!("/agent/calls/{sid}"), Some(&session), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Identified only") && page.body.contains(AGENT), "{}", page.body);
    let expired = screen_pop_link(&sid, now() - vouch::keyring::links::SCREEN_POP_TTL_SECS - 60);
    assert_eq!(app.page(&expired, Some(&session), None).await.status, 200, "a login outranks an old link");

    let unknown = call_sid();
    let page = app.page(&format!("/agent/calls/{unknown}"), Some(&session), None).await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("No such call") && page.body.contains(&unknown), "{}", page.body);
    assert_eq!(app.page(&screen_pop_link(&unknown, now()), None, None).await.status, 404);
}

/// The table row of the call whose screen pop `sid` names, from a list page.
fn row<'p>(page: &'p str, sid: &str) -> &'p str {
    let at = page.find(&format!("href=\"/agent/calls/{sid}\"")).unwrap_or_else(|| panic!("{sid} not listed:\n{page}"));
    let start = page[..at].rfind("<tr>").unwrap();
    let end = at + page[at..].find("</tr>").unwrap();
    &page[start..end]
}

#[tokio::test]
async fn the_list_shows_live_calls_with_their_state_newest_first_and_ended_ones_under_recent() {
    let app = spawn_desk().await;
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let empty = app.page("/agent", Some(&session), None).await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("No live calls right now."), "{}", empty.body);

    // Zoë reaches the agent queue, and the simulated Twilio fetches its hold
    // route once: waiting.
    let zoe = zoe_reaches_an_agent(&app).await;
    // Records are timed to the second: date Zoë's call a minute back, as if
    // she had called earlier, rather than wait for the clock to tick.
    let mut earlier = app.store.get(&zoe).await.expect("Zoë's record");
    earlier.started_at -= 60;
    earlier.updated_at -= 60;
    for at in [&mut earlier.identified_at, &mut earlier.verified_at, &mut earlier.handed_off_at, &mut earlier.ended_at]
    {
        *at = at.map(|t| t - 60);
    }
    app.store.put(earlier).await;
    let grace = app.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
    let in_ivr = call_sid();
    app.post_form("/voice", &call_params(&in_ivr, ADA_PHONE, SUPPORT_NUMBER), Some(AUTH_TOKEN)).await;
    // An agent dequeues Grace from the plain queue: with an agent.
    let mut connect = call_params(&grace.call_sid, STRANGER_PHONE, SUPPORT_NUMBER);
    connect.push(("DequeingCallSid".into(), call_sid()));
    assert_eq!(app.post_form("/queue/connect", &connect, Some(AUTH_TOKEN)).await.status, 200);
    app.written().await; // the list reads the database

    let page = app.page("/agent", Some(&session), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    let (zoe_at, grace_at) = (page.body.find("Zoë O"), page.body.find("Grace Hopper"));
    assert!(grace_at.is_some() && zoe_at.is_some(), "{}", page.body);
    assert!(grace_at < zoe_at, "newest first");
    assert!(page.body.contains("badge-verified") && page.body.contains("badge-identified"));
    assert!(row(&page.body, &zoe).contains(">waiting for an agent<"), "{}", row(&page.body, &zoe));
    assert!(row(&page.body, &grace.call_sid).contains(">with an agent<"), "{}", row(&page.body, &grace.call_sid));
    assert!(row(&page.body, &in_ivr).contains(">in the IVR<"), "{}", row(&page.body, &in_ivr));
    assert!(row(&page.body, &in_ivr).contains("Ada Lovelace"), "identified by caller ID, still at the PIN");
    assert!(row(&page.body, &zoe).contains("<td>no</td>"), "neither opted out nor locked");

    // Zoë hangs up: gone from the live list, under recent as ended.
    assert_eq!(app.status_callback(&zoe, "completed", 1, Some(95)).await.status, 200);
    app.written().await;
    let live = app.page("/agent", Some(&session), None).await;
    assert!(!live.body.contains(&zoe), "an ended call is not live:\n{}", live.body);
    let recent = app.page("/agent?show=recent", Some(&session), None).await;
    assert_eq!(recent.status, 200);
    assert!(recent.body.contains("<h1 id=\"calls-title\">Recent calls</h1>"), "{}", recent.body);
    assert!(row(&recent.body, &zoe).contains(">ended<"), "{}", recent.body);
    assert!(!recent.body.contains(&grace.call_sid) && !recent.body.contains(&in_ivr), "live calls are not recent");
    // Its screen pop says so, with a way back to the list.
    let pop = app.page(&format!("/agent/calls/{zoe}"), Some(&session), None).await;
    assert!(pop.body.contains("<dt>Call</dt><dd>ended <time"), "{}", pop.body);
    assert!(pop.body.contains("<a href=\"/agent\">← All calls</a>"));
    let pop = app.page(&format!("/agent/calls/{}", grace.call_sid), Some(&session), None).await;
    assert!(pop.body.contains("<dt>Call</dt><dd>live: with an agent</dd>"), "{}", pop.body);
}

#[tokio::test]
async fn the_call_api_gives_a_handed_off_calls_signed_screen_pop_link() {
    let app = spawn_desk().await;
    let sid = zoe_reaches_an_agent(&app).await;
    let (status, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let url = record["screen_pop_url"].as_str().unwrap_or_else(|| panic!("{record}"));
    let prefix = format!("{}/agent/calls/{sid}?exp=", app.public);
    assert!(url.starts_with(&prefix) && url.contains("&sig="), "{url}");
    // It opens the page without a login, as the hand-off's own link does.
    let page = app.page(&url[app.public.trim_end_matches('/').len()..], None, None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Identified only"), "{}", page.body);
}

/// The `event` of each of a call's timeline events, from the call API.
fn event_kinds(record: &serde_json::Value) -> Vec<String> {
    let events = record["timeline"].as_array().unwrap_or_else(|| panic!("a timeline: {record}"));
    events.iter().map(|e| e["event"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn a_supervisor_sees_the_calls_timeline_step_by_step_and_nobody_sees_what_was_keyed() {
    let app = spawn_desk().await;
    // Zoë keys two digits (refused), a wrong PIN, then hers: verified at the
    // third try, enqueued, held once; then she hangs up.
    let sid = app.call(ZOE_PHONE, SUPPORT_NUMBER, &["12#", "1111#", &format!("{ZOE_PIN}#")]).await.call_sid;
    let mut hold = call_params(&sid, ZOE_PHONE, SUPPORT_NUMBER);
    hold.extend([("QueuePosition".into(), "1".into()), ("QueueTime".into(), "4".into())]);
    for _ in 0..2 {
        assert_eq!(app.post_form("/hold", &hold, Some(AUTH_TOKEN)).await.status, 200, "held twice: one event");
    }
    assert_eq!(app.status_callback(&sid, "completed", 1, Some(80)).await.status, 200);
    app.written().await;

    let (status, record) = app.api_call(&sid, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(record["idv_status"], "verified", "{record}");
    assert_eq!((&record["queue"], &record["agent"]), (&"support".into(), &serde_json::Value::Null), "{record}");
    assert_eq!(
        event_kinds(&record),
        [
            "crm", "prompt", // caller ID found; asked for the PIN
            "entry", "prompt", // two digits refused; asked again
            "entry", "crm", "prompt", // the wrong PIN rejected; asked again
            "entry", "crm", "prompt", "handoff", // verified; told so and enqueued
            "agent", "status", // on hold; hung up
        ],
        "{record}"
    );
    let events = record["timeline"].as_array().unwrap();
    let at: Vec<u64> = events.iter().map(|e| e["at"].as_u64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "in time order: {at:?}");
    assert!(at[0] / 1000 >= record["started_at"].as_u64().unwrap(), "milliseconds from the call's start");
    assert_eq!(events[0]["question"], "caller_id");
    assert_eq!(events[0]["answer"], "found");
    assert_eq!(events[1]["prompts"].as_array().unwrap().last().unwrap(), "ask_factor");
    assert_eq!((&events[2]["stage"], &events[2]["entry"]), (&"verify".into(), &"refused".into()));
    assert_eq!((&events[5]["question"], &events[5]["answer"]), (&"verify".into(), &"rejected".into()));
    assert_eq!(events[8]["answer"], "verified");
    assert!(events[8]["ms"].is_u64(), "the CRM's latency: {}", events[8]);
    assert_eq!((&events[10]["outcome"], &events[10]["idv_method"]), (&"agent".into(), &"ani".into()));
    assert_eq!((&events[11]["state"], &events[12]["status"]), (&"waiting".into(), &"completed".into()));
    // An entry is its kind only: no digits, no length.
    for entry in events.iter().filter(|e| e["event"] == "entry") {
        let mut keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["at", "entry", "event", "stage"], "{entry}");
    }
    let mut untimed = record["timeline"].clone();
    for e in untimed.as_array_mut().unwrap() {
        e.as_object_mut().unwrap().retain(|k, _| k != "at" && k != "ms");
    }
    let text = untimed.to_string();
    assert!(!text.contains("1111") && !text.contains(ZOE_PIN), "{text}");

    // The supervisor's screen pop shows it in words.
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let page = app.page(&format!("/agent/calls/{sid}"), Some(&session), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h2 id=\"timeline\">Timeline</h2>"), "{}", page.body);
    assert!(page.body.contains("<dt>Queue</dt><dd>support</dd>"), "the queue she was put in: {}", page.body);
    for said in [
        "Caller-ID lookup: found a customer, in ",
        "At the PIN prompt: refused: the wrong length or not digits (the CRM was not asked).",
        "PIN check: rejected, in ",
        "PIN check: verified, in ",
        "Handed on, sent to an agent: verified by caller ID.",
        "Waiting for an agent (on hold).",
        "Twilio reported the call completed.",
        "; waiting for the PIN.",
    ] {
        assert!(page.body.contains(said), "{said:?} in:\n{}", page.body);
    }
    let rows = page.body.matches("<tr class=\"event-").count();
    assert_eq!(rows, 13, "a row per event");

    // Agents, a link and the agents' API token see the call, not its timeline.
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    for page in [
        app.page(&format!("/agent/calls/{sid}"), Some(&agent), None).await,
        app.page(&screen_pop_link(&sid, now()), None, None).await,
    ] {
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Zoë") && !page.body.contains("Timeline"), "{}", page.body);
    }
    let (status, record) = app.api_call(&sid, Some(API_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(record.get("timeline").is_none() && record["customer_id"].is_string(), "{record}");
}

/// The timeline's rows on a screen pop: each row's cells' texts.
fn timeline_rows(page: &str) -> Vec<Vec<String>> {
    page.split("<tr class=\"event-")
        .skip(1)
        .map(|row| {
            let row = row.split("</tr>").next().unwrap();
            let cells = row.split("<td").skip(1);
            cells.map(|c| crate::reports::unescape(&crate::reports::text_of(c.split_once('>').unwrap().1))).collect()
        })
        .collect()
}

#[tokio::test]
async fn a_supervisor_downloads_the_timeline_as_it_is_shown_and_the_download_is_audited() {
    use crate::exports::{cell_text, datetime_text, pdf_text, squeezed, xlsx_rows};
    let app = spawn_desk().await;
    let sid = app.call(ZOE_PHONE, SUPPORT_NUMBER, &["12#", "1111#", &format!("{ZOE_PIN}#")]).await.call_sid;
    app.written().await;
    let session = app.session(SUPERVISOR, SUPERVISOR_PASSWORD).await;
    let page = app.page(&format!("/agent/calls/{sid}"), Some(&session), None).await;
    let rows = timeline_rows(&page.body);
    assert!(rows.len() >= 10 && rows.iter().all(|r| r.len() == 4), "{rows:?}");

    // CSV: the time in ISO 8601, the seconds since the start, the words.
    let (content_type, disposition, csv) =
        crate::reports::fetch(&app, &page.body, "export-timeline", "csv", &session).await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert_eq!(disposition, format!("attachment; filename=\"vouch-timeline_{sid}.csv\""));
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    assert_eq!(reader.headers().unwrap(), vec!["time_utc", "since_start_seconds", "step", "what_happened"]);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows.len());
    for (record, shown) in records.iter().zip(&rows) {
        assert!(record[0].ends_with(&format!("T{}Z", shown[0])), "{record:?} against {shown:?}");
        let seconds: f64 = record[1].parse().unwrap();
        assert_eq!(format!("+{seconds:.1} s"), shown[1]);
        assert_eq!((&record[2], &record[3]), (shown[2].as_str(), shown[3].as_str()));
    }
    assert!(!String::from_utf8_lossy(&csv).contains("1111"), "never what was keyed");

    // XLSX: the call first, then the rows, the time a date and time, the
    // seconds a number.
    let (_, disposition, xlsx) = crate::reports::fetch(&app, &page.body, "export-timeline", "xlsx", &session).await;
    assert!(disposition.ends_with(".xlsx\""), "{disposition}");
    let (sheet, cells) = xlsx_rows(&xlsx);
    assert_eq!(sheet, "Timeline");
    assert_eq!((cell_text(&cells[1][0]), cell_text(&cells[1][1])), ("Call SID".to_string(), sid.clone()));
    let header = cells.iter().position(|r| cell_text(&r[0]) == "Time (UTC)").expect("the header");
    assert_eq!(cells.len(), header + 1 + rows.len());
    for (row, shown) in cells[header + 1..].iter().zip(&rows) {
        assert_eq!(datetime_text(&row[0])[11..], *shown[0].trim_end_matches(".000"), "the time, to the millisecond");
        match &row[1] {
            calamine::Data::Float(v) => assert_eq!(format!("+{v:.1} s"), shown[1]),
            other => panic!("seconds are a number: {other:?}"),
        }
        assert_eq!((cell_text(&row[2]), cell_text(&row[3])), (shown[2].clone(), shown[3].clone()));
    }

    // PDF: each row as the page shows it.
    let (content_type, _, pdf) = crate::reports::fetch(&app, &page.body, "export-timeline", "pdf", &session).await;
    assert_eq!(content_type, "application/pdf");
    if let Some(text) = pdf_text(&pdf) {
        assert!(text.contains(&format!("Call SID: {sid}")), "{text}");
        let lines: Vec<String> = text.lines().map(|l| squeezed([l])).collect();
        for shown in &rows {
            let want = squeezed(shown.iter().map(String::as_str));
            assert!(lines.contains(&want), "{shown:?} in:\n{text}");
        }
    }

    // Each download is audited against the call; agents may not.
    let entries = app.audited_n("timeline_exported", 3).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.iter().all(|e| e["target"].to_string().contains(&sid)), "{entries:?}");
    let agent = app.session(AGENT, AGENT_PASSWORD).await;
    let refused = app.page(&format!("/agent/calls/{sid}/timeline?format=csv"), Some(&agent), None).await;
    assert_eq!(refused.status, 403);
    let r = app.page(&format!("/agent/calls/{sid}/timeline?format=docx"), Some(&session), None).await;
    assert!(r.status == 400 && r.body.contains("format: \"docx\""), "{}", r.body);
    let r = app.page("/agent/calls/CAnone/timeline?format=csv", Some(&session), None).await;
    assert_eq!(r.status, 404, "{}", r.body);
}
