//! Cross-checks `vouch::twilio::signature` against the reference: the
//! official twilio-python helper's `RequestValidator` (twilio 9.x).
//!
//! Hundreds of random webhook requests are generated from a fixed seed,
//! signed by us, and handed in one JSON file to a single `python3` process
//! that signs and validates them with twilio-python. The tests then assert
//! that both sides compute the same signatures, build the same URL variants,
//! and accept or refuse exactly the same signatures.
//!
//! Without `pip install twilio` the tests pass with a `SKIPPED` line on
//! stderr, unless `VOUCH_REQUIRE_ORACLES=1` (CI) makes that a failure.
//! `VOUCH_ORACLE_SEED=<u64 or 0x…>` replays another seed.
//!
//! Known divergences, kept out of the generated URLs on purpose because
//! none is a URL Twilio would request (`compute_signature` agrees on them;
//! only the URL variants tried differ):
//! - URLs that Python's `urlparse(url).geturl()` rewrites (an empty `?` or
//!   `#`, an empty `;` path parameter, an uppercase scheme, surrounding
//!   whitespace): twilio-python only ever tries the rewritten URL, we try
//!   the URL as given.
//! - Port `:0` (falsy in Python, so "no port": it tries `:0` and `:0:443`),
//!   ports above 65535 and an empty port `host:/` (whose with-port variant
//!   `host::443` makes Python raise `ValueError`).
//! - An IPv6 literal or `user:pass@` together with a port: twilio-python's
//!   `remove_port` cuts the netloc at the first `:` (`https://[/x`), we
//!   remove just the port. Both agree on such hosts without a port.
//! - We also accept an uppercase `bodySHA256` and trim whitespace around the
//!   signature; twilio-python compares both byte for byte.

use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::process::Command;
use std::sync::OnceLock;
use vouch::twilio::form::Params;
use vouch::twilio::signature::{sign, url_variants, verify, Body};

const DEFAULT_SEED: u64 = 0x766f_7563_6853_4947;
const FORM_CASES: usize = 600;
const JSON_CASES: usize = 40;

// ------------------------------------------------------------------ the oracle

/// Answers, for each case of the JSON file named by `argv[1]`, what
/// twilio-python computes and accepts.
const PYTHON_ORACLE: &str = r#"
import json, sys
from urllib.parse import urlparse, parse_qsl
import twilio
from twilio.request_validator import RequestValidator, add_port, remove_port

class MultiDict:
    """Like Flask's: dict semantics over distinct names, getall() for every value."""
    def __init__(self, pairs):
        self.pairs = [(n, v) for n, v in pairs]
        self.names = list(dict.fromkeys(n for n, _ in self.pairs))
    def __iter__(self): return iter(self.names)
    def __len__(self): return len(self.names)
    def __contains__(self, name): return name in self.names
    def __getitem__(self, name): return self.getall(name)[0]
    def keys(self): return list(self.names)
    def getall(self, name): return [v for n, v in self.pairs if n == name]

def answer(c):
    rv = RequestValidator(c["token"])
    md = MultiDict(c["params"])
    body = c.get("raw", md)  # a JSON request passes its raw body as a string
    parsed = urlparse(c["url"])
    variants = [remove_port(parsed), add_port(parsed)]
    out = {
        "roundtrips": parsed.geturl() == c["url"],
        "sigs": [rv.compute_signature(u, md) for u in c["urls"]],
        "variants": variants,
        "variant_sigs": [rv.compute_signature(u, md) for u in variants],
        "other_token_sig": RequestValidator(c["other_token"]).compute_signature(c["url"], md),
        "validate": [[rv.validate(u, body, s) for s in c["sigs"]] for u in c["urls"]],
        "body_pairs": parse_qsl(c["form_body"], keep_blank_values=True),
    }
    if "raw" in c:
        out["hash"] = rv.compute_hash(c["raw"])
        out["validate_tampered"] = [[rv.validate(u, c["tampered"], s) for s in c["sigs"]] for u in c["urls"]]
    return out

def guarded(c):
    try:
        return answer(c)
    except Exception as e:
        return {"error": repr(e)}

