//! How Vouch's requests reach the CRM, resolved: the credentials it sends
//! (secrets from the environment or `NAME_FILE` only), the TLS it trusts
//! and presents, the proxy the environment names, and when the circuit
//! breaker opens. Files are read and checked here, so a bad PEM stops
//! start-up naming its key rather than failing the first call.

use super::env::Env;
use super::error::ConfigError;
use super::file::{AuthKind, CrmAuthFile, CrmBreakerFile, CrmFile};
use super::secrets::Secret;
use super::urls::http_url;
use std::time::Duration;

/// Auth, TLS, proxy and breaker settings for the CRM transport.
#[derive(Debug, Clone)]
pub struct CrmTransport {
    pub auth: CrmAuth,
    pub tls: CrmTls,
    pub proxy: CrmProxy,
    pub breaker: CrmBreaker,
}

/// What Vouch sends to prove who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmAuth {
    None,
    /// `Authorization: Bearer <VOUCH_CRM_TOKEN>`.
    Bearer {
        token: Secret,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: Secret,
        /// The username as written in `crm.auth.username` (printable); `None`
        /// when it came from `VOUCH_CRM_USERNAME` (an API key, for Freshdesk).
        username_shown: Option<String>,
        password: Secret,
        /// The password is `crm.auth.password_literal`, not a secret.
        password_literal: bool,
    },
    /// `<name>: <VOUCH_CRM_TOKEN>` (an API key header, or the legacy
    /// `crm.auth_header` other than `Authorization`).
    Header {
        name: String,
        value: Secret,
    },
    /// OAuth 2.0 client credentials.
    OAuth2(OAuth2),
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4), with the client's id and
/// secret in the form body, as Salesforce and Microsoft document it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    pub token_url: url::Url,
    pub scope: Option<String>,
    pub client_id: String,
    pub client_secret: Secret,
    /// A token is replaced this long before its `expires_in` runs out.
    pub refresh_margin: Duration,
}

/// Extra trust and an optional client identity (PEM bytes, checked).
#[derive(Debug, Clone, Default)]
pub struct CrmTls {
    /// `crm.ca_file`: its path and contents.
    pub ca: Option<(String, Vec<u8>)>,
    /// `crm.client_cert_file` + `crm.client_key_file`: the cert chain's path,
    /// and the chain followed by the key, as one PEM.
    pub identity: Option<(String, Vec<u8>)>,
}

/// Proxies from `HTTPS_PROXY` / `HTTP_PROXY` (or `ALL_PROXY`, or their lower-case
/// forms) and the hosts `NO_PROXY` exempts, as curl and reqwest read them.
/// Read through [`Env`] so tests and `check-config` see what Vouch will use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmProxy {
    /// For `https://` CRM URLs: the variable it came from, and the proxy.
    pub https: Option<(&'static str, url::Url)>,
    /// For `http://` CRM URLs.
    pub http: Option<(&'static str, url::Url)>,
    /// Hosts, domains and IP ranges that go direct (comma-separated).
    pub no_proxy: Option<String>,
}

/// When Vouch stops asking a CRM that keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmBreaker {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// Open this long; then one probe request decides.
    pub cool_down: Duration,
}

impl CrmTransport {
    pub(super) fn resolve(file: &CrmFile, env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            auth: auth(file, env)?,
            tls: tls(file)?,
            proxy: proxy(env)?,
            breaker: CrmBreaker {
                failures: CrmBreakerFile::FAILURES.read(file.breaker.failures)?,
                cool_down: Duration::from_secs(CrmBreakerFile::COOL_DOWN_SECS.read(file.breaker.cool_down_secs)?),
            },
        })
    }
}

