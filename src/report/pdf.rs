//! A report as a PDF (A4 landscape): the filters and the three charts on
//! the first page, drawn by [`super::chart`] through a `plotters` backend
//! that writes PDF paths; then the page's table, as the page shows it,
//! with its header repeated on every page. Text is set in the standard
//! Helvetica fonts, which every reader has, so there is no font to embed.

use super::chart::{Chart, SIZE};
use super::{shown, ExportError, Report, COLUMNS};
use plotters::prelude::{DrawingBackend, IntoDrawingArea};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontTransform};
use printpdf::path::{PaintMode, WindingOrder};
use printpdf::{
    BuiltinFont, Color, CustomPdfConformance, IndirectFontRef, Line, Mm, PdfConformance, PdfDocument,
    PdfDocumentReference, PdfLayerReference, Point, Polygon, Rect, Rgb, TextMatrix,
};
use std::convert::Infallible;

/// A4 landscape, in millimetres, and its margin.
const WIDTH: f32 = 297.0;
const HEIGHT: f32 = 210.0;
const MARGIN: f32 = 12.0;
const PT_PER_MM: f32 = 72.0 / 25.4;

/// The table's font size (points), row height and header line height (mm).
const TABLE_PT: f32 = 7.0;
const HEADER_PT: f32 = 6.0;
const ROW_MM: f32 = 4.6;
const HEADER_LINE_MM: f32 = 3.0;

/// Helvetica's advance widths (thousandths of an em) of ASCII 32 to 126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' ' to '/'
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // '0' to '?'
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // '@' to 'O'
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 'P' to '_'
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // '`' to 'o'
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p' to '~'
];

/// `text`'s width in Helvetica at `size` (any unit: the result is in the
/// same), bold a little wider.
fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match c {
            ' '..='~' => u32::from(HELVETICA[c as usize - 32]),
            '—' | '…' | '‰' => 1000,
            _ => 556,
        })
        .sum();
    let width = units as f32 * size / 1000.0;
    if bold {
        width * 1.06
    } else {
        width
    }
}

fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color::Rgb(Rgb::new(f32::from(r) / 255.0, f32::from(g) / 255.0, f32::from(b) / 255.0, None))
}

/// A colour with its transparency blended onto white (the page).
fn on_white(c: BackendColor) -> Color {
    let blend = |v: u8| (255.0 - c.alpha.clamp(0.0, 1.0) * (255.0 - f64::from(v))).round() as u8;
    rgb(blend(c.rgb.0), blend(c.rgb.1), blend(c.rgb.2))
}

/// The characters of Windows-1252 from 0x80 to 0x9F: with ASCII and
/// Latin-1, what the standard fonts' WinAnsi encoding can set.
const WIN_ANSI_EXTRA: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";

/// `text` with each character the standard fonts cannot set (a name in
/// Greek, say) as `?`, rather than silently left out.
fn win_ansi(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => c,
            _ if WIN_ANSI_EXTRA.contains(c) => c,
            _ => '?',
        })
        .collect()
}

/// Writes `text` with its baseline's left end at (`x`, `y`) mm, turned
/// `degrees` anticlockwise.
fn text_at(layer: &PdfLayerReference, font: &IndirectFontRef, size_pt: f32, x: f32, y: f32, degrees: f32, text: &str) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    layer.begin_text_section();
    layer.set_font(font, size_pt);
    layer.set_text_matrix(TextMatrix::Raw([cos, sin, -sin, cos, x * PT_PER_MM, y * PT_PER_MM]));
    layer.write_text(win_ansi(text), font);
    layer.end_text_section();
}

fn point(x: f32, y: f32) -> (Point, bool) {
    (Point::new(Mm(x), Mm(y)), false)
}

/// A `plotters` backend drawing a chart of [`SIZE`] units onto a PDF page,
/// its top-left corner at (`left`, `top`) mm, each unit `scale` mm.
struct ChartBackend<'a> {
    layer: &'a PdfLayerReference,
    font: &'a IndirectFontRef,
    left: f32,
    top: f32,
    scale: f32,
}