with open(sys.argv[1], encoding="utf-8") as fh:
    cases = json.load(fh)
json.dump({"twilio": twilio.__version__, "answers": [guarded(c) for c in cases]}, sys.stdout)
"#;

/// Python's answer for one case; every `Vec` follows the case's probe lists.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Answer {
    error: Option<String>,
    roundtrips: bool,
    /// `compute_signature(urls[i], params)`.
    sigs: Vec<String>,
    /// `[remove_port(url), add_port(url)]`.
    variants: Vec<String>,
    variant_sigs: Vec<String>,
    other_token_sig: String,
    /// `validate(urls[i], params_or_raw_body, sigs[j])`.
    validate: Vec<Vec<bool>>,
    body_pairs: Vec<(String, String)>,
    hash: String,
    validate_tampered: Vec<Vec<bool>>,
}

#[derive(Deserialize)]
struct PythonOutput {
    twilio: String,
    answers: Vec<Answer>,
}

struct Oracle {
    cases: Vec<Case>,
    answers: Vec<Answer>,
}

impl Oracle {
    /// Cases python answered; the first test reports those where it raised.
    fn answered(&self) -> impl Iterator<Item = (&Case, &Answer)> {
        let all = self.cases.iter().zip(&self.answers);
        all.filter(|(_, py)| py.error.is_none())
    }
}

enum Unavailable {
    Skip,
    Fail(String),
}

/// Runs twilio-python once for the whole binary; every test reads the result.
fn oracle() -> Option<&'static Oracle> {
    static ORACLE: OnceLock<Result<Oracle, Unavailable>> = OnceLock::new();
    match ORACLE.get_or_init(run_oracle) {
        Ok(oracle) => Some(oracle),
        Err(Unavailable::Skip) => None,
        Err(Unavailable::Fail(why)) => panic!("{why}"),
    }
}

/// Written straight to stderr so it shows even when libtest captures output.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn run_oracle() -> Result<Oracle, Unavailable> {
    let installed = Command::new("python3").args(["-c", "import twilio"]).output();
    if !installed.is_ok_and(|o| o.status.success()) {
        let why = "SKIPPED signature_oracle: python twilio library not installed (pip install twilio)";
        if std::env::var("VOUCH_REQUIRE_ORACLES").is_ok_and(|v| v == "1") {
            let why = why.replace("SKIPPED ", "");
            let why = format!("{why}; VOUCH_REQUIRE_ORACLES=1 makes this a failure");
            return Err(Unavailable::Fail(why));
        }
        note(why);
        return Err(Unavailable::Skip);
    }
    let fail = |what: &str, e: &dyn std::fmt::Display| Unavailable::Fail(format!("signature_oracle: {what}: {e}"));
    let seed = seed();
    let cases = generate(seed);
    let file = format!("vouch-signature-oracle-{}.json", std::process::id());
    let path = std::env::temp_dir().join(file);
    let input = Value::Array(cases.iter().map(Case::to_json).collect());
    std::fs::write(&path, input.to_string()).map_err(|e| fail("writing the cases", &e))?;
    let output = Command::new("python3").args(["-c", PYTHON_ORACLE]).arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = output.map_err(|e| fail("running python3", &e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail("the python oracle failed", &stderr));
    }
    let python: PythonOutput = serde_json::from_slice(&output.stdout).map_err(|e| fail("reading its answer", &e))?;
    if python.answers.len() != cases.len() {
        return Err(fail("python answered", &python.answers.len()));
    }
    note(&format!(
        "signature_oracle: seed {seed:#x} (VOUCH_ORACLE_SEED replays it), {FORM_CASES} form + \
         {JSON_CASES} JSON cases, twilio-python {}",
        python.twilio
    ));
    let answers = python.answers;
    Ok(Oracle { cases, answers })
}

fn seed() -> u64 {
    let Ok(raw) = std::env::var("VOUCH_ORACLE_SEED") else {
        return DEFAULT_SEED;
    };
    let parsed = match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => raw.parse(),
    };
    parsed.unwrap_or_else(|_| panic!("VOUCH_ORACLE_SEED={raw:?} is not a u64"))
}

