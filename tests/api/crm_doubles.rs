//! Five CRM doubles: real HTTP servers on 127.0.0.1 that answer as
//! Salesforce, HubSpot, Zendesk, Microsoft Dataverse and Freshdesk document
//! (their search, fetch, no-match, not-found, error and rate-limit bodies),
//! each holding the same four people stored the way that CRM stores them
//! (PRODUCT.md's "Example CRM data"). Alan and Joan share one phone.
//!
//! Each double checks what it receives: the auth header, the method, the
//! path, the query and the body. Anything unexpected is answered 400 and
//! kept in [`Double::problems`], which every test asserts empty. Searches
//! are real: the SOQL `WHERE`, the OData `$filter`, the Zendesk query and
//! HubSpot's filter groups are parsed and matched on exact literals, so a
//! value that escaped its literal would change what is found.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// OAuth client credentials (Salesforce and Dataverse doubles).
pub const CLIENT_ID: &str = "3MVG9-test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-7f3a";
/// HubSpot's private-app token.
pub const HUBSPOT_TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";
/// Zendesk: the agent's email with `/token`, and the API token.
pub const ZENDESK_USER: &str = "ivr@acme.com/token";
pub const ZENDESK_TOKEN: &str = "zendesk-api-token-0123456789";
/// Freshdesk's API key (the basic-auth username; the password is `X`).
pub const FRESHDESK_KEY: &str = "freshdesk-api-key-abcdef";
/// Dataverse's tenant (in the token URL) and the scope it expects.
pub const TENANT: &str = "00000000-0000-0000-0000-000000000000";
pub const DATAVERSE_SCOPE: &str = "https://acme.crm.dynamics.com/.default";

/// The shipped example for a CRM (`examples/crm/NAME.toml`).
pub fn file_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Salesforce => "salesforce",
        Kind::Hubspot => "hubspot",
        Kind::Zendesk => "zendesk",
        Kind::Dataverse => "dataverse",
        Kind::Freshdesk => "freshdesk",
    }
}

pub fn example_text(name: &str) -> String {
    let path = format!("{}/examples/crm/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The example as shipped, its OAuth token URL pointed at the double (the
/// CRM's own URL is overridden by `VOUCH_CRM_URL`, as an operator would).
pub fn example_for(kind: Kind, double: &Double) -> String {
    example_text(file_of(kind))
        .replace(
            "https://acme.my.salesforce.com/services/oauth2/token",
            &format!("{}/services/oauth2/token", double.url),
        )
        .replace("https://login.microsoftonline.com", &double.url)
}

/// The secrets each example reads from the environment.
pub fn example_secrets(kind: Kind) -> Vec<(&'static str, String)> {
    match kind {
        Kind::Salesforce | Kind::Dataverse => {
            vec![("VOUCH_CRM_CLIENT_ID", CLIENT_ID.into()), ("VOUCH_CRM_CLIENT_SECRET", CLIENT_SECRET.into())]
        }
        Kind::Hubspot => vec![("VOUCH_CRM_TOKEN", HUBSPOT_TOKEN.into())],
        Kind::Zendesk => vec![("VOUCH_CRM_PASSWORD", ZENDESK_TOKEN.into())],
        Kind::Freshdesk => vec![("VOUCH_CRM_USERNAME", FRESHDESK_KEY.into())],
    }
}

/// What `p` keys to verify on `kind`'s example line.
pub fn factor(kind: Kind, p: &Person) -> String {
    match kind {
        Kind::Salesforce => {
            let (y, md) = p.dob.split_at(4);
            format!("{}{}{y}", &md[1..3], &md[4..6])
        }
        Kind::Hubspot | Kind::Dataverse => p.pin.to_string(),
        Kind::Zendesk => p.zip.to_string(),
        Kind::Freshdesk => p.card[p.card.len() - 4..].to_string(),
    }
}

/// One person, as every CRM here knows them.
#[derive(Debug, Clone, Copy)]
pub struct Person {
    pub first: &'static str,
    pub last: &'static str,
    /// E.164.
    pub phone: &'static str,
    pub account: &'static str,
    /// `YYYY-MM-DD`.
    pub dob: &'static str,
    pub pin: &'static str,
    pub zip: &'static str,
    pub card: &'static str,
    pub tier: &'static str,
    pub language: &'static str,
}

pub const ADA: Person = Person {
    first: "Ada",
    last: "Lovelace",
    phone: "+15550001111",
    account: "12345678",
    dob: "1985-12-10",
    pin: "1234",
    zip: "94105",
    card: "4111111111114242",
    tier: "Gold",
    language: "en",
};
pub const GRACE: Person = Person {
    first: "Grace",
    last: "Hopper",
    phone: "+15550002222",
    account: "87654321",
    dob: "1906-12-09",
    pin: "4321",
    zip: "10001",
    card: "5500000000001881",
    tier: "Silver",
    language: "fr",
};
/// Alan and Joan share a phone.
pub const ALAN: Person = Person {
    first: "Alan",
    last: "Turing",
    phone: "+15550003333",
    account: "11112222",
    dob: "1912-06-23",
    pin: "2222",
    zip: "02139",
    card: "4000000000003333",
    tier: "Bronze",
    language: "en",
};
pub const JOAN: Person = Person {
    first: "Joan",
    last: "Clarke",
    phone: "+15550003333",
    account: "33334444",
    dob: "1917-06-24",
    pin: "4444",
    zip: "02140",
    card: "4000000000004444",
    tier: "Bronze",
    language: "en",
};
pub const PEOPLE: [Person; 4] = [ADA, GRACE, ALAN, JOAN];

/// Which CRM a double plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Salesforce,
    Hubspot,
    Zendesk,
    Dataverse,
    Freshdesk,
}

/// How a double answers API requests (the token endpoint always works).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// The CRM's own rate-limit answer.
    RateLimited,
    /// The CRM's own server-error answer.
    Failing,
}

