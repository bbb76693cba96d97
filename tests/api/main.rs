//! Integration tests: whole calls over real HTTP against a Vouch on a random
//! port and a CRM over HTTP. One test binary, one module per area.

mod admin;
mod audit;
mod browser;
mod crm;
mod crm_actions;
mod crm_attributes;
mod crm_docs;
mod crm_doubles;
mod crm_examples;
mod crm_transport;
mod dashboard;
mod database;
mod defence;
mod desk_helpers;
mod devtools;
mod erase;
#[path = "../support/exports.rs"]
mod exports;
mod fallback;
mod fleet_records;
mod flow;
mod handoff;
mod handoff_routes;
mod helpers;
mod hostile;
#[path = "../support/leaks.rs"]
mod leaks;
mod logins;
mod metrics;
mod privacy;
mod replay;
mod report_schedules;
mod reports;
mod retention;
mod routes;
mod screen_pop;
mod security;
mod store;
mod twiml_oracle;
