//! The `[crm]` table, resolved: where the CRM is, how Vouch authenticates
//! to it, how long it may take, and how its answers are cached.

use super::crm_actions::{self, ActionLimits};
use super::crm_transport::CrmTransport;
use super::env::Env;
use super::error::ConfigError;
use super::file::CrmFile;
use super::secrets::Secret;
use super::urls::parse_base_url;
use std::time::Duration;

/// How Vouch reaches the CRM, checked.
#[derive(Debug, Clone)]
pub struct Crm {
    /// `None`: start the built-in demo CRM and use it.
    pub url: Option<url::Url>,
    pub auth_header: String,
    pub token: Option<Secret>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    pub cache_capacity: u64,
    pub max_in_flight: usize,
    /// The three data actions (today's contract unless configured).
    pub actions: crate::crm::action::CrmActions,
    /// Auth, TLS, proxy and circuit breaker (`[crm.auth]`, `[crm.breaker]`, `crm.ca_file`…).
    pub transport: CrmTransport,
}

impl Crm {
    /// `VOUCH_CRM_URL` overrides the file; `VOUCH_CRM_TOKEN` is the token.
    /// A request must end before the webhook waiting on it has to answer.
    pub(super) fn resolve(file: &CrmFile, env: &dyn Env, webhook_deadline: Duration) -> Result<Self, ConfigError> {
        let url = url(file, env)?;
        let timeout = Duration::from_millis(CrmFile::TIMEOUT_MS.read(file.timeout_ms)?);
        let connect_timeout = Duration::from_millis(CrmFile::CONNECT_TIMEOUT_MS.read(file.connect_timeout_ms)?);
        if timeout >= webhook_deadline {
            return Err(ConfigError::new("crm.timeout_ms", "must be shorter than server.webhook_deadline_ms"));
        }
        Ok(Self {
            url,
            auth_header: auth_header(file)?,
            token: env.secret("VOUCH_CRM_TOKEN")?.map(Secret::new),
            connect_timeout,
            timeout,
            cache_ttl: Duration::from_secs(CrmFile::CACHE_TTL_SECS.read(file.cache_ttl_secs)?),
            negative_cache_ttl: Duration::from_secs(
                CrmFile::NEGATIVE_CACHE_TTL_SECS.read(file.negative_cache_ttl_secs)?,
            ),
            cache_capacity: file.cache_capacity.unwrap_or(CrmFile::DEFAULT_CACHE_CAPACITY),
            max_in_flight: CrmFile::MAX_IN_FLIGHT.read(file.max_in_flight)?,
            actions: crm_actions::resolve(
                file.find_by_phone.as_ref(),
                file.find_by_identifier.as_ref(),
                file.verify.as_ref(),
                ActionLimits { timeout, deadline: webhook_deadline },
            )?,
            transport: CrmTransport::resolve(file, env)?,
        })
    }
}

fn url(file: &CrmFile, env: &dyn Env) -> Result<Option<url::Url>, ConfigError> {
    match env.var("VOUCH_CRM_URL") {
        Some(u) => parse_base_url(&u, "VOUCH_CRM_URL").map(Some),
        None => file.url.as_deref().map(|u| parse_base_url(u, "crm.url")).transpose(),
    }
}

fn auth_header(file: &CrmFile) -> Result<String, ConfigError> {
    let header = file.auth_header.clone().unwrap_or_else(|| "Authorization".into());
    if header.is_empty() || !header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ConfigError::new("crm.auth_header", "must be an HTTP header name"));
    }
    Ok(header)
}
