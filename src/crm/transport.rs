//! How a prepared CRM request travels: one `reqwest` client (rustls with the
//! webpki roots, plus `crm.ca_file`; a client certificate for mTLS; the
//! proxy `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` name), the credentials, a
//! bound on requests in flight, the circuit breaker, a 1 MiB cap on
//! answers, and the CRM's ways of saying "not now" (429, 503, Salesforce's
//! 403 `REQUEST_LIMIT_EXCEEDED`). Nothing here waits past the request's own
//! timeout: a `Retry-After` is reported, never slept on.
//!
//! The engine builds [`Prepared`] requests and judges the [`Reply`]s. The
//! transport already counts a 5xx and every [`TransportError`] as a breaker
//! failure and an error; the engine calls [`Transport::record_failure`] only
//! for what it finds in an answer below 500 (a body that does not fit the
//! mapping, a 404 on a search, an unexpected 4xx).

use super::auth::{self, Auth};
use super::breaker::Breaker;
use super::metrics::CrmMetrics;
use super::wire::{read_capped, request_error_kind, retry_after_text};
pub use super::wire::{TransportError, MAX_BODY_BYTES};
use crate::clock::{Clock, SystemClock};
use crate::config::{self, CrmProxy, CrmTransport};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use std::sync::Arc;
use std::time::Duration;

/// One request, ready to send: the engine has filled and encoded it.
/// Its `Debug` shows no path, query, header value or body: they may carry
/// an identifier or the keyed value.
#[derive(Clone)]
pub struct Prepared {
    /// `find_by_phone` | `find_by_identifier` | `verify` (the metric label).
    pub action: &'static str,
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
    /// For the whole exchange: token, request, answer.
    pub timeout: Duration,
}

/// The CRM's answer, for the engine to judge. Its `Debug` shows the
/// status and the body's size, never the body (customer data).
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("action", &self.action)
            .field("method", &self.method)
            .field("host", &self.url.host_str())
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("body_bytes", &self.body.as_ref().map(|(_, b)| b.len()))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("status", &self.status).field("body_bytes", &self.body.len()).finish()
    }
}

/// The CRM's transport; cheap to clone (one client, breaker and token cache).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    auth: Auth,
    /// Bounds CRM requests in flight: a CRM that slows down must not pile
    /// up every caller behind it. When full, a request fails at once.
    in_flight: tokio::sync::Semaphore,
    breaker: Breaker,
    metrics: Arc<CrmMetrics>,
    described_auth: String,
    masked_headers: Vec<(String, String)>,
    described_network: Vec<String>,
}

/// What an attempt got back before classification.
struct Raw {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Transport {
    /// `metrics` is shared with `/metrics` (created at start-up).
    pub fn new(crm: &config::Crm, metrics: Arc<CrmMetrics>) -> anyhow::Result<Self> {
        Self::with_clock(crm, metrics, Arc::new(SystemClock))
    }

