//! The business's CRM: the REST client Vouch uses (with its cache), and the
//! built-in demo CRM that serves the same contract.

pub mod client;
pub mod demo;

pub use client::CrmClient;
