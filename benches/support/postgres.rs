//! A PostgreSQL schema of a benchmark's own, in the database named by
//! `VOUCH_TEST_POSTGRES_URL`, dropped when the benchmark is done (shared by
//! the benchmarks through `#[path]`).

use sqlx::Connection;

pub struct Schema {
    /// The database URL with the schema as its search path.
    pub url: String,
    base: String,
    name: String,
}

impl Schema {
    /// A fresh schema named after `prefix` and this process; `None` when
    /// `VOUCH_TEST_POSTGRES_URL` is unset or PostgreSQL does not answer.
    pub async fn create(prefix: &str) -> Option<Self> {
        let base = std::env::var("VOUCH_TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty())?;
        let mut c = sqlx::PgConnection::connect(&base).await.ok()?;
        let name = format!("{prefix}_{}", std::process::id());
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).execute(&mut c).await.ok()?;
        sqlx::query(&format!("CREATE SCHEMA {name}")).execute(&mut c).await.ok()?;
        let mut url = url::Url::parse(&base).ok()?;
        url.query_pairs_mut().append_pair("options", &format!("-c search_path={name}"));
        Some(Self { url: url.to_string(), base, name })
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.base).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)).execute(&mut c).await;
        }
    }
}
