//! The terminal phone's keypad: prints what the caller heard since the last
//! Gather, then takes keys from `--keys` or from a line typed on stdin
//! (Enter alone is silence; once stdin closes, the caller stays silent).

use crate::sim::twiml::Node;
use crate::sim::{Heard, Keypad, Scripted};
use std::io::{BufRead, IsTerminal, Write};

/// Where keys come from.
pub enum Source {
    Scripted(Scripted),
    /// Lines from stdin; `closed` once it reached its end.
    Terminal {
        closed: bool,
    },
}

/// A keypad that prints the call as it goes.
pub struct Printer {
    source: Source,
    /// How many of the heard items are already printed.
    printed: usize,
}

/// Only what a phone keypad can send.
pub fn valid_keys(keys: &str) -> bool {
    keys.chars().all(|c| c.is_ascii_digit() || c == '#' || c == '*')
}

/// One heard item as printed; Gathers are printed when they ask.
pub fn heard_line(h: &Heard) -> Option<String> {
    match h {
        Heard::Say { text, voice, language } => {
            let how: Vec<&str> = voice.iter().chain(language.iter()).map(String::as_str).collect();
            Some(match how.is_empty() {
                true => format!("🔊 Say: {text}"),
                false => format!("🔊 Say ({}): {text}", how.join(", ")),
            })
        }
        Heard::Play { url } => Some(format!("▶ Play {url}")),
        Heard::Pause { seconds } => Some(format!("… pause {seconds}s")),
        Heard::Gather { .. } => None,
    }
}

/// What the Gather waits for, e.g. `4 digits, ends with #, 6 s timeout`.
pub fn gather_hint(g: &Node) -> String {
    let mut parts = Vec::new();
    if let Some(n) = g.attr("numDigits") {
        parts.push(format!("{n} digits"));
    }
    match g.attr("finishOnKey") {
        Some("") => {}
        Some(k) => parts.push(format!("ends with {k}")),
        None => parts.push("ends with #".into()),
    }
    parts.push(format!("{} s timeout", g.attr("timeout").unwrap_or("5")));
    parts.join(", ")
}

impl Printer {
    pub fn new(source: Source) -> Self {
        Self { source, printed: 0 }
    }

    /// Prints the heard items not printed yet.
    pub fn show(&mut self, heard: &[Heard]) {
        for h in heard.iter().skip(self.printed) {
            if let Some(line) = heard_line(h) {
                outln!("{line}");
            }
        }
        self.printed = heard.len();
    }

    fn read_terminal(closed: &mut bool, hint: &str) -> Option<String> {
        while !*closed {
            out!("☎ keys? ({hint}; Enter alone = silence) ");
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) | Err(_) => {
                    outln!("(stdin closed: silence from here on)");
                    *closed = true;
                }
                Ok(_) => {
                    let keys: String = line.chars().filter(|c| !c.is_whitespace()).collect();
                    if !std::io::stdin().is_terminal() {
                        // Piped keys are not echoed by a terminal: show them.
                        outln!("{}", if keys.is_empty() { "(silence)" } else { keys.as_str() });
                    }
                    if valid_keys(&keys) {
                        return (!keys.is_empty()).then_some(keys);
                    }
                    outln!("only 0-9, * and # can be keyed; try again");
                }
            }
        }
        None
    }
}

impl Keypad for Printer {
    fn keys(&mut self, heard: &[Heard], gather: &Node) -> Option<String> {
        self.show(heard);
        let hint = gather_hint(gather);
        match &mut self.source {
            Source::Scripted(script) => {
                let keys = script.keys(heard, gather);
                outln!("☎ keys? ({hint}) {}", keys.as_deref().unwrap_or("(silence)"));
                keys
            }
            Source::Terminal { closed } => Self::read_terminal(closed, &hint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heard_items_print_like_a_phone() {
        let say = Heard::Say { text: "Hi".into(), voice: Some("Polly.Joanna".into()), language: Some("en-US".into()) };
        assert_eq!(heard_line(&say).unwrap(), "🔊 Say (Polly.Joanna, en-US): Hi");
        let plain = Heard::Say { text: "Hi".into(), voice: None, language: None };
        assert_eq!(heard_line(&plain).unwrap(), "🔊 Say: Hi");
        assert_eq!(heard_line(&Heard::Pause { seconds: 2 }).unwrap(), "… pause 2s");
        assert_eq!(heard_line(&Heard::Play { url: "https://a/b.mp3".into() }).unwrap(), "▶ Play https://a/b.mp3");
    }

    #[test]
    fn gather_hints_name_what_ends_the_entry() {
        let g =
            crate::sim::twiml::parse(r##"<Response><Gather numDigits="4" timeout="6" finishOnKey="#"/></Response>"##)
                .unwrap();
        assert_eq!(gather_hint(&g.children[0]), "4 digits, ends with #, 6 s timeout");
        assert!(valid_keys("12*#") && valid_keys("") && !valid_keys("12a"));
    }
}
