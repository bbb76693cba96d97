//! `vouch simulate`: a phone in the terminal. Plays Twilio against a running
//! Vouch with [`crate::sim`], printing what the caller hears, reading keys
//! at each Gather (from the terminal, or `--keys` for CI and bug reports),
//! and ending with the handoff, the context the agent would see and the
//! status callback. Any error Twilio would report ends it with exit 1.

mod keypad;
mod report;

use crate::cli::endpoint::{Endpoint, EndpointOpts};
use crate::config::{Config, ProcessEnv};
use crate::paths::Urls;
use crate::sim::call::new_call_sid;
use crate::sim::{CallSpec, Phone, Scripted, SimError};
use crate::twilio::params::CallSid;
use anyhow::Context;
use keypad::{valid_keys, Printer, Source};
use std::time::{Duration, Instant};

/// The demo's Ada Lovelace, identified by caller ID.
pub const DEFAULT_FROM: &str = "+15551230001";

#[derive(Debug, Default, clap::Args)]
pub struct SimulateOpts {
    #[command(flatten)]
    pub endpoint: EndpointOpts,
    /// The caller's number (`From`).
    #[arg(long, default_value = DEFAULT_FROM, value_name = "NUMBER")]
    pub from: String,
    /// The dialled number (`To`) [default: the line's first number in the configuration].
    #[arg(long, value_name = "NUMBER")]
    pub to: Option<String>,
    /// Call `/voice/{NAME}` instead of `/voice`.
    #[arg(long, value_name = "NAME")]
    pub line: Option<String>,
    /// Keys for each Gather in turn, comma-separated (`87654321#,1111#`; an
    /// empty entry is silence): runs the call without asking.
    #[arg(long, value_name = "LIST")]
    pub keys: Option<String>,
    /// `StirVerstat` to send (e.g. `TN-Validation-Passed-A`).
    #[arg(long, value_name = "VALUE")]
    pub stir_verstat: Option<String>,
    /// Use this CallSid (`CA` + 32 hex digits) [default: a fresh one].
    #[arg(long, value_name = "SID")]
    pub call_sid: Option<String>,
}

/// Places the call and prints it; an error is what Twilio's debugger would show.
pub async fn run(opts: SimulateOpts) -> anyhow::Result<()> {
    let config = Config::load(opts.endpoint.config.as_deref(), &ProcessEnv)?;
    let endpoint = Endpoint::resolve(&opts.endpoint, &config)?;
    let source = match &opts.keys {
        Some(list) => {
            if let Some(bad) = list.split(',').map(str::trim).find(|k| !valid_keys(k)) {
                anyhow::bail!("--keys: {bad:?} is not something a phone can key (0-9, * and # only)");
            }
            Source::Scripted(Scripted::parse(list))
        }
        None => Source::Terminal { closed: false },
    };
    let call_sid = match opts.call_sid {
        Some(sid) if CallSid::parse(&sid).is_some() => sid,
        Some(sid) => anyhow::bail!("--call-sid: {sid:?} is not CA followed by 32 hex digits"),
        None => new_call_sid(),
    };
    let line = opts.line.as_deref().and_then(|name| config.lines.get(name)).unwrap_or(config.lines.default());
    let to = opts.to.clone().or_else(|| line.numbers.first().cloned()).unwrap_or_else(|| "+15005550006".into());
    let spec = CallSpec {
        from: opts.from.clone(),
        to,
        line: opts.line.clone(),
        stir_verstat: opts.stir_verstat.clone(),
        call_sid: Some(call_sid.clone()),
        ..CallSpec::default()
    };
    let voice_url = Urls::new(&endpoint.public).voice(spec.line.as_deref());
    outln!("📞 calling {voice_url} from {} to {} (CallSid {call_sid})", spec.from, spec.to);
    if endpoint.target != endpoint.public {
        outln!("   requests go to {}, signed for {}", endpoint.target, endpoint.public);
    }

    let phone = Phone::new(&endpoint.target, &endpoint.public, &endpoint.token);
    let mut printer = Printer::new(source);
    let started = Instant::now();
    let result = phone.place(&spec, &mut printer).await;
    let transcript = match result {
        Ok(t) => t,
        Err(e) => return Err(explain(e, &endpoint)).with_context(|| format!("call {call_sid} failed")),
    };
    printer.show(&transcript.heard);
    out!("{}", report::requests(&transcript));
    // The status first, so the record shows how the call ended; the record
    // before the hand-off's summary, whose lockout line reads it (a plain
    // queue's TwiML carries no context to read it from).
    let status = status_callback(&phone, &spec, started.elapsed()).await;
    let record = fetch_record(&endpoint, &config, &call_sid).await;
    out!("{}", report::handoff(&transcript, record.as_ref().ok()));
    if let Ok(line) = &status {
        outln!("{line}");
    }
    match &record {
        Ok(json) => {
            outln!("── the call's record (GET /api/calls/{call_sid}) ──");
            outln!("{}", serde_json::to_string_pretty(json).unwrap_or_default());
        }
        Err(why) => outln!("({why})"),
    }
    let record = record.ok();
    if let Some(url) = record.as_ref().and_then(|r| r["screen_pop_url"].as_str()) {
        outln!("── screen pop (what the agent opens, no login needed; valid 12 h) ──\n{url}");
    }
    if let Some(notice) = report::lockout(&transcript, record.as_ref()) {
        out!("{notice}");
    }
    status.map(drop)
}

