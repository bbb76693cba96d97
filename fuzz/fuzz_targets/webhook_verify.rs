//! Signature-header and request parsing: arbitrary method, path, content
//! type, signature header and body never panic and are never accepted
//! without the token.
#![no_main]

use actix_web::http::Method;
use libfuzzer_sys::fuzz_target;
use vouch::config::Secret;
use vouch::twilio::webhook::{Webhook, WebhookAuth};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(5, |b| *b == 0xff);
    let method = if parts.next().is_some_and(|m| m.first().is_some_and(|b| b % 2 == 0)) { Method::GET } else { Method::POST };
    let text = |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).into_owned();
    let path = format!("/{}", text(parts.next()));
    let content_type = text(parts.next());
    let signature = text(parts.next());
    let body = parts.next().unwrap_or_default();
    let auth = WebhookAuth::new(&[Secret::new("fuzz-auth-token")], "https://ivr.example.com");
    let result = Webhook::verify(&auth, &method, &path, &content_type, Some(&signature), body);
    assert!(result.is_err(), "accepted a request signed by nobody");
});
