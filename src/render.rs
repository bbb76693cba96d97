//! TwiML for one line, from what a step decided: the prompts it names, then
//! a Gather whose action carries the sealed state, or the handoff verb with
//! the context. Pure: the URLs, the signers, the time and the sealed state
//! are passed in, and nothing is decided here that the step already decided.

use crate::config::{Handoff, Line, Speech};
use crate::flow::{EntryRules, HandoffContext, Prompt, Stage};
use crate::handoff::{self, Links};
use crate::twilio::twiml::{Gather, Response, Speak, Verb};

/// What a document does after its prompts, as the step decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then<'l> {
    /// Ask at `stage`, entries held to `rules`; the action carries `state`, sealed.
    Ask { stage: Stage, rules: &'l EntryRules, state: String },
    /// Hand the call on over `handoff`, with `context`.
    Handoff { handoff: &'l Handoff, context: HandoffContext },
}

fn speak(s: &Speech) -> Speak {
    match s {
        Speech::Say { text, voice, language } => {
            Speak::Say { text: text.clone(), voice: voice.clone(), language: language.clone() }
        }
        Speech::Play { url } => Speak::Play { url: url.clone(), loops: None },
    }
}

/// The line's configured speech for `names`, skipping silenced prompts.
pub fn prompts(line: &Line, names: &[Prompt]) -> Vec<Speak> {
    names.iter().filter_map(|p| line.speech(*p)).map(speak).collect()
}

/// A document of `line`'s prompts alone (hold, connecting…).
pub fn saying(line: &Line, names: &[Prompt]) -> Response {
    let mut doc = Response::new();
    for s in prompts(line, names) {
        doc.push(Verb::Speak(s));
    }
    doc
}

/// The TwiML for a step: `preface`, then what `then` says.
pub fn document(line: &Line, preface: &[Prompt], then: &Then<'_>, links: &Links<'_>) -> Response {
    match then {
        Then::Ask { stage, rules, state } => {
            let ask = stage.prompt();
            let action = links.urls.entry(&line.name, *stage, state);
            let mut children = prompts(line, preface);
            children.extend(prompts(line, &[ask]));
            let mut doc = Response::new();
            doc.push(Verb::Gather(Gather {
                action: action.clone(),
                timeout_secs: line.gather_timeout_secs,
                finish_on_key: '#',
                num_digits: (rules.min_digits == rules.max_digits).then_some(rules.max_digits),
                children,
            }));
            // A Gather that times out falls through: come back with no Digits,
            // which the flow counts as a silent try.
            doc.push(Verb::Redirect { url: action });
            doc
        }
        Then::Handoff { handoff, context } => {
            let mut doc = saying(line, preface);
            doc.push(handoff::verb(line, handoff, context, links));
            doc
        }
    }
}
