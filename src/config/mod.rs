//! Configuration: one TOML file (or the embedded demo) plus environment
//! overrides, checked once at start-up into typed values. A bad value stops
//! start-up with an error naming its key.

mod bound;
mod database;
mod env;
mod error;
mod file;
mod handoff;
mod line;
mod secrets;
mod urls;
mod users;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub use database::{Database, DatabaseUrl, DEFAULT_DATABASE_URL};
pub use env::{Env, ProcessEnv};
pub use error::ConfigError;
pub use file::FileConfig;
pub use handoff::{DialTo, Handoff, MAX_SIP_BASE_CHARS};
pub use line::{Line, Speech};
pub use secrets::{KeySource, Secret, Secrets};
pub use users::{ApiToken, Role, User, Users, DEMO_USER};

use file::{CrmFile, SecurityFile, ServerFile};
use urls::parse_base_url;

/// The embedded demo configuration, used when no `--config` is given.
pub const DEMO_CONFIG: &str = include_str!("../../demo/vouch.toml");

/// Everything Vouch runs with, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub crm: Crm,
    pub database: Database,
    pub secrets: Secrets,
    pub lines: Lines,
    pub security: Security,
}

/// Limits across calls: verification lockouts and the enumeration throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Security {
    pub lockout_failures: u64,
    pub lockout_window: Duration,
    pub enumeration_unknown_ids: u64,
    pub enumeration_window: Duration,
}

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
    /// `serve --record-dir`: where every verified webhook is written, for
    /// `vouch replay`. Set by the command line, never by the file.
    pub record_dir: Option<std::path::PathBuf>,
    /// How long a redirect handoff's token stays valid.
    pub handoff_token_ttl: Duration,
}

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
}

#[derive(Debug, Clone)]
pub struct Lines {
    by_name: BTreeMap<String, Line>,
    by_number: HashMap<String, String>,
    default: String,
}

impl Lines {
    pub fn get(&self, name: &str) -> Option<&Line> {
        self.by_name.get(name)
    }

    /// The line that claims `to`, and whether it was the default fallback.
    pub fn for_number(&self, to: Option<&str>) -> (&Line, bool) {
        match to.and_then(|n| self.by_number.get(n.trim())).and_then(|name| self.by_name.get(name)) {
            Some(line) => (line, false),
            None => (self.default(), true),
        }
    }

    pub fn default(&self) -> &Line {
        // Checked at load: the default line exists.
        &self.by_name[&self.default]
    }

    pub fn default_name(&self) -> &str {
        &self.default
    }

    pub fn iter(&self) -> impl Iterator<Item = &Line> {
        self.by_name.values()
    }

    /// The key of the first handoff that redirects outside Vouch, if any.
    fn external_redirect(&self) -> Option<String> {
        self.iter().find_map(|l| {
            [("next", &l.next), ("agent", &l.agent), ("opt_out", &l.opt_out)].into_iter().find_map(|(k, h)| match h {
                Handoff::Redirect { url } if !url.starts_with('/') || url.starts_with("//") => {
                    Some(format!("lines.{}.{k}.url", l.name))
                }
                _ => None,
            })
        })
    }
}

impl Secrets {
    /// The admin token is the published demo one (no `VOUCH_ADMIN_TOKEN` in demo mode).
    pub fn admin_token_is_demo(&self) -> bool {
        self.admin_token.as_ref().is_some_and(|t| t.expose() == secrets::DEMO_ADMIN_TOKEN)
    }
}

