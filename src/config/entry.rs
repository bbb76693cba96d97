//! What a line asks callers to key, checked: the identifier (its digit
//! bounds), the verification factor when one is required, and the key
//! that opts out of either.

use super::error::ConfigError;
use super::file::{IdentifierFile, VerificationFile};
use crate::flow::EntryRules;

/// A line's keyed entries, and the words prompts use for them.
pub(super) struct Entries {
    pub identifier: EntryRules,
    /// How prompts call the identifier ("account number").
    pub identifier_name: String,
    /// `None`: identification alone is enough.
    pub verification: Option<EntryRules>,
    /// The factor's digits (prompts mention them even with verification off).
    pub factor_length: usize,
    /// What the CRM's verify endpoint is told the factor is.
    pub factor: String,
    /// How prompts call the factor ("PIN").
    pub factor_name: String,
}

/// `*` unless set; one digit or `*` (`#` ends an entry), or `""` for none.
pub(super) fn opt_out_key(at: &str, given: Option<&str>) -> Result<Option<char>, ConfigError> {
    match given.unwrap_or("*") {
        "" => Ok(None),
        k if k.len() == 1 && (k == "*" || k.as_bytes()[0].is_ascii_digit()) => Ok(k.chars().next()),
        other => Err(ConfigError::new(
            format!("{at}.opt_out_key"),
            format!("{other:?} must be one key: 0-9 or * (# ends an entry), or \"\" to disable"),
        )),
    }
}

impl Entries {
    /// `at` is the line's key (`lines.support`).
    pub(super) fn resolve(
        at: &str,
        identifier: &IdentifierFile,
        verification: &VerificationFile,
        opt_out_key: Option<char>,
    ) -> Result<Self, ConfigError> {
        let (min_digits, max_digits) = identifier_digits(at, identifier)?;
        let factor_length = VerificationFile::LENGTH.read(verification.length).map_err(|e| e.under(at))?;
        let factor = factor(at, verification)?;
        let required = verification.required.unwrap_or(true);
        Ok(Self {
            identifier: EntryRules { min_digits, max_digits, opt_out_key },
            identifier_name: identifier.name.clone().unwrap_or_else(|| "account number".into()),
            verification: required.then_some(EntryRules {
                min_digits: factor_length,
                max_digits: factor_length,
                opt_out_key,
            }),
            factor_length,
            factor_name: verification.name.clone().unwrap_or_else(|| factor.to_uppercase()),
            factor,
        })
    }
}

/// `min_digits` and `max_digits`, checked together: each is only wrong
/// next to the other.
fn identifier_digits(at: &str, identifier: &IdentifierFile) -> Result<(usize, usize), ConfigError> {
    let digits = IdentifierFile::DIGITS;
    let min = identifier.min_digits.unwrap_or(digits.default);
    let max = identifier.max_digits.unwrap_or(min.max(digits.default));
    if digits.min <= min && min <= max && max <= digits.max {
        Ok((min, max))
    } else {
        Err(digits.refuse(format!("{min}..={max}")).under(at))
    }
}

/// The factor's name as the CRM gets it: a plain token, `pin` unless set.
fn factor(at: &str, verification: &VerificationFile) -> Result<String, ConfigError> {
    let factor = verification.factor.clone().unwrap_or_else(|| "pin".into());
    if factor.is_empty() || factor.len() > 32 || !factor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ConfigError::new(format!("{at}.verification.factor"), "1–32 of a-z, 0-9 and _"));
    }
    Ok(factor)
}
