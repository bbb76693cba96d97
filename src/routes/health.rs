//! Liveness for load balancers and Fly.io's health check. While the
//! instance drains (after SIGTERM), `/healthz` answers 503 so a load
//! balancer moves traffic away before the listener closes; every other
//! route is still served.

use actix_web::{web, HttpResponse};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once SIGTERM arrives: the instance is on its way out.
#[derive(Debug, Default)]
pub struct Draining(AtomicBool);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

pub async fn healthz(draining: Option<web::Data<Draining>>) -> HttpResponse {
    let version = env!("CARGO_PKG_VERSION");
    match draining.is_some_and(|d| d.is_draining()) {
        true => HttpResponse::ServiceUnavailable()
            .insert_header(("Connection", "close"))
            .json(serde_json::json!({ "status": "draining", "version": version })),
        false => HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "version": version })),
    }
}
