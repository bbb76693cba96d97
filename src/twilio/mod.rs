//! Everything Twilio-shaped: request signatures, webhook parameters, and
//! TwiML. Pure functions, except the actix extractor in [`webhook`].

pub mod form;
pub mod params;
pub mod signature;
pub mod twiml;
pub mod webhook;
