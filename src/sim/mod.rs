//! A Twilio stand-in: places a call against a running Vouch exactly as
//! Twilio would (signed webhooks, Gather actions, fall-through on silence,
//! Redirects), and records what the caller heard, where the call went, and
//! past the handoff what they heard on hold and what the agent was whispered.
//! `vouch simulate` drives it from a terminal; the tests drive it with
//! scripted keys.

pub mod call;
mod legs;
pub mod status;
pub mod twiml;

pub use call::{Agent, CallSpec, End, Heard, Keypad, Phone, Scripted, SimError, Transcript};
