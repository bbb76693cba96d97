//! How a caller's number is written into a CRM request: `{phone:FORMAT}`.
//! CRMs that compare phone strings exactly (Salesforce, HubSpot, Dataverse)
//! need the number the way their users typed it, so a query may OR several
//! formats of the same number.
//!
//! The national significant number is the E.164 digits after the country
//! calling code, whose length follows the ITU's assignment (1 for +1 and +7,
//! 2 for the codes listed in [`two_digit_code`], 3 otherwise).

use crate::flow::E164;

/// One way of writing a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneFormat {
    /// `+15550001111`
    E164,
    /// NANP (`+1`): `(555) 000-1111`; elsewhere `0` and the national
    /// significant number (`+442071234567` → `02071234567`).
    National,
    /// `15550001111`: E.164 without the `+`.
    Digits,
    /// `5550001111`: the national significant number.
    NationalDigits,
    /// Each `#` takes the next digit of the national significant number:
    /// `(###) ###-####`, `+1 ### ### ####`. The `#` count must equal the
    /// number's national digits, else the request is not made.
    Pattern(String),
}

/// A pattern's `#` count differs from the number's national digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the phone pattern has {wanted} `#` but the number has {got} national digits")]
pub struct PatternMismatch {
    pub wanted: usize,
    pub got: usize,
}

impl PhoneFormat {
    /// `e164`, `national`, `digits`, `national_digits`, or a pattern with at
    /// least one `#` (and no braces or control characters).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "e164" => Self::E164,
            "national" => Self::National,
            "digits" => Self::Digits,
            "national_digits" => Self::NationalDigits,
            p if p.contains('#') && !p.chars().any(|c| c.is_control() || matches!(c, '{' | '}' | '|')) => {
                Self::Pattern(p.to_string())
            }
            _ => return None,
        })
    }

    /// The number written this way.
    pub fn apply(&self, phone: &E164) -> Result<String, PatternMismatch> {
        let digits = phone.as_str().trim_start_matches('+');
        let (code, national) = digits.split_at(code_len(digits).min(digits.len()));
        Ok(match self {
            Self::E164 => phone.as_str().to_string(),
            Self::Digits => digits.to_string(),
            Self::NationalDigits => national.to_string(),
            Self::National if code == "1" && national.len() == 10 => {
                format!("({}) {}-{}", &national[..3], &national[3..6], &national[6..])
            }
            Self::National => format!("0{national}"),
            Self::Pattern(p) => {
                let wanted = p.chars().filter(|c| *c == '#').count();
                if wanted != national.len() {
                    return Err(PatternMismatch { wanted, got: national.len() });
                }
                let mut next = national.chars();
                p.chars().map(|c| if c == '#' { next.next().unwrap_or('#') } else { c }).collect()
            }
        })
    }
}

/// The length of the country calling code `digits` starts with.
fn code_len(digits: &str) -> usize {
    match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        _ if two_digit_code(digits.get(..2).unwrap_or("")) => 2,
        _ => 3,
    }
}

/// The two-digit country calling codes (ITU-T E.164 assignments).
fn two_digit_code(cc: &str) -> bool {
    matches!(
        cc,
        "20" | "27"
            | "30"
            | "31"
            | "32"
            | "33"
            | "34"
            | "36"
            | "39"
            | "40"
            | "41"
            | "43"
            | "44"
            | "45"
            | "46"
            | "47"
            | "48"
            | "49"
            | "51"
            | "52"
            | "53"
            | "54"
            | "55"
            | "56"
            | "57"
            | "58"
            | "60"
            | "61"
            | "62"
            | "63"
            | "64"
            | "65"
            | "66"
            | "81"
            | "82"
            | "84"
            | "86"
            | "90"
            | "91"
            | "92"
            | "93"
            | "94"
            | "95"
            | "98"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: &str, phone: &str) -> Result<String, PatternMismatch> {
        PhoneFormat::parse(format).unwrap().apply(&E164::parse(phone).unwrap())
    }

    #[test]
    fn nanp_numbers_in_every_format() {
        let n = "+15550001111";
        assert_eq!(fmt("e164", n).unwrap(), "+15550001111");
        assert_eq!(fmt("national", n).unwrap(), "(555) 000-1111");
        assert_eq!(fmt("digits", n).unwrap(), "15550001111");
        assert_eq!(fmt("national_digits", n).unwrap(), "5550001111");
        assert_eq!(fmt("(###) ###-####", n).unwrap(), "(555) 000-1111");
        assert_eq!(fmt("###-###-####", n).unwrap(), "555-000-1111");
        assert_eq!(fmt("+1 ### ### ####", n).unwrap(), "+1 555 000 1111");
    }

    #[test]
    fn other_countries_use_their_code_length() {
        assert_eq!(fmt("national", "+442071234567").unwrap(), "02071234567");
        assert_eq!(fmt("national_digits", "+442071234567").unwrap(), "2071234567");
        assert_eq!(fmt("national_digits", "+35312345678").unwrap(), "12345678", "Ireland: +353");
        assert_eq!(fmt("national_digits", "+74951234567").unwrap(), "4951234567", "Russia: +7");
        assert_eq!(fmt("digits", "+442071234567").unwrap(), "442071234567");
    }

    #[test]
    fn a_pattern_whose_digit_count_differs_is_refused() {
        assert_eq!(fmt("(###) ###-####", "+442071234567"), Ok("(207) 123-4567".into()));
        assert_eq!(fmt("###-####", "+15550001111"), Err(PatternMismatch { wanted: 7, got: 10 }));
    }

    #[test]
    fn unknown_formats_are_not_parsed() {
        for bad in ["", "E164", "nat", "{#}", "#|x", "###\n"] {
            assert_eq!(PhoneFormat::parse(bad), None, "{bad:?}");
        }
    }
}
