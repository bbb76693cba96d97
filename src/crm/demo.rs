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

/// The demo CRM's routes. They read the customers from a
/// `web::Data<DemoData>` in the app's data: see [`mount`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers", web::get().to(by_phone))
        .route("/customers/{id}", web::get().to(by_id))
        .route("/customers/{id}/verify", web::post().to(verify));
}

/// The whole demo CRM for an `App` (`App::new().configure(mount(data))`):
/// `data` as app data, and the routes. Its own server is built with it, and
/// so is the test suite's CRM double.
pub fn mount(data: web::Data<DemoData>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(data);
        configure(cfg);
    }
}

/// Starts the demo CRM on `listener`; the returned server runs when awaited
/// or spawned.
pub fn serve(listener: TcpListener, data: DemoData) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::new(data);
    Ok(HttpServer::new(move || App::new().configure(mount(data.clone())))
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

    /// The demo CRM over real HTTP, as `vouch serve` starts it.
    async fn running() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(serve(listener, DemoData::embedded()).unwrap());
        url
    }

    /// Status and JSON body (`null` when the body is not JSON).
    async fn answer(r: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let r = r.send().await.expect("the demo CRM answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn serves_the_crm_contract() {
        use serde_json::json;
        let crm = running().await;
        let http = reqwest::Client::new();
        let get = |path: &str| answer(http.get(format!("{crm}{path}")));
        assert_eq!(
            get("/customers?phone=%2B15551230001").await,
            (200, json!({"customers": [{"id": "12345678", "name": "Ada Lovelace"}]}))
        );
        assert_eq!(
            get("/customers?phone=%2B15551230003").await,
            (
                200,
                json!({"customers": [{"id": "11112222", "name": "Alan Turing"}, {"id": "11113333", "name": "Joan Turing"}]})
            ),
            "a shared phone"
        );
        assert_eq!(get("/customers?phone=%2B15559990000").await, (200, json!({"customers": []})));
        assert_eq!(get("/customers").await, (400, json!({"error": "phone query parameter required"})));
        assert_eq!(get("/customers/87654321").await, (200, json!({"id": "87654321", "name": "Grace Hopper"})));
        assert_eq!(get("/customers/99999999").await, (404, json!({"error": "no such customer"})));
        assert_eq!(get("/nowhere").await.0, 404);

        let verify =
            |id: &str, body: serde_json::Value| answer(http.post(format!("{crm}/customers/{id}/verify")).json(&body));
        assert_eq!(
            verify("12345678", json!({"factor": "pin", "value": "1234"})).await,
            (200, json!({"verified": true}))
        );
        assert_eq!(
            verify("12345678", json!({"factor": "pin", "value": "4321"})).await,
            (200, json!({"verified": false}))
        );
        assert_eq!(
            verify("12345678", json!({"factor": "pin", "value": "12345"})).await,
            (200, json!({"verified": false}))
        );
        assert_eq!(
            verify("99999999", json!({"factor": "pin", "value": "1234"})).await,
            (404, json!({"error": "no such customer"}))
        );
        assert_eq!(
            verify("12345678", json!({"factor": "dob", "value": "1815-12-10"})).await,
            (400, json!({"error": "the demo CRM only knows the pin factor"}))
        );
        assert_eq!(verify("12345678", json!({"factor": "pin"})).await.0, 400, "no value");
        let not_json = http.post(format!("{crm}/customers/12345678/verify")).body("factor=pin&value=1234");
        assert_eq!(answer(not_json).await.0, 400, "a form is not the contract");
        assert_eq!(get("/customers/12345678/verify").await.0, 404, "verify is POST only");
    }
}
