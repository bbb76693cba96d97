//! The Vouch a debugging command (`simulate`, `replay`) talks to. Requests
//! go to one URL and are signed for another, the public URL the server
//! checks signatures against, exactly as Twilio signs for the URL it was
//! given while ngrok or a proxy forwards the request elsewhere. The token
//! and the public URL come from the same environment and file as `serve`.

use crate::config::Config;
use anyhow::Context;
use std::path::PathBuf;

/// Where to send requests and what to sign them for.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct EndpointOpts {
    /// Where to send requests [default: the local server, http://127.0.0.1:$PORT].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The URL to sign for [default: as `serve` computes it: VOUCH_PUBLIC_URL,
    /// else server.public_url, else http://localhost:$PORT].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Configuration file, as for `serve` [default: the embedded demo].
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A resolved endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Where requests go, without a trailing slash.
    pub target: String,
    /// What they are signed for, without a trailing slash.
    pub public: String,
    /// The primary auth token (`TWILIO_AUTH_TOKEN`, or the demo token).
    pub token: String,
    /// The token is the published demo one.
    pub demo_token: bool,
}

impl Endpoint {
    /// Resolves the options against a loaded configuration.
    pub fn resolve(opts: &EndpointOpts, config: &Config) -> anyhow::Result<Self> {
        let target = match &opts.url {
            Some(u) => base_url(u).context("--url")?,
            None => format!("http://127.0.0.1:{}", config.server.port),
        };
        let public = match &opts.public_url {
            Some(u) => base_url(u).context("--public-url")?,
            None => config.server.public_url.as_str().trim_end_matches('/').to_string(),
        };
        let token = config.secrets.auth_tokens.first().map(|t| t.expose().to_string()).unwrap_or_default();
        Ok(Self { target, public, token, demo_token: config.secrets.demo_auth })
    }

    /// The URL a request to `public_url` is sent to.
    pub fn target_for(&self, public_url: &str) -> String {
        match public_url.strip_prefix(&self.public) {
            Some(rest) => format!("{}{rest}", self.target),
            None => public_url.to_string(),
        }
    }

    /// Why a 403 probably happened, for the error message.
    pub fn forbidden_hint(&self) -> String {
        format!(
            "the server refused the signature: requests were signed for {} with {}; set VOUCH_PUBLIC_URL (or --public-url) and TWILIO_AUTH_TOKEN to the server's values",
            self.public,
            if self.demo_token { "the demo auth token (TWILIO_AUTH_TOKEN unset)" } else { "TWILIO_AUTH_TOKEN" }
        )
    }
}

/// An absolute http(s) URL without query or fragment, trailing slash dropped.
fn base_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|e| anyhow::anyhow!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("{raw:?} must be an http:// or https:// URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("{raw:?} must not have a query or fragment");
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_follow_serve_and_options_override() {
        let env: HashMap<String, String> = [("PORT".to_string(), "9000".to_string())].into();
        let config = Config::from_toml(crate::config::DEMO_CONFIG, &env).unwrap();
        let e = Endpoint::resolve(&EndpointOpts::default(), &config).unwrap();
        assert_eq!((e.target.as_str(), e.public.as_str()), ("http://127.0.0.1:9000", "http://localhost:9000"));
        assert_eq!(e.target_for("http://localhost:9000/voice?x=1"), "http://127.0.0.1:9000/voice?x=1");
        assert_eq!(e.target_for("https://elsewhere.example/x"), "https://elsewhere.example/x");
        let opts = EndpointOpts {
            url: Some("http://127.0.0.1:1234/".into()),
            public_url: Some("https://vouch.example.com".into()),
            config: None,
        };
        let e = Endpoint::resolve(&opts, &config).unwrap();
        assert_eq!((e.target.as_str(), e.public.as_str()), ("http://127.0.0.1:1234", "https://vouch.example.com"));
        for bad in ["ftp://x", "nope", "http://x/?a=1"] {
            let opts = EndpointOpts { url: Some(bad.into()), ..EndpointOpts::default() };
            assert!(Endpoint::resolve(&opts, &config).is_err(), "{bad}");
        }
    }
}
