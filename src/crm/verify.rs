//! Verification against a field the CRM keeps: compared in the clear after
//! normalising both sides (`compare`), or checked against a salted slow hash
//! (`hash`). The fetched field lives only in the function that checks it:
//! it is never cached, logged, stored or put into any context.

use serde_json::Value;
use subtle::ConstantTimeEq;

/// How the CRM writes the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldFormat {
    /// Digits only (a ZIP, a PIN in the clear).
    Digits,
    /// The last N digits (1..=12) of a longer number.
    Last(usize),
    /// `1990-12-31`
    DateYmd,
    /// Milliseconds since 1970 (UTC), a number or a string of digits.
    DateEpochMs,
    /// `1990-12-31T00:00:00Z`: the date as written, without time-zone conversion.
    DateIsoDatetime,
}

/// How the caller keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedFormat {
    Digits,
    Mmddyyyy,
    Ddmmyyyy,
}

/// The salted slow hashes a CRM may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Argon2,
    Bcrypt,
}

/// Hashes refused at start-up: fast and (as CRMs keep them) unsalted.
pub const FAST_HASHES: &[&str] =
    &["plain", "plaintext", "md5", "sha1", "sha-1", "sha256", "sha-256", "sha512", "sha-512", "sha", "crc32"];

/// The field cannot be used: a CRM error (never the field's value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("is missing or not a string or number")]
    Missing,
    #[error("is not in the configured format {0}")]
    Format(&'static str),
    #[error("has fewer digits than last{0} needs")]
    TooShort(usize),
    #[error("is not a {0} hash with acceptable parameters")]
    Hash(&'static str),
}

impl FieldFormat {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "digits" => Self::Digits,
            "date:YYYY-MM-DD" => Self::DateYmd,
            "date:epoch_ms" => Self::DateEpochMs,
            "date:iso_datetime" => Self::DateIsoDatetime,
            last => {
                let n: usize = last.strip_prefix("last")?.parse().ok()?;
                if !(1..=12).contains(&n) || last != format!("last{n}") {
                    return None;
                }
                Self::Last(n)
            }
        })
    }

    pub fn is_date(self) -> bool {
        matches!(self, Self::DateYmd | Self::DateEpochMs | Self::DateIsoDatetime)
    }

    fn name(self) -> &'static str {
        match self {
            Self::Digits => "digits",
            Self::Last(_) => "lastN",
            Self::DateYmd => "date:YYYY-MM-DD",
            Self::DateEpochMs => "date:epoch_ms",
            Self::DateIsoDatetime => "date:iso_datetime",
        }
    }

    /// The field normalised: digits, or a date as `YYYYMMDD`.
    pub fn normalise(self, field: &Value) -> Result<String, FieldError> {
        let text = match field {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Err(FieldError::Missing),
        };
        let bad = || FieldError::Format(self.name());
        match self {
            Self::Digits => Ok(digits(&text)),
            Self::Last(n) => {
                let d = digits(&text);
                d.get(d.len().saturating_sub(n)..)
                    .filter(|_| d.len() >= n)
                    .map(str::to_string)
                    .ok_or(FieldError::TooShort(n))
            }
            Self::DateYmd => ymd(&text).ok_or_else(bad),
            Self::DateIsoDatetime => {
                let (date, time) = text.split_once('T').ok_or_else(bad)?;
                if time.is_empty() {
                    return Err(bad());
                }
                ymd(date).ok_or_else(bad)
            }
            Self::DateEpochMs => {
                let ms: i64 = text.parse().map_err(|_| bad())?;
                let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
                (0..=9999).contains(&y).then(|| format!("{y:04}{m:02}{d:02}")).ok_or_else(bad)
            }
        }
    }
}

impl KeyedFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "digits" => Some(Self::Digits),
            "MMDDYYYY" => Some(Self::Mmddyyyy),
            "DDMMYYYY" => Some(Self::Ddmmyyyy),
            _ => None,
        }
    }

    /// What the caller keyed, normalised like the field (`None`: it cannot
    /// be right, e.g. not 8 digits for a date).
    pub fn normalise(self, keyed: &str) -> Option<String> {
        let d = digits(keyed);
        match self {
            Self::Digits => Some(d),
            _ if d.len() != 8 => None,
            Self::Mmddyyyy => Some(format!("{}{}{}", &d[4..8], &d[0..2], &d[2..4])),
            Self::Ddmmyyyy => Some(format!("{}{}{}", &d[4..8], &d[2..4], &d[0..2])),
        }
    }
}