/// A 403 is nearly always a signing mismatch, and a refused connection a
/// server not started: say how to fix each.
fn explain(e: SimError, endpoint: &Endpoint) -> anyhow::Error {
    match &e {
        SimError::Http { status: 403, .. } => anyhow::Error::new(e).context(endpoint.forbidden_hint()),
        SimError::Connect { source, .. } if source.is_connect() => anyhow::anyhow!(
            "nothing answers at {} (Twilio error 11205): is Vouch running? Start it with `cargo run` in another \
             terminal, or point --url at it",
            endpoint.target
        ),
        _ => e.into(),
    }
}

/// `GET /api/calls/{CallSid}` with the admin token; why not, in words.
async fn fetch_record(endpoint: &Endpoint, config: &Config, call_sid: &str) -> Result<serde_json::Value, String> {
    let Some(token) = &config.secrets.admin_token else {
        return Err(format!("set VOUCH_ADMIN_TOKEN to also show the call's record from /api/calls/{call_sid}"));
    };
    let url = format!("{}/api/calls/{call_sid}", endpoint.target);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build();
    let answer = match http {
        Ok(http) => http.get(&url).bearer_auth(token.expose()).send().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(r) if r.status().is_success() => {
            r.json::<serde_json::Value>().await.map_err(|_| "the admin API at this URL did not answer with JSON".into())
        }
        Ok(r) => Err(format!("the admin API answered HTTP {} for /api/calls/{call_sid}", r.status().as_u16())),
        Err(e) => Err(format!("the admin API could not be reached: {e}")),
    }
}

/// Sends the `completed` status callback and says how it went, in a line
/// to print; a 404 only means the server has no status route, anything
/// else but a 2xx is an error.
async fn status_callback(phone: &Phone, spec: &CallSpec, duration: Duration) -> anyhow::Result<String> {
    let sid = spec.call_sid.as_deref().unwrap_or_default();
    let answer = phone.status_callback(spec, sid, "completed", duration, 0).await?;
    let ms = answer.elapsed.as_secs_f64() * 1000.0;
    match answer.status {
        200..=299 => {
            Ok(format!("── status callback: POST /status CallStatus=completed → {} in {ms:.1} ms", answer.status))
        }
        404 => {
            Ok("── status callback: POST /status → 404 (this server has no status callback route; not an error)".into())
        }
        status => {
            Err(SimError::Http { url: answer.url, status, body: answer.body }).context("the status callback failed")
        }
    }
}
