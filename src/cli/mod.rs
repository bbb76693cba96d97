//! The `vouch` command line: one subcommand per job, `serve` by default.

use crate::config::{Config, ProcessEnv};
use crate::startup::Application;
use crate::telemetry::{self, LogFormat};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub mod check_config;
pub mod endpoint;
pub mod replay;
pub mod simulate;

#[derive(Debug, Parser)]
#[command(name = "vouch", version, about = "Caller ID&V for Twilio voice IVRs")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the webhooks (the default).
    Serve(ServeOpts),
    /// Run the built-in demo CRM alone.
    DemoCrm(DemoCrmOpts),
    /// Check a configuration (and the environment) without serving, and
    /// describe what each line will do.
    CheckConfig(CheckConfigOpts),
    /// Place a call against a running Vouch from the terminal, as Twilio would.
    Simulate(simulate::SimulateOpts),
    /// Send a recorded webhook (or a copied curl command) again, re-signed.
    Replay(replay::ReplayOpts),
    /// Read a password from standard input and print its Argon2id hash, for
    /// a user's `password_hash` in VOUCH_USERS_FILE.
    HashPassword,
}

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

#[derive(Debug, Default, clap::Args)]
pub struct CheckConfigOpts {
    /// Configuration file (TOML). Default: the embedded demo configuration.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The same as FILE, spelled as for `serve`.
    #[arg(long, short, value_name = "FILE", conflicts_with = "file")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DemoCrmOpts {
    /// Port to listen on.
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let command =
        cli.command.unwrap_or(Command::Serve(ServeOpts { config: None, bind: "0.0.0.0".into(), record_dir: None }));
    match command {
        Command::CheckConfig(opts) => return check_config(opts),
        Command::HashPassword => return hash_password(),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match command {
        Command::Serve(opts) => rt.block_on(serve(opts)),
        Command::DemoCrm(opts) => rt.block_on(demo_crm(opts)),
        Command::CheckConfig(opts) => check_config(opts),
        Command::Simulate(opts) => rt.block_on(simulate::run(opts)),
        Command::Replay(opts) => rt.block_on(replay::run(opts)),
        Command::HashPassword => hash_password(),
    }
}

/// Reads one line (typed, or piped: `printf %s 'pw' | vouch hash-password`)
/// and prints its hash. Only the line ending is removed: spaces count.
fn hash_password() -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("Password (shown as you type; end with Enter): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("Failed to read the password from standard input")?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    println!("{}", crate::auth::password::hash(password)?);
    Ok(())
}

/// Loads the configuration as `serve` would and describes it; a bad value
/// comes back as the error (`configuration error at `KEY`: …`), exit 1.
fn check_config(opts: CheckConfigOpts) -> anyhow::Result<()> {
    let path = opts.file.or(opts.config);
    let config = Config::load(path.as_deref(), &ProcessEnv)?;
    print!("{}", check_config::describe(&config));
    match &path {
        Some(p) => println!("configuration OK: {}", p.display()),
        None => println!("configuration OK: the embedded demo configuration"),
    }
    Ok(())
}

async fn serve(opts: ServeOpts) -> anyhow::Result<()> {
    let bind = opts.bind;
    let mut config = Config::load(opts.config.as_deref(), &ProcessEnv)?;
    config.server.record_dir = opts.record_dir;
    if let Some(dir) = &config.server.record_dir {
        tracing::warn!(
            dir = %dir.display(),
            "recording every webhook for `vouch replay`: the files hold caller numbers and identifiers (verification digits are redacted)"
        );
    }
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

async fn demo_crm(opts: DemoCrmOpts) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind((opts.bind.as_str(), opts.port))?;
    tracing::info!(addr = %listener.local_addr()?, "demo CRM listening");
    crate::crm::demo::serve(listener, crate::crm::demo::DemoData::embedded())?.await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
