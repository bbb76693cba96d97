//! The shape of `[crm.auth]` and `[crm.breaker]`: how Vouch authenticates
//! to the CRM and when it stops asking a CRM that keeps failing. Secrets
//! have no field here: the keys a secret would go under are accepted only
//! to be refused by name (`crm.auth.token`), pointing at the variable.

use crate::config::bound::{Bound, OUTSIDE, OUTSIDE_SECS};
use serde::de::IgnoredAny;
use serde::Deserialize;

/// `crm.auth.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    None,
    Bearer,
    Basic,
    Header,
    OAuth2,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmAuthFile {
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// `header`: the header carrying `VOUCH_CRM_TOKEN` (e.g. `X-API-Key`).
    pub name: Option<String>,
    /// `basic`: not a secret here (Zendesk's `email/token`); the API key
    /// Freshdesk uses as a username goes in `VOUCH_CRM_USERNAME` instead.
    pub username: Option<String>,
    /// `basic`: a password the CRM documents as a fixed, public value
    /// (Freshdesk's `X`), instead of `VOUCH_CRM_PASSWORD`.
    pub password_literal: Option<String>,
    /// `oauth2`: where client-credentials tokens come from.
    pub token_url: Option<String>,
    /// `oauth2`: optional (Dataverse: `https://ORG.crm.dynamics.com/.default`).
    pub scope: Option<String>,
    /// `oauth2`: or `VOUCH_CRM_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `oauth2`: a token is used until this long before it expires.
    pub refresh_margin_secs: Option<u64>,
    // Refused by name: secrets come from the environment only.
    pub token: Option<IgnoredAny>,
    pub password: Option<IgnoredAny>,
    pub client_secret: Option<IgnoredAny>,
    pub api_key: Option<IgnoredAny>,
    pub secret: Option<IgnoredAny>,
    pub value: Option<IgnoredAny>,
    pub access_token: Option<IgnoredAny>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl CrmAuthFile {
    pub const REFRESH_MARGIN_SECS: Bound<u64> =
        Bound { key: "crm.auth.refresh_margin_secs", default: 60, min: 0, max: 3_600, says: OUTSIDE_SECS };
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmBreakerFile {
    /// Consecutive failures that open the breaker.
    pub failures: Option<u32>,
    /// How long it stays open before one probe request is let through.
    pub cool_down_secs: Option<u64>,
}

/// Each numeric setting's default and range, in the order of the fields.
impl CrmBreakerFile {
    pub const FAILURES: Bound<u32> = Bound { key: "crm.breaker.failures", default: 5, min: 1, max: 100, says: OUTSIDE };
    pub const COOL_DOWN_SECS: Bound<u64> =
        Bound { key: "crm.breaker.cool_down_secs", default: 30, min: 1, max: 3_600, says: OUTSIDE_SECS };
}
