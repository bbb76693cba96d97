//! `vouch hash-password`: a password from standard input to the Argon2id
//! hash a user's `password_hash` in VOUCH_USERS_FILE holds.

use anyhow::Context;

/// Reads one line (typed, or piped: `printf %s 'pw' | vouch hash-password`)
/// and prints its hash. Only the line ending is removed: spaces count.
pub fn run() -> anyhow::Result<()> {
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
