//! Charts drawn with plotters, as PNG and SVG, with an embedded font (no system fonts needed).
//!
//! Each chart kind lives in its own file and implements [`Chart`]; [`draw_chart`] renders any
//! of them to `<stem>.png` and `<stem>.svg` side by side (PNG to look at, SVG to zoom into
//! or embed in a report).
//!
//! Chart kinds: [`LineChart`] (series over time), [`MarkedLineChart`] (the same with moments
//! marked by vertical lines), [`BarChart`] (grouped bars) and [`PanelChart`] (bar charts side by
//! side). Every architecture has one colour and marker on all of them ([`ARCH_STYLES`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

mod bar;
mod font;
mod line;
mod range;
mod style;
mod timeline;

pub use bar::{BarChart, BarSeries, PanelChart};
pub use font::FONT_FAMILY;
pub use line::{LineChart, MarkedLineChart, VerticalMarker};
pub use style::{ARCH_STYLES, ArchStyle, MarkerShape, arch_rank, arch_style, hex};
pub use timeline::TimelineChart;

/// Size of every chart, in pixels (PNG) or user units (SVG).
pub const CHART_SIZE: (u32, u32) = (1024, 600);

/// One named line of points.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Name in the legend (e.g. the architecture id).
    pub label: String,
    /// `(x, y)` points in drawing order; NaN or infinite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A chart could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output path has no file name to add `.png` / `.svg` to.
    #[error("{}: not a usable chart output path (it needs a file name)", path.display())]
    BadPath {
        /// The path given.
        path: PathBuf,
    },
    /// The directory for the output could not be created.
    #[error("{}: cannot create chart directory: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The embedded font could not be loaded (a broken build, not bad input).
    #[error("{}: cannot draw chart: {message}", path.display())]
    Font {
        /// The file that was about to be drawn.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Plotters failed while drawing or writing the file.
    #[error("{}: cannot draw chart: {message}", path.display())]
    Draw {
        /// The file being drawn.
        path: PathBuf,
        /// Plotters' explanation.
        message: String,
    },
}

/// A kind of chart that can draw itself on any plotters backend (PNG, SVG, …).
pub trait Chart {
    /// Draws the whole chart on `root` (filling the background) and presents it.
    ///
    /// Errors are plotters' messages; [`draw_chart`] adds the file they concern.
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Writes `<out_stem>.png` (1024x600) and `<out_stem>.svg` for `chart`, creating parent
/// directories; returns both paths, PNG first.
pub fn draw_line_chart(chart: &LineChart, out_stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    draw_chart(chart, out_stem)
}

/// Writes any [`Chart`] as `<out_stem>.png` and `<out_stem>.svg`; returns both paths.
pub fn draw_chart<C: Chart>(chart: &C, out_stem: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if out_stem.file_name().is_none() {
        return Err(PlotError::BadPath { path: out_stem.to_path_buf() });
    }
    // Appended, not `with_extension`: a stem like `error.v2` must keep its dot.
    let png = with_suffix(out_stem, ".png");
    let svg = with_suffix(out_stem, ".svg");
    font::ensure_registered().map_err(|message| PlotError::Font { path: png.clone(), message })?;
    if let Some(dir) = out_stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| PlotError::CreateDir { path: dir.to_path_buf(), source })?;
    }

    let root = BitMapBackend::new(&png, CHART_SIZE).into_drawing_area();
    chart.render(&root).map_err(|message| PlotError::Draw { path: png.clone(), message })?;
    drop(root);

    let root = SVGBackend::new(&svg, CHART_SIZE).into_drawing_area();
    chart.render(&root).map_err(|message| PlotError::Draw { path: svg.clone(), message })?;
    drop(root);

    Ok(vec![png, svg])
}

fn with_suffix(stem: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(stem.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Colour of the `i`-th series: the Tableau 10 palette (distinct, colour-blind friendly),
/// then plotters' 99-colour palette for charts with more lines than that.
pub(crate) fn series_color(i: usize) -> RGBColor {
    const TABLEAU: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    match TABLEAU.get(i) {
        Some(&(r, g, b)) => RGBColor(r, g, b),
        None => {
            let c = Palette99::pick(i - TABLEAU.len()).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}
