//! The pieces of a webhook's own work, one at a time (criterion): the
//! signature check, the flow state sealed and opened, the form decoded,
//! the whole verifying extractor's core, and a step's TwiML rendered.
//!
//!   cargo bench --bench micro                 # measure
//!   cargo bench --bench micro -- --test       # run each once (CI)

use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::HashMap;
use std::hint::black_box;
use vouch::config::Config;
use vouch::flow::{Prompt, Stage};
use vouch::handoff::{HandoffTokens, Links};
use vouch::keyring::flow_state::FlowStates;
use vouch::keyring::links::ScreenPopLinks;
use vouch::keyring::Keyring;
use vouch::paths::Urls;
use vouch::render::{self, Then};
use vouch::sim::{CallSpec, Phone};
use vouch::twilio::form::Params;
use vouch::twilio::signature::{self, Body};
use vouch::twilio::webhook::{Webhook, WebhookAuth};

const TOKEN: &str = "vouch-demo-auth-token-not-secret";
const BASE: &str = "https://vouch.example.com";
const SID: &str = "CA0123456789abcdef0123456789abcdef";

fn config() -> Config {
    let env: HashMap<String, String> =
        [("VOUCH_STATE_SECRET", "bench-state-secret-0123456789abcdef0123456789"), ("VOUCH_PUBLIC_URL", BASE)]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
    Config::from_toml(vouch::config::DEMO_CONFIG, &env).expect("demo config")
}

/// A first webhook's form, as Twilio sends it.
fn first_form() -> (Params, String) {
    let params = Params::from_pairs(Phone::call_params(&CallSpec::default(), SID));
    let body = params.encode();
    (params, body)
}

fn benches(c: &mut Criterion) {
    let config = config();
    let (params, body) = first_form();
    let url = format!("{BASE}/voice");
    let sig = signature::sign(TOKEN, &url, &params);

    c.bench_function("form: parse a first webhook's body", |b| {
        b.iter(|| Params::parse(black_box(body.as_bytes())).expect("parses"))
    });
    c.bench_function("signature: verify a first webhook", |b| {
        b.iter(|| assert!(signature::verify([TOKEN], black_box(&url), Body::Form(&params), black_box(&sig))))
    });
    let auth = WebhookAuth::new(&config.secrets.auth_tokens, BASE);
    let method = actix_web::http::Method::POST;
    c.bench_function("webhook: check and decode a first webhook", |b| {
        b.iter(|| {
            Webhook::verify(
                &auth,
                &method,
                "/voice",
                "application/x-www-form-urlencoded; charset=UTF-8",
                Some(&sig),
                black_box(body.as_bytes()),
            )
            .expect("verifies")
        })
    });

    let ring = Keyring::new(config.secrets.state_keys.iter().map(|k| k.expose())).expect("a key");
    let states = FlowStates::new(&ring, 1800);
    let line = config.lines.get("support").expect("the support line");
    let mut state = line.rules.fresh_state(Default::default());
    state.stage = Stage::Verify;
    state.customer =
        Some(vouch::flow::Customer { id: "12345678".into(), name: "Ada Lovelace".into(), ..Default::default() });
    let now = vouch::clock::now();
    c.bench_function("state: seal", |b| b.iter(|| states.seal(black_box(&state), SID, now)));
    let token = states.seal(&state, SID, now);
    c.bench_function("state: open", |b| b.iter(|| states.open(black_box(&token), SID, now).expect("opens")));

    let urls = Urls::new(BASE);
    let screen_pops = ScreenPopLinks::new(&ring, 300);
    let tokens = HandoffTokens::new("bench-handoff-secret-0123456789abcdef", 60);
    let links = Links { urls: &urls, call_sid: SID, now, screen_pops: &screen_pops, tokens: &tokens };
    let then = Then::Ask { stage: Stage::Verify, rules: line.rules.entry_rules(Stage::Verify), state: token.clone() };
    c.bench_function("twiml: render the first webhook's answer", |b| {
        b.iter(|| render::document(line, black_box(&[Prompt::Welcome]), &then, &links).render())
    });
}

criterion_group!(micro, benches);
criterion_main!(micro);
