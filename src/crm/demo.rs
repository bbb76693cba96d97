//! The built-in demo CRM: a real HTTP server speaking the CRM contract from
//! PRODUCT.md, over customers shipped in `demo/customers.json`. `vouch serve`
//! starts it when no CRM URL is configured; `vouch demo-crm` runs it alone.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use std::net::TcpListener;
use subtle::ConstantTimeEq;

pub const DEMO_CUSTOMERS: &str = include_str!("../../demo/customers.json");

#[derive(Debug, Clone, Deserialize)]
pub struct DemoCustomer {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub phones: Vec<String>,
    pub pin: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DemoData {
    pub customers: Vec<DemoCustomer>,
}

impl DemoData {
    pub fn embedded() -> Self {
        serde_json::from_str(DEMO_CUSTOMERS).expect("demo/customers.json is valid (checked by a test)")
    }
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: Option<String>,
}

#[derive(Deserialize)]
struct VerifyBody {
    factor: String,
    value: String,
}

fn public(c: &DemoCustomer) -> serde_json::Value {
    serde_json::json!({ "id": c.id, "name": c.name })
}

async fn by_phone(data: web::Data<DemoData>, q: web::Query<PhoneQuery>) -> HttpResponse {
    let Some(phone) = q.phone.as_deref() else {
        return HttpResponse::BadRequest().json(serde_json::json!({"error": "phone query parameter required"}));
    };
    let customers: Vec<_> = data.customers.iter().filter(|c| c.phones.iter().any(|p| p == phone)).map(public).collect();
    HttpResponse::Ok().json(serde_json::json!({ "customers": customers }))
}

async fn by_id(data: web::Data<DemoData>, id: web::Path<String>) -> HttpResponse {
    match data.customers.iter().find(|c| c.id == *id) {
        Some(c) => HttpResponse::Ok().json(public(c)),
        None => HttpResponse::NotFound().json(serde_json::json!({"error": "no such customer"})),
    }
}

async fn verify(data: web::Data<DemoData>, id: web::Path<String>, body: web::Json<VerifyBody>) -> HttpResponse {
    let Some(c) = data.customers.iter().find(|c| c.id == *id) else {
        return HttpResponse::NotFound().json(serde_json::json!({"error": "no such customer"}));
    };
    if body.factor != "pin" {
        return HttpResponse::BadRequest().json(serde_json::json!({"error": "the demo CRM only knows the pin factor"}));
    }
    let verified: bool = c.pin.as_bytes().ct_eq(body.value.as_bytes()).into();
    HttpResponse::Ok().json(serde_json::json!({ "verified": verified }))
}

/// The demo CRM's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers", web::get().to(by_phone))
        .route("/customers/{id}", web::get().to(by_id))
        .route("/customers/{id}/verify", web::post().to(verify));
}

/// Starts the demo CRM on `listener`; the returned server runs when awaited
/// or spawned.
pub fn serve(listener: TcpListener, data: DemoData) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(data);
    Ok(HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_customers_parse_and_are_unique() {
        let d = DemoData::embedded();
        let mut ids: Vec<_> = d.customers.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), d.customers.len());
    }
}