/// Collects every disagreement, so one run names all the failing cases.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, case: &Case, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(format!("{}\n  {}", case.describe(), what()));
        }
    }

    fn assert_none(self, claim: &str) {
        let shown: Vec<&str> = self.0.iter().take(12).map(String::as_str).collect();
        assert!(
            self.0.is_empty(),
            "{claim}: {} failure(s) with seed {:#x}; the first ones:\n\n{}",
            self.0.len(),
            seed(),
            shown.join("\n\n")
        );
    }
}

// ------------------------------------------------------------------- the tests

#[test]
fn twilio_python_computes_the_same_signatures_as_we_do() {
    let Some(o) = oracle() else { return };
    let mut f = Failures::default();
    for (case, py) in o.cases.iter().zip(&o.answers) {
        if let Some(error) = &py.error {
            f.check(case, false, || format!("python raised {error}"));
            continue;
        }
        f.check(case, py.roundtrips, || "generator bug: urlparse rewrites this URL".into());
        for (url, theirs) in case.probe_urls().iter().zip(&py.sigs) {
            let ours = sign(&case.token, url, &case.params);
            f.check(case, &ours == theirs, || format!("signing {url:?}: ours {ours:?}, twilio-python's {theirs:?}"));
        }
    }
    let documented = ["0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "IK+Dwps556ElfBT0I3Rgjkr1wJU="];
    for (i, expected) in documented.into_iter().enumerate() {
        let theirs = o.answers[i].sigs.first().map(String::as_str);
        f.check(&o.cases[i], theirs == Some(expected), || {
            format!("Twilio documents {expected}, twilio-python says {theirs:?}")
        });
    }
    f.assert_none("signatures differ from twilio-python's compute_signature");
}

#[test]
fn twilio_python_accepts_our_signatures_and_we_accept_its_signatures_for_both_url_variants() {
    let Some(o) = oracle() else { return };
    let mut f = Failures::default();
    for (case, py) in o.answered() {
        let ours = url_variants(&case.url);
        f.check(case, py.variants == ours, || {
            format!("url variants: ours {ours:?}, twilio-python's {:?}", py.variants)
        });
        let accepted = py.validate.first().and_then(|row| row.first());
        f.check(case, accepted == Some(&true), || "twilio-python's validate() refuses our signature".into());
        for (variant, sig) in py.variants.iter().zip(&py.variant_sigs) {
            f.check(case, case.verify(&case.url, sig), || {
                format!("we refuse twilio-python's signature {sig:?} over {variant:?}")
            });
        }
    }
    f.assert_none("signatures are not accepted both ways");
}

#[test]
fn a_signature_twilio_python_made_with_another_token_is_refused() {
    let Some(o) = oracle() else { return };
    let mut f = Failures::default();
    for (case, py) in o.answered() {
        let sig = &py.other_token_sig;
        f.check(case, !case.verify(&case.url, sig), || format!("we accept {sig:?}, made with {:?}", case.other_token));
        let both = [case.token.as_str(), &case.other_token];
        f.check(case, verify(both, &case.url, case.body(), sig), || {
            format!("we refuse {sig:?} even given {:?}", case.other_token)
        });
    }
    f.assert_none("signatures made with another token are not refused");
}

#[test]
fn we_accept_and_refuse_exactly_the_signatures_twilio_python_does_for_every_url_variant() {
    let Some(o) = oracle() else { return };
    let mut f = Failures::default();
    for (case, py) in o.answered() {
        let (urls, sigs) = (case.probe_urls(), case.probe_sigs());
        f.check(case, py.validate.len() == urls.len(), || "python's answer is short".into());
        for (url, row) in urls.iter().zip(&py.validate) {
            for ((label, sig), theirs) in sigs.iter().zip(row) {
                let ours = case.verify(url, sig);
                f.check(case, ours == *theirs, || {
                    format!(
                        "a request to {url:?} signed over {label}: \
                         we say {ours}, twilio-python says {theirs}"
                    )
                });
            }
        }
    }
    f.assert_none("verify() disagrees with twilio-python's validate()");
}

#[test]
fn json_bodies_are_accepted_only_with_the_body_their_body_sha256_vouches_for() {
    let Some(o) = oracle() else { return };
    let mut f = Failures::default();
    let mut checked = 0;
    for (case, py) in o.answered() {
        let Some(json) = &case.json else { continue };
        checked += 1;
        f.check(case, py.hash == json.hash, || format!("bodySHA256: ours {}, twilio-python's {}", json.hash, py.hash));
        let tampered = || Body::Json { raw: json.tampered.as_bytes(), body_sha256: &json.hash };
        let token = [case.token.as_str()];
        f.check(case, case.verify(&case.url, &json.sig), || "we refuse our own signature of the body".into());
        f.check(case, !verify(token, &case.url, tampered(), &json.sig), || {
            format!("we accept the tampered body {:?}", json.tampered)
        });
        let sigs = case.probe_sigs();
        for (url, row) in case.probe_urls().iter().zip(&py.validate_tampered) {
            for ((label, sig), theirs) in sigs.iter().zip(row) {
                let ours = verify(token, url, tampered(), sig);
                f.check(case, ours == *theirs, || {
                    format!(
                        "the tampered body sent to {url:?} signed over {label}: \
                         we say {ours}, twilio-python says {theirs}"
                    )
                });
            }
        }
    }
    assert_eq!(checked, JSON_CASES, "python did not answer every JSON case");
    f.assert_none("JSON bodies are judged differently from twilio-python");
}

#[test]
fn form_bodies_we_encode_decode_to_the_same_params_in_python_and_in_rust() {
    let Some(o) = oracle() else { return };
    let mut f = Failures::default();
    for (case, py) in o.answered().filter(|(case, _)| case.json.is_none()) {
        let body = case.params.encode();
        f.check(case, py.body_pairs == case.pairs, || format!("python decodes {body:?} as {:?}", py.body_pairs));
        let ours = Params::parse(body.as_bytes());
        f.check(case, ours.as_ref() == Ok(&case.params), || format!("Params::parse({body:?}) = {ours:?}"));
    }
    f.assert_none("form bodies do not round-trip");
}

#[test]
fn the_random_cases_cover_every_shape_of_request_that_matters() {
    let cases = generate(seed());
    let (json, form): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| c.json.is_some());
    let count = |pred: &dyn Fn(&Case) -> bool| form.iter().filter(|c| pred(c)).count();
    let any_value = |c: &Case, pred: &dyn Fn(&str) -> bool| c.pairs.iter().any(|(_, v)| pred(v));
    let port = |c: &Case| {
        let authority = c.url.split("://").nth(1).unwrap_or_default();
        let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
        authority.rsplit_once(':').map(|(_, port)| port.to_string())
    };
    let is_default = |p: &str| p == "80" || p == "443";
    #[rustfmt::skip]
    let coverage = [
        ("JSON bodies", json.len()),
        ("https", count(&|c| c.url.starts_with("https://"))),
        ("http", count(&|c| c.url.starts_with("http://"))),
        ("no port", count(&|c| port(c).is_none())),
        ("a default port", count(&|c| port(c).is_some_and(|p| is_default(&p)))),
        ("another port", count(&|c| port(c).is_some_and(|p| !is_default(&p)))),
        ("a query", count(&|c| c.url.contains('?'))),
        ("%-escapes in the URL", count(&|c| c.url.contains('%'))),
        ("+ in the URL", count(&|c| c.url.contains('+'))),
        ("unicode in the URL", count(&|c| !c.url.is_ascii())),
        ("no params", count(&|c| c.pairs.is_empty())),
        ("a name repeated with its value", count(&|c| repeats(&c.pairs, true))),
        ("a name repeated with another value", count(&|c| repeats(&c.pairs, false))),
        ("names equal but for case", count(&|c| case_twins(&c.pairs))),
        ("an empty value", count(&|c| any_value(c, &|v| v.is_empty()))),
        ("a unicode value", count(&|c| any_value(c, &|v| !v.is_ascii()))),
        ("& = + or space in a value", count(&|c| any_value(c, &|v| v.contains(['&', '=', '+', ' '])))),
    ];
    assert!(form.len() >= 500, "only {} form cases", form.len());
    let thin: Vec<String> = coverage.iter().filter(|(_, n)| *n < 20).map(|(what, n)| format!("{what}: {n}")).collect();
    assert!(thin.is_empty(), "the generator rarely produces: {}", thin.join(", "));
}

