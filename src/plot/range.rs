//! Axis ranges that are always drawable: never empty, never NaN, whatever the data.

use std::ops::Range;

use super::Series;

/// Coordinates beyond this are skipped: wider ranges overflow to infinity when plotters
/// subtracts the ends, and no real measurement is that large.
const LIMIT: f64 = f64::MAX / 4.0;

/// Whether a point can be drawn (finite and not absurdly large). NaN and infinite values are
/// gaps in a measurement, not data, so they are skipped rather than failing the chart.
pub(crate) fn usable(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && x.abs() <= LIMIT && y.abs() <= LIMIT
}

/// The x and y ranges covering every usable point of every series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bounds {
    /// Horizontal range, exactly the data's (time axes should start where the data starts).
    pub x: Range<f64>,
    /// Vertical range, with a 5% margin so lines do not run along the frame.
    pub y: Range<f64>,
}

/// Bounds of the usable points of `series`; `0..1` on an axis with no data.
pub(crate) fn bounds(series: &[Series]) -> Bounds {
    let mut min = (f64::INFINITY, f64::INFINITY);
    let mut max = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for &(x, y) in series.iter().flat_map(|s| s.points.iter()).filter(|p| usable(p)) {
        min = (min.0.min(x), min.1.min(y));
        max = (max.0.max(x), max.1.max(y));
    }
    Bounds { x: padded(min.0, max.0, 0.0), y: padded(min.1, max.1, 0.05) }
}

/// `min..max` widened by `margin` of its width; a single value gets a band around it.
fn padded(min: f64, max: f64, margin: f64) -> Range<f64> {
    if min > max {
        return 0.0..1.0;
    }
    if min == max {
        // One value (a single point or a flat line): centre it in a band of visible width.
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        return (min - pad)..(max + pad);
    }
    let pad = (max - min) * margin;
    (min - pad)..(max + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(f64, f64)]) -> Vec<Series> {
        vec![Series { label: "s".into(), points: points.to_vec() }]
    }

    #[test]
    fn empty_and_degenerate_ranges_are_drawable() {
        assert_eq!(bounds(&[]), Bounds { x: 0.0..1.0, y: 0.0..1.0 });
        assert_eq!(bounds(&series(&[(f64::NAN, 1.0), (1.0, f64::INFINITY)])).x, 0.0..1.0);
        let one = bounds(&series(&[(5.0, 0.0)]));
        assert_eq!(one, Bounds { x: 4.5..5.5, y: -1.0..1.0 });
        let flat = bounds(&series(&[(0.0, 2.0), (10.0, 2.0)]));
        assert_eq!(flat.x, 0.0..10.0);
        assert!(flat.y.start < 2.0 && flat.y.end > 2.0);
    }

    #[test]
    fn extreme_values_stay_finite() {
        let b = bounds(&series(&[(-LIMIT, -LIMIT), (LIMIT, LIMIT), (f64::MAX, 0.0)]));
        assert!(b.x.start.is_finite() && b.x.end.is_finite());
        assert!((b.y.end - b.y.start).is_finite());
    }
}
