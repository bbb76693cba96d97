//! The verifying extractor: a handler that takes a [`Webhook`] cannot run
//! unless the request carried a valid `X-Twilio-Signature` for the public
//! URL, and its parameters decoded cleanly into types. Failures are 4xx
//! with a reason.
//!
//! The order is the security property. A request without the signature
//! header is refused before its body is read. A form is decoded (Twilio
//! signs the decoded values) and checked before any value is used; a JSON
//! body is checked against its `bodySHA256` before it is parsed.

use super::form::{FormError, Params};
use super::params::{CallSid, CallStatus, DialCallStatus, Keyed, Related};
use super::signature::{self, Body};
use crate::config::Secret;
use crate::flow::phone::mask;
use crate::flow::{Attestation, CallerNumber};
use crate::recording::{Recorder, Recording};
use actix_web::http::{header, Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What the extractor needs: the tokens and the URL Twilio calls.
#[derive(Clone)]
pub struct WebhookAuth {
    /// `VOUCH_PUBLIC_URL`, without a trailing slash.
    pub public_base: String,
    /// The auth tokens, keyed once for every request's signature check.
    keys: signature::Keys,
    /// Requests refused, by [`WebhookError::refusal`]; clones count into
    /// the same.
    refused: std::sync::Arc<[AtomicU64; REFUSALS.len()]>,
}

/// Why a webhook was refused, as `/metrics` labels it.
pub const REFUSALS: [&str; 3] = ["missing_signature", "bad_signature", "malformed"];

impl WebhookAuth {
    pub fn new(tokens: &[Secret], public_base: impl Into<String>) -> Self {
        Self {
            public_base: public_base.into(),
            keys: signature::Keys::new(tokens.iter().map(Secret::expose)),
            refused: Default::default(),
        }
    }

    /// Requests refused so far, by reason: each of [`REFUSALS`] with its count.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REFUSALS.iter().zip(self.refused.iter()).map(|(reason, n)| (*reason, n.load(Relaxed)))
    }

    fn count_refusal(&self, e: &WebhookError) {
        self.refused[e.refusal()].fetch_add(1, Relaxed);
    }
}

/// A verified Twilio webhook, its parameters parsed once.
#[derive(Debug)]
pub struct Webhook {
    pub call_sid: CallSid,
    /// `From`: a usable number, or why not.
    pub caller: CallerNumber,
    /// `From`, masked, for logs and the call record.
    pub caller_masked: String,
    /// `To`: the number the caller dialled.
    pub dialled: Option<String>,
    /// `StirVerstat` as sent (the record keeps it) and what it attests.
    pub stir_verstat: Option<String>,
    pub attestation: Attestation,
    /// `Digits`: what the caller keyed at a Gather.
    pub digits: Option<Keyed>,
    /// `SpeechResult`: what the caller said at a Gather.
    pub speech: Option<Keyed>,
    /// `CallStatus`, with the status callback's `SequenceNumber` and `CallDuration`.
    pub call_status: Option<CallStatus>,
    pub sequence: Option<u64>,
    pub duration_secs: Option<u64>,
    /// `DialCallStatus`, on a `<Dial action>`.
    pub dial_status: Option<DialCallStatus>,
    /// `ParentCallSid`: on an agent's leg, the caller's call.
    pub parent_call_sid: Related,
    /// `DequeingCallSid`: the agent's leg that took a caller from a queue.
    pub dequeuing_call_sid: Option<CallSid>,
    /// The flow state an action URL carries (`state` in the query).
    pub state: Option<String>,
    /// The query string, signed with the URL (a redirect's context for the
    /// demo self-service app).
    pub query: Params,
    /// The URL the signature was checked against.
    pub url: String,
    /// `I-Twilio-Idempotency-Token`: the same on Twilio's retries of one request.
    pub idempotency_token: Option<String>,
    /// On a request to the Fallback URL: the URL whose request failed.
    pub error_url: Option<String>,
    /// On a request to the Fallback URL: Twilio's error code (11200…).
    pub error_code: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("missing X-Twilio-Signature header")]
    MissingSignature,
    #[error("X-Twilio-Signature does not match this request for the configured public URL")]
    BadSignature,
    #[error("unsupported content type {0:?}: expected application/x-www-form-urlencoded")]
    ContentType(String),
    #[error("malformed parameters: {0}")]
    Form(#[from] FormError),
    #[error("malformed JSON body")]
    Json,
    #[error("missing or malformed CallSid")]
    CallSid,
    #[error("request body too large or unreadable")]
    Body,
    #[error("request body not received within {} s", BODY_TIMEOUT.as_secs())]
    BodyTimeout,
}

impl WebhookError {
    /// Which of [`REFUSALS`] this is (its index).
    fn refusal(&self) -> usize {
        match self {
            Self::MissingSignature => 0,
            Self::BadSignature => 1,
            _ => 2,
        }
    }
}

impl ResponseError for WebhookError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingSignature | Self::BadSignature => StatusCode::FORBIDDEN,
            Self::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Body => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Form(_) | Self::Json | Self::CallSid => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).content_type("text/plain; charset=utf-8").body(format!("{self}\n"))
    }
}

