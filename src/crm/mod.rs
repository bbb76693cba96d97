//! The business's CRM: the data actions Vouch runs against it (configured
//! under `[crm]`, today's contract by default), the client that runs them
//! with its cache, and the built-in demo CRM that serves the default
//! contract.

pub mod action;
pub mod client;
pub mod demo;
pub mod escape;
pub mod mapping;
pub mod phone_format;
pub mod template;
pub mod trace;
pub mod transport;
pub mod verify;

pub use client::CrmClient;
