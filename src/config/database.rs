//! Where call records are kept: `DATABASE_URL` (or `[database] url`), a
//! SQLite file by default, PostgreSQL for `postgres://…`, or nowhere but
//! memory for `memory:`. Checked here for its form; opened at start-up.

use super::env::Env;
use super::error::ConfigError;
use super::file::DatabaseFile;
use super::secrets::Secret;

/// The default store: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://vouch.db";

#[derive(Debug, Clone)]
pub struct Database {
    pub url: DatabaseUrl,
    /// Records waiting to be written, at most; past that new calls' records
    /// are dropped (counted and logged) rather than slowing a webhook.
    pub buffer_capacity: usize,
    /// Call records not updated for this many days are purged in the
    /// background (`database.retention_days`), with expired counters.
    pub retention_days: u64,
}

#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// A `sqlite:` URL: a file, created if missing.
    Sqlite(String),
    /// A `postgres://` or `postgresql://` URL; it may hold a password.
    Postgres(Secret),
    /// `memory:`: no database; records live only in the in-memory cache.
    Memory,
}

impl DatabaseUrl {
    /// Checks the form of `raw`; `key` names where it came from.
    pub fn parse(raw: &str, key: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        let scheme = raw.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => {
                let path = sqlite_path(raw);
                if path.is_empty() {
                    return Err(ConfigError::new(key, "a sqlite: URL needs a file, e.g. sqlite://vouch.db"));
                }
                Ok(Self::Sqlite(raw.to_string()))
            }
            Some("postgres" | "postgresql") => {
                let url = url::Url::parse(raw)
                    .map_err(|e| ConfigError::new(key, format!("not a PostgreSQL URL ({e}): {}", redact(raw))))?;
                if url.host_str().is_none_or(str::is_empty) && !url.query_pairs().any(|(k, _)| k == "host") {
                    return Err(ConfigError::new(key, format!("a PostgreSQL URL needs a host: {}", redact(raw))));
                }
                Ok(Self::Postgres(Secret::new(raw)))
            }
            Some("memory") if raw.trim_start_matches("memory:").is_empty() => Ok(Self::Memory),
            _ => Err(ConfigError::new(
                key,
                format!(
                    "{:?} is not a database URL: use sqlite://FILE, postgres://USER@HOST/DB or memory:",
                    redact(raw)
                ),
            )),
        }
    }

    /// A SQLite database in memory (`sqlite::memory:`, `?mode=memory`).
    pub fn is_sqlite_in_memory(&self) -> bool {
        matches!(self, Self::Sqlite(url) if sqlite_path(url) == ":memory:" || url.contains("mode=memory"))
    }

    /// The SQLite file this names, if it is one on disk.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Self::Sqlite(url) if !self.is_sqlite_in_memory() => Some(std::path::PathBuf::from(sqlite_path(url))),
            _ => None,
        }
    }

    /// What the store is, for logs and `check-config`; never a password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(_) if self.is_sqlite_in_memory() => "SQLite in memory (lost on restart)".to_string(),
            Self::Sqlite(url) => format!("SQLite file {} (WAL)", sqlite_path(url)),
            Self::Postgres(url) => format!("PostgreSQL {}", redact(url.expose())),
            Self::Memory => "memory only (memory:): records are lost on restart".to_string(),
        }
    }
}

/// The file part of a `sqlite:` URL.
fn sqlite_path(url: &str) -> &str {
    let rest = url.split_once(':').map_or("", |(_, r)| r);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    rest.split('?').next().unwrap_or("")
}

/// A URL without its password or query (which may carry one).
pub fn redact(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        // Unparsable: keep only what follows any credentials, before any query.
        Err(_) => raw.rsplit('@').next().unwrap_or("").split('?').next().unwrap_or("").to_string(),
    }
}

impl Database {
    /// How long a call record is kept after its last update.
    pub fn retention(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.retention_days.saturating_mul(86_400))
    }

    /// `DATABASE_URL` overrides the file.
    pub(super) fn resolve(file: &DatabaseFile, env: &dyn Env) -> Result<Self, ConfigError> {
        let url = match env.var("DATABASE_URL") {
            Some(u) => DatabaseUrl::parse(&u, "DATABASE_URL")?,
            None => DatabaseUrl::parse(file.url.as_deref().unwrap_or(DEFAULT_DATABASE_URL), "database.url")?,
        };
        Ok(Self {
            url,
            buffer_capacity: DatabaseFile::BUFFER_CAPACITY.read(file.buffer_capacity)?,
            retention_days: DatabaseFile::RETENTION_DAYS.read(file.retention_days)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_sorted_by_scheme() {
        assert!(matches!(DatabaseUrl::parse("sqlite://vouch.db", "k"), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!(DatabaseUrl::parse("sqlite:///data/vouch.db?mode=rwc", "k"), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!(DatabaseUrl::parse("postgres://u:p@db:5432/vouch", "k"), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!(DatabaseUrl::parse("postgresql://db/vouch", "k"), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!(DatabaseUrl::parse("memory:", "k"), Ok(DatabaseUrl::Memory)));
        for bad in ["mysql://db/x", "vouch.db", "sqlite://", "postgres://", "memory:x", ""] {
            let e = DatabaseUrl::parse(bad, "DATABASE_URL").expect_err(bad);
            assert_eq!(e.key, "DATABASE_URL", "{bad}");
        }
    }

    #[test]
    fn descriptions_never_show_a_password() {
        let pg =
            DatabaseUrl::parse("postgres://vouch:s3cret-pw@db.internal:5432/calls?password=s3cret-pw", "k").unwrap();
        assert_eq!(pg.describe(), "PostgreSQL postgres://vouch@db.internal:5432/calls");
        let e = DatabaseUrl::parse("mysql://vouch:s3cret-pw@db/x", "DATABASE_URL").unwrap_err();
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
        assert!(!format!("{pg:?}").contains("s3cret-pw"));
        let lite = DatabaseUrl::parse("sqlite:///data/vouch.db", "k").unwrap();
        assert_eq!(lite.describe(), "SQLite file /data/vouch.db (WAL)");
        assert_eq!(DatabaseUrl::parse("sqlite:vouch.db", "k").unwrap().describe(), "SQLite file vouch.db (WAL)");
        assert!(DatabaseUrl::parse("sqlite::memory:", "k").unwrap().is_sqlite_in_memory());
        assert!(!lite.is_sqlite_in_memory());
    }
}
