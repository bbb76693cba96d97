//! `vouch check-config`: loads a configuration as `serve` would and
//! describes it in plain words.

mod describe;

pub use describe::describe;
