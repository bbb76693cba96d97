//! Tokens issued by an earlier build keep working: a rolling deploy runs old
//! and new instances side by side, and links and cookies outlive a deploy.
//! The constants below were issued by the signers of the build before the
//! keyring (`state_token.rs`, `links.rs`, `auth/session.rs`, the guard's
//! caller hash), and checked against an independent implementation of the
//! documented derivations; the keyring must open them and issue the very
//! same bytes for the same inputs.
//!
//! Flow-state tokens are the exception: they are sealed now (encrypted,
//! with a random nonce), so a new build never issues the old signed bytes.
//! It still opens them until they expire (a state lives minutes), so calls
//! in progress survive a rolling deploy; `seal_signed` shows the old
//! derivation is unchanged.

use vouch::config::Role;
use vouch::flow::{Attestation, Customer, FlowState, IdvMethod, Stage};
use vouch::keyring::counters::CallerSubjects;
use vouch::keyring::flow_state::{FlowStates, StateError};
use vouch::keyring::links::{ScreenPopLinks, SCREEN_POP_TTL_SECS};
use vouch::keyring::session::Sessions;
use vouch::keyring::{Keyring, Purpose};
use vouch::paths::screen_pop as screen_pop_path;

/// The key the fixtures were issued with.
const OLD_KEY: &str = "compat-old-state-secret-0123456789abcdef";
/// A key prepended to it (rotation): the `ROTATED_*` fixtures were issued
/// with `[NEW_KEY, OLD_KEY]`.
const NEW_KEY: &str = "compat-new-state-secret-fedcba9876543210";
const SID: &str = "CA0123456789abcdef0123456789abcdef";
/// When the fixtures were issued.
const NOW: u64 = 1_700_000_000;
const STATE_TTL: u64 = 600;
const USER: &str = "ada.agent";
const CALLER: &str = "+15551230001";

const STATE_TOKEN: &str = "f31e125b.eyJlIjoxNzAwMDAwNjAwLCJsIjoic3VwcG9ydCIsInMiOiJ2ZXJpZnkiLCJpIjoyLCJ2IjoxLCJjIjp7ImlkIjoiMTIzNDU2NzgiLCJuYW1lIjoiWm_DqyAmIDxTb25zPiJ9LCJtIjoia2V5ZWQiLCJhIjoiQiIsImsiOnRydWV9.tL9D2WY3-kit4HL76MN3UakMV50Ibc6z5jPgZp9k_BU";
const LINK: &str =
    "/agent/calls/CA0123456789abcdef0123456789abcdef?exp=1700043200&sig=9EjO2kJY-esGZIzrv60MzsKA1-UCIaBzoJu-cPapq4Y";
/// A session cookie from before sessions were revocable (no session id):
/// its MAC still verifies, and it is refused.
const LEGACY_COOKIE: &str = "YWRhLmFnZW50fHN1cGVydmlzb3J8MTcwMDA0MzIwMA.zfm7GV16VbNqQkSsPkQGxr0NFmKwyZvEgn4UG42qFlM";
/// Session cookies carry a session id and a password fingerprint since
/// sessions became revocable; these were issued by that build, with the
/// same derived key as the legacy one.
const SESSION_ID: &str = "0123456789abcdef0123456789abcdef";
const FINGERPRINT: &str = "f1f2f3f4";
const COOKIE: &str = "YWRhLmFnZW50fHN1cGVydmlzb3J8MTcwMDA0MzIwMHwwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZnxmMWYyZjNmNA.U57VJtNzJ407IwVN2CQYqdg0Ws7Us5Mr4ns2_Qg9q4g";
/// The caller hash, keyed by the oldest key: the same before and after rotation.
const SUBJECT: &str = "5375d37f2b66c3c39add87fa9d53c119";

const ROTATED_STATE_TOKEN: &str = "fdefbcad.eyJlIjoxNzAwMDAwNjAwLCJsIjoic3VwcG9ydCIsInMiOiJ2ZXJpZnkiLCJpIjoyLCJ2IjoxLCJjIjp7ImlkIjoiMTIzNDU2NzgiLCJuYW1lIjoiWm_DqyAmIDxTb25zPiJ9LCJtIjoia2V5ZWQiLCJhIjoiQiIsImsiOnRydWV9.xR3MK5scqvNeJcuUK_0b_D70Tk6AUfF00MeYZWlkV-I";
const ROTATED_LINK: &str =
    "/agent/calls/CA0123456789abcdef0123456789abcdef?exp=1700043200&sig=FxiYqnu8_DuPrJmY58mEifyVsHtTzlru-PBKzWgNckE";
const ROTATED_COOKIE: &str = "YWRhLmFnZW50fHN1cGVydmlzb3J8MTcwMDA0MzIwMHwwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZnxmMWYyZjNmNA.gHDianMTW1Yf4zP48FjvP1utn8mxeCtqg0VN2_Vn1vE";

