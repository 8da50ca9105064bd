//! One line of the message list: a message (grouped under its sender's header, on a card
//! when it is ours or mentions us), a notice, or the "new messages" rule.

use crate::app::attention;
use crate::app::files::{FileAction, Thumbnails, file_card};
use crate::app::state::{AppState, Line};
use crate::app::text;
use egui::{Color32, RichText};

/// Messages from one sender this close together share one header.
const GROUPED_WITHIN_MS: i64 = 5 * 60 * 1000;

/// Draws `line`; `previous` (the line above) tells whether it continues its sender's group.
/// `looks` tells look-alike senders (worked out once per pass of the list).
pub(super) fn draw_line(
    ui: &mut egui::Ui,
    (state, looks): (&AppState, &text::Looks),
    thumbnails: &mut Thumbnails,
    (previous, line): (Option<&Line>, &Line),
    actions: &mut Vec<FileAction>,
) {
    match line {
        Line::Notice { when, text } => {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("{when} · {text}")).italics().weak());
            });
            ui.add_space(2.0);
        }
        Line::NewMessages { count: 0 } => {}
        Line::NewMessages { count } => {
            let plural = if *count == 1 { "" } else { "s" };
            ui.horizontal(|ui| {
                let label = RichText::new(format!("{count} new message{plural}"))
                    .small()
                    .strong()
                    .color(ui.visuals().warn_fg_color);
                let side = ((ui.available_width() - 140.0) / 2.0).max(8.0);
                ui.add_sized([side, 1.0], egui::Separator::default().horizontal());
                ui.label(label);
                ui.add(egui::Separator::default().horizontal());
            });
        }
        Line::Chat { message } => {
            let mine = state.is_mine(message);
            let from = looks.who(&message.from, &message.device);
            let fingerprint = message
                .device
                .fingerprint()
                .unwrap_or_else(|| "unknown".into());
            let name = text::name(&message.from);
            let sender = Sender {
                shown: &from,
                name: &name,
                fingerprint: &fingerprint,
            };
            let grouped = matches!(previous, Some(Line::Chat { message: above, .. })
                if above.device == message.device
                    && above.from == message.from
                    && (0..GROUPED_WITHIN_MS).contains(&(message.ts - above.ts)));
            let look = Look {
                mine,
                header: !grouped,
                mention: !mine && attention::mentions(&message.text, &state.name),
            };
            let when = if look.header {
                crate::app::state::clock(message.ts)
            } else {
                String::new()
            };
            message_row(ui, &sender, &when, look, |ui| {
                if !message.text.is_empty() {
                    text_body(ui, &text::message(&message.text), false);
                }
                if let Some(file) = &message.file {
                    file_card(ui, state, thumbnails, file, mine, actions);
                }
            });
        }
    }
}

/// A message's text, wrapped and selectable; greyed out while pending.
pub(super) fn text_body(ui: &mut egui::Ui, text: &str, pending: bool) {
    crate::app::markup::show(ui, text, !pending);
}

/// How a message is drawn.
#[derive(Clone, Copy)]
pub(super) struct Look {
    /// Ours: on a tinted card, "(you)" after the name.
    pub(super) mine: bool,
    /// Sender and time above the body; not for a message that continues its sender's group.
    pub(super) header: bool,
    /// It mentions us: marked.
    pub(super) mention: bool,
}

/// Who wrote a message, as its header shows them.
pub(super) struct Sender<'a> {
    /// As shown (flagged if the name could pass for another's).
    pub(super) shown: &'a str,
    /// Their name, said with the fingerprint when the pointer rests on it.
    pub(super) name: &'a str,
    /// Their key's fingerprint, which the header's menu copies.
    pub(super) fingerprint: &'a str,
}

/// One message: sender and time above its body. Ours sit on a tinted card; one that
/// mentions us on a warm one. `when` is the time shown beside the sender.
pub(super) fn message_row(
    ui: &mut egui::Ui,
    sender: &Sender,
    when: &str,
    Look {
        mine,
        header,
        mention,
    }: Look,
    body: impl FnOnce(&mut egui::Ui),
) {
    let fill = if mention {
        ui.visuals().warn_fg_color.gamma_multiply(0.18)
    } else if mine {
        ui.visuals().faint_bg_color
    } else {
        Color32::TRANSPARENT
    };
    egui::Frame::new()
        .fill(fill)
        .corner_radius(6.0)
        .inner_margin(egui::Margin::symmetric(8, 4))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            if !header {
                return body(ui);
            }
            ui.horizontal(|ui| {
                let who = if mine {
                    format!("{} (you)", sender.shown)
                } else {
                    sender.shown.to_owned()
                };
                let color = if mine {
                    ui.visuals().hyperlink_color
                } else {
                    ui.visuals().strong_text_color()
                };
                let hint = format!("{}\nFingerprint {}", sender.name, sender.fingerprint);
                let shown = ui.label(RichText::new(who).strong().color(color));
                crate::app::look::copy_menu(&shown.on_hover_text(hint), sender.fingerprint);
                ui.label(RichText::new(when).small().weak());
            });
            body(ui);
        });
    ui.add_space(2.0);
}
