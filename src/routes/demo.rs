//! A stand-in self-service app for the demo configuration: it opens the
//! token Vouch redirected with (an encrypted JWE by default, a signed JWT
//! on a line with `context = "plain"`), as a real app should, and says the
//! context it vouches for, so a newcomer hears the end of the flow. A real
//! line redirects to the business's own app instead.

use super::{twiml, AppState};
use crate::twilio::twiml::{Response, Speak, Verb};
use crate::twilio::webhook::Webhook;
use actix_web::web;

pub async fn self_service(state: web::Data<AppState>, hook: Webhook) -> actix_web::HttpResponse {
    let q = &hook.query;
    let line = q.get("service_line").unwrap_or("");
    let checked = match q.get("token") {
        // A JWE has five parts, a JWT three.
        Some(token) if token.split('.').count() == 5 => {
            state.tokens.open_encrypted(token, line, crate::clock::now()).map_err(|e| e.to_string())
        }
        Some(token) => state.tokens.verify(token, line).map_err(|e| e.to_string()),
        None => Err("no token".to_string()),
    };
    let text = match checked {
        // The token is bound to the call it was issued on.
        Ok(claims) if claims.sub == hook.call_sid.as_str() => {
            let name = Some(claims.customer_name.as_str()).filter(|n| !n.is_empty()).unwrap_or("caller");
            format!(
                "Hello {name}. Your status is {}. This is where your self-service app takes over. Goodbye.",
                claims.idv_status
            )
        }
        Ok(_) => refused(&"token issued for another call"),
        Err(why) => refused(&why),
    };
    let mut doc = Response::new();
    doc.push(Verb::Speak(Speak::Say { text, voice: None, language: None }));
    doc.push(Verb::Hangup);
    twiml(doc.render())
}

fn refused(why: &dyn std::fmt::Display) -> String {
    tracing::warn!(reason = %why, "self-service demo refused the handoff token");
    "Sorry, this handoff could not be checked. Goodbye.".to_string()
}