fn repeats(pairs: &[(String, String)], same_value: bool) -> bool {
    let earlier = |i: usize| &pairs[..i];
    pairs.iter().enumerate().any(|(i, (n, v))| earlier(i).iter().any(|(n2, v2)| n == n2 && (v == v2) == same_value))
}

fn case_twins(pairs: &[(String, String)]) -> bool {
    let twins = |a: &String, b: &String| a != b && a.eq_ignore_ascii_case(b);
    pairs.iter().any(|(a, _)| pairs.iter().any(|(b, _)| twins(a, b)))
}

// ------------------------------------------------------------------- the cases

/// One signed request: form parameters (possibly none), or a JSON body.
struct Case {
    /// "form case #12" or "JSON case #3", to name it in failures.
    label: String,
    token: String,
    other_token: String,
    url: String,
    /// The URL on another non-default port, to check it is refused.
    alt_url: Option<String>,
    pairs: Vec<(String, String)>,
    params: Params,
    json: Option<JsonBody>,
}

struct JsonBody {
    raw: String,
    /// The same JSON document, but not the same bytes.
    tampered: String,
    hash: String,
    sig: String,
}

impl Case {
    fn new(rng: &mut Rng, url: String, alt_url: Option<String>, pairs: Vec<(String, String)>) -> Self {
        let token = token(rng);
        let other_token = other_token(&token);
        let params = Params::from_pairs(pairs.iter().cloned());
        let label = String::new();
        let json = None;
        Self { label, token, other_token, url, alt_url, pairs, params, json }
    }

