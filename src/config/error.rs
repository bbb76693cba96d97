//! The one error configuration checks return. It names the key it is about,
//! so an operator can find the line to fix without reading code.

/// A configuration problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error at `{key}`: {message}")]
pub struct ConfigError {
    /// The key as written in the file (`lines.support.retries`), or the
    /// environment variable (`PORT`).
    pub key: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }

    /// The same error with its key placed under `table`: a line's settings
    /// are declared once for every line, so their keys are relative.
    pub(super) fn under(self, table: &str) -> Self {
        Self { key: format!("{table}.{}", self.key), ..self }
    }
}