/// One request a double received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    pub body: String,
}

struct State {
    kind: Kind,
    url: String,
    mode: Mutex<Mode>,
    problems: Mutex<Vec<String>>,
    seen: Mutex<Vec<Seen>>,
    tokens_issued: AtomicUsize,
    /// Each person's PIN hash (bcrypt or argon2, by CRM).
    pin_hashes: Vec<String>,
}

/// A running double.
#[derive(Clone)]
pub struct Double {
    pub url: String,
    pub kind: Kind,
    state: web::Data<State>,
}

impl Double {
    pub fn start(kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a CRM double");
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let pin_hashes = PEOPLE
            .iter()
            .map(|p| match kind {
                Kind::Dataverse => vouch::auth::password::hash(p.pin).expect("argon2 hash"),
                _ => bcrypt::hash(p.pin, 4).expect("bcrypt hash"),
            })
            .collect();
        let state = web::Data::new(State {
            kind,
            url: url.clone(),
            mode: Mutex::new(Mode::Normal),
            problems: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
            tokens_issued: AtomicUsize::new(0),
            pin_hashes,
        });
        let server = {
            let state = state.clone();
            HttpServer::new(move || App::new().app_data(state.clone()).default_service(web::to(handle)))
        }
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Self { url, kind, state }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// What was wrong with requests received so far (none, if Vouch sent
    /// each as the CRM documents it).
    pub fn problems(&self) -> Vec<String> {
        self.state.problems.lock().unwrap().clone()
    }

    pub fn assert_clean(&self) {
        let problems = self.problems();
        assert!(problems.is_empty(), "{:?} double refused requests: {problems:#?}", self.kind);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// OAuth tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.state.tokens_issued.load(Ordering::SeqCst)
    }

    /// The id this CRM gives `p`.
    pub fn id_of(&self, p: &Person) -> String {
        id_of(self.kind, index_of(p))
    }
}

fn index_of(p: &Person) -> usize {
    PEOPLE.iter().position(|q| q.account == p.account).expect("one of PEOPLE")
}

fn id_of(kind: Kind, i: usize) -> String {
    match kind {
        Kind::Salesforce => format!("003Dn00000{:08}AA", i + 1),
        Kind::Hubspot => format!("{}", 101 + i),
        Kind::Zendesk => format!("{}", 3_010_001 + i),
        Kind::Dataverse => format!("a1b2c3d4-0000-4000-8000-{:012}", i + 1),
        Kind::Freshdesk => format!("{}", 8_010_001 + i),
    }
}

/// `(555) 000-1111` from `+15550001111`.
pub fn us_national(e164: &str) -> String {
    let d = &e164[2..];
    format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..])
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A request as received, for the handlers.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: HashMap<String, String>,
    body: &'a [u8],
    req: &'a HttpRequest,
}

impl Req<'_> {
    fn header(&self, name: &str) -> &str {
        self.req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A wrong request: kept as a problem, answered 400.
fn refuse(state: &State, what: String) -> HttpResponse {
    state.problems.lock().unwrap().push(what.clone());
    HttpResponse::BadRequest().json(json!({ "double": what }))
}

fn reply(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap()).json(body)
}

async fn handle(req: HttpRequest, body: Bytes, state: web::Data<State>) -> HttpResponse {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    state.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: pairs.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut query = HashMap::new();
    for (k, v) in pairs {
        if query.insert(k.clone(), v).is_some() {
            return refuse(&state, format!("query parameter {k} given twice"));
        }
    }
    let r = Req { method: req.method().as_str(), path: req.path(), query, body: &body, req: &req };
    match state.kind {
        Kind::Salesforce => salesforce(&state, &r),
        Kind::Hubspot => hubspot(&state, &r),
        Kind::Zendesk => zendesk(&state, &r),
        Kind::Dataverse => dataverse(&state, &r),
        Kind::Freshdesk => freshdesk(&state, &r),
    }
}

fn mode(state: &State) -> Mode {
    *state.mode.lock().unwrap()
}

