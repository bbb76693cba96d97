//! A report's charts, drawn with `plotters` on any backend: as SVG for the
//! `/reports` page, and into the PDF export through [`super::pdf`]'s
//! backend, so both show the same drawing. Counts only.
//!
//! - [`Chart::Funnel`]: calls, identified (by caller ID and by keyed ID),
//!   verified.
//! - [`Chart::Outcomes`]: each row's calls, stacked by how they ended.
//! - [`Chart::IvrTime`]: the calls handed on, by time in the IVR.

use super::{Bucket, Report};
use crate::store::LineStats;
use plotters::coord::types::RangedCoordi32;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

/// Every chart's size, in the backend's units (pixels for SVG).
pub const SIZE: (u32, u32) = (640, 300);

const FONT: &str = "sans-serif";
const CALLS: RGBColor = RGBColor(0x54, 0x5b, 0x66);
const CALLER_ID: RGBColor = RGBColor(0x1f, 0x5f, 0xae);
const KEYED_ID: RGBColor = RGBColor(0x6f, 0xa3, 0xdc);
const VERIFIED: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const AGENT: RGBColor = RGBColor(0x1f, 0x5f, 0xae);
const UNAVAILABLE: RGBColor = RGBColor(0xe0, 0x82, 0x1a);
const ABANDONED: RGBColor = RGBColor(0xc6, 0x28, 0x28);
const OTHER: RGBColor = RGBColor(0xa0, 0xa4, 0xab);

/// A report's charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    Funnel,
    Outcomes,
    IvrTime,
}

/// A drawing's result on backend `DB`.
type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

impl Chart {
    pub const ALL: [Chart; 3] = [Chart::Funnel, Chart::Outcomes, Chart::IvrTime];

    /// Its title (drawn as its caption).
    pub fn title(self) -> &'static str {
        match self {
            Self::Funnel => "ID&V funnel",
            Self::Outcomes => "How calls ended",
            Self::IvrTime => "Time in the IVR",
        }
    }

    /// Its name in a page (an element's id).
    pub fn id(self) -> &'static str {
        match self {
            Self::Funnel => "chart-funnel",
            Self::Outcomes => "chart-outcomes",
            Self::IvrTime => "chart-ivr-time",
        }
    }

    /// Draws it for `report` on `root`.
    pub fn draw<DB: DrawingBackend>(self, root: &DrawingArea<DB, Shift>, report: &Report) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let area = root.titled(self.title(), (FONT, 18))?;
        match self {
            Self::Funnel => funnel(&area, &report.total),
            Self::Outcomes => outcomes(&area, report),
            Self::IvrTime => ivr_time(&area, &report.total.ivr_distribution),
        }?;
        root.present()
    }

    /// It as an SVG document.
    pub fn svg(self, report: &Report) -> String {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
            if let Err(e) = self.draw(&root, report) {
                // Writing into a String cannot fail; should it, the page
                // shows an empty chart rather than no report.
                tracing::warn!(error = %e, chart = self.id(), "a chart could not be drawn");
            }
        }
        out
    }
}

/// A bar's text: the count and its share of `of`.
fn share(n: u64, of: u64) -> String {
    if of == 0 {
        n.to_string()
    } else {
        format!("{n} ({:.0}%)", n as f64 * 100.0 / of as f64)
    }
}

/// The top of a count axis that holds `max`, with room above it.
fn top(max: u64) -> u64 {
    (max + max / 4).max(4)
}

fn funnel<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &LineStats) -> Drawn<DB> {
    // Top to bottom: calls, identified, verified (segment 2, 1, 0).
    let rows = ["Verified", "Identified", "Calls"];
    let identified = s.identified_by_caller_id + s.identified_by_keyed_id;
    let x_top = top(s.calls);
    let (plot, key) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(LEGEND));
    legend(&key, &[("identified by caller ID", CALLER_ID), ("identified by keyed ID", KEYED_ID)])?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(80)
        .build_cartesian_2d(0u64..x_top, segments(rows.len()))?;
    let height = rows.len();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(3)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => rows.get(usize::try_from(*i).unwrap_or(9)).copied().unwrap_or("").into(),
            _ => String::new(),
        })
        .x_desc("calls")
        .label_style((FONT, 13))
        .draw()?;
    let bar = |row: usize, from: u64, to: u64, color: RGBColor| {
        let (bottom, top) = edges(row, height).unwrap_or((SegmentValue::Last, SegmentValue::Last));
        let mut r = Rectangle::new([(from, bottom), (to, top)], color.filled());
        r.set_margin(8, 8, 0, 0);
        r
    };
    chart.draw_series([bar(2, 0, s.calls, CALLS)])?;
    chart.draw_series([bar(1, 0, s.identified_by_caller_id, CALLER_ID)])?;
    chart.draw_series([bar(1, s.identified_by_caller_id, identified, KEYED_ID)])?;
    chart.draw_series([bar(0, 0, s.verified, VERIFIED)])?;
    let text = (FONT, 13).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series([(2, s.calls), (1, identified), (0, s.verified)].into_iter().map(|(row, n): (i32, u64)| {
        Text::new(format!(" {}", share(n, s.calls)), (n, SegmentValue::CenterOf(row)), text.clone())
    }))?;
    Ok(())
}

