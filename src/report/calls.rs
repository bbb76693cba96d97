//! Call lists: the calls behind a figure as CSV, XLSX or PDF
//! (`/reports/calls?…&format=…`) and a schedule's period of calls (`calls =
//! true`, CSV). These hold customer
//! data: who may read them, and what an erasure does to a stored one, is
//! decided where they are served and kept.

use crate::config::LineTimeZone;
use crate::store::{CallFilter, CallRecord, Db, FigurePages};

/// A call list's header: CallSid first (an erasure finds a call's row by it).
pub const CSV_HEADER: [&str; 14] = [
    "call_sid",
    "started",
    "line",
    "caller",
    "customer_id",
    "customer_name",
    "idv_method",
    "idv_status",
    "outcome",
    "ivr_seconds",
    "crm_asked",
    "crm_failed",
    "queue",
    "agent",
];

/// A text cell that a spreadsheet would not take for a formula.
fn plain(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// One call as a CSV record, its start in `zone`.
pub fn csv_record(r: &CallRecord, zone: &LineTimeZone) -> [String; 14] {
    [
        r.call_sid.clone(),
        zone.format(r.started_at),
        r.service_line.clone(),
        r.caller.clone(),
        plain(r.customer_id.as_deref().unwrap_or("")),
        plain(r.customer_name.as_deref().unwrap_or("")),
        r.idv_method.as_str().into(),
        r.idv_status.as_str().into(),
        r.outcome.as_str().into(),
        r.handed_off_at.map_or_else(String::new, |at| at.saturating_sub(r.started_at).to_string()),
        r.crm_asked.to_string(),
        r.crm_failed.to_string(),
        plain(r.queue.as_deref().unwrap_or("")),
        plain(r.agent.as_deref().unwrap_or("")),
    ]
}

/// A list of calls' columns as its page shows them, and its XLSX file
/// (the PDF's are the same but the CallSid, which the page links by).
pub const SHOWN_HEADER: [&str; 11] = [
    "Started",
    "Customer",
    "Customer ID",
    "Line",
    "Identified by",
    "ID&V",
    "Outcome",
    "Time in the IVR",
    "Queue",
    "Agent",
    "Call SID",
];

/// A call as a list of calls shows it: the words its page uses, in
/// [`SHOWN_HEADER`]'s order; with its start and its time in the IVR as
/// numbers too, for a spreadsheet.
#[derive(Debug, Clone)]
pub struct ShownCall {
    pub started_at: u64,
    pub started: String,
    pub customer: String,
    pub customer_id: String,
    pub line: String,
    pub method: String,
    pub status: String,
    pub outcome: String,
    pub ivr_seconds: Option<u64>,
    pub ivr: String,
    pub queue: String,
    pub agent: String,
    pub call_sid: String,
}

impl ShownCall {
    /// Its cells' texts, in [`SHOWN_HEADER`]'s order.
    pub fn texts(&self) -> [&str; 11] {
        [
            &self.started,
            &self.customer,
            &self.customer_id,
            &self.line,
            &self.method,
            &self.status,
            &self.outcome,
            &self.ivr,
            &self.queue,
            &self.agent,
            &self.call_sid,
        ]
    }
}

/// How many calls a list reads from the database at a time.
const CHUNK: usize = 500;

/// The calls of `lines` started in `[from, to)`, line by line, each in the
/// order they started, as a CSV call list; and their CallSids.
pub async fn list(
    db: &Db,
    lines: &[String],
    (from, to): (u64, u64),
    zone: &LineTimeZone,
) -> Result<(Vec<u8>, Vec<String>), sqlx::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut sids = Vec::new();
    let failed = |e: csv::Error| sqlx::Error::Protocol(format!("a call list could not be written: {e}"));
    w.write_record(CSV_HEADER).map_err(failed)?;
    for line in lines {
        let mut pages = FigurePages::new("calls", (Some(line.clone()), CallFilter::default()), (from, to), CHUNK);
        while let Some(page) = pages.next(db).await? {
            for r in &page {
                w.write_record(csv_record(r, zone)).map_err(failed)?;
                sids.push(r.call_sid.clone());
            }
        }
    }
    let body = w.into_inner().map_err(|e| sqlx::Error::Protocol(format!("a call list could not be written: {e}")))?;
    Ok((body, sids))
}

/// `body` (a call list) without the rows of `call_sids`; how many it
/// dropped. A body that is not a call list is returned as it is.
pub fn without_calls(body: &[u8], call_sids: &[String]) -> (Vec<u8>, usize) {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut dropped = 0;
    for record in reader.records() {
        let Ok(record) = record else { return (body.to_vec(), 0) };
        if record.get(0).is_some_and(|sid| call_sids.iter().any(|s| s == sid)) {
            dropped += 1;
            continue;
        }
        if w.write_record(&record).is_err() {
            return (body.to_vec(), 0);
        }
    }
    match w.into_inner() {
        Ok(out) => (out, dropped),
        Err(_) => (body.to_vec(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erased_call_leaves_the_list_and_every_other_row_stays_as_it_was() {
        let body = "call_sid,started,customer_name\nCA1,2026-12-01 10:00,\"Ada, Countess\"\nCA2,2026-12-01 11:00,'=Grace\nCA3,2026-12-01 12:00,Zoë \"Z\"\n";
        let (out, dropped) = without_calls(body.as_bytes(), &["CA2".to_string()]);
        assert_eq!(dropped, 1);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "call_sid,started,customer_name\nCA1,2026-12-01 10:00,\"Ada, Countess\"\nCA3,2026-12-01 12:00,\"Zoë \"\"Z\"\"\"\n"
        );
        let (again, none) = without_calls(text.as_bytes(), &["CA2".to_string()]);
        assert_eq!((none, again), (0, text.into_bytes()), "a second erasure finds nothing");
    }

    #[test]
    fn a_formula_is_kept_as_text() {
        assert_eq!((plain("=1+1"), plain("+44"), plain("Ada")), ("'=1+1".into(), "'+44".into(), "Ada".into()));
    }
}
