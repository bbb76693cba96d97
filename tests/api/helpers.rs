//! Test helpers: a real Vouch on a random port, a CRM double over HTTP (the
//! demo CRM behind a middleware), and a phone that signs its requests the
//! way Twilio does.

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{self, Next};
use actix_web::{web, App, HttpResponse, HttpServer};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vouch::config::Config;
use vouch::crm::demo::{self, DemoData};
use vouch::sim::{CallSpec, Phone, Scripted, Transcript};
use vouch::startup::Application;
use vouch::store::CallStore;
use vouch::twilio::form::Params;
use vouch::twilio::signature;

pub const AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";
pub const SECONDARY_TOKEN: &str = "test-secondary-token-fedcba987654";
pub const STATE_SECRET: &str = "test-state-secret-0123456789abcdef0123456789";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const HANDOFF_SECRET: &str = "test-handoff-secret-0123456789abcdef0123";

/// Ada Lovelace: one customer on this number, PIN 1234.
pub const ADA_PHONE: &str = "+15551230001";
pub const ADA_ID: &str = "12345678";
pub const ADA_PIN: &str = "1234";
/// Grace Hopper, PIN 4321.
pub const GRACE_ID: &str = "87654321";
pub const GRACE_PIN: &str = "4321";
/// Alan and Joan Turing share this number.
pub const SHARED_PHONE: &str = "+15551230003";
/// A number no customer has.
pub const STRANGER_PHONE: &str = "+15559990000";
pub const SUPPORT_NUMBER: &str = "+15005550006";
pub const SALES_NUMBER: &str = "+15005550007";

/// How the CRM double behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmMode {
    Normal,
    /// Sleeps this long before answering.
    Slow(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Answers this status.
    Status(u16),
}

/// A CRM over real HTTP: the built-in demo CRM (`vouch::crm::demo`, its
/// routes and customers, so the double answers exactly as it does), behind
/// a test-only middleware that counts requests per kind, keeps each verify
/// request's auth header and body, and misbehaves on demand.
#[derive(Clone)]
pub struct TestCrm {
    pub url: String,
    /// Each verify request that reached the demo CRM: its `Authorization`
    /// header, a newline, and its body.
    pub verify_bodies: Arc<Mutex<Vec<String>>>,
    double: web::Data<Double>,
}

/// What the middleware counts, keeps and does.
struct Double {
    mode: Mutex<CrmMode>,
    counts: Mutex<HashMap<&'static str, usize>>,
    verify_bodies: Arc<Mutex<Vec<String>>>,
    in_flight: AtomicUsize,
}

impl TestCrm {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind CRM double");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let verify_bodies = Arc::new(Mutex::new(Vec::new()));
        let double = web::Data::new(Double {
            mode: Mutex::new(CrmMode::Normal),
            counts: Mutex::new(HashMap::new()),
            verify_bodies: verify_bodies.clone(),
            in_flight: AtomicUsize::new(0),
        });
        let customers = web::Data::new(DemoData::embedded());
        let server = {
            let double = double.clone();
            HttpServer::new(move || {
                App::new()
                    .app_data(double.clone())
                    .wrap(middleware::from_fn(count_keep_and_misbehave))
                    .configure(demo::mount(customers.clone()))
            })
        }
        .workers(2)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self { url, verify_bodies, double }
    }

    pub fn set_mode(&self, mode: CrmMode) {
        *self.double.mode.lock().unwrap() = mode;
    }

    /// Requests seen of one kind: `phone`, `id` or `verify` (`other` for
    /// anything else).
    pub fn count(&self, kind: &str) -> usize {
        self.double.counts.lock().unwrap().get(kind).copied().unwrap_or(0)
    }

    /// Requests being answered right now (a slow one included).
    pub fn in_flight(&self) -> usize {
        self.double.in_flight.load(Ordering::SeqCst)
    }
}

/// Which CRM request this is.
fn kind_of(req: &ServiceRequest) -> &'static str {
    let segments: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["customers"]) => "phone",
        ("GET", ["customers", _]) => "id",
        ("POST", ["customers", _, "verify"]) => "verify",
        _ => "other",
    }
}

