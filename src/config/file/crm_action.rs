//! The shape of a CRM data action table (`[crm.find_by_phone]`,
//! `[crm.find_by_identifier]`, `[crm.verify]`, and a line's
//! `[lines.NAME.crm.*]` overrides). Which keys apply to which action is
//! checked in `config::crm_actions`.

use crate::config::bound::{Bound, OUTSIDE_MS};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionFile {
    /// GET (default), POST, PUT or PATCH.
    pub method: Option<String>,
    /// Relative to `crm.url` (`/customers/{id}`) or absolute.
    pub url: Option<String>,
    /// Plain text values; never a secret, never `{value}`.
    #[serde(default)]
    pub headers: Ordered,
    pub body: Option<String>,
    /// `json` or `form`; required with `body`.
    pub body_format: Option<String>,
    /// find_by_phone: the default format of a bare `{phone}`.
    pub phone_format: Option<String>,
    /// Default `crm.timeout_ms`; shorter than `server.webhook_deadline_ms`.
    pub timeout_ms: Option<u64>,
    // Find actions.
    pub list: Option<String>,
    pub count: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub attributes: Ordered,
    // Verify.
    /// `endpoint` (default), `compare` or `hash`.
    pub mode: Option<String>,
    pub result: Option<String>,
    pub field: Option<String>,
    pub field_format: Option<String>,
    pub keyed_format: Option<String>,
    pub hash: Option<String>,
}

impl ActionFile {
    /// Key relative to the action's table.
    pub const TIMEOUT_MS: Bound<u64> =
        Bound { key: "timeout_ms", default: 2_000, min: 100, max: 10_000, says: OUTSIDE_MS };
}

/// A line's overrides.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineCrmFile {
    pub find_by_identifier: Option<ActionFile>,
    pub verify: Option<ActionFile>,
}

/// A table of strings kept in the order written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ordered(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V)
    }
}
