//! A timeline: one lane per architecture, one marker per event (a batch job starting, a view
//! published, a crash, a table switch), so a student sees the rhythm of each architecture.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::line::tick_label;
use super::{Chart, FONT_FAMILY, series_color};

/// Events on lanes over time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimelineChart {
    /// Shown above the chart.
    pub title: String,
    /// Under the x axis (with its unit).
    pub x_label: String,
    /// Lane names, top to bottom.
    pub lanes: Vec<String>,
    /// `(x, lane index, event kind)`; each kind gets one colour and a legend entry.
    pub events: Vec<(f64, usize, String)>,
}

impl Chart for TimelineChart {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let xs = self.events.iter().map(|e| e.0).filter(|x| x.is_finite());
        let (lo, hi) =
            xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, lo.max(0.0) + 1.0) };
        let pad = (hi - lo) * 0.03;
        let lanes = self.lanes.len().max(1);
        // Lane i is drawn at y = lanes - 1 - i, so the first lane is on top.
        let y_of = |lane: usize| (lanes - 1 - lane.min(lanes - 1)) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT_FAMILY, 28).into_font().style(FontStyle::Bold))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(150)
            .build_cartesian_2d((lo - pad)..(hi + pad), -0.6f64..(lanes as f64 - 0.4))
            .map_err(err)?;
        let names = &self.lanes;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(lanes * 2 + 1)
            .y_label_formatter(&|y| {
                let lane = lanes as f64 - 1.0 - y;
                if (lane - lane.round()).abs() < 0.01 {
                    names.get(lane.round() as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_formatter(&|v| tick_label(*v))
            .x_desc(&self.x_label)
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 17))
            .draw()
            .map_err(err)?;
        let mut kinds: Vec<&str> = self.events.iter().map(|e| e.2.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for (i, kind) in kinds.iter().enumerate() {
            let color = series_color(i);
            let points: Vec<(f64, f64)> = self
                .events
                .iter()
                .filter(|e| e.2 == *kind && e.0.is_finite())
                // Kinds sit at small offsets within a lane so simultaneous events stay visible.
                .map(|e| (e.0, y_of(e.1) + 0.3 - 0.6 * i as f64 / kinds.len().max(1) as f64))
                .collect();
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 5, color.filled())))
                .map_err(err)?
                .label(*kind)
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
        }
        if !kinds.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .label_font((FONT_FAMILY, 14))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)
    }
}
