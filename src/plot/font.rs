//! The embedded font. Plotters' `ab_glyph` backend knows no system fonts, which is what we
//! want (CI machines and students' laptops have different ones, or none): Noto Sans is
//! compiled into the binary and registered once per process.

use std::sync::OnceLock;

/// Family name every piece of text uses. It is also what SVG files ask for, so a viewer with
/// Noto Sans installed shows the same face as the PNG.
pub const FONT_FAMILY: &str = "Noto Sans";

/// Registers the font (regular and bold) under [`FONT_FAMILY`], and under `sans-serif`,
/// plotters' default family, so text styled with the defaults renders too.
///
/// Runs once; later calls return the first outcome.
pub(crate) fn ensure_registered() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            use plotters::style::FontStyle;
            for family in [FONT_FAMILY, "sans-serif"] {
                for (style, bytes) in [
                    (FontStyle::Normal, notosans::REGULAR_TTF),
                    (FontStyle::Bold, notosans::BOLD_TTF),
                ] {
                    plotters::style::register_font(family, style, bytes)
                        .map_err(|_| format!("the embedded {FONT_FAMILY} font is invalid"))?;
                }
            }
            Ok(())
        })
        .clone()
}
