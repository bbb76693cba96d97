use super::*;
use crate::flow::{HandoffContext, IdvMethod, IdvStatus};
use crate::store::{AgentState, RecordChange};

fn record(status: IdvStatus, method: IdvMethod, outcome: RecordOutcome) -> CallRecord {
    let mut r = CallRecord::new("CA0123456789abcdef0123456789abcdef", "support", "+1********01".into(), 1_795_630_000);
    let context = HandoffContext {
        customer_id: Some("12345678".into()),
        customer_name: Some("Ada Lovelace".into()),
        idv_status: status,
        idv_method: method,
        service_line: "support".into(),
        opted_out: outcome == RecordOutcome::OptedOut,
        ani_attestation: Default::default(),
        lockout: false,
        attributes: vec![("tier".into(), "Gold".into()), ("segment".into(), "SMB".into())],
    };
    let placed = crate::store::Placement::default();
    r.apply(
        &RecordChange::HandedOff { context, outcome, identify_attempts: 0, verify_attempts: 0, placed },
        1_795_630_009,
    );
    r
}

#[test]
fn times_are_utc_dates() {
    assert_eq!(moment(0, 0).iso, "1970-01-01T00:00:00Z");
    assert_eq!(moment(951_782_400, 951_782_400).iso, "2000-02-29T00:00:00Z");
    assert_eq!(moment(1_795_630_009, 1_795_630_009).iso, "2026-11-25T18:06:49Z");
    assert_eq!(moment(4_102_444_799, 0).iso, "2099-12-31T23:59:59Z");
    assert_eq!(moment(1_795_630_009, 1_795_630_009 + 185).text, "2026-11-25 18:06:49 UTC (3 min ago)");
    assert_eq!(moment(1_795_630_009, 1_795_630_010).text, "2026-11-25 18:06:49 UTC (just now)");
    assert_eq!(moment(1_795_630_009, 1_795_630_009 + 7300).short, "18:06:49 UTC, 2 h 1 min ago");
}

#[test]
fn each_status_has_words_not_just_a_colour() {
    let v = CallView::new(&record(IdvStatus::Verified, IdvMethod::Ani, RecordOutcome::Agent), None, 1_795_630_010);
    assert_eq!((v.status_class, v.status_text), ("verified", "Verified"));
    assert_eq!(v.method, "caller ID");
    let v = CallView::new(&record(IdvStatus::Identified, IdvMethod::Keyed, RecordOutcome::Agent), None, 0);
    assert_eq!(
        (v.status_class, v.status_text, v.method.as_str()),
        ("identified", "Identified only", "keyed identifier")
    );
    let v = CallView::new(&record(IdvStatus::Unidentified, IdvMethod::None, RecordOutcome::OptedOut), None, 0);
    assert_eq!((v.status_class, v.status_text), ("unidentified", "Not identified"));
    assert!(v.opted_out);
}

#[test]
fn only_calls_sent_to_an_agent_have_reached_one() {
    let at = |o| CallView::new(&record(IdvStatus::Verified, IdvMethod::Ani, o), None, 1_795_630_010).reached_agent;
    assert_eq!(at(RecordOutcome::Agent).map(|m| m.iso), Some("2026-11-25T18:06:49Z".to_string()));
    assert!(at(RecordOutcome::CrmUnavailable).is_some());
    assert!(at(RecordOutcome::VerificationUnavailable).is_some());
    assert!(at(RecordOutcome::OptedOut).is_some());
    assert_eq!(at(RecordOutcome::SelfService), None);
    assert_eq!(at(RecordOutcome::InProgress), None);
}

#[test]
fn the_customer_attributes_are_shown_in_configuration_order() {
    let v = CallView::new(&record(IdvStatus::Verified, IdvMethod::Ani, RecordOutcome::Agent), None, 0);
    let names: Vec<&str> = v.attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["tier", "segment"]);
    let page = crate::routes::agent::page::CallPage { session_user: None, call: v, timeline: None };
    let html = askama::Template::render(&page).unwrap();
    assert!(html.contains("<h2 id=\"attributes\">Attributes</h2>"), "{html}");
    assert!(html.contains("<div><dt>tier</dt><dd>Gold</dd></div>"), "{html}");
    let none =
        CallView { attributes: Vec::new(), ..CallView::new(&CallRecord::new("CA1", "x", String::new(), 0), None, 0) };
    let html = askama::Template::render(&crate::routes::agent::page::CallPage {
        session_user: None,
        call: none,
        timeline: None,
    })
    .unwrap();
    assert!(!html.contains("Attributes"), "no empty section");
}

#[test]
fn a_calls_presence_follows_what_vouch_saw_and_ends_with_its_status_or_after_two_hours_of_silence() {
    let at = 1_795_630_009;
    let in_ivr = CallRecord::new("CA1", "support", "+1********01".into(), at);
    assert_eq!(Presence::of(&in_ivr, at + 30), Presence::InIvr);
    let mut r = record(IdvStatus::Identified, IdvMethod::Ani, RecordOutcome::Agent);
    assert_eq!(Presence::of(&r, at + 5), Presence::HandedOff, "queued where Vouch cannot see yet");
    r.merge(&CallRecord::agent_state_only(&r.call_sid.clone(), AgentState::Waiting, at + 6));
    assert_eq!(Presence::of(&r, at + 7), Presence::Waiting);
    r.merge(&CallRecord::agent_state_only(&r.call_sid.clone(), AgentState::WithAgent, at + 8));
    r.merge(&CallRecord::agent_state_only(&r.call_sid.clone(), AgentState::Waiting, at + 9));
    assert_eq!(Presence::of(&r, at + 10), Presence::WithAgent, "only forward: a late hold request does not undo it");
    assert_eq!(Presence::of(&r, at + 9 + LIVE_FOR_SECS), Presence::WithAgent);
    assert_eq!(Presence::of(&r, at + 10 + LIVE_FOR_SECS), Presence::Ended, "no status ever came");
    let v = CallView::new(&r, None, at + 10 + LIVE_FOR_SECS);
    assert_eq!(v.ended.map(|m| m.iso), Some("2026-11-25T18:06:58Z".to_string()), "ended at its last news");
    r.apply_status("completed", Some(3), Some(40), at + 50);
    assert_eq!(Presence::of(&r, at + 51), Presence::Ended);
    assert_eq!((Presence::Waiting.text(), Presence::Ended.class()), ("waiting for an agent", "ended"));
    let mut abandoned = CallRecord::new("CA2", "support", "+1********01".into(), at);
    abandoned.apply_status("completed", Some(1), Some(3), at + 3);
    assert_eq!(Presence::of(&abandoned, at + 4), Presence::Ended, "hung up in the IVR");
}
