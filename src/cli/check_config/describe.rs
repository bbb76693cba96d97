//! What `vouch check-config` prints: a checked configuration in plain words,
//! so an operator can see what each line will do before a call reaches it.
//! Secret values are never printed, only whether each one is set.

use crate::config::{Config, DatabaseUrl, DialTo, Handoff, KeySource, Line};
use crate::flow::EntryRules;
use crate::paths::Urls;
use std::fmt::Write as _;

/// Describes a checked configuration: one line per service line (the default
/// line first), then the CRM, the public URL and the state of each secret.
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let default = config.lines.default_name();
    let lines = std::iter::once(config.lines.default()).chain(config.lines.iter().filter(|l| l.name != default));
    for line in lines {
        out.push_str(&describe_line(line, line.name == default));
        out.push('\n');
    }

    let crm = &config.crm;
    match &crm.url {
        None => out.push_str("CRM: built-in demo CRM (set crm.url or VOUCH_CRM_URL to use yours)\n"),
        Some(url) => {
            let _ = writeln!(
                out,
                "CRM: {} (timeout {} ms, connect {} ms, cache {} s, no-match cache {} s)",
                redacted(url),
                crm.timeout.as_millis(),
                crm.connect_timeout.as_millis(),
                crm.cache_ttl.as_secs(),
                crm.negative_cache_ttl.as_secs(),
            );
        }
    }

    out.push_str(&describe_actions(config));

    let kept = match config.database.url {
        DatabaseUrl::Memory => {
            format!("kept {} s in memory (server.call_record_ttl_secs)", config.server.call_record_ttl.as_secs())
        }
        _ => {
            format!("purged {} days after their last update (database.retention_days)", config.database.retention_days)
        }
    };
    let _ = writeln!(
        out,
        "call records: {} (DATABASE_URL or database.url; write buffer {}); {kept}",
        config.database.url.describe(),
        config.database.buffer_capacity
    );

    let public = redacted(&config.server.public_url);
    let public = public.trim_end_matches('/');
    let urls = Urls::new(public);
    let _ = writeln!(
        out,
        "public URL: {public} (Twilio Voice URL: {} or {})",
        urls.voice(None),
        urls.voice(Some("<line>"))
    );
    let _ = writeln!(out, "port: {}", config.server.port);

    let s = &config.secrets;
    out.push_str("secrets:\n");
    let mut secret = |name: &str, state: &str| {
        let _ = writeln!(out, "  {name}: {state}");
    };
    secret(
        "TWILIO_AUTH_TOKEN",
        if s.demo_auth { "demo mode (published demo token: real Twilio requests get 403)" } else { "set" },
    );
    secret("TWILIO_AUTH_TOKEN_SECONDARY", if s.auth_tokens.len() > 1 { "set" } else { "not set" });
    let state_keys;
    secret(
        "VOUCH_STATE_SECRET",
        if s.random_state_key {
            "demo mode (random key each start: calls in progress break on restart)"
        } else if s.state_keys.len() > 1 {
            state_keys = format!("set ({} keys: the first signs, all verify)", s.state_keys.len());
            &state_keys
        } else {
            "set"
        },
    );
    secret(
        "VOUCH_ADMIN_TOKEN",
        match &s.admin_token {
            None => "not set (admin API disabled)",
            Some(_) if s.admin_token_is_demo() => "demo mode (published demo token)",
            Some(_) => "set",
        },
    );
    let crm_token = match (&crm.token, crm.url.is_some()) {
        (Some(_), true) if crm.auth_header.eq_ignore_ascii_case("authorization") => {
            "set (sent as Authorization: Bearer)".to_string()
        }
        (Some(_), true) => format!("set (sent in header {})", crm.auth_header),
        (Some(_), false) => "set (unused by the built-in demo CRM)".to_string(),
        (None, _) => "not set".to_string(),
    };
    secret("VOUCH_CRM_TOKEN", &crm_token);
    let users = &s.users;
    let logins = if users.demo {
        "demo mode (published demo login: name demo, password demo)".to_string()
    } else if users.source.is_none() {
        "not set (no logins: agent pages open only from signed screen-pop links)".to_string()
    } else {
        format!("set ({} users, {} API tokens)", users.user_count(), users.token_count())
    };
    secret(users.source.unwrap_or("VOUCH_USERS_FILE"), &logins);
    secret(
        "VOUCH_HANDOFF_SECRET",
        match s.handoff_key_source {
            KeySource::Env => "set",
            KeySource::Demo => "demo mode (published demo key signs redirect tokens)",
            KeySource::Random => "not set (random key each start; no line redirects outside Vouch)",
        },
    );

    let host = config.server.public_url.host_str().unwrap_or("");
    if !s.demo_auth && matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        out.push_str(
            "note: the public URL is local; Twilio's signatures will not match until VOUCH_PUBLIC_URL is the address Twilio calls\n",
        );
    }
    out
}

