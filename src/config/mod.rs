//! Configuration: one TOML file (or the embedded demo) plus environment
//! overrides, checked once at start-up into typed values. A bad value stops
//! start-up with an error naming its key.
//!
//! `file` is the file's shape, with each numeric setting's default and
//! range (a `bound::Bound`) declared beside it. Each table is resolved in a
//! module of its own (`server`, `crm`, `database`, `lines`, `security`,
//! `secrets`), and this one only puts them together. The helpers they share
//! (`error`, `env`, `bound`, `urls`) import nothing else here, and no module
//! imports one that imports it back, directly or round a loop.

mod bound;
mod crm;
mod crm_actions;
mod crm_transport;
mod database;
mod entry;
mod env;
pub(crate) mod error;
mod file;
mod handoff;
mod line;
mod lines;
mod prompts;
mod reports;
mod secrets;
mod security;
mod server;
mod urls;
mod users;

pub use crate::crm::action::{CrmActions, LineCrm};
pub use crm::Crm;
pub use crm_actions::ActionLimits;
pub use crm_transport::{CrmAuth, CrmBreaker, CrmProxy, CrmTls, CrmTransport, OAuth2};
pub use database::{Database, DatabaseUrl, DEFAULT_DATABASE_URL};
pub use env::{Env, ProcessEnv};
pub use error::ConfigError;
pub use file::FileConfig;
pub use handoff::{DialTo, Handoff, RedirectContext, MAX_SIP_BASE_CHARS};
pub use line::{Line, LineTimeZone};
pub use lines::Lines;
pub use prompts::Speech;
pub use reports::{Every, Reports, Schedule};
pub use secrets::{KeySource, Secret, Secrets};
pub use security::Security;
pub use server::Server;
pub use users::{ApiToken, Role, User, Users, DEMO_USER};

/// The embedded demo configuration, used when no `--config` is given.
pub const DEMO_CONFIG: &str = include_str!("../../demo/vouch.toml");

/// What running on the embedded demo adds to it: failed verifications are
/// forgotten after 15 minutes, not a day, so a newcomer trying wrong PINs
/// isn't locked out of the demo for long (the demo file says so).
const DEMO_SECURITY: &str = "[security]\nlockout_window_secs = 900\n";

/// Everything Vouch runs with, checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub crm: Crm,
    pub database: Database,
    pub secrets: Secrets,
    pub lines: Lines,
    pub security: Security,
    pub reports: Reports,
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
            None => Self::from_toml(&format!("{DEMO_CONFIG}\n{DEMO_SECURITY}"), env),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::new("--config", format!("cannot read {}: {e}", p.display())))?;
                Self::from_toml(&text, env)
            }
        }
    }

    /// Each table in turn, so the first mistake is the one reported. The
    /// CRM's timeout must fit in the server's webhook deadline, and the
    /// secrets needed depend on where the lines hand calls off.
    fn resolve(file: FileConfig, env: &dyn Env) -> Result<Self, ConfigError> {
        let server = Server::resolve(&file.server, env)?;
        let crm = Crm::resolve(&file.crm, env, server.webhook_deadline)?;
        let database = Database::resolve(&file.database, env)?;
        let limits = ActionLimits { timeout: crm.timeout, deadline: server.webhook_deadline };
        let lines = Lines::resolve(file.lines, file.default_line, limits)?;
        for line in lines.iter() {
            if let Some(rules) = &line.rules.verification {
                let verify = line.crm.verify.as_ref().unwrap_or(&crm.actions.verify);
                crm_actions::check_factor_length(&format!("lines.{}", line.name), rules.max_digits, verify)?;
            }
        }
        let secrets = Secrets::from_env(env, lines.external_redirect().as_deref())?;
        let security = Security::resolve(&file.security)?;
        let reports = Reports::resolve(&file.reports, &lines)?;
        if !reports.schedules.is_empty() && matches!(database.url, DatabaseUrl::Memory) {
            return Err(ConfigError::new(
                "reports.schedule",
                "scheduled reports are counted and kept in the database: DATABASE_URL=memory: has none",
            ));
        }
        Ok(Self { server, crm, database, secrets, lines, security, reports })
    }
}

#[cfg(test)]
mod tests;
