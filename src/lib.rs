//! Vouch: caller identification and verification for Twilio voice IVRs.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod config;
pub mod crm;
pub mod flow;
pub mod handoff;
pub mod ivr;
pub mod links;
pub mod routes;
pub mod sim;
pub mod startup;
pub mod state_token;
pub mod store;
pub mod telemetry;
pub mod twilio;