/// One service line's flow, e.g. `support (+15005550006, default): caller-ID
/// lookup → account number (8 digits, 3 retries, * opts out) → …`.
fn describe_line(line: &Line, is_default: bool) -> String {
    let rules = &line.rules;
    let mut reached: Vec<&str> = line.numbers.iter().map(String::as_str).collect();
    if reached.is_empty() {
        reached.push("no numbers");
    }
    if is_default {
        reached.push("default");
    }
    let mut steps = vec![match rules.caller_id {
        crate::flow::CallerIdUse::Always => "caller-ID lookup",
        crate::flow::CallerIdUse::Attested => "caller-ID lookup (STIR/SHAKEN A only)",
        crate::flow::CallerIdUse::Never => "caller-ID lookup off",
    }
    .to_string()];
    if rules.identifier_first && rules.caller_id != crate::flow::CallerIdUse::Never {
        steps[0].push_str(", only to cross-check the identifier asked first");
    }
    steps.push(format!("{} ({})", line.identifier_name, entry(&rules.identifier, rules.retries)));
    match &rules.verification {
        Some(v) => steps.push(format!("{} ({})", line.factor_name, entry(v, rules.retries))),
        None => steps.push("no verification".to_string()),
    }
    steps.push(handoff(&line.next, line));
    let name = if line.handoff_customer_name { "" } else { "; the customer's name kept out of handoffs" };
    format!(
        "{} ({}): {}; agent: {}; opt-out: {}{name}",
        line.name,
        reached.join(", "),
        steps.join(" → "),
        handoff(&line.agent, line),
        handoff(&line.opt_out, line),
    )
}

/// `8 digits, 3 retries, * opts out`.
fn entry(rules: &EntryRules, retries: u8) -> String {
    let digits = match (rules.min_digits, rules.max_digits) {
        (1, 1) => "1 digit".to_string(),
        (min, max) if min == max => format!("{min} digits"),
        (min, max) => format!("{min}–{max} digits"),
    };
    let retries = match retries {
        0 => "no retries".to_string(),
        1 => "1 retry".to_string(),
        n => format!("{n} retries"),
    };
    let opt_out = match rules.opt_out_key {
        Some(key) => format!("{key} opts out"),
        None => "no opt-out".to_string(),
    };
    format!("{digits}, {retries}, {opt_out}")
}

