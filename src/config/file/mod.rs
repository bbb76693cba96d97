//! The TOML file's shape, as written by an operator. Everything here is
//! checked and resolved into [`super::Config`]; nothing else reads it.
//! Secrets are deliberately absent: they come from the environment.
//! Each numeric setting's default and range is declared right after the
//! table it belongs to, in the order of its fields.

mod crm_action;
mod crm_transport;
mod line;

pub use crm_action::{ActionFile, LineCrmFile};
pub use crm_transport::{AuthKind, CrmAuthFile, CrmBreakerFile};
pub use line::{CallerIdFile, HandoffFile, IdentifierFile, LineFile, PromptFile, PromptsFile, VerificationFile};

use super::bound::{Bound, OUTSIDE, OUTSIDE_DAYS, OUTSIDE_MS, OUTSIDE_SECS};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub crm: CrmFile,
    #[serde(default)]
    pub database: DatabaseFile,
    /// The line for a `To` number no line claims. Required with several lines.
    pub default_line: Option<String>,
    #[serde(default)]
    pub lines: BTreeMap<String, LineFile>,
    #[serde(default)]
    pub security: SecurityFile,
    #[serde(default)]
    pub reports: ReportsFile,
}

/// `[reports]`: scheduled reports.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsFile {
    /// Days a scheduled report's stored file is kept (default 400).
    pub keep_days: Option<u64>,
    #[serde(default)]
    pub schedule: Vec<ScheduleFile>,
}

/// One `[[reports.schedule]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub name: String,
    /// `day`, `week` or `month`.
    pub every: String,
    /// A week's weekday (`monday`), or a month's day (1 to 28).
    pub day: Option<toml::Value>,
    /// The local time it falls due (`HH:MM`, default `06:00`).
    pub at: Option<String>,
    pub tz: Option<String>,
    pub line: Option<String>,
    pub by: Option<String>,
    /// Default `["csv"]`.
    pub formats: Option<Vec<String>>,
    pub directory: Option<String>,
    /// Also write the period's calls (a CSV call list, customer data), of
    /// the lines that opt in (`scheduled_call_lists`). Default false.
    pub calls: Option<bool>,
}

