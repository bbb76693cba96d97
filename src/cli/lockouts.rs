//! `vouch lockouts`: the customers whose verification is locked (too many
//! failed verifications within `security.lockout_window_secs`), and lifting
//! a lockout, on the database the configuration names (`DATABASE_URL`), so
//! every Vouch sharing it sees the change at once. A lift is written to the
//! audit log as done from the command line.

use crate::audit::{Action, Actor, Audit, Target};
use crate::config::{Config, DatabaseUrl, ProcessEnv};
use crate::keyring::counters::CallerSubjects;
use crate::keyring::Keyring;
use crate::routes::agent::moment;
use crate::store::audit::AuditStore;
use crate::store::guard::Kind;
use crate::store::CallStore;
use anyhow::Context as _;
use std::path::PathBuf;
use std::time::Duration;

/// `vouch lockouts`' options.
#[derive(Debug, clap::Args)]
pub struct LockoutsOpts {
    /// Configuration file (TOML), for its database and lockout settings.
    /// Default: the embedded demo configuration.
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub action: LockoutsAction,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum LockoutsAction {
    /// List the customers with failed verifications in the lockout window,
    /// locked or not.
    List,
    /// Lift a customer's lockout now: forget their failed verifications.
    Clear {
        /// The customer's id in the CRM (as `list` shows it).
        customer_id: String,
    },
}

pub async fn run(opts: LockoutsOpts) -> anyhow::Result<()> {
    let config = Config::load(opts.config.as_deref(), &ProcessEnv)?;
    if matches!(config.database.url, DatabaseUrl::Memory) {
        anyhow::bail!(
            "DATABASE_URL is memory:, so lockouts live in the running Vouch's memory, out of this command's reach; \
             lift one there with DELETE /api/lockouts/{{customer_id}}"
        );
    }
    let keyring = Keyring::new(config.secrets.state_keys.iter().map(|k| k.expose()))?;
    let store = CallStore::open(&config.database, config.server.call_record_ttl, CallerSubjects::new(&keyring))
        .await
        .context("Failed to open the database")?;
    let sec = &config.security;
    let window = sec.lockout_window.as_secs();
    let now = crate::clock::now();
    let rule =
        format!("a customer is locked after {} failed verifications within {}", sec.lockout_failures, span(window));
    let result = match &opts.action {
        LockoutsAction::List => {
            let found = store.guard().subjects(Kind::VerifyFailed, now.saturating_sub(window)).await?;
            println!("Lockouts in {} ({rule}):", store.describe());
            if found.is_empty() {
                println!("  no failed verifications in the last {}: nobody is locked.", span(window));
            } else {
                let width = found.iter().map(|f| f.0.chars().count()).max().unwrap_or(0).max("customer".len());
                println!("  {:width$}  failures  locked  last failure", "customer");
                for (customer, failures, last) in &found {
                    let locked = if *failures >= sec.lockout_failures { "yes" } else { "no" };
                    println!("  {customer:width$}  {failures:>8}  {locked:<6}  {}", moment(*last, now).text);
                }
                println!("Lift one with: vouch lockouts clear CUSTOMER_ID");
            }
            Ok(())
        }
        LockoutsAction::Clear { customer_id } => clear(&store, &keyring, &config, customer_id, now).await,
    };
    store.close(Duration::from_secs(5)).await;
    result
}

async fn clear(store: &CallStore, keyring: &Keyring, config: &Config, id: &str, now: u64) -> anyhow::Result<()> {
    let id = id.trim();
    if !crate::flow::Customer::plausible_id(id) {
        anyhow::bail!("{id:?} is not a customer id");
    }
    let window_start = now.saturating_sub(config.security.lockout_window.as_secs());
    let failures = store.guard().count(Kind::VerifyFailed, id, window_start).await;
    store.guard().clear(Kind::VerifyFailed, id).await.context("Failed to lift the lockout")?;
    let audit = Audit::new(AuditStore::new(store.db()), keyring);
    let audited =
        audit.record_now(&Actor::CommandLine, Action::LockoutLifted, Target::Customer(id), serde_json::json!({})).await;
    let was = if failures >= config.security.lockout_failures { "was locked" } else { "was not locked" };
    println!(
        "Lifted: customer {id} {was} ({failures} failed verifications forgotten); their next call verifies as usual."
    );
    if audited.is_err() {
        eprintln!("vouch: warning: the audit log did not take this entry (the lockout is lifted)");
    }
    Ok(())
}

/// A window in words: "15 min", "1 h", "90 s".
fn span(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_window_is_said_in_its_largest_whole_unit() {
        assert_eq!(super::span(900), "15 min");
        assert_eq!(super::span(7200), "2 h");
        assert_eq!(super::span(90), "90 s");
    }
}
