//! Scheduled reports' files in the database ([`crate::report::schedule`]
//! writes them): each schedule's period is a run, claimed by inserting its
//! row, so one instance writes it however many share the database; the
//! files are kept here, so any instance serves them at `/reports/files`.

use super::db::{on_pool, to_i64, Db};
use base64::Engine as _;

/// A run claimed this long ago and not done is taken over (its instance
/// died while writing).
pub const RUN_STALE_AFTER: u64 = 600;

/// A stored file, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub name: String,
    pub schedule: String,
    /// The period the report covers, both days included (YYYY-MM-DD).
    pub period_start: String,
    pub period_end: String,
    /// `csv`, `xlsx` or `pdf`.
    pub format: String,
    pub created_at: u64,
    pub bytes: u64,
    /// A call list (customer data), not a report of counts.
    pub lists_calls: bool,
}

type FileRow = (String, String, String, String, String, i64, i64, i64);
/// A [`FileRow`] and the file's bytes in base64.
type FileWithBody = (String, String, String, String, String, i64, i64, i64, String);

fn file_of((name, schedule, period_start, period_end, format, created_at, bytes, lists_calls): FileRow) -> ReportFile {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    ReportFile {
        name,
        schedule,
        period_start,
        period_end,
        format,
        created_at: count(created_at),
        bytes: count(bytes),
        lists_calls: lists_calls != 0,
    }
}

/// CallSids as the one-column rows of a [`super::db::json_rows`] statement.
fn sids_json(sids: &[String]) -> String {
    super::db::json(&sids.iter().map(|c| (c.as_str(),)).collect::<Vec<_>>())
}

const COLUMNS: &str = "name, schedule, period_start, period_end, format, created_at, bytes, lists_calls";

/// A run's file to store: its description, its bytes, and the calls it
/// lists (a call list's; none for a report of counts).
pub type RunFile = (ReportFile, Vec<u8>, Vec<String>);

