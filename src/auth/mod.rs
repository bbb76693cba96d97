//! Who is asking, for the agent pages and the API: a login session (cookie),
//! an API token, or the admin token (`Authorization: Bearer …`). Signed
//! screen-pop links are checked by their page, not here: they open one page,
//! they do not make anyone somebody.

pub mod checker;
pub mod password;
pub mod throttle;

use crate::config::{Role, Secrets};
use crate::keyring::session::{Session, Sessions};
use subtle::ConstantTimeEq;

/// Someone the request proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's or token's name (`admin` for `VOUCH_ADMIN_TOKEN`).
    pub name: String,
    pub role: Role,
    pub via: Via,
    /// The session's id, for [`Via::Session`]: the caller must still find
    /// it live in the session store.
    pub session: Option<String>,
}

/// How a principal proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session,
    ApiToken,
    AdminToken,
}

/// Why a request is not anybody. The texts are shown to the client: they
/// say what to do, never which part of a credential was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("log in, or send Authorization: Bearer <token>")]
    Missing,
    #[error("nobody can log in: set VOUCH_ADMIN_TOKEN, or users and API tokens in VOUCH_USERS_FILE")]
    NoCredentialsConfigured,
    #[error("missing or wrong bearer token")]
    BadToken,
    #[error("your session has expired or is no longer valid: log in again")]
    BadSession,
}

/// What a request carried: the `Authorization` header and the session
/// cookie's value, each if present.
pub struct Presented<'a> {
    pub authorization: Option<&'a str>,
    pub session_cookie: Option<&'a str>,
}

/// Checks a request's credentials. A bearer token, when sent, decides alone
/// (a machine that sends a wrong token is refused even with a cookie).
pub fn authenticate(
    secrets: &Secrets,
    sessions: &Sessions,
    presented: &Presented,
    now: u64,
) -> Result<Principal, Refusal> {
    let nothing_configured =
        secrets.admin_token.is_none() && secrets.users.token_count() == 0 && secrets.users.user_count() == 0;
    if let Some(header) = presented.authorization {
        if nothing_configured {
            return Err(Refusal::NoCredentialsConfigured);
        }
        let token = header.strip_prefix("Bearer ").map(str::trim).ok_or(Refusal::BadToken)?;
        if let Some(admin) = &secrets.admin_token {
            if bool::from(token.as_bytes().ct_eq(admin.expose().as_bytes())) {
                return Ok(Principal {
                    name: "admin".into(),
                    role: Role::Supervisor,
                    via: Via::AdminToken,
                    session: None,
                });
            }
        }
        return match secrets.users.token(token) {
            Some(t) => Ok(Principal { name: t.name.clone(), role: t.role, via: Via::ApiToken, session: None }),
            None => Err(Refusal::BadToken),
        };
    }
    if let Some(value) = presented.session_cookie {
        // Checked against the users loaded now, so a user removed, given
        // another role or another password since logging in is refused
        // from the next start-up (and the session store refuses a revoked
        // session on every instance).
        return match sessions.open(value, now) {
            Some(Session { user, role, id, fingerprint, .. })
                if secrets.users.user(&user).is_some_and(|u| {
                    u.role == role && sessions.fingerprint_matches(&fingerprint, &u.password_hash)
                }) =>
            {
                Ok(Principal { name: user, role, via: Via::Session, session: Some(id) })
            }
            _ => Err(Refusal::BadSession),
        };
    }
    Err(if nothing_configured { Refusal::NoCredentialsConfigured } else { Refusal::Missing })
}

/// What a login attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    /// The right password for a user.
    Valid(Role),
    /// A wrong password for a user (`known`), or an unknown name.
    Invalid { known: bool },
    /// No users are configured: refused without hashing anything.
    NoUsers,
}

/// Checks a name and password against the users, on the password checker
/// (so [`checker::Busy`] when it is full). An unknown name costs the same
/// check as a wrong password, so timing does not tell them apart; with no
/// users at all there is nothing to tell apart, and nothing is hashed.
pub async fn login(
    secrets: &Secrets,
    checker: &checker::PasswordChecker,
    name: &str,
    password: &str,
) -> Result<LoginCheck, checker::Busy> {
    if secrets.users.user_count() == 0 {
        return Ok(LoginCheck::NoUsers);
    }
    let user = secrets.users.user(name);
    let hash = user.map(|u| u.password_hash.clone());
    Ok(match (checker.check(hash, password.to_string()).await?, user) {
        (true, Some(u)) => LoginCheck::Valid(u.role),
        (_, u) => LoginCheck::Invalid { known: u.is_some() },
    })
}
