//! How the window looks: light or dark (following the system unless the user picks), text
//! that is easy to read in both, and the zoom the user chose (Ctrl+plus / Ctrl+minus, kept
//! between runs).

use crate::store::Theme;
use egui::{Color32, Visuals};

/// Text colours for both themes, chosen so that body and secondary ("weak") text stand at
/// least 4.5:1 against every background they are drawn on (WCAG AA). egui's own secondary
/// text is the body colour at 60 % (about 2.7:1 in the dark theme).
pub fn readable(ctx: &egui::Context) {
    for theme in [egui::Theme::Dark, egui::Theme::Light] {
        ctx.style_mut_of(theme, |style| tune(&mut style.visuals));
    }
}

fn tune(visuals: &mut Visuals) {
    let (body, weak) = if visuals.dark_mode {
        (Color32::from_gray(215), Color32::from_gray(160))
    } else {
        (Color32::from_gray(30), Color32::from_gray(92))
    };
    visuals.widgets.noninteractive.fg_stroke.color = body;
    visuals.weak_text_color = Some(weak);
    // A steady cursor: a blinking one would repaint twice a second forever, and an idle
    // window should not draw at all.
    visuals.text_cursor.blink = false;
}

/// The theme the user picked, as egui takes it.
pub fn preference(theme: Theme) -> egui::ThemePreference {
    match theme {
        Theme::System => egui::ThemePreference::System,
        Theme::Light => egui::ThemePreference::Light,
        Theme::Dark => egui::ThemePreference::Dark,
    }
}

/// Zoom levels the window allows: egui's keyboard zoom stays within these too.
pub const ZOOM: std::ops::RangeInclusive<f32> = 0.5..=3.0;

/// The contrast ratio of two colours (1 to 21), as WCAG defines it.
pub fn contrast(a: Color32, b: Color32) -> f32 {
    fn luminance(c: Color32) -> f32 {
        let channel = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.040_45 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_and_secondary_text_meet_4_5_to_1_on_every_background_in_both_themes() {
        for mut visuals in [Visuals::dark(), Visuals::light()] {
            tune(&mut visuals);
            let backgrounds = [
                visuals.panel_fill,
                visuals.window_fill,
                visuals.extreme_bg_color,
                visuals.text_edit_bg_color(),
                blend(visuals.panel_fill, visuals.faint_bg_color),
            ];
            for text in [visuals.text_color(), visuals.weak_text_color()] {
                for bg in backgrounds {
                    let ratio = contrast(text, bg);
                    assert!(
                        ratio >= 4.5,
                        "{text:?} on {bg:?}: {ratio:.2} (dark: {})",
                        visuals.dark_mode
                    );
                }
            }
        }
        // The measure itself: black on white is 21:1, a colour on itself 1:1.
        assert!((contrast(Color32::BLACK, Color32::WHITE) - 21.0).abs() < 0.01);
        assert!((contrast(Color32::GRAY, Color32::GRAY) - 1.0).abs() < 0.01);
    }

    /// `over` painted on `under` (premultiplied alpha, as egui paints).
    fn blend(under: Color32, over: Color32) -> Color32 {
        let a = f32::from(over.a()) / 255.0;
        let mix = |u: u8, o: u8| (f32::from(o) + f32::from(u) * (1.0 - a)).min(255.0) as u8;
        Color32::from_rgb(
            mix(under.r(), over.r()),
            mix(under.g(), over.g()),
            mix(under.b(), over.b()),
        )
    }
}