impl Db {
    /// Claims `schedule`'s run for the period starting `period_start`:
    /// true when this caller is to write it (the first, or taking over a
    /// run claimed before `now - RUN_STALE_AFTER` and never done).
    pub async fn claim_report_run(&self, schedule: &str, period_start: &str, now: u64) -> Result<bool, sqlx::Error> {
        let _turn = self.write_turn().await;
        let stale_before = to_i64(now.saturating_sub(RUN_STALE_AFTER));
        on_pool!(self, pool => {
            let inserted = sqlx::query(
                "INSERT INTO report_runs (schedule, period_start, claimed_at, done_at) VALUES ($1, $2, $3, NULL) \
                 ON CONFLICT (schedule, period_start) DO NOTHING",
            )
            .bind(schedule)
            .bind(period_start)
            .bind(to_i64(now))
            .execute(pool)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(true);
            }
            let taken = sqlx::query(
                "UPDATE report_runs SET claimed_at = $3 \
                 WHERE schedule = $1 AND period_start = $2 AND done_at IS NULL AND claimed_at < $4",
            )
            .bind(schedule)
            .bind(period_start)
            .bind(to_i64(now))
            .bind(stale_before)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(taken == 1)
        })
    }

    /// Whether `schedule`'s run for the period starting `period_start` is done.
    pub async fn report_run_done(&self, schedule: &str, period_start: &str) -> Result<bool, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM report_runs WHERE schedule = $1 AND period_start = $2 AND done_at IS NOT NULL";
        let n: i64 =
            on_pool!(self, pool => sqlx::query_scalar(sql).bind(schedule).bind(period_start).fetch_one(pool).await?);
        Ok(n > 0)
    }

    /// Stores a run's files (and the calls a call list lists) and marks
    /// it done, in one transaction.
    pub async fn finish_report_run(
        &self,
        files: &[RunFile],
        (schedule, period_start): (&str, &str),
        now: u64,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
            for (f, body, calls) in files {
                let stored = sqlx::query(
                    "INSERT INTO report_files (name, schedule, period_start, period_end, format, created_at, bytes, body, lists_calls) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&f.name)
                .bind(&f.schedule)
                .bind(&f.period_start)
                .bind(&f.period_end)
                .bind(&f.format)
                .bind(to_i64(f.created_at))
                .bind(to_i64(f.bytes))
                .bind(base64::engine::general_purpose::STANDARD.encode(body))
                .bind(i64::from(f.lists_calls))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if stored == 1 && !calls.is_empty() {
                    sqlx::query(&format!(
                        "INSERT INTO report_file_calls (call_sid, name) SELECT c0, $2 FROM ({}) AS v WHERE true \
                         ON CONFLICT DO NOTHING",
                        super::db::json_rows(matches!(self, Db::Postgres(_)), &["text"])
                    ))
                    .bind(sids_json(calls))
                    .bind(&f.name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            sqlx::query("UPDATE report_runs SET done_at = $3 WHERE schedule = $1 AND period_start = $2")
                .bind(schedule)
                .bind(period_start)
                .bind(to_i64(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The stored files, newest first, at most `limit`.
    pub async fn report_files(&self, limit: usize) -> Result<Vec<ReportFile>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM report_files ORDER BY created_at DESC, name LIMIT $1");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<FileRow> = on_pool!(self, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(file_of).collect())
    }

    /// The file named `name` and its bytes.
    pub async fn report_file(&self, name: &str) -> Result<Option<(ReportFile, Vec<u8>)>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS}, body FROM report_files WHERE name = $1");
        let row: Option<FileWithBody> =
            on_pool!(self, pool => sqlx::query_as(&sql).bind(name).fetch_optional(pool).await?);
        Ok(row.and_then(|(name, schedule, start, end, format, created_at, bytes, lists_calls, body)| {
            let body = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
            Some((file_of((name, schedule, start, end, format, created_at, bytes, lists_calls)), body))
        }))
    }

    /// Deletes the files created before `before`, and the call lists
    /// created before `calls_before` (they hold customer data: they go
    /// with the records); how many.
    pub async fn purge_report_files(&self, before: u64, calls_before: u64) -> Result<u64, sqlx::Error> {
        let _turn = self.write_turn().await;
        let gone = "(created_at < $1 OR (lists_calls = 1 AND created_at < $2))";
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
            sqlx::query(&format!("DELETE FROM report_file_calls WHERE name IN (SELECT name FROM report_files WHERE {gone})"))
                .bind(to_i64(before))
                .bind(to_i64(calls_before))
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query(&format!("DELETE FROM report_files WHERE {gone}"))
                .bind(to_i64(before))
                .bind(to_i64(calls_before))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Rewrites every stored call list that lists one of `call_sids`
    /// without their rows (an erasure); the files rewritten, with their
    /// new bytes.
    pub async fn erase_calls_from_files(
        &self,
        call_sids: &[String],
    ) -> Result<Vec<(ReportFile, Vec<u8>)>, sqlx::Error> {
        if call_sids.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let pg = matches!(self, Db::Postgres(_));
        let sids = sids_json(call_sids);
        let listed = format!("SELECT c0 FROM ({}) AS v", super::db::json_rows(pg, &["text"]));
        let find = format!(
            "SELECT {COLUMNS}, body FROM report_files WHERE name IN \
             (SELECT name FROM report_file_calls WHERE call_sid IN ({listed})) ORDER BY name"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
            let rows: Vec<FileWithBody> = sqlx::query_as(&find).bind(&sids).fetch_all(&mut *tx).await?;
            let mut rewritten = Vec::with_capacity(rows.len());
            for (name, schedule, start, end, format, created_at, bytes, lists_calls, body) in rows {
                let Ok(body) = base64::engine::general_purpose::STANDARD.decode(body) else { continue };
                let (body, _) = crate::report::calls::without_calls(&body, call_sids);
                sqlx::query("UPDATE report_files SET body = $2, bytes = $3 WHERE name = $1")
                    .bind(&name)
                    .bind(base64::engine::general_purpose::STANDARD.encode(&body))
                    .bind(to_i64(body.len() as u64))
                    .execute(&mut *tx)
                    .await?;
                let mut file = file_of((name, schedule, start, end, format, created_at, bytes, lists_calls));
                file.bytes = body.len() as u64;
                rewritten.push((file, body));
            }
            sqlx::query(&format!("DELETE FROM report_file_calls WHERE call_sid IN ({listed})"))
                .bind(&sids)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rewritten)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, lists_calls: bool, created_at: u64) -> ReportFile {
        ReportFile {
            name: name.into(),
            schedule: "s".into(),
            period_start: "2026-12-01".into(),
            period_end: "2026-12-01".into(),
            format: "csv".into(),
            created_at,
            bytes: 0,
            lists_calls,
        }
    }

    /// A report and a call list: an erasure rewrites the list alone, and
    /// retention deletes the list with the records, the report after
    /// `keep_days`.
    async fn call_lists_go_with_their_calls(db: Db) {
        let list = b"call_sid,customer_name\nCA1,Ada\nCA2,Grace\nCA3,Ada\n".to_vec();
        let report = b"date,calls\n2026-12-01,3\n".to_vec();
        let files = [
            (file("s_report.csv", false, 1_000), report.clone(), Vec::new()),
            (file("s_calls.csv", true, 1_000), list, vec!["CA1".into(), "CA2".into(), "CA3".into()]),
        ];
        db.finish_report_run(&files, ("s", "2026-12-01"), 1_000).await.unwrap();
        let kinds: Vec<(String, bool)> =
            db.report_files(10).await.unwrap().into_iter().map(|f| (f.name, f.lists_calls)).collect();
        assert_eq!(kinds, [("s_calls.csv".to_string(), true), ("s_report.csv".to_string(), false)]);

        let rewritten = db.erase_calls_from_files(&["CA1".into(), "CA3".into(), "CA9".into()]).await.unwrap();
        let names: Vec<&str> = rewritten.iter().map(|(f, _)| f.name.as_str()).collect();
        assert_eq!(names, ["s_calls.csv"], "the report lists no calls");
        let (f, body) = db.report_file("s_calls.csv").await.unwrap().unwrap();
        assert_eq!((body.as_slice(), f.bytes), (&b"call_sid,customer_name\nCA2,Grace\n"[..], 33));
        assert!(db.erase_calls_from_files(&["CA1".into()]).await.unwrap().is_empty(), "erased once");
        assert_eq!(db.report_file("s_report.csv").await.unwrap().unwrap().1, report);

        assert_eq!(db.purge_report_files(0, 1_000).await.unwrap(), 0, "nothing older");
        assert_eq!(db.purge_report_files(0, 1_001).await.unwrap(), 1, "the call list goes with the records");
        assert!(db.report_file("s_calls.csv").await.unwrap().is_none());
        assert!(db.erase_calls_from_files(&["CA2".into()]).await.unwrap().is_empty(), "nothing lists CA2 now");
        assert_eq!(db.purge_report_files(1_001, 0).await.unwrap(), 1, "the report after keep_days");
    }

    #[tokio::test]
    async fn on_sqlite_call_lists_go_with_their_calls() {
        let (db, _dir) = crate::store::db::tests::sqlite_db().await;
        call_lists_go_with_their_calls(db).await;
    }

    #[tokio::test]
    async fn on_postgres_call_lists_go_with_their_calls() {
        let Some(schemas) = crate::store::db::tests::postgres_schemas("call_lists", 1).await else { return };
        call_lists_go_with_their_calls(schemas.dbs[0].clone()).await;
        schemas.drop().await;
    }
}
