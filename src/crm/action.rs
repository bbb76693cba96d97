//! The three data actions, compiled at start-up: the request each sends
//! (method, URL, headers, body, each a [`Template`]) and how its answer is
//! read. Today's contract is [`CrmActions::builtin`], in this same form.

use super::mapping::{Mapping, NameMap, Pointer};
use super::phone_format::PhoneFormat;
use super::template::{RenderError, Template, Values};
use super::verify::{FieldFormat, HashKind, KeyedFormat};
use reqwest::header::{HeaderName, HeaderValue};
use std::time::Duration;

/// How a body is written (sets the Content-Type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Form,
}

impl BodyFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Form => "application/x-www-form-urlencoded",
        }
    }
}

/// One request an action sends.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where it is configured (`crm.verify`, `lines.claims.crm.verify`), for
    /// logs and errors.
    pub key: String,
    /// The metric label: `find_by_phone`, `find_by_identifier` or `verify`.
    pub label: &'static str,
    pub method: reqwest::Method,
    /// Relative (appended to `crm.url`) or absolute.
    pub url: Template,
    pub absolute: bool,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<(BodyFormat, Template)>,
    pub timeout: Duration,
    /// For a bare `{phone}`.
    pub phone_format: PhoneFormat,
}

/// Why a request could not be made (names no value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error("{0}")]
    Render(#[from] RenderError),
    #[error("the rendered URL is not valid: {0}")]
    Url(String),
    #[error("header {0} is not a valid value")]
    Header(String),
}

/// A request rendered, ready for the transport.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
}

/// A request as text, for `check-config` and `crm-test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Request {
    /// The request to send with `values`, relative to `base`.
    pub fn prepare(&self, base: &url::Url, values: &Values<'_>) -> Result<Rendered, PrepareError> {
        let url = self.url(base, values)?;
        let headers = self
            .headers
            .iter()
            .map(|(name, t)| {
                let v = t.render(values)?;
                let v = HeaderValue::from_str(&v).map_err(|_| PrepareError::Header(name.to_string()))?;
                Ok((name.clone(), v))
            })
            .collect::<Result<Vec<_>, PrepareError>>()?;
        let body = match &self.body {
            Some((format, t)) => Some((format.content_type(), t.render(values)?.into_bytes())),
            None => None,
        };
        Ok(Rendered { method: self.method.clone(), url, headers, body })
    }

    /// The request as text (the caller masks `{value}` by passing `****`;
    /// a password in the URL is masked here).
    pub fn show(&self, base: &url::Url, values: &Values<'_>) -> Result<Shown, PrepareError> {
        let mut p = self.prepare(base, values)?;
        if p.url.password().is_some() {
            let _ = p.url.set_password(Some("****"));
        }
        let mut headers: Vec<(String, String)> =
            p.headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string())).collect();
        if let Some((ct, _)) = &p.body {
            headers.push(("content-type".into(), (*ct).to_string()));
        }
        Ok(Shown {
            method: p.method.to_string(),
            url: p.url.to_string(),
            headers,
            body: p.body.map(|(_, b)| String::from_utf8_lossy(&b).into_owned()),
        })
    }

    /// The request as indented text lines: method and URL, each header,
    /// then the body. `auth` are the transport's headers, already masked.
    pub fn show_lines(&self, base: &url::Url, values: &Values<'_>, auth: &[(String, String)]) -> Vec<String> {
        match self.show(base, values) {
            Err(e) => vec![format!("(cannot render with the example values: {e})")],
            Ok(s) => {
                let mut out = vec![format!("{} {}", s.method, s.url)];
                out.extend(auth.iter().chain(&s.headers).map(|(k, v)| format!("  {k}: {v}")));
                out.extend(s.body.map(|b| format!("  body: {b}")));
                out.push(format!("  timeout {} ms", self.timeout.as_millis()));
                out
            }
        }
    }

    fn url(&self, base: &url::Url, values: &Values<'_>) -> Result<url::Url, PrepareError> {
        let rendered = self.url.render(values)?;
        let full = match self.absolute {
            true => rendered,
            false => format!("{}{rendered}", base.as_str().trim_end_matches('/')),
        };
        url::Url::parse(&full).map_err(|e| PrepareError::Url(e.to_string()))
    }

    /// Whether the template puts `{value}` anywhere but a body (never
    /// allowed; checked at start-up, asserted here for tests).
    pub fn value_only_in_body(&self) -> bool {
        let in_url = self.url.names().any(|n| n == super::template::Name::Value);
        let in_headers = self.headers.iter().any(|(_, t)| t.names().any(|n| n == super::template::Name::Value));
        !in_url && !in_headers
    }
}

/// A find action: the request, and how its answer maps to customers.
#[derive(Debug, Clone)]
pub struct FindAction {
    pub request: Request,
    pub mapping: Mapping,
}

/// A verify action, one of three ways.
#[derive(Debug, Clone)]
pub enum VerifyAction {
    /// The CRM checks: `result` points at a JSON boolean.
    Endpoint { request: Request, result: Pointer },
    /// Vouch compares the keyed value with a field it fetches.
    Compare { request: Request, field: Pointer, field_format: FieldFormat, keyed_format: KeyedFormat },
    /// Vouch checks the keyed value against a salted slow hash it fetches.
    Hash { request: Request, field: Pointer, hash: HashKind },
}

