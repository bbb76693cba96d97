//! The `vouch` command line: one subcommand per job, `serve` by default.

use crate::config::{Config, ProcessEnv};
use crate::startup::Application;
use crate::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
}

#[derive(Debug, Default, clap::Args)]
pub struct ServeOpts {
    /// Configuration file (TOML). Default: the embedded demo configuration.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0", env = "VOUCH_BIND")]
    pub bind: String,
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
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command.unwrap_or(Command::Serve(ServeOpts { config: None, bind: "0.0.0.0".into() })) {
        Command::Serve(opts) => rt.block_on(serve(opts)),
        Command::DemoCrm(opts) => rt.block_on(demo_crm(opts)),
    }
}

async fn serve(opts: ServeOpts) -> anyhow::Result<()> {
    let bind = std::env::var("VOUCH_BIND").unwrap_or(opts.bind);
    let config = Config::load(opts.config.as_deref(), &ProcessEnv)?;
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
    let lines: Vec<String> = config.lines.iter().map(|l| l.name.clone()).collect();
    let app = Application::build(config, &bind).await?;
    tracing::info!(
        port = app.port(),
        public_url = app.public_base(),
        crm = if app.is_using_demo_crm() { "built-in demo CRM" } else { "configured CRM" },
        crm_url = app.crm_url(),
        lines = ?lines,
        "vouch listening on {bind}:{}", app.port()
    );
    app.run_until_stopped().await?;
    tracing::info!("vouch stopped");
    Ok(())
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
