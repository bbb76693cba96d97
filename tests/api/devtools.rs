//! A small driver for headless Chromium over the DevTools protocol (a
//! WebSocket), for pages that change after they load: the dashboard's
//! live figures. It launches a browser with a fresh profile, opens one
//! page, evaluates expressions in it and takes screenshots.

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A running headless Chromium with one page open.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: Socket,
    /// The page's DevTools session.
    session: String,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Starts Chromium and opens a blank 1280×1000 page.
    pub async fn launch(bin: &Path) -> Self {
        let profile = std::env::temp_dir().join(format!("vouch-devtools-{}-{}", std::process::id(), profile_number()));
        let mut child = Command::new(bin)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // Chromium names its DevTools WebSocket on stderr.
        let stderr = child.stderr.take().expect("chromium's stderr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Read to the end, so that Chromium never blocks on a full pipe.
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_string());
                    }
                }
            }
        });
        let url = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("chromium names its DevTools address within 60 s")
            .expect("chromium's DevTools address");
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("DevTools connects");
        let mut browser = Self { child, profile, socket, session: String::new(), next_id: 0 };
        let target = browser.send(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let target = target["targetId"].as_str().expect("a target id").to_string();
        let attached =
            browser.send(None, "Target.attachToTarget", json!({ "targetId": target, "flatten": true })).await;
        browser.session = attached["sessionId"].as_str().expect("a session id").to_string();
        let size = json!({ "width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false });
        browser.page("Emulation.setDeviceMetricsOverride", size).await;
        browser
    }

    /// Sends a command (to the page's session, or the browser's) and waits
    /// for its result, passing over events.
    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_send(session, method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method}: {error}"),
        }
    }

    /// [`Browser::send`], with DevTools' error as an `Err`.
    async fn try_send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = s.into();
        }
        self.socket.send(Message::text(message.to_string())).await.expect("DevTools takes the command");
        loop {
            let next = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer within 30 s"))
                .expect("DevTools is still connected")
                .expect("DevTools message");
            let Message::Text(text) = next else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"].as_u64() == Some(id) {
                return match v.get("error") {
                    Some(_) => Err(v),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    async fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params).await
    }

    /// A browser logged in with the session cookie `session`, open on
    /// `path` of the Vouch at `address`.
    pub async fn logged_in(bin: &Path, address: &str, session: &str, path: &str) -> Self {
        let mut browser = Self::launch(bin).await;
        browser.set_cookie("vouch_session", session, address).await;
        browser.open(&format!("{address}{path}")).await;
        browser
    }

    /// Sets a cookie for `url`'s site.
    pub async fn set_cookie(&mut self, name: &str, value: &str, url: &str) {
        let set = self.page("Network.setCookie", json!({ "name": name, "value": value, "url": url })).await;
        assert_eq!(set["success"], json!(true), "{set}");
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn open(&mut self, url: &str) {
        let navigated = self.page("Page.navigate", json!({ "url": url })).await;
        assert!(navigated.get("errorText").is_none(), "{url}: {navigated}");
        self.wait_for("document.readyState === 'complete'").await;
    }

    /// Evaluates `expression` in the page; its value as text.
    pub async fn eval(&mut self, expression: &str) -> String {
        let r = match self.try_eval(expression).await {
            Ok(r) => r,
            Err(error) => panic!("Runtime.evaluate: {error}"),
        };
        match &r["result"]["value"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Evaluates `expression` in the page: DevTools' result, which must
    /// hold no exception, or its error.
    async fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let session = self.session.clone();
        let asked = json!({ "expression": expression, "returnByValue": true });
        let r = self.try_send(Some(&session), "Runtime.evaluate", asked).await?;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        Ok(r)
    }

    /// Waits up to 20 s for `condition` to be true in the page. A page
    /// still navigating (a click or `location.href` just before) can
    /// drop the evaluation ("Inspected target navigated or closed"): that
    /// counts as not yet.
    pub async fn wait_for(&mut self, condition: &str) {
        let expression = format!("!!({condition})");
        for _ in 0..200 {
            match self.try_eval(&expression).await {
                Ok(r) if r["result"]["value"] == json!(true) => return,
                Ok(_) => {}
                Err(e) if navigating(&e) => {}
                Err(e) => panic!("Runtime.evaluate: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("within 20 s: {condition}");
    }

    /// Every `data-cell` on the page, by its key.
    pub async fn cells(&mut self) -> HashMap<String, String> {
        let json = self
            .eval("JSON.stringify(Object.fromEntries([...document.querySelectorAll('[data-cell]')].map(e => [e.dataset.cell, e.textContent])))")
            .await;
        serde_json::from_str(&json).expect("the cells as JSON")
    }

    /// A PNG of the whole page.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.page("Page.captureScreenshot", json!({ "format": "png", "captureBeyondViewport": true })).await;
        base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().expect("PNG data")).expect("base64")
    }
}

/// Whether DevTools dropped a command because the page navigated away
/// meanwhile.
fn navigating(error: &Value) -> bool {
    let message = error["error"]["message"].as_str().unwrap_or_default();
    ["navigated or closed", "context was destroyed", "Cannot find context"].iter().any(|m| message.contains(m))
}

/// A number to keep two browsers' profiles apart.
fn profile_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
