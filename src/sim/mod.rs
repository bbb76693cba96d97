//! A Twilio stand-in: places a call against a running Vouch exactly as
//! Twilio would (signed webhooks, Gather actions, fall-through on silence,
//! Redirects), and records what the caller heard and where the call went.
//! `vouch simulate` drives it from a terminal; the tests drive it with
//! scripted keys.

pub mod call;
pub mod status;
pub mod twiml;

pub use call::{CallSpec, End, Heard, Keypad, Phone, Scripted, SimError, Transcript};
