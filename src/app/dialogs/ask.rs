//! Asks before sending people out of rooms we host: closing one, or quitting.

use super::AppState;
use crate::app::state::Ask;
use crate::app::text;
use egui::Modal;

/// Asks before sending people out of rooms we host: closing one, or quitting.
pub(super) fn ask_dialog(ctx: &egui::Context, state: &mut AppState, ask: &Ask) {
    let modal = Modal::new(egui::Id::unique("ask_dialog")).show(ctx, |ui| {
        ui.set_width(400.0);
        match ask {
            Ask::CloseRoom(room) => {
                let name = state
                    .rooms
                    .hosting
                    .get(room)
                    .map(|(name, ..)| text::name(name).into_owned())
                    .unwrap_or_default();
                let people = state.guests(Some(room));
                ui.heading(format!("Close {name}?"));
                ui.label(format!(
                    "{} in it. Closing the room sends everyone out; you can open it again later, \
                     with its history.",
                    people_are(people)
                ));
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    if ui.button("Close the room").clicked() {
                        state.asking = None;
                        state.leave(room);
                    }
                    if ui.button("Keep it open").clicked() {
                        state.asking = None;
                    }
                });
            }
            Ask::Quit { people } => {
                ui.heading("Quit lanchat?");
                ui.label(format!(
                    "{} in your rooms. If lanchat quits, your rooms close for them.",
                    people_are(*people)
                ));
                ui.add_space(8.0);
                ui.vertical(|ui| {
                    if ui
                        .button("Keep hosting in the background")
                        .on_hover_text("The window goes away; your rooms stay open")
                        .clicked()
                    {
                        state.asking = None;
                        ui.ctx()
                            .send_viewport_cmd(egui::ViewportCommand::Minimized(true));
                    }
                    if ui.button("Close my rooms and quit").clicked() {
                        state.asking = None;
                        state.quitting = true;
                        ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                    if ui.button("Cancel").clicked() {
                        state.asking = None;
                    }
                });
            }
        }
    });
    if modal.should_close() {
        state.asking = None;
    }
}

/// "1 person is", "3 people are".
fn people_are(n: usize) -> String {
    if n == 1 {
        "1 person is".to_owned()
    } else {
        format!("{n} people are")
    }
}
