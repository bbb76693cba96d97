//! The `vouch` command line: one subcommand per job, `serve` by default.
//! Each subcommand is a module here with its options and its `run`; this
//! one only parses and dispatches.

use crate::telemetry::{self, LogFormat};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;

pub mod check_config;
pub mod crm_test;
pub mod demo_crm;
pub mod endpoint;
pub mod hash_password;
pub mod lockouts;
pub mod replay;
pub mod report;
pub mod serve;
pub mod simulate;

use check_config::CheckConfigOpts;
use crm_test::CrmTestOpts;
use demo_crm::DemoCrmOpts;
use lockouts::LockoutsOpts;
use replay::ReplayOpts;
use report::ReportOpts;
use serve::ServeOpts;
use simulate::SimulateOpts;

/// The parsed command line. `vouch` alone is `vouch serve`, options and
/// environment (`VOUCH_BIND`) included: `serve`'s options are accepted here
/// too, left out of this help (they are in `vouch serve --help`), and
/// refused before another subcommand.
#[derive(Debug, Parser)]
#[command(name = "vouch", version, about = "Caller ID&V for Twilio voice IVRs")]
#[command(mut_arg("config", |a| a.hide(true)), mut_arg("bind", |a| a.hide(true)))]
#[command(mut_arg("record_dir", |a| a.hide(true)))]
pub struct Cli {
    /// The subcommand; none is `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
    // Before `serve`'s options: it keeps its place in each subcommand's help.
    /// Log format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// `serve`'s options, for `vouch` without a subcommand.
    #[command(flatten)]
    pub serve: ServeOpts,
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
    /// Run the configured CRM data actions against the real CRM and
    /// explain each step (the request, the status, the pointers, the
    /// conclusion). Exit 1 when the CRM fails, 2 on a usage or configuration
    /// mistake.
    CrmTest(CrmTestOpts),
    /// Place a call against a running Vouch from the terminal, as Twilio would.
    Simulate(SimulateOpts),
    /// Send a recorded webhook (or a copied curl command) again, re-signed.
    Replay(ReplayOpts),
    /// List the customers locked out of verification, or lift a lockout
    /// (`vouch lockouts list`, `vouch lockouts clear CUSTOMER_ID`).
    Lockouts(LockoutsOpts),
    /// Write a report of the ID&V figures (a row per day or hour over a
    /// range of dates) to a file, from the configured database.
    Report(ReportOpts),
    /// Read a password from standard input and print its Argon2id hash, for
    /// a user's `password_hash` in VOUCH_USERS_FILE.
    HashPassword,
}

impl Cli {
    /// Parses `args` (the program name first) like [`Parser::try_parse_from`],
    /// and also refuses `serve`'s options given before a subcommand
    /// (`vouch --bind 127.0.0.1 simulate`), which would otherwise be ignored.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = Self::command();
        let matches = cmd.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            // The ids come from `ServeOpts` itself; the text from `cmd`,
            // which parsing has built (an unbuilt `Arg` cannot be shown).
            let serve = ServeOpts::augment_args(clap::Command::new("serve"));
            let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
            let misplaced = serve.get_arguments().map(|a| a.get_id().as_str()).find(|id| given(id));
            if let Some(id) = misplaced {
                let arg =
                    cmd.get_arguments().find(|a| a.get_id() == id).map_or_else(|| id.to_string(), |a| a.to_string());
                let msg = format!(
                    "the subcommand '{name}' cannot be used with '{arg}' before it (options go after the subcommand)"
                );
                return Err(cmd.error(clap::error::ErrorKind::ArgumentConflict, msg));
            }
        }
        Self::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
    }
}

/// Parses the command line, starts logging and runs the subcommand.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    telemetry::init(cli.log_format);
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    match command {
        Command::Serve(opts) => crate::startup::serve_runtime()?.block_on(serve::run(opts)),
        Command::DemoCrm(opts) => block_on(demo_crm::run(opts)),
        Command::CheckConfig(opts) => check_config::run(opts),
        Command::CrmTest(opts) => block_on(crm_test::run(opts)),
        Command::Simulate(opts) => block_on(simulate::run(opts)),
        Command::Replay(opts) => block_on(replay::run(opts)),
        Command::Lockouts(opts) => block_on(lockouts::run(opts)),
        Command::Report(opts) => block_on(report::run(opts)),
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

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_args(std::iter::once("vouch").chain(args.iter().copied()))
    }

    #[test]
    fn no_subcommand_takes_serves_options() {
        let cli = parse(&["--config", "v.toml", "--bind", "127.0.0.1", "--record-dir", "rec"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.config.as_deref(), Some(std::path::Path::new("v.toml")));
        assert_eq!(cli.serve.bind, "127.0.0.1");
        assert_eq!(cli.serve.record_dir.as_deref(), Some(std::path::Path::new("rec")));
    }

    #[test]
    fn serves_options_before_a_subcommand_are_refused_but_the_log_format_is_not() {
        for args in
            [&["--bind", "127.0.0.1", "serve"][..], &["-c", "v.toml", "check-config"], &["--record-dir=x", "simulate"]]
        {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{args:?}");
            assert!(e.to_string().contains("cannot be used with"), "{e}");
        }
        let cli = parse(&["--log-format", "json", "serve", "--bind", "127.0.0.1"]).unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(matches!(cli.command, Some(Command::Serve(ServeOpts { ref bind, .. })) if bind == "127.0.0.1"));
    }
}