    fn json(rng: &mut Rng) -> Self {
        let value = json_value(rng, 0);
        let raw = match rng.chance(50) {
            true => value.to_string(),
            false => serde_json::to_string_pretty(&value).unwrap(),
        };
        let tampered = match rng.chance(50) {
            true => format!("{raw}\n"),
            false => raw.replacen(':', ": ", 1),
        };
        let hash = hex::encode(Sha256::digest(raw.as_bytes()));
        let mut url = GenUrl::new(rng, false);
        let separator = if url.rest.contains('?') { '&' } else { '?' };
        url.rest.push_str(&format!("{separator}bodySHA256={hash}"));
        let alt_url = url.on_another_port(rng);
        let mut case = Self::new(rng, url.render(), Some(alt_url), Vec::new());
        let sig = sign(&case.token, &case.url, &Params::default());
        case.json = Some(JsonBody { raw, tampered, hash, sig });
        case
    }

    fn body(&self) -> Body<'_> {
        match &self.json {
            Some(json) => Body::Json { raw: json.raw.as_bytes(), body_sha256: &json.hash },
            None => Body::Form(&self.params),
        }
    }

    fn verify(&self, url: &str, sig: &str) -> bool {
        verify([self.token.as_str()], url, self.body(), sig)
    }

    fn probe_urls(&self) -> Vec<String> {
        let [without_port, with_port] = url_variants(&self.url);
        let mut urls = vec![self.url.clone(), without_port, with_port];
        urls.extend(self.alt_url.clone());
        urls
    }

    /// Signatures to present with each probe URL, and what each was made over.
    fn probe_sigs(&self) -> Vec<(String, String)> {
        let labels = ["the URL", "its port-less variant", "its with-port variant", "the URL on another port"];
        let by = |pairs: &[(String, String)]| {
            let params = Params::from_pairs(pairs.iter().cloned());
            move |url: &str| sign(&self.token, url, &params)
        };
        let ours = by(&self.pairs);
        let urls = self.probe_urls();
        let mut sigs: Vec<(String, String)> =
            labels.iter().zip(&urls).map(|(label, url)| (label.to_string(), ours(url))).collect();
        let other = sign(&self.other_token, &self.url, &self.params);
        sigs.push(("another token".into(), other));
        let mut extra = self.pairs.clone();
        extra.push(("Tampered".into(), "1".into()));
        sigs.push(("an extra param".into(), by(&extra)(&self.url)));
        if let Some((name, value)) = self.pairs.first() {
            let mut altered = self.pairs.clone();
            altered[0].1 = format!("{value}\u{1F512}");
            sigs.push((format!("{name} altered"), by(&altered)(&self.url)));
            let mut doubled = self.pairs.clone();
            doubled.push((name.clone(), value.clone()));
            sigs.push((format!("{name} sent twice"), by(&doubled)(&self.url)));
        }
        sigs
    }

    fn describe(&self) -> String {
        let (token, url) = (&self.token, &self.url);
        match &self.json {
            Some(json) => format!("{}: token={token:?} url={url:?} body={:?}", self.label, json.raw),
            None => format!("{}: token={token:?} url={url:?} params={:?}", self.label, self.pairs),
        }
    }

    fn to_json(&self) -> Value {
        let sigs: Vec<String> = self.probe_sigs().into_iter().map(|(_, sig)| sig).collect();
        let mut case = json!({
            "token": self.token,
            "other_token": self.other_token,
            "url": self.url,
            "urls": self.probe_urls(),
            "params": self.pairs,
            "form_body": self.params.encode(),
            "sigs": sigs,
        });
        if let Some(json) = &self.json {
            case["raw"] = json!(json.raw);
            case["tampered"] = json!(json.tampered);
        }
        case
    }
}