impl ChartBackend<'_> {
    fn at(&self, (x, y): BackendCoord) -> (f32, f32) {
        (self.left + x as f32 * self.scale, self.top - y as f32 * self.scale)
    }

    fn stroke<S: BackendStyle>(&self, style: &S) {
        self.layer.set_outline_color(on_white(style.color()));
        self.layer.set_outline_thickness(style.stroke_width() as f32 * self.scale * PT_PER_MM);
    }

    fn polygon(&self, points: impl IntoIterator<Item = BackendCoord>, color: BackendColor) {
        let ring: Vec<(Point, bool)> = points.into_iter().map(|p| self.at(p)).map(|(x, y)| point(x, y)).collect();
        if ring.len() < 3 {
            return;
        }
        self.layer.set_fill_color(on_white(color));
        self.layer.add_polygon(Polygon {
            rings: vec![ring],
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        });
    }
}

type Drawn = Result<(), DrawingErrorKind<Infallible>>;

impl DrawingBackend for ChartBackend<'_> {
    type ErrorType = Infallible;

    fn get_size(&self) -> (u32, u32) {
        SIZE
    }

    fn ensure_prepared(&mut self) -> Drawn {
        Ok(())
    }

    fn present(&mut self) -> Drawn {
        Ok(())
    }

    fn draw_pixel(&mut self, (x, y): BackendCoord, color: BackendColor) -> Drawn {
        if color.alpha > 0.0 {
            self.polygon([(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)], color);
        }
        Ok(())
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Drawn {
        self.draw_path([from, to], style)
    }

    fn draw_rect<S: BackendStyle>(&mut self, ul: BackendCoord, br: BackendCoord, style: &S, fill: bool) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let ((x0, y0), (x1, y1)) = (self.at(ul), self.at(br));
        let rect = Rect::new(Mm(x0.min(x1)), Mm(y0.min(y1)), Mm(x0.max(x1)), Mm(y0.max(y1)));
        if fill {
            self.layer.set_fill_color(on_white(style.color()));
            self.layer.add_rect(rect.with_mode(PaintMode::Fill));
        } else {
            self.stroke(style);
            self.layer.add_rect(rect.with_mode(PaintMode::Stroke));
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let points: Vec<(Point, bool)> = path.into_iter().map(|p| self.at(p)).map(|(x, y)| point(x, y)).collect();
        if points.len() >= 2 {
            self.stroke(style);
            self.layer.add_line(Line { points, is_closed: false });
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(&mut self, c: BackendCoord, radius: u32, style: &S, fill: bool) -> Drawn {
        let r = f64::from(radius);
        let ring = (0..24).map(|i| {
            let a = f64::from(i) * std::f64::consts::TAU / 24.0;
            (c.0 + (r * a.cos()).round() as i32, c.1 + (r * a.sin()).round() as i32)
        });
        if fill {
            self.polygon(ring, style.color());
            Ok(())
        } else {
            let mut points: Vec<BackendCoord> = ring.collect();
            points.push(points[0]);
            self.draw_path(points, style)
        }
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, vert: I, style: &S) -> Drawn {
        if style.color().alpha > 0.0 {
            self.polygon(vert, style.color());
        }
        Ok(())
    }

    fn draw_text<T: BackendTextStyle>(&mut self, text: &str, style: &T, pos: BackendCoord) -> Drawn {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size() as f32;
        let width = text_width(text, size, false);
        // The offset of the baseline's start from `pos`, along the text
        // (`along`) and across it (`across`, downwards), in chart units.
        let along = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let across = match style.anchor().v_pos {
            VPos::Top => size * 0.75,
            VPos::Center => size * 0.36,
            VPos::Bottom => 0.0,
        };
        // Screen turns are clockwise with y down; the PDF's anticlockwise
        // with y up.
        let (degrees, (dx, dy)) = match style.transform() {
            FontTransform::None => (0.0, (along, across)),
            FontTransform::Rotate90 => (270.0, (-across, along)),
            FontTransform::Rotate180 => (180.0, (-along, -across)),
            FontTransform::Rotate270 => (90.0, (across, -along)),
        };
        let (x, y) = self.at(pos);
        self.layer.set_fill_color(on_white(color));
        let size_pt = size * self.scale * PT_PER_MM;
        text_at(self.layer, self.font, size_pt, x + dx * self.scale, y - dy * self.scale, degrees, text);
        Ok(())
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), DrawingErrorKind<Infallible>> {
        let size = style.size() as f32;
        Ok((text_width(text, size, false).ceil() as u32, size.ceil() as u32))
    }
}

/// The fonts a document uses.
struct Fonts {
    regular: IndirectFontRef,
    bold: IndirectFontRef,
}

/// A new A4 landscape document titled `title`: it, its fonts, and its
/// first page's layer.
fn new_document(title: &str) -> Result<(PdfDocumentReference, Fonts, PdfLayerReference), ExportError> {
    let failed = |e: printpdf::Error| ExportError::Pdf(e.to_string());
    let (doc, page, layer) = PdfDocument::new(title, Mm(WIDTH), Mm(HEIGHT), "page");
    let doc = doc.with_conformance(PdfConformance::Custom(CustomPdfConformance {
        requires_icc_profile: false,
        requires_xmp_metadata: false,
        ..CustomPdfConformance::default()
    }));
    let fonts = Fonts {
        regular: doc.add_builtin_font(BuiltinFont::Helvetica).map_err(failed)?,
        bold: doc.add_builtin_font(BuiltinFont::HelveticaBold).map_err(failed)?,
    };
    let first = doc.get_page(page).get_layer(layer);
    Ok((doc, fonts, first))
}

/// What heads every page of a document: its title, the filters on a line
/// or two, and a note.
pub struct Heading {
    pub title: String,
    pub lines: Vec<String>,
    pub note: String,
}

impl Heading {
    fn draw(&self, layer: &PdfLayerReference, fonts: &Fonts) {
        layer.set_fill_color(rgb(0, 0, 0));
        text_at(layer, &fonts.bold, 16.0, MARGIN, HEIGHT - MARGIN - 6.0, 0.0, &self.title);
        let mut y = HEIGHT - MARGIN - 12.5;
        for line in &self.lines {
            text_at(layer, &fonts.regular, 9.0, MARGIN, y, 0.0, line);
            y -= 4.0;
        }
        text_at(layer, &fonts.regular, 8.0, MARGIN, y, 0.0, &self.note);
    }

    /// Where a page's content starts below it (mm from the page's foot).
    fn bottom(&self) -> f32 {
        HEIGHT - MARGIN - 14.0 - 4.0 * (self.lines.len() + 1) as f32
    }
}

/// `filters` (name and value) as a heading's lines: `per_line` to a line.
pub fn filter_lines(filters: &[(&str, String)], per_line: usize) -> Vec<String> {
    let said: Vec<String> = filters.iter().map(|(name, value)| format!("{name}: {value}")).collect();
    said.chunks(per_line.max(1)).map(|chunk| chunk.join("    ")).collect()
}

/// A table as its page shows it, to set on as many pages as it needs with
/// its header on each: the headers, which columns hold numbers (set
/// right-aligned), the rows' texts, and whether the last row is a total
/// (bold, under a rule).
pub struct Table {
    /// What a page's footer calls it: `Table, page 2 of 3`.
    pub name: &'static str,
    pub heads: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    pub total: bool,
    /// What the table says when it has no rows.
    pub empty: &'static str,
}

/// A cell's padding, in mm: its column is this much wider than its text.
const PAD_MM: f32 = 2.0;

/// Each column's width (mm): as wide as its widest cell (and its header's
/// longest word), the page's spare width shared out in proportion; when the columns are
/// wider than the page, the widest are narrowed to a common width and
/// their long cells cut short.
fn column_widths(table: &Table) -> Vec<f32> {
    let size_mm = TABLE_PT / PT_PER_MM;
    let head_mm = HEADER_PT / PT_PER_MM;
    let natural: Vec<f32> = table
        .heads
        .iter()
        .enumerate()
        .map(|(i, head)| {
            let word = head.split(' ').map(|w| text_width(w, head_mm, true)).fold(0.0, f32::max);
            let cells = table.rows.iter().filter_map(|r| r.get(i)).map(|c| text_width(c, size_mm, table.total));
            cells.fold(word, f32::max) + PAD_MM
        })
        .collect();
    let avail = WIDTH - 2.0 * MARGIN;
    let sum: f32 = natural.iter().sum();
    if natural.is_empty() {
        return natural;
    }
    if sum <= avail {
        // The spare width shared in proportion: a wide column stays the widest.
        return natural.iter().map(|w| w * avail / sum).collect();
    }
    // The widest share what the narrower leave.
    let mut cap = avail / natural.len() as f32;
    for _ in 0..natural.len() {
        let (narrow, wide): (Vec<f32>, Vec<f32>) = natural.iter().partition(|w| **w < cap);
        let next = (avail - narrow.iter().sum::<f32>()) / wide.len().max(1) as f32;
        if (next - cap).abs() < 0.01 {
            break;
        }
        cap = next;
    }
    natural.iter().map(|w| w.min(cap)).collect()
}

/// `text` cut short with an ellipsis to fit `width` mm at `size_mm`.
fn fit(text: &str, width: f32, size_mm: f32, bold: bool) -> String {
    if text_width(text, size_mm, bold) <= width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>() + "…";
        if text_width(&cut, size_mm, bold) <= width {
            return cut;
        }
    }
    String::new()
}

/// Sets `table` under `heading`: from `first` (a page's layer and the top
/// of the table on it, in mm) when given, else on a new page; then on as
/// many new pages as the rest need.
fn set_table(
    doc: &PdfDocumentReference,
    fonts: &Fonts,
    heading: &Heading,
    table: &Table,
    first: Option<(PdfLayerReference, f32)>,
) {
    let size_mm = TABLE_PT / PT_PER_MM;
    let widths = column_widths(table);
    let lefts: Vec<f32> = widths.iter().scan(MARGIN, |x, w| Some(std::mem::replace(x, *x + w))).collect();
    let headers: Vec<Vec<String>> = table.heads.iter().zip(&widths).map(|(h, w)| wrap(h, w - 1.5)).collect();
    let header_lines = headers.iter().map(Vec::len).max().unwrap_or(1) as f32;
    let fits = |top: f32| {
        let body_top = top - header_lines * HEADER_LINE_MM - 2.0;
        (((body_top - MARGIN - 6.0) / ROW_MM).floor() as usize).max(1)
    };
    // Each page's layer-to-be, its table's top and its rows.
    let mut pages: Vec<(Option<PdfLayerReference>, f32, std::ops::Range<usize>)> = Vec::new();
    let mut next = 0;
    let mut first = first;
    loop {
        let (layer, top) = match first.take() {
            Some((layer, top)) => (Some(layer), top),
            None => (None, heading.bottom()),
        };
        let end = (next + fits(top)).min(table.rows.len());
        pages.push((layer, top, next..end));
        next = end;
        if next >= table.rows.len() {
            break;
        }
    }
    let count = pages.len();
    for (n, (layer, top, rows)) in pages.into_iter().enumerate() {
        let layer = layer.unwrap_or_else(|| {
            let (page, layer) = doc.add_page(Mm(WIDTH), Mm(HEIGHT), "page");
            let layer = doc.get_page(page).get_layer(layer);
            heading.draw(&layer, fonts);
            layer
        });
        layer.set_fill_color(rgb(0, 0, 0));
        let footer = format!("{}, page {} of {count}", table.name, n + 1);
        let x = WIDTH - MARGIN - text_width(&footer, 8.0 / PT_PER_MM, false);
        text_at(&layer, &fonts.regular, 8.0, x, MARGIN - 4.0, 0.0, &footer);
        // Where a cell's text starts: at its column's left, or so that it
        // ends at its right.
        let x_of = |col: usize, width: f32| match table.numeric.get(col).copied().unwrap_or(false) {
            true => lefts[col] + widths[col] - PAD_MM / 2.0 - width,
            false if col > 0 => lefts[col] + PAD_MM / 2.0,
            false => lefts[col],
        };
        for (col, lines) in headers.iter().enumerate() {
            for (k, line) in lines.iter().enumerate() {
                let y = top - (k as f32 + 0.8) * HEADER_LINE_MM;
                let x = x_of(col, text_width(line, HEADER_PT / PT_PER_MM, true));
                text_at(&layer, &fonts.bold, HEADER_PT, x, y, 0.0, line);
            }
        }
        let rule = |y: f32| {
            layer.set_outline_color(rgb(0x80, 0x80, 0x80));
            layer.set_outline_thickness(0.6);
            layer.add_line(Line { points: vec![point(MARGIN, y), point(WIDTH - MARGIN, y)], is_closed: false });
        };
        let body_top = top - header_lines * HEADER_LINE_MM - 2.0;
        rule(body_top + 1.0);
        if table.rows.is_empty() {
            text_at(&layer, &fonts.regular, TABLE_PT, MARGIN, body_top - 0.8 * ROW_MM, 0.0, table.empty);
        }
        let last = table.rows.len().saturating_sub(1);
        for (i, r) in rows.clone().enumerate() {
            let y = body_top - (i as f32 + 0.8) * ROW_MM;
            let total = table.total && r == last;
            let font = if total { &fonts.bold } else { &fonts.regular };
            if total {
                rule(y + ROW_MM * 0.75);
            }
            // One text section a row, its font set once, each cell's start
            // a move from the one before: a long list's pages hold a third
            // of the operations (and memory) of a section a cell.
            layer.begin_text_section();
            layer.set_font(font, TABLE_PT);
            let mut at = (0.0, 0.0);
            for (col, cell) in table.rows[r].iter().enumerate().take(widths.len()) {
                let cell = fit(cell, widths[col] - PAD_MM, size_mm, total);
                let x = x_of(col, text_width(&cell, size_mm, total));
                layer.set_text_cursor(Mm(x - at.0), Mm(y - at.1));
                at = (x, y);
                layer.write_text(win_ansi(&cell), font);
            }
            layer.end_text_section();
        }
    }
}

/// Writes `report` as a PDF: its charts on the first page, its table on
/// the next.
pub fn document(report: &Report) -> Result<Vec<u8>, ExportError> {
    let title = "Vouch ID&V report";
    let (doc, fonts, first) = new_document(title)?;
    let mut note = "Calls started in each row's period. Counts only, no customer data.".to_string();
    if let Some(unsliced) = report.unsliced_note() {
        note = format!("{note} {unsliced}");
    }
    // The range, line, zone and rows on a line; which calls on the next.
    let heading = Heading { title: title.into(), lines: filter_lines(&report.filters(), 5), note };
    heading.draw(&first, &fonts);
    // The charts: two side by side, the third below the first.
    let scale = 0.205;
    let (w, h) = (SIZE.0 as f32 * scale, SIZE.1 as f32 * scale);
    let top = HEIGHT - MARGIN - 28.0;
    for (chart, (left, top)) in
        Chart::ALL.into_iter().zip([(MARGIN, top), (MARGIN, top - h - 6.0), (MARGIN + w + 8.0, top)])
    {
        let backend = ChartBackend { layer: &first, font: &fonts.regular, left, top, scale };
        chart.draw(&backend.into_drawing_area(), report).map_err(|e| ExportError::Pdf(e.to_string()))?;
    }
    let mut heads = vec![report.first_header().to_string()];
    heads.extend(COLUMNS.iter().map(|(_, h)| h.to_string()));
    let mut numeric = vec![false];
    numeric.extend(COLUMNS.iter().map(|_| true));
    let rows = report
        .rows_and_total()
        .map(|(label, s)| {
            std::iter::once(label.to_string()).chain(COLUMNS.iter().map(|(key, _)| shown(s, key))).collect()
        })
        .collect();
    let table = Table { name: "Table", heads, numeric, rows, total: true, empty: "" };
    set_table(&doc, &fonts, &heading, &table, None);
    doc.save_to_bytes().map_err(|e| ExportError::Pdf(e.to_string()))
}

/// A list of calls as its page shows them: the page's columns (the
/// [`super::calls::SHOWN_HEADER`] but the CallSid), the time in the IVR
/// set as a number.
pub fn calls_table(calls: &[super::calls::ShownCall]) -> Table {
    let columns = super::calls::SHOWN_HEADER.len() - 1;
    Table {
        name: "Calls",
        heads: super::calls::SHOWN_HEADER[..columns].iter().map(|h| h.to_string()).collect(),
        numeric: (0..columns).map(|i| i == 7).collect(),
        rows: calls.iter().map(|c| c.texts()[..columns].iter().map(|t| t.to_string()).collect()).collect(),
        total: false,
        empty: "No calls on record behind this figure.",
    }
}

/// Writes a list (`table`, its rows as they are shown) under `heading`.
pub fn list(heading: &Heading, table: &Table) -> Result<Vec<u8>, ExportError> {
    let (doc, fonts, first) = new_document(&heading.title)?;
    heading.draw(&first, &fonts);
    set_table(&doc, &fonts, heading, table, Some((first, heading.bottom())));
    doc.save_to_bytes().map_err(|e| ExportError::Pdf(e.to_string()))
}

/// Writes a figures table (`table`) under `heading`, with `bars` above it:
/// each a label, its share of the whole (0 to 1) and its text.
pub fn with_bars(heading: &Heading, bars: &[(&str, f64, &str)], table: &Table) -> Result<Vec<u8>, ExportError> {
    let (doc, fonts, first) = new_document(&heading.title)?;
    heading.draw(&first, &fonts);
    let (label_mm, bar_mm, row_mm) = (30.0, 120.0, 7.0);
    let mut y = heading.bottom() - 2.0;
    for (label, share, text) in bars {
        let base = y - 5.0;
        first.set_fill_color(rgb(0, 0, 0));
        text_at(&first, &fonts.regular, 9.0, MARGIN, base + 1.2, 0.0, label);
        let left = MARGIN + label_mm;
        first.set_fill_color(rgb(0xe5, 0xe7, 0xeb));
        first.add_rect(Rect::new(Mm(left), Mm(base), Mm(left + bar_mm), Mm(base + 4.5)).with_mode(PaintMode::Fill));
        let filled = (bar_mm * share.clamp(0.0, 1.0) as f32).max(0.0);
        if filled > 0.0 {
            first.set_fill_color(rgb(0x25, 0x63, 0xeb));
            first.add_rect(Rect::new(Mm(left), Mm(base), Mm(left + filled), Mm(base + 4.5)).with_mode(PaintMode::Fill));
        }
        first.set_fill_color(rgb(0, 0, 0));
        text_at(&first, &fonts.regular, 9.0, left + bar_mm + 3.0, base + 1.2, 0.0, text);
        y -= row_mm;
    }
    set_table(&doc, &fonts, heading, table, Some((first, y - 4.0)));
    doc.save_to_bytes().map_err(|e| ExportError::Pdf(e.to_string()))
}

/// `text` cut into lines no wider than `width` mm in the header's font.
fn wrap(text: &str, width: f32) -> Vec<String> {
    let size_mm = HEADER_PT / PT_PER_MM;
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), size_mm, true) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_helvetica() {
        assert_eq!(text_width("0", 1000.0, false), 556.0);
        assert_eq!(text_width("Wi", 10.0, false), 9.44 + 2.22);
        assert!(text_width("Total", 10.0, true) > text_width("Total", 10.0, false));
    }

    fn table(rows: Vec<Vec<String>>) -> Table {
        let n = rows.first().map_or(0, Vec::len);
        Table {
            name: "Calls",
            heads: (0..n).map(|i| format!("Column {i}")).collect(),
            numeric: vec![false; n],
            rows,
            total: false,
            empty: "",
        }
    }

    #[test]
    fn columns_fill_the_page_and_long_ones_are_narrowed_to_fit() {
        let page = WIDTH - 2.0 * MARGIN;
        let narrow = table(vec![vec!["a".into(), "bb".into(), "ccc".into()]]);
        let widths = column_widths(&narrow);
        assert!((widths.iter().sum::<f32>() - page).abs() < 0.01, "{widths:?}");
        let long = "x".repeat(400);
        let wide = table(vec![vec!["short".into(), long.clone(), long]]);
        let widths = column_widths(&wide);
        assert!((widths.iter().sum::<f32>() - page).abs() < 0.05, "{widths:?}");
        let short = text_width("short", TABLE_PT / PT_PER_MM, false) + PAD_MM;
        assert!(widths[0] >= short - 0.01 && widths[0] < 40.0, "a narrow column keeps its width: {widths:?}");
        assert!((widths[1] - widths[2]).abs() < 0.01, "the wide share what is left: {widths:?}");
    }

    #[test]
    fn a_long_cell_is_cut_short_with_an_ellipsis_and_foreign_letters_are_marked() {
        let size = TABLE_PT / PT_PER_MM;
        let cut = fit("keyed account number, matching caller ID", 20.0, size, false);
        assert!(cut.ends_with('…') && cut.len() < 40, "{cut}");
        assert!(text_width(&cut, size, false) <= 20.0);
        assert_eq!(fit("Ada", 20.0, size, false), "Ada");
        assert_eq!(win_ansi("Zoë O'Brien – “Ltd” €5"), "Zoë O'Brien – “Ltd” €5", "all in WinAnsi");
        assert_eq!(win_ansi("Ζωή 李"), "??? ?", "set as ?, never dropped");
    }

    #[test]
    fn headers_wrap_to_their_column() {
        let lines = wrap("Identified by caller ID", 13.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.join(" "), "Identified by caller ID");
        let size_mm = HEADER_PT / PT_PER_MM;
        for line in &lines {
            assert!(text_width(line, size_mm, true) <= 13.0 || !line.contains(' '), "{line}");
        }
    }
}
