//! The debugging and deployment commands run as the real binary: `vouch`
//! alone, `simulate`, `replay`, `serve --record-dir` and graceful shutdown on
//! SIGTERM. One test binary (like `tests/api`) so it links once.

mod bare_command;
mod replay;
mod shutdown;
mod simulate;
mod support;
