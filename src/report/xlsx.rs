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
