//! Who may log in to the agent pages, and which machines may call the API:
//! a TOML document from `VOUCH_USERS_FILE` (a path) or `VOUCH_USERS` (the
//! text itself, for platforms whose secrets are environment variables).
//! It is a secret, so it never lives in the committed configuration file.
//! Only hashes are stored: Argon2 PHC strings for passwords, SHA-256 for
//! API tokens (long random strings, so a fast hash is enough and keeps every
//! API request cheap).

use super::env::Env;
use super::error::ConfigError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// The demo user's name and password: published, so only for demo mode.
pub const DEMO_USER: &str = "demo";
/// An Argon2id hash of the demo password `demo` (precomputed: hashing at
/// every start-up would cost time for nothing).
const DEMO_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$dm91Y2gtZGVtby11c2Vy$SGdYIaLZT48Y4Gwl2VpqOZ5Daxy4VYmI5EsRpwy+M7E";

/// What a user or token may do. Both roles may open the agent pages and
/// read the call API today; `supervisor` is what `VOUCH_ADMIN_TOKEN` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "supervisor" => Some(Self::Supervisor),
            _ => None,
        }
    }
}

/// A person who logs in with a password.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// An Argon2 PHC string, checked at load.
    pub password_hash: String,
}

/// A machine that sends `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    sha256: [u8; 32],
}

/// The checked users and API tokens.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: BTreeMap<String, User>,
    tokens: Vec<ApiToken>,
    /// The published demo user is the only user.
    pub demo: bool,
    /// Where the users came from, for the start-up log.
    pub source: Option<&'static str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserFile>,
    #[serde(default)]
    tokens: Vec<TokenFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    name: String,
    role: Role,
    password_hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    name: String,
    role: Role,
    token_hash: String,
}

impl Users {
    /// Reads `VOUCH_USERS_FILE` or `VOUCH_USERS`; with neither, the demo
    /// user in demo mode and nobody otherwise.
    pub fn from_env(env: &dyn Env, demo_mode: bool) -> Result<Self, ConfigError> {
        let (text, source) = match (env.var("VOUCH_USERS_FILE"), env.var("VOUCH_USERS")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new("VOUCH_USERS", "set only one of VOUCH_USERS_FILE and VOUCH_USERS"));
            }
            (Some(path), None) => {
                let text = std::fs::read_to_string(path.trim())
                    .map_err(|e| ConfigError::new("VOUCH_USERS_FILE", format!("cannot read {path}: {e}")))?;
                (text, "VOUCH_USERS_FILE")
            }
            (None, Some(text)) => (text, "VOUCH_USERS"),
            (None, None) if demo_mode => return Ok(Self::demo()),
            (None, None) => return Ok(Self::default()),
        };
        let mut users = Self::parse(&text)?;
        users.source = Some(source);
        Ok(users)
    }

    /// The demo user `demo` (password `demo`), a supervisor.
    pub fn demo() -> Self {
        let user = User { name: DEMO_USER.into(), role: Role::Supervisor, password_hash: DEMO_PASSWORD_HASH.into() };
        Self { users: BTreeMap::from([(DEMO_USER.to_string(), user)]), tokens: Vec::new(), demo: true, source: None }
    }

    /// Parses and checks a users document; errors name the key.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let file: UsersFile = serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::new(if key == "." { "(users)".into() } else { key }, e.into_inner().message().trim())
        })?;
        let mut users = BTreeMap::new();
        for (i, u) in file.users.into_iter().enumerate() {
            check_name(&u.name, &format!("users[{i}].name"))?;
            check_password_hash(&u.password_hash, &format!("users[{i}].password_hash"))?;
            let name = u.name.clone();
            let user = User { name: u.name, role: u.role, password_hash: u.password_hash.trim().to_string() };
            if users.insert(name.clone(), user).is_some() {
                return Err(ConfigError::new(format!("users[{i}].name"), format!("{name:?} is listed twice")));
            }
        }
        let mut tokens: Vec<ApiToken> = Vec::new();
        for (i, t) in file.tokens.into_iter().enumerate() {
            check_name(&t.name, &format!("tokens[{i}].name"))?;
            let key = format!("tokens[{i}].token_hash");
            let mut sha256 = [0u8; 32];
            hex::decode_to_slice(t.token_hash.trim().to_ascii_lowercase(), &mut sha256).map_err(|_| {
                ConfigError::new(
                    &key,
                    "must be the token's SHA-256 in hex (64 characters): printf %s \"$TOKEN\" | sha256sum",
                )
            })?;
            if tokens.iter().any(|o| o.name == t.name || o.sha256 == sha256) {
                return Err(ConfigError::new(key, format!("token {:?} repeats another token's name or hash", t.name)));
            }
            tokens.push(ApiToken { name: t.name, role: t.role, sha256 });
        }
        Ok(Self { users, tokens, demo: false, source: None })
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The API token whose hash matches `given`, compared in constant time.
    pub fn token(&self, given: &str) -> Option<&ApiToken> {
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.tokens.iter().find(|t| bool::from(t.sha256.ct_eq(&digest)))
    }
}

/// Names go into a signed cookie and onto pages: keep them plain.
fn check_name(name: &str, key: &str) -> Result<(), ConfigError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(key, "1–64 characters: letters, digits, . _ - @"))
    }
}

fn check_password_hash(hash: &str, key: &str) -> Result<(), ConfigError> {
    match argon2::PasswordHash::new(hash.trim()) {
        Ok(h) if h.algorithm.as_str().starts_with("argon2") && h.hash.is_some() => Ok(()),
        _ => Err(ConfigError::new(
            key,
            "must be an Argon2 PHC string ($argon2id$…): make one with `vouch hash-password`",
        )),
    }
}

#[cfg(test)]
mod tests;