/// `redirect /demo/self-service`, `enqueue "support"`, `dial number +1… (…)`.
fn handoff(h: &Handoff, line: &Line) -> String {
    match h {
        Handoff::Redirect { url, context: crate::config::RedirectContext::Encrypted } => format!("redirect {url}"),
        Handoff::Redirect { url, context: crate::config::RedirectContext::Plain } => {
            format!("redirect {url} (the customer in a plain query and a readable JWT)")
        }
        Handoff::Enqueue { queue, workflow_sid, wait_url, task_priority, task_timeout_secs } => {
            let mut extras = Vec::new();
            if let Some(sid) = workflow_sid {
                extras.push(format!("TaskRouter workflow {sid}"));
            }
            if let Some(p) = task_priority {
                extras.push(format!("priority {p}"));
            }
            if let Some(t) = task_timeout_secs {
                extras.push(format!("task timeout {t} s"));
            }
            if let Some(u) = wait_url {
                extras.push(format!("hold music {u}"));
            }
            if extras.is_empty() {
                format!("enqueue {queue:?}")
            } else {
                format!("enqueue {queue:?} ({})", extras.join(", "))
            }
        }
        Handoff::Dial { to, caller_id, timeout_secs, answer_on_bridge, whisper } => {
            let (target, mut extras) = match to {
                DialTo::Number(n) => (format!("dial number {n}"), vec![]),
                DialTo::Client(id) => (format!("dial client {id}"), vec!["context in <Parameter>s".to_string()]),
                DialTo::Sip(uri) => (format!("dial SIP {uri}"), vec!["context in X- headers".to_string()]),
            };
            extras.push(if *whisper { "whisper" } else { "no whisper" }.to_string());
            if *answer_on_bridge {
                extras.push("answerOnBridge".into());
            }
            if let Some(t) = timeout_secs {
                extras.push(format!("ring {t} s"));
            }
            if let Some(c) = caller_id {
                extras.push(format!("caller ID {c}"));
            }
            // Never a Dial, so this cannot recurse.
            extras.push(format!("unanswered: {}", handoff(&line.fallback_queue(), line)));
            format!("{target} ({})", extras.join(", "))
        }
    }
}

/// Example values the actions are shown with.
const EXAMPLE_PHONE: &str = "+15550001111";
const EXAMPLE_ID: &str = "12345678";

/// Each CRM data action as the request it would send with example values
/// (auth and the keyed value masked as ****), and how its answer is read;
/// then each line's overrides.
fn describe_actions(config: &Config) -> String {
    use crate::crm::action::Request;
    use crate::crm::template::Values;
    let crm = &config.crm;
    let base = crm.url.clone().unwrap_or_else(|| url::Url::parse("http://demo-crm.invalid").expect("a valid URL"));
    let auth = match crate::crm::transport::Transport::new(crm, Default::default()) {
        Ok(t) if crm.url.is_some() => t.masked_auth_headers(),
        Ok(_) => Vec::new(),
        Err(e) => vec![("(auth)".into(), format!("cannot be described: {e}"))],
    };
    let phone = crate::flow::E164::parse(EXAMPLE_PHONE).expect("a valid number");
    let mut out = format!(
        "CRM actions (example values: phone {EXAMPLE_PHONE}, id {EXAMPLE_ID}, the keyed value ****; secrets masked{}):\n",
        if crm.url.is_none() { "; http://demo-crm.invalid stands for the built-in demo CRM" } else { "" }
    );
    let mut show = |key: &str, req: &Request, factor: &str, reading: String| {
        let values = Values {
            phone: Some(&phone),
            phone_format: &req.phone_format,
            id: Some(EXAMPLE_ID),
            factor: Some(factor),
            value: Some("****"),
        };
        let mut lines = req.show_lines(&base, &values, &auth).into_iter();
        let _ = writeln!(out, "  {key}: {}", lines.next().unwrap_or_default());
        for l in lines {
            let _ = writeln!(out, "    {l}");
        }
        let _ = writeln!(out, "    → {reading}");
    };
    let a = &crm.actions;
    let default = config.lines.default();
    show(&a.find_by_phone.request.key, &a.find_by_phone.request, &default.factor, a.find_by_phone.describe_mapping());
    show(
        &a.find_by_identifier.request.key,
        &a.find_by_identifier.request,
        &default.factor,
        a.find_by_identifier.describe_mapping(),
    );
    show(
        &format!("{} (factor {:?} on line {})", a.verify.request().key, default.factor, default.name),
        a.verify.request(),
        &default.factor,
        a.verify.describe_check(),
    );
    for line in config.lines.iter() {
        if let Some(f) = &line.crm.find_by_identifier {
            show(&f.request.key, &f.request, &line.factor, f.describe_mapping());
        }
        if let Some(v) = &line.crm.verify {
            show(
                &format!("{} (factor {:?})", v.request().key, line.factor),
                v.request(),
                &line.factor,
                v.describe_check(),
            );
        }
    }
    out
}

/// A URL with any password in it masked.
fn redacted(url: &url::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}