/// The form of an OAuth client-credentials token request, checked: the
/// refusal, if it is wrong.
fn token_request(state: &State, r: &Req<'_>, scope: Option<&str>) -> Option<HttpResponse> {
    if r.method != "POST" {
        return Some(refuse(state, format!("token endpoint: method {}", r.method)));
    }
    if !r.header("content-type").starts_with("application/x-www-form-urlencoded") {
        return Some(refuse(state, format!("token endpoint: content-type {:?}", r.header("content-type"))));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(r.body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str);
    let mut wrong = Vec::new();
    if get("grant_type") != Some("client_credentials") {
        wrong.push("grant_type");
    }
    if get("client_id") != Some(CLIENT_ID) {
        wrong.push("client_id");
    }
    if get("client_secret") != Some(CLIENT_SECRET) {
        wrong.push("client_secret");
    }
    if get("scope") != scope {
        wrong.push("scope");
    }
    (!wrong.is_empty()).then(|| refuse(state, format!("token endpoint: wrong {wrong:?}")))
}

fn bearer_ok(state: &State, r: &Req<'_>, prefix: &str) -> bool {
    let issued = state.tokens_issued.load(Ordering::SeqCst);
    (1..=issued).any(|n| r.header("authorization") == format!("Bearer {prefix}{n}"))
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

// ---------------------------------------------------------------- Salesforce

const SF_API: &str = "/services/data/v60.0";

fn salesforce(state: &State, r: &Req<'_>) -> HttpResponse {
    if r.path == "/services/oauth2/token" {
        if let Some(refused) = token_request(state, r, None) {
            return refused;
        }
        let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        // Salesforce sends no expires_in.
        return reply(
            200,
            json!({
                "access_token": format!("00Dxx0000001gPL!AR8AQ{n}"),
                "instance_url": state.url,
                "id": format!("{}/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS", state.url),
                "token_type": "Bearer",
                "issued_at": "1733212800000",
                "signature": "0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ=",
            }),
        );
    }
    if !bearer_ok(state, r, "00Dxx0000001gPL!AR8AQ") {
        state.problems.lock().unwrap().push(format!("Salesforce: authorization {:?}", r.header("authorization")));
        return reply(401, json!([{ "message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID" }]));
    }
    match mode(state) {
        Mode::Normal => {}
        Mode::RateLimited => {
            return reply(
                403,
                json!([{ "message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED" }]),
            )
        }
        Mode::Failing => {
            return reply(
                500,
                json!([{ "message": "An unexpected error occurred. Please include this ErrorId if you contact support: 1781534312-39745 (-1617409025)", "errorCode": "UNKNOWN_EXCEPTION" }]),
            )
        }
    }
    if r.method != "GET" {
        return refuse(state, format!("Salesforce: method {}", r.method));
    }
    if r.path == format!("{SF_API}/query") {
        let Some(q) = r.query.get("q") else { return refuse(state, "Salesforce: query without q".into()) };
        return match soql::run(q) {
            Ok((matches, limit)) => {
                let records: Vec<Value> = PEOPLE
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| matches(p))
                    .take(limit)
                    .map(|(i, p)| sf_contact(i, p))
                    .collect();
                reply(200, json!({ "totalSize": records.len(), "done": true, "records": records }))
            }
            Err(e) => {
                state.problems.lock().unwrap().push(format!("Salesforce SOQL {q:?}: {e}"));
                reply(400, json!([{ "message": e, "errorCode": "MALFORMED_QUERY" }]))
            }
        };
    }
    if let Some(id) = r.path.strip_prefix(&format!("{SF_API}/sobjects/Contact/")) {
        let field = r.query.get("fields").map(String::as_str);
        if !matches!(field, Some("Birthdate" | "PIN_Hash__c")) || r.query.len() != 1 {
            return refuse(state, format!("Salesforce: fetch with query {:?}", r.query));
        }
        let Some(i) = (0..PEOPLE.len()).find(|&i| id_of(Kind::Salesforce, i) == id) else {
            return reply(
                404,
                json!([{ "errorCode": "NOT_FOUND", "message": "The requested resource does not exist" }]),
            );
        };
        let mut doc = json!({
            "attributes": { "type": "Contact", "url": format!("{SF_API}/sobjects/Contact/{id}") },
            "Id": id,
        });
        match field {
            Some("Birthdate") => doc["Birthdate"] = json!(PEOPLE[i].dob),
            _ => doc["PIN_Hash__c"] = json!(state.pin_hashes[i]),
        }
        return reply(200, doc);
    }
    reply(404, json!([{ "errorCode": "NOT_FOUND", "message": "The requested resource does not exist" }]))
}

fn sf_contact(i: usize, p: &Person) -> Value {
    let id = id_of(Kind::Salesforce, i);
    json!({
        "attributes": { "type": "Contact", "url": format!("{SF_API}/sobjects/Contact/{id}") },
        "Id": id,
        "FirstName": p.first,
        "LastName": p.last,
        "Preferred_Language__c": p.language,
        "Account": {
            "attributes": { "type": "Account", "url": format!("{SF_API}/sobjects/Account/001Dn0000{i:09}") },
            "Tier__c": p.tier,
        },
    })
}

/// Just enough SOQL: `SELECT … FROM Contact WHERE a = 'x' [OR …] [LIMIT n]`,
/// quoted literals with SOQL's backslash escapes, and `'x' = 'y'` too (so
/// an unescaped injection would really match everyone).
mod soql {
    use super::{us_national, Person};

    #[derive(Debug, PartialEq)]
    enum Tok {
        Word(String),
        Lit(String),
        Eq,
    }

    fn tokens(s: &str) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                ' ' | '\t' | '\n' => {
                    chars.next();
                }
                '=' => {
                    chars.next();
                    out.push(Tok::Eq);
                }
                '\'' => {
                    chars.next();
                    let mut lit = String::new();
                    loop {
                        match chars.next() {
                            None => return Err("unterminated string literal".into()),
                            Some('\'') => break,
                            Some('\\') => match chars.next() {
                                Some('n') => lit.push('\n'),
                                Some('r') => lit.push('\r'),
                                Some('t') => lit.push('\t'),
                                Some('b') => lit.push('\u{8}'),
                                Some('f') => lit.push('\u{c}'),
                                Some(e @ ('\\' | '\'' | '"' | '_' | '%')) => lit.push(e),
                                other => return Err(format!("invalid escape \\{other:?}")),
                            },
                            Some(c) => lit.push(c),
                        }
                    }
                    out.push(Tok::Lit(lit));
                }
                c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == ',' => {
                    let mut w = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == ',' {
                            w.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    out.push(Tok::Word(w));
                }
                other => return Err(format!("unexpected token {other:?}")),
            }
        }
        Ok(out)
    }

    /// An operand: a Contact field or a literal.
    #[derive(Debug, Clone)]
    enum Operand {
        Phone,
        AccountNumber,
        Lit(String),
    }

    impl Operand {
        fn of(&self, p: &Person) -> String {
            match self {
                Self::Phone => us_national(p.phone),
                Self::AccountNumber => p.account.to_string(),
                Self::Lit(s) => s.clone(),
            }
        }
    }

    /// A matcher and the LIMIT.
    pub fn run(q: &str) -> Result<(impl Fn(&Person) -> bool, usize), String> {
        let toks = tokens(q)?;
        let word = |t: Option<&Tok>, w: &str| matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w));
        if !word(toks.first(), "SELECT") {
            return Err("a query starts with SELECT".into());
        }
        let from = toks.iter().position(|t| word(Some(t), "FROM")).ok_or("no FROM")?;
        let selected: Vec<String> = toks[1..from]
            .iter()
            .map(|t| match t {
                Tok::Word(w) => Ok(w.trim_matches(',').to_string()),
                _ => Err("a SELECT list holds field names".to_string()),
            })
            .collect::<Result<_, _>>()?;
        for needed in ["Id", "FirstName", "LastName"] {
            if !selected.iter().any(|f| f == needed) {
                return Err(format!("{needed} is not selected but mapped"));
            }
        }
        if !matches!(toks.get(from + 1), Some(Tok::Word(o)) if o == "Contact") {
            return Err("FROM Contact expected".into());
        }
        if !word(toks.get(from + 2), "WHERE") {
            return Err("WHERE expected".into());
        }
        let mut rest = &toks[from + 3..];
        let mut conditions: Vec<(Operand, Operand)> = Vec::new();
        let mut limit = usize::MAX;
        let operand = |t: &Tok| match t {
            Tok::Word(w) if w == "Phone" => Ok(Operand::Phone),
            Tok::Word(w) if w == "Account.AccountNumber" => Ok(Operand::AccountNumber),
            Tok::Lit(s) => Ok(Operand::Lit(s.clone())),
            other => Err(format!("No such column or unexpected {other:?}")),
        };
        loop {
            match rest {
                [a, Tok::Eq, b, tail @ ..] => {
                    conditions.push((operand(a)?, operand(b)?));
                    rest = tail;
                }
                _ => return Err(format!("a condition expected at {rest:?}")),
            }
            match rest {
                [] => break,
                [Tok::Word(or), tail @ ..] if or.eq_ignore_ascii_case("OR") => rest = tail,
                [Tok::Word(l), Tok::Word(n)] if l.eq_ignore_ascii_case("LIMIT") => {
                    limit = n.parse().map_err(|_| format!("LIMIT {n}"))?;
                    break;
                }
                other => return Err(format!("unexpected {other:?}")),
            }
        }
        Ok((move |p: &Person| conditions.iter().any(|(a, b)| a.of(p) == b.of(p)), limit))
    }

    #[test]
    fn the_parser_matches_literals_exactly_and_an_unescaped_injection_matches_everyone() {
        let (m, limit) =
            run("SELECT Id, FirstName, LastName FROM Contact WHERE Account.AccountNumber = '12345678' LIMIT 2")
                .unwrap();
        assert_eq!(limit, 2);
        assert_eq!(super::PEOPLE.iter().filter(|p| m(p)).count(), 1);
        let (m, _) =
            run("SELECT Id, FirstName, LastName FROM Contact WHERE Account.AccountNumber = '1' OR '1'='1'").unwrap();
        assert_eq!(super::PEOPLE.iter().filter(|p| m(p)).count(), 4, "the double really evaluates OR");
        let (m, _) =
            run(r"SELECT Id, FirstName, LastName FROM Contact WHERE Account.AccountNumber = '1\' OR \'1\'=\'1'")
                .unwrap();
        assert_eq!(super::PEOPLE.iter().filter(|p| m(p)).count(), 0, "escaped, it is one literal");
    }
}