/// Counts the request, applies the failure mode, and keeps a verify
/// request's auth header and body before the demo CRM answers it.
async fn count_keep_and_misbehave(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let double = req.app_data::<web::Data<Double>>().expect("the double's state").clone();
    let kind = kind_of(&req);
    *double.counts.lock().unwrap().entry(kind).or_default() += 1;
    double.in_flight.fetch_add(1, Ordering::SeqCst);
    // Counted out however the request ends (Vouch may give up and hang up).
    struct Leaving(web::Data<Double>);
    impl Drop for Leaving {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _leaving = Leaving(double.clone());
    let mode = *double.mode.lock().unwrap();
    match mode {
        CrmMode::Normal => {}
        CrmMode::Slow(d) => tokio::time::sleep(d).await,
        CrmMode::Garbage => {
            let garbage = HttpResponse::Ok().content_type("application/json").body("<html>oops</html>");
            return Ok(req.into_response(garbage));
        }
        CrmMode::Status(s) => {
            let status = actix_web::http::StatusCode::from_u16(s).expect("a valid status");
            return Ok(req.into_response(HttpResponse::build(status).finish()));
        }
    }
    if kind == "verify" {
        let body = req.extract::<web::Bytes>().await?;
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        double.verify_bodies.lock().unwrap().push(format!("{auth}\n{}", String::from_utf8_lossy(&body)));
        // Put the body back for the demo CRM's handler.
        req.set_payload(body.into());
    }
    next.call(req).await
}

/// A running Vouch and the phone to call it with.
pub struct TestApp {
    /// Where requests go (`http://127.0.0.1:PORT`).
    pub address: String,
    /// The public URL signatures are checked against (`http://localhost:PORT`).
    pub public: String,
    pub phone: Phone,
    pub crm: Option<TestCrm>,
    pub http: reqwest::Client,
    /// The `DATABASE_URL` it runs with.
    pub database_url: String,
    pub store: CallStore,
    server: ServerHandle,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The temporary directory of its SQLite file, removed with the app.
    _db_dir: Option<Arc<tempfile::TempDir>>,
}

/// How to start Vouch for a test.
pub struct Options {
    pub toml: String,
    pub env: Vec<(&'static str, String)>,
    /// Start a CRM double (else the built-in demo CRM is used).
    pub crm_double: bool,
    /// Point the CRM URL here instead (e.g. a closed port).
    pub crm_url: Option<String>,
    /// `DATABASE_URL`; `None`: a new SQLite file of its own.
    pub database_url: Option<String>,
    /// `serve --record-dir`.
    pub record_dir: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            toml: vouch::config::DEMO_CONFIG.to_string(),
            env: Vec::new(),
            crm_double: true,
            crm_url: None,
            database_url: None,
            record_dir: None,
        }
    }
}

