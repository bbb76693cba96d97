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
    PdfLayerReference, Point, Polygon, Rect, Rgb, TextMatrix,
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
            '—' => 1000,
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

/// Writes `text` with its baseline's left end at (`x`, `y`) mm, turned
/// `degrees` anticlockwise.
fn text_at(layer: &PdfLayerReference, font: &IndirectFontRef, size_pt: f32, x: f32, y: f32, degrees: f32, text: &str) {
    let (sin, cos) = degrees.to_radians().sin_cos();
    layer.begin_text_section();
    layer.set_font(font, size_pt);
    layer.set_text_matrix(TextMatrix::Raw([cos, sin, -sin, cos, x * PT_PER_MM, y * PT_PER_MM]));
    layer.write_text(text, font);
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

/// Writes `report` as a PDF.
pub fn document(report: &Report) -> Result<Vec<u8>, ExportError> {
    let failed = |e: printpdf::Error| ExportError::Pdf(e.to_string());
    let title = "Vouch ID&V report";
    let (doc, page, layer) = PdfDocument::new(title, Mm(WIDTH), Mm(HEIGHT), "report");
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
    heading(&first, &fonts, report, title);
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
    table(&doc, &fonts, report, title);
    doc.save_to_bytes().map_err(failed)
}

/// A page's title and the report's filters, at its top.
fn heading(layer: &PdfLayerReference, fonts: &Fonts, report: &Report, title: &str) {
    layer.set_fill_color(rgb(0, 0, 0));
    text_at(layer, &fonts.bold, 16.0, MARGIN, HEIGHT - MARGIN - 6.0, 0.0, title);
    // The range, line, zone and rows on a line; which calls on the next.
    let filters: Vec<String> = report.filters().iter().map(|(name, value)| format!("{name}: {value}")).collect();
    let (range, calls) = filters.split_at(filters.len().min(5));
    text_at(layer, &fonts.regular, 9.0, MARGIN, HEIGHT - MARGIN - 12.5, 0.0, &range.join("    "));
    text_at(layer, &fonts.regular, 9.0, MARGIN, HEIGHT - MARGIN - 16.5, 0.0, &calls.join("    "));
    let mut note = "Calls started in each row's period. Counts only, no customer data.".to_string();
    if let Some(unsliced) = report.unsliced_note() {
        note = format!("{note} {unsliced}");
    }
    text_at(layer, &fonts.regular, 8.0, MARGIN, HEIGHT - MARGIN - 20.5, 0.0, &note);
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

/// The table, on as many pages as it needs, each with the header.
fn table(doc: &printpdf::PdfDocumentReference, fonts: &Fonts, report: &Report, title: &str) {
    let size_mm = TABLE_PT / PT_PER_MM;
    let first_width = if report.query.by == super::Bucket::Hour { 30.0 } else { 18.0 };
    let width = (WIDTH - 2.0 * MARGIN - first_width) / COLUMNS.len() as f32;
    let headers: Vec<Vec<String>> = std::iter::once(report.first_header())
        .chain(COLUMNS.iter().map(|(_, h)| *h))
        .enumerate()
        .map(|(i, h)| wrap(h, if i == 0 { first_width } else { width } - 1.5))
        .collect();
    let header_lines = headers.iter().map(Vec::len).max().unwrap_or(1) as f32;
    let table_top = HEIGHT - MARGIN - 26.0;
    let body_top = table_top - header_lines * HEADER_LINE_MM - 2.0;
    let per_page = (((body_top - MARGIN - 6.0) / ROW_MM).floor() as usize).max(1);
    let rows: Vec<(&str, Vec<String>)> = report
        .rows_and_total()
        .map(|(label, s)| (label, COLUMNS.iter().map(|(key, _)| shown(s, key)).collect()))
        .collect();
    let pages = rows.len().div_ceil(per_page).max(1);
    // Each column's right edge (the first column is left-aligned).
    let right = |col: usize| MARGIN + first_width + width * col as f32 - 1.0;
    for (n, chunk) in rows.chunks(per_page).enumerate() {
        let (page, layer) = doc.add_page(Mm(WIDTH), Mm(HEIGHT), "table");
        let layer = doc.get_page(page).get_layer(layer);
        heading(&layer, fonts, report, title);
        let footer = format!("Table, page {} of {pages}", n + 1);
        text_at(
            &layer,
            &fonts.regular,
            8.0,
            WIDTH - MARGIN - text_width(&footer, 8.0 / PT_PER_MM, false),
            MARGIN - 4.0,
            0.0,
            &footer,
        );
        for (col, lines) in headers.iter().enumerate() {
            for (k, line) in lines.iter().enumerate() {
                let y = table_top - (k as f32 + 0.8) * HEADER_LINE_MM;
                let x = if col == 0 { MARGIN } else { right(col) - text_width(line, HEADER_PT / PT_PER_MM, true) };
                text_at(&layer, &fonts.bold, HEADER_PT, x, y, 0.0, line);
            }
        }
        let rule = |layer: &PdfLayerReference, y: f32, thickness: f32| {
            layer.set_outline_color(rgb(0x80, 0x80, 0x80));
            layer.set_outline_thickness(thickness);
            layer.add_line(Line { points: vec![point(MARGIN, y), point(WIDTH - MARGIN, y)], is_closed: false });
        };
        rule(&layer, body_top + 1.0, 0.6);
        for (i, (label, cells)) in chunk.iter().enumerate() {
            let y = body_top - (i as f32 + 0.8) * ROW_MM;
            let total = *label == "Total";
            let font = if total { &fonts.bold } else { &fonts.regular };
            if total {
                rule(&layer, y + ROW_MM * 0.75, 0.6);
            }
            text_at(&layer, font, TABLE_PT, MARGIN, y, 0.0, label);
            for (col, cell) in (1..).zip(cells) {
                text_at(&layer, font, TABLE_PT, right(col) - text_width(cell, size_mm, total), y, 0.0, cell);
            }
        }
    }
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