// ------------------------------------------------------------------ HubSpot

fn hubspot(state: &State, r: &Req<'_>) -> HttpResponse {
    if r.header("authorization") != format!("Bearer {HUBSPOT_TOKEN}") {
        state.problems.lock().unwrap().push(format!("HubSpot: authorization {:?}", r.header("authorization")));
        return reply(
            401,
            json!({ "status": "error", "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview", "correlationId": "a43683b0-5717-4ceb-80b4-104d02915d8c", "category": "INVALID_AUTHENTICATION" }),
        );
    }
    match mode(state) {
        Mode::Normal => {}
        Mode::RateLimited => {
            return reply(
                429,
                json!({ "status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT", "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24", "policyName": "SECONDLY", "groupsErrorCode": "", "category": "RATE_LIMITS" }),
            )
        }
        Mode::Failing => {
            return reply(
                500,
                json!({ "status": "error", "message": "internal error", "correlationId": "0c2a7a1c-4e2b-4bb0-9f4e-6f0d2e1f3a11", "category": "INTERNAL_ERROR" }),
            )
        }
    }
    if r.path == "/crm/v3/objects/contacts/search" {
        if r.method != "POST" || !r.header("content-type").starts_with("application/json") {
            return refuse(state, format!("HubSpot search: {} with {:?}", r.method, r.header("content-type")));
        }
        let body: Value = match serde_json::from_slice(r.body) {
            Ok(v) => v,
            Err(e) => return refuse(state, format!("HubSpot search: body is not JSON: {e}")),
        };
        return match hubspot_search(&body) {
            Ok(found) => {
                let props = body["properties"].as_array().cloned().unwrap_or_default();
                let limit = body["limit"].as_u64().unwrap_or(10) as usize;
                let results: Vec<Value> =
                    found.iter().take(limit).map(|&i| hubspot_contact(state, i, &props)).collect();
                reply(200, json!({ "total": found.len(), "results": results }))
            }
            Err(e) => {
                state.problems.lock().unwrap().push(format!("HubSpot search: {e}"));
                reply(
                    400,
                    json!({ "status": "error", "message": e, "correlationId": "5b0a4f0e-0000-4000-8000-000000000001", "category": "VALIDATION_ERROR" }),
                )
            }
        };
    }
    if let Some(id) = r.path.strip_prefix("/crm/v3/objects/contacts/") {
        if r.method != "GET" || r.query.get("properties").map(String::as_str) != Some("vouch_pin_hash") {
            return refuse(state, format!("HubSpot fetch: {} with {:?}", r.method, r.query));
        }
        let Some(i) = (0..PEOPLE.len()).find(|&i| id_of(Kind::Hubspot, i) == id) else {
            return reply(
                404,
                json!({ "status": "error", "message": "Object not found.  objectId are usually numeric.", "correlationId": "3b2f4c1e-0000-4000-8000-000000000002", "context": { "id": [id] }, "category": "OBJECT_NOT_FOUND" }),
            );
        };
        return reply(200, hubspot_contact(state, i, &[json!("vouch_pin_hash")]));
    }
    refuse(state, format!("HubSpot: no such endpoint {} {}", r.method, r.path))
}

