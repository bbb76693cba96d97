//! The `[lines]` table, resolved: every service line by name, which line
//! each dialled number reaches, and the default for numbers none claims.

use super::crm_actions::ActionLimits;
use super::error::ConfigError;
use super::file::LineFile;
use super::handoff::Handoff;
use super::line::Line;
use std::collections::{BTreeMap, HashMap};

/// Every service line, and which number reaches which.
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
    pub(super) fn external_redirect(&self) -> Option<String> {
        self.iter().find_map(|l| {
            [("next", &l.next), ("agent", &l.agent), ("opt_out", &l.opt_out)].into_iter().find_map(|(k, h)| match h {
                Handoff::Redirect { url, .. } if !url.starts_with('/') || url.starts_with("//") => {
                    Some(format!("lines.{}.{k}.url", l.name))
                }
                _ => None,
            })
        })
    }

    /// Every line, no number claimed twice, and a default line when there
    /// is more than one.
    pub(super) fn resolve(
        files: BTreeMap<String, LineFile>,
        default: Option<String>,
        limits: ActionLimits,
    ) -> Result<Self, ConfigError> {
        if files.is_empty() {
            return Err(ConfigError::new("lines", "at least one service line is needed, e.g. [lines.support]"));
        }
        let mut by_name = BTreeMap::new();
        let mut by_number: HashMap<String, String> = HashMap::new();
        for (name, file) in files {
            let line = Line::resolve(&name, file, limits)?;
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
        Ok(Self { by_name, by_number, default })
    }
}
