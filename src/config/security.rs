//! The `[security]` table, resolved: limits across calls, shared by every
//! line and every Vouch on the same database.

use super::error::ConfigError;
use super::file::SecurityFile;
use std::time::Duration;

/// Limits across calls: verification lockouts and the enumeration throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Security {
    pub lockout_failures: u64,
    pub lockout_window: Duration,
    pub enumeration_unknown_ids: u64,
    pub enumeration_window: Duration,
    /// The enumeration limit shared by every withheld or unusable caller ID
    /// on one line (they cannot be told apart).
    pub enumeration_withheld_ids: u64,
}

impl Security {
    pub(super) fn resolve(file: &SecurityFile) -> Result<Self, ConfigError> {
        Ok(Self {
            lockout_failures: SecurityFile::LOCKOUT_FAILURES.read(file.lockout_failures)?,
            lockout_window: Duration::from_secs(SecurityFile::LOCKOUT_WINDOW_SECS.read(file.lockout_window_secs)?),
            enumeration_unknown_ids: SecurityFile::ENUMERATION_UNKNOWN_IDS.read(file.enumeration_unknown_ids)?,
            enumeration_window: Duration::from_secs(
                SecurityFile::ENUMERATION_WINDOW_SECS.read(file.enumeration_window_secs)?,
            ),
            enumeration_withheld_ids: SecurityFile::ENUMERATION_WITHHELD_IDS.read(file.enumeration_withheld_ids)?,
        })
    }
}
