//! What `vouch crm-test` shows: the engine, when given a [`Trace`], writes
//! each step into it as it goes (the request as sent, secrets masked; the
//! status; each pointer's result; the conclusion). The same code path runs
//! with or without one.

use std::sync::Mutex;

/// The steps of one or more actions, as text lines.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Mutex<Vec<String>>,
    failed: Mutex<bool>,
    matches: Mutex<Option<usize>>,
}

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a line.
    pub fn say(&self, line: impl Into<String>) {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).push(line.into());
    }

    /// Notes that the CRM failed (crm-test exits 1).
    pub fn fail(&self, line: impl Into<String>) {
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.say(line);
    }

    /// How many matches the last search listed.
    pub fn matched(&self, n: usize) {
        *self.matches.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
    }

    pub fn matches(&self) -> Option<usize> {
        *self.matches.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn failed(&self) -> bool {
        *self.failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the lines written so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