/// A row's calls by how they ended, in stacking order.
fn ended(s: &LineStats) -> [(&'static str, RGBColor, u64); 5] {
    let unavailable = s.crm_unavailable + s.verification_unavailable;
    let known = s.self_service + s.agent + unavailable + s.abandoned;
    [
        ("self-service", VERIFIED, s.self_service),
        ("agent", AGENT, s.agent),
        ("CRM or checks down", UNAVAILABLE, unavailable),
        ("abandoned", ABANDONED, s.abandoned),
        ("other", OTHER, s.calls.saturating_sub(known)),
    ]
}

/// A row label, short enough for an axis: `12-01` for a day, `12-01 14:00`
/// for an hour.
fn short_label(label: &str, by: Bucket) -> String {
    match by {
        Bucket::Day => label.get(5..).unwrap_or(label).to_string(),
        Bucket::Hour => label.get(5..16).unwrap_or(label).to_string(),
    }
}

/// `n` segments numbered from 0 (at least two: `plotters` cannot map one).
fn segments(n: usize) -> plotters::coord::ranged1d::SegmentedCoord<RangedCoordi32> {
    (0i32..i32::try_from(n.max(2) - 1).unwrap_or(i32::MAX)).into_segmented()
}

/// Segment `i`'s left and right edges, of `n` segments.
fn edges(i: usize, n: usize) -> Option<(SegmentValue<i32>, SegmentValue<i32>)> {
    let left = i32::try_from(i).ok()?;
    let right = if i + 1 >= n.max(2) { SegmentValue::Last } else { SegmentValue::Exact(left + 1) };
    Some((SegmentValue::Exact(left), right))
}

/// The legend's width, at the right of a chart.
const LEGEND: u32 = 150;

/// Draws a legend of `items` down `area` (the strip at a chart's right).
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(&str, RGBColor)]) -> Drawn<DB> {
    let style = (FONT, 12).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, color)) in (0i32..).zip(items) {
        let y = 24 + i * 20;
        area.draw(&Rectangle::new([(6, y - 6), (18, y + 6)], color.filled()))?;
        area.draw(&Text::new(name.to_string(), (24, y), style.clone()))?;
    }
    Ok(())
}

fn outcomes<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, report: &Report) -> Drawn<DB> {
    let n = report.rows.len();
    let max = report.rows.iter().map(|(_, s)| s.calls).max().unwrap_or(0);
    let labels: Vec<String> = report.rows.iter().map(|(l, _)| short_label(l, report.query.by)).collect();
    let (plot, key) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(LEGEND));
    let items: Vec<(&str, RGBColor)> =
        ended(&LineStats::default()).iter().map(|(name, color, _)| (*name, *color)).collect();
    legend(&key, &items)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(segments(n), 0u64..top(max))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(n.min(8))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => {
                labels.get(usize::try_from(*i).unwrap_or(usize::MAX)).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .y_desc("calls")
        .label_style((FONT, 12))
        .draw()?;
    let margin = if n > 60 { 0 } else { 3 };
    for (k, (_, color)) in items.iter().copied().enumerate() {
        let bars = report.rows.iter().enumerate().filter_map(|(i, (_, s))| {
            let parts = ended(s);
            let below: u64 = parts[..k].iter().map(|p| p.2).sum();
            let height = parts[k].2;
            let (left, right) = edges(i, n)?;
            (height > 0).then(|| {
                let mut r = Rectangle::new([(left, below), (right, below + height)], color.filled());
                r.set_margin(0, 0, margin, margin);
                r
            })
        });
        chart.draw_series(bars)?;
    }
    Ok(())
}

/// Bins of a distribution of seconds: a width from a fixed list, so that
/// at most 12 bins hold it (the last takes the rest), at least 6 bins, and
/// each bin's calls.
pub fn bins(distribution: &BTreeMap<u64, u64>) -> (u64, Vec<u64>) {
    const WIDTHS: [u64; 9] = [5, 10, 15, 30, 60, 120, 300, 600, 1_800];
    const MOST: u64 = 12;
    let longest = distribution.keys().next_back().copied().unwrap_or(0);
    let width = WIDTHS.iter().copied().find(|w| longest < w * MOST).unwrap_or(WIDTHS[WIDTHS.len() - 1]);
    let count = (longest / width + 1).clamp(6, MOST);
    let mut out = vec![0; usize::try_from(count).unwrap_or(1)];
    for (secs, n) in distribution {
        let i = usize::try_from((secs / width).min(count - 1)).unwrap_or(0);
        out[i] += n;
    }
    (width, out)
}