/// The people an OR of AND'd filter groups finds.
fn hubspot_search(body: &Value) -> Result<Vec<usize>, String> {
    let groups = body["filterGroups"].as_array().ok_or("filterGroups must be an array")?;
    if groups.is_empty() || groups.len() > 5 {
        return Err("1 to 5 filterGroups".into());
    }
    let mut conditions = Vec::new();
    for g in groups {
        let filters = g["filters"].as_array().ok_or("each filter group has a filters array")?;
        let mut all = Vec::new();
        for f in filters {
            if f["operator"] != "EQ" {
                return Err(format!("operator {} is not used here", f["operator"]));
            }
            let value = f["value"].as_str().ok_or("a filter value is a string")?.to_string();
            let property = f["propertyName"].as_str().unwrap_or("").to_string();
            if !["phone", "hs_searchable_calculated_phone_number", "account_number"].contains(&property.as_str()) {
                return Err(format!("unknown property {property:?}"));
            }
            all.push((property, value));
        }
        conditions.push(all);
    }
    let prop = |p: &Person, name: &str| match name {
        "phone" => p.phone.to_string(),
        // HubSpot derives it from phone: digits, without the country code.
        "hs_searchable_calculated_phone_number" => p.phone[2..].to_string(),
        _ => p.account.to_string(),
    };
    Ok((0..PEOPLE.len())
        .filter(|&i| conditions.iter().any(|group| group.iter().all(|(k, v)| prop(&PEOPLE[i], k) == *v)))
        .collect())
}

