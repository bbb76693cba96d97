//! A stand-in self-service app for the demo configuration: it reads the
//! context Vouch redirected with and says it, so a newcomer hears the end of
//! the flow. A real line redirects to the business's own app instead.

use super::twiml;
use crate::twilio::twiml::{Response, Speak, Verb};
use crate::twilio::webhook::Webhook;

pub async fn self_service(hook: Webhook) -> actix_web::HttpResponse {
    let q = &hook.query;
    let name = q.get("customer_name").filter(|n| !n.is_empty()).unwrap_or("caller");
    let status = q.get("idv_status").unwrap_or("unidentified");
    let mut doc = Response::new();
    doc.push(Verb::Speak(Speak::Say {
        text: format!(
            "Hello {name}. Your status is {status}. This is where your self-service app takes over. Goodbye."
        ),
        voice: None,
        language: None,
    }));
    doc.push(Verb::Hangup);
    twiml(&doc)
}
