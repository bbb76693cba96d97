//! `vouch check-config`: loads a configuration (and the environment) as
//! `serve` would, without serving, and describes what each line will do.

mod describe;
#[cfg(test)]
mod tests;

pub use describe::describe;

use crate::config::{Config, ProcessEnv};
use std::path::PathBuf;

/// `vouch check-config`'s options.
#[derive(Debug, Default, clap::Args)]
pub struct CheckConfigOpts {
    /// Configuration file (TOML). Default: the embedded demo configuration.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The same as FILE, spelled as for `serve`.
    #[arg(long, short, value_name = "FILE", conflicts_with = "file")]
    pub config: Option<PathBuf>,
    /// The Fly.io app file whose `kill_timeout` must cover the drain, the
    /// shutdown timeout and the final flush. Default: `fly.toml` in the
    /// working directory, when there is one.
    #[arg(long, value_name = "FILE", env = "VOUCH_FLY_TOML")]
    pub fly_toml: Option<PathBuf>,
}

/// Loads the configuration as `serve` would and describes it; a bad value
/// comes back as the error (`configuration error at `KEY`: …`), exit 1.
pub fn run(opts: CheckConfigOpts) -> anyhow::Result<()> {
    let path = opts.file.or(opts.config);
    let config = Config::load(path.as_deref(), &ProcessEnv)?;
    print!("{}", describe(&config));
    let fly = opts.fly_toml.or_else(|| Some(PathBuf::from("fly.toml")).filter(|p| p.is_file()));
    if let Some(fly) = fly {
        let text = std::fs::read_to_string(&fly).map_err(|e| anyhow::anyhow!("{}: {e}", fly.display()))?;
        println!("{}", kill_timeout_check(&text, &config, &fly.display().to_string()));
    }
    match &path {
        Some(p) => println!("configuration OK: {}", p.display()),
        None => println!("configuration OK: the embedded demo configuration"),
    }
    Ok(())
}

/// Whether the `kill_timeout` of the Fly.io app file `text` leaves room for
/// a SIGTERM's drain, shutdown timeout and final flush: a line to print, a
/// `warning:` when it does not (or cannot be read).
pub fn kill_timeout_check(text: &str, config: &Config, file: &str) -> String {
    let needed = crate::startup::shutdown_budget(&config.server).as_secs();
    let s = &config.server;
    let parts = format!(
        "server.drain_secs {} + server.shutdown_timeout_secs {} + final flush {}",
        s.drain.as_secs(),
        s.shutdown_timeout.as_secs(),
        needed - s.drain.as_secs() - s.shutdown_timeout.as_secs()
    );
    let kill = match text.parse::<toml::Table>() {
        Err(e) => return format!("warning: {file} is not TOML ({}): kill_timeout not checked", e.message()),
        Ok(t) => match t.get("kill_timeout") {
            // Fly.io's default.
            None => Some(5),
            Some(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
            Some(toml::Value::String(d)) => duration_secs(d),
            Some(_) => None,
        },
    };
    match kill {
        None => format!("warning: {file}: kill_timeout is not a duration (\"15s\", \"1m\" or seconds): not checked"),
        Some(k) if k <= needed => format!(
            "warning: {file}: kill_timeout {k} s does not cover a SIGTERM's {needed} s ({parts}): the platform kills Vouch before its last records are written; raise kill_timeout above {needed} s or lower the others"
        ),
        Some(k) => format!("{file}: kill_timeout {k} s covers a SIGTERM's {needed} s ({parts})"),
    }
}

/// `"15s"`, `"2m"`, `"1m30s"` or `"20"` in seconds.
fn duration_secs(d: &str) -> Option<u64> {
    let d = d.trim();
    if let Ok(n) = d.parse() {
        return Some(n);
    }
    let (mut total, mut number) = (0u64, String::new());
    for c in d.chars() {
        match c {
            '0'..='9' => number.push(c),
            's' | 'm' | 'h' => {
                let n: u64 = number.parse().ok()?;
                number.clear();
                total += n * match c {
                    's' => 1,
                    'm' => 60,
                    _ => 3_600,
                };
            }
            _ => return None,
        }
    }
    number.is_empty().then_some(total)
}