fn hubspot_contact(state: &State, i: usize, requested: &[Value]) -> Value {
    let p = &PEOPLE[i];
    let id = id_of(Kind::Hubspot, i);
    let all = json!({
        "firstname": p.first,
        "lastname": p.last,
        "phone": p.phone,
        "account_number": p.account,
        "customer_tier": p.tier,
        "hs_language": p.language,
        "vouch_pin_hash": state.pin_hashes[i],
    });
    // HubSpot returns what was asked for, plus three it always sends.
    let mut props = serde_json::Map::new();
    props.insert("createdate".into(), json!("2024-03-01T10:00:00.000Z"));
    props.insert("hs_object_id".into(), json!(id));
    props.insert("lastmodifieddate".into(), json!("2026-11-30T09:00:00.000Z"));
    for name in requested.iter().filter_map(Value::as_str) {
        props.insert(name.into(), all.get(name).cloned().unwrap_or(Value::Null));
    }
    json!({
        "id": id,
        "properties": props,
        "createdAt": "2024-03-01T10:00:00.000Z",
        "updatedAt": "2026-11-30T09:00:00.000Z",
        "archived": false,
    })
}

// ------------------------------------------------------------------ Zendesk

fn zendesk(state: &State, r: &Req<'_>) -> HttpResponse {
    if r.header("authorization") != basic(ZENDESK_USER, ZENDESK_TOKEN) {
        state.problems.lock().unwrap().push(format!("Zendesk: authorization {:?}", r.header("authorization")));
        return reply(401, json!({ "error": "Couldn't authenticate you" }));
    }
    match mode(state) {
        Mode::Normal => {}
        Mode::RateLimited => {
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "7"))
                .json(json!({ "error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded" }))
        }
        Mode::Failing => return reply(500, json!({ "error": "InternalError", "description": "Something went wrong" })),
    }
    if r.method != "GET" {
        return refuse(state, format!("Zendesk: method {}", r.method));
    }
    if r.path == "/api/v2/users/search.json" {
        let Some(q) = r.query.get("query").filter(|_| r.query.len() == 1) else {
            return refuse(state, format!("Zendesk users search: query {:?}", r.query));
        };
        return match zendesk_search(q) {
            Ok(found) => {
                let users: Vec<Value> = found.iter().map(|&i| zendesk_user(state, i)).collect();
                reply(200, json!({ "users": users, "next_page": null, "previous_page": null, "count": users.len() }))
            }
            Err(e) => {
                state.problems.lock().unwrap().push(format!("Zendesk query {q:?}: {e}"));
                reply(400, json!({ "error": "InvalidSearch", "description": e }))
            }
        };
    }
    if let Some(id) = r.path.strip_prefix("/api/v2/users/").and_then(|s| s.strip_suffix(".json")) {
        if !r.query.is_empty() {
            return refuse(state, format!("Zendesk user fetch: query {:?}", r.query));
        }
        return match (0..PEOPLE.len()).find(|&i| id_of(Kind::Zendesk, i) == id) {
            Some(i) => reply(200, json!({ "user": zendesk_user(state, i) })),
            None => reply(404, json!({ "error": "RecordNotFound", "description": "Not found" })),
        };
    }
    refuse(state, format!("Zendesk: no such endpoint {}", r.path))
}

/// Terms `key:value` or `key:"a phrase"`, AND'd: `phone` (matched on the
/// digits) and the `account_number` user field.
fn zendesk_search(q: &str) -> Result<Vec<usize>, String> {
    let mut terms = Vec::new();
    let mut chars = q.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != ':' && *c != ' ')).collect();
        if chars.next() != Some(':') {
            return Err(format!("free text {key:?} is not used here"));
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let v: String = std::iter::from_fn(|| chars.next_if(|c| *c != '"')).collect();
            if chars.next() != Some('"') {
                return Err("an unterminated phrase".into());
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ' ')).collect()
        };
        terms.push((key, value));
    }
    if terms.is_empty() {
        return Err("an empty query".into());
    }
    for (k, _) in &terms {
        if !["phone", "account_number"].contains(&k.as_str()) {
            return Err(format!("unknown field {k:?}"));
        }
    }
    Ok((0..PEOPLE.len())
        .filter(|&i| {
            let p = &PEOPLE[i];
            terms.iter().all(|(k, v)| match k.as_str() {
                "phone" => !v.is_empty() && digits(p.phone) == *v,
                _ => p.account == v,
            })
        })
        .collect())
}

fn zendesk_user(state: &State, i: usize) -> Value {
    let p = &PEOPLE[i];
    let id: u64 = id_of(Kind::Zendesk, i).parse().unwrap();
    json!({
        "id": id,
        "url": format!("{}/api/v2/users/{id}.json", state.url),
        "name": format!("{} {}", p.first, p.last),
        "email": format!("{}@example.com", p.first.to_lowercase()),
        "phone": p.phone,
        "locale": p.language,
        "role": "end-user",
        "user_fields": { "account_number": p.account, "zip_code": p.zip, "customer_tier": p.tier },
    })
}

// ---------------------------------------------------------------- Dataverse

const DV_API: &str = "/api/data/v9.2";