fn state() -> FlowState {
    FlowState {
        line: "support".into(),
        stage: Stage::Verify,
        identify_attempts: 2,
        verify_attempts: 1,
        customer: Some(Customer { id: "12345678".into(), name: "Zoë & <Sons>".into(), attributes: Vec::new() }),
        method: IdvMethod::Keyed,
        attestation: Attestation::B,
        lockout: true,
        caller_id: None,
    }
}

/// `exp` and `sig` of a signed link.
fn query(link: &str) -> (u64, String) {
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(link.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    (q["exp"].parse().unwrap(), q["sig"].clone())
}

fn ring(keys: &[&str]) -> Keyring {
    Keyring::new(keys.iter().copied()).unwrap()
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    for (keys, token, link, cookie) in [
        (&[OLD_KEY][..], STATE_TOKEN, LINK, COOKIE),
        (&[NEW_KEY, OLD_KEY][..], ROTATED_STATE_TOKEN, ROTATED_LINK, ROTATED_COOKIE),
    ] {
        let ring = ring(keys);
        let flow_states = FlowStates::new(&ring, STATE_TTL);
        assert_eq!(flow_states.seal_signed(&state(), SID, NOW), token, "the old derivation is unchanged");
        let sealed = flow_states.seal(&state(), SID, NOW);
        assert_ne!(sealed, flow_states.seal(&state(), SID, NOW), "sealed tokens never repeat");
        assert_eq!(sealed.split('.').count(), 2, "a new build issues sealed tokens only: {sealed}");
        assert_eq!(flow_states.open(&sealed, SID, NOW), Ok(state()));
        let links = ScreenPopLinks::new(&ring, SCREEN_POP_TTL_SECS);
        assert_eq!(links.sign(&screen_pop_path(SID), NOW), link);
        assert_eq!(Sessions::new(&ring).issue(USER, Role::Supervisor, SESSION_ID, FINGERPRINT, NOW), cookie);
        assert_eq!(CallerSubjects::new(&ring).subject(CALLER), SUBJECT, "prepending a key keeps the caller hash");
    }
}

#[test]
fn the_legacy_session_cookie_was_signed_with_the_same_derived_key() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (payload, mac) = LEGACY_COOKIE.split_once('.').unwrap();
    let (payload, mac) = (b64.decode(payload).unwrap(), b64.decode(mac).unwrap());
    assert_eq!(ring(&[OLD_KEY]).verify(Purpose::Session, None, &[&payload], &mac), Ok(()));
}

#[test]
fn earlier_tokens_open_until_their_key_is_retired() {
    let exp = NOW + SCREEN_POP_TTL_SECS;
    for (keys, token, link, cookie) in [
        (&[OLD_KEY][..], STATE_TOKEN, LINK, COOKIE),
        (&[NEW_KEY, OLD_KEY][..], STATE_TOKEN, LINK, COOKIE),
        (&[NEW_KEY, OLD_KEY][..], ROTATED_STATE_TOKEN, ROTATED_LINK, ROTATED_COOKIE),
        (&[NEW_KEY][..], ROTATED_STATE_TOKEN, ROTATED_LINK, ROTATED_COOKIE),
    ] {
        let ring = ring(keys);
        let flow_states = FlowStates::new(&ring, STATE_TTL);
        assert_eq!(flow_states.open(token, SID, NOW + STATE_TTL), Ok(state()), "valid through its expiry");
        assert_eq!(flow_states.open(token, SID, NOW + STATE_TTL + 1), Err(StateError::Expired));
        let (link_exp, sig) = query(link);
        assert_eq!(link_exp, exp);
        let links = ScreenPopLinks::new(&ring, SCREEN_POP_TTL_SECS);
        assert!(links.verify(&screen_pop_path(SID), exp, &sig, exp), "valid through its expiry");
        assert!(!links.verify(&screen_pop_path(SID), exp, &sig, exp + 1));
        let sessions = Sessions::new(&ring);
        let session = sessions.open(cookie, exp).expect("valid through its expiry");
        assert_eq!((session.user.as_str(), session.role, session.exp), (USER, Role::Supervisor, exp));
        assert_eq!(sessions.open(cookie, exp + 1), None);
        assert_eq!(sessions.open(LEGACY_COOKIE, NOW), None, "no session id: not revocable, so refused");
    }

    // The old key retired: nothing it issued opens any more.
    let retired = ring(&[NEW_KEY]);
    let flow_states = FlowStates::new(&retired, STATE_TTL);
    assert_eq!(flow_states.open(STATE_TOKEN, SID, NOW), Err(StateError::UnknownKey));
    let (exp, sig) = query(LINK);
    assert!(!ScreenPopLinks::new(&retired, SCREEN_POP_TTL_SECS).verify(&screen_pop_path(SID), exp, &sig, NOW));
    assert_eq!(Sessions::new(&retired).open(COOKIE, NOW), None);
    assert_ne!(CallerSubjects::new(&retired).subject(CALLER), SUBJECT, "retiring the oldest key resets the counts");
}