/// A webhook body (a few kB) that takes longer than this to arrive is refused.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Webhook {
    /// Checks and decodes one request. Public for tests and fuzzing.
    pub fn verify(
        auth: &WebhookAuth,
        method: &Method,
        path_and_query: &str,
        content_type: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Self, WebhookError> {
        let (params, query, url) = checked(auth, method, path_and_query, content_type, signature, body)?;
        Self::parse(&params, query, url)
    }

    /// The typed webhook, from checked parameters.
    fn parse(params: &Params, query: Params, url: String) -> Result<Self, WebhookError> {
        let call_sid = params.get("CallSid").and_then(CallSid::parse).ok_or(WebhookError::CallSid)?;
        let from = params.get("From");
        let stir_verstat = params.get("StirVerstat").map(str::to_string);
        let number = |name: &str| params.get(name).and_then(|v| v.trim().parse::<u64>().ok());
        Ok(Self {
            call_sid,
            caller: CallerNumber::parse(from),
            caller_masked: mask(from.unwrap_or("")),
            dialled: params.get("To").map(str::to_string),
            attestation: Attestation::parse(stir_verstat.as_deref()),
            stir_verstat,
            digits: params.get("Digits").map(Keyed::new),
            speech: params.get("SpeechResult").map(Keyed::new),
            call_status: params.get("CallStatus").map(CallStatus::parse),
            sequence: number("SequenceNumber"),
            duration_secs: number("CallDuration"),
            dial_status: params.get("DialCallStatus").map(DialCallStatus::parse),
            parent_call_sid: Related::parse(params.get("ParentCallSid")),
            dequeuing_call_sid: params.get("DequeingCallSid").and_then(CallSid::parse),
            state: query.get("state").map(str::to_string),
            query,
            url,
            idempotency_token: None,
            error_url: params.get("ErrorUrl").map(str::to_string),
            error_code: params.get("ErrorCode").map(str::to_string),
        })
    }
}

/// The request's form (or query, or JSON) parameters, its query and the URL
/// it was signed for, once the signature is checked.
fn checked(
    auth: &WebhookAuth,
    method: &Method,
    path_and_query: &str,
    content_type: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(Params, Params, String), WebhookError> {
    let signature = signature.ok_or(WebhookError::MissingSignature)?;
    let url = format!("{}{}", auth.public_base, path_and_query);
    let query = Params::parse(path_and_query.split_once('?').map_or("", |(_, q)| q).as_bytes())?;
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let is = |m: &str| mime.eq_ignore_ascii_case(m);
    let keys = &auth.keys;
    let params = if method == Method::GET || method == Method::HEAD {
        if !signature::verify_with(keys, &url, Body::Form(&Params::default()), signature) {
            return Err(WebhookError::BadSignature);
        }
        query.clone()
    } else if is("application/json") {
        let hash = query.get("bodySHA256").ok_or_else(|| WebhookError::ContentType(content_type.to_string()))?;
        if !signature::verify_with(keys, &url, Body::Json { raw: body, body_sha256: hash }, signature) {
            return Err(WebhookError::BadSignature);
        }
        json_params(body)?
    } else if is("application/x-www-form-urlencoded") || (mime.is_empty() && body.is_empty()) {
        let params = Params::parse(body)?;
        if !signature::verify_with(keys, &url, Body::Form(&params), signature) {
            return Err(WebhookError::BadSignature);
        }
        params
    } else {
        return Err(WebhookError::ContentType(content_type.to_string()));
    };
    Ok((params, query, url))
}

/// A JSON body's string members, held to the form's rules (no NUL bytes).
fn json_params(body: &[u8]) -> Result<Params, WebhookError> {
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| WebhookError::Json)?;
    let mut pairs = Vec::with_capacity(json.len());
    for (i, (k, v)) in json.into_iter().enumerate() {
        if let serde_json::Value::String(v) = v {
            if k.contains('\0') || v.contains('\0') {
                return Err(WebhookError::Form(FormError::Nul(i)));
            }
            pairs.push((k, v));
        }
    }
    Ok(Params::from_pairs(pairs))
}

impl FromRequest for Webhook {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let signature = header(header::HeaderName::from_static("x-twilio-signature"));
        // Unsigned: refused before a byte of the body is read.
        let body = signature.is_some().then(|| Bytes::from_request(&req, payload));
        Box::pin(async move {
            let auth = req
                .app_data::<actix_web::web::Data<WebhookAuth>>()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("webhook auth not configured"))?;
            let refused = |e: WebhookError| {
                tracing::warn!(error = %e, path = req.path(), "webhook refused");
                auth.count_refusal(&e);
                actix_web::Error::from(e)
            };
            let (Some(signature), Some(body)) = (signature, body) else {
                return Err(refused(WebhookError::MissingSignature));
            };
            // The request head has its own timeout; a body that stalls
            // mid-way must not hold the connection and the worker forever.
            let body = match crate::clock::within(BODY_TIMEOUT, body).await {
                Some(body) => body.map_err(|_| refused(WebhookError::Body))?,
                None => return Err(refused(WebhookError::BodyTimeout)),
            };
            let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
            let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let content_type = header(header::CONTENT_TYPE).unwrap_or("");
            let (params, query, url) =
                checked(auth, req.method(), path_and_query, content_type, Some(&signature), &body).map_err(refused)?;
            let mut hook = Webhook::parse(&params, query, url).map_err(refused)?;
            tracing::Span::current().record("call_sid", hook.call_sid.as_str());
            hook.idempotency_token = header(header::HeaderName::from_static("i-twilio-idempotency-token"))
                .map(|t| t.chars().take(128).collect());
            if let Some(recorder) = req.app_data::<actix_web::web::Data<Recorder>>() {
                write_recording(recorder, req.method().as_str(), path_and_query, &params, &hook.call_sid);
            }
            Ok(hook)
        })
    }
}

/// `serve --record-dir`: writes the verified request, redacted. A failure is
/// logged and never fails the webhook: the caller matters more than the file.
fn write_recording(recorder: &Recorder, method: &str, path_and_query: &str, params: &Params, call_sid: &CallSid) {
    let recording = Recording::of(method, path_and_query, params, crate::recording::now_ms());
    if let Err(e) = recorder.write(call_sid.as_str(), &recording) {
        tracing::warn!(error = %e, dir = %recorder.dir().display(), "could not record the webhook");
    }
}
