//! `[reports]`: scheduled reports (`[[reports.schedule]]`), each written
//! when it falls due, in its time zone, as the formats it names, kept in
//! the database (served at `/reports/files`) and, optionally, written to a
//! directory. See [`crate::report::schedule`].

use super::file::{ReportsFile, ScheduleFile};
use super::{ConfigError, LineTimeZone, Lines};
use crate::report::{Bucket, Format};
use jiff::civil::{Time, Weekday};
use std::path::PathBuf;
use std::time::Duration;

/// The scheduled reports and how long their files are kept.
#[derive(Debug, Clone)]
pub struct Reports {
    pub schedules: Vec<Schedule>,
    /// Stored files older than this are deleted (`reports.keep_days`).
    pub keep: Duration,
}

/// How often a schedule falls due, and which period its report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    /// Each day at `at`: the day before.
    Day,
    /// Each week on `weekday` at `at`: the 7 days before.
    Week(Weekday),
    /// Each month on day `n` (1–28) at `at`: the calendar month before.
    Month(i8),
}

/// One `[[reports.schedule]]`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Unique, `[A-Za-z0-9_-]`: the files' names start with it.
    pub name: String,
    pub every: Every,
    /// The local time it falls due at, in `zone`.
    pub at: Time,
    pub zone: LineTimeZone,
    /// One line, or every line.
    pub line: Option<String>,
    pub by: Bucket,
    pub formats: Vec<Format>,
    /// Where the files are also written, if anywhere.
    pub directory: Option<PathBuf>,
    /// The lines whose calls are also listed (`calls = true`): those in the
    /// schedule's scope that opt in (`scheduled_call_lists`). Empty: no
    /// call list.
    pub call_lists: Vec<String>,
}

/// The default `reports.keep_days`.
pub const KEEP_DAYS: u64 = 400;

impl Reports {
    pub fn resolve(file: &ReportsFile, lines: &Lines) -> Result<Self, ConfigError> {
        let keep_days = file.keep_days.unwrap_or(KEEP_DAYS);
        if !(1..=3_650).contains(&keep_days) {
            return Err(ConfigError::new("reports.keep_days", format!("{keep_days}: between 1 and 3650 days")));
        }
        let mut schedules: Vec<Schedule> = Vec::new();
        for (i, s) in file.schedule.iter().enumerate() {
            let schedule = Schedule::resolve(&format!("reports.schedule[{i}]"), s, lines)?;
            if schedules.iter().any(|other| other.name == schedule.name) {
                return Err(ConfigError::new(
                    format!("reports.schedule[{i}].name"),
                    format!("{:?} names two schedules: each needs its own name", schedule.name),
                ));
            }
            schedules.push(schedule);
        }
        Ok(Self { schedules, keep: Duration::from_secs(keep_days * 86_400) })
    }
}

