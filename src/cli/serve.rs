//! `vouch serve` (and `vouch` alone): loads the configuration, says which
//! secrets are still demo ones, and serves the webhooks until stopped.

use crate::config::{Config, ProcessEnv};
use crate::startup::Application;
use std::path::PathBuf;

/// `vouch serve`'s options.
#[derive(Debug, Default, clap::Args)]
pub struct ServeOpts {
    /// Configuration file (TOML). Default: the embedded demo configuration.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0", env = "VOUCH_BIND")]
    pub bind: String,
    /// Write every verified webhook to a file in DIR, for `vouch replay`
    /// (what callers key for verification is redacted).
    #[arg(long, value_name = "DIR")]
    pub record_dir: Option<PathBuf>,
}

/// Serves until SIGTERM or Ctrl-C; a bad configuration or a port in use is
/// the error.
pub async fn run(opts: ServeOpts) -> anyhow::Result<()> {
    let bind = opts.bind;
    let mut config = Config::load(opts.config.as_deref(), &ProcessEnv)?;
    config.server.record_dir = opts.record_dir;
    if let Some(dir) = &config.server.record_dir {
        tracing::warn!(
            dir = %dir.display(),
            "recording every webhook for `vouch replay`: the files hold caller numbers and identifiers (verification digits are redacted)"
        );
    }
    warn_about_secrets(&config);
    let lines: Vec<String> = config.lines.iter().map(|l| l.name.clone()).collect();
    let app = Application::build(config, &bind).await?;
    tracing::info!(
        port = app.port(),
        public_url = app.public_base(),
        crm = if app.is_using_demo_crm() { "built-in demo CRM" } else { "configured CRM" },
        crm_url = %redact_userinfo(app.crm_url()),
        database = app.store().describe(),
        lines = %lines.join(","),
        "vouch listening on {bind}:{}", app.port()
    );
    tracing::info!("agent desk: {}/agent", app.public_base());
    app.run_until_stopped().await?;
    tracing::info!("vouch stopped");
    Ok(())
}

/// Logs each secret still in demo mode (or unset), and the logins loaded.
fn warn_about_secrets(config: &Config) {
    let secrets = &config.secrets;
    if secrets.demo_auth {
        tracing::warn!(
            "TWILIO_AUTH_TOKEN is not set: using the published DEMO auth token. Real Twilio requests will be refused (403); set TWILIO_AUTH_TOKEN from the Twilio Console."
        );
    }
    if secrets.random_state_key {
        tracing::warn!("VOUCH_STATE_SECRET is not set: using a random state key; calls in progress break on restart");
    }
    match &secrets.admin_token {
        None => tracing::info!("VOUCH_ADMIN_TOKEN is not set: the admin API is disabled"),
        Some(_) if secrets.demo_auth => tracing::warn!("admin API uses the published DEMO admin token"),
        Some(_) => {}
    }
    let users = &secrets.users;
    if users.demo {
        tracing::warn!("no users configured: the agent pages accept the published DEMO login (name demo, password demo); set VOUCH_USERS_FILE");
    } else if users.user_count() + users.token_count() == 0 {
        tracing::info!("no users configured (VOUCH_USERS_FILE): agent pages open only from signed screen-pop links");
    } else {
        tracing::info!(
            users = users.user_count(),
            api_tokens = users.token_count(),
            source = users.source.unwrap_or("-"),
            "agent logins loaded"
        );
    }
}

/// A URL without its password, for logs.
fn redact_userinfo(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}
