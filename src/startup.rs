//! Building and running the application: binds the listener (port 0 in
//! tests), starts the demo CRM when no CRM URL is configured, and serves the
//! route table with a span per request.

use crate::audit::Audit;
use crate::auth::checker::{self, PasswordChecker};
use crate::auth::throttle::LoginThrottle;
use crate::call::{CallService, Signers};
use crate::config::Config;
use crate::crm::{demo, CrmClient};
use crate::handoff::HandoffTokens;
use crate::keyring::counters::CallerSubjects;
use crate::keyring::flow_state::FlowStates;
use crate::keyring::links::{ScreenPopLinks, SCREEN_POP_TTL_SECS};
use crate::keyring::session::Sessions;
use crate::keyring::Keyring;
use crate::paths::{self, Urls};
use crate::recording::Recorder;
use crate::routes::{self, AppState};
use crate::store::audit::AuditStore;
use crate::store::instances::{self, Heartbeat};
use crate::store::retention::{self, Purger, Retention};
use crate::store::sessions::{SessionStore, StoredSession};
use crate::store::CallStore;
use crate::twilio::webhook::WebhookAuth;
use actix_web::dev::{Server, Service};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use tracing::Instrument;

/// No webhook may take longer than this, whatever the client does: longer
/// than the webhook deadline (at most 14 s) plus the body timeout (5 s).
pub const REQUEST_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(20);
/// Pages and the API never wait on the CRM: a request stalled this long is
/// a client holding the connection.
pub const PAGE_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(8);

/// How long a request to `path` may take in all.
fn request_limit(path: &str) -> std::time::Duration {
    match paths::route_of(path) {
        Some(r) if r.is_page() => PAGE_BACKSTOP,
        _ => REQUEST_BACKSTOP,
    }
}

/// The runtime `vouch serve` runs on. Requests are handled on actix's
/// own worker threads (one per core); this runtime holds the server's
/// accept loop and the background tasks (the store's batch writers, the
/// checkpoints, the purge, the schedules), which wait on the database far
/// more than they compute. One worker thread is enough for them, and a
/// second only adds wake-ups between threads: a first webhook on SQLite at
/// 400 a second cost 12–17% less CPU with one, and as much with either
/// under full load (BENCHMARKS.md, seventh round). `TOKIO_WORKER_THREADS`
/// still sets another count.
pub fn serve_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build()
}

/// Webhook bodies are a few kB; anything far bigger is not Twilio.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long buffered call records may take to reach the database once the
/// server has stopped (after the drain period and up to
/// `server.shutdown_timeout_secs` of in-flight webhooks; fly.toml's
/// `kill_timeout` must cover all three, see [`shutdown_budget`]).
pub const STORE_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// How long audit entries still queued may take to be written at shutdown.
pub const AUDIT_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The longest a SIGTERM may take to end in an exit: the drain period,
/// the shutdown timeout for in-flight webhooks, then the audit and record
/// flushes. A platform's kill timeout (fly.toml's `kill_timeout`) must be
/// longer, or the last records are killed with the process.
pub fn shutdown_budget(server: &crate::config::Server) -> std::time::Duration {
    server.drain + server.shutdown_timeout + AUDIT_FLUSH_TIMEOUT + STORE_FLUSH_TIMEOUT
}

/// At start-up, the users file is what it will be until the next one: end
/// every stored session whose user is gone or whose password changed, on
/// every instance sharing the database (a session's role is checked
/// against the users on each request).
async fn revoke_stale_sessions(store: &SessionStore, sessions: &Sessions, config: &Config) {
    let users = &config.secrets.users;
    let keep = |s: &StoredSession| {
        users.user(&s.user).is_some_and(|u| sessions.fingerprint_matches(&s.fingerprint, &u.password_hash))
    };
    match store.revoke_unless(crate::clock::now(), keep).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(revoked = n, "sessions ended: their users are gone or changed their password"),
        Err(e) => tracing::warn!(error = %e, "stored sessions were not checked against the users"),
    }
}

pub struct Application {
    server: Server,
    port: u16,
    public_base: String,
    crm_url: String,
    demo_crm: Option<Server>,
    store: CallStore,
    audit: Audit,
    /// The retention purge, stopped with the application.
    purger: Purger,
    /// The scheduled reports' task (with schedules and a database).
    scheduler: Option<crate::report::schedule::Scheduler>,
    /// This instance's heartbeat row, deleted at a clean exit.
    heartbeat: Option<Heartbeat>,
    /// Set on SIGTERM: `/healthz` answers 503.
    draining: web::Data<routes::health::Draining>,
    /// How long `/healthz` answers 503 after SIGTERM before the listener closes.
    drain: std::time::Duration,
    /// SIGTERM and the others, caught from the moment the listener is up,
    /// so a signal that arrives before [`Application::run_until_stopped`]
    /// drains like any other rather than killing the process.
    signals: Signals,
}

