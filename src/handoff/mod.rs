//! Handing a finished call on: the TwiML verb for each handoff variant a
//! Twilio contact center uses, each carrying the context its receiver can
//! read (an encrypted token, Task attributes, `<Parameter>`s, SIP headers, a
//! whisper). Pure: links and tokens are signed with the time passed in.
//!
//! What Twilio requests (a redirect's URL, the whisper, the screen-pop
//! link) names no customer in the clear: a redirect carries them in an
//! encrypted token unless its line opts in to `context = "plain"`. What is
//! meant for the business's own agent systems (Task attributes, SIP `x-`
//! headers, `<Parameter>`s) carries the context by design, and Twilio's
//! logs keep it too; `handoff_customer_name = false` leaves the name out.

pub mod context;
pub mod sip;
pub mod token;
pub mod whisper;

use crate::config::{DialTo, Handoff, Line, RedirectContext};
use crate::flow::HandoffContext;
use crate::keyring::links::ScreenPopLinks;
use crate::paths::{self, Urls};
use crate::twilio::twiml::{Dial, DialNoun, Task, Verb};

pub use token::{HandoffClaims, HandoffTokens};

/// The URLs and signed links a handoff of one call carries, as of `now`.
pub struct Links<'a> {
    pub urls: &'a Urls,
    /// The call being handed on.
    pub call_sid: &'a str,
    /// Unix seconds, for link and token expiry.
    pub now: u64,
    pub screen_pops: &'a ScreenPopLinks,
    pub tokens: &'a HandoffTokens,
}

impl Links<'_> {
    /// The agent's screen pop for this call: a signed, expiring absolute link.
    pub fn screen_pop(&self) -> String {
        self.urls.absolute(&self.screen_pops.sign(&paths::screen_pop(self.call_sid), self.now))
    }
}

/// The context as `line` hands it on: without the customer's name when the
/// line keeps it out of handoffs.
pub fn shared(line: &Line, context: &HandoffContext) -> HandoffContext {
    let mut shared = context.clone();
    if !line.handoff_customer_name {
        shared.customer_name = None;
    }
    shared
}

/// The verb that hands the call on over `handoff`, from `line`.
pub fn verb(line: &Line, handoff: &Handoff, context: &HandoffContext, links: &Links<'_>) -> Verb {
    let urls = links.urls;
    let context = &shared(line, context);
    match handoff {
        Handoff::Redirect { url, context: carried } => redirect(url, *carried, context, links),
        Handoff::Enqueue { queue, workflow_sid, wait_url, task_priority, task_timeout_secs } => Verb::Enqueue {
            queue: queue.clone(),
            workflow_sid: workflow_sid.clone(),
            wait_url: wait_url.as_deref().map(|u| urls.resolve(u)),
            task: workflow_sid.as_ref().map(|_| Task {
                json: context::task_attributes(context, &links.screen_pop()),
                priority: *task_priority,
                timeout_secs: *task_timeout_secs,
            }),
        },
        Handoff::Dial { to, caller_id, timeout_secs, answer_on_bridge, whisper } => {
            let url = whisper.then(|| urls.whisper(links.call_sid));
            let noun = match to {
                DialTo::Number(number) => DialNoun::Number { number: number.clone(), url },
                DialTo::Client(identity) => {
                    let mut params: Vec<(String, String)> =
                        context::pairs(context).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                    params.push(("screen_pop_url".into(), links.screen_pop()));
                    DialNoun::Client { identity: identity.clone(), url, params }
                }
                DialTo::Sip(base) => DialNoun::Sip { uri: sip::uri(base, context), url },
            };
            Verb::Dial(Dial {
                action: Some(urls.dialed(&line.name)),
                timeout_secs: *timeout_secs,
                caller_id: caller_id.clone(),
                answer_on_bridge: Some(*answer_on_bridge),
                noun,
            })
        }
    }
}

/// The names a redirect may carry in the clear: none names the customer.
const CLEAR_NAMES: [&str; 6] = ["idv_status", "idv_method", "service_line", "opted_out", "ani_attestation", "lockout"];

/// The redirect URL with the context appended: encrypted, the names that
/// name no customer and the encrypted `token`; plain, every name and a
/// signed `token`.
fn redirect(url: &str, carried: RedirectContext, context: &HandoffContext, links: &Links<'_>) -> Verb {
    let resolved = links.urls.resolve(url);
    let Ok(mut target) = url::Url::parse(&resolved) else {
        // Checked at configuration time; never reached.
        return Verb::Redirect { url: resolved };
    };
    {
        let mut q = target.query_pairs_mut();
        for (k, v) in context::pairs(context) {
            if carried == RedirectContext::Plain || CLEAR_NAMES.contains(&k) {
                q.append_pair(k, &v);
            }
        }
        let token = match carried {
            RedirectContext::Encrypted => Some(links.tokens.issue_encrypted(context, links.call_sid, links.now)),
            RedirectContext::Plain => links.tokens.issue(context, links.call_sid, links.now),
        };
        if let Some(token) = token {
            q.append_pair("token", &token);
        }
    }
    Verb::Redirect { url: target.to_string() }
}
