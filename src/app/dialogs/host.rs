//! "Host a room": its name, and an optional password.

use super::{Field, Outcome, outcome_of, take_focus_selected};
use egui::{Key, Modal, RichText};

/// "Host a room" as it is being filled in.
#[derive(Debug, Clone, Default)]
pub struct HostDraft {
    /// The room's name.
    pub name: Field,
    /// An optional password; empty for an open room.
    pub password: String,
}

/// "Host a room": its name, and an optional password.
pub(super) fn host_dialog(ctx: &egui::Context, draft: &mut HostDraft) -> Outcome {
    let modal = Modal::new(egui::Id::unique("host_dialog")).show(ctx, |ui| {
        ui.set_width(340.0);
        ui.heading("Host a room");
        ui.label("Everyone on this network will see the room.");
        ui.add_space(8.0);
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let label = ui.label("Room name");
        let name = ui
            .add(egui::TextEdit::singleline(&mut draft.name.text).desired_width(f32::INFINITY))
            .labelled_by(label.id);
        if ui.memory(|m| m.focused().is_none()) {
            take_focus_selected(ui, &name, &draft.name.text);
        }
        if let Some(error) = &draft.name.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        ui.add_space(6.0);
        let label = ui.label("Password (optional)");
        let password = ui
            .add(
                egui::TextEdit::singleline(&mut draft.password)
                    .password(true)
                    .hint_text("anyone can join")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        ui.label(
            RichText::new(if draft.password.is_empty() {
                "Without a password, anyone on this network can join."
            } else {
                "Only people who know the password can join. It never crosses the network."
            })
            .small()
            .weak(),
        );
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            let typed = name.has_focus()
                || name.lost_focus()
                || password.has_focus()
                || password.lost_focus();
            if ui.button("Host").clicked() || (enter && typed) {
                outcome = Outcome::Confirm;
            }
            if ui.button("Cancel").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    outcome_of(modal)
}
