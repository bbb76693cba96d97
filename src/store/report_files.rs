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
}

type FileRow = (String, String, String, String, String, i64, i64);
/// A [`FileRow`] and the file's bytes in base64.
type FileWithBody = (String, String, String, String, String, i64, i64, String);

fn file_of((name, schedule, period_start, period_end, format, created_at, bytes): FileRow) -> ReportFile {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    ReportFile { name, schedule, period_start, period_end, format, created_at: count(created_at), bytes: count(bytes) }
}

const COLUMNS: &str = "name, schedule, period_start, period_end, format, created_at, bytes";

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

    /// Stores a run's files and marks it done, in one transaction.
    pub async fn finish_report_run(
        &self,
        files: &[(ReportFile, Vec<u8>)],
        (schedule, period_start): (&str, &str),
        now: u64,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(super::db::write_begin(pool)).await?;
            for (f, body) in files {
                sqlx::query(
                    "INSERT INTO report_files (name, schedule, period_start, period_end, format, created_at, bytes, body) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
                )
                .bind(&f.name)
                .bind(&f.schedule)
                .bind(&f.period_start)
                .bind(&f.period_end)
                .bind(&f.format)
                .bind(to_i64(f.created_at))
                .bind(to_i64(f.bytes))
                .bind(base64::engine::general_purpose::STANDARD.encode(body))
                .execute(&mut *tx)
                .await?;
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
        Ok(row.and_then(|(name, schedule, start, end, format, created_at, bytes, body)| {
            let body = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
            Some((file_of((name, schedule, start, end, format, created_at, bytes)), body))
        }))
    }

    /// Deletes the files created before `before`; how many.
    pub async fn purge_report_files(&self, before: u64) -> Result<u64, sqlx::Error> {
        let _turn = self.write_turn().await;
        let sql = "DELETE FROM report_files WHERE created_at < $1";
        Ok(on_pool!(self, pool => sqlx::query(sql).bind(to_i64(before)).execute(pool).await?.rows_affected()))
    }
}
