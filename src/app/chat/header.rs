//! Above and beside the messages: the room's menu, its state, its host, and who is in it.

use crate::app::state::Chat;
use crate::app::text;
use crate::bridge::SessionState;
use crate::store::Alerts;
use egui::{Color32, RichText, ScrollArea};

/// What the room may interrupt the user for: a menu behind a bell that shows the choice.
/// The room's own settings: what it may notify about, and whether its files save
/// themselves. The bell on the button says the first at a glance.
pub(super) fn room_menu(ui: &mut egui::Ui, alerts: &mut Alerts, auto_save: &mut bool, limit: u64) {
    let (bell, now) = match alerts {
        Alerts::All => ("🔔", "every message"),
        Alerts::Mentions => ("🔔 @", "mentions only"),
        Alerts::Nothing => ("🔕", "nothing"),
    };
    ui.menu_button(bell, |ui| {
        ui.label(RichText::new("Notify me of").strong());
        for (choice, words) in [
            (Alerts::All, "Every message"),
            (Alerts::Mentions, "Only messages that mention me"),
            (Alerts::Nothing, "Nothing"),
        ] {
            if ui.radio_value(alerts, choice, words).clicked() {
                ui.close();
            }
        }
        ui.separator();
        ui.checkbox(
            auto_save,
            format!(
                "Save files shared here by themselves (up to {})",
                crate::bridge::human_size(limit)
            ),
        )
        .on_hover_text("Otherwise each file waits for its Download button");
    })
    .response
    .on_hover_text("Notifications and files for this room")
    // Read out by its purpose, not as "bell".
    .widget_info(|| {
        let name = format!("Room notifications and files (now: {now})");
        egui::WidgetInfo::labeled(egui::Role::Button, true, name)
    });
}

/// "hosted by Ada 🔑 K7QF-…": the host's name and its key's fingerprint, to compare.
pub(super) fn host_line(ui: &mut egui::Ui, chat: &Chat) {
    let host = format!("hosted by {}", text::name(&chat.host_name));
    let host = ui.add(egui::Label::new(RichText::new(host).weak()).truncate());
    if let Some(fp) = &chat.host_fingerprint {
        let hint = "The fingerprint of the host's key: compare it with the one the host sees at the top of their window";
        host.on_hover_text(hint);
        let fp = RichText::new(format!("🔑 {fp}")).small().monospace().weak();
        ui.add(egui::Label::new(fp).truncate()).on_hover_text(hint);
    }
}

pub(super) fn state_badge(ui: &mut egui::Ui, chat: &Chat) {
    let state = &chat.state;
    let (text, color) = match state {
        // Named like a room joined before: not joined until the user says so.
        _ if chat.lookalike => ("⚠ not joined", ui.visuals().warn_fg_color),
        SessionState::Connecting => ("joining…", ui.visuals().weak_text_color()),
        SessionState::Connected => ("• connected", Color32::from_rgb(60, 170, 90)),
        SessionState::Waiting(_) => ("• waiting for the host", ui.visuals().warn_fg_color),
        SessionState::Failed(_) => ("✖ cannot join", ui.visuals().error_fg_color),
        SessionState::KeyChanged { .. } => ("⚠ host key changed", ui.visuals().error_fg_color),
        SessionState::NeedsPassword(_) => ("🔒 password needed", ui.visuals().warn_fg_color),
        SessionState::Left => ("left", ui.visuals().weak_text_color()),
    };
    let badge = ui.label(RichText::new(text).color(color));
    if let Some(why) = state.why() {
        badge.on_hover_text(why);
    }
}

/// Who is in the room. "(you)" and "(host)" follow from the keys we know (ours, and the one
/// the host proved), not from what anyone says. Returns the member the user chose to write
/// to privately, if any.
pub(super) fn members(
    ui: &mut egui::Ui,
    chat: &Chat,
    me: &crate::protocol::DeviceId,
) -> Option<(crate::protocol::DeviceId, String)> {
    let mut write_to = None;
    ui.add_space(4.0);
    ui.strong(format!("In the room ({})", chat.members.len()));
    ui.separator();
    let alike = text::look_alikes(&chat.members);
    ScrollArea::vertical()
        .id_salt("member_list")
        .show(ui, |ui| {
            for m in &chat.members {
                let host = chat.host_device.as_ref() == Some(&m.device);
                let me = &m.device == me;
                let fingerprint = m.device.fingerprint().unwrap_or_else(|| "unknown".into());
                let confusable = alike.confusable.contains(&m.id);
                let mut label = String::new();
                if confusable {
                    label.push_str("⚠ ");
                }
                label.push_str(&text::name(&m.name));
                // Two members of one name, or look-alike names, are told apart by their keys.
                if confusable || alike.same_name.contains(&m.id) {
                    label.push_str(&format!(" · {}", &fingerprint[..4]));
                }
                if host {
                    label.push_str("  (host)");
                }
                if me {
                    label.push_str("  (you)");
                }
                if m.away {
                    label.push_str(" · away");
                }
                let text = RichText::new(label);
                let text = if me { text.strong() } else { text };
                let text = if confusable { text.color(ui.visuals().warn_fg_color) } else { text };
                let mut hint = format!("Fingerprint {fingerprint}");
                if confusable {
                    hint.push_str(
                        "\nThis name looks like another member's: compare fingerprints to know who is who.",
                    );
                } else if !me {
                    hint.push_str("\nCompare it with theirs aloud to be sure who this is.");
                }
                ui.horizontal(|ui| {
                    ui.label(text).on_hover_text(hint);
                    if !me
                        && m.key.is_some()
                        && ui
                            .small_button("✉")
                            .on_hover_text(format!(
                                "Write to {} privately",
                                text::name(&m.name)
                            ))
                            .clicked()
                    {
                        write_to = Some((m.device.clone(), m.name.clone()));
                    }
                });
            }
            if !chat.gone.is_empty() {
                ui.add_space(6.0);
                for m in chat.gone.iter().rev() {
                    ui.label(RichText::new(format!("{} · gone", text::name(&m.name))).weak());
                }
            }
        });
    write_to
}
