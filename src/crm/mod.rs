//! The business's CRM: the REST client Vouch uses (with its cache), the
//! transport under it (auth, TLS, proxy, breaker, metrics), and the
//! built-in demo CRM that serves the same contract.

mod auth;
mod breaker;
pub mod client;
pub mod demo;
pub mod metrics;
pub mod transport;
mod wire;

pub use client::CrmClient;
pub use metrics::CrmMetrics;
pub use transport::{Prepared, Reply, Transport, TransportError};
