//! What Twilio does past a handoff: for an `<Enqueue waitUrl>` it fetches the
//! hold document for the waiting caller; for a `<Dial>` it rings the agent,
//! runs the noun's `url` document (the whisper) on the agent's leg once they
//! answer, and reports how the dial ended to the Dial's `action`.

use super::call::{new_call_sid, speak, Agent, CallSpec, Phone, SimError, Transcript};
use super::twiml::{Node, TwimlError};
use crate::twilio::form::Params;
use rand::Rng;

/// Verbs a `<Number|Client|Sip url>` document may use (Twilio refuses `<Dial>` there).
const WHISPER_VERBS: &[&str] = &["Say", "Play", "Pause", "Gather", "Hangup"];
/// Verbs an `<Enqueue waitUrl>` document may use.
const WAIT_VERBS: &[&str] = &["Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"];

/// How a dialled leg ended: the parameters for the Dial's action request.
pub(super) struct DialLeg {
    pub bridged: bool,
    pub params: Vec<(String, String)>,
}

fn check_verbs(doc: &Node, allowed: &[&str], url: &str, what: &str) -> Result<(), SimError> {
    match doc.children.iter().find(|v| !allowed.contains(&v.name.as_str())) {
        None => Ok(()),
        Some(v) => Err(SimError::Twiml {
            url: url.to_string(),
            error: TwimlError { code: 12200, message: format!("<{}> is not allowed in {what}", v.name) },
        }),
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn pairs(list: &[(&str, String)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

impl Phone {
    /// Rings the party `dial` names, as `spec.agent` says it behaves.
    pub(super) async fn dial(
        &self,
        spec: &CallSpec,
        call_params: &[(String, String)],
        current: &str,
        dial: &Node,
        t: &mut Transcript,
    ) -> Result<DialLeg, SimError> {
        let agent_sid = new_call_sid();
        let mut declined = false;
        // A Queue noun's url runs on the dequeued caller's leg, not an agent's.
        let noun = dial.children.first().filter(|n| n.name != "Queue");
        if let (Agent::Answers, Some((noun, url))) = (spec.agent, noun.and_then(|n| n.attr("url").map(|u| (n, u)))) {
            let url = self.resolve(current, url)?;
            let to = match noun.name.as_str() {
                "Client" => {
                    let id =
                        noun.children.iter().find(|c| c.name == "Identity").map_or(noun.text.trim(), |c| c.text.trim());
                    format!("client:{id}")
                }
                _ => noun.text.trim().to_string(),
            };
            let from = dial.attr("callerId").unwrap_or(param(call_params, "From")).to_string();
            let params = Params::from_pairs(pairs(&[
                ("CallSid", agent_sid.clone()),
                ("ParentCallSid", param(call_params, "CallSid").to_string()),
                ("AccountSid", param(call_params, "AccountSid").to_string()),
                ("From", from),
                ("To", to),
                ("CallStatus", "in-progress".into()),
                ("Direction", "outbound-dial".into()),
                ("ApiVersion", "2010-04-01".into()),
            ]));
            let doc = self.fetch(&url, &params, &mut t.requests).await?;
            check_verbs(&doc, WHISPER_VERBS, &url, "a <Dial> noun's url document")?;
            for verb in &doc.children {
                match verb.name.as_str() {
                    "Gather" => t.agent_heard.extend(verb.children.iter().map(speak)),
                    // The agent's document hung up: the caller is never bridged (the sim reports it unanswered).
                    "Hangup" => {
                        declined = true;
                        break;
                    }
                    _ => t.agent_heard.push(speak(verb)),
                }
            }
        }
        let bridged = spec.agent == Agent::Answers && !declined;
        let status = if declined { Agent::NoAnswer.dial_status() } else { spec.agent.dial_status() };
        let mut params = vec![
            ("DialCallStatus", status.to_string()),
            ("DialCallSid", agent_sid),
            ("DialBridged", bridged.to_string()),
        ];
        if bridged {
            params.push(("DialCallDuration", "60".into()));
        }
        Ok(DialLeg { bridged, params: pairs(&params) })
    }

    /// Fetches an Enqueue's wait document once, as Twilio does when the
    /// caller joins the queue. A wait URL on another host is not fetched.
    pub(super) async fn hold(
        &self,
        call_params: &[(String, String)],
        current: &str,
        wait_url: &str,
        t: &mut Transcript,
    ) -> Result<(), SimError> {
        let url = self.resolve(current, wait_url)?;
        if !url.starts_with(&self.public) {
            return Ok(());
        }
        let queue_sid = format!("QU{}", hex::encode(rand::thread_rng().gen::<[u8; 16]>()));
        let mut params = call_params.to_vec();
        params.extend(pairs(&[
            ("QueueSid", queue_sid),
            ("QueuePosition", "1".into()),
            ("QueueTime", "0".into()),
            ("AvgQueueTime", "0".into()),
            ("CurrentQueueSize", "1".into()),
            ("MaxQueueSize", "100".into()),
        ]));
        let doc = self.fetch(&url, &Params::from_pairs(params), &mut t.requests).await?;
        check_verbs(&doc, WAIT_VERBS, &url, "an <Enqueue> waitUrl document")?;
        t.hold.extend(doc.children.iter().filter(|v| matches!(v.name.as_str(), "Say" | "Play" | "Pause")).map(speak));
        Ok(())
    }
}
