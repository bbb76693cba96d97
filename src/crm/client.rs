//! The CRM client: runs the configured data actions (see [`super::action`])
//! through the transport. Identification lookups are cached per action and
//! key (a shorter TTL for "no match"), concurrent lookups of one key share
//! one request, and verifications are never cached. Every failure becomes
//! [`Lookup::Failed`]/[`Verification::Failed`], logged once here, naming
//! the action and never a customer's data.
//!
//! One code path: today's contract is the built-in default actions, and
//! `vouch crm-test` runs these same functions with a [`Trace`] to fill.

use super::action::{CrmActions, FindAction, PrepareError, Request, VerifyAction};
use super::mapping::{self, MapError};
use super::metrics::CrmMetrics;
use super::template::Values;
use super::trace::Trace;
use super::transport::{Prepared, Reply, Transport, TransportError};
use super::verify::{self, FieldError, HashKind};
use crate::auth::checker::{PasswordChecker, Scheme};
use crate::config::{self, Line, Secret};
use crate::flow::phone::mask;
use crate::flow::{Customer, Lookup, Verification, E164};
use moka::future::Cache;
use moka::Expiry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a find action found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    One(Customer),
    None,
    Many(usize),
}

impl From<Found> for Lookup {
    fn from(f: Found) -> Self {
        match f {
            Found::One(c) => Lookup::Found(c),
            Found::None => Lookup::NotFound,
            Found::Many(_) => Lookup::Ambiguous,
        }
    }
}

/// Why an action failed (never carries a customer's data).
#[derive(Debug, thiserror::Error)]
enum CrmError {
    #[error("cannot build the request: {0}")]
    Prepare(#[from] PrepareError),
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("404 on a search: the action is misconfigured (a search answers 200 with an empty list)")]
    SearchNotFound,
    #[error("{0}")]
    Map(#[from] MapError),
    #[error("field {0} {1}")]
    Field(String, FieldError),
    #[error("the hash checkers are busy")]
    Busy,
}

impl CrmError {
    /// The class of a failure the engine found in an answer below 500, for
    /// the transport to count and feed its breaker. The transport already
    /// counted its own errors and every 5xx; a busy hash checker is ours,
    /// not the CRM's, and must not open the breaker.
    fn class(&self) -> Option<&'static str> {
        match self {
            Self::Transport(_) | Self::Busy => None,
            Self::Status(s) if *s >= 500 => None,
            Self::Prepare(_) | Self::SearchNotFound => Some("misconfigured"),
            Self::Status(_) => Some("status"),
            Self::Map(_) | Self::Field(..) => Some("body"),
        }
    }
}

struct NegativeTtl {
    found: Duration,
    none: Duration,
}

impl Expiry<String, Found> for NegativeTtl {
    fn expire_after_create(&self, _key: &String, value: &Found, _now: Instant) -> Option<Duration> {
        Some(if *value == Found::None { self.none } else { self.found })
    }
}

#[derive(Clone)]
pub struct CrmClient {
    transport: Transport,
    base: url::Url,
    actions: Arc<CrmActions>,
    /// Keyed by the action's configuration key and the looked-up value, as
    /// a line may have its own identifier action.
    cache: Option<Cache<String, Found>>,
    /// The login password checker's threads and bound, for hash-mode verify.
    checker: PasswordChecker,
}