    /// As [`Transport::new`], with the clock the breaker's cool-down and
    /// OAuth token lifetimes are read from (tests move it by hand).
    pub fn with_clock(crm: &config::Crm, metrics: Arc<CrmMetrics>, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let t = &crm.transport;
        let http = client(crm, t)?;
        let auth = Auth::new(&t.auth, http.clone(), clock.clone(), metrics.clone(), crm.timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                auth,
                in_flight: tokio::sync::Semaphore::new(crm.max_in_flight),
                breaker: Breaker::new(t.breaker, clock, metrics.clone()),
                metrics,
                described_auth: auth::describe(&t.auth),
                masked_headers: auth::masked_headers(&t.auth),
                described_network: describe_network(t),
            }),
        })
    }

    /// Sends `req` with credentials, within its timeout, and classifies the
    /// answer: 429, 503 and Salesforce's 403 `REQUEST_LIMIT_EXCEEDED` are
    /// errors, and so is a 401 (an OAuth token the CRM refuses is first
    /// replaced once and the request sent once more); every other status
    /// comes back for the engine to judge.
    pub async fn send(&self, req: Prepared) -> Result<Reply, TransportError> {
        let started = std::time::Instant::now();
        let result = self.exchange(&req).await;
        let m = &self.inner.metrics;
        match &result {
            Ok(reply) => {
                m.observe(req.action, started.elapsed());
                if reply.status >= 500 {
                    m.error(req.action, "status");
                }
            }
            Err(e @ (TransportError::Saturated | TransportError::BreakerOpen)) => m.error(req.action, e.class()),
            Err(e) => {
                m.observe(req.action, started.elapsed());
                m.error(req.action, e.class());
            }
        }
        result
    }

    async fn exchange(&self, req: &Prepared) -> Result<Reply, TransportError> {
        let deadline = tokio::time::Instant::now() + req.timeout;
        let _permit = self.inner.in_flight.try_acquire().map_err(|_| TransportError::Saturated)?;
        let ticket = self.inner.breaker.admit().ok_or(TransportError::BreakerOpen)?;
        let result = self.authorised(req, deadline).await;
        match &result {
            Ok(reply) if reply.status < 500 => ticket.succeeded(),
            _ => ticket.failed(),
        }
        result
    }

    async fn authorised(&self, req: &Prepared, deadline: tokio::time::Instant) -> Result<Reply, TransportError> {
        let auth = &self.inner.auth;
        let credential = auth.credential(deadline).await?;
        let raw = self.once(req, credential.header.as_ref(), deadline).await?;
        if raw.status != 401 {
            return classify(raw);
        }
        if !auth.refused(&credential) {
            return Err(TransportError::Auth("the CRM refused the credentials (401)".into()));
        }
        let credential = auth.credential(deadline).await?;
        let raw = self.once(req, credential.header.as_ref(), deadline).await?;
        if raw.status == 401 {
            return Err(TransportError::Auth("the CRM refused a freshly fetched OAuth token (401)".into()));
        }
        classify(raw)
    }

    async fn once(
        &self,
        req: &Prepared,
        auth: Option<&(HeaderName, HeaderValue)>,
        deadline: tokio::time::Instant,
    ) -> Result<Raw, TransportError> {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Err(TransportError::Timeout);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            headers.append(name.clone(), value.clone());
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        let mut rb = self.inner.http.request(req.method.clone(), req.url.clone()).timeout(remaining);
        if let Some((content_type, body)) = &req.body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            rb = rb.body(body.clone());
        }
        // The credential wins over a same-named template header.
        if let Some((name, value)) = auth {
            headers.insert(name.clone(), value.clone());
        }
        let attempt = async {
            let resp = rb.headers(headers).send().await.map_err(request_error_kind)?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, crate::clock::now()));
            let body = read_capped(resp, MAX_BODY_BYTES).await?;
            Ok(Raw { status, retry_after, body })
        };
        tokio::time::timeout_at(deadline, attempt).await.unwrap_or(Err(TransportError::Timeout))
    }

    /// A failure the engine found in an answer below 500 (`class`: `body`,
    /// `misconfigured`, `status`…): counted, and a breaker failure.
    pub fn record_failure(&self, action: &'static str, class: &'static str) {
        self.inner.metrics.error(action, class);
        self.inner.breaker.judged_failure();
    }

    /// For check-config / crm-test: the auth, secrets masked, e.g.
    /// `bearer: Authorization: Bearer **** (VOUCH_CRM_TOKEN)`.
    pub fn describe_auth(&self) -> String {
        self.inner.described_auth.clone()
    }

    /// The headers Vouch adds to every request, values masked.
    pub fn masked_auth_headers(&self) -> Vec<(String, String)> {
        self.inner.masked_headers.clone()
    }

    /// For check-config / crm-test: extra CA, client certificate and proxy
    /// (a proxy's password masked), one line each.
    pub fn describe_network(&self) -> Vec<String> {
        self.inner.described_network.clone()
    }

    /// The metrics this transport counts into.
    pub fn metrics(&self) -> &Arc<CrmMetrics> {
        &self.inner.metrics
    }

    /// Whether callers are skipping the CRM right now.
    pub fn breaker_open(&self) -> bool {
        self.inner.breaker.is_open()
    }

    /// OAuth tokens fetched so far (0 for other auth).
    pub fn tokens_fetched(&self) -> u64 {
        self.inner.auth.tokens_fetched()
    }
}

/// The client: connect timeout, user agent, rustls with the webpki roots
/// plus `crm.ca_file`, the mTLS identity, no redirects (a redirect would
/// carry the credentials elsewhere; a 3xx is the engine's to judge), and
/// exactly the proxies the configuration resolved from the environment.
fn client(crm: &config::Crm, t: &CrmTransport) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(crm.connect_timeout)
        .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(true)
        .no_proxy();
    if let Some((_, pem)) = &t.tls.ca {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some((_, pem)) = &t.tls.identity {
        b = b.identity(reqwest::Identity::from_pem(pem)?);
    }
    for proxy in proxies(&t.proxy)? {
        b = b.proxy(proxy);
    }
    Ok(b.build()?)
}

fn proxies(p: &CrmProxy) -> anyhow::Result<Vec<reqwest::Proxy>> {
    let no_proxy = || p.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string);
    let mut out = Vec::new();
    if let Some((_, url)) = &p.https {
        out.push(reqwest::Proxy::https(url.as_str())?.no_proxy(no_proxy()));
    }
    if let Some((_, url)) = &p.http {
        out.push(reqwest::Proxy::http(url.as_str())?.no_proxy(no_proxy()));
    }
    Ok(out)
}

fn describe_network(t: &CrmTransport) -> Vec<String> {
    let mut lines = Vec::new();
    match &t.tls.ca {
        Some((path, _)) => lines.push(format!("trusts the webpki roots and {path} (crm.ca_file)")),
        None => lines.push("trusts the webpki roots".into()),
    }
    if let Some((path, _)) = &t.tls.identity {
        lines.push(format!("presents the client certificate {path} (crm.client_cert_file)"));
    }
    let shown = |u: &url::Url| {
        let mut u = u.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("****"));
        }
        u.to_string()
    };
    for (scheme, proxy) in [("https", &t.proxy.https), ("http", &t.proxy.http)] {
        if let Some((var, url)) = proxy {
            lines.push(format!("{scheme}:// requests go through the proxy {} ({var})", shown(url)));
        }
    }
    if let Some(no) = &t.proxy.no_proxy {
        if t.proxy.https.is_some() || t.proxy.http.is_some() {
            lines.push(format!("except to {no} (NO_PROXY)"));
        }
    }
    lines
}

