//! `vouch report`: the same report as `/reports/export` (CSV, XLSX, PDF),
//! from the configured database, to a file or standard output; bad filters
//! exit with the option at fault.

use crate::exports::{cell_text, pdf_row, pdf_text, squeezed, xlsx_rows};
use crate::support::run;
use vouch::config::DatabaseUrl;
use vouch::store::{CallRecord, Db, RecordOutcome};

#[tokio::test]
async fn a_report_is_written_from_the_database_for_a_batch_job() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vouch.db").display());
    let db = Db::open(&DatabaseUrl::parse(&url, "DATABASE_URL").unwrap()).await.unwrap().unwrap();
    // Two calls at 2026-11-03 10:00 UTC, one at 23:30 UTC.
    let (morning, night) = (1_793_700_000, 1_793_748_600);
    let mut records = Vec::new();
    for (i, at) in [morning, morning + 60, night].into_iter().enumerate() {
        let mut r = CallRecord::new(&format!("CA{i:032}"), "support", "+1********01".into(), at);
        // The late call went to self-service, the others to an agent.
        r.outcome = if at == night { RecordOutcome::SelfService } else { RecordOutcome::Agent };
        r.handed_off_at = Some(at + 30);
        records.push(r);
    }
    db.merge_all(&records.iter().collect::<Vec<_>>()).await.unwrap();
    db.close().await;
    let env = [("DATABASE_URL", url.as_str())];

    let args = ["report", "--from", "2026-11-02", "--to", "2026-11-04", "--tz", "UTC", "--out", "-"];
    let (out, stdout, stderr) = run(&args, &env);
    assert!(out.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("date,line,calls,"), "{stdout}");
    let calls: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0], f[2])
        })
        .collect();
    assert_eq!(calls, [("2026-11-02", "0"), ("2026-11-03", "3"), ("2026-11-04", "0"), ("total", "3")]);

    // Cut in Tokyo's days instead, the late call falls on the 4th.
    let tokyo = ["report", "--from", "2026-11-03", "--to", "2026-11-04", "--tz", "Asia/Tokyo", "--out", "-"];
    let (_, stdout, _) = run(&tokyo, &env);
    let days: Vec<&str> = stdout.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(days, ["2", "1", "3"], "10:00 UTC is 19:00 on the 3rd in Tokyo, 23:30 UTC is 08:30 on the 4th");

    let file = dir.path().join("nov.csv");
    let args = ["report", "--from", "2026-11-03", "--to", "2026-11-03", "--tz", "UTC", "--by", "hour", "--out"];
    let (out, _, stderr) = run(&[&args[..], &[file.to_str().unwrap()]].concat(), &env);
    assert!(out.status.success(), "{stderr}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), 1 + 24 + 1, "a header, 24 hours, the total");
    assert!(written.lines().nth(11).unwrap().starts_with("2026-11-03 10:00 UTC,all,2,"), "{written}");

    // The same report as a workbook and as a PDF, for a batch job's mail.
    let (xlsx, pdf) = (dir.path().join("nov.xlsx"), dir.path().join("nov.pdf"));
    for (format, path) in [("xlsx", &xlsx), ("pdf", &pdf)] {
        let args = ["report", "--from", "2026-11-02", "--to", "2026-11-04", "--tz", "UTC", "--format", format, "--out"];
        let (out, _, stderr) = run(&[&args[..], &[path.to_str().unwrap()]].concat(), &env);
        assert!(out.status.success(), "{format}: {stderr}");
    }
    let (_, cells) = xlsx_rows(&std::fs::read(&xlsx).unwrap());
    let first_row = vouch::report::xlsx::HEADER_ROW as usize + 1;
    let days: Vec<(String, String)> = cells[first_row..].iter().map(|r| (cell_text(&r[0]), cell_text(&r[1]))).collect();
    let want = [("2026-11-02", "0"), ("2026-11-03", "3"), ("2026-11-04", "0"), ("Total", "3")];
    assert_eq!(days, want.map(|(d, n)| (d.to_string(), n.to_string())));
    let pdf = std::fs::read(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    if let Some(text) = pdf_text(&pdf) {
        assert!(
            pdf_row(&text, "2026-11-03").is_some_and(|row| row.starts_with(&squeezed(["2026-11-03", "3"]))),
            "{text}"
        );
        assert!(text.contains("From: 2026-11-02") && text.contains("3 (100%)"), "{text}");
    }

    // Only the calls handed to an agent.
    let args = ["report", "--from", "2026-11-03", "--to", "2026-11-04", "--tz", "UTC", "--outcome", "agent"];
    let (out, stdout, stderr) = run(&[&args[..], &["--out", "-"]].concat(), &env);
    assert!(out.status.success(), "{stderr}");
    let calls: Vec<&str> = stdout.lines().skip(1).map(|l| l.split(',').nth(2).unwrap()).collect();
    assert_eq!(calls, ["2", "0", "2"], "the late self-service call is not counted");

    for (bad, words) in [
        (&["report", "--outcome", "won"][..], "--outcome: \"won\" is not one of any, self_service"),
        (&["report", "--method", "voice"], "--method: \"voice\" is not one of any, ani"),
        (&["report", "--from", "soon"][..], "--from: \"soon\" is not a date"),
        (&["report", "--line", "nope"], "--line: no line is named"),
        (&["report", "--from", "2020-01-01", "--to", "2026-01-01"], "at most 400 days"),
        (&["report", "--format", "docx"], "invalid value 'docx' for '--format"),
    ] {
        let (out, stdout, stderr) = run(bad, &env);
        assert!(!out.status.success(), "{bad:?}: {stdout}");
        assert!(stderr.contains(words), "{bad:?}: {stderr}");
    }
    let (out, _, stderr) = run(&["report"], &[("DATABASE_URL", "memory:")]);
    assert!(!out.status.success() && stderr.contains("no call records to report on"), "{stderr}");
}
