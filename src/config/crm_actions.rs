//! The CRM data actions, resolved: each `[crm.*]` action table (and each
//! line's `[lines.NAME.crm.*]` override) compiled into a
//! [`crate::crm::action`] form once, at start-up, with every mistake named
//! by its key. An absent table is today's contract
//! ([`CrmActions::builtin`]).

use super::error::ConfigError;
use super::file::{ActionFile, LineCrmFile};
use crate::crm::action::{accept, BodyFormat, CrmActions, FindAction, LineCrm, Request, VerifyAction};
use crate::crm::mapping::{Mapping, NameMap, Pointer};
use crate::crm::phone_format::PhoneFormat;
use crate::crm::template::{Kind, Name, Template};
use crate::crm::verify::{FieldFormat, HashKind, KeyedFormat, FAST_HASHES};
use reqwest::header::HeaderName;
use std::time::Duration;

/// What every action's timeout is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ActionLimits {
    /// `crm.timeout_ms`: an action's default.
    pub timeout: Duration,
    /// `server.webhook_deadline_ms`: every action's timeout stays below it.
    pub deadline: Duration,
}

/// Which action a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Phone,
    Identifier,
    Verify,
}

impl Which {
    fn label(self) -> &'static str {
        match self {
            Self::Phone => "find_by_phone",
            Self::Identifier => "find_by_identifier",
            Self::Verify => "verify",
        }
    }
}

/// The `[crm]` actions: each given table, else the built-in one.
pub fn resolve(
    phone: Option<&ActionFile>,
    identifier: Option<&ActionFile>,
    verify: Option<&ActionFile>,
    limits: ActionLimits,
) -> Result<CrmActions, ConfigError> {
    let builtin = CrmActions::builtin(limits.timeout);
    Ok(CrmActions {
        find_by_phone: match phone {
            Some(f) => find("crm.find_by_phone", Which::Phone, f, limits)?,
            None => builtin.find_by_phone,
        },
        find_by_identifier: match identifier {
            Some(f) => find("crm.find_by_identifier", Which::Identifier, f, limits)?,
            None => builtin.find_by_identifier,
        },
        verify: match verify {
            Some(f) => verify_action("crm.verify", f, limits)?,
            None => builtin.verify,
        },
    })
}

/// A line's overrides, at `lines.NAME.crm`.
pub fn resolve_line(at: &str, file: Option<&LineCrmFile>, limits: ActionLimits) -> Result<LineCrm, ConfigError> {
    let Some(f) = file else { return Ok(LineCrm::default()) };
    Ok(LineCrm {
        find_by_identifier: f
            .find_by_identifier
            .as_ref()
            .map(|a| find(&format!("{at}.find_by_identifier"), Which::Identifier, a, limits))
            .transpose()?,
        verify: f.verify.as_ref().map(|a| verify_action(&format!("{at}.verify"), a, limits)).transpose()?,
    })
}

