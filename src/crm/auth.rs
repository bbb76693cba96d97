//! The credentials on each CRM request. Static ones (bearer, basic, an API
//! key header) are one header value built at start-up and marked
//! sensitive. OAuth 2.0 client credentials fetch a token, use it until its
//! `expires_in` less a margin — then fetch the next one in the background
//! while it still serves — or, with no `expires_in`, as Salesforce answers,
//! until the CRM refuses it with a 401; and share one token request among
//! every caller that needs a token at the same moment.
//!
//! The token request runs as a task of its own: a caller whose webhook
//! budget runs out stops waiting (and gets [`TransportError::Auth`]), but
//! the request goes on and its token serves the callers after it.

use super::metrics::CrmMetrics;
use super::wire::{read_capped, request_error, TransportError};
use crate::clock::Clock;
use crate::config::{CrmAuth, OAuth2};
use base64::Engine as _;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use reqwest::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Token endpoint answers bigger than this are refused.
const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;
/// After a failed background refresh, the next one waits this long (the
/// current token still serves), so a failing token endpoint is not asked
/// once per CRM request.
const REFRESH_RETRY: Duration = Duration::from_secs(5);

pub(crate) enum Auth {
    None,
    Static(HeaderName, HeaderValue),
    ClientCredentials(Arc<OAuth>),
}

/// The header one attempt carries, and which token it was (for a 401).
pub(crate) struct Credential {
    pub header: Option<(HeaderName, HeaderValue)>,
    generation: Option<u64>,
}

