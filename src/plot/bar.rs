//! Grouped bar charts: for each group on the x axis (a percentile, a layer, a run), one bar per
//! series (an architecture, in its fixed colour). Missing values leave a gap, never a zero bar.
//! Each bar carries its value on top, so a chart can be read without the axis.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor;

use super::Chart;
use super::font::FONT_FAMILY;
use super::line::tick_label;
use super::style::style_of;

/// One series of bars: its label and one value per group (`None` = not measured).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarSeries {
    /// Name in the legend (an architecture id gets its fixed colour).
    pub label: String,
    /// One value per group, in group order; missing or non-finite values draw no bar.
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    /// Shown above the plot.
    pub title: String,
    /// Describes the groups (e.g. "percentile").
    pub x_label: String,
    /// Describes the values, with their unit.
    pub y_label: String,
    /// Group names, left to right.
    pub groups: Vec<String>,
    /// The series; bar `j` of each group belongs to series `j`.
    pub series: Vec<BarSeries>,
}

/// Several bar charts side by side under one title (figures with different units, e.g.
/// lines of logic next to places to edit). Only the first panel draws a legend.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PanelChart {
    /// Shown above all panels.
    pub title: String,
    /// The panels, left to right (their own titles become panel headings).
    pub panels: Vec<BarChart>,
}

impl Chart for BarChart {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        self.draw_on(root, 28, true)?;
        root.present().map_err(|e| e.to_string())
    }
}

impl Chart for PanelChart {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let body = root
            .titled(&self.title, (FONT_FAMILY, 28).into_font().style(FontStyle::Bold))
            .map_err(err)?;
        let n = self.panels.len().max(1);
        let areas = body.split_evenly((1, n));
        for (i, (panel, area)) in self.panels.iter().zip(areas.iter()).enumerate() {
            panel.draw_on(area, 20, i == 0)?;
        }
        root.present().map_err(err)
    }
}

impl BarChart {
    /// Draws the chart on `area` without filling or presenting it.
    fn draw_on<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        title_size: u32,
        legend: bool,
    ) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let groups = self.groups.len().max(1);
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        // Headroom for the value labels and the legend.
        let top = if max > 0.0 { max * 1.25 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT_FAMILY, title_size).into_font().style(FontStyle::Bold))
            .margin(20)
            .x_label_area_size(if self.x_label.is_empty() { 35 } else { 60 })
            .y_label_area_size(75)
            .build_cartesian_2d(0.0..groups as f64, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(0)
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 18))
            .y_label_formatter(&|v| tick_label(*v))
            .draw()
            .map_err(err)?;

        // Group names under the axis, centred on their group.
        let name_style = TextStyle::from((FONT_FAMILY, 16).into_font())
            .pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Top));
        for (g, name) in self.groups.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(g as f64 + 0.5, 0.0));
            area.draw(&Text::new(
                name.clone(),
                (x - area_x(area), y - area_y(area) + 6),
                name_style.clone(),
            ))
            .map_err(err)?;
        }

        let m = self.series.len().max(1);
        let width = 0.8 / m as f64;
        let value_style = TextStyle::from((FONT_FAMILY, 15).into_font())
            .pos(text_anchor::Pos::new(text_anchor::HPos::Center, text_anchor::VPos::Bottom));
        for (j, series) in self.series.iter().enumerate() {
            let (color, _) = style_of(&series.label, j);
            let bars: Vec<(f64, f64, f64)> = series
                .values
                .iter()
                .enumerate()
                .filter_map(|(g, v)| v.filter(|v| v.is_finite()).map(|v| (g, v)))
                .map(|(g, v)| {
                    let x0 = g as f64 + 0.1 + j as f64 * width;
                    (x0, x0 + width, v.max(0.0))
                })
                .collect();
            chart
                .draw_series(
                    bars.iter()
                        .map(|&(x0, x1, v)| Rectangle::new([(x0, 0.0), (x1, v)], color.filled())),
                )
                .map_err(err)?
                .label(&series.label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled())
                });
            chart
                .draw_series(bars.iter().map(|&(x0, x1, v)| {
                    EmptyElement::at(((x0 + x1) / 2.0, v))
                        + Text::new(tick_label(v), (0, -3), value_style.clone())
                }))
                .map_err(err)?;
        }
        if legend && self.series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .label_font((FONT_FAMILY, 15))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

fn area_x<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> i32 {
    area.get_base_pixel().0
}

fn area_y<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> i32 {
    area.get_base_pixel().1
}
