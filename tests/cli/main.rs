//! The real `vouch` binary, run as a user runs it: `vouch` alone, `serve` (its logs,
//! `--record-dir`, graceful shutdown on SIGTERM), `simulate`, `replay`,
//! `check-config` and `hash-password`. One test binary (like `tests/api`) so
//! it links once; every test starts the binary through `support`.

mod attributes;
mod bare_command;
mod check_config;
/// The five CRM doubles of `tests/api`.
#[path = "../api/crm_doubles.rs"]
#[allow(dead_code)]
mod crm_doubles;
mod crm_examples;
mod crm_test;
mod data_dir;
/// The PostgreSQL schema per test and the SQLite lock of `tests/api`.
#[path = "../api/database.rs"]
#[allow(dead_code)]
mod database;
mod drain;
mod erase;
#[path = "../support/exports.rs"]
mod exports;
mod flood;
mod hash_password;
mod instances;
#[path = "../support/leaks.rs"]
mod leaks;
mod lockouts;
mod logs;
mod race;
mod replay;
mod report;
mod shutdown;
mod simulate;
mod support;
mod upgrade;