impl CrmClient {
    pub fn new(settings: &config::Crm, base: &url::Url, checker: PasswordChecker) -> anyhow::Result<Self> {
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(settings.cache_capacity)
                .expire_after(NegativeTtl { found: settings.cache_ttl, none: settings.negative_cache_ttl })
                .build()
        });
        Ok(Self {
            transport: Transport::new(settings, Arc::new(CrmMetrics::default()))?,
            base: base.clone(),
            actions: Arc::new(settings.actions.clone()),
            cache,
            checker,
        })
    }

    /// The CRM metrics its transport counts into (`/metrics` shows them).
    pub fn metrics(&self) -> Arc<CrmMetrics> {
        self.transport.metrics().clone()
    }

    /// The base URL relative action URLs are appended to.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// How requests authenticate, secrets masked.
    pub fn describe_auth(&self) -> String {
        self.transport.describe_auth()
    }

    /// The action that finds callers by phone.
    pub fn phone_action(&self) -> &FindAction {
        &self.actions.find_by_phone
    }

    /// The action that finds a customer by identifier on `line`.
    pub fn identifier_action<'a>(&'a self, line: &'a Line) -> &'a FindAction {
        line.crm.find_by_identifier.as_ref().unwrap_or(&self.actions.find_by_identifier)
    }

    /// The action that verifies a factor on `line`.
    pub fn verify_action<'a>(&'a self, line: &'a Line) -> &'a VerifyAction {
        line.crm.verify.as_ref().unwrap_or(&self.actions.verify)
    }

    /// Customers whose phone is `phone` (the `[crm]` find_by_phone action).
    pub async fn find_by_phone(&self, phone: &E164) -> Lookup {
        self.lookup_by_phone(phone, None).await
    }

    /// The customer with this identifier, by `line`'s identifier action.
    pub async fn find_by_id(&self, line: &Line, id: &str) -> Lookup {
        self.lookup_by_id(line, id, None).await
    }

    /// Asks whether `value` is right for this customer, by `line`'s verify
    /// action. Never cached; the value is never logged.
    pub async fn verify(&self, line: &Line, customer_id: &str, value: &Secret) -> Verification {
        self.verify_traced(line, customer_id, value, None).await
    }

    /// [`Self::find_by_phone`], explained into `trace` (not cached: every
    /// step is shown).
    pub async fn trace_find_by_phone(&self, phone: &E164, trace: &Trace) -> Lookup {
        self.lookup_by_phone(phone, Some(trace)).await
    }

    /// [`Self::find_by_id`], explained into `trace`.
    pub async fn trace_find_by_id(&self, line: &Line, id: &str, trace: &Trace) -> Lookup {
        self.lookup_by_id(line, id, Some(trace)).await
    }

    /// [`Self::verify`], explained into `trace` (the value masked).
    pub async fn trace_verify(&self, line: &Line, customer_id: &str, value: &Secret, trace: &Trace) -> Verification {
        self.verify_traced(line, customer_id, value, Some(trace)).await
    }

    async fn lookup_by_phone(&self, phone: &E164, trace: Option<&Trace>) -> Lookup {
        let action = &self.actions.find_by_phone;
        let values = Values {
            phone: Some(phone),
            phone_format: &action.request.phone_format,
            id: None,
            factor: None,
            value: None,
        };
        self.cached(action, phone.as_str(), values, trace).await
    }

    async fn lookup_by_id(&self, line: &Line, id: &str, trace: Option<&Trace>) -> Lookup {
        let action = self.identifier_action(line);
        let values =
            Values { phone: None, phone_format: &action.request.phone_format, id: Some(id), factor: None, value: None };
        self.cached(action, id, values, trace).await
    }

    /// Runs a find action through the cache (a trace bypasses it).
    async fn cached(&self, action: &FindAction, key: &str, values: Values<'_>, trace: Option<&Trace>) -> Lookup {
        let started = Instant::now();
        // The request's future is large (the HTTP client's inside it) and
        // moved by value wherever it goes: it is built, on the heap, only
        // on a miss, so a cache hit neither builds nor copies it.
        let result = match (&self.cache, trace) {
            (Some(c), None) => {
                let cache_key = format!("{}\u{1f}{key}", action.request.key);
                let cached = c.get(&cache_key).await;
                self.transport.metrics().cache_lookup(action.request.label, cached.is_some());
                match cached {
                    Some(found) => Ok(found),
                    None => c
                        .try_get_with(cache_key, Box::pin(self.find(action, values, trace)))
                        .await
                        .map_err(|e: Arc<CrmError>| e.to_string()),
                }
            }
            _ => Box::pin(self.find(action, values, trace)).await.map_err(|e| e.to_string()),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let action_key = action.request.key.as_str();
        match result {
            Ok(found) => {
                tracing::debug!(action = action_key, key = %mask(key), elapsed_ms, "CRM lookup");
                found.into()
            }
            Err(error) => {
                tracing::warn!(action = action_key, key = %mask(key), elapsed_ms, %error, "CRM lookup failed");
                Lookup::Failed
            }
        }
    }

    /// One find: the request, its answer judged (search or fetch), mapped.
    async fn find(&self, action: &FindAction, values: Values<'_>, trace: Option<&Trace>) -> Result<Found, CrmError> {
        let req = &action.request;
        let result = async {
            let reply = self.send(req, &values, trace).await?;
            let search = action.mapping.list.is_some();
            match (reply.status, search) {
                (200, true) => {
                    let s = action.mapping.search(reply.body.as_ref())?;
                    explain_matches(trace, &action.mapping, &s.matches, s.count_hint);
                    if let Some(hint) = s.count_hint.filter(|h| *h != s.matches.len() as u64) {
                        tracing::debug!(action = %req.key, hint, listed = s.matches.len(), "the CRM's count differs from its list (the list decides)");
                    }
                    let mut matches = s.matches;
                    Ok(match matches.len() {
                        0 => Found::None,
                        1 => Found::One(matches.remove(0)),
                        n => {
                            if req.label == "find_by_identifier" {
                                tracing::warn!(action = %req.key, matches = n, "an identifier matched several customers: it is not unique in this CRM, so the try fails");
                            }
                            Found::Many(n)
                        }
                    })
                }
                (200, false) => {
                    let c = action.mapping.fetch(reply.body.as_ref())?;
                    explain_matches(trace, &action.mapping, std::slice::from_ref(&c), None);
                    Ok(Found::One(c))
                }
                (404, false) => Ok(Found::None),
                (404, true) => {
                    tracing::error!(action = %req.key, "the CRM answered 404 to a search: the action's URL is wrong; treated as CRM unavailable, never as an unknown caller");
                    Err(CrmError::SearchNotFound)
                }
                (s, _) => Err(CrmError::Status(s)),
            }
        }
        .await;
        self.judged(req, result, trace)
    }

    async fn verify_traced(
        &self,
        line: &Line,
        customer_id: &str,
        value: &Secret,
        trace: Option<&Trace>,
    ) -> Verification {
        let action = self.verify_action(line);
        let started = Instant::now();
        let result = self.check(action, customer_id, &line.factor, value, trace).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let key = action.request().key.as_str();
        match result {
            Ok(true) => Verification::Verified,
            Ok(false) => Verification::Rejected,
            Err(e) => {
                tracing::warn!(action = key, customer = %mask(customer_id), elapsed_ms, error = %e, "CRM verify failed");
                Verification::Failed
            }
        }
    }

    /// One verification. In compare and hash mode the fetched field lives
    /// only in this function: it is dropped right after the check.
    async fn check(
        &self,
        action: &VerifyAction,
        customer_id: &str,
        factor: &str,
        value: &Secret,
        trace: Option<&Trace>,
    ) -> Result<bool, CrmError> {
        let req = action.request();
        // Only an endpoint's body may carry the value (checked at start-up).
        let keyed = matches!(action, VerifyAction::Endpoint { .. }).then(|| value.expose());
        let values = Values {
            phone: None,
            phone_format: &req.phone_format,
            id: Some(customer_id),
            factor: Some(factor),
            value: keyed,
        };
        let result = async {
            let reply = self.send(req, &values, trace).await?;
            if reply.status != 200 {
                return Err(CrmError::Status(reply.status));
            }
            let doc = mapping::parse(reply.body.as_ref())?;
            drop(reply);
            match action {
                VerifyAction::Endpoint { result, .. } => {
                    let ok = result.get(&doc).and_then(serde_json::Value::as_bool);
                    let ok = ok.ok_or_else(|| MapError::NotBool(result.to_string()))?;
                    say(trace, format!("    result {result}: {ok}"));
                    Ok(ok)
                }
                VerifyAction::Compare { field, field_format, keyed_format, .. } => {
                    let stored = field.get(&doc).ok_or_else(|| MapError::NoField(field.to_string()))?;
                    let same = verify::compare(*field_format, *keyed_format, stored, value.expose())
                        .map_err(|e| CrmError::Field(field.to_string(), e));
                    drop(doc);
                    say(trace, format!("    field {field}: fetched and compared (its value is never shown)"));
                    same
                }
                VerifyAction::Hash { field, hash, .. } => {
                    let stored = field.get(&doc).ok_or_else(|| MapError::NoField(field.to_string()))?;
                    let stored = hash.stored(stored).map_err(|e| CrmError::Field(field.to_string(), e));
                    drop(doc);
                    let stored = stored?;
                    say(
                        trace,
                        format!(
                            "    field {field}: a {} hash (never shown), checked on the password checkers",
                            hash.as_str()
                        ),
                    );
                    let scheme = match hash {
                        HashKind::Argon2 => Scheme::Argon2,
                        HashKind::Bcrypt => Scheme::Bcrypt,
                    };
                    // Busy: a CRM error answered at once, so the try is not
                    // counted (see `call::defence`).
                    self.checker
                        .check_stored(scheme, stored, value.expose().to_string())
                        .await
                        .map_err(|_| CrmError::Busy)
                }
            }
        }
        .await;
        self.judged(req, result, trace)
    }

    /// Sends `req` rendered with `values`, explaining it into `trace`.
    async fn send(&self, req: &Request, values: &Values<'_>, trace: Option<&Trace>) -> Result<Reply, CrmError> {
        let r = req.prepare(&self.base, values)?;
        let prepared = Prepared {
            action: req.label,
            method: r.method,
            url: r.url,
            headers: r.headers,
            body: r.body,
            timeout: req.timeout,
        };
        if let Some(t) = trace {
            let masked = Values { value: values.value.map(|_| "****"), ..*values };
            if let Ok(shown) = req.show(&self.base, &masked) {
                t.say(format!("  → {} {}", shown.method, shown.url));
                for (k, v) in self.transport.masked_auth_headers().into_iter().chain(shown.headers) {
                    t.say(format!("    {k}: {v}"));
                }
                if let Some(body) = shown.body {
                    t.say(format!("    body: {body}"));
                }
            }
        }
        let started = Instant::now();
        let reply = self.transport.send(prepared).await;
        if let Some(t) = trace {
            let ms = started.elapsed().as_millis();
            match &reply {
                Ok(r) => t.say(format!("  ← {} in {ms} ms ({} bytes)", r.status, r.body.len())),
                Err(e) => t.say(format!("  ← no answer after {ms} ms: {e}")),
            }
        }
        Ok(reply?)
    }

    /// Counts an engine-judged failure with the transport, and notes it.
    fn judged<T>(&self, req: &Request, result: Result<T, CrmError>, trace: Option<&Trace>) -> Result<T, CrmError> {
        if let Err(e) = &result {
            if let Some(class) = e.class() {
                self.transport.record_failure(req.label, class);
            }
            if let Some(t) = trace {
                let what = match e {
                    CrmError::SearchNotFound => "404 on a search → misconfigured: CRM unavailable".to_string(),
                    e => format!("CRM failure: {e}"),
                };
                t.fail(format!("    {what}"));
            }
        }
        result
    }
}

