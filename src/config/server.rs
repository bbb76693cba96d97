//! The `[server]` table, resolved: where Vouch listens, the URL Twilio
//! reaches it at, and how long its signed state, records and tokens last.

use super::env::Env;
use super::error::ConfigError;
use super::file::ServerFile;
use super::urls::parse_base_url;
use std::time::Duration;

/// How Vouch serves, checked.
#[derive(Debug, Clone)]
pub struct Server {
    pub port: u16,
    /// The base URL Twilio reaches Vouch at; signatures are checked against it.
    pub public_url: url::Url,
    pub state_ttl: Duration,
    pub webhook_deadline: Duration,
    /// How long a call's record stays in the in-memory cache of live calls
    /// (the database keeps it for good).
    pub call_record_ttl: Duration,
    /// How long in-flight webhooks get to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// After SIGTERM, how long `/healthz` answers 503 before the listener
    /// closes (everything else is served meanwhile).
    pub drain: Duration,
    /// `serve --record-dir`: where every verified webhook is written, for
    /// `vouch replay`. Set by the command line, never by the file.
    pub record_dir: Option<std::path::PathBuf>,
    /// How long a redirect handoff's token stays valid.
    pub handoff_token_ttl: Duration,
}

impl Server {
    /// `PORT` and `VOUCH_PUBLIC_URL` override the file.
    pub(super) fn resolve(file: &ServerFile, env: &dyn Env) -> Result<Self, ConfigError> {
        let port = port(file, env)?;
        Ok(Self {
            port,
            public_url: public_url(file, env, port)?,
            state_ttl: Duration::from_secs(ServerFile::STATE_TTL_SECS.read(file.state_ttl_secs)?),
            webhook_deadline: Duration::from_millis(ServerFile::WEBHOOK_DEADLINE_MS.read(file.webhook_deadline_ms)?),
            call_record_ttl: Duration::from_secs(ServerFile::CALL_RECORD_TTL_SECS.read(file.call_record_ttl_secs)?),
            shutdown_timeout: Duration::from_secs(ServerFile::SHUTDOWN_TIMEOUT_SECS.read(file.shutdown_timeout_secs)?),
            drain: Duration::from_secs(ServerFile::DRAIN_SECS.read(file.drain_secs)?),
            record_dir: None,
            handoff_token_ttl: Duration::from_secs(
                ServerFile::HANDOFF_TOKEN_TTL_SECS.read(file.handoff_token_ttl_secs)?,
            ),
        })
    }
}

fn port(file: &ServerFile, env: &dyn Env) -> Result<u16, ConfigError> {
    match env.var("PORT") {
        Some(p) => p.trim().parse().map_err(|_| ConfigError::new("PORT", format!("{p:?} is not a port number"))),
        None => Ok(file.port.unwrap_or(ServerFile::DEFAULT_PORT)),
    }
}

/// Unset, it is the local address: fine for trying Vouch, wrong behind a proxy.
fn public_url(file: &ServerFile, env: &dyn Env, port: u16) -> Result<url::Url, ConfigError> {
    match (env.var("VOUCH_PUBLIC_URL"), &file.public_url) {
        (Some(u), _) => parse_base_url(&u, "VOUCH_PUBLIC_URL"),
        (None, Some(u)) => parse_base_url(u, "server.public_url"),
        (None, None) => parse_base_url(&format!("http://localhost:{port}"), "server.public_url"),
    }
}
