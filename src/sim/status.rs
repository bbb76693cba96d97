//! The status callback Twilio sends when a call ends: the call's parameters
//! with the final `CallStatus`, `CallDuration`, an RFC 2822 `Timestamp`,
//! `CallbackSource=call-progress-events` and a `SequenceNumber`, signed like
//! every other request, to `{public}/status`.

use super::call::{CallSpec, Phone, SimError};
use crate::twilio::form::Params;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the status route answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAnswer {
    pub url: String,
    pub status: u16,
    pub body: String,
    pub elapsed: Duration,
}

impl Phone {
    /// POSTs the final status callback of a call that lasted `duration`.
    pub async fn status_callback(
        &self,
        spec: &CallSpec,
        call_sid: &str,
        call_status: &str,
        duration: Duration,
        sequence: u32,
    ) -> Result<StatusAnswer, SimError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let params = Phone::call_params(spec, call_sid)
            .into_iter()
            .map(|(k, v)| if k == "CallStatus" { (k, call_status.to_string()) } else { (k, v) })
            .chain([
                ("CallDuration".to_string(), duration.as_secs().to_string()),
                ("Timestamp".to_string(), rfc2822(now)),
                ("CallbackSource".to_string(), "call-progress-events".to_string()),
                ("SequenceNumber".to_string(), sequence.to_string()),
            ]);
        let url = format!("{}/status", self.public);
        let (status, _content_type, body, elapsed) = self.post(&url, &Params::from_pairs(params)).await?;
        Ok(StatusAnswer { url, status, body, elapsed })
    }
}

/// `Tue, 01 Aug 2023 16:20:31 +0000`, as Twilio writes `Timestamp`.
pub fn rfc2822(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc2822;

    #[test]
    fn timestamps_are_rfc_2822() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_690_906_831), "Tue, 01 Aug 2023 16:20:31 +0000");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
