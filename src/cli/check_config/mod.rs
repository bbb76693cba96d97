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
}

/// Loads the configuration as `serve` would and describes it; a bad value
/// comes back as the error (`configuration error at `KEY`: …`), exit 1.
pub fn run(opts: CheckConfigOpts) -> anyhow::Result<()> {
    let path = opts.file.or(opts.config);
    let config = Config::load(path.as_deref(), &ProcessEnv)?;
    print!("{}", describe(&config));
    match &path {
        Some(p) => println!("configuration OK: {}", p.display()),
        None => println!("configuration OK: the embedded demo configuration"),
    }
    Ok(())
}
