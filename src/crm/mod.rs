//! The business's CRM: the data actions Vouch runs against it (configured
//! under `[crm]`, today's contract by default), the client that runs them
//! with its cache, the transport under it (auth, TLS, proxy, breaker,
//! metrics), and the built-in demo CRM that serves the default contract.

pub mod action;
mod auth;
mod breaker;
pub mod client;
pub mod demo;
pub mod escape;
pub mod mapping;
pub mod metrics;
pub mod phone_format;
pub mod template;
pub mod trace;
pub mod transport;
pub mod verify;
mod wire;

pub use client::CrmClient;
pub use metrics::CrmMetrics;
pub use transport::{Prepared, Reply, Transport, TransportError};