fn auth(file: &CrmFile, env: &dyn Env) -> Result<CrmAuth, ConfigError> {
    let Some(a) = &file.auth else { return legacy(file, env) };
    if file.auth_header.is_some() {
        return Err(ConfigError::new(
            "crm.auth_header",
            "set together with [crm.auth]: use crm.auth.type = \"header\" with crm.auth.name instead",
        ));
    }
    refuse_secrets(a)?;
    let allowed: &[&str] = match a.kind {
        AuthKind::None => &[],
        AuthKind::Bearer => &[],
        AuthKind::Header => &["name"],
        AuthKind::Basic => &["username", "password_literal"],
        AuthKind::OAuth2 => &["token_url", "scope", "client_id", "refresh_margin_secs"],
    };
    let given = [
        ("name", a.name.is_some()),
        ("username", a.username.is_some()),
        ("password_literal", a.password_literal.is_some()),
        ("token_url", a.token_url.is_some()),
        ("scope", a.scope.is_some()),
        ("client_id", a.client_id.is_some()),
        ("refresh_margin_secs", a.refresh_margin_secs.is_some()),
    ];
    if let Some((key, _)) = given.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        return Err(ConfigError::new(
            format!("crm.auth.{key}"),
            format!("not used with type = \"{}\"", kind_name(a.kind)),
        ));
    }
    match a.kind {
        AuthKind::None => Ok(CrmAuth::None),
        AuthKind::Bearer => Ok(CrmAuth::Bearer { token: required(env, "VOUCH_CRM_TOKEN", "bearer")? }),
        AuthKind::Header => {
            let name = a.name.as_deref().ok_or_else(|| {
                ConfigError::new("crm.auth.name", "required with type = \"header\" (the header, e.g. \"X-API-Key\")")
            })?;
            Ok(CrmAuth::Header {
                name: header_name("crm.auth.name", name)?,
                value: required(env, "VOUCH_CRM_TOKEN", "header")?,
            })
        }
        AuthKind::Basic => basic(a, env),
        AuthKind::OAuth2 => oauth2(a, env).map(CrmAuth::OAuth2),
    }
}

/// No `[crm.auth]`: `VOUCH_CRM_TOKEN`, if set, goes in `crm.auth_header`
/// (`Authorization` sends `Bearer <token>`), exactly as before `[crm.auth]`.
fn legacy(file: &CrmFile, env: &dyn Env) -> Result<CrmAuth, ConfigError> {
    let Some(token) = env.secret("VOUCH_CRM_TOKEN")? else { return Ok(CrmAuth::None) };
    let header = file.auth_header.as_deref().unwrap_or("Authorization");
    let header = header_name("crm.auth_header", header)?;
    Ok(if header.eq_ignore_ascii_case("authorization") {
        CrmAuth::Bearer { token: Secret::new(token) }
    } else {
        CrmAuth::Header { name: header, value: Secret::new(token) }
    })
}

fn refuse_secrets(a: &CrmAuthFile) -> Result<(), ConfigError> {
    let secrets = [
        ("token", a.token.is_some(), "VOUCH_CRM_TOKEN"),
        ("value", a.value.is_some(), "VOUCH_CRM_TOKEN"),
        ("api_key", a.api_key.is_some(), "VOUCH_CRM_TOKEN"),
        ("access_token", a.access_token.is_some(), "VOUCH_CRM_TOKEN"),
        ("password", a.password.is_some(), "VOUCH_CRM_PASSWORD"),
        ("client_secret", a.client_secret.is_some(), "VOUCH_CRM_CLIENT_SECRET"),
        ("secret", a.secret.is_some(), "VOUCH_CRM_CLIENT_SECRET"),
    ];
    match secrets.iter().find(|(_, set, _)| *set) {
        Some((key, _, var)) => Err(ConfigError::new(
            format!("crm.auth.{key}"),
            format!("secrets are never read from the file: remove it and set {var} (or {var}_FILE) in the environment"),
        )),
        None => Ok(()),
    }
}

fn basic(a: &CrmAuthFile, env: &dyn Env) -> Result<CrmAuth, ConfigError> {
    let (username, username_shown) = match (&a.username, env.secret("VOUCH_CRM_USERNAME")?) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new("crm.auth.username", "set both here and in VOUCH_CRM_USERNAME: keep one"))
        }
        (Some(u), None) => (Secret::new(u.clone()), Some(u.clone())),
        (None, Some(u)) => (Secret::new(u), None),
        (None, None) => {
            return Err(ConfigError::new(
                "crm.auth.username",
                "required with type = \"basic\" (or set VOUCH_CRM_USERNAME)",
            ))
        }
    };
    if username.expose().is_empty()
        || username.expose().contains(':')
        || username.expose().chars().any(char::is_control)
    {
        return Err(ConfigError::new(
            "crm.auth.username",
            "must be non-empty, with no `:` (Basic auth splits on it) and no control characters",
        ));
    }
    let (password, password_literal) = match (&a.password_literal, env.secret("VOUCH_CRM_PASSWORD")?) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new("crm.auth.password_literal", "set together with VOUCH_CRM_PASSWORD: keep one"))
        }
        (Some(p), None) => (Secret::new(p.clone()), true),
        (None, Some(p)) => (Secret::new(p), false),
        (None, None) => return Err(ConfigError::new(
            "VOUCH_CRM_PASSWORD",
            "required by crm.auth.type = \"basic\" (or crm.auth.password_literal when the CRM documents a fixed one)",
        )),
    };
    Ok(CrmAuth::Basic { username, username_shown, password, password_literal })
}

