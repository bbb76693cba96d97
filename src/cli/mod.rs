//! The `vouch` command line: one subcommand per job, `serve` by default.
//! Each subcommand is a module here with its options and its `run`; this
//! one only parses and dispatches.

use crate::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};

pub mod check_config;
pub mod demo_crm;
pub mod endpoint;
pub mod hash_password;
pub mod replay;
pub mod serve;
pub mod simulate;

use check_config::CheckConfigOpts;
use demo_crm::DemoCrmOpts;
use replay::ReplayOpts;
use serve::ServeOpts;
use simulate::SimulateOpts;

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(name = "vouch", version, about = "Caller ID&V for Twilio voice IVRs")]
pub struct Cli {
    /// The subcommand; none is `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// The subcommands.
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
    Simulate(SimulateOpts),
    /// Send a recorded webhook (or a copied curl command) again, re-signed.
    Replay(ReplayOpts),
    /// Read a password from standard input and print its Argon2id hash, for
    /// a user's `password_hash` in VOUCH_USERS_FILE.
    HashPassword,
}

/// Parses the command line, starts logging and runs the subcommand.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let command =
        cli.command.unwrap_or(Command::Serve(ServeOpts { config: None, bind: "0.0.0.0".into(), record_dir: None }));
    match command {
        Command::Serve(opts) => block_on(serve::run(opts)),
        Command::DemoCrm(opts) => block_on(demo_crm::run(opts)),
        Command::CheckConfig(opts) => check_config::run(opts),
        Command::Simulate(opts) => block_on(simulate::run(opts)),
        Command::Replay(opts) => block_on(replay::run(opts)),
        Command::HashPassword => hash_password::run(),
    }
}

/// Runs an async subcommand on a multi-threaded Tokio runtime.
fn block_on(job: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(job)
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
