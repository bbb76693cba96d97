//! Where environment values come from: the process, or a map in tests.
//! Secrets may also be files (`NAME_FILE`), as Docker and Kubernetes mount them.

use super::error::ConfigError;
use std::collections::HashMap;

/// Where environment values come from (the process, or a map in tests).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;

    /// A secret: `NAME` itself, or the contents of the file `NAME_FILE`
    /// names (Docker and Kubernetes secrets are mounted as files).
    fn secret(&self, name: &str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.var(name) {
            return Ok(Some(v));
        }
        let file_key = format!("{name}_FILE");
        let Some(path) = self.var(&file_key) else { return Ok(None) };
        let text = std::fs::read_to_string(path.trim())
            .map_err(|e| ConfigError::new(file_key.as_str(), format!("cannot read {path:?}: {e}")))?;
        let value = text.trim_end_matches(['\n', '\r']).to_string();
        Ok((!value.trim().is_empty()).then_some(value))
    }
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.trim().is_empty())
    }
}
