//! "Join by address": the address typed, what is there, and a button to join it.

use super::{AppState, Field, Outcome, outcome_of};
use crate::app::state::Probing;
use crate::app::text;
use egui::{Key, Modal, RichText};

/// "Join by address": the address typed, what is there, and a button to join it.
pub(super) fn join_dialog(ctx: &egui::Context, state: &mut AppState, field: &mut Field) -> Outcome {
    let modal = Modal::new(egui::Id::unique("join_dialog")).show(ctx, |ui| {
        ui.set_width(380.0);
        ui.heading("Join by address");
        ui.label(
            "For a room the list does not show (a network that blocks discovery): ask its host \
             for the address at the bottom of their window (like 192.168.1.20:40123).",
        );
        ui.add_space(8.0);
        let label = ui.label("Address");
        let enter = ui.input(|i| i.key_pressed(Key::Enter));
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut field.text)
                    .hint_text("192.168.1.20:40123")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        if ui.memory(|m| m.focused().is_none()) {
            edit.request_focus();
        }
        let typed = edit.has_focus() || edit.lost_focus();
        if let Some(error) = &field.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let found = probe_result(ui, state, field.text.trim());
        ui.add_space(8.0);
        let mut outcome = Outcome::Open;
        ui.horizontal(|ui| {
            if found {
                if ui.button("Join").clicked() || (enter && typed) {
                    outcome = Outcome::Confirm;
                }
            } else if ui.button("Look").clicked() || (enter && typed) {
                field.error = state.rooms.probe(&field.text, &mut state.outbox).err();
            }
            if ui.button("Cancel").clicked() {
                outcome = Outcome::Cancel;
            }
        });
        outcome
    });
    outcome_of(modal)
}

/// What asking the address typed found, shown under it: whether there is a room to join.
fn probe_result(ui: &mut egui::Ui, state: &AppState, address: &str) -> bool {
    let probe = state.rooms.probe.as_ref().filter(|p| p.addr == address);
    match probe.map(|p| &p.found) {
        Some(Probing::Asking) => {
            ui.label(RichText::new("Asking…").weak());
            false
        }
        Some(Probing::Failed(why)) => {
            ui.colored_label(ui.visuals().error_fg_color, why);
            false
        }
        Some(Probing::Found(ad)) => {
            let people = if ad.members == 1 {
                "1 member".to_owned()
            } else {
                format!("{} members", ad.members)
            };
            ui.strong(text::name(&ad.name));
            ui.label(format!(
                "hosted by {} · {people}{}",
                text::name(&ad.host),
                if ad.locked { " · 🔒 password" } else { "" }
            ));
            if let Some(fp) = &ad.fingerprint {
                ui.label(
                    RichText::new(format!("host key 🔑 {fp}"))
                        .monospace()
                        .small(),
                )
                .on_hover_text("Compare it with the one the host sees at the top of their window");
            }
            true
        }
        None => false,
    }
}
