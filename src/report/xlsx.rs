//! A report as an XLSX workbook: the filters in the first rows, then the
//! page's table with typed cells (dates, counts, percentages, seconds and
//! milliseconds as numbers with a display format), its header row frozen
//! with the first column, and an autofilter over the rows.

use super::{number, Bucket, Report, COLUMNS};
use rust_xlsxwriter::{ExcelDateTime, Format, FormatBorder, Workbook, Worksheet, XlsxError};

/// The header row's index (0-based); the rows above hold the title, the
/// filters and a note.
pub const HEADER_ROW: u32 = 13;

/// The display format of a figure's column, so the cell shows what the
/// page shows while holding a number.
fn number_format(key: &str) -> &'static str {
    match key {
        "containment" | "crm_error_rate" => "0.0%",
        "ivr_seconds_avg" => r#"0.0" s""#,
        "ivr_seconds_p90" => r#"0" s""#,
        "crm_wait_ms_avg" => r#"0" ms""#,
        _ => "0",
    }
}

/// A civil date as Excel's.
fn excel_date(d: jiff::civil::Date) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(d.year()).map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?;
    ExcelDateTime::from_ymd(year, d.month().unsigned_abs(), d.day().unsigned_abs())
}

/// Writes `report` as a workbook of one sheet.
pub fn workbook(report: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("ID&V report")?;
    write(sheet, report)?;
    book.save_to_buffer()
}

fn write(sheet: &mut Worksheet, report: &Report) -> Result<(), XlsxError> {
    let bold = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd").set_align(rust_xlsxwriter::FormatAlign::Left);
    let header = Format::new().set_bold().set_text_wrap().set_border_bottom(FormatBorder::Thin);
    let total_border = |f: Format| f.set_bold().set_border_top(FormatBorder::Thin);

    sheet.write_string_with_format(0, 0, "Vouch ID&V report", &bold)?;
    for (i, (name, value)) in report.filters().iter().enumerate() {
        let row = 1 + u32::try_from(i).unwrap_or(0);
        sheet.write_string_with_format(row, 0, *name, &bold)?;
        match *name {
            "From" => sheet.write_datetime_with_format(row, 1, excel_date(report.query.from)?, &date)?,
            "To" => sheet.write_datetime_with_format(row, 1, excel_date(report.query.to)?, &date)?,
            _ => sheet.write_string(row, 1, value)?,
        };
    }
    let note = 1 + u32::try_from(report.filters().len()).unwrap_or(0);
    sheet.write_string(note, 0, "Counts only, no customer data.")?;
    if let Some(unsliced) = report.unsliced_note() {
        sheet.write_string(note + 1, 0, unsliced)?;
    }

    sheet.write_string_with_format(HEADER_ROW, 0, report.first_header(), &header)?;
    for (col, (_, head)) in (1u16..).zip(COLUMNS.iter()) {
        sheet.write_string_with_format(HEADER_ROW, col, *head, &header)?;
        sheet.set_column_width(col, 12)?;
    }
    sheet.set_column_width(0, if report.query.by == Bucket::Hour { 17 } else { 12 })?;
    sheet.set_row_height(HEADER_ROW, 30)?;

    let label_format = match report.query.by {
        Bucket::Day => date.clone(),
        Bucket::Hour => Format::new().set_num_format("yyyy-mm-dd hh:mm").set_align(rust_xlsxwriter::FormatAlign::Left),
    };
    let formats: Vec<Format> =
        COLUMNS.iter().map(|(key, _)| Format::new().set_num_format(number_format(key))).collect();
    let buckets = report.query.buckets();
    let mut row = HEADER_ROW;
    for (i, (_, s)) in report.rows.iter().enumerate() {
        row += 1;
        let start = buckets.get(i).map_or(0, |b| b.1);
        let local = jiff::Timestamp::from_second(i64::try_from(start).unwrap_or(0))
            .map(|t| t.to_zoned_datetime(report.query.zone.zone.clone()).datetime())
            .unwrap_or_default();
        let at =
            excel_date(local.date())?.and_hms(local.hour().unsigned_abs().into(), local.minute().unsigned_abs(), 0)?;
        sheet.write_datetime_with_format(row, 0, at, &label_format)?;
        for (col, ((key, _), format)) in (1u16..).zip(COLUMNS.iter().zip(&formats)) {
            if let Some(v) = number(s, key) {
                sheet.write_number_with_format(row, col, v, format)?;
            }
        }
    }
    let last_row = row;
    row += 1;
    sheet.write_string_with_format(row, 0, "Total", &total_border(Format::new()))?;
    for (col, (key, _)) in (1u16..).zip(COLUMNS.iter()) {
        let format = total_border(Format::new().set_num_format(number_format(key)));
        match number(&report.total, key) {
            Some(v) => sheet.write_number_with_format(row, col, v, &format)?,
            None => sheet.write_blank(row, col, &format)?,
        };
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 1)?;
    sheet.autofilter(HEADER_ROW, 0, last_row, u16::try_from(COLUMNS.len()).unwrap_or(u16::MAX))?;
    Ok(())
}

