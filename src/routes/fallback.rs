//! `POST /fallback`: Twilio's Voice Fallback URL. A signed request (checked
//! against the fallback URL as Twilio requested it) always gets TwiML: the
//! failed prompt again, the failed step's stored answer, or an agent.

use super::twiml;
use crate::call::CallService;
use crate::twilio::webhook::Webhook;
use actix_web::{web, HttpResponse};

pub async fn fallback(calls: web::Data<CallService>, hook: Webhook) -> HttpResponse {
    twiml(calls.fallback(&hook).await)
}