fn ivr_time<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, distribution: &BTreeMap<u64, u64>) -> Drawn<DB> {
    let (width, counts) = bins(distribution);
    let last = counts.len().saturating_sub(1);
    let open_ended = distribution.keys().next_back().is_some_and(|l| *l >= width * counts.len() as u64);
    let labels: Vec<String> = (0..counts.len())
        .map(|i| {
            let from = width * i as u64;
            if i == last && open_ended {
                format!("{from} s+")
            } else {
                format!("{from}–{} s", from + width - 1)
            }
        })
        .collect();
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(segments(counts.len()), 0u64..top(counts.iter().copied().max().unwrap_or(0)))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(counts.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => {
                labels.get(usize::try_from(*i).unwrap_or(usize::MAX)).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .x_desc("seconds from the first webhook to the hand-off")
        .y_desc("calls")
        .label_style((FONT, 11))
        .draw()?;
    chart.draw_series(counts.iter().enumerate().filter(|(_, n)| **n > 0).filter_map(|(i, n)| {
        let (left, right) = edges(i, counts.len())?;
        let mut r = Rectangle::new([(left, 0), (right, *n)], CALLER_ID.filled());
        r.set_margin(0, 0, 3, 3);
        Some(r)
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_are_binned_in_at_most_12_bins_of_a_round_width() {
        let d: BTreeMap<u64, u64> = [(0, 1), (4, 2), (5, 3), (59, 1)].into();
        assert_eq!(bins(&d), (5, vec![3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
        let d: BTreeMap<u64, u64> = [(12, 1), (61, 2), (119, 4)].into();
        assert_eq!(bins(&d), (10, vec![0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 4]));
        let long: BTreeMap<u64, u64> = [(3, 1), (100_000, 1)].into();
        let (width, counts) = bins(&long);
        assert_eq!((width, counts.len(), counts[0], counts[11]), (1_800, 12, 1, 1), "the last bin takes the rest");
        assert_eq!(bins(&BTreeMap::new()), (5, vec![0; 6]));
        assert_eq!(bins(&[(0, 2)].into()), (5, vec![2, 0, 0, 0, 0, 0]), "at least 6 bins");
    }

    /// The bars' `<rect>`s drawn filled in `color` in an SVG.
    fn bars(svg: &str, color: RGBColor) -> usize {
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
        svg.split("<rect").skip(1).filter(|r| r.split("/>").next().unwrap_or("").contains(&fill)).count()
    }

    #[test]
    fn a_single_row_and_an_empty_report_are_drawn() {
        let mut one = crate::report::tests::sample();
        one.rows.truncate(1);
        one.total = one.rows[0].1.clone();
        let svg = Chart::Outcomes.svg(&one);
        assert_eq!(bars(&svg, VERIFIED), 1 + 1, "the day's self-service bar, and its legend's key");
        let ivr = Chart::IvrTime.svg(&one);
        assert_eq!(bars(&ivr, CALLER_ID), 4, "the bins with calls (12, 25, 38 and 61 s): {ivr}");
        let empty =
            Report { rows: vec![("2026-03-30".into(), LineStats::default())], total: LineStats::default(), ..one };
        for chart in Chart::ALL {
            let svg = chart.svg(&empty);
            assert!(svg.contains(chart.title().replace('&', "&amp;").as_str()), "{chart:?}: {svg}");
        }
        assert!(Chart::Funnel.svg(&empty).contains("\nCalls\n"), "the funnel's rows are named even without calls");
    }

    #[test]
    fn outcomes_stack_to_the_calls() {
        let s = LineStats {
            calls: 10,
            self_service: 3,
            agent: 2,
            crm_unavailable: 1,
            verification_unavailable: 1,
            abandoned: 2,
            ..LineStats::default()
        };
        let parts = ended(&s);
        assert_eq!(parts.iter().map(|p| p.2).sum::<u64>(), 10);
        assert_eq!(parts.map(|p| p.2), [3, 2, 2, 2, 1]);
        assert_eq!(share(3, 4), "3 (75%)");
        assert_eq!(share(0, 0), "0");
        assert_eq!(short_label("2026-12-01", Bucket::Day), "12-01");
        assert_eq!(short_label("2026-12-01 14:00 GMT", Bucket::Hour), "12-01 14:00");
    }
}
