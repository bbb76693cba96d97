//! `vouch replay FILE`: sends a recorded webhook again, to any Vouch, signed
//! afresh for that server's public URL, and prints the answer with its
//! timing. FILE is a recording written by `serve --record-dir` or a copied
//! curl command. A value the recording redacted is never guessed: `--digits`
//! supplies it, or the request goes without it (a silent try).

mod curl;
#[cfg(test)]
mod tests;

use crate::cli::endpoint::{Endpoint, EndpointOpts};
use crate::config::{Config, ProcessEnv};
use crate::recording::{Recording, KEYED, REDACTED};
use crate::twilio::form::Params;
use crate::twilio::signature;
use anyhow::Context;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ReplayOpts {
    /// A recording written by `serve --record-dir`, or a file holding a curl
    /// command (`-`: read it from stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub endpoint: EndpointOpts,
    /// Keys to send where the recording has `Digits=[redacted]` [default:
    /// send no Digits, which the server takes as a silent try].
    #[arg(long, value_name = "VALUE")]
    pub digits: Option<String>,
}

/// Reads a recording (JSON) or a curl command.
pub fn load(text: &str) -> Result<Recording, String> {
    let recording = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Recording>(text).map_err(|e| format!("not a valid recording: {e}"))?
    } else {
        curl::parse(text)?
    };
    if !recording.path.starts_with('/') {
        return Err(format!("the path {:?} does not start with /", recording.path));
    }
    if !matches!(recording.method.as_str(), "GET" | "POST") {
        return Err(format!("method {} is not one Twilio uses (GET or POST)", recording.method));
    }
    Ok(recording)
}

/// A recording made ready to send: redacted values replaced or dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub method: String,
    pub path: String,
    pub params: Params,
    /// What was changed, to tell the user.
    pub notes: Vec<String>,
}

/// Replaces a redacted `Digits` with `digits`, drops it (and any other
/// redacted keyed value) otherwise, in the params and in the query.
pub fn prepare(rec: Recording, digits: Option<&str>) -> Prepared {
    let mut notes = Vec::new();
    let mut used = false;
    let mut fix = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in pairs {
            if v != REDACTED || !KEYED.contains(&k.as_str()) {
                out.push((k, v));
            } else if let (Some(d), "Digits") = (digits, k.as_str()) {
                used = true;
                notes.push("Digits was redacted in the recording: sending the --digits value".into());
                out.push((k, d.to_string()));
            } else {
                notes.push(format!("{k} was redacted in the recording: sending the request without it (a silent try); pass --digits to key a value"));
            }
        }
        out
    };
    let params = fix(rec.params);
    let path = match rec.path.split_once('?') {
        Some((p, q)) if q.contains("%5Bredacted%5D") => {
            let query = Params::parse(q.as_bytes()).unwrap_or_default();
            let query = fix(query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            format!("{p}?{}", Params::from_pairs(query).encode())
        }
        _ => rec.path,
    };
    if digits.is_some() && !used {
        notes.push("--digits was not used: the recording has no redacted Digits".into());
    }
    notes.dedup();
    Prepared { method: rec.method, path, params: Params::from_pairs(params), notes }
}

/// Replays FILE and prints the answer; a non-2xx answer or TwiML Twilio
/// would refuse is an error (exit 1).
pub async fn run(opts: ReplayOpts) -> anyhow::Result<()> {
    let text = if opts.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("Failed to read stdin")?
    } else {
        std::fs::read_to_string(&opts.file).with_context(|| format!("Failed to read {}", opts.file.display()))?
    };
    let recording = load(&text).map_err(|e| anyhow::anyhow!("{}: {e}", opts.file.display()))?;
    if let Some(d) = &opts.digits {
        if d.is_empty() || !d.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') {
            anyhow::bail!("--digits: {d:?} is not something a phone can key (0-9, * and #)");
        }
    }
    let config = Config::load(opts.endpoint.config.as_deref(), &ProcessEnv)?;
    let endpoint = Endpoint::resolve(&opts.endpoint, &config)?;
    let req = prepare(recording, opts.digits.as_deref());

    let public_url = format!("{}{}", endpoint.public, req.path);
    let target_url = endpoint.target_for(&public_url);
    let get = req.method == "GET";
    let signed = if get { Params::default() } else { req.params.clone() };
    let sig = signature::sign(&endpoint.token, &public_url, &signed);
    outln!("{} {public_url}", req.method);
    if target_url != public_url {
        outln!("  (sent to {target_url})");
    }
    for (k, v) in req.params.iter() {
        // The substituted value may be a real PIN: keep it out of CI logs.
        let shown = if k == "Digits" && opts.digits.as_deref() == Some(v) { "(the --digits value)" } else { v };
        outln!("  {k} = {shown}");
    }
    for note in &req.notes {
        outln!("note: {note}");
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut rb = if get { http.get(&target_url) } else { http.post(&target_url) };
    rb = rb.header("X-Twilio-Signature", sig).header("User-Agent", "TwilioProxy/1.1");
    if !get {
        rb = rb.header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8").body(req.params.encode());
    }
    let started = Instant::now();
    let resp = rb.send().await.with_context(|| format!("Failed to reach {target_url} (Twilio error 11205)"))?;
    let status = resp.status();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = resp.text().await.context("Failed to read the response body")?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    outln!("← HTTP {status} in {ms:.1} ms ({content_type})");
    outln!("{body}");
    if status.as_u16() == 403 {
        anyhow::bail!("HTTP 403: {}", endpoint.forbidden_hint());
    }
    if !status.is_success() {
        anyhow::bail!("HTTP {status} (Twilio error 11200)");
    }
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if matches!(mime, "text/xml" | "application/xml") {
        crate::sim::twiml::parse(&body)?;
        outln!("TwiML: valid (Twilio would accept it)");
    }
    Ok(())
}
