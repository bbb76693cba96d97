//! `serve --record-dir`: every verified webhook written to a file that
//! `vouch replay` can send again, so a bug seen on a real call can be
//! reproduced at a desk.
//!
//! Redaction: what a caller keys (`Digits`, and `SpeechResult` for speech)
//! is replaced by `[redacted]` on every step except an identify step (the
//! path map's [`Route::Entry`] at [`Stage::Identify`]). A verification step
//! always loses it, and so does any path Vouch does not recognise, since it
//! might be a verification in disguise. Identifiers keyed at an identify step are kept: they are not
//! secrets, and replaying that step needs them. Recordings still hold caller
//! numbers and identifiers (personal data): each file is created readable by
//! its owner only, in a directory only its owner can enter.

use crate::flow::Stage;
use crate::paths::{self, Route};
use crate::twilio::form::Params;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Parameters that carry what the caller keyed or said.
pub const KEYED: &[&str] = &["Digits", "SpeechResult", "UnstableSpeechResult"];

/// One recorded webhook: the format `--record-dir` writes and `replay` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    pub method: String,
    /// Path and query, as requested (the query redacted like the params).
    pub path: String,
    /// Form parameters in the order received (the query's, for a GET).
    pub params: Vec<(String, String)>,
    /// Unix milliseconds.
    #[serde(default)]
    pub recorded_at: u64,
}

/// Whether keyed values at `path` may be kept: only at an identify step.
pub fn keeps_keyed(path: &str) -> bool {
    paths::recognise(path).is_some_and(|r| r.route == Route::Entry && r.stage() == Some(Stage::Identify))
}

