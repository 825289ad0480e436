//! One colour and one marker per architecture, the same on every chart, so a student learns
//! "orange triangles are kappa" once. Series whose label is not an architecture id (e.g. `p50`,
//! `log`) fall back to the shared palette by position.

use plotters::prelude::*;

/// How one architecture is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchStyle {
    /// The architecture id (as in scenario files and results).
    pub id: &'static str,
    /// Its colour, as `(r, g, b)`.
    pub rgb: (u8, u8, u8),
    /// Its marker on lines and in legends.
    pub marker: MarkerShape,
}

/// Marker shapes; drawn as small filled polygons so every shape is the same element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerShape {
    /// A square.
    Square,
    /// A circle (an octagon at this size).
    Circle,
    /// A diamond.
    Diamond,
    /// An upward triangle.
    Triangle,
    /// A plus-shaped cross.
    Cross,
}

/// The fixed table: one row per architecture id. Lambda blue and kappa orange are the first two
/// Tableau colours, so two-architecture charts look like the palette's defaults.
pub const ARCH_STYLES: [ArchStyle; 5] = [
    ArchStyle { id: "batch-lake", rgb: (140, 86, 75), marker: MarkerShape::Square },
    ArchStyle { id: "lambda", rgb: (31, 119, 180), marker: MarkerShape::Circle },
    ArchStyle { id: "lambda-unified", rgb: (148, 103, 189), marker: MarkerShape::Diamond },
    ArchStyle { id: "kappa", rgb: (255, 127, 14), marker: MarkerShape::Triangle },
    ArchStyle { id: "streaming-lake", rgb: (44, 160, 44), marker: MarkerShape::Cross },
];

/// The style of architecture `id`, if it is one.
pub fn arch_style(id: &str) -> Option<&'static ArchStyle> {
    ARCH_STYLES.iter().find(|s| s.id == id)
}

/// Position of `id` in [`ARCH_STYLES`] (unknown ids sort last): the order architectures are
/// listed in tables and legends.
pub fn arch_rank(id: &str) -> usize {
    ARCH_STYLES.iter().position(|s| s.id == id).unwrap_or(ARCH_STYLES.len())
}

/// Colour and marker of the series labelled `label` drawn at position `i`.
pub(crate) fn style_of(label: &str, i: usize) -> (RGBColor, MarkerShape) {
    match arch_style(label) {
        Some(s) => (RGBColor(s.rgb.0, s.rgb.1, s.rgb.2), s.marker),
        None => {
            const SHAPES: [MarkerShape; 5] = [
                MarkerShape::Circle,
                MarkerShape::Square,
                MarkerShape::Triangle,
                MarkerShape::Diamond,
                MarkerShape::Cross,
            ];
            (super::series_color(i), SHAPES[i % SHAPES.len()])
        }
    }
}

/// `#rrggbb` of a colour, for HTML swatches.
pub fn hex(rgb: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2)
}

/// The marker's outline, in pixels around `(0, 0)`, about `2 * r` across.
pub(crate) fn marker_points(shape: MarkerShape, r: i32) -> Vec<(i32, i32)> {
    match shape {
        MarkerShape::Square => vec![(-r, -r), (r, -r), (r, r), (-r, r)],
        MarkerShape::Diamond => {
            let d = r + r / 3;
            vec![(0, -d), (d, 0), (0, d), (-d, 0)]
        }
        MarkerShape::Triangle => {
            let d = r + r / 3;
            vec![(0, -d), (d, d * 3 / 4), (-d, d * 3 / 4)]
        }
        MarkerShape::Circle => {
            let k = r * 2 / 5;
            vec![(-k, -r), (k, -r), (r, -k), (r, k), (k, r), (-k, r), (-r, k), (-r, -k)]
        }
        MarkerShape::Cross => {
            let t = (r / 3).max(1);
            vec![
                (-t, -r),
                (t, -r),
                (t, -t),
                (r, -t),
                (r, t),
                (t, t),
                (t, r),
                (-t, r),
                (-t, t),
                (-r, t),
                (-r, -t),
                (-t, -t),
            ]
        }
    }
}