fn dataverse(state: &State, r: &Req<'_>) -> HttpResponse {
    if r.path == format!("/{TENANT}/oauth2/v2.0/token") {
        if let Some(refused) = token_request(state, r, Some(DATAVERSE_SCOPE)) {
            return refused;
        }
        let n = state.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        return reply(
            200,
            json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.dv{n}") }),
        );
    }
    if !bearer_ok(state, r, "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.dv") {
        state.problems.lock().unwrap().push(format!("Dataverse: authorization {:?}", r.header("authorization")));
        return reply(401, json!({ "error": { "code": "0x80072243", "message": "Invalid token" } }));
    }
    if r.header("odata-maxversion") != "4.0" || r.header("odata-version") != "4.0" {
        return refuse(state, "Dataverse: OData-MaxVersion / OData-Version 4.0 headers missing".into());
    }
    match mode(state) {
        Mode::Normal => {}
        Mode::RateLimited => {
            return HttpResponse::TooManyRequests().insert_header(("Retry-After", "5")).json(
                json!({ "error": { "code": "0x80072322", "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds." } }),
            )
        }
        Mode::Failing => {
            return reply(500, json!({ "error": { "code": "0x80040216", "message": "An unexpected error occurred." } }))
        }
    }
    if r.method != "GET" {
        return refuse(state, format!("Dataverse: method {}", r.method));
    }
    let select: Vec<String> =
        r.query.get("$select").map(|s| s.split(',').map(str::to_string).collect()).unwrap_or_default();
    if r.path == format!("{DV_API}/contacts") {
        for needed in ["contactid", "firstname", "lastname"] {
            if !select.iter().any(|s| s == needed) {
                return refuse(state, format!("Dataverse: $select lacks {needed}"));
            }
        }
        let Some(filter) = r.query.get("$filter") else { return refuse(state, "Dataverse: no $filter".into()) };
        let top: usize = match r.query.get("$top").map(|t| t.parse()) {
            None => 5000,
            Some(Ok(n)) => n,
            Some(Err(_)) => return refuse(state, "Dataverse: $top".into()),
        };
        return match odata::run(filter) {
            Ok(matches) => {
                let value: Vec<Value> = (0..PEOPLE.len())
                    .filter(|&i| matches(&PEOPLE[i]))
                    .take(top)
                    .map(|i| dataverse_contact(state, i, &select))
                    .collect();
                reply(
                    200,
                    json!({ "@odata.context": format!("{}{DV_API}/$metadata#contacts({})", state.url, select.join(",")), "value": value }),
                )
            }
            Err(e) => {
                state.problems.lock().unwrap().push(format!("Dataverse $filter {filter:?}: {e}"));
                reply(400, json!({ "error": { "code": "0x80060888", "message": e } }))
            }
        };
    }
    if let Some(id) = r.path.strip_prefix(&format!("{DV_API}/contacts(")).and_then(|s| s.strip_suffix(')')) {
        if select != ["new_pinhash"] || r.query.len() != 1 {
            return refuse(state, format!("Dataverse fetch: query {:?}", r.query));
        }
        return match (0..PEOPLE.len()).find(|&i| id_of(Kind::Dataverse, i) == id) {
            Some(i) => reply(200, dataverse_contact(state, i, &select)),
            None => reply(
                404,
                json!({ "error": { "code": "0x80040217", "message": format!("Entity 'contact' With Id = {id} Does Not Exist") } }),
            ),
        };
    }
    refuse(state, format!("Dataverse: no such endpoint {}", r.path))
}

fn dataverse_contact(state: &State, i: usize, select: &[String]) -> Value {
    let p = &PEOPLE[i];
    let all = json!({
        "contactid": id_of(Kind::Dataverse, i),
        "firstname": p.first,
        "lastname": p.last,
        "telephone1": p.phone,
        "new_accountnumber": p.account,
        "new_tier": p.tier,
        "new_pinhash": state.pin_hashes[i],
        "preferredcontactmethodcode": 3,
    });
    let mut out = serde_json::Map::new();
    out.insert("@odata.etag".into(), json!(format!("W/\"{}\"", 4_000_000 + i)));
    for s in select {
        out.insert(s.clone(), all.get(s).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// Just enough OData `$filter`: `a eq 'x' [or …]`, a `'` doubled inside a
/// literal, and `'x' eq 'y'` too.
mod odata {
    use super::Person;

    pub fn run(filter: &str) -> Result<impl Fn(&Person) -> bool, String> {
        let mut conditions: Vec<(String, String)> = Vec::new();
        let mut rest = filter.trim();
        loop {
            let (a, tail) = operand(rest)?;
            let tail = tail.trim_start().strip_prefix("eq ").ok_or(format!("'eq' expected at {tail:?}"))?;
            let (b, tail) = operand(tail.trim_start())?;
            conditions.push((a, b));
            let tail = tail.trim_start();
            if tail.is_empty() {
                break;
            }
            rest = tail.strip_prefix("or ").ok_or(format!("'or' expected at {tail:?}"))?.trim_start();
        }
        Ok(move |p: &Person| {
            let value = |o: &str| match o {
                "@telephone1" => p.phone.to_string(),
                "@new_accountnumber" => p.account.to_string(),
                lit => lit[1..].to_string(),
            };
            conditions.iter().any(|(a, b)| value(a) == value(b))
        })
    }

    /// A column (`@name`) or a literal (`'` + its text), and the rest.
    fn operand(s: &str) -> Result<(String, &str), String> {
        if let Some(body) = s.strip_prefix('\'') {
            let mut lit = String::from("'");
            let mut chars = body.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, c)| *c) == Some('\'') {
                        chars.next();
                        lit.push('\'');
                    } else {
                        return Ok((lit, &body[i + 1..]));
                    }
                } else {
                    lit.push(c);
                }
            }
            return Err("an unterminated literal".into());
        }
        let end = s.find(' ').unwrap_or(s.len());
        match &s[..end] {
            c @ ("telephone1" | "new_accountnumber") => Ok((format!("@{c}"), &s[end..])),
            other => Err(format!("Could not find a property named '{other}' on type 'Microsoft.Dynamics.CRM.contact'")),
        }
    }

    #[test]
    fn the_filter_matches_literals_exactly_and_an_unescaped_injection_matches_everyone() {
        let count = |f: &str| super::PEOPLE.iter().filter(|p| run(f).unwrap()(p)).count();
        assert_eq!(count("telephone1 eq '+15550003333'"), 2);
        assert_eq!(count("new_accountnumber eq '1' or '1' eq '1'"), 4, "the double really evaluates or");
        assert_eq!(count("new_accountnumber eq '1'' or ''1''=''1'"), 0, "escaped, it is one literal");
    }
}