/// Twilio's documented vectors first (the first test checks them by
/// index), then unusual URLs both libraries agree on, then random cases.
fn generate(seed: u64) -> Vec<Case> {
    let mut rng = Rng(seed);
    let pairs = |list: &str| {
        let pairs = list.split(' ').map(|p| p.split_once('=').unwrap());
        pairs.map(|(n, v)| (n.to_string(), v.to_string())).collect()
    };
    let documented = [
        "CallSid=CA1234567890ABCDE Caller=+12349013030 Digits=1234 From=+12349013030 To=+18005551212",
        "Sid=CA123 SidAccount=AC123 Digits=5678 Digits=1234 Digits=1234",
    ];
    let mut form = Vec::new();
    for list in documented {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let mut case = Case::new(&mut rng, url.into(), None, pairs(list));
        (case.token, case.other_token) = ("12345".into(), "12346".into());
        form.push(case);
    }
    let unusual = [
        "https://vouch.example.com:0443/voice",
        "https://vouch.example.com?CallSid=CA1",
        "https://vouch.example.com#rc=2&ct=1000",
        "https://vouch.example.com/voice;jsessionid=AB12?x=1",
        "http://vouch.example.com:443/voice",
        "https://vouch.example.com:80/voice",
        "https://VOUCH.Example.com:8443/Voice/",
    ];
    for url in unusual {
        let pairs = params(&mut rng);
        form.push(Case::new(&mut rng, url.into(), None, pairs));
    }
    while form.len() < FORM_CASES {
        let url = GenUrl::new(&mut rng, true);
        let alt_url = url.on_another_port(&mut rng);
        let pairs = params(&mut rng);
        form.push(Case::new(&mut rng, url.render(), Some(alt_url), pairs));
    }
    for (i, case) in form.iter_mut().enumerate() {
        case.label = format!("form case #{i}");
    }
    let json = (0..JSON_CASES).map(|i| Case { label: format!("JSON case #{i}"), ..Case::json(&mut rng) });
    form.into_iter().chain(json).collect()
}

// --------------------------------------------------------------- the generator

/// SplitMix64: tiny, deterministic, good enough to pick test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn word(&mut self, alphabet: &str, lo: usize, hi: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let len = self.between(lo, hi);
        (0..len).map(|_| chars[self.below(chars.len())]).collect()
    }
}

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const MIXED: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

#[rustfmt::skip]
const PATH_PIECES: &[&str] = &[
    "voice", "ivr", "twiml", "myapp.php", "call-status", "v1", "Incoming_Call", "~user", "a.b", "%20", "%2F",
    "%C3%A9", "café", "über", "日本", "+", "@", "!", "$", "'", "(x)", "*", ",", "=", ":", "..", "%25",
];

