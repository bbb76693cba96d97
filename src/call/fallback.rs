//! Twilio's Voice Fallback URL: what a caller hears when a request to the
//! primary URL failed (a 5xx, a refused connection, a timeout). The failed
//! request's URL (`ErrorUrl`) says where the call was: a prompt's entry
//! carries its sealed flow state, so the same prompt is asked again with
//! the same state (no try counted, the CRM not asked); a step that was
//! answered after all (its claim holds an answer) gets that answer. When
//! nothing can be recovered (the first webhook failed, an unknown or
//! expired state), the caller goes to the line's agent hand-off with what
//! the call's record knows (unidentified at worst). Never an error.

use super::{CallService, Turn};
use crate::clock::now;
use crate::config::Line;
use crate::flow::{Destination, Outcome, Reply, Stage};
use crate::paths::{self, Route};
use crate::render::{self, Then};
use crate::store::claims::{Claim, ClaimKey};
use crate::twilio::webhook::Webhook;

/// Where the failed request was, read from its URL.
enum Failed<'a> {
    /// A call's first webhook, on a line (or the one the number names).
    First(Option<&'a Line>),
    /// An entry at `stage` on `line`, with the state its URL carried.
    Entry { line: &'a Line, stage: Stage, token: String },
    /// Anything else: a URL Vouch does not know, a route that is no step.
    Unknown(Option<&'a Line>),
}

impl CallService {
    /// The TwiML for a request to the Fallback URL.
    pub async fn fallback(&self, hook: &Webhook) -> String {
        tracing::warn!(
            error_code = hook.error_code.as_deref().unwrap_or("-"),
            error_url = %hook.error_url.as_deref().map(paths::for_log).unwrap_or_default(),
            "Twilio requested the Fallback URL: the primary request failed"
        );
        match self.failed(hook) {
            Failed::Entry { line, stage, token } => self.prompt_again(hook, line, stage, token).await,
            Failed::First(line) => {
                // The first webhook may have been answered after all.
                match self.claims.claim(&ClaimKey::start(hook.call_sid.as_str())).await {
                    Claim::Answered(again) => again.to_string(),
                    Claim::Ours(ticket) => {
                        self.claims.release(ticket).await;
                        self.to_agent(hook, line, "the first webhook failed").await
                    }
                }
            }
            Failed::Unknown(line) => self.to_agent(hook, line, "the failed URL is not a step of a call").await,
        }
    }

    fn failed(&self, hook: &Webhook) -> Failed<'_> {
        let Some(url) = hook.error_url.as_deref().and_then(|u| url::Url::parse(u).ok()) else {
            return Failed::Unknown(None);
        };
        let Some(recognised) = paths::recognise(url.path()) else { return Failed::Unknown(None) };
        let line_param = |i: usize| recognised.params.get(i).and_then(|name| self.line(name));
        match recognised.route {
            Route::Voice => Failed::First(None),
            Route::VoiceOnLine => Failed::First(line_param(0)),
            Route::Entry => {
                let token = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned());
                match (line_param(0), recognised.stage(), token) {
                    (Some(line), Some(stage), Some(token)) => Failed::Entry { line, stage, token },
                    (line, _, _) => Failed::Unknown(line),
                }
            }
            Route::Dialed => Failed::Unknown(line_param(0)),
            _ => Failed::Unknown(None),
        }
    }

    /// The prompt at `stage` again, on the same state: no try is counted.
    /// The state's claim says whether the failed step ran after all.
    async fn prompt_again(&self, hook: &Webhook, line: &Line, stage: Stage, token: String) -> String {
        let sid = hook.call_sid.as_str();
        match self.signers.states.open(&token, sid, now()) {
            Ok(state) if state.stage == stage && state.line == line.name => {}
            Ok(_) => return self.to_agent(hook, Some(line), "the failed URL's state is for another step").await,
            Err(e) => {
                tracing::warn!(error = %e, "fallback: the failed URL's state is refused");
                return self.to_agent(hook, Some(line), "the failed URL's state is refused").await;
            }
        }
        match self.claims.claim(&ClaimKey::state(&token, sid)).await {
            Claim::Answered(again) => {
                tracing::info!("fallback: the failed step was answered after all: sending that answer");
                again.to_string()
            }
            Claim::Ours(ticket) => {
                // Free again for the caller's entry at the same prompt.
                self.claims.release(ticket).await;
                tracing::info!(stage = stage.as_str(), "fallback: asking again at the same prompt, no try counted");
                let now = now();
                let then = Then::Ask { stage, rules: line.rules.entry_rules(stage), state: token };
                render::document(line, &[], &then, &self.links(&hook.call_sid, now)).render()
            }
        }
    }

    /// The line's agent hand-off, with what the call's record knows.
    async fn to_agent(&self, hook: &Webhook, line: Option<&Line>, why: &str) -> String {
        let (context, line) = self.handed_on(&hook.call_sid, line).await;
        tracing::warn!(why, "fallback: handing the caller to an agent with the context known");
        let reply = Reply::Handoff {
            preface: vec![],
            to: Destination::Agent,
            outcome: Outcome::Agent,
            context,
            identify_attempts: 0,
            verify_attempts: 0,
        };
        let turn = Turn::of(line, reply, |_| String::new(), false, crate::store::timeline::now_ms());
        let body =
            render::document(turn.line, &turn.preface, &turn.then, &self.links(&hook.call_sid, turn.now)).render();
        // The record says the call went to an agent (a new record, when the
        // first webhook never made one).
        self.keep_record(hook, &turn).await;
        body
    }
}