fn oauth2(a: &CrmAuthFile, env: &dyn Env) -> Result<OAuth2, ConfigError> {
    let raw = a
        .token_url
        .as_deref()
        .ok_or_else(|| ConfigError::new("crm.auth.token_url", "required with type = \"oauth2\""))?;
    let token_url = http_url("crm.auth.token_url", raw)?;
    let loopback = matches!(token_url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if token_url.scheme() != "https" && !loopback {
        return Err(ConfigError::new("crm.auth.token_url", "must be https:// (the client secret travels in it)"));
    }
    let client_id = match (&a.client_id, env.var("VOUCH_CRM_CLIENT_ID")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new("crm.auth.client_id", "set both here and in VOUCH_CRM_CLIENT_ID: keep one"))
        }
        (Some(id), None) => id.trim().to_string(),
        (None, Some(id)) => id.trim().to_string(),
        (None, None) => {
            return Err(ConfigError::new(
                "crm.auth.client_id",
                "required with type = \"oauth2\" (or set VOUCH_CRM_CLIENT_ID)",
            ))
        }
    };
    if client_id.is_empty() {
        return Err(ConfigError::new("crm.auth.client_id", "must not be empty"));
    }
    let scope = a.scope.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    Ok(OAuth2 {
        token_url,
        scope,
        client_id,
        client_secret: required(env, "VOUCH_CRM_CLIENT_SECRET", "oauth2")?,
        refresh_margin: Duration::from_secs(CrmAuthFile::REFRESH_MARGIN_SECS.read(a.refresh_margin_secs)?),
    })
}

/// A secret the auth type needs, trimmed of the newline files end with.
fn required(env: &dyn Env, var: &str, kind: &str) -> Result<Secret, ConfigError> {
    match env.secret(var)? {
        Some(s) if s.trim().chars().any(char::is_control) => {
            Err(ConfigError::new(var, "has control characters: a header cannot carry it"))
        }
        Some(s) => Ok(Secret::new(s.trim())),
        None => Err(ConfigError::new(var, format!("required by crm.auth.type = \"{kind}\" (or set {var}_FILE)"))),
    }
}

fn header_name(key: &str, name: &str) -> Result<String, ConfigError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ConfigError::new(key, "must be an HTTP header name"));
    }
    Ok(name.to_string())
}

fn kind_name(kind: AuthKind) -> &'static str {
    match kind {
        AuthKind::None => "none",
        AuthKind::Bearer => "bearer",
        AuthKind::Basic => "basic",
        AuthKind::Header => "header",
        AuthKind::OAuth2 => "oauth2",
    }
}

fn tls(file: &CrmFile) -> Result<CrmTls, ConfigError> {
    let ca = match &file.ca_file {
        Some(path) => {
            let pem = read("crm.ca_file", path)?;
            match reqwest::Certificate::from_pem_bundle(&pem) {
                Ok(certs) if !certs.is_empty() => Some((path.clone(), pem)),
                Ok(_) => return Err(ConfigError::new("crm.ca_file", format!("{path:?} holds no PEM certificate"))),
                Err(e) => return Err(ConfigError::new("crm.ca_file", format!("{path:?} is not a PEM bundle: {e}"))),
            }
        }
        None => None,
    };
    let identity = match (&file.client_cert_file, &file.client_key_file) {
        (None, None) => None,
        (Some(_), None) => return Err(ConfigError::new("crm.client_key_file", "required with crm.client_cert_file")),
        (None, Some(_)) => return Err(ConfigError::new("crm.client_cert_file", "required with crm.client_key_file")),
        (Some(cert), Some(key)) => {
            let mut pem = read("crm.client_cert_file", cert)?;
            if !pem.ends_with(b"\n") {
                pem.push(b'\n');
            }
            pem.extend(read("crm.client_key_file", key)?);
            // The key's own errors never quote it.
            reqwest::Identity::from_pem(&pem).map_err(|_| {
                ConfigError::new(
                    "crm.client_key_file",
                    format!("{cert:?} and {key:?} are not a PEM certificate chain and its private key"),
                )
            })?;
            Some((cert.clone(), pem))
        }
    };
    Ok(CrmTls { ca, identity })
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::new(key, format!("cannot read {path:?}: {e}")))
}