#[rustfmt::skip]
const QUERY_NAMES: &[&str] = &["foo", "bar", "a", "A", "q", "id", "caller", "From", "x%20y", "ü", "%C3%BC"];

#[rustfmt::skip]
const QUERY_VALUES: &[&str] = &[
    "1", "2", "x", "%2B14155550123", "+14155550123", "%20", "+", "a+b", "%26", "%3D", "%C3%BC", "ü", "日本", "😀",
    "%7E", "~", "/", "?", ":", "@", ",", "!", "$", "'", "(", ")", "*", ";", "%25",
];

/// Twilio's names, names equal but for case or prefixes of each other
/// (byte order puts uppercase first), and names needing form escapes.
#[rustfmt::skip]
const PARAM_NAMES: &[&str] = &[
    "CallSid", "AccountSid", "From", "from", "FROM", "To", "Caller", "Called", "Digits", "digits", "SpeechResult",
    "Confidence", "CallStatus", "Direction", "Sid", "SidAccount", "sid", "SID", "a", "A", "Z", "z", "_", "From_",
    "Ünïcode", "名前", "x y", "a&b", "a=b", "a+b", "%41", "",
];

/// Including code points a UTF-16 sort would misplace (U+E000, U+FFFD, 😀).
#[rustfmt::skip]
const VALUE_PIECES: &[&str] = &[
    "a", "Z", "caller", "+14155550123", "1234", "#", "*", " ", "  ", "&", "=", "+", "%", "%20", "%2B", "a=b&c=d", "é",
    "ü", "ß", "Zoë O'Brien", "日本語", "😀", "\u{E000}", "\u{FFFD}", "\u{7F}", "\t", "\n", "\"", "<>", "/", "?", ",",
    ";", "~", "\\",
];

struct GenUrl {
    scheme: &'static str,
    host: String,
    port: Option<String>,
    /// Path, query and fragment.
    rest: String,
}

impl GenUrl {
    fn new(rng: &mut Rng, fragment: bool) -> Self {
        let scheme = if rng.chance(55) { "https" } else { "http" };
        let (default, other) = if scheme == "https" { (443, 80) } else { (80, 443) };
        let port = match rng.below(20) {
            0..=6 => None,
            7..=10 => Some(default),
            11..=12 => Some(other),
            _ => Some(rng.between(1, 65535)),
        };
        let mut rest = path(rng);
        if rng.chance(60) {
            rest = format!("{rest}?{}", query(rng));
        }
        if fragment && rng.chance(4) {
            rest = format!("{rest}#{}", rng.pick(&["rc=2&ct=1000", "top", "a/b?c"]));
        }
        let port = port.map(|p| p.to_string());
        Self { scheme, host: host(rng), port, rest }
    }

    fn render(&self) -> String {
        let port = self.port.as_ref().map_or(String::new(), |p| format!(":{p}"));
        format!("{}://{}{port}{}", self.scheme, self.host, self.rest)
    }

    fn on_another_port(&self, rng: &mut Rng) -> String {
        let taken = |p: &str| Some(p) == self.port.as_deref() || p == "80" || p == "443";
        let mut ports = std::iter::repeat_with(|| rng.between(1, 65535).to_string());
        let port = ports.find(|p| !taken(p)).unwrap();
        format!("{}://{}:{port}{}", self.scheme, self.host, self.rest)
    }
}

fn host(rng: &mut Rng) -> String {
    let host = match rng.below(10) {
        0 => "localhost".to_string(),
        1 => [0; 4].map(|_| rng.below(256).to_string()).join("."),
        2 => rng.pick(&["mycompany.com", "vouch.fly.dev", "ab12-34.ngrok-free.app", "xn--caf-dma.example"]).into(),
        _ => {
            let mut labels: Vec<String> = (0..rng.between(1, 3)).map(|_| rng.word(LOWER, 1, 12)).collect();
            if rng.chance(20) {
                labels[0] = format!("{}-{}", labels[0], rng.word(LOWER, 1, 5));
            }
            labels.push(rng.pick(&["com", "io", "net", "dev", "co.uk"]).into());
            labels.join(".")
        }
    };
    match rng.chance(15) {
        true => host.chars().map(|c| if rng.chance(50) { c.to_ascii_uppercase() } else { c }).collect(),
        false => host,
    }
}