/// Limits across calls (shared by every line and every Vouch on the database).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityFile {
    /// Failed verifications of one customer, within the window, that lock it.
    pub lockout_failures: Option<u64>,
    pub lockout_window_secs: Option<u64>,
    /// Unknown identifiers keyed from one caller number, within the window,
    /// after which that number's calls go straight to an agent.
    pub enumeration_unknown_ids: Option<u64>,
    pub enumeration_window_secs: Option<u64>,
    /// Unknown identifiers keyed from withheld or unusable caller IDs on one
    /// line (counted together), within the window, after which such calls
    /// on that line go straight to an agent.
    pub enumeration_withheld_ids: Option<u64>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl SecurityFile {
    pub const LOCKOUT_FAILURES: Bound<u64> =
        Bound { key: "security.lockout_failures", default: 5, min: 1, max: 1_000, says: OUTSIDE };
    pub const LOCKOUT_WINDOW_SECS: Bound<u64> =
        Bound { key: "security.lockout_window_secs", default: 86_400, min: 60, max: 30 * 86_400, says: OUTSIDE_SECS };
    pub const ENUMERATION_UNKNOWN_IDS: Bound<u64> =
        Bound { key: "security.enumeration_unknown_ids", default: 10, min: 1, max: 10_000, says: OUTSIDE };
    pub const ENUMERATION_WINDOW_SECS: Bound<u64> = Bound {
        key: "security.enumeration_window_secs",
        default: 3_600,
        min: 60,
        max: 30 * 86_400,
        says: OUTSIDE_SECS,
    };
    pub const ENUMERATION_WITHHELD_IDS: Bound<u64> =
        Bound { key: "security.enumeration_withheld_ids", default: 30, min: 1, max: 100_000, says: OUTSIDE };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// `VOUCH_PUBLIC_URL` overrides it.
    pub public_url: Option<String>,
    /// `PORT` overrides it.
    pub port: Option<u16>,
    pub state_ttl_secs: Option<u64>,
    /// Every webhook is answered within this, whatever the CRM does.
    pub webhook_deadline_ms: Option<u64>,
    pub call_record_ttl_secs: Option<u64>,
    /// On SIGTERM, in-flight webhooks get this long to finish.
    pub shutdown_timeout_secs: Option<u64>,
    /// On SIGTERM, `/healthz` answers 503 this long (everything else is
    /// served) before the listener closes, so load balancers move away.
    pub drain_secs: Option<u64>,
    /// How long the token on a redirect handoff stays valid.
    pub handoff_token_ttl_secs: Option<u64>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl ServerFile {
    /// Not a bound: any port will do.
    pub const DEFAULT_PORT: u16 = 8080;
    pub const STATE_TTL_SECS: Bound<u64> =
        Bound { key: "server.state_ttl_secs", default: 1_800, min: 60, max: 86_400, says: OUTSIDE_SECS };
    /// Twilio gives up on a webhook after 15 s.
    pub const WEBHOOK_DEADLINE_MS: Bound<u64> =
        Bound { key: "server.webhook_deadline_ms", default: 10_000, min: 1_000, max: 14_000, says: OUTSIDE_MS };
    pub const CALL_RECORD_TTL_SECS: Bound<u64> =
        Bound { key: "server.call_record_ttl_secs", default: 3_600, min: 60, max: 30 * 86_400, says: OUTSIDE_SECS };
    /// Fly.io's kill_timeout tops out at 300 s; 0 would drop calls mid-sentence.
    pub const SHUTDOWN_TIMEOUT_SECS: Bound<u64> =
        Bound { key: "server.shutdown_timeout_secs", default: 10, min: 1, max: 300, says: OUTSIDE_SECS };
    /// A load balancer checking every few seconds sees the 503 within a
    /// few seconds; 0 closes the listener at once.
    pub const DRAIN_SECS: Bound<u64> =
        Bound { key: "server.drain_secs", default: 5, min: 0, max: 60, says: OUTSIDE_SECS };
    pub const HANDOFF_TOKEN_TTL_SECS: Bound<u64> =
        Bound { key: "server.handoff_token_ttl_secs", default: 300, min: 10, max: 3_600, says: OUTSIDE_SECS };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmFile {
    /// `VOUCH_CRM_URL` overrides it; unset: the built-in demo CRM.
    pub url: Option<String>,
    /// Header carrying `VOUCH_CRM_TOKEN`; `Authorization` sends `Bearer <token>`.
    pub auth_header: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub cache_ttl_secs: Option<u64>,
    pub negative_cache_ttl_secs: Option<u64>,
    pub cache_capacity: Option<u64>,
    /// CRM requests in flight at once; past it callers take the agent path.
    pub max_in_flight: Option<usize>,
    /// The data actions; each absent one is today's contract.
    pub find_by_phone: Option<ActionFile>,
    pub find_by_identifier: Option<ActionFile>,
    pub verify: Option<ActionFile>,
    /// `[crm.auth]`; absent: none, or `auth_header` with `VOUCH_CRM_TOKEN`.
    pub auth: Option<CrmAuthFile>,
    #[serde(default)]
    pub breaker: CrmBreakerFile,
    /// Extra CA certificates (PEM), trusted besides the webpki roots.
    pub ca_file: Option<String>,
    /// A client certificate chain (PEM) for mTLS, with `client_key_file`.
    pub client_cert_file: Option<String>,
    pub client_key_file: Option<String>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl CrmFile {
    pub const CONNECT_TIMEOUT_MS: Bound<u64> =
        Bound { key: "crm.connect_timeout_ms", default: 500, min: 50, max: 10_000, says: OUTSIDE_MS };
    /// Also checked against `server.webhook_deadline_ms`, which it must be shorter than.
    pub const TIMEOUT_MS: Bound<u64> =
        Bound { key: "crm.timeout_ms", default: 2_000, min: 100, max: 10_000, says: OUTSIDE_MS };
    /// 0 turns the cache off.
    pub const CACHE_TTL_SECS: Bound<u64> =
        Bound { key: "crm.cache_ttl_secs", default: 300, min: 0, max: 86_400, says: OUTSIDE_SECS };
    pub const NEGATIVE_CACHE_TTL_SECS: Bound<u64> =
        Bound { key: "crm.negative_cache_ttl_secs", default: 30, min: 0, max: 86_400, says: OUTSIDE_SECS };
    /// Not a bound: any size is accepted.
    pub const DEFAULT_CACHE_CAPACITY: u64 = 100_000;
    pub const MAX_IN_FLIGHT: Bound<usize> =
        Bound { key: "crm.max_in_flight", default: 64, min: 1, max: 10_000, says: OUTSIDE };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    /// `DATABASE_URL` overrides it; unset: `sqlite://vouch.db`.
    pub url: Option<String>,
    /// Records waiting to be written, at most.
    pub buffer_capacity: Option<usize>,
    /// Call records not updated for this many days are purged, with
    /// counters past their window and older `--record-dir` files.
    pub retention_days: Option<u64>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl DatabaseFile {
    pub const BUFFER_CAPACITY: Bound<usize> =
        Bound { key: "database.buffer_capacity", default: 10_000, min: 1, max: 1_000_000, says: OUTSIDE };
    /// 0 is refused: a purge of everything at each run is never what an
    /// operator means, and keeping records for ever is not a retention.
    pub const RETENTION_DAYS: Bound<u64> =
        Bound { key: "database.retention_days", default: 90, min: 1, max: 3_650, says: OUTSIDE_DAYS };
}