impl Auth {
    /// `fetch_timeout` bounds a token request however long callers wait.
    pub fn new(
        settings: &CrmAuth,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        metrics: Arc<CrmMetrics>,
        fetch_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let sensitive = |s: String| -> anyhow::Result<HeaderValue> {
            let mut v = HeaderValue::try_from(s)
                .map_err(|_| anyhow::anyhow!("the CRM credential has characters a header cannot carry"))?;
            v.set_sensitive(true);
            Ok(v)
        };
        Ok(match settings {
            CrmAuth::None => Auth::None,
            CrmAuth::Bearer { token } => Auth::Static(AUTHORIZATION, sensitive(format!("Bearer {}", token.expose()))?),
            CrmAuth::Basic { username, password, .. } => {
                let pair = format!("{}:{}", username.expose(), password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Auth::Static(AUTHORIZATION, sensitive(format!("Basic {encoded}"))?)
            }
            CrmAuth::Header { name, value } => {
                Auth::Static(HeaderName::try_from(name.as_str())?, sensitive(value.expose().to_string())?)
            }
            CrmAuth::OAuth2(o) => Auth::ClientCredentials(Arc::new(OAuth {
                settings: o.clone(),
                http,
                clock,
                metrics,
                fetch_timeout,
                state: Mutex::new(TokenState::default()),
            })),
        })
    }

    /// The header for the next attempt; waits for a token at most until `deadline`.
    pub async fn credential(&self, deadline: tokio::time::Instant) -> Result<Credential, TransportError> {
        match self {
            Auth::None => Ok(Credential { header: None, generation: None }),
            Auth::Static(name, value) => {
                Ok(Credential { header: Some((name.clone(), value.clone())), generation: None })
            }
            Auth::ClientCredentials(o) => {
                let token = o.token(deadline).await?;
                Ok(Credential { header: Some((AUTHORIZATION, token.header)), generation: Some(token.generation) })
            }
        }
    }

    /// The CRM answered 401 to `used`. True when a fresh credential may
    /// succeed (OAuth: that token is dropped, the next call fetches another).
    pub fn refused(&self, used: &Credential) -> bool {
        match (self, used.generation) {
            (Auth::ClientCredentials(o), Some(generation)) => {
                o.forget(generation);
                true
            }
            _ => false,
        }
    }

    /// The number of tokens fetched so far (OAuth), for tests and crm-test.
    pub fn tokens_fetched(&self) -> u64 {
        match self {
            Auth::ClientCredentials(o) => o.lock().generation,
            _ => 0,
        }
    }
}

/// How the configured auth is described to an operator, secrets masked.
pub(crate) fn describe(settings: &CrmAuth) -> String {
    match settings {
        CrmAuth::None => "none".into(),
        CrmAuth::Bearer { .. } => "bearer: Authorization: Bearer **** (VOUCH_CRM_TOKEN)".into(),
        CrmAuth::Basic { username_shown, password_literal, .. } => {
            let user = match username_shown {
                Some(u) => format!("username {u:?} (crm.auth.username)"),
                None => "username **** (VOUCH_CRM_USERNAME)".into(),
            };
            let password = if *password_literal {
                "password (crm.auth.password_literal)"
            } else {
                "password **** (VOUCH_CRM_PASSWORD)"
            };
            format!("basic: Authorization: Basic ****, {user}, {password}")
        }
        CrmAuth::Header { name, .. } => format!("header: {name}: **** (VOUCH_CRM_TOKEN)"),
        CrmAuth::OAuth2(o) => {
            let scope = o.scope.as_deref().map(|s| format!(", scope {s:?}")).unwrap_or_default();
            format!(
                "oauth2 client credentials: Authorization: Bearer **** from {}, client_id {}{scope}, \
                 client secret **** (VOUCH_CRM_CLIENT_SECRET); a token is kept until {} s before it expires, \
                 or until a 401 when the CRM gives no expiry",
                o.token_url,
                mask_id(&o.client_id),
                o.refresh_margin.as_secs()
            )
        }
    }
}

/// The headers Vouch adds, values masked.
pub(crate) fn masked_headers(settings: &CrmAuth) -> Vec<(String, String)> {
    match settings {
        CrmAuth::None => Vec::new(),
        CrmAuth::Bearer { .. } | CrmAuth::OAuth2(_) => vec![("Authorization".into(), "Bearer ****".into())],
        CrmAuth::Basic { .. } => vec![("Authorization".into(), "Basic ****".into())],
        CrmAuth::Header { name, .. } => vec![(name.clone(), "****".into())],
    }
}

/// A client id shows its first four characters: enough to tell two apart.
fn mask_id(id: &str) -> String {
    let head: String = id.chars().take(4).collect();
    if head.len() < id.len() {
        format!("{head}****")
    } else {
        "****".into()
    }
}

type Pending = Shared<BoxFuture<'static, Result<Token, String>>>;

#[derive(Clone)]
struct Token {
    header: HeaderValue,
    /// When a new token is fetched (in the background while this one still
    /// serves). `None`: no `expires_in`; kept until a 401.
    refresh_at: Option<Instant>,
    /// When this token expires: past it, callers wait for a new one.
    expires_at: Option<Instant>,
    generation: u64,
}

#[derive(Default)]
struct TokenState {
    token: Option<Token>,
    /// The token request in flight, shared by everyone waiting for it.
    pending: Option<Pending>,
    /// Tokens fetched so far; each token is known by its number.
    generation: u64,
    /// When the last token request failed.
    failed_at: Option<Instant>,
}

pub(crate) struct OAuth {
    settings: OAuth2,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    metrics: Arc<CrmMetrics>,
    fetch_timeout: Duration,
    state: Mutex<TokenState>,
}

#[derive(serde::Deserialize)]
struct TokenDoc {
    access_token: String,
    token_type: Option<String>,
    /// A number, or (some Microsoft endpoints) a string of digits.
    expires_in: Option<serde_json::Value>,
}

impl OAuth {
    fn lock(&self) -> MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn token(self: &Arc<Self>, deadline: tokio::time::Instant) -> Result<Token, TransportError> {
        let pending = {
            let mut s = self.lock();
            let now = self.clock.now();
            let current = s.token.clone().filter(|t| t.expires_at.is_none_or(|at| now < at));
            let backing_off = s.failed_at.is_some_and(|at| now < at + REFRESH_RETRY);
            if let Some(t) = current.as_ref().filter(|t| backing_off || t.refresh_at.is_none_or(|at| now < at)) {
                return Ok(t.clone());
            }
            let pending = match &s.pending {
                Some(p) => p.clone(),
                None => {
                    let p = self.start_fetch();
                    s.pending = Some(p.clone());
                    p
                }
            };
            // Within the margin the current token still serves while the
            // new one is fetched: no caller waits for a routine refresh.
            if let Some(t) = current {
                return Ok(t);
            }
            pending
        };
        match tokio::time::timeout_at(deadline, pending).await {
            Ok(Ok(token)) => Ok(token),
            Ok(Err(why)) => Err(TransportError::Auth(why)),
            Err(_) => {
                Err(TransportError::Auth("the OAuth token endpoint did not answer within the request's timeout".into()))
            }
        }
    }

