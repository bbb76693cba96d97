//! A numeric setting's default and allowed range, declared once beside the
//! field it bounds (in `file`), and the one reader that applies it.

use super::error::ConfigError;
use std::fmt::Display;

/// How most settings in seconds refuse a value: `59 is outside 60..=86400 seconds`.
pub const OUTSIDE_SECS: &str = "{value} is outside {min}..={max} seconds";
/// How settings in milliseconds refuse a value: `99 is outside 100..=10000 ms`.
pub const OUTSIDE_MS: &str = "{value} is outside {min}..={max} ms";
/// How settings in days refuse a value: `0 is outside 1..=3650 days`.
pub const OUTSIDE_DAYS: &str = "{value} is outside {min}..={max} days";
/// How counts refuse a value: `0 is outside 1..=10000`.
pub const OUTSIDE: &str = "{value} is outside {min}..={max}";

/// A numeric setting's default and the range it must lie in.
#[derive(Debug, Clone, Copy)]
pub struct Bound<T> {
    /// The key an error names: in full (`server.state_ttl_secs`), or, for
    /// a line's settings, under the line (`retries`) or its handoff.
    pub key: &'static str,
    /// What an unset setting is.
    pub default: T,
    /// The smallest value accepted (inclusive).
    pub min: T,
    /// The largest value accepted (inclusive).
    pub max: T,
    /// The refusal, with `{value}`, `{min}` and `{max}` filled in. Each
    /// setting keeps its own words: operators (and the README) know them.
    pub says: &'static str,
}

impl<T: Copy + PartialOrd + Display> Bound<T> {
    /// The value given, or the default when unset; refused outside `min..=max`.
    pub fn read(&self, given: Option<T>) -> Result<T, ConfigError> {
        self.check(given.unwrap_or(self.default))
    }

    /// A value that is set; refused outside `min..=max`.
    pub fn check(&self, value: T) -> Result<T, ConfigError> {
        if self.min <= value && value <= self.max {
            Ok(value)
        } else {
            Err(self.refuse(value))
        }
    }

    /// The error for `value`, in this bound's words (for checks that span
    /// two fields, `value` describes both).
    pub fn refuse(&self, value: impl Display) -> ConfigError {
        let message = self
            .says
            .replace("{value}", &value.to_string())
            .replace("{min}", &self.min.to_string())
            .replace("{max}", &self.max.to_string());
        ConfigError::new(self.key, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bound<u8> = Bound { key: "k", default: 3, min: 1, max: 10, says: "{value} not in {min}..={max}" };

    #[test]
    fn the_default_fills_in_and_the_edges_are_inclusive() {
        assert_eq!(B.read(None), Ok(3));
        assert_eq!((B.read(Some(1)), B.read(Some(10))), (Ok(1), Ok(10)));
        assert_eq!(B.check(11), Err(ConfigError::new("k", "11 not in 1..=10")));
        assert_eq!(
            B.read(Some(0)).map_err(|e| e.under("t").to_string()),
            Err("configuration error at `t.k`: 0 not in 1..=10".into())
        );
    }
}