/// A new SQLite file (in a directory removed when the guard drops).
pub fn sqlite_url() -> (String, Arc<tempfile::TempDir>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("vouch.db").display());
    (url, Arc::new(dir))
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(opts: Options) -> TestApp {
    let crm = opts.crm_double.then(TestCrm::start);
    let mut env: HashMap<String, String> = [
        ("PORT", "0".to_string()),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("TWILIO_AUTH_TOKEN_SECONDARY", SECONDARY_TOKEN.to_string()),
        ("VOUCH_STATE_SECRET", STATE_SECRET.to_string()),
        ("VOUCH_ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
        ("VOUCH_HANDOFF_SECRET", HANDOFF_SECRET.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(url) = opts.crm_url.clone().or_else(|| crm.as_ref().map(|c| c.url.clone())) {
        env.insert("VOUCH_CRM_URL".into(), url);
    }
    let (database_url, db_dir) = match opts.database_url {
        Some(url) => (url, None),
        None => {
            let (url, dir) = sqlite_url();
            (url, Some(dir))
        }
    };
    env.insert("DATABASE_URL".into(), database_url.clone());
    for (k, v) in opts.env {
        env.insert(k.to_string(), v);
    }
    let mut config = Config::from_toml(&opts.toml, &env).expect("test configuration is valid");
    config.server.record_dir = opts.record_dir;
    let app = Application::build(config, "127.0.0.1").await.expect("application builds");
    let port = app.port();
    let public = app.public_base().to_string();
    let store = app.store().clone();
    let server = app.server_handle();
    let running = Some(tokio::spawn(app.run_until_stopped()));
    let address = format!("http://127.0.0.1:{port}");
    TestApp {
        phone: Phone::new(&address, &public, AUTH_TOKEN),
        address,
        public,
        crm,
        // A pooled connection is dropped well before the server's 5 s
        // keep-alive could close it just as it is reused.
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
        database_url,
        store,
        server,
        running,
        _db_dir: db_dir,
    }
}

/// A fresh, valid CallSid.
pub fn call_sid() -> String {
    vouch::sim::call::new_call_sid()
}

/// The parameters of a call's first webhook.
pub fn call_params(call_sid: &str, from: &str, to: &str) -> Vec<(String, String)> {
    let spec = CallSpec { from: from.into(), to: to.into(), ..CallSpec::default() };
    Phone::call_params(&spec, call_sid)
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl TestApp {
    /// Places a whole call with scripted keys (`""` = silence).
    pub async fn call(&self, from: &str, to: &str, keys: &[&str]) -> Transcript {
        let spec = CallSpec { from: from.into(), to: to.into(), ..CallSpec::default() };
        self.call_spec(&spec, keys).await
    }

    pub async fn call_spec(&self, spec: &CallSpec, keys: &[&str]) -> Transcript {
        let mut pad = Scripted::new(keys.iter().copied());
        self.phone.place(spec, &mut pad).await.unwrap_or_else(|e| panic!("call failed: {e}"))
    }

    /// POSTs a form to `path_and_query`, signed with `token` for the public
    /// URL (`None`: no signature header).
    pub async fn post_form(&self, path_and_query: &str, params: &[(String, String)], token: Option<&str>) -> Answer {
        let params = Params::from_pairs(params.iter().cloned());
        let mut rb = self
            .http
            .post(format!("{}{path_and_query}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(params.encode());
        if let Some(token) = token {
            rb = rb.header(
                "X-Twilio-Signature",
                signature::sign(token, &format!("{}{path_and_query}", self.public), &params),
            );
        }
        answer(rb.send().await.expect("request")).await
    }

    /// A raw POST with a chosen body, content type and signature.
    pub async fn post_raw(
        &self,
        path_and_query: &str,
        content_type: &str,
        body: Vec<u8>,
        sig: Option<String>,
    ) -> Answer {
        let mut rb =
            self.http.post(format!("{}{path_and_query}", self.address)).header("content-type", content_type).body(body);
        if let Some(sig) = sig {
            rb = rb.header("X-Twilio-Signature", sig);
        }
        answer(rb.send().await.expect("request")).await
    }

    /// `GET /api/calls/{sid}` with an optional bearer token.
    pub async fn api_call(&self, sid: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut rb = self.http.get(format!("{}/api/calls/{sid}", self.address));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    pub fn crm(&self) -> &TestCrm {
        self.crm.as_ref().expect("this test app has a CRM double")
    }

    /// Stops serving as SIGTERM does (no new connections, in-flight requests
    /// finish); the store is closed by [`TestApp::stop`].
    pub async fn stop_serving(&self) {
        self.server.stop(true).await;
    }

    /// Stops the server as SIGTERM does and waits until it has written its
    /// buffered call records (or given up).
    pub async fn stop(&mut self) {
        self.server.stop(true).await;
        if let Some(running) = self.running.take() {
            running.await.expect("the server task").expect("the server stops cleanly");
        }
    }

    /// Twilio's status callback for a call, signed.
    pub async fn status_callback(&self, call_sid: &str, status: &str, sequence: u64, duration: Option<u64>) -> Answer {
        let mut params = call_params(call_sid, ADA_PHONE, SUPPORT_NUMBER);
        params.retain(|(k, _)| k != "CallStatus");
        params.push(("CallStatus".into(), status.into()));
        params.push(("SequenceNumber".into(), sequence.to_string()));
        params.push(("CallbackSource".into(), "call-progress-events".into()));
        params.push(("Timestamp".into(), "Wed, 25 Nov 2026 20:00:00 +0000".into()));
        if let Some(d) = duration {
            params.push(("CallDuration".into(), d.to_string()));
        }
        self.post_form("/status", &params, Some(AUTH_TOKEN)).await
    }

    /// `GET /metrics` with the admin token, as a map of sample name → value.
    pub async fn metrics(&self) -> HashMap<String, f64> {
        let r = self.http.get(format!("{}/metrics", self.address)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text()
            .await
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    /// Waits until every buffered record has been written.
    pub async fn written(&self) {
        wait_for("the write buffer to empty", || async {
            self.store.stats().is_none_or(|s| s.depth == 0 && !s.failing)
        })
        .await;
        assert!(self.store.answers_stored(Duration::from_secs(15)).await, "the webhook answers sent were stored");
    }
}

/// Polls `check` every 20 ms for up to 15 s.
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Answer { status, content_type, body: r.text().await.unwrap_or_default() }
}

/// The query parameters of a URL, as a map.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("absolute URL").query_pairs().into_owned().collect()
}

/// The first `<Gather action>` of a TwiML document (parsed as Twilio would).
pub fn gather_action(twiml: &str) -> String {
    let root = vouch::sim::twiml::parse(twiml).expect("valid TwiML");
    root.walk()
        .into_iter()
        .find(|n| n.name == "Gather")
        .and_then(|g| g.attr("action"))
        .expect("a Gather with an action")
        .to_string()
}

/// The path and query of an absolute URL.
pub fn path_and_query(url: &str) -> String {
    let u = url::Url::parse(url).expect("absolute URL");
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    }
}

/// A first webhook's parameters for a call from Ada to the support line.
pub fn first_params(sid: &str) -> Vec<(String, String)> {
    call_params(sid, ADA_PHONE, SUPPORT_NUMBER)
}

/// The same call's parameters with `digits` keyed.
pub fn with_digits(sid: &str, digits: &str) -> Vec<(String, String)> {
    let mut p = first_params(sid);
    p.push(("Digits".into(), digits.into()));
    p
}

/// Starts a call from Ada and returns the path of its PIN Gather action.
pub async fn verify_action(app: &TestApp, sid: &str) -> String {
    let r = app.post_form("/voice", &first_params(sid), Some(AUTH_TOKEN)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    path_and_query(&gather_action(&r.body))
}
