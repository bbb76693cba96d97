//! What an agent hears before being bridged to a caller (the `url` document
//! of a `<Dial>` noun): the caller's status, name and the last digits of
//! their identifier, spoken digit by digit, and whether the customer's
//! verification is locked. Pure, so the wording is tested.

use crate::flow::{HandoffContext, IdvStatus};

/// Longer names are cut: a whisper keeps the caller waiting.
const MAX_NAME_CHARS: usize = 80;
/// Only the tail of the identifier is spoken.
const TAIL_CHARS: usize = 4;

/// "Verified caller, Ada Lovelace, account number ending 5 6 7 8."
pub fn text(context: &HandoffContext, identifier_name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.push(
        match context.idv_status {
            IdvStatus::Verified => "Verified caller",
            IdvStatus::Identified => "Identified caller, not verified",
            IdvStatus::Unidentified => "Caller not identified",
        }
        .to_string(),
    );
    if context.idv_status != IdvStatus::Unidentified {
        if let Some(name) = context.customer_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            parts.push(name.chars().take(MAX_NAME_CHARS).collect());
        }
        if let Some(tail) = context.customer_id.as_deref().map(spoken_tail).filter(|t| !t.is_empty()) {
            parts.push(format!("{identifier_name} ending {tail}"));
        }
    }
    let mut out = parts.join(", ");
    out.push('.');
    if context.lockout {
        out.push_str(" Verification is locked after too many failed attempts.");
    }
    if context.opted_out {
        out.push_str(match context.idv_status {
            IdvStatus::Unidentified => " The caller chose not to identify.",
            _ => " The caller chose not to verify.",
        });
    }
    out
}

/// The last four characters, spaced so `<Say>` reads them one by one.
fn spoken_tail(id: &str) -> String {
    let chars: Vec<char> = id.trim().chars().filter(|c| c.is_alphanumeric()).collect();
    let start = chars.len().saturating_sub(TAIL_CHARS);
    chars[start..].iter().map(char::to_string).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::IdvMethod;

    fn ctx(status: IdvStatus, id: Option<&str>, name: Option<&str>, opted_out: bool) -> HandoffContext {
        HandoffContext {
            customer_id: id.map(str::to_string),
            customer_name: name.map(str::to_string),
            idv_status: status,
            idv_method: IdvMethod::Keyed,
            service_line: "support".into(),
            opted_out,
            ani_attestation: Default::default(),
            lockout: false,
            attributes: vec![("tier".into(), "Gold".into())],
        }
    }

    #[test]
    fn each_status_is_spoken_with_only_the_last_four_digits() {
        let ada = |s| ctx(s, Some("12345678"), Some("Ada Lovelace"), false);
        assert_eq!(
            text(&ada(IdvStatus::Verified), "account number"),
            "Verified caller, Ada Lovelace, account number ending 5 6 7 8."
        );
        assert_eq!(
            text(&ada(IdvStatus::Identified), "account"),
            "Identified caller, not verified, Ada Lovelace, account ending 5 6 7 8."
        );
        assert_eq!(text(&ctx(IdvStatus::Unidentified, None, None, false), "account"), "Caller not identified.");
        assert!(!text(&ada(IdvStatus::Verified), "account").contains("1 2 3 4"));
    }

    #[test]
    fn opting_out_and_missing_parts_are_said_plainly() {
        assert_eq!(
            text(&ctx(IdvStatus::Unidentified, None, None, true), "account"),
            "Caller not identified. The caller chose not to identify."
        );
        assert_eq!(
            text(&ctx(IdvStatus::Identified, Some("987"), Some("  "), true), "customer ID"),
            "Identified caller, not verified, customer ID ending 9 8 7. The caller chose not to verify."
        );
        let locked =
            HandoffContext { lockout: true, ..ctx(IdvStatus::Identified, Some("12345678"), Some("Ada"), true) };
        assert_eq!(
            text(&locked, "account"),
            "Identified caller, not verified, Ada, account ending 5 6 7 8. \
             Verification is locked after too many failed attempts. The caller chose not to verify."
        );
        let long = "N".repeat(500);
        assert!(text(&ctx(IdvStatus::Verified, None, Some(&long), false), "id").len() < 120);
    }
}
