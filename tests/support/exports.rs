//! Reading exported reports back: an XLSX workbook's cells with
//! `calamine`, and a PDF's text with `pdftotext` (Debian's poppler-utils).
//! Without `pdftotext` the PDF checks are skipped, saying so, unless
//! `VOUCH_REQUIRE_PDFTOTEXT=1` (CI installs it and sets that).

use calamine::{Data, Reader as _, Xlsx};
use std::io::Cursor;

/// The first sheet's name and cells, row by row.
pub fn xlsx_rows(bytes: &[u8]) -> (String, Vec<Vec<Data>>) {
    let mut book = Xlsx::new(Cursor::new(bytes.to_vec())).expect("an XLSX workbook");
    let name = book.sheet_names().first().cloned().expect("a sheet");
    let range = book.worksheet_range(&name).expect("the sheet's cells");
    // calamine's range starts at the first used cell: A1 here (the title).
    assert_eq!(range.start(), Some((0, 0)), "the sheet starts at A1");
    (name, range.rows().map(<[Data]>::to_vec).collect())
}

/// A cell as text: strings as they are, numbers as written, dates as
/// `YYYY-MM-DD` (and ` HH:MM` when not midnight), empty as "".
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::DateTime(d) => {
            // Excel's serial days since 1899-12-30 (after 1900-03-01).
            let minutes = (d.as_f64() * 1_440.0).round() as i64;
            let epoch = jiff::civil::date(1899, 12, 30).at(0, 0, 0, 0);
            let at = epoch.checked_add(jiff::Span::new().minutes(minutes)).expect("a date in range");
            let text = at.strftime("%Y-%m-%d %H:%M").to_string();
            text.strip_suffix(" 00:00").map_or(text.clone(), str::to_string)
        }
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// A date and time cell as `YYYY-MM-DD HH:MM:SS`, and `.mmm` when it has
/// milliseconds.
#[allow(dead_code)] // the API tests' alone
pub fn datetime_text(cell: &Data) -> String {
    let Data::DateTime(d) = cell else { panic!("not a date and time: {cell:?}") };
    let ms = (d.as_f64() * 86_400_000.0).round() as i64;
    let epoch = jiff::civil::date(1899, 12, 30).at(0, 0, 0, 0);
    let at = epoch.checked_add(jiff::Span::new().milliseconds(ms)).expect("a date in range");
    let text = at.strftime("%Y-%m-%d %H:%M:%S").to_string();
    match ms.rem_euclid(1000) {
        0 => text,
        milli => format!("{text}.{milli:03}"),
    }
}

/// The text `pdftotext -layout` reads from `pdf`; `None` (with a note on
/// stderr) when `pdftotext` is not installed and not required.
pub fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).expect("the PDF written");
    match std::process::Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output() {
        Ok(out) => {
            assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8(out.stdout).expect("UTF-8 text"))
        }
        Err(e) => {
            assert!(
                std::env::var("VOUCH_REQUIRE_PDFTOTEXT").as_deref() != Ok("1"),
                "VOUCH_REQUIRE_PDFTOTEXT=1 but pdftotext could not run: {e}"
            );
            eprintln!("SKIPPED pdftotext: the PDF's text is not checked ({e}); apt-get install poppler-utils");
            None
        }
    }
}

/// The PDF text's line for the table row `label` (its first word), with
/// no whitespace: how far apart the words are set is the layout's business
/// (`pdftotext` reads a short gap as none: `0 s` comes out as `0s`).
pub fn pdf_row(text: &str, label: &str) -> Option<String> {
    text.lines().find(|l| l.split_whitespace().next() == Some(label)).map(|l| l.split_whitespace().collect())
}

/// `words` with no whitespace, to compare with a [`pdf_row`].
pub fn squeezed<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words.into_iter().flat_map(str::split_whitespace).collect()
}