fn say(trace: Option<&Trace>, line: String) {
    if let Some(t) = trace {
        t.say(line);
    }
}

/// Each match's pointer results: id, name, attribute names only.
fn explain_matches(trace: Option<&Trace>, m: &mapping::Mapping, matches: &[Customer], hint: Option<u64>) {
    let Some(t) = trace else { return };
    t.matched(matches.len());
    if let Some(list) = &m.list {
        let hint = hint.map(|h| format!(" (count pointer says {h})")).unwrap_or_default();
        t.say(format!("    list {list}: {} item(s){hint}", matches.len()));
    }
    for (i, c) in matches.iter().enumerate() {
        let attrs: Vec<&str> = c.attributes.iter().map(|(k, _)| k.as_str()).collect();
        let missing: Vec<&str> = m.attributes.iter().map(|(k, _)| k.as_str()).filter(|k| !attrs.contains(k)).collect();
        t.say(format!(
            "    [{i}] id {} = {:?}; name {} = {:?}; attributes: {}{}",
            m.id,
            c.id,
            m.name.describe(),
            c.name,
            if attrs.is_empty() { "none".to_string() } else { attrs.join(", ") },
            if missing.is_empty() { String::new() } else { format!(" (absent: {})", missing.join(", ")) },
        ));
    }
}