/// Never an empty `;` parameter: Python's urlparse would drop it.
fn path(rng: &mut Rng) -> String {
    if rng.chance(10) {
        return String::new();
    }
    let mut path = String::new();
    for _ in 0..rng.below(5) {
        path.push('/');
        for _ in 0..rng.between(1, 3) {
            match rng.chance(25) {
                true => path.push_str(&rng.word(MIXED, 1, 8)),
                false => path.push_str(rng.pick(PATH_PIECES)),
            }
        }
    }
    if rng.chance(5) && !path.is_empty() {
        path = format!("{path};jsessionid={}", rng.word(MIXED, 4, 12));
    }
    if path.is_empty() || rng.chance(20) {
        path.push('/');
    }
    path
}

/// Never empty: Python's urlparse would drop a bare `?`.
fn query(rng: &mut Rng) -> String {
    let mut pairs: Vec<String> = Vec::new();
    for _ in 0..rng.between(1, 5) {
        let name = if !pairs.is_empty() && rng.chance(20) {
            let earlier = &pairs[rng.below(pairs.len())];
            earlier.split('=').next().unwrap().to_string()
        } else if rng.chance(30) {
            rng.word(MIXED, 1, 6)
        } else {
            rng.pick(QUERY_NAMES).to_string()
        };
        let value: String = (0..rng.below(4)).map(|_| rng.pick(QUERY_VALUES)).collect();
        pairs.push(if rng.chance(10) { name } else { format!("{name}={value}") });
    }
    pairs.join("&")
}

fn params(rng: &mut Rng) -> Vec<(String, String)> {
    if rng.chance(8) {
        return Vec::new();
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for _ in 0..rng.between(1, 12) {
        if !pairs.is_empty() && rng.chance(25) {
            let (name, value) = pairs[rng.below(pairs.len())].clone();
            let value = if rng.chance(50) { value } else { param_value(rng) };
            pairs.push((name, value));
        } else {
            pairs.push((param_name(rng), param_value(rng)));
        }
    }
    pairs
}

fn param_name(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=5 => rng.pick(PARAM_NAMES).to_string(),
        6..=8 => rng.word(MIXED, 1, 8),
        _ => (0..rng.between(1, 3)).map(|_| rng.pick(VALUE_PIECES)).collect(),
    }
}

fn param_value(rng: &mut Rng) -> String {
    if rng.chance(12) {
        return String::new();
    }
    let piece = |rng: &mut Rng| match rng.chance(20) {
        true => rng.word(MIXED, 1, 10),
        false => rng.pick(VALUE_PIECES).to_string(),
    };
    (0..rng.between(1, 4)).map(|_| piece(rng)).collect()
}

fn token(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "12345".into(),
        1 => rng.word("!#$%&()*+,-./:;<=>?@[]^_{|}~abcXYZ019", 1, 40),
        2 => format!("tökén-日本-{}", rng.word(LOWER, 1, 8)),
        _ => rng.word("0123456789abcdef", 32, 32),
    }
}

/// The same token with its first character changed.
fn other_token(token: &str) -> String {
    let first = if token.starts_with('a') { 'b' } else { 'a' };
    std::iter::once(first).chain(token.chars().skip(1)).collect()
}

fn json_value(rng: &mut Rng, depth: usize) -> Value {
    let kind = if depth == 0 { 0 } else { rng.below(8) };
    match kind {
        0 | 1 if depth < 3 => {
            let fields = (0..rng.between(1, 5)).map(|_| (param_name(rng), json_value(rng, depth + 1)));
            Value::Object(fields.collect())
        }
        2 if depth < 3 => Value::Array((0..rng.below(4)).map(|_| json_value(rng, depth + 1)).collect()),
        3 => json!(rng.next() as i64 / 1000),
        4 => json!(rng.chance(50)),
        5 => Value::Null,
        _ => json!(param_value(rng)),
    }
}
