//! The SIP URI for a `<Dial><Sip>` handoff: the configured URI with the
//! context as URL-encoded `X-` headers, inside Twilio's limits (a URI under
//! 255 characters). The status and the lockout always fit (a configured
//! URI is at most 128 characters); the name is cut first, then the least
//! needed headers are left out.

use crate::flow::HandoffContext;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Twilio refuses SIP URIs of 255 characters or more.
pub const MAX_URI_CHARS: usize = 254;

/// Encoded characters of a name the least needed headers make room for.
const NAME_RESERVE: usize = 12;

/// Everything but RFC 3986's unreserved characters is encoded.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Control characters (a newline in a CRM name) would make Twilio drop the
/// header (warning 32112): they become spaces before encoding.
fn enc(v: &str) -> String {
    let clean: String = v.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    utf8_percent_encode(&clean, VALUE).to_string()
}

/// `sip:agent@pbx.example.com?x-idv-status=verified&x-customer-id=…`.
pub fn uri(base: &str, context: &HandoffContext) -> String {
    // Most needed first: later ones are dropped when the URI would be too
    // long, never the first ALWAYS (the status, and whether the customer's
    // verification is locked: an agent must not read a lockout as a caller
    // who simply failed).
    const ALWAYS: usize = 2;
    let mut headers: Vec<(&str, String)> =
        vec![("x-idv-status", context.idv_status.as_str().to_string()), ("x-lockout", context.lockout.to_string())];
    if let Some(id) = context.customer_id.as_deref().filter(|v| !v.is_empty()) {
        headers.push(("x-customer-id", id.to_string()));
    }
    headers.push(("x-idv-method", context.idv_method.as_str().to_string()));
    headers.push(("x-service-line", context.service_line.clone()));
    headers.push(("x-opted-out", context.opted_out.to_string()));
    let join = |hs: &[(&str, String)]| {
        let q: Vec<String> = hs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        format!("{base}?{}", q.join("&"))
    };
    let name = context.customer_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    // Room kept for the start of a name: the least needed headers give way to it.
    let reserve = name.map_or(0, |n| "&x-customer-name=".len() + enc(n).len().min(NAME_RESERVE));
    let mut out = join(&headers);
    while out.chars().count() + reserve > MAX_URI_CHARS && headers.len() > ALWAYS {
        headers.pop();
        out = join(&headers);
    }
    // The name goes last, cut to whatever room is left.
    if let Some(name) = name {
        let room = MAX_URI_CHARS.saturating_sub(out.chars().count() + "&x-customer-name=".len());
        let mut encoded = String::new();
        for c in name.chars() {
            let e = enc(c.encode_utf8(&mut [0; 4]));
            if encoded.len() + e.len() > room {
                break;
            }
            encoded.push_str(&e);
        }
        if !encoded.is_empty() {
            out = format!("{out}&x-customer-name={encoded}");
        }
    }
    // The attestation is the least needed: it only goes where it fits.
    let extra = format!("&x-ani-attestation={}", context.ani_attestation.as_str());
    if out.chars().count() + extra.len() <= MAX_URI_CHARS {
        out.push_str(&extra);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(name: &str, id: &str) -> HandoffContext {
        HandoffContext { customer_id: Some(id.into()), customer_name: Some(name.into()), ..HandoffContext::example() }
    }

    #[test]
    fn the_context_becomes_url_encoded_x_headers() {
        assert_eq!(
            uri("sip:agent@pbx.example.com", &ctx("Zoë O'Brien & <Sons>", "12345678")),
            "sip:agent@pbx.example.com?x-idv-status=verified&x-lockout=false&x-customer-id=12345678&x-idv-method=ani\
             &x-service-line=support&x-opted-out=false&x-customer-name=Zo%C3%AB%20O%27Brien%20%26%20%3CSons%3E\
             &x-ani-attestation=none"
        );
    }

    #[test]
    fn long_values_are_cut_but_the_status_stays() {
        let base = format!("sip:{}@pbx.example.com", "a".repeat(100));
        let u = uri(&base, &ctx(&"é".repeat(300), "1234"));
        assert!(u.chars().count() <= MAX_URI_CHARS, "{}", u.len());
        assert!(u.contains("x-idv-status=verified&x-lockout=false&x-customer-id=1234"), "{u}");
        assert!(u.contains("x-customer-name=%C3%A9"), "{u}");
        let huge_id = "9".repeat(300);
        let u = uri(&base, &ctx("Ada", &huge_id));
        assert!(
            u.chars().count() <= MAX_URI_CHARS
                && u.contains("?x-idv-status=verified&x-lockout=false&x-customer-name=Ada"),
            "{u}"
        );
        assert!(uri("sip:a@b", &ctx("Ada\nLovelace", "1")).contains("x-customer-name=Ada%20Lovelace&"));
    }

    #[test]
    fn the_lockout_is_always_there_however_long_the_rest() {
        // The longest base a line may configure, and the longest values.
        let base = format!("sips:{}@pbx.example.com", "a".repeat(crate::config::MAX_SIP_BASE_CHARS - 21));
        assert_eq!(base.chars().count(), crate::config::MAX_SIP_BASE_CHARS);
        for lockout in [true, false] {
            for (name, id) in [("é".repeat(300), "9".repeat(300)), ("Ada".into(), "12345678".into())] {
                let c = HandoffContext {
                    lockout,
                    service_line: "s".repeat(32),
                    idv_status: crate::flow::IdvStatus::Unidentified,
                    ..ctx(&name, &id)
                };
                let u = uri(&base, &c);
                assert!(u.chars().count() <= MAX_URI_CHARS, "{}", u.len());
                assert!(u.contains(&format!("?x-idv-status=unidentified&x-lockout={lockout}")), "{u}");
            }
        }
        let without_name = HandoffContext { customer_name: None, ..ctx("", "12345678") };
        assert!(!uri("sip:a@b", &without_name).contains("x-customer-name"));
    }
}