/// The proxy variables, upper case first as curl reads them. An https://
/// CRM goes through `HTTPS_PROXY` (else `ALL_PROXY`), an http:// one
/// through `HTTP_PROXY` (else `ALL_PROXY`).
fn proxy(env: &dyn Env) -> Result<CrmProxy, ConfigError> {
    let first = |names: &[&'static str]| -> Result<Option<(&'static str, url::Url)>, ConfigError> {
        for &name in names {
            if let Some(raw) = env.var(name) {
                return proxy_url(name, raw.trim()).map(|u| Some((name, u)));
            }
        }
        Ok(None)
    };
    Ok(CrmProxy {
        https: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])?,
        http: first(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])?,
        no_proxy: env.var("NO_PROXY").or_else(|| env.var("no_proxy")).map(|s| s.trim().to_string()),
    })
}

/// A proxy URL; a bare `host:port` means `http://host:port`, as curl takes it.
fn proxy_url(name: &str, raw: &str) -> Result<url::Url, ConfigError> {
    let with_scheme = if raw.contains("://") { raw.to_string() } else { format!("http://{raw}") };
    let url = url::Url::parse(&with_scheme).map_err(|e| ConfigError::new(name, format!("is not a proxy URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") || url.host_str().is_none() {
        return Err(ConfigError::new(name, "must be an http:// or https:// proxy URL"));
    }
    if url.scheme().starts_with("socks") {
        return Err(ConfigError::new(name, "SOCKS proxies are not supported; use an HTTP proxy"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn resolve(toml: &str, vars: &[(&str, &str)]) -> Result<CrmTransport, ConfigError> {
        Config::from_toml(&format!("{toml}\n[lines.main]\n"), &env(vars)).map(|c| c.crm.transport)
    }

    fn refused(toml: &str, vars: &[(&str, &str)]) -> ConfigError {
        resolve(toml, vars).expect_err("should be refused")
    }

    #[test]
    fn without_crm_auth_the_legacy_token_rule_holds() {
        assert_eq!(resolve("", &[]).unwrap().auth, CrmAuth::None);
        let bearer = resolve("", &[("VOUCH_CRM_TOKEN", "tok")]).unwrap().auth;
        assert_eq!(bearer, CrmAuth::Bearer { token: Secret::new("tok") });
        let header = resolve("[crm]\nauth_header = \"X-Api-Key\"", &[("VOUCH_CRM_TOKEN", "tok")]).unwrap().auth;
        assert_eq!(header, CrmAuth::Header { name: "X-Api-Key".into(), value: Secret::new("tok") });
    }

    #[test]
    fn each_auth_type_resolves_with_its_secrets_from_the_environment() {
        let bearer = resolve("[crm.auth]\ntype = \"bearer\"", &[("VOUCH_CRM_TOKEN", "tok\n")]).unwrap().auth;
        assert_eq!(bearer, CrmAuth::Bearer { token: Secret::new("tok") });
        let header =
            resolve("[crm.auth]\ntype = \"header\"\nname = \"X-API-Key\"", &[("VOUCH_CRM_TOKEN", "k")]).unwrap();
        assert_eq!(header.auth, CrmAuth::Header { name: "X-API-Key".into(), value: Secret::new("k") });
        let zendesk = resolve(
            "[crm.auth]\ntype = \"basic\"\nusername = \"ops@acme.com/token\"",
            &[("VOUCH_CRM_PASSWORD", "api-token")],
        )
        .unwrap();
        assert_eq!(
            zendesk.auth,
            CrmAuth::Basic {
                username: Secret::new("ops@acme.com/token"),
                username_shown: Some("ops@acme.com/token".into()),
                password: Secret::new("api-token"),
                password_literal: false,
            }
        );
        let freshdesk =
            resolve("[crm.auth]\ntype = \"basic\"\npassword_literal = \"X\"", &[("VOUCH_CRM_USERNAME", "fd-api-key")])
                .unwrap();
        assert!(matches!(
            freshdesk.auth,
            CrmAuth::Basic { username_shown: None, password_literal: true, ref username, .. } if username.expose() == "fd-api-key"
        ));
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "from-a-file\n").unwrap();
        let oauth = resolve(
            "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"https://login.salesforce.com/services/oauth2/token\"\n\
             client_id = \"3MVG9\"\nscope = \"api\"",
            &[("VOUCH_CRM_CLIENT_SECRET_FILE", secret_file.to_str().unwrap())],
        )
        .unwrap();
        let CrmAuth::OAuth2(o) = oauth.auth else { panic!("oauth2") };
        assert_eq!((o.client_id.as_str(), o.scope.as_deref()), ("3MVG9", Some("api")));
        assert_eq!((o.client_secret.expose(), o.refresh_margin), ("from-a-file", Duration::from_secs(60)));
    }

    #[test]
    fn a_secret_in_the_file_is_refused_naming_its_key_and_variable() {
        for (key, var) in [
            ("token", "VOUCH_CRM_TOKEN"),
            ("password", "VOUCH_CRM_PASSWORD"),
            ("client_secret", "VOUCH_CRM_CLIENT_SECRET"),
            ("api_key", "VOUCH_CRM_TOKEN"),
        ] {
            let e =
                refused(&format!("[crm.auth]\ntype = \"bearer\"\n{key} = \"hunter2\""), &[("VOUCH_CRM_TOKEN", "t")]);
            assert_eq!(e.key, format!("crm.auth.{key}"));
            assert!(e.message.contains(var) && !e.message.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn missing_or_misplaced_settings_are_refused_by_name() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("[crm.auth]\ntype = \"bearer\"", &[], "VOUCH_CRM_TOKEN"),
            ("[crm.auth]\ntype = \"bearer\"", &[("VOUCH_CRM_TOKEN", "a\nb")], "VOUCH_CRM_TOKEN"),
            ("[crm.auth]\ntype = \"header\"", &[("VOUCH_CRM_TOKEN", "t")], "crm.auth.name"),
            ("[crm.auth]\ntype = \"header\"\nname = \"X Key\"", &[("VOUCH_CRM_TOKEN", "t")], "crm.auth.name"),
            ("[crm.auth]\ntype = \"basic\"\nusername = \"u\"", &[], "VOUCH_CRM_PASSWORD"),
            ("[crm.auth]\ntype = \"basic\"", &[("VOUCH_CRM_PASSWORD", "p")], "crm.auth.username"),
            ("[crm.auth]\ntype = \"basic\"\nusername = \"a:b\"", &[("VOUCH_CRM_PASSWORD", "p")], "crm.auth.username"),
            ("[crm.auth]\ntype = \"bearer\"\nusername = \"u\"", &[("VOUCH_CRM_TOKEN", "t")], "crm.auth.username"),
            (
                "[crm.auth]\ntype = \"oauth2\"\nclient_id = \"c\"",
                &[("VOUCH_CRM_CLIENT_SECRET", "s")],
                "crm.auth.token_url",
            ),
            (
                "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"http://login.example.com/token\"\nclient_id = \"c\"",
                &[("VOUCH_CRM_CLIENT_SECRET", "s")],
                "crm.auth.token_url",
            ),
            (
                "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"https://l.example.com/t\"",
                &[("VOUCH_CRM_CLIENT_SECRET", "s")],
                "crm.auth.client_id",
            ),
            (
                "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"https://l.example.com/t\"\nclient_id = \"c\"",
                &[],
                "VOUCH_CRM_CLIENT_SECRET",
            ),
            ("[crm.auth]\ntype = \"kerberos\"", &[], "crm.auth.type"),
            ("[crm]\nauth_header = \"X-Key\"\n[crm.auth]\ntype = \"none\"", &[], "crm.auth_header"),
            ("[crm.breaker]\nfailures = 0", &[], "crm.breaker.failures"),
            ("[crm.breaker]\nfailures = 101", &[], "crm.breaker.failures"),
            ("[crm.breaker]\ncool_down_secs = 0", &[], "crm.breaker.cool_down_secs"),
            ("[crm]\nca_file = \"/nonexistent/ca.pem\"", &[], "crm.ca_file"),
            ("[crm]\nclient_cert_file = \"/nonexistent/c.pem\"", &[], "crm.client_key_file"),
            ("[crm]\nclient_key_file = \"/nonexistent/k.pem\"", &[], "crm.client_cert_file"),
            ("", &[("HTTPS_PROXY", "socks5://127.0.0.1:1080")], "HTTPS_PROXY"),
        ];
        for (toml, vars, key) in cases {
            assert_eq!(refused(toml, vars).key, *key, "{toml}");
        }
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let e = refused(&format!("[crm]\nca_file = {:?}", path.to_str().unwrap()), &[]);
        assert_eq!(e.key, "crm.ca_file");
    }

    /// `[crm.auth]` and `[crm.breaker]` bounds, walked like those in `tests/bounds.rs`
    /// (the OAuth one needs its secret in the environment, which that walk has not).
    #[test]
    fn each_bound_accepts_its_edges_and_refuses_one_past_them_by_name() {
        let oauth = "[crm.auth]\ntype = \"oauth2\"\ntoken_url = \"https://l.example.com/t\"\nclient_id = \"c\"\n";
        let vars = [("VOUCH_CRM_CLIENT_SECRET", "s")];
        let walked: [(crate::config::bound::Bound<u64>, String); 3] = [
            (CrmAuthFile::REFRESH_MARGIN_SECS, format!("{oauth}refresh_margin_secs")),
            (
                crate::config::bound::Bound {
                    key: CrmBreakerFile::FAILURES.key,
                    default: CrmBreakerFile::FAILURES.default.into(),
                    min: CrmBreakerFile::FAILURES.min.into(),
                    max: CrmBreakerFile::FAILURES.max.into(),
                    says: CrmBreakerFile::FAILURES.says,
                },
                "[crm.breaker]\nfailures".into(),
            ),
            (CrmBreakerFile::COOL_DOWN_SECS, "[crm.breaker]\ncool_down_secs".into()),
        ];
        for (b, setting) in walked {
            assert!(b.min <= b.default && b.default <= b.max, "{}", b.key);
            for v in [b.min, b.default, b.max] {
                resolve(&format!("{setting} = {v}"), &vars).unwrap_or_else(|e| panic!("{setting} = {v}: {e}"));
            }
            for v in [i128::from(b.min) - 1, i128::from(b.max) + 1] {
                let e = refused(&format!("{setting} = {v}"), &vars);
                assert_eq!(e.key, b.key, "{setting} = {v}");
            }
        }
    }

    #[test]
    fn the_breaker_defaults_to_five_failures_and_thirty_seconds() {
        let b = resolve("", &[]).unwrap().breaker;
        assert_eq!(b, CrmBreaker { failures: 5, cool_down: Duration::from_secs(30) });
        let b = resolve("[crm.breaker]\nfailures = 2\ncool_down_secs = 5", &[]).unwrap().breaker;
        assert_eq!(b, CrmBreaker { failures: 2, cool_down: Duration::from_secs(5) });
    }

    #[test]
    fn proxies_come_from_the_environment_upper_case_first() {
        assert_eq!(resolve("", &[]).unwrap().proxy, CrmProxy::default());
        let p = resolve(
            "",
            &[
                ("HTTPS_PROXY", "proxy.corp:3128"),
                ("https_proxy", "http://other:1"),
                ("no_proxy", "localhost,.internal"),
            ],
        )
        .unwrap()
        .proxy;
        assert_eq!(p.https.as_ref().map(|(v, u)| (*v, u.as_str())), Some(("HTTPS_PROXY", "http://proxy.corp:3128/")));
        assert_eq!(p.http, None);
        assert_eq!(p.no_proxy.as_deref(), Some("localhost,.internal"));
        let p = resolve("", &[("ALL_PROXY", "http://all:8080")]).unwrap().proxy;
        assert_eq!(p.https.as_ref().map(|(v, _)| *v), Some("ALL_PROXY"));
        assert_eq!(p.http.as_ref().map(|(v, _)| *v), Some("ALL_PROXY"));
    }
}
