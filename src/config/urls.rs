//! The two kinds of URL a configuration holds: base URLs other parts are
//! joined onto (Vouch's public URL, the CRM's), and URLs Twilio fetches
//! (a `play` prompt, a redirect or wait URL).

use super::error::ConfigError;

/// An absolute http(s) base URL, kept without a trailing slash.
pub fn parse_base_url(raw: &str, key: &str) -> Result<url::Url, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|e| ConfigError::new(key, format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(key, format!("{raw:?} must be an http:// or https:// URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(key, "must not have a query or fragment"));
    }
    Ok(url)
}

/// An absolute http(s) URL, as written (a query is the operator's business).
pub fn http_url(key: &str, raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw).map_err(|e| ConfigError::new(key, format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(key, format!("{raw:?} must be http:// or https://")));
    }
    Ok(url)
}