    /// Starts the one token request (called with the state locked, so no
    /// second one starts; the task takes the lock only once it has an answer).
    fn start_fetch(self: &Arc<Self>) -> Pending {
        let me = Arc::clone(self);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = match tokio::time::timeout(me.fetch_timeout, me.fetch()).await {
                Ok(r) => r,
                Err(_) => {
                    Err(format!("the OAuth token endpoint did not answer within {} ms", me.fetch_timeout.as_millis()))
                }
            };
            me.metrics.observe("token", started.elapsed());
            let mut s = me.lock();
            s.pending = None;
            s.failed_at = result.is_err().then(|| me.clock.now());
            match result {
                Ok(mut token) => {
                    s.generation += 1;
                    token.generation = s.generation;
                    s.token = Some(token.clone());
                    Ok(token)
                }
                Err(why) => {
                    me.metrics.error("token", "auth");
                    tracing::warn!(error = %why, "CRM OAuth token request failed");
                    Err(why)
                }
            }
        });
        async move { task.await.unwrap_or_else(|e| Err(format!("the token request stopped: {e}"))) }.boxed().shared()
    }

    /// Drops the token numbered `generation` if it is still the one kept.
    fn forget(&self, generation: u64) {
        let mut s = self.lock();
        if s.token.as_ref().is_some_and(|t| t.generation == generation) {
            s.token = None;
        }
    }

    /// One client-credentials request (RFC 6749 §4.4), the client's id and
    /// secret in the form body.
    async fn fetch(&self) -> Result<Token, String> {
        let o = &self.settings;
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", o.client_id.as_str()),
            ("client_secret", o.client_secret.expose()),
        ];
        if let Some(scope) = &o.scope {
            form.push(("scope", scope.as_str()));
        }
        let resp = self
            .http
            .post(o.token_url.clone())
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("the OAuth token request failed: {}", request_error(e)))?;
        let status = resp.status().as_u16();
        let body = read_capped(resp, MAX_TOKEN_BODY_BYTES)
            .await
            .map_err(|e| format!("the OAuth token endpoint's answer: {e}"))?;
        if !(200..300).contains(&status) {
            return Err(format!("the OAuth token endpoint answered {status}{}", oauth_error(&body)));
        }
        let doc: TokenDoc = serde_json::from_slice(&body)
            .map_err(|_| "the OAuth token endpoint's answer has no access_token".to_string())?;
        if let Some(kind) = doc.token_type.as_deref().filter(|t| !t.eq_ignore_ascii_case("bearer")) {
            return Err(format!("the OAuth token endpoint issued a {kind:?} token; only Bearer tokens are supported"));
        }
        let mut header = HeaderValue::try_from(format!("Bearer {}", doc.access_token))
            .ok()
            .filter(|_| !doc.access_token.is_empty())
            .ok_or("the OAuth access_token is empty or has characters a header cannot carry")?;
        header.set_sensitive(true);
        let now = self.clock.now();
        let lifetime = expires_in(doc.expires_in.as_ref());
        let refresh_at = lifetime.map(|secs| {
            // A token living no longer than the margin is refreshed at half its life.
            let margin = o.refresh_margin.as_secs();
            now + Duration::from_secs(if secs > margin { secs - margin } else { secs / 2 })
        });
        let expires_at = lifetime.map(|secs| now + Duration::from_secs(secs));
        Ok(Token { header, refresh_at, expires_at, generation: 0 })
    }
}

fn expires_in(v: Option<&serde_json::Value>) -> Option<u64> {
    match v? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The OAuth `error` code (RFC 6749 §5.2), when it is one: never the
/// description, which may echo what was sent.
fn oauth_error(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorDoc {
        error: String,
    }
    match serde_json::from_slice::<ErrorDoc>(body) {
        Ok(d)
            if !d.error.is_empty()
                && d.error.len() <= 64
                && d.error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            format!(" ({})", d.error)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_is_read_as_a_number_or_a_string_of_digits() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(expires_in(Some(&v("3599"))), Some(3599));
        assert_eq!(expires_in(Some(&v("\"3599\""))), Some(3599));
        assert_eq!(expires_in(Some(&v("\"soon\""))), None);
        assert_eq!(expires_in(None), None);
    }

    #[test]
    fn only_an_oauth_error_code_is_kept_from_a_refusal() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_client","error_description":"secret abc is wrong"}"#),
            " (invalid_client)"
        );
        assert_eq!(oauth_error(br#"{"error":"Secret abc is wrong"}"#), "");
        assert_eq!(oauth_error(b"<html>"), "");
    }

    #[test]
    fn descriptions_never_show_a_secret() {
        let oauth = CrmAuth::OAuth2(OAuth2 {
            token_url: url::Url::parse("https://login.example.com/token").unwrap(),
            scope: Some("api".into()),
            client_id: "3MVG9abcdef".into(),
            client_secret: crate::config::Secret::new("s3cr3t-value"),
            refresh_margin: Duration::from_secs(60),
        });
        let basic = CrmAuth::Basic {
            username: crate::config::Secret::new("apikey-123"),
            username_shown: None,
            password: crate::config::Secret::new("X"),
            password_literal: true,
        };
        for a in [&oauth, &basic] {
            let text = format!("{} {:?}", describe(a), masked_headers(a));
            for secret in ["s3cr3t-value", "apikey-123", "9abcdef"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        assert!(describe(&oauth).contains("client_id 3MVG****"));
    }
}