impl Schedule {
    fn resolve(key: &str, f: &ScheduleFile, lines: &Lines) -> Result<Self, ConfigError> {
        let at_key = |field: &str| format!("{key}.{field}");
        let name = f.name.trim().to_string();
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::new(
                at_key("name"),
                format!("{name:?}: 1 to 64 letters, digits, '-' or '_' (it starts the files' names)"),
            ));
        }
        let day = f.day.as_ref();
        let every = match f.every.trim() {
            "day" => {
                if day.is_some() {
                    return Err(ConfigError::new(at_key("day"), "a daily report takes no day"));
                }
                Every::Day
            }
            "week" => Every::Week(match day {
                None => Weekday::Monday,
                Some(d) => weekday(d.as_str().unwrap_or_default()).ok_or_else(|| {
                    ConfigError::new(
                        at_key("day"),
                        format!("{d}: a weekly report's day is a weekday name (\"monday\"…\"sunday\")"),
                    )
                })?,
            }),
            "month" => Every::Month(match day {
                None => 1,
                Some(d) => {
                    d.as_integer().filter(|n| (1..=28).contains(n)).and_then(|n| i8::try_from(n).ok()).ok_or_else(
                        || ConfigError::new(at_key("day"), format!("{d}: a monthly report's day is 1 to 28")),
                    )?
                }
            }),
            other => return Err(ConfigError::new(at_key("every"), format!("{other:?}: day, week or month"))),
        };
        let at_text = f.at.as_deref().unwrap_or("06:00").trim();
        let at = parse_time(at_text)
            .ok_or_else(|| ConfigError::new(at_key("at"), format!("{at_text:?} is not a time of day (HH:MM)")))?;
        let line = f.line.as_deref().map(str::trim).filter(|l| !l.is_empty() && *l != "all").map(str::to_string);
        if let Some(name) = &line {
            if lines.get(name).is_none() {
                let known: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
                return Err(ConfigError::new(
                    at_key("line"),
                    format!("no line is named {name:?} (lines: {})", known.join(", ")),
                ));
            }
        }
        let zone = match f.tz.as_deref() {
            Some(tz) => LineTimeZone::named(&at_key("tz"), tz)?,
            None => {
                let l = line.as_deref().and_then(|l| lines.get(l)).unwrap_or_else(|| lines.default());
                l.time_zone.clone().unwrap_or_else(LineTimeZone::utc)
            }
        };
        let by = match f.by.as_deref().map(str::trim) {
            None | Some("day") => Bucket::Day,
            Some("hour") => Bucket::Hour,
            Some(other) => return Err(ConfigError::new(at_key("by"), format!("{other:?}: day or hour"))),
        };
        let mut formats = Vec::new();
        for given in f.formats.as_deref().unwrap_or(&["csv".to_string()]) {
            let format = Format::parse(given.trim())
                .ok_or_else(|| ConfigError::new(at_key("formats"), format!("{given:?}: csv, xlsx or pdf")))?;
            if !cfg!(feature = "exports") && format != Format::Csv {
                return Err(ConfigError::new(
                    at_key("formats"),
                    format!("{given:?}: this build of Vouch writes CSV only (built without the `exports` feature)"),
                ));
            }
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        if formats.is_empty() {
            return Err(ConfigError::new(at_key("formats"), "at least one of csv, xlsx, pdf"));
        }
        let directory = match f.directory.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => {
                let path = PathBuf::from(d);
                if !path.is_dir() {
                    return Err(ConfigError::new(at_key("directory"), format!("{d:?} is not a directory")));
                }
                Some(path)
            }
        };
        let call_lists = match f.calls {
            Some(true) => {
                let listed: Vec<String> = lines
                    .iter()
                    .filter(|l| l.scheduled_call_lists && line.as_deref().is_none_or(|only| only == l.name))
                    .map(|l| l.name.clone())
                    .collect();
                if listed.is_empty() {
                    let which = line.as_deref().unwrap_or("NAME");
                    return Err(ConfigError::new(
                        at_key("calls"),
                        format!(
                            "no line {} opts in to scheduled call lists, which hold customer data: \
                             set lines.{which}.scheduled_call_lists = true to allow it",
                            line.as_deref().map_or("of the schedule's".to_string(), |l| format!("({l})"))
                        ),
                    ));
                }
                listed
            }
            _ => Vec::new(),
        };
        Ok(Self { name, every, at, zone, line, by, formats, directory, call_lists })
    }
}

