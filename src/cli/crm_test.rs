//! `vouch crm-test`: runs the configured CRM data actions against the real
//! CRM and explains each step: the request sent (auth and the keyed value
//! masked as ****), the status, each pointer's result, and what Vouch
//! concludes. The engine fills a [`Trace`] as it runs the very code a call
//! runs. Exit 0: it ran (whatever the answer); 1: the CRM failed; 2: a
//! usage or configuration mistake.

use crate::auth::checker::PasswordChecker;
use crate::config::{Config, Line, ProcessEnv, Secret};
use crate::crm::trace::Trace;
use crate::crm::{demo, CrmClient};
use crate::flow::{Lookup, Verification, E164};
use std::path::PathBuf;

/// `vouch crm-test`'s options.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("who").required(true).args(["phone", "id"]))]
pub struct CrmTestOpts {
    /// Configuration file (TOML). Default: the embedded demo configuration.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The service line whose identifier and verify actions to use
    /// (default: the default line).
    #[arg(long, value_name = "NAME")]
    pub line: Option<String>,
    /// Find customers by this caller number (E.164, e.g. +15551230001).
    #[arg(long, value_name = "E164")]
    pub phone: Option<String>,
    /// Find the customer with this identifier (as a caller would key it).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Then verify this factor for the customer found. Without VALUE it is
    /// read from the terminal with echo off (or one line from standard input).
    #[arg(long, value_name = "VALUE", num_args = 0..=1)]
    pub verify: Option<Option<String>>,
}

/// Exit codes.
const CRM_FAILED: i32 = 1;
const USAGE: i32 = 2;

pub async fn run(opts: CrmTestOpts) -> anyhow::Result<()> {
    let code = match prepare(&opts) {
        Err(message) => {
            eprintln!("vouch: {message}");
            USAGE
        }
        Ok((config, phone)) => match go(&opts, &config, phone.as_ref()).await {
            Ok(true) => 0,
            Ok(false) => CRM_FAILED,
            Err(message) => {
                eprintln!("vouch: {message}");
                USAGE
            }
        },
    };
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

fn prepare(opts: &CrmTestOpts) -> Result<(Config, Option<E164>), String> {
    let config = Config::load(opts.config.as_deref(), &ProcessEnv).map_err(|e| e.to_string())?;
    let phone = match &opts.phone {
        Some(p) => Some(
            E164::parse(p.trim()).ok_or_else(|| format!("--phone {p:?} is not an E.164 number (+ and 7–15 digits)"))?,
        ),
        None => None,
    };
    if let Some(l) = &opts.line {
        config.lines.get(l).ok_or_else(|| format!("--line: no line is named {l:?}"))?;
    }
    if opts.id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        return Err("--id is empty".into());
    }
    Ok((config, phone))
}

/// Runs the actions; `Ok(false)` when the CRM failed.
async fn go(opts: &CrmTestOpts, config: &Config, phone: Option<&E164>) -> Result<bool, String> {
    let line = match &opts.line {
        Some(l) => config.lines.get(l).ok_or("no such line")?,
        None => config.lines.default(),
    };
    let (base, _demo) = match &config.crm.url {
        Some(u) => (u.clone(), None),
        None => {
            let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
            let port = l.local_addr().map_err(|e| e.to_string())?.port();
            let server = demo::serve(l, demo::DemoData::embedded()).map_err(|e| e.to_string())?;
            let handle = server.handle();
            tokio::spawn(server);
            let url = url::Url::parse(&format!("http://127.0.0.1:{port}")).map_err(|e| e.to_string())?;
            (url, Some(handle))
        }
    };
    let client = CrmClient::new(&config.crm, &base, PasswordChecker::new(1, 1)).map_err(|e| format!("{e:#}"))?;
    let mut masked = base.clone();
    if masked.password().is_some() {
        let _ = masked.set_password(Some("****"));
    }
    let shown_base =
        if config.crm.url.is_some() { masked.to_string() } else { format!("{base} (the built-in demo CRM)") };
    println!("CRM: {shown_base}; auth: {}", client.describe_auth());
    println!("line: {}", line.name);
    let trace = Trace::new();
    let lookup = match (phone, &opts.id) {
        (Some(phone), _) => {
            println!("\nfind_by_phone ({})", client.phone_action().request.key);
            let lookup = client.trace_find_by_phone(phone, &trace).await;
            print_trace(&trace);
            println!("  = {}", phone_conclusion(&lookup, trace.matches(), line));
            lookup
        }
        (None, Some(id)) => {
            println!("\nfind_by_identifier ({})", client.identifier_action(line).request.key);
            let lookup = client.trace_find_by_id(line, id.trim(), &trace).await;
            print_trace(&trace);
            println!("  = {}", identifier_conclusion(&lookup, trace.matches()));
            lookup
        }
        (None, None) => return Err("give --phone or --id".into()),
    };
    if let Some(given) = &opts.verify {
        let action = client.verify_action(line);
        println!("\nverify ({}, mode {})", action.request().key, action.mode());
        match &lookup {
            Lookup::Found(customer) => {
                let value = match given {
                    Some(v) => Secret::new(v.clone()),
                    None => read_value(line).map_err(|e| format!("cannot read the value to verify: {e}"))?,
                };
                let verification = client.trace_verify(line, &customer.id, &value, &trace).await;
                print_trace(&trace);
                println!("  = {}", verify_conclusion(&verification));
            }
            _ => println!("  skipped: no single customer was identified"),
        }
    }
    Ok(!trace.failed())
}

fn print_trace(trace: &Trace) {
    for line in trace.take() {
        println!("{line}");
    }
}

fn phone_conclusion(lookup: &Lookup, matches: Option<usize>, line: &Line) -> String {
    match lookup {
        Lookup::Found(c) => format!("1 match → identified (id {:?})", c.id),
        Lookup::NotFound => format!("no match → ask for the {}", line.identifier_name),
        Lookup::Ambiguous => {
            format!(
                "{} matches → ask for the {}",
                matches.map_or("several".into(), |n| n.to_string()),
                line.identifier_name
            )
        }
        Lookup::Failed | Lookup::NotAsked => "CRM failure → CRM unavailable: the caller goes on to an agent".into(),
    }
}

fn identifier_conclusion(lookup: &Lookup, matches: Option<usize>) -> String {
    match lookup {
        Lookup::Found(c) => format!("1 match → identified (id {:?})", c.id),
        Lookup::NotFound => "not found → failed try".into(),
        Lookup::Ambiguous => format!(
            "{} matches → failed try (the identifier is not unique in this CRM: a WARN names the action)",
            matches.map_or("several".into(), |n| n.to_string())
        ),
        Lookup::Failed | Lookup::NotAsked => "CRM failure → CRM unavailable: the caller goes on to an agent".into(),
    }
}

fn verify_conclusion(v: &Verification) -> &'static str {
    match v {
        Verification::Verified => "verified",
        Verification::Rejected => "rejected → failed try",
        _ => "CRM failure → CRM unavailable: the caller goes on to an agent as identified",
    }
}

/// The value to verify: typed with echo off on a terminal, else one line
/// of standard input (its line ending removed).
fn read_value(line: &Line) -> std::io::Result<Secret> {
    use std::io::{BufRead, IsTerminal};
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{} (not shown): ", line.factor_name))?
    } else {
        let mut s = String::new();
        std::io::stdin().lock().read_line(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    };
    Ok(Secret::new(value))
}