impl FindAction {
    /// How the answer is read, in a line.
    pub fn describe_mapping(&self) -> String {
        let m = &self.mapping;
        let mut out = match &m.list {
            Some(list) => format!("search: list {list}"),
            None => "fetch: the body is the one match, 404 = not found".to_string(),
        };
        if let Some(count) = &m.count {
            out.push_str(&format!(", count {count} (a hint)"));
        }
        out.push_str(&format!(
            ", id {}, name {}",
            m.id,
            if m.name.describe().is_empty() { "(none)".into() } else { m.name.describe() }
        ));
        if !m.attributes.is_empty() {
            let attrs: Vec<String> = m.attributes.iter().map(|(k, p)| format!("{k} {p}")).collect();
            out.push_str(&format!(", attributes {}", attrs.join(", ")));
        }
        out
    }
}

impl VerifyAction {
    /// How the answer is judged, in a line (never a value).
    pub fn describe_check(&self) -> String {
        match self {
            Self::Endpoint { result, .. } => format!("endpoint: result {result} must be a JSON boolean"),
            Self::Compare { field, field_format, keyed_format, .. } => format!(
                "compare: field {field} ({field_format:?}) with the keyed value ({keyed_format:?}), normalised, in constant time; the field is never cached, logged or stored"
            ),
            Self::Hash { field, hash, .. } => format!(
                "hash: field {field} must be a salted {} hash, checked on the password-check threads; never cached, logged or stored",
                hash.as_str()
            ),
        }
    }

    pub fn request(&self) -> &Request {
        match self {
            Self::Endpoint { request, .. } | Self::Compare { request, .. } | Self::Hash { request, .. } => request,
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Self::Endpoint { .. } => "endpoint",
            Self::Compare { .. } => "compare",
            Self::Hash { .. } => "hash",
        }
    }
}

/// The three actions under `[crm]`.
#[derive(Debug, Clone)]
pub struct CrmActions {
    pub find_by_phone: FindAction,
    pub find_by_identifier: FindAction,
    pub verify: VerifyAction,
}

/// A line's overrides (`[lines.NAME.crm.*]`).
#[derive(Debug, Clone, Default)]
pub struct LineCrm {
    pub find_by_identifier: Option<FindAction>,
    pub verify: Option<VerifyAction>,
}

impl CrmActions {
    /// Today's contract: `GET /customers?phone=`, `GET /customers/{id}`,
    /// `POST /customers/{id}/verify`.
    pub fn builtin(timeout: Duration) -> Self {
        use super::template::{Kind, Name};
        let url = |t: &str, key: &str| {
            Template::parse(t, key, Kind::Url, &[Name::Phone, Name::Id]).expect("the built-in templates parse")
        };
        let ptr = |p: &str| Pointer::parse(p, "crm").expect("the built-in pointers parse");
        let request = |key: &str, label, method, url, body| Request {
            key: key.into(),
            label,
            method,
            url,
            absolute: false,
            headers: vec![(reqwest::header::ACCEPT, accept())],
            body,
            timeout,
            phone_format: PhoneFormat::E164,
        };
        let mapping = |list: Option<&str>| Mapping {
            list: list.map(ptr),
            count: None,
            id: ptr("/id"),
            name: NameMap::Pointer(ptr("/name")),
            attributes: Vec::new(),
        };
        let body = Template::parse(
            r#"{"factor":"{factor}","value":"{value}"}"#,
            "crm.verify.body",
            Kind::Json,
            &[Name::Id, Name::Factor, Name::Value],
        )
        .expect("the built-in body parses");
        Self {
            find_by_phone: FindAction {
                request: request(
                    "crm.find_by_phone",
                    "find_by_phone",
                    reqwest::Method::GET,
                    url("/customers?phone={phone}", "crm.find_by_phone.url"),
                    None,
                ),
                mapping: mapping(Some("/customers")),
            },
            find_by_identifier: FindAction {
                request: request(
                    "crm.find_by_identifier",
                    "find_by_identifier",
                    reqwest::Method::GET,
                    url("/customers/{id}", "crm.find_by_identifier.url"),
                    None,
                ),
                mapping: mapping(None),
            },
            verify: VerifyAction::Endpoint {
                request: request(
                    "crm.verify",
                    "verify",
                    reqwest::Method::POST,
                    url("/customers/{id}/verify", "crm.verify.url"),
                    Some((BodyFormat::Json, body)),
                ),
                result: ptr("/verified"),
            },
        }
    }
}

/// `Accept: application/json`, which every action sends unless it sets its own.
pub fn accept() -> Template {
    Template::parse("application/json", "crm", super::template::Kind::Header, &[]).expect("a literal parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::E164;

    #[test]
    fn the_builtin_actions_are_todays_contract() {
        let a = CrmActions::builtin(Duration::from_secs(2));
        let base = url::Url::parse("http://crm.test/api/").unwrap();
        let phone = E164::parse("+15551230001").unwrap();
        let v = Values {
            phone: Some(&phone),
            phone_format: &PhoneFormat::E164,
            id: Some("12345678"),
            factor: Some("pin"),
            value: Some("12\"34"),
        };
        let p = a.find_by_phone.request.prepare(&base, &v).unwrap();
        assert_eq!((p.method.as_str(), p.url.as_str()), ("GET", "http://crm.test/api/customers?phone=%2B15551230001"));
        let p = a.find_by_identifier.request.prepare(&base, &v).unwrap();
        assert_eq!(p.url.as_str(), "http://crm.test/api/customers/12345678");
        let p = a.verify.request().prepare(&base, &v).unwrap();
        assert_eq!((p.method.as_str(), p.url.as_str()), ("POST", "http://crm.test/api/customers/12345678/verify"));
        let (ct, body) = p.body.unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            serde_json::json!({"factor":"pin","value":"12\"34"})
        );
        assert!(a.verify.request().value_only_in_body());
    }
}
