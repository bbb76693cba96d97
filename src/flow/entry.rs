//! What a caller keyed at a prompt, classified before anything else looks at
//! it: silence, an opt-out, a malformed entry, or digits worth a CRM call.

/// The rules one prompt's entry is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRules {
    pub min_digits: usize,
    pub max_digits: usize,
    /// The key that opts out (`*` by default); `None` disables opting out.
    pub opt_out_key: Option<char>,
}

/// A caller's entry at one prompt.
#[derive(Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing keyed: the Gather timed out, or only the finish key was pressed.
    Silence,
    /// The caller pressed the opt-out key.
    OptOut,
    /// Keyed, but cannot be valid: wrong length or not digits.
    Malformed,
    /// Digits within the bounds. May be a secret: never printed.
    Digits(String),
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Silence => f.write_str("Silence"),
            Self::OptOut => f.write_str("OptOut"),
            Self::Malformed => f.write_str("Malformed"),
            Self::Digits(d) => write!(f, "Digits(<{} digits>)", d.len()),
        }
    }
}

impl Entry {
    /// Classifies Twilio's `Digits` parameter (absent when the Gather timed
    /// out and the fall-through `<Redirect>` brought the call back).
    pub fn classify(digits: Option<&str>, rules: &EntryRules) -> Self {
        let raw = digits.unwrap_or("").trim();
        // Twilio strips the finish key, but a caller may press it twice.
        let raw = raw.trim_end_matches('#');
        if raw.is_empty() {
            return Self::Silence;
        }
        if let Some(key) = rules.opt_out_key {
            // A non-digit opt-out key pressed anywhere is unambiguous; a digit
            // key only opts out on its own, or it would swallow real entries.
            let opted = if key.is_ascii_digit() { raw.len() == 1 && raw.starts_with(key) } else { raw.contains(key) };
            if opted {
                return Self::OptOut;
            }
        }
        let len = raw.chars().count();
        if !raw.bytes().all(|b| b.is_ascii_digit()) || len < rules.min_digits || len > rules.max_digits {
            return Self::Malformed;
        }
        Self::Digits(raw.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> EntryRules {
        EntryRules { min_digits: 6, max_digits: 10, opt_out_key: Some('*') }
    }

    #[test]
    fn missing_or_empty_digits_are_silence() {
        assert_eq!(Entry::classify(None, &rules()), Entry::Silence);
        assert_eq!(Entry::classify(Some(""), &rules()), Entry::Silence);
        assert_eq!(Entry::classify(Some("#"), &rules()), Entry::Silence);
    }

    #[test]
    fn star_anywhere_opts_out() {
        assert_eq!(Entry::classify(Some("*"), &rules()), Entry::OptOut);
        assert_eq!(Entry::classify(Some("12*"), &rules()), Entry::OptOut);
    }

    #[test]
    fn a_digit_opt_out_key_only_counts_alone() {
        let r = EntryRules { opt_out_key: Some('0'), ..rules() };
        assert_eq!(Entry::classify(Some("0"), &r), Entry::OptOut);
        assert_eq!(Entry::classify(Some("1000000"), &r), Entry::Digits("1000000".into()));
    }

    #[test]
    fn length_bounds_are_inclusive() {
        assert_eq!(Entry::classify(Some("12345"), &rules()), Entry::Malformed);
        assert_eq!(Entry::classify(Some("123456"), &rules()), Entry::Digits("123456".into()));
        assert_eq!(Entry::classify(Some("1234567890"), &rules()), Entry::Digits("1234567890".into()));
        assert_eq!(Entry::classify(Some("12345678901"), &rules()), Entry::Malformed);
    }

    #[test]
    fn non_digits_are_malformed() {
        for raw in ["12345a78", "1234 5678", "١٢٣٤٥٦٧", "12345678\0"] {
            assert_eq!(Entry::classify(Some(raw), &rules()), Entry::Malformed, "{raw:?}");
        }
        let no_opt_out = EntryRules { opt_out_key: None, ..rules() };
        assert_eq!(Entry::classify(Some("*"), &no_opt_out), Entry::Malformed);
    }

    #[test]
    fn debug_never_shows_digits() {
        assert_eq!(format!("{:?}", Entry::Digits("4321".into())), "Digits(<4 digits>)");
    }
}