impl Application {
    /// Binds `bind:port` from the configuration and prepares the server.
    pub async fn build(config: Config, bind: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((bind, config.server.port)).map_err(|e| {
            let port = config.server.port;
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "Failed to bind {bind}:{port}: the port is in use (another Vouch, or another program, listens \
                     there). Stop it, or pick another port: PORT={} cargo run",
                    port.saturating_add(1)
                )
            } else {
                anyhow::Error::new(e).context(format!("Failed to bind {bind}:{port}"))
            }
        })?;
        let port = listener.local_addr()?.port();
        let mut config = config;
        // The default public URL names the configured port; follow an
        // ephemeral one (port 0) so signatures still match.
        if config.server.public_url.host_str() == Some("localhost") && config.server.public_url.port() == Some(0) {
            let _ = config.server.public_url.set_port(Some(port));
        }

        // Before anything starts: a database that cannot be opened stops start-up.
        // One keyring for every token Vouch signs for itself.
        let keyring = Keyring::new(config.secrets.state_keys.iter().map(|k| k.expose()))?;
        let subjects = CallerSubjects::new(&keyring);
        let store = CallStore::open(&config.database, config.server.call_record_ttl, subjects).await?;
        let purger = retention::spawn(store.clone(), Retention::of(&config));
        // Says which other instances share the database (a SQLite file
        // shared by several is warned about).
        let heartbeat = instances::spawn(store.background_db());

        let (crm_base, demo_crm) = match &config.crm.url {
            Some(url) => (url.clone(), None),
            None => {
                let l = TcpListener::bind(("127.0.0.1", 0)).context("Failed to bind the demo CRM")?;
                let url = url::Url::parse(&format!("http://127.0.0.1:{}", l.local_addr()?.port()))?;
                (url, Some(demo::serve(l, demo::DemoData::embedded())?))
            }
        };
        // One set of password-check threads: logins and CRM hash checks
        // share its bound.
        let password_checker = PasswordChecker::new(checker::THREADS, checker::QUEUE);
        let crm = CrmClient::new(&config.crm, &crm_base, password_checker.clone())
            .context("Failed to build the CRM client")?;
        let crm_metrics = web::Data::from(crm.metrics());
        let public_base = config.server.public_url.as_str().trim_end_matches('/').to_string();
        let signer = FlowStates::new(&keyring, config.server.state_ttl.as_secs());
        let auth = web::Data::new(WebhookAuth::new(&config.secrets.auth_tokens, public_base.clone()));
        let recorder = match &config.server.record_dir {
            Some(dir) => Some(web::Data::new(
                Recorder::create(dir)
                    .with_context(|| format!("Failed to prepare the record directory {}", dir.display()))?,
            )),
            None => None,
        };
        let shutdown_timeout = config.server.shutdown_timeout.as_secs();
        let drain = config.server.drain;
        let draining = web::Data::new(routes::health::Draining::default());
        let draining_data = draining.clone();
        let links = ScreenPopLinks::new(&keyring, SCREEN_POP_TTL_SECS);
        let sessions = Sessions::new(&keyring);
        let session_store = SessionStore::new(store.db());
        // On the background tasks' connection: its statements run one after
        // another (on memory, the sessions kept are none yet).
        revoke_stale_sessions(&SessionStore::new(store.background_db()), &sessions, &config).await;
        let audit = Audit::new(AuditStore::new(store.db()), &keyring);
        let tokens = HandoffTokens::new(config.secrets.handoff_key.expose(), config.server.handoff_token_ttl.as_secs());
        let config = Arc::new(config);
        let scheduler = store.db().and_then(|db| crate::report::schedule::spawn(db, config.clone(), audit.clone()));
        let signers = Signers { states: signer, screen_pops: links.clone(), tokens: tokens.clone() };
        let calls =
            web::Data::new(CallService::new(config.clone(), crm, store.clone(), Urls::new(&public_base), signers));
        let state = web::Data::new(AppState {
            config,
            store: store.clone(),
            public_base: public_base.clone(),
            links,
            sessions,
            tokens,
            session_store,
            password_checker,
            login_throttle: LoginThrottle::default(),
            audit: audit.clone(),
            dashboard: Default::default(),
        });

        let server = HttpServer::new(move || {
            App::new()
                .wrap_fn(|req, srv| {
                    let span = tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %paths::for_log(req.path()),
                        call_sid = tracing::field::Empty,
                    );
                    let started = std::time::Instant::now();
                    let limit = request_limit(req.path());
                    let fut = srv.call(req);
                    async move {
                        // A backstop for any request a client stalls (a body
                        // trickling in, say): webhooks finish well before it.
                        let res = match tokio::time::timeout(limit, fut).await {
                            Ok(res) => res,
                            Err(_) => Err(actix_web::error::ErrorRequestTimeout(format!(
                                "request not completed within {} s\n",
                                limit.as_secs()
                            ))),
                        };
                        match &res {
                            Ok(r) => tracing::info!(
                                status = r.status().as_u16(),
                                elapsed_us = started.elapsed().as_micros() as u64,
                                "answered"
                            ),
                            Err(e) => tracing::warn!(error = %e, "request failed"),
                        }
                        res
                    }
                    .instrument(span)
                })
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(state.clone())
                .app_data(calls.clone())
                .app_data(auth.clone())
                .app_data(draining_data.clone())
                .app_data(crm_metrics.clone())
                .configure(|cfg| {
                    if let Some(recorder) = &recorder {
                        cfg.app_data(recorder.clone());
                    }
                })
                .configure(routes::configure)
        })
        .client_request_timeout(std::time::Duration::from_secs(5))
        .shutdown_timeout(shutdown_timeout)
        // Signals are handled in `run_until_stopped`: SIGTERM drains first.
        .disable_signals()
        .listen(listener)?
        .run();
        let signals = Signals::install();

        Ok(Self {
            server,
            port,
            public_base,
            crm_url: crm_base.to_string(),
            demo_crm,
            store,
            audit,
            purger,
            scheduler,
            heartbeat,
            draining,
            drain,
            signals,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_base(&self) -> &str {
        &self.public_base
    }

    pub fn crm_url(&self) -> &str {
        &self.crm_url
    }

    pub fn is_using_demo_crm(&self) -> bool {
        self.demo_crm.is_some()
    }

    /// The call store (for its description and, in tests, its counters).
    pub fn store(&self) -> &CallStore {
        &self.store
    }

    /// A handle to stop the server gracefully (as SIGTERM does).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops. SIGTERM stops it gracefully: first
    /// `/healthz` answers 503 for `server.drain_secs` while everything else
    /// is still served (a load balancer moves traffic away), then the
    /// listener closes and in-flight webhooks get
    /// `server.shutdown_timeout_secs` to finish (Fly.io sends SIGTERM when it
    /// replaces a machine during a deploy). SIGINT and SIGQUIT stop it at
    /// once. Then the queued audit entries and the buffered call records are
    /// written (bounded by [`AUDIT_FLUSH_TIMEOUT`] and
    /// [`STORE_FLUSH_TIMEOUT`]), on this runtime, before it stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let signals = tokio::spawn(on_signals(self.signals, handle, self.draining.clone(), self.drain));
        let result = if let Some(crm) = self.demo_crm {
            let handle = crm.handle();
            tokio::spawn(crm);
            let result = self.server.await;
            handle.stop(true).await;
            result
        } else {
            self.server.await
        };
        signals.abort();
        self.audit.flush(AUDIT_FLUSH_TIMEOUT).await;
        drop(self.purger);
        drop(self.scheduler);
        if let Some(heartbeat) = self.heartbeat {
            heartbeat.stop().await;
        }
        self.store.close(STORE_FLUSH_TIMEOUT).await;
        result
    }
}

