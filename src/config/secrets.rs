//! Secrets, from the environment only: never from the TOML file that is
//! committed with the app. With none set, Vouch runs in a labelled demo mode.

use super::env::Env;
use super::error::ConfigError;
use super::users::Users;
use rand::RngCore;

/// A secret value that does not print itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The demo auth token: published, so only for trying Vouch locally.
pub const DEMO_AUTH_TOKEN: &str = "vouch-demo-auth-token-not-secret";
/// The demo admin token: published, so only for trying Vouch locally.
pub const DEMO_ADMIN_TOKEN: &str = "vouch-demo-admin-token-not-secret";
/// The demo key for redirect handoff tokens: published, so only for trying
/// Vouch locally (docs/handoffs.md's verification example uses it).
pub const DEMO_HANDOFF_SECRET: &str = "vouch-demo-handoff-secret-not-secret";

/// Where the handoff token key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `VOUCH_HANDOFF_SECRET`.
    Env,
    /// The published demo key (demo mode).
    Demo,
    /// Generated at start-up: only Vouch's own pages receive redirects.
    Random,
}

#[derive(Debug, Clone)]
pub struct Secrets {
    /// Primary first, then the optional secondary (for rotation).
    pub auth_tokens: Vec<Secret>,
    /// Keys for signing flow state; the first signs, all verify.
    pub state_keys: Vec<Secret>,
    pub admin_token: Option<Secret>,
    /// The auth token is the published demo one.
    pub demo_auth: bool,
    /// The state key was generated at start-up (lost on restart).
    pub random_state_key: bool,
    /// Agent-page logins and API tokens (`VOUCH_USERS_FILE` or `VOUCH_USERS`).
    pub users: Users,
    /// HS256 key for the token on redirect handoffs.
    pub handoff_key: Secret,
    pub handoff_key_source: KeySource,
}

impl Secrets {
    /// The admin token is the published demo one (no `VOUCH_ADMIN_TOKEN` in demo mode).
    pub fn admin_token_is_demo(&self) -> bool {
        self.admin_token.as_ref().is_some_and(|t| t.expose() == DEMO_ADMIN_TOKEN)
    }

    /// `external_redirect`: the key of a handoff that redirects outside
    /// Vouch, if any; such an app checks tokens, so they need a real key.
    pub fn from_env(env: &dyn Env, external_redirect: Option<&str>) -> Result<Self, ConfigError> {
        let (auth_tokens, demo_auth) = auth_tokens(env)?;
        let (state_keys, random_state_key) = state_keys(env)?;
        let admin_token = admin_token(env, demo_auth)?;
        let users = Users::from_env(env, demo_auth)?;
        let (handoff_key, handoff_key_source) = handoff_key(env, demo_auth, external_redirect)?;
        Ok(Self {
            auth_tokens,
            state_keys,
            admin_token,
            demo_auth,
            random_state_key,
            users,
            handoff_key,
            handoff_key_source,
        })
    }
}

/// Twilio's auth tokens, primary first; with none, the demo token (and demo mode).
fn auth_tokens(env: &dyn Env) -> Result<(Vec<Secret>, bool), ConfigError> {
    // Tokens pasted from files often carry a trailing newline.
    let primary = env.secret("TWILIO_AUTH_TOKEN")?.map(|t| t.trim().to_string());
    let secondary = env.secret("TWILIO_AUTH_TOKEN_SECONDARY")?.map(|t| t.trim().to_string());
    let demo_auth = primary.is_none();
    if demo_auth && secondary.is_some() {
        return Err(ConfigError::new(
            "TWILIO_AUTH_TOKEN_SECONDARY",
            "set without TWILIO_AUTH_TOKEN: set the primary token too",
        ));
    }
    let mut auth_tokens = vec![Secret::new(primary.unwrap_or_else(|| DEMO_AUTH_TOKEN.to_string()))];
    auth_tokens.extend(secondary.map(Secret::new));
    Ok((auth_tokens, demo_auth))
}

/// The flow-state keys, and whether the one key was generated here.
fn state_keys(env: &dyn Env) -> Result<(Vec<Secret>, bool), ConfigError> {
    let Some(list) = env.secret("VOUCH_STATE_SECRET")? else {
        return Ok((vec![random_key()], true));
    };
    let keys: Vec<Secret> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Secret::new).collect();
    if keys.is_empty() || keys.iter().any(|k| k.expose().len() < 32) {
        return Err(ConfigError::new(
            "VOUCH_STATE_SECRET",
            "each comma-separated key must be at least 32 characters (e.g. `openssl rand -hex 32`)",
        ));
    }
    Ok((keys, false))
}

/// `VOUCH_ADMIN_TOKEN`; the published demo token in demo mode, else none.
fn admin_token(env: &dyn Env, demo_auth: bool) -> Result<Option<Secret>, ConfigError> {
    match env.secret("VOUCH_ADMIN_TOKEN")? {
        Some(t) if t.len() < 16 => Err(ConfigError::new("VOUCH_ADMIN_TOKEN", "must be at least 16 characters")),
        Some(t) => Ok(Some(Secret::new(t.trim()))),
        None if demo_auth => Ok(Some(Secret::new(DEMO_ADMIN_TOKEN))),
        None => Ok(None),
    }
}

/// The key for redirect handoff tokens. Without `VOUCH_HANDOFF_SECRET`, a
/// random one does only while every redirect stays on Vouch's own pages.
fn handoff_key(
    env: &dyn Env,
    demo_auth: bool,
    external_redirect: Option<&str>,
) -> Result<(Secret, KeySource), ConfigError> {
    match env.secret("VOUCH_HANDOFF_SECRET")?.map(|k| k.trim().to_string()) {
        Some(k) if k.len() < 32 => Err(ConfigError::new(
            "VOUCH_HANDOFF_SECRET",
            "must be at least 32 characters (e.g. `openssl rand -hex 32`)",
        )),
        Some(k) => Ok((Secret::new(k), KeySource::Env)),
        None if demo_auth => Ok((Secret::new(DEMO_HANDOFF_SECRET), KeySource::Demo)),
        None => match external_redirect {
            Some(key) => Err(ConfigError::new(
                "VOUCH_HANDOFF_SECRET",
                format!(
                    "required: {key} redirects to an app that checks the handoff token signed with it \
                     (at least 32 characters, e.g. `openssl rand -hex 32`)"
                ),
            )),
            None => Ok((random_key(), KeySource::Random)),
        },
    }
}

/// 32 random bytes, hex-encoded.
fn random_key() -> Secret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}