impl Config {
    /// Parses and checks a TOML document, applying the environment.
    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::new(text);
        let file: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::new(if key == "." { "(file)".to_string() } else { key }, inner.message().trim().to_string())
        })?;
        Self::resolve(file, env)
    }

    /// Reads `path`, or the embedded demo when `None`.
    pub fn load(path: Option<&std::path::Path>, env: &dyn Env) -> Result<Self, ConfigError> {
        match path {
            None => Self::from_toml(DEMO_CONFIG, env),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::new("--config", format!("cannot read {}: {e}", p.display())))?;
                Self::from_toml(&text, env)
            }
        }
    }

    fn resolve(file: FileConfig, env: &dyn Env) -> Result<Self, ConfigError> {
        let port = match env.var("PORT") {
            Some(p) => {
                p.trim().parse::<u16>().map_err(|_| ConfigError::new("PORT", format!("{p:?} is not a port number")))?
            }
            None => file.server.port.unwrap_or(ServerFile::DEFAULT_PORT),
        };
        let (public_url, public_key) = match env.var("VOUCH_PUBLIC_URL") {
            Some(u) => (u, "VOUCH_PUBLIC_URL"),
            None => match &file.server.public_url {
                Some(u) => (u.clone(), "server.public_url"),
                None => (format!("http://localhost:{port}"), "server.public_url"),
            },
        };
        let server = Server {
            port,
            public_url: parse_base_url(&public_url, public_key)?,
            state_ttl: Duration::from_secs(ServerFile::STATE_TTL_SECS.read(file.server.state_ttl_secs)?),
            webhook_deadline: Duration::from_millis(
                ServerFile::WEBHOOK_DEADLINE_MS.read(file.server.webhook_deadline_ms)?,
            ),
            call_record_ttl: Duration::from_secs(
                ServerFile::CALL_RECORD_TTL_SECS.read(file.server.call_record_ttl_secs)?,
            ),
            shutdown_timeout: Duration::from_secs(
                ServerFile::SHUTDOWN_TIMEOUT_SECS.read(file.server.shutdown_timeout_secs)?,
            ),
            record_dir: None,
            handoff_token_ttl: Duration::from_secs(
                ServerFile::HANDOFF_TOKEN_TTL_SECS.read(file.server.handoff_token_ttl_secs)?,
            ),
        };

        let crm_url = match env.var("VOUCH_CRM_URL") {
            Some(u) => Some(parse_base_url(&u, "VOUCH_CRM_URL")?),
            None => file.crm.url.as_deref().map(|u| parse_base_url(u, "crm.url")).transpose()?,
        };
        let timeout = Duration::from_millis(CrmFile::TIMEOUT_MS.read(file.crm.timeout_ms)?);
        let connect_timeout = Duration::from_millis(CrmFile::CONNECT_TIMEOUT_MS.read(file.crm.connect_timeout_ms)?);
        if timeout >= server.webhook_deadline {
            return Err(ConfigError::new("crm.timeout_ms", "must be shorter than server.webhook_deadline_ms"));
        }
        let auth_header = file.crm.auth_header.clone().unwrap_or_else(|| "Authorization".into());
        if auth_header.is_empty() || !auth_header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ConfigError::new("crm.auth_header", "must be an HTTP header name"));
        }
        let crm = Crm {
            url: crm_url,
            auth_header,
            token: env.secret("VOUCH_CRM_TOKEN")?.map(Secret::new),
            connect_timeout,
            timeout,
            cache_ttl: Duration::from_secs(CrmFile::CACHE_TTL_SECS.read(file.crm.cache_ttl_secs)?),
            negative_cache_ttl: Duration::from_secs(
                CrmFile::NEGATIVE_CACHE_TTL_SECS.read(file.crm.negative_cache_ttl_secs)?,
            ),
            cache_capacity: file.crm.cache_capacity.unwrap_or(CrmFile::DEFAULT_CACHE_CAPACITY),
            max_in_flight: CrmFile::MAX_IN_FLIGHT.read(file.crm.max_in_flight)?,
        };

        let database = database::resolve(&file.database, env)?;
        let lines = resolve_lines(file.lines, file.default_line)?;
        let secrets = Secrets::from_env(env, lines.external_redirect().as_deref())?;
        let sec = &file.security;
        let security = Security {
            lockout_failures: SecurityFile::LOCKOUT_FAILURES.read(sec.lockout_failures)?,
            lockout_window: Duration::from_secs(SecurityFile::LOCKOUT_WINDOW_SECS.read(sec.lockout_window_secs)?),
            enumeration_unknown_ids: SecurityFile::ENUMERATION_UNKNOWN_IDS.read(sec.enumeration_unknown_ids)?,
            enumeration_window: Duration::from_secs(
                SecurityFile::ENUMERATION_WINDOW_SECS.read(sec.enumeration_window_secs)?,
            ),
        };
        Ok(Self { server, crm, database, secrets, lines, security })
    }
}

fn resolve_lines(files: BTreeMap<String, file::LineFile>, default: Option<String>) -> Result<Lines, ConfigError> {
    if files.is_empty() {
        return Err(ConfigError::new("lines", "at least one service line is needed, e.g. [lines.support]"));
    }
    let mut by_name = BTreeMap::new();
    let mut by_number: HashMap<String, String> = HashMap::new();
    for (name, lf) in files {
        let line = Line::resolve(&name, lf)?;
        for number in &line.numbers {
            if let Some(other) = by_number.insert(number.clone(), name.clone()) {
                return Err(ConfigError::new(
                    format!("lines.{name}.numbers"),
                    format!("{number} is already claimed by line {other:?}"),
                ));
            }
        }
        by_name.insert(name, line);
    }
    let default = match default {
        Some(d) if by_name.contains_key(&d) => d,
        Some(d) => return Err(ConfigError::new("default_line", format!("no line is named {d:?}"))),
        None if by_name.len() == 1 => by_name.keys().next().cloned().unwrap_or_default(),
        None => return Err(ConfigError::new("default_line", "required when there are several lines")),
    };
    Ok(Lines { by_name, by_number, default })
}

#[cfg(test)]
mod tests;