/// `pairs` with keyed values redacted, and whether anything was.
fn redact(pairs: impl IntoIterator<Item = (String, String)>) -> (Vec<(String, String)>, bool) {
    let mut changed = false;
    let out = pairs
        .into_iter()
        .map(|(k, v)| {
            if KEYED.contains(&k.as_str()) {
                changed = true;
                (k, REDACTED.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    (out, changed)
}

impl Recording {
    /// The recording of one verified request, redacted by the rule above.
    pub fn of(method: &str, path_and_query: &str, params: &Params, now_ms: u64) -> Self {
        let pairs = params.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        if keeps_keyed(path_and_query) {
            return Self {
                method: method.into(),
                path: path_and_query.into(),
                params: pairs.collect(),
                recorded_at: now_ms,
            };
        }
        let (params, _) = redact(pairs);
        let path = match path_and_query.split_once('?') {
            Some((path, query)) => {
                let query = Params::parse(query.as_bytes()).unwrap_or_default();
                let (query, changed) = redact(query.iter().map(|(k, v)| (k.to_string(), v.to_string())));
                if changed {
                    format!("{path}?{}", Params::from_pairs(query).encode())
                } else {
                    path_and_query.to_string()
                }
            }
            None => path_and_query.to_string(),
        };
        Self { method: method.into(), path, params, recorded_at: now_ms }
    }
}

/// Writes recordings into one directory.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    next: AtomicU64,
}

impl Recorder {
    /// Creates the directory (owner-only) if needed and checks it is writable.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        let probe = dir.join(format!(".vouch-write-test-{}", std::process::id()));
        private_file(&probe)?;
        std::fs::remove_file(&probe)?;
        Ok(Self { dir: dir.to_path_buf(), next: AtomicU64::new(0) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `{unix_ms}-{CallSid}-{n}.json`; `call_sid` is a checked CallSid.
    pub fn write(&self, call_sid: &str, recording: &Recording) -> std::io::Result<PathBuf> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{}-{call_sid}-{n:04}.json", recording.recorded_at));
        let mut json = serde_json::to_vec_pretty(recording).map_err(std::io::Error::other)?;
        json.push(b'\n');
        std::io::Write::write_all(&mut private_file(&path)?, &json)?;
        Ok(path)
    }
}

/// The time (unix ms) and CallSid a recording's file name carries:
/// `{unix_ms}-{CallSid}-{n}.json`, as [`Recorder::write`] names it.
fn named(file_name: &str) -> Option<(u64, &str)> {
    let mut parts = file_name.strip_suffix(".json")?.splitn(3, '-');
    let ms = parts.next()?.parse().ok()?;
    let call_sid = parts.next().filter(|s| !s.is_empty())?;
    let n = parts.next()?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some((ms, call_sid))
}

/// Deletes the recordings in `dir` that `pick` chooses by their time and
/// CallSid; other files are left alone. Returns how many were deleted.
fn remove_where(dir: &Path, pick: impl Fn(u64, &str) -> bool) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((ms, call_sid)) = name.to_str().and_then(named) else { continue };
        if pick(ms, call_sid) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Deletes every recording of the calls `call_sids` (an erasure).
pub fn remove_calls<S: AsRef<str>>(dir: &Path, call_sids: &[S]) -> std::io::Result<usize> {
    if call_sids.is_empty() {
        return Ok(0);
    }
    remove_where(dir, |_, sid| call_sids.iter().any(|s| s.as_ref() == sid))
}

/// Deletes every recording made before `before_ms` (unix ms; retention).
pub fn remove_older_than(dir: &Path, before_ms: u64) -> std::io::Result<usize> {
    remove_where(dir, |ms, _| ms < before_ms)
}

/// A new file only its owner can read.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::from_pairs([("CallSid", "CA1"), ("Digits", "1234"), ("SpeechResult", "one two"), ("From", "+1555")])
    }

    #[test]
    fn keyed_values_are_kept_only_at_identify_steps() {
        let kept = Recording::of("POST", "/voice/support/identify?state=abc", &params(), 1);
        assert_eq!(kept.params[1], ("Digits".into(), "1234".into()));
        for path in ["/voice/support/verify?state=abc", "/voice", "/status", "/voice/identify", "/x/support/identify"] {
            let r = Recording::of("POST", path, &params(), 1);
            assert_eq!(r.params[1], ("Digits".into(), REDACTED.into()), "{path}");
            assert_eq!(r.params[2], ("SpeechResult".into(), REDACTED.into()), "{path}");
            assert_eq!(r.params[3], ("From".into(), "+1555".into()));
            assert_eq!(r.path, path, "nothing keyed in the query: the path is kept as is");
        }
    }

    #[test]
    fn keyed_values_in_a_get_query_are_redacted_too() {
        let r = Recording::of("GET", "/voice/support/verify?state=s&Digits=9087", &Params::default(), 1);
        assert_eq!(r.path, "/voice/support/verify?state=s&Digits=%5Bredacted%5D");
        assert!(!serde_json::to_string(&r).unwrap().contains("9087"));
    }

    #[test]
    fn recordings_round_trip_and_files_are_private() {
        let dir = std::env::temp_dir().join(format!("vouch-record-unit-{}", std::process::id()));
        let rec = Recorder::create(&dir).unwrap();
        let r = Recording::of("POST", "/voice/support/verify?state=s", &params(), 1_700_000_000_000);
        let path = rec.write("CA0123", &r).unwrap();
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("1700000000000-CA0123-"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("1234"), "{text}");
        assert_eq!(serde_json::from_str::<Recording>(&text).unwrap(), r);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recordings_are_found_by_call_and_by_age_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::create(dir.path()).unwrap();
        let at = |ms| Recording::of("POST", "/voice", &params(), ms);
        let ada = "CA0123456789abcdef0123456789abcdef";
        let grace = "CAfedcba9876543210fedcba9876543210";
        for ms in [1_000, 2_000] {
            rec.write(ada, &at(ms)).unwrap();
            rec.write(grace, &at(ms)).unwrap();
        }
        let other = dir.path().join(format!("notes-{ada}-1.txt"));
        std::fs::write(&other, "kept").unwrap();
        assert_eq!(remove_calls(dir.path(), &[ada]).unwrap(), 2);
        assert_eq!(remove_calls(dir.path(), &[ada]).unwrap(), 0, "again: nothing left");
        assert_eq!(remove_older_than(dir.path(), 2_000).unwrap(), 1, "grace's older file");
        let left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().any(|n| n.starts_with(&format!("2000-{grace}-"))), "{left:?}");
        assert!(other.exists(), "a file not named like a recording is left alone");
        assert_eq!(remove_older_than(&dir.path().join("missing"), u64::MAX).unwrap(), 0);
        assert_eq!(named("1700000000000-CA01-0003.json"), Some((1_700_000_000_000, "CA01")));
        assert_eq!(named("x-CA01-0003.json"), None);
        assert_eq!(named("1-CA01-x.json"), None);
    }
}
