//! How the window looks: light or dark (following the system unless the user picks), text
//! that is easy to read in both, and the zoom the user chose (Ctrl+plus / Ctrl+minus, kept
//! between runs).

use crate::store::Theme;
use egui::{Color32, Visuals};

/// Text colours for both themes, chosen so that every colour text is drawn in (body,
/// secondary, warnings, errors, links, "connected") stands at least 4.5:1 against every
/// background it is drawn on (WCAG AA); and small text large enough to read. egui's own
/// secondary text is the body colour at 60 % (about 2.7:1 in the dark theme), its warning
/// orange and link blue about 3:1 in the light one, and its small text 9 points.
pub fn readable(ctx: &egui::Context) {
    for theme in [egui::Theme::Dark, egui::Theme::Light] {
        ctx.style_mut_of(theme, |style| {
            tune(&mut style.visuals);
            style
                .text_styles
                .insert(egui::TextStyle::Small, egui::FontId::proportional(SMALL));
        });
    }
}

/// The size of secondary text ("hosted by…", "saved as…"), in points: 11 px and more at
/// 100 % zoom, against egui's 9.
pub const SMALL: f32 = 11.5;

/// The colour of "• connected": green, dark enough on light backgrounds.
pub fn connected(visuals: &Visuals) -> Color32 {
    if visuals.dark_mode {
        Color32::from_rgb(90, 200, 120)
    } else {
        Color32::from_rgb(0, 100, 40)
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
    if visuals.dark_mode {
        visuals.warn_fg_color = Color32::from_rgb(255, 170, 60);
        visuals.error_fg_color = Color32::from_rgb(255, 120, 110);
        visuals.hyperlink_color = Color32::from_rgb(110, 180, 255);
    } else {
        visuals.warn_fg_color = Color32::from_rgb(150, 75, 0);
        visuals.error_fg_color = Color32::from_rgb(185, 20, 20);
        visuals.hyperlink_color = Color32::from_rgb(0, 85, 175);
    }
    // A steady cursor: a blinking one would repaint twice a second forever, and an idle
    // window should not draw at all.
    visuals.text_cursor.blink = false;
}

/// A fingerprint, shown as `text`: a click (or its menu) copies it, for pasting where two
/// people compare it; `hint` says whose it is when the pointer rests on it.
pub fn fingerprint(
    ui: &mut egui::Ui,
    text: egui::RichText,
    fingerprint: &str,
    hint: &str,
) -> egui::Response {
    let name = text.text().to_owned();
    let response = ui
        .add(
            egui::Label::new(text)
                .truncate()
                .sense(egui::Sense::click()),
        )
        .on_hover_cursor(egui::CursorIcon::Copy)
        .on_hover_text(format!("{hint}\nClick to copy it."));
    // Clickable, so reached by Tab: read out as what it shows.
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
    if response.clicked() {
        ui.ctx().copy_text(fingerprint.to_owned());
    }
    copy_menu(&response, fingerprint);
    response
}

/// "Copy fingerprint" in the menu of something that shows whose key it is (a member, a
/// message's sender).
pub fn copy_menu(response: &egui::Response, fingerprint: &str) {
    response.context_menu(|ui| {
        if ui.button("Copy fingerprint").clicked() {
            ui.ctx().copy_text(fingerprint.to_owned());
            ui.close();
        }
    });
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

/// How long a search result's message stays marked, in seconds.
pub const MARKED_FOR: f64 = 4.0;

/// A frame around the row drawn since `before` (the cursor's top then), so the eye finds
/// the search result.
pub fn mark_found(ui: &mut egui::Ui, before: f32) {
    let row = egui::Rect::from_x_y_ranges(ui.max_rect().x_range(), before..=ui.cursor().top());
    let stroke = egui::Stroke::new(2.0, ui.visuals().selection.stroke.color);
    ui.painter()
        .rect_stroke(row, 6.0, stroke, egui::StrokeKind::Inside);
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
                // Our own messages' card, and a mention's.
                blend(visuals.panel_fill, visuals.faint_bg_color),
                blend(
                    visuals.panel_fill,
                    visuals.warn_fg_color.gamma_multiply(0.18),
                ),
            ];
            // Every colour the window draws text in (see `connected`, and the visuals' own
            // warning, error and link colours).
            let texts = [
                visuals.text_color(),
                visuals.weak_text_color(),
                visuals.strong_text_color(),
                visuals.warn_fg_color,
                visuals.error_fg_color,
                visuals.hyperlink_color,
                connected(&visuals),
            ];
            for text in texts {
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
        // A selected entry (the open room in the list) keeps its text readable too.
        for mut visuals in [Visuals::dark(), Visuals::light()] {
            tune(&mut visuals);
            let (text, bg) = (visuals.selection.stroke.color, visuals.selection.bg_fill);
            assert!(contrast(text, bg) >= 4.5, "selected: {text:?} on {bg:?}");
        }
        // The measure itself: black on white is 21:1, a colour on itself 1:1.
        assert!((contrast(Color32::BLACK, Color32::WHITE) - 21.0).abs() < 0.01);
        assert!((contrast(Color32::GRAY, Color32::GRAY) - 1.0).abs() < 0.01);
    }

    #[test]
    fn secondary_text_is_at_least_11_points() {
        let ctx = egui::Context::default();
        readable(&ctx);
        for theme in [egui::Theme::Dark, egui::Theme::Light] {
            let style = ctx.style_of(theme);
            assert!(style.text_styles[&egui::TextStyle::Small].size >= 11.0);
        }
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