/// A civil date and time as Excel's.
fn excel_datetime(at: jiff::civil::DateTime) -> Result<ExcelDateTime, XlsxError> {
    let (h, m, s) = (at.hour().unsigned_abs(), at.minute().unsigned_abs(), at.second().unsigned_abs());
    excel_date(at.date())?.and_hms(u16::from(h), m, s)
}

/// Writes a file's first rows from the top of `sheet`: its title, its
/// filters (a name and a value each), then `notes`; the next free row.
fn heading(sheet: &mut Worksheet, title: &str, filters: &[(&str, String)], notes: &[&str]) -> Result<u32, XlsxError> {
    let bold = Format::new().set_bold();
    sheet.write_string_with_format(0, 0, title, &bold)?;
    let mut row = 1;
    for (name, value) in filters {
        sheet.write_string_with_format(row, 0, *name, &bold)?;
        sheet.write_string(row, 1, value)?;
        row += 1;
    }
    for note in notes {
        sheet.write_string(row, 0, *note)?;
        row += 1;
    }
    Ok(row)
}

/// A call list's header row (0-based), on each of its sheets: above it,
/// the title, the ten filters and a note.
pub const CALLS_HEADER_ROW: u32 = 13;

/// The rows a sheet holds (Excel's limit).
const SHEET_ROWS: u32 = 1_048_576;

