//! Line charts: one line per series over a shared x axis (e.g. error or freshness over time,
//! one line per architecture).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::FONT_FAMILY;
use super::range::{bounds, usable};
use super::{Chart, Series, series_color};

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
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let b = bounds(&self.series);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT_FAMILY, 28).into_font().style(FontStyle::Bold))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d(b.x, b.y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 18))
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(err)?;

        for (i, series) in self.series.iter().enumerate() {
            let color = series_color(i);
            let points: Vec<(f64, f64)> = series.points.iter().copied().filter(usable).collect();
            if points.len() == 1 {
                // A line through one point draws nothing; mark it so it is not lost.
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?;
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?
                .label(&series.label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
        }

        if self.series.iter().any(|s| !s.label.is_empty()) {
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
}

/// Short tick labels: plotters' default prints values like `12000.000000001` that crowd the
/// axis; four significant digits are plenty to read a chart.
fn tick_label(v: f64) -> String {
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
