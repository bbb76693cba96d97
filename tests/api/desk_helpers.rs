//! Helpers for the agent desk: users and an API token for the app under
//! test, logging in, opening pages, and signing screen-pop links with the
//! test's state secret (as the app does).

use crate::helpers::*;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use vouch::keyring::links::{ScreenPopLinks, SCREEN_POP_TTL_SECS};
use vouch::keyring::Keyring;
use vouch::paths::screen_pop as screen_pop_path;

pub const AGENT: &str = "ada.agent";
pub const AGENT_PASSWORD: &str = "agent password, long enough";
pub const SUPERVISOR: &str = "sam@example.com";
pub const SUPERVISOR_PASSWORD: &str = "supervisor password";
pub const API_TOKEN: &str = "api-token-for-the-flex-plugin-0123456789";
pub const ZOE_PHONE: &str = "+447700900123";
pub const ZOE_NAME: &str = "Zoë O'Brien & <Sons> \"Ltd\"";
pub const ZOE_PIN: &str = "5555";

/// The users document (`VOUCH_USERS`), hashed once per test run: Argon2 is
/// slow on purpose.
pub fn users_toml() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let hash = |p: &str| vouch::auth::password::hash(p).expect("hash");
        format!(
            "[[users]]\nname = \"{AGENT}\"\nrole = \"agent\"\npassword_hash = \"{}\"\n\n\
             [[users]]\nname = \"{SUPERVISOR}\"\nrole = \"supervisor\"\npassword_hash = \"{}\"\n\n\
             [[tokens]]\nname = \"flex-plugin\"\nrole = \"agent\"\ntoken_hash = \"{}\"\n",
            hash(AGENT_PASSWORD),
            hash(SUPERVISOR_PASSWORD),
            hex::encode(Sha256::digest(API_TOKEN.as_bytes())),
        )
    })
    .clone()
}

/// The demo configuration with verified support callers enqueued for an
/// agent instead of sent to self-service.
pub fn agent_line_toml() -> String {
    vouch::config::DEMO_CONFIG
        .replace("type = \"redirect\"\nurl = \"/demo/self-service\"", "type = \"enqueue\"\nqueue = \"support\"")
}

/// A Vouch with the test users and API token.
pub async fn spawn_desk() -> TestApp {
    spawn_with(Options { toml: agent_line_toml(), env: vec![("VOUCH_USERS", users_toml())], ..Options::default() })
        .await
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A screen-pop link (path and query) signed as the app signs them, at `at`.
pub fn screen_pop_link(call_sid: &str, at: u64) -> String {
    ScreenPopLinks::new(&Keyring::single(STATE_SECRET), SCREEN_POP_TTL_SECS).sign(&screen_pop_path(call_sid), at)
}

impl TestApp {
    /// Places Ada's verified call and a stranger's opt-out (and, with
    /// `keyed`, a stranger keying Grace's id and PIN), waits for their
    /// records, and logs in as the supervisor: the figures tests' start.
    pub async fn calls_for_figures(&self, keyed: bool) -> String {
        self.call(ADA_PHONE, SUPPORT_NUMBER, &[&format!("{ADA_PIN}#")]).await;
        self.call(STRANGER_PHONE, SUPPORT_NUMBER, &["*"]).await;
        if keyed {
            self.call(STRANGER_PHONE, SUPPORT_NUMBER, &[&format!("{GRACE_ID}#"), &format!("{GRACE_PIN}#")]).await;
        }
        self.written().await;
        self.session(SUPERVISOR, SUPERVISOR_PASSWORD).await
    }

    /// The audit log's entries of `action`, waiting for the first (some
    /// actions are audited in the background).
    pub async fn audited(&self, action: &str) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let r = self.http.get(format!("{}/api/audit?action={action}", self.address)).bearer_auth(ADMIN_TOKEN);
            let body: serde_json::Value = r.send().await.unwrap().json().await.unwrap();
            let entries = body["entries"].as_array().cloned().unwrap_or_default();
            if !entries.is_empty() {
                return entries;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {action} entry in the audit log");
    }

    /// The audit log's entries of `action`, waiting until there are `n`.
    pub async fn audited_n(&self, action: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..100 {
            let entries = self.audited(action).await;
            if entries.len() >= n {
                return entries;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("fewer than {n} {action} entries in the audit log");
    }

    /// `GET path` with an optional session cookie value and bearer token.
    pub async fn page(&self, path: &str, session: Option<&str>, bearer: Option<&str>) -> Answer {
        let mut rb = self.http.get(format!("{}{path}", self.address));
        if let Some(s) = session {
            rb = rb.header("cookie", format!("vouch_session={s}"));
        }
        if let Some(t) = bearer {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        Answer { status, content_type, body: r.text().await.unwrap_or_default() }
    }

    /// `POST /agent/login`: the status, the `Location`, and the whole
    /// `Set-Cookie` header when one was set.
    pub async fn login(&self, name: &str, password: &str, next: &str) -> (u16, String, Option<String>) {
        let r = self
            .http
            .post(format!("{}/agent/login", self.address))
            .form(&[("name", name), ("password", password), ("next", next)])
            .send()
            .await
            .expect("request");
        let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        (r.status().as_u16(), header("location").unwrap_or_default(), header("set-cookie"))
    }

    /// Logs in and returns the session cookie's value.
    pub async fn session(&self, name: &str, password: &str) -> String {
        let (status, _, cookie) = self.login(name, password, "/agent").await;
        assert_eq!(status, 303, "login as {name}");
        cookie_value(&cookie.expect("a session cookie"))
    }
}

/// The value of a `Set-Cookie: vouch_session=VALUE; …` header.
pub fn cookie_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap_or("");
    first.strip_prefix("vouch_session=").expect("the session cookie").to_string()
}