impl HashKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "argon2" => Some(Self::Argon2),
            "bcrypt" => Some(Self::Bcrypt),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Argon2 => "argon2",
            Self::Bcrypt => "bcrypt",
        }
    }

    /// The stored hash, if it is this kind with parameters that a checker
    /// thread can afford (a CRM could otherwise ask for gigabytes or hours).
    pub fn stored(self, field: &Value) -> Result<String, FieldError> {
        let s = field.as_str().ok_or(FieldError::Missing)?.trim();
        let ok = match self {
            Self::Argon2 => argon2_affordable(s),
            Self::Bcrypt => bcrypt_affordable(s),
        };
        ok.then(|| s.to_string()).ok_or(FieldError::Hash(self.as_str()))
    }
}

/// Argon2 memory (KiB), passes and lanes a CRM's hash may ask for.
const ARGON2_MAX_M: u32 = 64 * 1024;
const ARGON2_MAX_T: u32 = 10;
const ARGON2_MAX_P: u32 = 4;
/// bcrypt's cost doubles the work each step; 13 is about half a second.
const BCRYPT_MAX_COST: u32 = 13;

fn argon2_affordable(s: &str) -> bool {
    let Ok(h) = argon2::password_hash::PasswordHash::new(s) else { return false };
    if !h.algorithm.as_str().starts_with("argon2") || h.salt.is_none() || h.hash.is_none() {
        return false;
    }
    let param = |k: &str| h.params.get_decimal(k);
    matches!((param("m"), param("t"), param("p")),
        (Some(m), Some(t), Some(p)) if m <= ARGON2_MAX_M && t <= ARGON2_MAX_T && p <= ARGON2_MAX_P)
}

fn bcrypt_affordable(s: &str) -> bool {
    let parts: Vec<&str> = s.split('$').collect();
    match parts.as_slice() {
        ["", "2a" | "2b" | "2y", cost, rest] => {
            cost.len() == 2 && cost.parse::<u32>().is_ok_and(|c| (4..=BCRYPT_MAX_COST).contains(&c)) && rest.len() == 53
        }
        _ => false,
    }
}

