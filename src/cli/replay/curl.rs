//! Reads a copied curl command as a [`Recording`]: its URL, method and form
//! data, with curl's own rules for `-d` (sent as typed, joined with `&`) and
//! `--data-urlencode` (the value encoded). Headers are ignored, the old
//! `X-Twilio-Signature` included: replay signs again. Quoting follows the
//! shell: '…', "…" with backslash escapes, and backslash-newline.

use crate::recording::Recording;
use crate::twilio::form::Params;

/// Splits a command line like a POSIX shell would, without expansions.
pub fn split(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                }
                Some(next) => word.get_or_insert_with(String::new).push(next),
                None => return Err("the command ends with a lone backslash".into()),
            },
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => w.push(ch),
                        None => return Err("unterminated '…' quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(ch @ ('"' | '\\' | '$' | '`')) => w.push(ch),
                            Some(ch) => {
                                w.push('\\');
                                w.push(ch);
                            }
                            None => return Err("unterminated \"…\" quote".into()),
                        },
                        Some('$') if chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || "{(_".contains(*n)) => {
                            return Err(variable());
                        }
                        Some(ch) => w.push(ch),
                        None => return Err("unterminated \"…\" quote".into()),
                    }
                }
            }
            '$' if chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || "{(_".contains(*n)) => {
                return Err(variable());
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

fn variable() -> String {
    "the command uses a shell variable ($…): paste it with the values expanded (e.g. from `set -x` or your shell history)"
        .into()
}

/// Options that take a value, whose value must not be read as the URL.
const TAKES_VALUE: &[&str] = &[
    "-H",
    "--header",
    "-X",
    "--request",
    "-o",
    "--output",
    "-u",
    "--user",
    "-A",
    "--user-agent",
    "-e",
    "--referer",
    "-b",
    "--cookie",
    "-m",
    "--max-time",
    "--connect-timeout",
    "-w",
    "--write-out",
    "--url",
];
const DATA: &[&str] = &["-d", "--data", "--data-raw", "--data-binary", "--data-ascii"];

/// Parses a curl command into a recording (`recorded_at` 0).
pub fn parse(command: &str) -> Result<Recording, String> {
    let words = split(command)?;
    let mut words = words.into_iter();
    match words.next() {
        Some(w) if w == "curl" || w.ends_with("/curl") => {}
        _ => return Err("not a curl command (nor a recording: JSON with method, path and params)".into()),
    }
    let (mut url, mut method, mut get) = (None::<String>, None::<String>, false);
    let mut data: Vec<String> = Vec::new();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (word.clone(), None),
        };
        let is_data = DATA.contains(&flag.as_str()) || flag == "--data-urlencode";
        if !is_data && !TAKES_VALUE.contains(&flag.as_str()) {
            match flag.as_str() {
                "-G" | "--get" => get = true,
                f if f.starts_with('-') && f.len() > 1 => {}
                _ if url.is_none() => url = Some(word),
                _ => return Err(format!("more than one URL ({word:?})")),
            }
            continue;
        }
        let value = inline.or_else(|| words.next()).ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "-X" | "--request" => method = Some(value.to_ascii_uppercase()),
            "--url" => url = Some(value),
            "-H" | "--header" => {
                let (name, v) = value.split_once(':').unwrap_or((&value, ""));
                if name.trim().eq_ignore_ascii_case("content-type") && v.contains("json") {
                    return Err("JSON bodies cannot be replayed: only form-encoded webhooks".into());
                }
            }
            "--data-urlencode" => data.push(urlencode_arg(&value)?),
            f if DATA.contains(&f) => {
                if value.starts_with('@') && f != "--data-raw" {
                    return Err(format!("{f} {value}: reading data from a file is not supported"));
                }
                data.push(value);
            }
            _ => {}
        }
    }
    let url = url.ok_or("the curl command has no URL")?;
    let url = if url.contains("://") { url } else { format!("http://{url}") };
    let parsed = url::Url::parse(&url).map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let body = data.join("&");
    let mut path = parsed.path().to_string();
    let query = parsed.query().map(str::to_string);
    let method = method.unwrap_or_else(|| if data.is_empty() || get { "GET" } else { "POST" }.into());
    let params = if get || method == "GET" {
        let query = [query.as_deref().unwrap_or(""), body.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("&");
        if !query.is_empty() {
            path = format!("{path}?{query}");
        }
        Params::parse(query.as_bytes())
    } else {
        if let Some(q) = &query {
            path = format!("{path}?{q}");
        }
        Params::parse(body.as_bytes())
    }
    .map_err(|e| format!("the form data is malformed: {e}"))?;
    let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Ok(Recording { method, path, params, recorded_at: 0 })
}

/// `--data-urlencode` as curl reads it: `name=value`, `=value` or `value`.
fn urlencode_arg(arg: &str) -> Result<String, String> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    if let Some((name, value)) = arg.split_once('=') {
        return Ok(if name.is_empty() { enc(value) } else { format!("{name}={}", enc(value)) });
    }
    if arg.contains('@') {
        return Err(format!("--data-urlencode {arg}: reading data from a file is not supported"));
    }
    Ok(enc(arg))
}