/// A list of calls as a workbook, written a call at a time into
/// worksheets that keep only their current row in memory (the rest goes
/// to a temporary file), so a list of any length costs the same memory.
/// A list longer than a sheet goes on to another, headed the same.
pub struct CallsBook {
    book: Workbook,
    title: String,
    filters: Vec<(&'static str, String)>,
    note: String,
    zone: jiff::tz::TimeZone,
    /// The current sheet's index and the last row written on it.
    sheet: usize,
    row: u32,
    /// The last row a sheet may hold.
    last_row: u32,
    started: Format,
    seconds: Format,
}

impl CallsBook {
    /// A workbook whose sheets are headed by `title`, `filters` and
    /// `note`, its calls' starts shown in `zone`.
    pub fn new(
        title: &str,
        filters: Vec<(&'static str, String)>,
        note: &str,
        zone: jiff::tz::TimeZone,
    ) -> Result<Self, XlsxError> {
        Self::with_rows(title, filters, note, zone, SHEET_ROWS)
    }

    fn with_rows(
        title: &str,
        filters: Vec<(&'static str, String)>,
        note: &str,
        zone: jiff::tz::TimeZone,
        rows: u32,
    ) -> Result<Self, XlsxError> {
        // The title, the filters and the note must end above the header:
        // a constant-memory sheet ignores a row written after a later one.
        if filters.len() + 2 > CALLS_HEADER_ROW as usize {
            let why = format!("a call list's heading holds at most {} filters", CALLS_HEADER_ROW - 2);
            return Err(XlsxError::ParameterError(why));
        }
        let mut this = Self {
            book: Workbook::new(),
            title: title.to_string(),
            filters,
            note: note.to_string(),
            zone,
            sheet: 0,
            row: 0,
            last_row: rows.saturating_sub(1).max(CALLS_HEADER_ROW + 1),
            started: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss").set_align(rust_xlsxwriter::FormatAlign::Left),
            seconds: Format::new().set_num_format(r#"0" s""#),
        };
        this.add_sheet(1)?;
        Ok(this)
    }

    /// Starts sheet `n` (from 1): its heading and the list's header row.
    fn add_sheet(&mut self, n: usize) -> Result<(), XlsxError> {
        let header = Format::new().set_bold().set_border_bottom(FormatBorder::Thin);
        let sheet = self.book.add_worksheet_with_constant_memory()?;
        sheet.set_name(if n == 1 { "Calls".to_string() } else { format!("Calls {n}") })?;
        heading(sheet, &self.title, &self.filters, &[&self.note])?;
        let widths = [20, 24, 14, 12, 26, 16, 16, 14, 14, 18, 36];
        for (col, (head, width)) in (0u16..).zip(super::calls::SHOWN_HEADER.iter().zip(widths)) {
            sheet.write_string_with_format(CALLS_HEADER_ROW, col, *head, &header)?;
            sheet.set_column_width(col, width)?;
        }
        sheet.set_freeze_panes(CALLS_HEADER_ROW + 1, 1)?;
        self.sheet = n - 1;
        self.row = CALLS_HEADER_ROW;
        Ok(())
    }

    /// Filters the current sheet's rows, as far as they go.
    fn close_sheet(&mut self) -> Result<(), XlsxError> {
        let (row, last_col) = (self.row, u16::try_from(super::calls::SHOWN_HEADER.len() - 1).unwrap_or(0));
        let sheet = self.book.worksheet_from_index(self.sheet)?;
        sheet.autofilter(CALLS_HEADER_ROW, 0, row, last_col)?;
        Ok(())
    }

    /// Adds `call` as the next row: its start a date and time, its time in
    /// the IVR a number of seconds, the rest as the page words them.
    pub fn push(&mut self, call: &super::calls::ShownCall) -> Result<(), XlsxError> {
        if self.row >= self.last_row {
            self.close_sheet()?;
            self.add_sheet(self.sheet + 2)?;
        }
        self.row += 1;
        let row = self.row;
        let local = jiff::Timestamp::from_second(i64::try_from(call.started_at).unwrap_or(0))
            .map(|t| t.to_zoned_datetime(self.zone.clone()).datetime())
            .unwrap_or_default();
        let started = excel_datetime(local)?;
        let sheet = self.book.worksheet_from_index(self.sheet)?;
        sheet.write_datetime_with_format(row, 0, started, &self.started)?;
        for (col, text) in (0u16..).zip(call.texts()) {
            match col {
                0 => {}
                7 => match call.ivr_seconds {
                    Some(s) => {
                        sheet.write_number_with_format(row, col, s as f64, &self.seconds)?;
                    }
                    None => {
                        sheet.write_string(row, col, text)?;
                    }
                },
                _ => {
                    sheet.write_string(row, col, text)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the workbook to `out`.
    pub fn finish(mut self, out: impl std::io::Write + Send) -> Result<(), XlsxError> {
        self.close_sheet()?;
        self.book.save_to_writer(out)
    }
}

/// Figures (a row per line and the total, a column per figure) as a
/// workbook of one sheet: the title, `filters` and `note` in the first
/// rows; each column's group above its header, frozen with the first
/// column; the figures as typed numbers, the total last in bold.
pub fn figures(
    title: &str,
    filters: &[(&str, String)],
    note: &str,
    columns: &[(&str, &str, &str)],
    rows: &[(&str, &crate::store::LineStats)],
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(title)?;
    let group_row = heading(sheet, title, filters, &[note])? + 1;
    let header_row = group_row + 1;
    let bold = Format::new().set_bold();
    let header = Format::new().set_bold().set_text_wrap().set_border_bottom(FormatBorder::Thin);
    sheet.write_string_with_format(header_row, 0, "Line", &header)?;
    sheet.set_column_width(0, 16)?;
    let mut group_start: Option<(u16, &str)> = None;
    let close = |sheet: &mut Worksheet, start: Option<(u16, &str)>, end: u16| -> Result<(), XlsxError> {
        match start {
            Some((from, name)) if end > from => {
                sheet.merge_range(group_row, from, group_row, end, name, &bold)?;
            }
            Some((from, name)) => {
                sheet.write_string_with_format(group_row, from, name, &bold)?;
            }
            None => {}
        }
        Ok(())
    };
    for (col, (group, _, head)) in (1u16..).zip(columns) {
        if group_start.is_none_or(|(_, name)| name != *group) {
            close(sheet, group_start, col - 1)?;
            group_start = Some((col, group));
        }
        sheet.write_string_with_format(header_row, col, *head, &header)?;
        sheet.set_column_width(col, 13)?;
    }
    close(sheet, group_start, u16::try_from(columns.len()).unwrap_or(u16::MAX))?;
    sheet.set_row_height(header_row, 30)?;
    let mut row = header_row;
    let last = rows.len().saturating_sub(1);
    for (i, (label, s)) in rows.iter().enumerate() {
        row += 1;
        let total = |f: Format| if i == last { f.set_bold().set_border_top(FormatBorder::Thin) } else { f };
        sheet.write_string_with_format(row, 0, *label, &total(Format::new()))?;
        for (col, (_, key, _)) in (1u16..).zip(columns) {
            let format = total(Format::new().set_num_format(number_format(key)));
            match number(s, key) {
                Some(v) => sheet.write_number_with_format(row, col, v, &format)?,
                None => sheet.write_blank(row, col, &format)?,
            };
        }
    }
    sheet.set_freeze_panes(header_row + 1, 1)?;
    sheet.autofilter(
        header_row,
        0,
        row.saturating_sub(1).max(header_row),
        u16::try_from(columns.len()).unwrap_or(0),
    )?;
    book.save_to_buffer()
}

/// A cell of a plain table's workbook: text, or a number or a time with
/// its display format.
pub enum Cell {
    Text(String),
    Number(f64, &'static str),
    Time(jiff::civil::DateTime, &'static str),
}

/// A table as a workbook of one sheet, `name`: the title, `filters` and
/// `note` in the first rows, then `heads` (frozen, filterable, each column
/// its width in characters) over `rows`.
pub fn table(
    name: &str,
    (title, filters, note): (&str, &[(&str, String)], &str),
    heads: &[(&str, f64)],
    rows: &[Vec<Cell>],
) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(name)?;
    let header_row = heading(sheet, title, filters, &[note])? + 1;
    let header = Format::new().set_bold().set_border_bottom(FormatBorder::Thin);
    for (col, (head, width)) in (0u16..).zip(heads) {
        sheet.write_string_with_format(header_row, col, *head, &header)?;
        sheet.set_column_width(col, *width)?;
    }
    let mut row = header_row;
    for cells in rows {
        row += 1;
        for (col, cell) in (0u16..).zip(cells) {
            match cell {
                Cell::Text(text) => sheet.write_string(row, col, text)?,
                Cell::Number(v, format) => {
                    sheet.write_number_with_format(row, col, *v, &Format::new().set_num_format(*format))?
                }
                Cell::Time(at, format) => {
                    let ms = u16::try_from(at.subsec_nanosecond() / 1_000_000).unwrap_or(0);
                    let (h, m, s) = (at.hour().unsigned_abs(), at.minute().unsigned_abs(), at.second().unsigned_abs());
                    let time = excel_date(at.date())?.and_hms_milli(u16::from(h), m, s, ms)?;
                    let format = Format::new().set_num_format(*format).set_align(rust_xlsxwriter::FormatAlign::Left);
                    sheet.write_datetime_with_format(row, col, time, &format)?
                }
            };
        }
    }
    sheet.set_freeze_panes(header_row + 1, 0)?;
    let last_col = u16::try_from(heads.len().saturating_sub(1)).unwrap_or(0);
    sheet.autofilter(header_row, 0, row.max(header_row + 1), last_col)?;
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::calls::ShownCall;
    use calamine::{Data, Reader, Xlsx};

    fn call(n: u64) -> ShownCall {
        ShownCall {
            started_at: 1_764_979_200 + n,
            started: String::new(),
            customer: format!("=Customer {n}"),
            customer_id: "—".into(),
            line: "support".into(),
            method: "caller ID".into(),
            status: "Verified".into(),
            outcome: "sent to an agent".into(),
            ivr_seconds: n.is_multiple_of(2).then_some(n),
            ivr: if n.is_multiple_of(2) { format!("{n} s") } else { "—".into() },
            queue: "support".into(),
            agent: "—".into(),
            call_sid: format!("CA{n:032}"),
        }
    }

    #[test]
    fn a_list_longer_than_a_sheet_goes_on_to_another_headed_the_same() {
        let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
        let filters = vec![("Figure", "Calls".to_string()), ("Time zone", "Europe/London".to_string())];
        // Room for three calls a sheet below the header.
        let mut book = CallsBook::with_rows("Calls", filters, "A note.", zone, CALLS_HEADER_ROW + 4).unwrap();
        for n in 0..7 {
            book.push(&call(n)).unwrap();
        }
        let mut out = Vec::new();
        book.finish(&mut out).unwrap();
        let mut read = Xlsx::new(std::io::Cursor::new(out)).unwrap();
        assert_eq!(read.sheet_names(), ["Calls", "Calls 2", "Calls 3"]);
        let mut sids = Vec::new();
        for name in read.sheet_names() {
            let range = read.worksheet_range(&name).unwrap();
            let rows: Vec<&[Data]> = range.rows().collect();
            assert_eq!(rows[0][0], Data::String("Calls".into()), "{name}'s title");
            assert_eq!(rows[2][1], Data::String("Europe/London".into()), "{name}'s filters");
            let head = CALLS_HEADER_ROW as usize;
            assert_eq!(rows[head][10], Data::String("Call SID".into()), "{name}'s header");
            for row in &rows[head + 1..] {
                assert!(matches!(row[0], Data::DateTime(_)), "{row:?}");
                assert!(
                    matches!(&row[1], Data::String(s) if s.starts_with("=Customer ")),
                    "a formula stays text: {row:?}"
                );
                sids.push(row[10].to_string());
            }
        }
        let want: Vec<String> = (0..7).map(|n| call(n).call_sid).collect();
        assert_eq!(sids, want, "every call once, in order");
    }

    #[test]
    fn a_heading_that_would_reach_the_header_row_is_refused() {
        let filters: Vec<(&'static str, String)> = (0..12).map(|_| ("Filter", String::new())).collect();
        let refused = CallsBook::new("Calls", filters, "", jiff::tz::TimeZone::UTC);
        assert!(matches!(refused, Err(XlsxError::ParameterError(_))));
        let filters: Vec<(&'static str, String)> = (0..11).map(|_| ("Filter", String::new())).collect();
        assert!(CallsBook::new("Calls", filters, "", jiff::tz::TimeZone::UTC).is_ok(), "11 filters and a note fit");
    }

    #[test]
    fn a_start_is_written_in_the_list_zone_and_an_ivr_time_as_a_number() {
        let zone = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let mut book = CallsBook::new("Calls", vec![], "", zone).unwrap();
        book.push(&call(0)).unwrap();
        book.push(&call(1)).unwrap();
        let mut out = Vec::new();
        book.finish(&mut out).unwrap();
        let mut read = Xlsx::new(std::io::Cursor::new(out)).unwrap();
        let range = read.worksheet_range("Calls").unwrap();
        let head = CALLS_HEADER_ROW as usize;
        let Data::DateTime(at) = &range.rows().nth(head + 1).unwrap()[0] else { panic!("a date and time") };
        // 2025-12-06 00:00:00 UTC is 2025-12-05 19:00:00 in New York (EST).
        let seconds = (at.as_f64() * 86_400.0).round() as i64;
        let local = jiff::civil::date(1899, 12, 30).at(0, 0, 0, 0) + jiff::Span::new().seconds(seconds);
        assert_eq!(local.to_string(), "2025-12-05T19:00:00");
        assert_eq!(range.rows().nth(head + 1).unwrap()[7], Data::Float(0.0));
        assert_eq!(range.rows().nth(head + 2).unwrap()[7], Data::String("—".into()), "no hand-off: as listed");
    }
}
