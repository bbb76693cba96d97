//! The CRM REST client. Lookups by phone and by id are cached (a shorter
//! TTL for "no match"), concurrent lookups of one key share one request, and
//! verifications are never cached. Every failure becomes
//! [`Lookup::Failed`]/[`Verification::Failed`], logged once here.

use crate::config::{self, Secret};
use crate::flow::phone::mask;
use crate::flow::{Customer, Lookup, Verification, E164};
use moka::future::Cache;
use moka::Expiry;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// CRM answers bigger than this are refused as garbage.
const MAX_BODY_BYTES: usize = 256 * 1024;
/// Names longer than this are cut (they travel in URLs and TwiML).
const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    One(Customer),
    None,
    Many,
}

impl From<Found> for Lookup {
    fn from(f: Found) -> Self {
        match f {
            Found::One(c) => Lookup::Found(c),
            Found::None => Lookup::NotFound,
            Found::Many => Lookup::Ambiguous,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CrmError {
    #[error("timed out")]
    Timeout,
    #[error("request failed: {0}")]
    Request(String),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("unusable body: {0}")]
    Body(String),
    #[error("too many CRM requests in flight")]
    Saturated,
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

#[derive(Deserialize)]
struct CustomerList {
    customers: Vec<CustomerDoc>,
}

#[derive(Deserialize)]
struct CustomerDoc {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct VerifyRequest<'a> {
    factor: &'a str,
    value: &'a str,
}

#[derive(Deserialize)]
struct VerifyResponse {
    verified: bool,
}

#[derive(Clone)]
pub struct CrmClient {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, Secret)>,
    by_phone: Option<Cache<String, Found>>,
    by_id: Option<Cache<String, Found>>,
    /// Bounds CRM requests in flight: a CRM that slows down must not pile
    /// up every caller behind it. When full, a request fails at once and the
    /// caller takes the agent path.
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl CrmClient {
    pub fn new(settings: &config::Crm, base: &url::Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let cache = || {
            (!settings.cache_ttl.is_zero()).then(|| {
                Cache::builder()
                    .max_capacity(settings.cache_capacity)
                    .expire_after(NegativeTtl { found: settings.cache_ttl, none: settings.negative_cache_ttl })
                    .build()
            })
        };
        Ok(Self {
            http,
            base: base.as_str().trim_end_matches('/').to_string(),
            auth: settings.token.clone().map(|t| (settings.auth_header.clone(), t)),
            by_phone: cache(),
            by_id: cache(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
        })
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, url).header("accept", "application/json");
        match &self.auth {
            Some((header, token)) if header.eq_ignore_ascii_case("authorization") => rb.bearer_auth(token.expose()),
            Some((header, token)) => rb.header(header.as_str(), token.expose()),
            None => rb,
        }
    }

    /// Customers whose phone is `phone`.
    pub async fn find_by_phone(&self, phone: &E164) -> Lookup {
        let url = format!("{}/customers?phone={}", self.base, urlencode(phone.as_str()));
        let fetch = async {
            let (status, body) = self.send(self.request(reqwest::Method::GET, url)).await?;
            if status != 200 {
                return Err(CrmError::Status(status));
            }
            let list: CustomerList = parse(&body)?;
            let mut customers = list.customers.into_iter().map(customer).collect::<Result<Vec<_>, _>>()?;
            Ok(match customers.len() {
                0 => Found::None,
                1 => Found::One(customers.remove(0)),
                _ => Found::Many,
            })
        };
        self.cached(self.by_phone.as_ref(), phone.as_str(), fetch, "phone lookup").await
    }

    /// The customer with this identifier.
    pub async fn find_by_id(&self, id: &str) -> Lookup {
        let url = format!("{}/customers/{}", self.base, urlencode(id));
        let fetch = async {
            let (status, body) = self.send(self.request(reqwest::Method::GET, url)).await?;
            match status {
                200 => Ok(Found::One(customer(parse(&body)?)?)),
                404 => Ok(Found::None),
                s => Err(CrmError::Status(s)),
            }
        };
        self.cached(self.by_id.as_ref(), id, fetch, "id lookup").await
    }

    /// Asks the CRM whether `value` is right for this customer. Never cached;
    /// the value is never logged.
    pub async fn verify(&self, customer_id: &str, factor: &str, value: &Secret) -> Verification {
        let url = format!("{}/customers/{}/verify", self.base, urlencode(customer_id));
        let started = Instant::now();
        let result = async {
            let rb = self.request(reqwest::Method::POST, url).json(&VerifyRequest { factor, value: value.expose() });
            let (status, body) = self.send(rb).await?;
            if status != 200 {
                return Err(CrmError::Status(status));
            }
            Ok(parse::<VerifyResponse>(&body)?.verified)
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(true) => Verification::Verified,
            Ok(false) => Verification::Rejected,
            Err(e) => {
                tracing::warn!(customer = %mask(customer_id), elapsed_ms, error = %e, "CRM verify failed");
                Verification::Failed
            }
        }
    }

    async fn cached(
        &self,
        cache: Option<&Cache<String, Found>>,
        key: &str,
        fetch: impl std::future::Future<Output = Result<Found, CrmError>>,
        what: &'static str,
    ) -> Lookup {
        let started = Instant::now();
        let result = match cache {
            Some(c) => c.try_get_with(key.to_string(), fetch).await.map_err(|e: Arc<CrmError>| e.to_string()),
            None => fetch.await.map_err(|e| e.to_string()),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(found) => {
                tracing::debug!(key = %mask(key), elapsed_ms, "CRM {what}");
                found.into()
            }
            Err(error) => {
                tracing::warn!(key = %mask(key), elapsed_ms, %error, "CRM {what} failed");
                Lookup::Failed
            }
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), CrmError> {
        let _permit = self.in_flight.try_acquire().map_err(|_| CrmError::Saturated)?;
        let mut resp = rb.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(CrmError::Body("too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY_BYTES {
                return Err(CrmError::Body("too large".into()));
            }
        }
        Ok((status, body))
    }
}

fn classify(e: reqwest::Error) -> CrmError {
    if e.is_timeout() {
        CrmError::Timeout
    } else {
        // Without the URL: it may carry an identifier.
        CrmError::Request(e.without_url().to_string())
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CrmError> {
    serde_json::from_slice(body).map_err(|e| CrmError::Body(e.to_string()))
}

fn customer(doc: CustomerDoc) -> Result<Customer, CrmError> {
    let id = doc.id.trim().to_string();
    if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
        return Err(CrmError::Body("customer id is empty, too long or has control characters".into()));
    }
    let name: String = doc.name.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    Ok(Customer { id, name: name.trim().to_string(), attributes: Vec::new() })
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
