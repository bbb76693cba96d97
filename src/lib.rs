//! Vouch: caller identification and verification for Twilio voice IVRs.
#![forbid(unsafe_code)]

/// `println!` for command output that a closed stdout (`vouch simulate |
/// head`) cannot turn into a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

pub mod audit;
pub mod auth;
pub mod call;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crm;
pub mod flow;
pub mod handoff;
pub mod keyring;
pub mod paths;
pub mod recording;
pub mod render;
pub mod report;
pub mod routes;
pub mod sim;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod twilio;