/// `a == b` in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether the keyed value matches the field, both normalised. A keyed
/// value that cannot be right is a no, without comparing.
pub fn compare(field: FieldFormat, keyed_format: KeyedFormat, stored: &Value, keyed: &str) -> Result<bool, FieldError> {
    let stored = field.normalise(stored)?;
    Ok(match keyed_format.normalise(keyed) {
        Some(k) => constant_time_eq(&stored, &k),
        None => false,
    })
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// `YYYY-MM-DD` (a real month and day) as `YYYYMMDD`.
fn ymd(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let shape = b.len() == 10 && b[4] == b'-' && b[7] == b'-';
    let num =
        |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?.parse::<u32>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    (shape && (1..=12).contains(&m) && (1..=31).contains(&d)).then(|| format!("{y:04}{m:02}{d:02}"))
}

/// Days since 1970-01-01 as a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmp(field: &str, keyed_fmt: &str, stored: Value, keyed: &str) -> Result<bool, FieldError> {
        compare(FieldFormat::parse(field).unwrap(), KeyedFormat::parse(keyed_fmt).unwrap(), &stored, keyed)
    }

    #[test]
    fn dates_in_each_format_match_keyed_us_and_european_dates() {
        let born = [
            ("date:YYYY-MM-DD", json!("1815-12-10")),
            ("date:iso_datetime", json!("1815-12-10T00:00:00Z")),
            ("date:iso_datetime", json!("1815-12-10T23:30:00+05:00")),
            ("date:epoch_ms", json!(-4_861_728_000_000i64)),
            ("date:epoch_ms", json!("-4861728000000")),
        ];
        for (format, stored) in born {
            assert_eq!(cmp(format, "MMDDYYYY", stored.clone(), "12101815"), Ok(true), "{format} {stored}");
            assert_eq!(cmp(format, "DDMMYYYY", stored.clone(), "10121815"), Ok(true), "{format} {stored}");
            assert_eq!(cmp(format, "MMDDYYYY", stored.clone(), "10121815"), Ok(false), "{format} {stored}");
            assert_eq!(cmp(format, "MMDDYYYY", stored.clone(), "1210181"), Ok(false), "7 digits: {format}");
        }
        assert_eq!(cmp("date:epoch_ms", "MMDDYYYY", json!(0), "01011970"), Ok(true));
        assert_eq!(cmp("date:epoch_ms", "DDMMYYYY", json!(951_782_400_000i64), "29022000"), Ok(true), "a leap day");
    }

    #[test]
    fn malformed_fields_are_crm_errors() {
        assert!(matches!(
            cmp("date:YYYY-MM-DD", "MMDDYYYY", json!("10/12/1815"), "12101815"),
            Err(FieldError::Format(_))
        ));
        assert!(matches!(
            cmp("date:YYYY-MM-DD", "MMDDYYYY", json!("1815-13-10"), "13101815"),
            Err(FieldError::Format(_))
        ));
        assert!(matches!(
            cmp("date:iso_datetime", "MMDDYYYY", json!("1815-12-10"), "12101815"),
            Err(FieldError::Format(_))
        ));
        assert_eq!(cmp("digits", "digits", json!(null), "1"), Err(FieldError::Missing));
        assert_eq!(cmp("last4", "digits", json!("12"), "12"), Err(FieldError::TooShort(4)));
    }

    #[test]
    fn digits_and_last_n_ignore_punctuation() {
        assert_eq!(cmp("digits", "digits", json!("02139-4307"), "021394307"), Ok(true));
        assert_eq!(cmp("digits", "digits", json!(2139), "2139"), Ok(true));
        assert_eq!(cmp("last4", "digits", json!("4111 1111 1111 1234"), "1234"), Ok(true));
        assert_eq!(cmp("last4", "digits", json!("4111 1111 1111 1234"), "11234"), Ok(false));
        assert_eq!(cmp("last6", "digits", json!("078-05-1120"), "051120"), Ok(true));
        assert_eq!(cmp("last4", "digits", json!("4111 1111 1111 1234"), "1235"), Ok(false));
        for bad in ["last0", "last13", "last", "last04", "lastx"] {
            assert_eq!(FieldFormat::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn constant_time_compare_is_exact() {
        assert!(constant_time_eq("18151210", "18151210"));
        assert!(!constant_time_eq("18151210", "18151211"));
        assert!(!constant_time_eq("1815121", "18151210"));
        assert!(!constant_time_eq("", "0"));
        assert!(constant_time_eq("", ""));
    }

    #[test]
    fn only_affordable_salted_hashes_are_accepted() {
        let argon = crate::auth::password::hash("1234").unwrap();
        assert_eq!(HashKind::Argon2.stored(&json!(argon)), Ok(argon.clone()));
        assert!(HashKind::Bcrypt.stored(&json!(argon)).is_err(), "the wrong kind");
        let greedy = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$dBDgl+iTLKeb29HuycS2DSUpTBoJehNj2zziP8Zcmfs";
        assert_eq!(HashKind::Argon2.stored(&json!(greedy)), Err(FieldError::Hash("argon2")), "4 GiB of memory");
        let b = bcrypt::hash_with_salt("1234", 4, [7u8; 16]).unwrap().format_for_version(bcrypt::Version::TwoB);
        assert_eq!(HashKind::Bcrypt.stored(&json!(b)), Ok(b.clone()));
        let slow = b.replacen("$04$", "$20$", 1);
        assert!(HashKind::Bcrypt.stored(&json!(slow)).is_err(), "cost 20");
        for fast in ["81dc9bdb52d04dc20036dbd8313ed055", "1234", ""] {
            assert!(HashKind::Argon2.stored(&json!(fast)).is_err() && HashKind::Bcrypt.stored(&json!(fast)).is_err());
        }
    }
}