// ---------------------------------------------------------------- Freshdesk

fn freshdesk(state: &State, r: &Req<'_>) -> HttpResponse {
    if r.header("authorization") != basic(FRESHDESK_KEY, "X") {
        state.problems.lock().unwrap().push(format!("Freshdesk: authorization {:?}", r.header("authorization")));
        return reply(
            401,
            json!({ "code": "invalid_credentials", "message": "You have to be logged in to perform this action." }),
        );
    }
    match mode(state) {
        Mode::Normal => {}
        Mode::RateLimited => {
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "60"))
                .json(json!({ "message": "You have exceeded the limit of requests per minute" }))
        }
        Mode::Failing => {
            return reply(500, json!({ "code": "internal_error", "message": "We're sorry, but something went wrong." }))
        }
    }
    if r.method != "GET" {
        return refuse(state, format!("Freshdesk: method {}", r.method));
    }
    if r.path == "/api/v2/contacts" {
        let Some(phone) = r.query.get("phone").filter(|_| r.query.len() == 1) else {
            return refuse(state, format!("Freshdesk list: filters {:?}", r.query));
        };
        // The filter compares the phone exactly as stored.
        let found: Vec<Value> =
            (0..PEOPLE.len()).filter(|&i| us_national(PEOPLE[i].phone) == *phone).map(freshdesk_contact).collect();
        return reply(200, Value::Array(found));
    }
    if r.path == "/api/v2/search/contacts" {
        let Some(q) = r.query.get("query").filter(|_| r.query.len() == 1) else {
            return refuse(state, format!("Freshdesk search: {:?}", r.query));
        };
        // `"account_number:12345678"`: the query in double quotes, a number field's value bare.
        let term = q.strip_prefix('"').and_then(|q| q.strip_suffix('"')).and_then(|q| q.split_once(':'));
        return match term {
            Some(("account_number", n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let found: Vec<Value> =
                    (0..PEOPLE.len()).filter(|&i| PEOPLE[i].account == n).map(freshdesk_contact).collect();
                reply(200, json!({ "results": found, "total": found.len() }))
            }
            _ => {
                state.problems.lock().unwrap().push(format!("Freshdesk query {q:?}"));
                reply(
                    400,
                    json!({ "description": "Validation failed", "errors": [{ "field": "query", "message": "Invalid query", "code": "invalid_value" }] }),
                )
            }
        };
    }
    if let Some(id) = r.path.strip_prefix("/api/v2/contacts/") {
        return match (0..PEOPLE.len()).find(|&i| id_of(Kind::Freshdesk, i) == id) {
            Some(i) => reply(200, freshdesk_contact(i)),
            // Freshdesk answers a missing record with an empty 404.
            None => HttpResponse::NotFound().finish(),
        };
    }
    refuse(state, format!("Freshdesk: no such endpoint {}", r.path))
}

fn freshdesk_contact(i: usize) -> Value {
    let p = &PEOPLE[i];
    let id: u64 = id_of(Kind::Freshdesk, i).parse().unwrap();
    json!({
        "id": id,
        "name": format!("{} {}", p.first, p.last),
        "email": format!("{}@example.com", p.first.to_lowercase()),
        "phone": us_national(p.phone),
        "mobile": null,
        "language": p.language,
        "active": true,
        "custom_fields": {
            "account_number": p.account.parse::<u64>().unwrap(),
            "card_number": p.card,
            "tier": p.tier,
        },
        "created_at": "2024-03-01T10:00:00Z",
        "updated_at": "2026-11-30T09:00:00Z",
    })
}
