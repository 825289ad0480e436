//! Line charts: one line per series over a shared x axis (e.g. error or freshness over time,
//! one line per architecture), optionally with moments marked by vertical lines.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;

use super::font::FONT_FAMILY;
use super::range::{bounds, usable};
use super::style::{marker_points, style_of};
use super::{Chart, Series};

/// A line chart: a title, axis labels and any number of series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    /// Shown above the plot.
    pub title: String,
    /// Describes the horizontal axis, with its unit (e.g. "simulated time (s)").
    pub x_label: String,
    /// Describes the vertical axis, with its unit.
    pub y_label: String,
    /// The lines, drawn in order with distinct colours and named in the legend.
    pub series: Vec<Series>,
}

impl Chart for LineChart {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_lines(self, &[], root)
    }
}

/// A moment to mark on a time chart with a vertical line and a short label (a reprocessing
/// start, a fault, a logic change), in the chart's x units.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VerticalMarker {
    /// Where, in x-axis units.
    pub x: f64,
    /// Shown beside the line at the top of the plot (keep it short).
    pub label: String,
}

/// A line chart with moments marked by vertical lines (e.g. error over time with the moments
/// kappa started reprocessing).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MarkedLineChart {
    /// The lines.
    pub chart: LineChart,
    /// The moments; those outside the data's x range are skipped.
    pub markers: Vec<VerticalMarker>,
}

impl Chart for MarkedLineChart {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_lines(&self.chart, &self.markers, root)
    }
}

/// Markers per line: enough to tell overlapping lines apart, few enough not to hide them.
const MARKERS_PER_LINE: usize = 12;

fn draw_lines<DB: DrawingBackend>(
    line: &LineChart,
    markers: &[VerticalMarker],
    root: &DrawingArea<DB, Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let mut b = bounds(&line.series);
    let all_non_negative =
        line.series.iter().flat_map(|s| s.points.iter()).filter(|p| usable(p)).all(|p| p.1 >= 0.0);
    if all_non_negative && b.y.start < 0.0 && b.y.end > 0.0 {
        // Errors, durations and bytes are never negative: start the axis at zero.
        b.y.start = 0.0;
    }
    let mut chart = ChartBuilder::on(root)
        .caption(&line.title, (FONT_FAMILY, 28).into_font().style(FontStyle::Bold))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(75)
        .build_cartesian_2d(b.x.clone(), b.y.clone())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(&line.x_label)
        .y_desc(&line.y_label)
        .label_style((FONT_FAMILY, 15))
        .axis_desc_style((FONT_FAMILY, 18))
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()
        .map_err(err)?;

    let grey = RGBColor(90, 90, 90);
    for m in markers.iter().filter(|m| m.x.is_finite() && b.x.contains(&m.x)) {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(m.x, b.y.start), (m.x, b.y.end)],
                grey.stroke_width(2),
            )))
            .map_err(err)?;
        // Labels in the right quarter go left of their line, clear of the legend's corner.
        let left = m.x > b.x.start + 0.75 * (b.x.end - b.x.start);
        let anchor = if left { text_anchor::HPos::Right } else { text_anchor::HPos::Left };
        let style = TextStyle::from((FONT_FAMILY, 14).into_font())
            .color(&grey)
            .pos(text_anchor::Pos::new(anchor, text_anchor::VPos::Top));
        let label = Text::new(m.label.clone(), (if left { -5 } else { 5 }, 4), style);
        chart
            .draw_series(std::iter::once(EmptyElement::at((m.x, b.y.end)) + label))
            .map_err(err)?;
    }

    let n = line.series.len().max(1);
    for (i, series) in line.series.iter().enumerate() {
        let (color, shape) = style_of(&series.label, i);
        let points: Vec<(f64, f64)> = series.points.iter().copied().filter(usable).collect();
        // Every `step`-th point gets a marker, staggered per series so that identical lines
        // (two architectures that agree) still show both markers.
        let step = points.len().div_ceil(MARKERS_PER_LINE).max(1);
        let offset = step * i / n;
        let marked: Vec<(f64, f64)> = if points.len() == 1 {
            points.clone()
        } else {
            points.iter().copied().skip(offset).step_by(step).collect()
        };
        chart
            .draw_series(marked.into_iter().map(|p| {
                EmptyElement::at(p) + Polygon::new(marker_points(shape, 5), color.filled())
            }))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(&series.label)
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], color.stroke_width(3))
                    + Polygon::new(
                        marker_points(shape, 5)
                            .into_iter()
                            .map(|(a, b)| (a + 12, b))
                            .collect::<Vec<_>>(),
                        color.filled(),
                    )
            });
    }

    if line.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font((FONT_FAMILY, 15))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Short tick labels: plotters' default prints values like `12000.000000001` that crowd the
/// axis; four significant digits are plenty to read a chart.
pub(crate) fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs();
    if !(1e-3..1e7).contains(&magnitude) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(0, 6) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(12000.000000001), "12000");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(-1.5), "-1.5");
        assert_eq!(tick_label(1e9), "1.00e9");
    }
}
