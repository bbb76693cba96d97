//! The keyring itself: rotation, purposes kept apart, one expiry rule. The
//! byte-for-byte compatibility with earlier builds is `tests/token_compat.rs`.

use super::*;

const OLD: &str = "old-state-secret-0123456789abcdef0123";
const NEW: &str = "new-state-secret-0123456789abcdef0123";
const PARTS: &[&[u8]] = &[b"payload", b"CA0123456789abcdef0123456789abcdef"];

fn ring(keys: &[&str]) -> Keyring {
    Keyring::new(keys.iter().copied()).expect("keys")
}

/// Every purpose that signs with the current key (all but caller subjects).
fn signing_purposes() -> impl Iterator<Item = Purpose> {
    Purpose::ALL.into_iter().filter(|p| !p.keyed_by_oldest())
}

#[test]
fn a_ring_needs_a_key() {
    assert!(matches!(Keyring::new([]), Err(NoKeys)));
    assert!(Keyring::new([OLD]).is_ok());
}

#[test]
fn the_key_id_is_a_hash_prefix_of_the_secret() {
    let ring = Keyring::single(OLD);
    let (kid, _) = ring.sign(Purpose::FlowState, PARTS);
    assert_eq!(kid, hex::encode(&Sha256::digest(OLD.as_bytes())[..4]));
}

#[test]
fn an_old_key_verifies_after_a_new_one_is_prepended_until_it_is_retired() {
    for purpose in signing_purposes() {
        let old = ring(&[OLD]);
        let (kid, mac) = old.sign(purpose, PARTS);
        let rotated = ring(&[NEW, OLD]);
        assert_eq!(rotated.verify(purpose, Some(kid), PARTS, &mac), Ok(()), "{purpose:?}");
        assert_eq!(rotated.verify(purpose, None, PARTS, &mac), Ok(()), "{purpose:?}");
        let retired = ring(&[NEW]);
        assert_eq!(retired.verify(purpose, Some(kid), PARTS, &mac), Err(Refusal::UnknownKey), "{purpose:?}");
        assert_eq!(retired.verify(purpose, None, PARTS, &mac), Err(Refusal::BadSignature), "{purpose:?}");
    }
}

#[test]
fn the_first_key_signs_and_the_oldest_keys_caller_subjects() {
    let rotated = ring(&[NEW, OLD]);
    for purpose in signing_purposes() {
        let (kid, mac) = rotated.sign(purpose, PARTS);
        assert_eq!(kid, Keyring::single(NEW).sign(purpose, PARTS).0);
        assert_eq!(Keyring::single(NEW).verify(purpose, None, PARTS, &mac), Ok(()), "{purpose:?}");
    }
    let subject = |r: &Keyring| r.sign(Purpose::CallerSubject, PARTS).1;
    assert_eq!(subject(&rotated), subject(&ring(&[OLD])), "prepending a key keeps the subject");
    assert_ne!(subject(&rotated), subject(&ring(&[NEW])));
}

#[test]
fn a_mac_is_good_for_its_purpose_and_parts_only() {
    let r = ring(&[OLD]);
    for made in Purpose::ALL {
        let (_, mac) = r.sign(made, PARTS);
        for checked in Purpose::ALL {
            assert_eq!(r.verify(checked, None, PARTS, &mac).is_ok(), made == checked, "{made:?} as {checked:?}");
        }
        let moved: &[&[u8]] = &[b"payload\nCA0123456789abcdef0123456789abcdef"];
        assert_eq!(r.verify(made, None, moved, &mac), Ok(()), "parts are joined by newlines");
        let other: &[&[u8]] = &[b"payload", b"CA0123456789abcdef0123456789abcdee"];
        assert_eq!(r.verify(made, None, other, &mac), Err(Refusal::BadSignature), "{made:?}");
        assert_eq!(r.verify(made, None, PARTS, &mac[..31]), Err(Refusal::BadSignature), "a truncated MAC");
    }
}

#[test]
fn a_token_is_valid_through_its_expiry_second() {
    assert_eq!(expires_at(1000, 600), 1600);
    assert!(!expired(1600, 1599));
    assert!(!expired(1600, 1600));
    assert!(expired(1600, 1601));
    assert_eq!(expires_at(u64::MAX - 1, 600), u64::MAX, "no overflow");
}

#[test]
fn a_sealed_token_opens_with_its_key_and_parts_only_and_survives_rotation() {
    let old = ring(&[OLD]);
    let (kid, sealed) = old.seal(Sealing::FlowState, PARTS, b"the state");
    let kid = kid.to_string();
    assert_eq!(sealed.len(), NONCE_LEN + "the state".len() + TAG_LEN);
    assert_ne!(old.seal(Sealing::FlowState, PARTS, b"the state").1, sealed, "a random nonce each time");
    assert_eq!(old.open(Sealing::FlowState, &kid, PARTS, &sealed).as_deref(), Ok(&b"the state"[..]));
    let rotated = ring(&[NEW, OLD]);
    assert_eq!(rotated.open(Sealing::FlowState, &kid, PARTS, &sealed).as_deref(), Ok(&b"the state"[..]));
    assert_ne!(rotated.seal(Sealing::FlowState, PARTS, b"x").0, kid, "the new key seals");
    assert_eq!(ring(&[NEW]).open(Sealing::FlowState, &kid, PARTS, &sealed), Err(Refusal::UnknownKey), "retired");
    let other_call: &[&[u8]] = &[b"payload", b"CA0123456789abcdef0123456789abcdee"];
    assert_eq!(old.open(Sealing::FlowState, &kid, other_call, &sealed), Err(Refusal::BadSignature));
    assert_eq!(old.open(Sealing::FlowState, &kid, PARTS, &sealed[..NONCE_LEN]), Err(Refusal::BadSignature));
    // The sealing key is no MAC key: a MAC of the same parts is not the tag.
    let (_, mac) = old.sign(Purpose::FlowState, PARTS);
    assert!(!sealed.windows(16).any(|w| w == &mac[..16]));
}
