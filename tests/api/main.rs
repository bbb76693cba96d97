//! Integration tests: whole calls over real HTTP against a Vouch on a random
//! port and a CRM over HTTP. One test binary, one module per area.

mod admin;
mod crm;
mod database;
mod flow;
mod helpers;
mod security;
mod store;