/// The signals that stop the server, caught from the moment the server runs.
#[cfg(unix)]
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    quit: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let catch = |kind: SignalKind| {
            signal(kind).map_err(|e| tracing::error!(error = %e, "a signal handler could not be installed")).ok()
        };
        Self {
            term: catch(SignalKind::terminate()),
            int: catch(SignalKind::interrupt()),
            quit: catch(SignalKind::quit()),
        }
    }
}

/// The next delivery of `signal`, or never when it is not caught.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// SIGTERM: drain, then stop gracefully. SIGINT or SIGQUIT: stop at once.
#[cfg(unix)]
async fn on_signals(
    mut signals: Signals,
    handle: actix_web::dev::ServerHandle,
    draining: web::Data<routes::health::Draining>,
    drain: std::time::Duration,
) {
    let Signals { term, int, quit } = &mut signals;
    tokio::select! {
        _ = next(term) => {
            draining.start();
            tracing::info!(drain_secs = drain.as_secs(), "SIGTERM: draining (/healthz answers 503), then stopping");
            tokio::select! {
                _ = tokio::time::sleep(drain) => {
                    tracing::info!("drained: closing the listener, in-flight webhooks finish");
                    handle.stop(true).await;
                }
                _ = next(int) => handle.stop(false).await,
                _ = next(quit) => handle.stop(false).await,
            }
        }
        _ = next(int) => handle.stop(false).await,
        _ = next(quit) => handle.stop(false).await,
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }
}

/// Ctrl-C stops at once.
#[cfg(not(unix))]
async fn on_signals(
    _signals: Signals,
    handle: actix_web::dev::ServerHandle,
    _draining: web::Data<routes::health::Draining>,
    _drain: std::time::Duration,
) {
    if tokio::signal::ctrl_c().await.is_ok() {
        handle.stop(false).await;
    }
}