/// 429, 503 and Salesforce's 403 `REQUEST_LIMIT_EXCEEDED` are "not now";
/// everything else is the engine's to judge.
fn classify(raw: Raw) -> Result<Reply, TransportError> {
    match raw.status {
        429 => Err(TransportError::RateLimited { retry_after: raw.retry_after }),
        503 => Err(TransportError::Unavailable(format!("503{}", retry_after_text(raw.retry_after)))),
        403 if salesforce_limit(&raw.body) => Err(TransportError::RateLimited { retry_after: raw.retry_after }),
        status => Ok(Reply { status, body: raw.body }),
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an IMF-fixdate
/// (`Wed, 21 Oct 2015 07:28:00 GMT`) turned into the wait from `now_unix`.
fn retry_after(value: &str, now_unix: u64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let parts: Vec<&str> = value.split([' ', ':']).collect();
    let [_, day, month, year, h, m, s, "GMT"] = parts.as_slice() else { return None };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|x| x == month)? as i64 + 1;
    let num = |t: &str, max: i64| t.parse::<i64>().ok().filter(|n| (0..=max).contains(n));
    let (day, year, h, m, s) = (num(day, 31)?, num(year, 9999)?, num(h, 23)?, num(m, 59)?, num(s, 60)?);
    // Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar.
    let (y, mp) = if month > 2 { (year, month - 3) } else { (year - 1, month + 9) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let at = days * 86_400 + h * 3_600 + m * 60 + s;
    Some(Duration::from_secs(u64::try_from(at).ok()?.saturating_sub(now_unix)))
}

/// Salesforce answers a spent API allowance with 403 and
/// `[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"…"}]`.
fn salesforce_limit(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct SfError {
        error_code: Option<String>,
    }
    let is_limit = |e: &SfError| e.error_code.as_deref() == Some("REQUEST_LIMIT_EXCEEDED");
    match serde_json::from_slice::<Vec<SfError>>(body) {
        Ok(errors) => errors.iter().any(is_limit),
        Err(_) => serde_json::from_slice::<SfError>(body).is_ok_and(|e| is_limit(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, retry_after: Option<u64>, body: &str) -> Raw {
        Raw { status, retry_after: retry_after.map(Duration::from_secs), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn debug_output_shows_neither_the_path_nor_the_body() {
        let req = Prepared {
            action: "verify",
            method: reqwest::Method::POST,
            url: url::Url::parse("https://crm.example.com/customers/12345678/verify?x=5551230001").unwrap(),
            headers: vec![(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"))],
            body: Some(("application/json", br#"{"value":"9876"}"#.to_vec())),
            timeout: Duration::from_secs(2),
        };
        let reply = Reply { status: 200, body: br#"{"name":"Ada Lovelace"}"#.to_vec() };
        let text = format!("{req:?} {reply:?}");
        assert!(text.contains("crm.example.com") && text.contains("body_bytes: Some(16)"), "{text}");
        for secret in ["12345678", "5551230001", "9876", "Ada"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn rate_limits_and_unavailability_are_errors_that_report_retry_after() {
        assert_eq!(
            classify(raw(429, Some(7), "")),
            Err(TransportError::RateLimited { retry_after: Some(Duration::from_secs(7)) })
        );
        assert_eq!(classify(raw(429, None, "")), Err(TransportError::RateLimited { retry_after: None }));
        assert_eq!(classify(raw(503, Some(30), "")), Err(TransportError::Unavailable("503, retry after 30 s".into())));
        assert_eq!(classify(raw(503, None, "")), Err(TransportError::Unavailable("503".into())));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        // 2015-10-21T07:28:00Z is 1445412480.
        let now = 1_445_412_480 - 90;
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 1_000), Some(Duration::ZERO), "already past");
        assert_eq!(retry_after("Thu, 29 Feb 2024 00:00:00 GMT", 0), Some(Duration::from_secs(1_709_164_800)));
        for bad in ["soon", "-5", "Wed, 21 Oct 2015 07:28:00 PST", "Wed, 21 Foo 2015 07:28:00 GMT", ""] {
            assert_eq!(retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn only_salesforces_request_limit_makes_a_403_a_rate_limit() {
        let limit = r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert_eq!(classify(raw(403, None, limit)), Err(TransportError::RateLimited { retry_after: None }));
        let other = r#"[{"message":"no access","errorCode":"INSUFFICIENT_ACCESS"}]"#;
        assert_eq!(classify(raw(403, None, other)), Ok(Reply { status: 403, body: other.as_bytes().to_vec() }));
        assert_eq!(classify(raw(403, None, "REQUEST_LIMIT_EXCEEDED")).map(|r| r.status), Ok(403));
        assert_eq!(classify(raw(500, None, "")).map(|r| r.status), Ok(500), "a 5xx is the engine's to judge");
    }
}