/// `HH:MM` (24-hour).
fn parse_time(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    if h.len() > 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEMO_CONFIG};
    use std::collections::HashMap;

    fn load(schedules: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_toml(&format!("{DEMO_CONFIG}\n{schedules}"), &env)
    }

    #[test]
    fn schedules_are_read_with_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "[reports]\nkeep_days = 30\n\n[[reports.schedule]]\nname = \"daily\"\nevery = \"day\"\n\n\
             [[reports.schedule]]\nname = \"weekly-support\"\nevery = \"week\"\nday = \"Friday\"\nat = \"17:45\"\n\
             line = \"support\"\nformats = [\"xlsx\", \"pdf\", \"xlsx\"]\ndirectory = \"{}\"\n\n\
             [[reports.schedule]]\nname = \"monthly\"\nevery = \"month\"\nday = 2\ntz = \"Asia/Tokyo\"\nby = \"hour\"\n",
            dir.path().display()
        );
        let reports = load(&toml, &[]).unwrap().reports;
        assert_eq!(reports.keep, Duration::from_secs(30 * 86_400));
        let [daily, weekly, monthly] = &reports.schedules[..] else { panic!("three schedules") };
        assert_eq!((daily.every, daily.at, daily.line.as_deref()), (Every::Day, Time::new(6, 0, 0, 0).unwrap(), None));
        assert_eq!(
            (daily.formats.as_slice(), daily.by, daily.zone.name.as_str()),
            (&[Format::Csv][..], Bucket::Day, "America/New_York")
        );
        assert_eq!((weekly.every, weekly.at.to_string()), (Every::Week(Weekday::Friday), "17:45:00".to_string()));
        assert_eq!(
            (weekly.formats.as_slice(), weekly.line.as_deref()),
            (&[Format::Xlsx, Format::Pdf][..], Some("support"))
        );
        assert_eq!(weekly.directory.as_deref(), Some(dir.path()));
        assert_eq!(
            (monthly.every, monthly.by, monthly.zone.name.as_str()),
            (Every::Month(2), Bucket::Hour, "Asia/Tokyo")
        );
        assert!(load("", &[]).unwrap().reports.schedules.is_empty(), "none by default");
    }

    #[test]
    fn a_bad_schedule_is_refused_naming_its_key() {
        let one = |fields: &str| format!("[[reports.schedule]]\nname = \"r\"\n{fields}\n");
        for (toml, key, words) in [
            (one("every = \"fortnight\""), "reports.schedule[0].every", "day, week or month"),
            (one("every = \"week\"\nday = \"someday\""), "reports.schedule[0].day", "weekday name"),
            (one("every = \"month\"\nday = 31"), "reports.schedule[0].day", "1 to 28"),
            (one("every = \"day\"\nday = 3"), "reports.schedule[0].day", "takes no day"),
            (one("every = \"day\"\nat = \"25:00\""), "reports.schedule[0].at", "not a time of day"),
            (one("every = \"day\"\nline = \"nope\""), "reports.schedule[0].line", "no line is named"),
            (one("every = \"day\"\ntz = \"Mars/Olympus\""), "reports.schedule[0].tz", "IANA"),
            (one("every = \"day\"\nby = \"week\""), "reports.schedule[0].by", "day or hour"),
            (one("every = \"day\"\nformats = [\"docx\"]"), "reports.schedule[0].formats", "csv, xlsx or pdf"),
            (one("every = \"day\"\nformats = []"), "reports.schedule[0].formats", "at least one"),
            (one("every = \"day\"\ndirectory = \"/no/such/dir\""), "reports.schedule[0].directory", "not a directory"),
            (
                "[[reports.schedule]]\nname = \"a b\"\nevery = \"day\"\n".into(),
                "reports.schedule[0].name",
                "letters, digits",
            ),
            (
                format!("{}{}", one("every = \"day\""), one("every = \"week\"")),
                "reports.schedule[1].name",
                "names two schedules",
            ),
            ("[reports]\nkeep_days = 0\n".into(), "reports.keep_days", "between 1 and 3650"),
            (one("every = \"day\"\ncalls = true"), "reports.schedule[0].calls", "scheduled_call_lists = true"),
        ] {
            let e = load(&toml, &[]).unwrap_err();
            assert_eq!(e.key, key, "{toml}: {e:?}");
            assert!(e.message.contains(words), "{toml}: {e:?}");
        }
        // A call list needs a line in the schedule's scope that opts in.
        let opted = DEMO_CONFIG.replace("[lines.support]\n", "[lines.support]\nscheduled_call_lists = true\n");
        let with = |fields: &str| Config::from_toml(&format!("{opted}\n{}", one(fields)), &HashMap::new());
        let all = with("every = \"day\"\ncalls = true").unwrap().reports.schedules.remove(0);
        assert_eq!(all.call_lists, ["support"], "every line's schedule lists the lines that opt in");
        let support = with("every = \"day\"\nline = \"support\"\ncalls = true").unwrap().reports.schedules.remove(0);
        assert_eq!(support.call_lists, ["support"]);
        let e = with("every = \"day\"\nline = \"sales\"\ncalls = true").unwrap_err();
        assert_eq!(e.key, "reports.schedule[0].calls", "{e:?}");
        assert!(e.message.contains("no line (sales) opts in") && e.message.contains("lines.sales."), "{e:?}");
        assert!(with("every = \"day\"").unwrap().reports.schedules[0].call_lists.is_empty(), "no list by default");
        let e = load(&one("every = \"day\""), &[("DATABASE_URL", "memory:")]).unwrap_err();
        assert_eq!(e.key, "reports.schedule", "{e:?}");
        assert!(e.message.contains("DATABASE_URL=memory:"), "{e:?}");
    }
}