fn find(at: &str, which: Which, f: &ActionFile, limits: ActionLimits) -> Result<FindAction, ConfigError> {
    let verify_only = [
        ("mode", f.mode.is_some()),
        ("result", f.result.is_some()),
        ("field", f.field.is_some()),
        ("field_format", f.field_format.is_some()),
        ("keyed_format", f.keyed_format.is_some()),
        ("hash", f.hash.is_some()),
    ];
    refuse_keys(at, &verify_only, "is only for a verify action")?;
    if which != Which::Phone && f.phone_format.is_some() {
        return Err(ConfigError::new(format!("{at}.phone_format"), "is only for find_by_phone"));
    }
    let allowed: &[Name] = if which == Which::Phone { &[Name::Phone] } else { &[Name::Id] };
    let request = request(at, which, f, allowed, allowed, limits)?;
    let list = f.list.as_deref().map(|l| Pointer::parse(l, &format!("{at}.list"))).transpose()?;
    if list.is_none() && which == Which::Phone {
        return Err(ConfigError::new(
            format!("{at}.list"),
            "is required: a phone search answers a list (\"\" when the body is the array)",
        ));
    }
    let id = f.id.as_deref().ok_or_else(|| ConfigError::new(format!("{at}.id"), "is required (e.g. \"/id\")"))?;
    let attributes = f
        .attributes
        .0
        .iter()
        .map(|(k, p)| {
            let key = format!("{at}.attributes.{k}");
            let plain = k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if k.is_empty() || k.len() > 40 || !plain {
                return Err(ConfigError::new(key, "an attribute name is 1–40 of a-z, A-Z, 0-9, _ and -"));
            }
            Ok((k.clone(), Pointer::parse(p, &key)?))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mapping = Mapping {
        list,
        count: f.count.as_deref().map(|c| Pointer::parse(c, &format!("{at}.count"))).transpose()?,
        id: Pointer::parse(id, &format!("{at}.id"))?,
        name: NameMap::parse(f.name.as_deref().unwrap_or(""), &format!("{at}.name"))?,
        attributes,
    };
    Ok(FindAction { request, mapping })
}

fn verify_action(at: &str, f: &ActionFile, limits: ActionLimits) -> Result<VerifyAction, ConfigError> {
    let find_only = [
        ("list", f.list.is_some()),
        ("count", f.count.is_some()),
        ("id", f.id.is_some()),
        ("name", f.name.is_some()),
        ("attributes", !f.attributes.0.is_empty()),
        ("phone_format", f.phone_format.is_some()),
    ];
    refuse_keys(at, &find_only, "is only for a find action")?;
    let mode = f.mode.as_deref().unwrap_or("endpoint");
    let key = |k: &str| format!("{at}.{k}");
    let needed = |k: &str, v: &Option<String>| {
        v.clone().ok_or_else(|| ConfigError::new(key(k), format!("is required with mode = \"{mode}\"")))
    };
    let fetch_names: &[Name] = &[Name::Id, Name::Factor];
    match mode {
        "endpoint" => {
            refuse_keys(
                at,
                &[
                    ("field", f.field.is_some()),
                    ("field_format", f.field_format.is_some()),
                    ("keyed_format", f.keyed_format.is_some()),
                    ("hash", f.hash.is_some()),
                ],
                "is only for mode = \"compare\" or \"hash\"",
            )?;
            let request = request(at, Which::Verify, f, fetch_names, &[Name::Id, Name::Factor, Name::Value], limits)?;
            let carries_value = request.body.as_ref().is_some_and(|(_, t)| t.names().any(|n| n == Name::Value));
            if !carries_value {
                return Err(ConfigError::new(
                    key("body"),
                    "a verify endpoint needs a body carrying {value}, the keyed factor (never the URL)",
                ));
            }
            let result = Pointer::parse(&needed("result", &f.result)?, &key("result"))?;
            Ok(VerifyAction::Endpoint { request, result })
        }
        "compare" | "hash" => {
            if f.result.is_some() {
                return Err(ConfigError::new(key("result"), "is only for mode = \"endpoint\""));
            }
            let request = request(at, Which::Verify, f, fetch_names, fetch_names, limits)?;
            let field = Pointer::parse(&needed("field", &f.field)?, &key("field"))?;
            if mode == "hash" {
                refuse_keys(
                    at,
                    &[("field_format", f.field_format.is_some()), ("keyed_format", f.keyed_format.is_some())],
                    "is only for mode = \"compare\"",
                )?;
                let given = needed("hash", &f.hash)?;
                let hash = HashKind::parse(&given).ok_or_else(|| {
                    let lower = given.to_ascii_lowercase();
                    let why = if FAST_HASHES.contains(&lower.as_str()) || lower.starts_with("sha") || lower.starts_with("md") {
                        format!("{given:?} is refused: unsalted fast hashes of short PINs are trivial to reverse; store an argon2 or bcrypt hash")
                    } else {
                        format!("{given:?}: use \"argon2\" or \"bcrypt\"")
                    };
                    ConfigError::new(key("hash"), why)
                })?;
                return Ok(VerifyAction::Hash { request, field, hash });
            }
            if f.hash.is_some() {
                return Err(ConfigError::new(key("hash"), "is only for mode = \"hash\""));
            }
            let ff = needed("field_format", &f.field_format)?;
            let field_format = FieldFormat::parse(&ff).ok_or_else(|| {
                ConfigError::new(
                    key("field_format"),
                    format!(
                        "{ff:?}: use digits, lastN (N 1..=12), date:YYYY-MM-DD, date:epoch_ms or date:iso_datetime"
                    ),
                )
            })?;
            let kf = f.keyed_format.as_deref().unwrap_or("digits");
            let keyed_format = KeyedFormat::parse(kf).ok_or_else(|| {
                ConfigError::new(key("keyed_format"), format!("{kf:?}: use digits, MMDDYYYY or DDMMYYYY"))
            })?;
            let keyed_date = keyed_format != KeyedFormat::Digits;
            if field_format.is_date() != keyed_date {
                return Err(ConfigError::new(
                    key("keyed_format"),
                    "a date field_format needs keyed_format MMDDYYYY or DDMMYYYY, and only a date field takes one",
                ));
            }
            Ok(VerifyAction::Compare { request, field, field_format, keyed_format })
        }
        other => Err(ConfigError::new(key("mode"), format!("{other:?}: use endpoint, compare or hash"))),
    }
}

/// The request part: method, URL, headers, body, timeout, phone format.
/// `names` are allowed in the URL and headers, `body_names` in the body.
fn request(
    at: &str,
    which: Which,
    f: &ActionFile,
    names: &[Name],
    body_names: &[Name],
    limits: ActionLimits,
) -> Result<Request, ConfigError> {
    let key = |k: &str| format!("{at}.{k}");
    let method = match f.method.as_deref().unwrap_or("GET") {
        "GET" => reqwest::Method::GET,
        "POST" => reqwest::Method::POST,
        "PUT" => reqwest::Method::PUT,
        "PATCH" => reqwest::Method::PATCH,
        other => return Err(ConfigError::new(key("method"), format!("{other:?}: use GET, POST, PUT or PATCH"))),
    };
    let url_text = f.url.as_deref().ok_or_else(|| ConfigError::new(key("url"), "is required"))?;
    let absolute = url_text.starts_with("https://") || url_text.starts_with("http://");
    if !absolute && !url_text.starts_with('/') {
        return Err(ConfigError::new(
            key("url"),
            "must start with / (appended to crm.url) or be an absolute http(s):// URL",
        ));
    }
    let url = Template::parse(url_text, &key("url"), Kind::Url, names)?;
    let mut headers = Vec::new();
    for (name, value) in &f.headers.0 {
        let hkey = key(&format!("headers.{name}"));
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::new(hkey.clone(), "is not an HTTP header name"))?;
        let lower = header.as_str();
        let secretish = ["authorization", "proxy-authorization", "cookie"].contains(&lower)
            || ["token", "secret", "password", "key"].iter().any(|w| lower.contains(w));
        if secretish {
            return Err(ConfigError::new(
                hkey,
                "looks like a secret: secrets never go in the TOML; set [crm.auth] and the environment instead",
            ));
        }
        if lower == "content-type" {
            return Err(ConfigError::new(hkey, "is set by body_format"));
        }
        headers.push((header, Template::parse(value, &hkey, Kind::Header, names)?));
    }
    if !headers.iter().any(|(h, _)| *h == reqwest::header::ACCEPT) {
        headers.push((reqwest::header::ACCEPT, accept()));
    }
    let body = match (&f.body, f.body_format.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => return Err(ConfigError::new(key("body_format"), "is only for a body")),
        (Some(_), None) => return Err(ConfigError::new(key("body_format"), "is required with a body: json or form")),
        (Some(_), Some(_)) if method == reqwest::Method::GET => {
            return Err(ConfigError::new(key("body"), "a GET has no body: set method = \"POST\""))
        }
        (Some(b), Some("json")) => Some((BodyFormat::Json, Template::parse(b, &key("body"), Kind::Json, body_names)?)),
        (Some(b), Some("form")) => Some((BodyFormat::Form, Template::parse(b, &key("body"), Kind::Form, body_names)?)),
        (Some(_), Some(other)) => {
            return Err(ConfigError::new(key("body_format"), format!("{other:?}: use json or form")))
        }
    };
    let timeout = match f.timeout_ms {
        None => limits.timeout,
        Some(ms) => {
            let ms = ActionFile::TIMEOUT_MS.check(ms).map_err(|e| e.under(at))?;
            Duration::from_millis(ms)
        }
    };
    if timeout >= limits.deadline {
        return Err(ConfigError::new(key("timeout_ms"), "must be shorter than server.webhook_deadline_ms"));
    }
    let phone_format = match f.phone_format.as_deref() {
        None => PhoneFormat::E164,
        Some(p) => PhoneFormat::parse(p).ok_or_else(|| {
            ConfigError::new(
                key("phone_format"),
                format!("{p:?}: use e164, national, digits, national_digits or a pattern such as \"(###) ###-####\""),
            )
        })?,
    };
    Ok(Request {
        key: at.to_string(),
        label: which.label(),
        method,
        url,
        absolute,
        headers,
        body,
        timeout,
        phone_format,
    })
}

/// A line's factor length against the compare action it is verified by:
/// a keyed date has 8 digits, a `lastN` field N. `at` is the line's table.
pub fn check_factor_length(at: &str, length: usize, verify: &VerifyAction) -> Result<(), ConfigError> {
    let VerifyAction::Compare { request, field_format, keyed_format, .. } = verify else { return Ok(()) };
    let needed = match (keyed_format, field_format) {
        (KeyedFormat::Mmddyyyy | KeyedFormat::Ddmmyyyy, _) => 8,
        (KeyedFormat::Digits, FieldFormat::Last(n)) => *n,
        _ => return Ok(()),
    };
    if length != needed {
        return Err(ConfigError::new(
            format!("{at}.verification.length"),
            format!("is {length}, but {} compares {needed} keyed digits", request.key),
        ));
    }
    Ok(())
}

fn refuse_keys(at: &str, keys: &[(&str, bool)], why: &str) -> Result<(), ConfigError> {
    match keys.iter().find(|(_, set)| *set) {
        Some((k, _)) => Err(ConfigError::new(format!("{at}.{k}"), why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};
    use crate::crm::action::VerifyAction;
    use std::collections::HashMap;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        let text =
            format!("default_line = \"main\"\n{toml}\n[lines.main]\n[lines.claims]\nnumbers = [\"+15005550009\"]\n");
        Config::from_toml(&text, &HashMap::<String, String>::new())
    }

    /// The key and message a configuration is refused with.
    fn refused(toml: &str) -> (String, String) {
        let e = load(toml).expect_err("refused");
        (e.key, e.message)
    }

    #[test]
    fn mistakes_are_refused_naming_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("[crm.find_by_phone]\nurl = \"/c?p={phone}\"\nid = \"/id\"", "crm.find_by_phone.list", "is required"),
            ("[crm.find_by_phone]\nlist = \"\"\nid = \"/id\"", "crm.find_by_phone.url", "is required"),
            ("[crm.find_by_phone]\nurl = \"c\"\nlist = \"\"\nid = \"/id\"", "crm.find_by_phone.url", "must start with /"),
            ("[crm.find_by_phone]\nurl = \"/c?p={id}\"\nlist = \"\"\nid = \"/id\"", "crm.find_by_phone.url", "not known in find_by_phone"),
            ("[crm.find_by_identifier]\nurl = \"/c?p={phone}\"\nid = \"/id\"", "crm.find_by_identifier.url", "only for find_by_phone"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"", "crm.find_by_identifier.id", "is required"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"id\"", "crm.find_by_identifier.id", "JSON Pointer"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nmethod = \"DELETE\"", "crm.find_by_identifier.method", "GET, POST"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nbody = '{}'", "crm.find_by_identifier.body_format", "required"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nbody = '{}'\nbody_format = \"json\"", "crm.find_by_identifier.body", "a GET has no body"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\ntimeout_ms = 20000", "crm.find_by_identifier.timeout_ms", "outside"),
            ("[server]\nwebhook_deadline_ms = 1000\n[crm]\ntimeout_ms = 500\n[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\ntimeout_ms = 1000", "crm.find_by_identifier.timeout_ms", "shorter than server.webhook_deadline_ms"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nheaders = { Authorization = \"Bearer abc\" }", "crm.find_by_identifier.headers.Authorization", "secret"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nheaders = { X-Api-Key = \"abc\" }", "crm.find_by_identifier.headers.X-Api-Key", "secret"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nattributes = { \"bad name\" = \"/x\" }", "crm.find_by_identifier.attributes.bad name", "attribute name"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nresult = \"/ok\"", "crm.find_by_identifier.result", "only for a verify"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\nphone_format = \"e164\"", "crm.find_by_identifier.phone_format", "only for find_by_phone"),
            ("[crm.find_by_identifier]\nurl = \"/c/{id}\"\nid = \"/id\"\ntoken = \"abc\"", "crm.find_by_identifier.token", "unknown field"),
            ("[crm.verify]\nurl = \"/v/{id}?pin={value}\"\nresult = \"/ok\"", "crm.verify.url", "only in a verify endpoint's body"),
            ("[crm.verify]\nurl = \"/v/{id}\"\nheaders = { X-Pin = \"{value}\" }\nresult = \"/ok\"", "crm.verify.headers.X-Pin", "only in a verify endpoint's body"),
            ("[crm.verify]\nmethod = \"POST\"\nurl = \"/v/{id}\"\nbody = '{\"f\":\"{factor}\"}'\nbody_format = \"json\"\nresult = \"/ok\"", "crm.verify.body", "carrying {value}"),
            ("[crm.verify]\nmethod = \"POST\"\nurl = \"/v/{id}\"\nbody = '{\"v\":{value}}'\nbody_format = \"json\"\nresult = \"/ok\"", "crm.verify.body", "inside a JSON string"),
            ("[crm.verify]\nmethod = \"POST\"\nurl = \"/v/{id}\"\nbody = '{\"v\":\"{value}\"}'\nbody_format = \"json\"", "crm.verify.result", "is required"),
            ("[crm.verify]\nmode = \"compare\"\nurl = \"/c/{id}\"\nfield = \"/dob\"\nfield_format = \"date:YYYY-MM-DD\"", "crm.verify.keyed_format", "needs keyed_format MMDDYYYY"),
            ("[crm.verify]\nmode = \"compare\"\nurl = \"/c/{id}\"\nfield = \"/dob\"\nfield_format = \"last4\"\nkeyed_format = \"MMDDYYYY\"", "crm.verify.keyed_format", "only a date field"),
            ("[crm.verify]\nmode = \"compare\"\nurl = \"/c/{id}\"\nfield = \"/dob\"\nfield_format = \"last13\"", "crm.verify.field_format", "lastN"),
            ("[crm.verify]\nmode = \"compare\"\nmethod = \"POST\"\nurl = \"/c/{id}\"\nbody = '{\"v\":\"{value}\"}'\nbody_format = \"json\"\nfield = \"/x\"\nfield_format = \"digits\"", "crm.verify.body", "only in a verify endpoint's body"),
            ("[crm.verify]\nmode = \"hash\"\nurl = \"/c/{id}\"\nfield = \"/pin\"\nhash = \"sha256\"", "crm.verify.hash", "unsalted fast hashes of short PINs are trivial to reverse"),
            ("[crm.verify]\nmode = \"hash\"\nurl = \"/c/{id}\"\nfield = \"/pin\"\nhash = \"md5\"", "crm.verify.hash", "trivial to reverse"),
            ("[crm.verify]\nmode = \"hash\"\nurl = \"/c/{id}\"\nfield = \"/pin\"\nhash = \"plain\"", "crm.verify.hash", "trivial to reverse"),
            ("[crm.verify]\nmode = \"hash\"\nurl = \"/c/{id}\"\nfield = \"/pin\"\nhash = \"scrypt\"", "crm.verify.hash", "argon2"),
            ("[crm.verify]\nmode = \"oracle\"\nurl = \"/c/{id}\"", "crm.verify.mode", "endpoint, compare or hash"),
            ("[crm.verify]\nmode = \"hash\"\nurl = \"/c/{id}\"\nfield = \"/pin\"\nhash = \"argon2\"\nlist = \"/x\"", "crm.verify.list", "only for a find action"),
            ("[lines.claims.crm.verify]\nmode = \"compare\"\nurl = \"/c/{id}\"\nfield = \"/dob\"\nfield_format = \"date:YYYY-MM-DD\"\nkeyed_format = \"YYYYMMDD\"", "lines.claims.crm.verify.keyed_format", "MMDDYYYY"),
            ("[lines.claims.crm.find_by_identifier]\nurl = \"/p?n={value}\"\nid = \"/id\"", "lines.claims.crm.find_by_identifier.url", "only in a verify endpoint's body"),
            ("[lines.claims.verification]\nlength = 6\n[lines.claims.crm.verify]\nmode = \"compare\"\nurl = \"/c/{id}\"\nfield = \"/dob\"\nfield_format = \"date:YYYY-MM-DD\"\nkeyed_format = \"MMDDYYYY\"", "lines.claims.verification.length", "lines.claims.crm.verify compares 8 keyed digits"),
            ("[crm.verify]\nmode = \"compare\"\nurl = \"/c/{id}\"\nfield = \"/ssn\"\nfield_format = \"last6\"", "lines.claims.verification.length", "is 4, but crm.verify compares 6"),
            ("[lines.claims.crm.find_by_phone]\nurl = \"/p\"", "lines.claims.crm.find_by_phone", "unknown field"),
        ];
        for (toml, key, says) in cases {
            let (k, m) = refused(toml);
            assert!(k.starts_with(key), "{toml}\n→ {k}: {m} (wanted {key})");
            assert!(m.contains(says), "{toml}\n→ {k}: {m} (wanted {says:?})");
        }
    }

    #[test]
    fn a_full_configuration_compiles_with_line_overrides() {
        let c = load(
            r#"
[crm.find_by_phone]
url = "/services/data/v60.0/query?q=SELECT Id, FirstName, LastName FROM Contact WHERE Phone = {phone:(###) ###-####|soql} OR Phone = {phone:e164|soql}"
headers = { Accept = "application/json", X-Client = "vouch" }
list = "/records"
count = "/totalSize"
id = "/Id"
name = "{/FirstName} {/LastName}"
attributes = { tier = "/Tier__c", segment = "/Account/Segment__c" }
timeout_ms = 1500

[crm.verify]
mode = "hash"
url = "/pins/{id}"
field = "/pin_hash"
hash = "bcrypt"
"#,
        )
        .unwrap();
        let a = &c.crm.actions.find_by_phone;
        let names: Vec<&str> = a.mapping.attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["tier", "segment"], "configuration order");
        assert_eq!(a.request.timeout.as_millis(), 1500);
        assert!(matches!(c.crm.actions.verify, VerifyAction::Hash { .. }));
        assert_eq!(c.crm.actions.find_by_identifier.request.key, "crm.find_by_identifier", "the built-in default");
        assert!(c.lines.get("claims").unwrap().crm.verify.is_none());
    }
}
